"""The Sentinel side of the Entra ID services, run: each case of tests/corpus/sentinel_entra_cases.json
is a rule, raw records built like Microsoft's documented ones, and the records the rule matches (written
from what the Sigma rule means). The compiled query must pass Kusto.Language against the tables'
schemas, and, run by the executor on the rows Sentinel stores for the records, return exactly those
records, each once."""

from __future__ import annotations

from typing import Any

import pytest

from support.grammars import KustoAnalyzer
from support.kusto_exec import Workspace
from support.sentinel_entra_cases import compile_sentinel, corpus, matches, record

CASES = corpus()["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any], workspace: Workspace, kusto: KustoAnalyzer) -> None:
    query = compile_sentinel(case["service"], case["detection"]).text
    assert kusto.errors(query) == [], query
    records = {name: record(case["service"], name, changes) for name, changes in case["records"].items()}
    assert matches(workspace, query, records) == sorted(case["expected"]), query


def test_cases_miss_as_well_as_match() -> None:
    """No vacuous case: each matches some of its records and misses others (or has a single record to
    show one row per record)."""
    for case in CASES:
        assert case["expected"], case["name"]
        assert set(case["expected"]) <= set(case["records"]), case["name"]
        assert len(case["expected"]) < len(case["records"]) or len(case["records"]) == 1, case["name"]


def test_every_service_and_construct_has_cases() -> None:
    kinds = {
        (
            c["service"],
            "keywords" in c["detection"],
            "not " in c["detection"]["condition"],
            any("[]" in key for part in c["detection"].values() if isinstance(part, dict) for key in part),
        )
        for c in CASES
    }
    for service in ("signinlogs", "auditlogs", "riskdetection"):
        assert (service, True, False, False) in kinds  # a keyword search
        assert any(k[0] == service and k[3] for k in kinds)  # a path through a list
    assert ("signinlogs", False, True, True) in kinds  # NOT of a list condition
    assert ("auditlogs", False, True, True) in kinds
