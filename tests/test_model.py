"""The custom attributes: durations, schedule and first_seen parsing, and their errors."""

from __future__ import annotations

import pytest

from translator.model import Duration, FirstSeen, Schedule


@pytest.mark.parametrize(
    ("text", "seconds", "back"),
    [
        ("30s", 30, "30s"),
        ("5m", 300, "5m"),
        ("60m", 3600, "1h"),
        ("7d", 604800, "7d"),
        ("36h", 129600, "36h"),
    ],
)
def test_duration_round_trip(text: str, seconds: int, back: str) -> None:
    assert Duration.parse(text, "x") == Duration(seconds)
    assert str(Duration(seconds)) == back


@pytest.mark.parametrize("text", ["", "5", "0m", "-5m", "5 m", "1w", 5, None, "1.5h"])
def test_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        Duration.parse(text, "x")


def test_schedule_defaults_follow_elastic() -> None:
    assert Schedule.from_attribute(None) == Schedule(Duration(300), Duration(360))
    assert Schedule.from_attribute({"interval": "1h"}) == Schedule(Duration(3600), Duration(3660))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"interval": "10m", "lookback": "5m"}, "at least schedule.interval"),
        ({"every": "5m"}, "interval and lookback"),
        ("5m", "interval and lookback"),
    ],
)
def test_schedule_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.from_attribute(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"fields": ["a"]}, "exactly fields and history"),
        ({"fields": [], "history": "7d"}, "non-empty list"),
        ({"fields": ["a", "a"], "history": "7d"}, "must not repeat"),
        ({"fields": "a", "history": "7d"}, "non-empty list"),
        ({"fields": ["a"], "history": "a week"}, "must be a duration"),
    ],
)
def test_first_seen_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FirstSeen.from_attribute(value)
