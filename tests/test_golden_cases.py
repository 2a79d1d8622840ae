"""Focused golden cases: each construct compiles to the expected query, which the real grammar parses,
or to the expected error where the target cannot express it."""

from __future__ import annotations

import pytest

from support.cases import load_cases, render_case
from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql

CASES = {c["name"]: c for c in load_cases()}
PAIRS = [(name, target) for name, case in CASES.items() for target in case["expected"]]
QUERIES = [(n, t) for n, t in PAIRS if isinstance(CASES[n]["expected"][t], str)]


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    return {name: render_case(case) for name, case in CASES.items()}


@pytest.mark.parametrize(("name", "target"), PAIRS)
def test_case_compiles_to_expected(rendered: dict[str, dict], name: str, target: str) -> None:
    expected = CASES[name]["expected"][target]
    assert rendered[name][target] == (expected if isinstance(expected, dict) else {"query": expected})


@pytest.mark.parametrize(("name", "target"), QUERIES)
def test_expected_query_parses(name: str, target: str, kusto: KustoAnalyzer) -> None:
    query = CASES[name]["expected"][target]
    if target == "kibana-kql":
        parse_kibana_kql(query.rstrip("\n"))
    elif target == "eql":
        parse_eql(query)
    else:
        assert kusto.errors(query) == []


def test_every_case_names_every_target() -> None:
    assert all(set(case["expected"]) == {"kibana-kql", "eql", "sentinel-kql"} for case in CASES.values())


def test_cases_cover_every_construct() -> None:
    """The constructs the pipelines and backends handle, each with at least one case."""
    for construct in (
        "equality",
        "value list",
        "exists and not exists",
        "startswith endswith contains",
        "wildcard in the middle",
        "numbers",
        "not",
        "and or nesting",
        "quotes and backslashes",
    ):
        assert construct in CASES
