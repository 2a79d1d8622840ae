"""First-seen over time: a timeline of Activity Log records through the Sentinel artifact.

A reference model of first-seen, written from the rule's definition (a principal and network pair
not seen, among matching events, in the history before the run's recent slice), states what each
scheduled run must alert on. The query runs as emitted on a workspace at a fixed now() per run.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from support import asn, sentinel_ingest
from support.corpus import merge
from support.kusto_exec import Workspace
from support.records import BASE

RULE = Path("azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn")
NOW = datetime(2026, 11, 20, 12, 0, 0)
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Event:
    principal: str
    caller: str
    time: datetime
    result: str = "Success"

    def record(self) -> dict:
        evidence = {"identity": {"authorization": {"evidence": {"principalId": self.principal}}}}
        return merge(BASE, evidence) | {"callerIpAddress": self.caller, "resultType": self.result}

    @property
    def pair(self) -> tuple[str, int] | None:
        """(principal, ASN) of a matching event; the ASN as Sentinel's IPv4 watchlist gives it (the
        IPv6 gap is a known difference, asserted in test_semantics)."""
        found = asn.lookup(self.caller) if ipaddress.ip_address(self.caller).version == 4 else None
        return (self.principal, found[0]) if found and self.result == "Success" else None


@dataclass(frozen=True)
class Windows:
    frequency: timedelta  # the analytic rule's queryFrequency: the recent slice
    delay: timedelta  # the rule's look-back beyond its interval
    history: timedelta


def model(events: list[Event], now: datetime, w: Windows) -> dict[tuple[str, int], tuple[datetime, int]]:
    """The pairs a run at `now` must alert on, with their first time and count in the slice."""
    recent_start, recent_end = now - w.delay - w.frequency, now - w.delay
    known = {e.pair for e in events if e.pair and recent_start - w.history < e.time <= recent_start}
    alerts: dict[tuple[str, int], tuple[datetime, int]] = {}
    for e in sorted(events, key=lambda e: e.time):
        if e.pair and e.pair not in known and recent_start < e.time <= recent_end:
            first, count = alerts.get(e.pair, (e.time, 0))
            alerts[e.pair] = (first, count + 1)
    return alerts


@pytest.fixture(scope="module")
def windows(root: Path) -> Windows:
    template = yaml.safe_load((root / "output/sentinel-rules/rules" / RULE.with_suffix(".yaml")).read_text())
    sigma = yaml.safe_load((root / "sigma/rules" / RULE.with_suffix(".yml")).read_text())
    units = {"m": 60, "h": 3600, "d": 86400}

    def span(text: str) -> timedelta:
        return timedelta(seconds=int(text[:-1]) * units[text[-1]])

    schedule, first_seen = sigma["schedule"], sigma["first_seen"]
    return Windows(
        span(template["queryFrequency"]),
        span(schedule["lookback"]) - span(schedule["interval"]),
        span(first_seen["history"]),
    )


@pytest.fixture(scope="module")
def query(root: Path) -> str:
    return (root / "output/sentinel-kql/rules" / RULE.with_suffix(".kql")).read_text()


def run(workspace: Workspace, query: str, events: list[Event], now: datetime) -> dict:
    workspace.load([sentinel_ingest.to_row(e.record(), e.time) for e in events])
    return {
        (row["AuthorizationEvidencePrincipalId"], row["CallerIpAddressAsn"]): (
            row["FirstSeen"],
            row["EventCount"],
        )
        for row in workspace.run(query, now)
    }


def edges(w: Windows, now: datetime) -> list[Event]:
    """Events around every window edge, each pair telling one story."""
    recent_start, recent_end = now - w.delay - w.frequency, now - w.delay
    history_start = recent_start - w.history
    ms, aa = "20.33.14.7", "81.2.69.144"  # two networks (ASN 8075, 20712)
    return [
        # seen in history, seen again: no alert
        Event("known", ms, history_start + SECOND),
        Event("known", ms, recent_start + 10 * SECOND),
        # seen only at the history's open start (outside it), again in the slice: alert
        Event("too-old", ms, history_start),
        Event("too-old", ms, recent_start + 20 * SECOND),
        # seen exactly at the slice's start, which closes the history: no alert
        Event("edge-known", ms, recent_start),
        Event("edge-known", ms, recent_end),
        # new, twice in the slice: one alert, count 2, the first time
        Event("new", ms, recent_start + SECOND),
        Event("new", ms, recent_end - SECOND),
        # a known principal from a new network: alert for that pair only
        Event("known", aa, recent_start + 30 * SECOND),
        # exactly at the slice's end (inside) and just after it (left to the next run)
        Event("at-end", ms, recent_end),
        Event("after-end", ms, recent_end + SECOND),
        # history holds only a failed connection: it does not count, so the success alerts
        Event("failed-before", ms, recent_start - timedelta(hours=3), result="Failure"),
        Event("failed-before", ms, recent_start + 40 * SECOND),
        # no ASN (private, IPv6): never a pair
        Event("private", "10.1.2.3", recent_start + 50 * SECOND),
        Event("ipv6", "2a02:cf40:add:4002::1", recent_start + 60 * SECOND),
    ]


def test_one_run_alerts_on_exactly_the_new_pairs(workspace: Workspace, query: str, windows: Windows) -> None:
    events = edges(windows, NOW)
    expected = model(events, NOW, windows)
    assert {p for p, _ in expected} == {"too-old", "new", "known", "at-end", "failed-before"}
    assert run(workspace, query, events, NOW) == expected


def test_consecutive_runs_alert_on_each_new_pair_once(
    workspace: Workspace, query: str, windows: Windows
) -> None:
    """Hourly runs over a day of events: every new pair alerts in exactly one run, never twice."""
    start = NOW - timedelta(days=3)
    events = [Event("old", "20.33.1.1", start)]
    for hour in range(30):
        t = start + timedelta(days=2, hours=hour, minutes=(7 * hour) % 60, seconds=hour)
        events.append(Event(f"p{hour % 7}", ["20.33.1.1", "81.2.69.1", "203.0.113.9"][hour % 3], t))
        events.append(Event("old", "20.33.1.1", t))
    runs = [NOW - timedelta(hours=h) for h in range(24, -1, -1)]
    alerted: list[tuple[str, int]] = []
    for now in runs:
        got = run(workspace, query, events, now)
        assert got == model(events, now, windows), now
        alerted += list(got)
    assert len(alerted) == len(set(alerted))  # once each
    assert len(alerted) > 5 and ("old", 8075) not in alerted


def test_the_model_on_its_own() -> None:
    """The reference model's reading of the windows, on a hand-made history."""
    w = Windows(timedelta(hours=1), timedelta(minutes=4), timedelta(days=7))
    events = [
        Event("a", "20.33.1.1", NOW - timedelta(days=2)),
        Event("a", "20.33.1.1", NOW - timedelta(minutes=30)),
    ]
    assert model(events, NOW, w) == {}
    assert model(events[1:], NOW, w) == {("a", 8075): (NOW - timedelta(minutes=30), 1)}
    assert model(events[1:], NOW - timedelta(minutes=30), w) == {}  # not yet in a slice


def test_events_are_json_records() -> None:
    assert json.loads(json.dumps(Event("a", "20.33.1.1", NOW).record()))["callerIpAddress"] == "20.33.1.1"
