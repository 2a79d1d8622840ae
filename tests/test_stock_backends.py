"""The faults of the stock backends that this project's backends fix, shown on the stock code itself
(pinned pySigma backends), next to ours."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path, PurePosixPath

import eql
import parsimonious
import pytest
from sigma.backends.elasticsearch import EqlBackend, LuceneBackend
from sigma.backends.kusto import KustoBackend
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from support import sentinel_ingest
from support.grammars import parse_eql, parse_kibana_kql
from support.kusto_exec import Workspace
from support.records import BASE
from translator.model import RuleSource, Schedule
from translator.pipelines import PIPELINES_DIR, load_pipeline
from translator.targets import TARGETS

ECS = "azure_activitylogs_to_ecs.yml"
SENTINEL = "azure_activitylogs_to_sentinel.yml"


def rule(selection: dict) -> SigmaRule:
    return SigmaCollection.from_dicts(
        [
            {
                "title": "stock",
                "id": "5d9a2c1e-3b4f-4a6d-8e7f-9a0b1c2d3e4f",
                "logsource": {"product": "azure", "service": "activitylogs"},
                "detection": {"selection": selection, "condition": "selection"},
            }
        ]
    ).rules[0]


def ours(target: str, selection: dict) -> str:
    source = RuleSource(
        Path("s.yml"), PurePosixPath("s.yml"), rule(selection), Schedule.from_attribute(None), None
    )
    return TARGETS[target].render(source).text


def stock(backend: type, pipeline: str, selection: dict) -> str:
    """What the stock backend writes with this project's pipeline."""
    return backend(load_pipeline(PIPELINES_DIR / pipeline)).convert_rule(copy.deepcopy(rule(selection)))[0]


def test_stock_eql_writes_escapes_the_grammar_rejects() -> None:
    selection = {"resultSignature": "a\\*b"}  # a literal asterisk (properties.* is flattened: no EQL)
    with pytest.raises(eql.EqlError):
        parse_eql("any where " + stock(EqlBackend, ECS, selection))
    parse_eql(ours("eql", selection))


def test_stock_eql_has_no_field_exists() -> None:
    selection = {"identity.authorization.evidence.principalId|exists": True}
    with pytest.raises(NotImplementedError):
        stock(EqlBackend, ECS, selection)
    assert "?azure.activitylogs.identity.authorization.evidence.principal_id != null" in ours(
        "eql", selection
    )


def test_lucene_is_not_kibana_kql() -> None:
    selection = {"operationName": "MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION"}
    with pytest.raises(parsimonious.exceptions.ParseError):
        parse_kibana_kql(stock(LuceneBackend, ECS, selection))
    parse_kibana_kql(ours("kibana-kql", selection).rstrip("\n"))


def test_stock_kusto_compares_a_dynamic_path_as_a_string_literal(workspace: Workspace) -> None:
    selection = {"identity.authorization.evidence.principalId": "68b1adf93eb744b08eb8ce96522a08d3"}
    query = "AzureActivity | where " + stock(KustoBackend, SENTINEL, selection)
    assert "'Authorization_d.evidence.principalId'" in query
    workspace.load([sentinel_ingest.to_row(BASE | {"correlationId": "one"}, datetime(2026, 1, 1))])
    assert workspace.run(query, datetime(2026, 1, 2)) == []  # the literal never equals the id
    in_its_slice = datetime(2026, 1, 1, 0, 3)  # our query reads the 5 minutes before its run, less 1m
    assert [r["CorrelationId"] for r in workspace.run(ours("sentinel-kql", selection), in_its_slice)] == [
        "one"
    ]
