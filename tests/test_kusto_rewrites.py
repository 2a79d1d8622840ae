"""The executor's rewrites of what duckdb-kql cannot run (support/kusto_rewrites.py), each on its own,
against rows whose answers are computed by hand: `*` predicates over every column, and mv-apply counts
of list elements (flat, nested, empty and missing lists, negated), never repeating a row."""

from __future__ import annotations

from datetime import datetime

import pytest

from support.kusto_exec import Workspace
from support.kusto_rewrites import parse_apply, rewrite, rewrite_star, source_columns

NOW = datetime(2026, 1, 2)
TIME = datetime(2026, 1, 1)


def audit_rows() -> list[dict]:
    def target(kind: str, *values: str) -> dict:
        return {"type": kind, "modifiedProperties": [{"displayName": "P", "newValue": v} for v in values]}

    return [
        {"Id": "user", "TargetResources": [target("User", "a")]},
        {"Id": "group then user", "TargetResources": [target("Group"), target("User", "b", "a")]},
        {"Id": "group", "TargetResources": [target("Group", "b")]},
        {"Id": "empty", "TargetResources": []},
        {"Id": "missing", "TargetResources": None},
        {"Id": "user twice", "TargetResources": [target("User", "a", "a"), target("User", "a")]},
    ]


def run(workspace: Workspace, query: str, rows: list[dict], table: str = "AuditLogs") -> dict[str, dict]:
    workspace.load([r | {"TimeGenerated": TIME} for r in rows], table)
    result = workspace.run(query, NOW)
    ids = [r["Id"] for r in result]
    assert len(ids) == len(set(ids)), "a row was repeated"
    return {r["Id"]: r for r in result}


USER = (
    "AuditLogs\n| mv-apply with_itemindex=_i1 _e1 = array_concat(dynamic([null]), TargetResources) on "
    '(summarize _any1 = countif(_i1 > 0 and tostring(_e1.type) =~ "user"))'
)
NESTED = (
    "AuditLogs\n| mv-apply with_itemindex=_i1 _e1 = array_concat(dynamic([null]), TargetResources) on "
    "(mv-apply with_itemindex=_i2 _e2 = array_concat(dynamic([null]), _e1.modifiedProperties) on "
    '(summarize _any1 = countif(_i2 > 0 and tostring(_e2.newValue) == "a")) '
    '| summarize _any2 = countif(_i1 > 0 and _any1 > 0 and tostring(_e1.type) == "User"))'
)


def test_counts_the_elements_that_hold(workspace: Workspace) -> None:
    got = run(workspace, USER + "\n| project Id, _any1", audit_rows())
    assert {k: v["_any1"] for k, v in got.items()} == {
        "user": 1,
        "group then user": 1,
        "group": 0,
        "empty": 0,
        "missing": 0,
        "user twice": 2,
    }


def test_nested_lists_count_outer_elements(workspace: Workspace) -> None:
    """_any2: targets that are users and have a property whose new value is "a"."""
    got = run(workspace, NESTED + "\n| project Id, _any2", audit_rows())
    assert {k: v["_any2"] for k, v in got.items()} == {
        "user": 1,
        "group then user": 1,
        "group": 0,
        "empty": 0,
        "missing": 0,
        "user twice": 2,
    }


def test_negation_keeps_rows_without_elements(workspace: Workspace) -> None:
    got = run(workspace, USER + "\n| where not(_any1 > 0)\n| project-away _any1", audit_rows())
    assert set(got) == {"group", "empty", "missing"}
    assert "_any1" not in next(iter(got.values()))


def test_a_missing_list_has_no_elements(workspace: Workspace) -> None:
    """mv-expand makes one null row for a null list; that row is no element, even for a condition that
    holds on nothing (here: elements without a type)."""
    query = USER.replace('tostring(_e1.type) =~ "user"', "isnull(_e1.type)") + "\n| project Id, _any1"
    rows = [
        {"Id": "typeless", "TargetResources": [{"modifiedProperties": []}, {"type": "User"}]},
        {"Id": "missing", "TargetResources": None},
        {"Id": "empty", "TargetResources": []},
    ]
    got = run(workspace, query, rows)
    assert {k: v["_any1"] for k, v in got.items()} == {"typeless": 1, "missing": 0, "empty": 0}


