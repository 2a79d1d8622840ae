"""The text of a Sentinel query: the table, the filters, the lookups, and for first-seen rules the
history, the anti-join and a summary an analyst can triage from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule

from translator.backends.kusto_columns import Column
from translator.errors import printable
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
    first_seen: ClassVar[str] = """\
// First seen: alert once per new ({keys}) not seen in the {history} before.
// Runs every {frequency} over {period} (the analytic rule's queryFrequency and queryPeriod).
let ingestion_delay = {delay};  // the rule's look-back beyond its interval, for late events
let recent_window = {recent};  // the slice each run alerts on: its query frequency
let history_window = {history};
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

    def __init__(self, backend: SentinelKqlBackend, rule: SigmaRule, before: str, state: ConversionState):
        self.backend = backend
        self.rule = rule
        self.before = before
        self.after: str = state.processing_state["after_lookup"]
        terms = backend.first_seen
        self.keys = [backend.column(f) for f in terms.fields] if terms else []
        self.fields = list(dict.fromkeys(backend.column(f) for f in rule.fields))
        used = {c.root for c in self.keys + self.fields} | state.processing_state["lookup_columns_used"]
        self.lookups = [lk for lk in backend.lookups() if used & set(lk["columns"])]

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
            events = self._events(None) + _extend(self.fields)
            lines += [*self._watchlists(), "\n".join(events)]
            self.backend.columns = {c.text: c.alias for c in self.fields}
        else:
            lines.append(self._first_seen())
        return "\n".join(lines)

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

    def _events(self, window: str | None) -> list[str]:
        """The table filtered by the rule: `where` before the lookups, then the lookups, then the rest."""
        stages = [self.backend.table]
        stages += [f"| where {f}" for f in (window, self.before) if f]
        stages += [
            self.lookup.format(
                plugin=lk["plugin"], alias=lk["watchlist"], key=lk["key"], range_column=lk["range_column"]
            )
            for lk in self.lookups
        ]
        if self.after:
            stages.append(f"| where {self.after}")
        return stages

    def _first_seen(self) -> str:
        terms = self.backend.first_seen
        assert terms is not None
        windows = sentinel_windows(self.backend.schedule, terms.history)
        keys = [k.alias for k in self.keys]
        if len(set(keys)) != len(keys):
            raise SigmaFeatureNotSupportedByBackendError(f"first_seen fields share a column name: {keys}")
        carried = [c for c in self.fields if c.alias not in keys and c.root != "TimeGenerated"]
        events = self._events(self.first_seen_window) + _extend(self.keys + carried)
        events.append("| where " + " and ".join(k.present for k in self.keys))
        columns = ", ".join(c.alias for c in carried) or "*"
        self.backend.columns = {c.text: c.alias for c in self.keys + carried} | {
            c.text: "FirstSeen" for c in self.fields if c.root == "TimeGenerated"
        }
        self.backend.summary_columns = self.summary_columns
        return self.first_seen.format(
            keys=", ".join(keys),
            history=windows.history,
            frequency=windows.query_frequency,
            period=windows.query_period,
            delay=windows.delay,
            recent=windows.recent,
            watchlists="".join(w + "\n" for w in self._watchlists()),
            events="\n    ".join(events),
            first=f"arg_min(TimeGenerated, {columns})",
        )


def _extend(columns: list[Column]) -> list[str]:
    """The stage that names each dynamic path under its alias, so results show it as a column."""
    paths = [f"{c.alias} = {c.scalar}" for c in columns if c.path]
    return ["| extend " + ", ".join(paths)] if paths else []
