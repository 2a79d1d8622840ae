"""The one place where a rule's schedule meets Microsoft Sentinel's limits on scheduled rules.

Sentinel runs a scheduled rule every queryFrequency over the last queryPeriod; both lie between 5
minutes and 14 days, queryPeriod >= queryFrequency, and queryFrequency must be at least an hour once
queryPeriod reaches 2 days. The query and the analytic rule both take their windows from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from translator.model import Duration, Schedule

MIN_WINDOW = Duration(5 * 60)
MAX_WINDOW = Duration(14 * 86400)
LONG_PERIOD = Duration(2 * 86400)
LONG_PERIOD_MIN_FREQUENCY = Duration(3600)


@dataclass(frozen=True)
class SentinelWindows:
    """Each run alerts on events in (now - delay - recent, now - delay] against the history before."""

    query_frequency: Duration  # how often the rule runs; also the length of the recent slice
    delay: Duration  # the rule's look-back beyond its interval, kept for events that arrive late
    history: Duration | None  # first-seen history, None for a plain detection

    @property
    def recent(self) -> Duration:
        return self.query_frequency

    @property
    def query_period(self) -> Duration:
        """Everything the query reads: history, then the recent slice, then the delay."""
        return (self.history or Duration(0)) + self.recent + self.delay


def sentinel_windows(schedule: Schedule, history: Duration | None) -> SentinelWindows:
    """Derive windows Sentinel can schedule, or raise ValueError saying which limit the rule breaks.

    Runs do not overlap (each event falls in exactly one run's recent slice, so it alerts once); the
    slice ends `delay` before the run, as Elastic's rule reaches `lookback - interval` further back.
    """
    delay = schedule.lookback - schedule.interval
    frequency = max(schedule.interval, MIN_WINDOW)
    windows = SentinelWindows(frequency, delay, history)
    if windows.query_period >= LONG_PERIOD and frequency < LONG_PERIOD_MIN_FREQUENCY:
        windows = SentinelWindows(LONG_PERIOD_MIN_FREQUENCY, delay, history)
    if windows.query_period > MAX_WINDOW:
        raise ValueError(
            f"Sentinel reads at most {MAX_WINDOW} per run, but history {history or Duration(0)}, "
            f"run interval {windows.query_frequency} and late-event delay {delay} need "
            f"{windows.query_period}"
        )
    return windows
