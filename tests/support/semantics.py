"""Runs a rule's compiled queries on the corpus, per target, next to the oracle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from support import elastic_ingest, sentinel_ingest
from support.corpus import Entry
from support.eql_eval import EqlQuery
from support.kql_eval import KqlQuery
from support.kusto_exec import Workspace
from support.oracle import SigmaRule

NOW = datetime(2026, 11, 20, 12, 0, 0)
# Inside the recent slice of every query the suite runs at NOW: a plain rule's (every 5m, 1m late:
# the 5 minutes before NOW - 1m) and the Serial Console rule's (every 1h, 4m late).
EVENT_TIME = NOW - timedelta(minutes=5)


def oracle_matches(detection: dict[str, Any], corpus: list[Entry]) -> dict[str, bool]:
    rule = SigmaRule(detection)
    return {e.name: rule.matches(e.record) for e in corpus}


def kibana_matches(query: str, corpus: list[Entry]) -> dict[str, bool]:
    kql = KqlQuery(query.rstrip("\n"), elastic_ingest.TYPES)
    return {e.name: kql.matches(elastic_ingest.to_ecs(e.record)) for e in corpus}


def eql_matches(query: str, corpus: list[Entry]) -> dict[str, bool]:
    eql = EqlQuery(query)
    return {e.name: eql.matches(elastic_ingest.to_ecs(e.record)) for e in corpus}


def sentinel_row(entry: Entry) -> dict[str, Any]:
    return sentinel_ingest.to_row(
        entry.record, EVENT_TIME, legacy=entry.options.get("_sentinel_legacy", False)
    )


def sentinel_matches(
    query: str, corpus: list[Entry], workspace: Workspace, per_record: bool
) -> dict[str, bool]:
    """Which records the query returns. A first-seen query summarises, so it runs once per record."""
    if per_record:
        found = {}
        for entry in corpus:
            workspace.load([sentinel_row(entry)])
            found[entry.name] = bool(workspace.run(query, NOW))
        return found
    workspace.load([sentinel_row(e) for e in corpus])
    matched = {row["CorrelationId"] for row in workspace.run(query, NOW)}
    return {e.name: e.record["correlationId"] in matched for e in corpus}
