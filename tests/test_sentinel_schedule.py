"""Windows Sentinel can schedule, derived from the rule's schedule and history (Sentinel's limits)."""

from __future__ import annotations

import pytest

from translator.model import Duration, Schedule
from translator.sentinel_schedule import sentinel_windows

M, H, D = 60, 3600, 86400


def windows(interval: int, lookback: int, history: int | None):  # noqa: ANN201
    return sentinel_windows(
        Schedule(Duration(interval), Duration(lookback)), Duration(history) if history is not None else None
    )


def test_serial_console_rule() -> None:
    """Every 5m over 9m with 7d of history: Sentinel needs an hourly rule once the period passes 2 days."""
    w = windows(5 * M, 9 * M, 7 * D)
    assert (w.query_frequency, w.recent, w.delay) == (Duration(H), Duration(H), Duration(4 * M))
    assert w.query_period == Duration(7 * D + H + 4 * M)


@pytest.mark.parametrize(
    ("interval", "lookback", "history", "frequency", "period"),
    [
        (5 * M, 5 * M, None, 5 * M, 5 * M),  # a plain rule keeps its interval
        (M, 2 * M, None, 5 * M, 6 * M),  # Sentinel's minimum frequency is 5 minutes
        (5 * M, 5 * M, D, 5 * M, D + 5 * M),  # under 2 days of period, no hourly minimum
        (5 * M, 5 * M, 2 * D - 5 * M, H, 2 * D + 55 * M),  # reaching 2 days forces hourly
        (2 * H, 2 * H, 7 * D, 2 * H, 7 * D + 2 * H),  # a slower rule keeps its interval
    ],
)
def test_derivation(interval: int, lookback: int, history: int | None, frequency: int, period: int) -> None:
    w = windows(interval, lookback, history)
    assert (w.query_frequency, w.query_period) == (Duration(frequency), Duration(period))
    # Sentinel's own rules on the result.
    assert Duration(5 * M) <= w.query_frequency <= w.query_period <= Duration(14 * D)
    if w.query_period >= Duration(2 * D):
        assert w.query_frequency >= Duration(H)


def test_history_too_long_for_sentinel() -> None:
    with pytest.raises(ValueError, match="Sentinel reads at most 14d per run"):
        windows(5 * M, 9 * M, 14 * D)
