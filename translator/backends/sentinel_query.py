"""The text of a Sentinel query: the tables, the recent slice, the filters, the list stages, the lookups,
and for first-seen rules the history, the anti-join and a summary an analyst can triage from.

Every query reads exactly one slice of time per run, as long as the rule's query frequency and ending
its ingestion delay before the run (translator/sentinel_schedule.py), so consecutive runs never see an
event twice. Its results hold the columns the analytic rule's entities and custom details name: the
rule's `fields:`, the pipeline's entity columns, and without `fields:` the fields the detection reads.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule

from translator.backends.kusto_columns import Column
from translator.errors import printable
from translator.model import Duration, Schedule
from translator.sentinel_schedule import sentinel_windows

if TYPE_CHECKING:
    from translator.backends.sentinel_kql import SentinelKqlBackend


class SentinelQuery:
    """One rule's query, from the backend's rendered conditions and the rule's mapped fields."""

    header: ClassVar[str] = "// {title}\n// Sigma rule {id}, compiled by translator."
    watchlist_note: ClassVar[str] = "// Needs the Sentinel watchlist {alias!r} (see the project README)."
    watchlist: ClassVar[str] = "let {alias} = _GetWatchlist({alias_literal})\n    | project {columns};"
    lookup: ClassVar[str] = "| evaluate {plugin}({alias}, {key}, {range_column}, return_unmatched = true)"
    # What a lookup plugin cannot find: the build reports it as a difference from the Sigma rule.
    lookup_limits: ClassVar[dict[str, str]] = {
        "ipv4_lookup": "finds no {columns} for IPv6 {key} values: events from IPv6 callers never match "
        "a condition on them"
    }
    casts: ClassVar[dict[str, str]] = {
        "string": "tostring",
        "long": "tolong",
        "int": "toint",
        "real": "toreal",
        "dynamic": "todynamic",
    }
    windows: ClassVar[str] = """\
// Runs every {frequency} over {period} (the analytic rule's queryFrequency and queryPeriod).
let ingestion_delay = {delay};  // the rule's look-back beyond its interval, for late events
let recent_window = {recent};  // the slice each run alerts on: its query frequency
"""
    recent_slice: ClassVar[str] = (
        "TimeGenerated > ago(recent_window + ingestion_delay) and TimeGenerated <= ago(ingestion_delay)"
    )
    first_seen: ClassVar[str] = """\
// First seen: alert once per new ({keys}) not seen in the {history} before.
{windows}let history_window = {history};
{watchlists}let events = {events};
let known = events
    | where TimeGenerated <= ago(recent_window + ingestion_delay)
    | distinct {keys};
events
| where TimeGenerated > ago(recent_window + ingestion_delay)
| join kind=leftanti known on {keys}
| summarize {first}, LastSeen = max(TimeGenerated), EventCount = count() by {keys}
| project-rename FirstSeen = TimeGenerated"""
    summary_columns: ClassVar[tuple[str, ...]] = ("FirstSeen", "LastSeen", "EventCount")
    first_seen_window: ClassVar[str] = (
        "TimeGenerated > ago(history_window + recent_window + ingestion_delay)"
        " and TimeGenerated <= ago(ingestion_delay)"
    )

    def __init__(self, backend: SentinelKqlBackend, rule: SigmaRule):
        self.backend = backend
        self.rule = rule
        self.stages = backend.stages
        terms = backend.first_seen
        self.keys = [backend.column(f) for f in terms.fields] if terms else []
        if any(k.lists for k in self.keys):
            raise SigmaFeatureNotSupportedByBackendError(
                "a first_seen field must not be a path through a list"
            )
        entities = [
            path
            for entity in backend.last_processing_pipeline.vars.get("entities", [])
            for path in entity["identifiers"].values()
        ]
        shown = list(rule.fields) or self.stages.fields
        # field as the pipeline writes it -> its column: the rule's fields first, then the entities'
        self.shown = {f: backend.column(f) for f in dict.fromkeys([*shown, *entities])}
        used = {c.root for c in self.keys + list(self.shown.values())} | self.stages.lookup_columns
        self.lookups = [lk for lk in backend.lookups() if used & set(lk["columns"])]
        self.names = _result_names([*self.keys, *self.shown.values()], set(backend.types))

    def text(self) -> str:
        # The title is rule text inside a comment: no line break of any kind may end the comment early.
        lines = [self.header.format(title=printable(self.rule.title), id=self.rule.id)]
        for lookup in self.lookups:
            lines.append(self.watchlist_note.format(alias=lookup["watchlist"]))
            limit = self.lookup_limits.get(lookup["plugin"])
            if limit:
                note = f"{lookup['plugin']} " + limit.format(
                    columns=", ".join(lookup["columns"]), key=lookup["key"]
                )
                if note not in self.backend.notes:
                    self.backend.notes.append(note)
        if self.backend.first_seen is None:
            shown = list(self.shown.values())
            events = self._events(self.recent_slice) + self._extend(shown)
            lines += [self._windows().rstrip("\n"), *self._watchlists(), "\n".join(events)]
            self.backend.columns = {f: self.names[c] for f, c in self.shown.items()}
        else:
            lines.append(self._first_seen())
        return "\n".join(lines)

    def _windows(self) -> str:
        """The lines that say how often the rule runs and which slice of time each run alerts on."""
        terms = self.backend.first_seen
        return _windows_text(self.windows, self.backend.schedule, terms.history if terms else None)

    def _watchlists(self) -> list[str]:
        out = []
        for lookup in self.lookups:
            columns = [f"{lookup['range_column']} = tostring({lookup['range_column']})"] + [
                f"{name} = {self.casts[spec['type']]}({spec['from']})"
                for name, spec in lookup["columns"].items()
            ]
            out.append(
                self.watchlist.format(
                    alias=lookup["watchlist"],
                    alias_literal=json.dumps(lookup["watchlist"]),
                    columns=", ".join(columns),
                )
            )
        return out

    def _events(self, window: str) -> list[str]:
        """The tables filtered by the rule: the table's columns first, then the list stages and what
        reads them, then the lookups and what reads them (kusto_stages)."""
        stages = self.stages
        steps = [self.backend.source.text, f"| where {window}"]
        steps += [f"| where {stages.before}"] if stages.before else []
        steps += [f"| {stage}" for stage in stages.lists.stages]
        steps += [f"| where {stages.with_lists}"] if stages.with_lists else []
        steps += [
            self.lookup.format(
                plugin=lk["plugin"], alias=lk["watchlist"], key=lk["key"], range_column=lk["range_column"]
            )
            for lk in self.lookups
        ]
        steps += [f"| where {stages.after_lookups}"] if stages.after_lookups else []
        steps += [f"| project-away {', '.join(stages.lists.counts)}"] if stages.lists.counts else []
        return steps

    def _extend(self, columns: list[Column]) -> list[str]:
        """The stage that names each dynamic path, so that results show it as a column."""
        paths = [f"{self.names[c]} = {c.scalar}" for c in dict.fromkeys(columns) if c.path and not c.lists]
        return ["| extend " + ", ".join(paths)] if paths else []

    def _first_seen(self) -> str:
        terms = self.backend.first_seen
        assert terms is not None
        windows = sentinel_windows(self.backend.schedule, terms.history)
        keys = list(dict.fromkeys(self.names[k] for k in self.keys))
        carried = {
            f: c for f, c in self.shown.items() if self.names[c] not in keys and c.root != "TimeGenerated"
        }
        events = self._events(self.first_seen_window) + self._extend(self.keys + list(carried.values()))
        events.append("| where " + " and ".join(k.present for k in self.keys))
        columns = ", ".join(dict.fromkeys(self.names[c] for c in carried.values())) or "*"
        self.backend.columns = (
            {f: self.names[k] for f, k in zip(terms.fields, self.keys, strict=True)}
            | {f: self.names[c] for f, c in carried.items()}
            | {f: "FirstSeen" for f, c in self.shown.items() if c.root == "TimeGenerated"}
        )
        self.backend.summary_columns = self.summary_columns
        return self.first_seen.format(
            keys=", ".join(keys),
            history=windows.history,
            windows=self._windows(),
            watchlists="".join(w + "\n" for w in self._watchlists()),
            events="\n    ".join(events),
            first=f"arg_min(TimeGenerated, {columns})",
        )


def _result_names(columns: list[Column], taken: set[str]) -> dict[Column, str]:
    """The result column that shows each field: its own column, the list's for a path through a list,
    else its alias; an alias another path or a column already has gets a number (ClaimsName2)."""
    names: dict[Column, str] = {}
    for column in columns:
        if column in names:
            continue
        if column.lists or not column.path:
            names[column] = column.root
            continue
        name, number = column.alias, 1
        while name in taken:
            number += 1
            name = f"{column.alias}{number}"
        taken.add(name)
        names[column] = name
    return names


@lru_cache(maxsize=256)
def _windows_text(template: str, schedule: Schedule, history: Duration | None) -> str:
    """SentinelQuery.windows filled in: a function of these immutable values alone, made once for all
    the rules that share them (a library has a few schedules)."""
    windows = sentinel_windows(schedule, history)
    return template.format(
        frequency=windows.query_frequency,
        period=windows.query_period,
        delay=windows.delay,
        recent=windows.recent,
    )