def test_a_string_column_of_json_text(workspace: Workspace) -> None:
    rows = [
        {"Id": "failed step", "AuthenticationDetails": '[{"succeeded":true},{"succeeded":false}]'},
        {"Id": "all good", "AuthenticationDetails": '[{"succeeded":true}]'},
        {"Id": "no text", "AuthenticationDetails": ""},
    ]
    query = (
        "SigninLogs\n| mv-apply with_itemindex=_i1 _e1 = array_concat(dynamic([null]), "
        "todynamic(AuthenticationDetails)) on (summarize _any1 = countif(_i1 > 0 and "
        "tobool(_e1.succeeded) == false))\n| project Id, _any1"
    )
    got = run(workspace, query, rows, "SigninLogs")
    assert {k: v["_any1"] for k, v in got.items()} == {"failed step": 1, "all good": 0, "no text": 0}


def test_parse_reads_the_compiler_form_only() -> None:
    apply = parse_apply(NESTED.split("| ", 1)[1])
    assert (apply.index, apply.element, apply.array, apply.count) == (
        "_i1",
        "_e1",
        "TargetResources",
        "_any2",
    )
    assert apply.predicate == '_any1 > 0 and tostring(_e1.type) == "User"'
    (inner,) = apply.inner
    assert (inner.array, inner.count, inner.predicate) == (
        "_e1.modifiedProperties",
        "_any1",
        'tostring(_e2.newValue) == "a"',
    )
    for foreign in (
        "mv-apply _e1 = TargetResources on (summarize n = count())",
        "mv-apply with_itemindex=_i1 _e1 = array_concat(dynamic([null]), T) on (where x == 1)",
        "mv-apply with_itemindex=_i1 _e1 = array_concat(dynamic([null]), T) on "
        "(summarize _any1 = countif(_i2 > 0 and x))",
    ):
        with pytest.raises(ValueError):
            parse_apply(foreign)


def test_star_searches_every_column_as_text(workspace: Workspace) -> None:
    rows = [
        {"Id": "in a column", "OperationName": "Reset PASSWORD"},
        {"Id": "in a dynamic value", "InitiatedBy": {"user": {"displayName": "password bot"}}},
        {"Id": "in a dynamic key", "InitiatedBy": {"password": "x"}},
        {"Id": "nowhere", "OperationName": "Add user"},
    ]
    got = run(workspace, 'AuditLogs\n| where * contains "password"', rows)
    # Kusto compares a dynamic column as its JSON text, keys included.
    assert set(got) == {"in a column", "in a dynamic value", "in a dynamic key"}
    got = run(workspace, 'AuditLogs\n| where * matches regex @"(?i)pass.ord b"', rows)
    assert set(got) == {"in a dynamic value"}


def test_star_covers_the_columns_of_a_union_with_renames() -> None:
    source = (
        "union isfuzzy=true SigninLogs, (AADNonInteractiveUserSignInLogs | project-rename "
        "ProcessingTimeInMilliseconds = ProcessingTimeInMs | extend Status = todynamic(Status))"
    )
    columns = source_columns(source)
    assert "ProcessingTimeInMilliseconds" in columns and "ProcessingTimeInMs" not in columns
    assert {"AADTenantId", "SignInEventTypes", "Status"} <= set(columns)
    assert len(columns) == len(set(columns))
    assert (
        rewrite_star('* contains "x"', ["A", "B"]) == '(tostring(A) contains "x" or tostring(B) contains "x")'
    )


def test_rewrite_finds_each_pipeline_source() -> None:
    """A pipeline starts at a table, a union or `let x = <table>`; other pipelines are left alone."""
    query = (
        'let events = AuditLogs\n    | where * contains "x";\n'
        'let known = events\n    | where * contains "x";\nevents'
    )
    lines = rewrite(query).split("\n")
    assert lines[0] == "let events = AuditLogs" and lines[-1] == "events"
    assert lines[1].startswith("    | where (tostring(AADOperationType) contains") and lines[1].endswith(");")
    assert lines[3] == '    | where * contains "x";'  # `events` is no table: not what the compiler emits
