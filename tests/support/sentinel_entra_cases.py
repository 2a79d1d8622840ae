"""The Entra ID corpus for the Sentinel side (tests/corpus/sentinel_entra_cases.json), a rule around a
detection, and running its Sentinel query on the rows Sentinel stores for a set of raw records."""

from __future__ import annotations

import copy
import json
import tempfile
import uuid
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from support import sentinel_entra_ingest
from support.corpus import merge
from support.kusto_exec import Workspace
from translator.loader import load_rule
from translator.model import RuleSource
from translator.targets import TARGETS, Rendered

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "sentinel_entra_cases.json"
NOW = datetime(2026, 11, 20, 12, 0, 0)
EVENT_TIME = NOW - timedelta(minutes=3)  # inside the recent slice of a rule run every 5m over 6m


@cache
def corpus() -> dict[str, Any]:
    """The corpus as read (callers copy what they change)."""
    return json.loads(CORPUS.read_text(encoding="utf-8"))


def record(service: str, name: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The service's base record with `changes` merged in; its properties.id is `name`."""
    base = copy.deepcopy(corpus()["base"][service])
    return merge(merge(base, changes or {}), {"properties": {"id": name}})


def source(service: str, detection: dict[str, Any], **extra: Any) -> RuleSource:
    """A Sigma rule for the service around a detection (and other attributes: fields, schedule, ...)."""
    rule = {
        "title": f"Entra case {service}",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"translator-entra:{service}:{json.dumps(detection)}")),
        "status": "test",
        "logsource": {"product": "azure", "service": service},
        "detection": detection,
        "date": "2026-12-01",
        "level": "low",
        **extra,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rule.yml"
        path.write_text(yaml.safe_dump(rule, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return load_rule(path, Path(tmp))


def compile_sentinel(service: str, detection: dict[str, Any], **extra: Any) -> Rendered:
    """The sentinel-kql query (raises RuleError where the target refuses the rule)."""
    return TARGETS["sentinel-kql"].render(source(service, detection, **extra))


def load(workspace: Workspace, records: dict[str, dict[str, Any]], time: datetime = EVENT_TIME) -> None:
    """Put the rows Sentinel stores for `records` in their tables (every Entra table is emptied)."""
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in sentinel_entra_ingest.TABLES.values()}
    for rec in records.values():
        rows[sentinel_entra_ingest.table(rec)].append(sentinel_entra_ingest.to_row(rec, time))
    for table, table_rows in rows.items():
        workspace.load(table_rows, table)


def matches(workspace: Workspace, query: str, records: dict[str, dict[str, Any]]) -> list[str]:
    """The names of the records the query returns, once per row it returns (sorted)."""
    load(workspace, records)
    return sorted(row["Id"] for row in workspace.run(query, NOW))
