"""The record corpus (tests/corpus/activity_records.json): raw records, each the base with changes."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "activity_records.json"


@dataclass(frozen=True)
class Entry:
    name: str
    record: dict[str, Any]  # the raw Activity Log record
    options: dict[str, Any]  # instructions to the simulators (keys that start with _)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def load() -> list[Entry]:
    """Every record, with a correlationId naming it, so results can be traced back to records."""
    data = json.loads(CORPUS.read_text(encoding="utf-8"))
    entries = []
    for i, item in enumerate(data["records"]):
        changes = {k: v for k, v in item["changes"].items() if not k.startswith("_")}
        options = {k: v for k, v in item["changes"].items() if k.startswith("_")}
        record = merge(data["base"], changes) | {"correlationId": f"corpus-{i:03d}"}
        entries.append(Entry(item["name"], record, options))
    return entries
