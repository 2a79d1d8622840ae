"""Text in a rule never changes the meaning of an emitted query or template.

The cases found by hand: a title that ends the Sentinel query's comment line with a line break of any
kind and appends a Kusto statement; a title that ARM would evaluate as a template expression; a field
name that Kibana KQL would read as `... or not ...`. Each artifact is parsed by its real grammar and run
by the executors: a hostile title must not change which rows match. tests/test_fuzz.py generalises
these to generated titles, metadata strings and field names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from support.corpus import Entry, load, merge
from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql
from support.kusto_exec import Workspace
from support.records import BASE
from support.semantics import NOW, eql_matches, kibana_matches, sentinel_matches, sentinel_row
from translator.backends import strings
from translator.backends.eql import ElasticEqlBackend
from translator.backends.kibana_kql import KibanaKqlBackend
from translator.backends.sentinel_kql import SentinelKqlBackend
from translator.build import Build, compile_rules

RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
STATEMENT = "let AzureActivity = AzureActivity | where false;"
BREAKS = {
    "LF": "\n",
    "CR": "\r",
    "CRLF": "\r\n",
    "VT": "\x0b",
    "FF": "\x0c",
    "NEL": "\x85",
    "LS": "\u2028",
    "PS": "\u2029",
}


def compile_variant(root: Path, tmp_path: Path, change: dict[str, Any]) -> Build:
    """Compile the Serial Console rule with `change` applied, alone in a rules folder."""
    rules = tmp_path / "sigma"
    (rules / RULE).parent.mkdir(parents=True)
    data = yaml.safe_load((root / "sigma" / RULE).read_text()) | change
    data = {k: v for k, v in data.items() if v is not None}  # None removes an attribute
    (rules / RULE).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")  # escapes NEL, LS, PS
    build = compile_rules(rules)
    assert build.errors == [], [str(e) for e in build.errors]
    return build


def artifact(build: Build, kind: str, target: str | None = None) -> str:
    (found,) = [a for a in build.artifacts if a.kind == kind and (target is None or a.target == target)]
    return found.content.decode()


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load()


def first_seen_rows(query: str, corpus: list[Entry], workspace: Workspace) -> list[tuple]:
    """The new combinations a first-seen query reports on the whole corpus, with their event counts
    (which event of a combination arg_min keeps is arbitrary when they share a time)."""
    workspace.load([sentinel_row(e) for e in corpus])
    rows = workspace.run(query, NOW)
    return sorted(
        (r["AuthorizationEvidencePrincipalId"], r["CallerIpAddressAsn"], r["EventCount"]) for r in rows
    )


@pytest.fixture(scope="module")
def original_rows(root: Path, corpus: list[Entry], workspace: Workspace) -> list[tuple]:
    """What the committed Sentinel artifact reports on the corpus (some combinations)."""
    query = (root / "output" / "sentinel-kql" / RULE.with_suffix(".kql")).read_text()
    rows = first_seen_rows(query, corpus, workspace)
    assert rows
    return rows


@pytest.mark.parametrize("name", BREAKS)
def test_a_title_cannot_end_the_query_comment(
    root: Path,
    tmp_path: Path,
    name: str,
    kusto: KustoAnalyzer,
    workspace: Workspace,
    corpus: list[Entry],
    original_rows: list[tuple],
) -> None:
    title = f"Benign{BREAKS[name]}{STATEMENT}"
    build = compile_variant(root, tmp_path, {"title": title})
    query = artifact(build, "query", "sentinel-kql")
    original = (root / "output" / "sentinel-kql" / RULE.with_suffix(".kql")).read_text()
    assert kusto.errors(query) == []
    header, rest = query.split("\n", 1)
    assert header.startswith("// Benign") and STATEMENT in header
    assert rest == original.split("\n", 1)[1]
    assert first_seen_rows(query, corpus, workspace) == original_rows
    template = yaml.safe_load(artifact(build, "sentinel-rule-yaml"))
    arm = json.loads(artifact(build, "sentinel-arm"))["resources"][0]["properties"]
    assert template["query"] == arm["query"] == query
    assert template["name"] == arm["displayName"] == title
    assert all(
        json.loads(line)["name"].startswith(title) for line in artifact(build, "kibana-rule").splitlines()
    )


@pytest.mark.parametrize(
    ("text", "in_arm"),
    [
        ("[subscription().subscriptionId]", "[[subscription().subscriptionId]"),
        ("[concat('a', 'b')]", "[[concat('a', 'b')]"),
        ("[[already]", "[[[already]"),
        ("[not an expression", "[not an expression"),  # ARM leaves it: it does not end with "]"
        ("ends with ]", "ends with ]"),
    ],
)
def test_arm_never_evaluates_rule_text(root: Path, tmp_path: Path, text: str, in_arm: str) -> None:
    build = compile_variant(root, tmp_path, {"title": text, "description": text})
    arm = json.loads(artifact(build, "sentinel-arm"))
    properties = arm["resources"][0]["properties"]
    assert properties["displayName"] == properties["description"] == in_arm
    template = yaml.safe_load(artifact(build, "sentinel-rule-yaml"))
    assert template["name"] == template["description"] == text  # YAML has no expressions


@pytest.fixture(scope="module")
def claim_corpus() -> list[Entry]:
    """Records whose claims hold the odd key, another key, or the key with another value."""
    key = "x or not y"
    variants = {
        "the claim": {key: "v"},
        "another value": {key: "w"},
        "another key": {"x": "v"},
        "the word alone": {"y": "v"},
    }
    return [
        Entry(name, merge(BASE, {"identity": {"claims": claims}, "correlationId": f"claim-{i}"}), {})
        for i, (name, claims) in enumerate(variants.items())
    ]


def test_a_field_name_cannot_become_query_syntax(
    root: Path, tmp_path: Path, claim_corpus: list[Entry], workspace: Workspace, kusto: KustoAnalyzer
) -> None:
    detection = {"selection": {"identity.claims.x or not y": "v"}, "condition": "selection"}
    build = compile_variant(root, tmp_path, {"detection": detection, "first_seen": None, "fields": None})
    kql, eql = artifact(build, "query", "kibana-kql"), artifact(build, "query", "eql")
    sentinel = artifact(build, "query", "sentinel-kql")
    parse_kibana_kql(kql.rstrip("\n"))
    parse_eql(eql)
    assert kusto.errors(sentinel) == []
    only = {e.name: e.name == "the claim" for e in claim_corpus}
    assert kibana_matches(kql, claim_corpus) == only
    assert eql_matches(eql, claim_corpus) == only
    assert sentinel_matches(sentinel, claim_corpus, workspace, False) == only


def _escape_per_character(text: str, table: dict[str, str], other: Any) -> str:
    """strings.escape as a loop over the characters, without its str.translate fast path."""
    out = [
        table[c] if c in table else other(c) if other and strings.UNPRINTABLE.match(c) else c for c in text
    ]
    return "".join(out)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.text(st.sampled_from('ab01\\"*:() \t\r\n\x00\x1f\x7f\x85\u2028é') | st.characters(), max_size=30))
def test_escaping_by_translate_is_escaping_each_character(text: str) -> None:
    """The backends escape values by str.translate where their table covers every character that
    needs escaping (strings.only_escaped): the same text as escaping one character at a time."""
    unicode = lambda c: f"\\u{{{ord(c):02x}}}"  # noqa: E731
    for table, other in [
        (KibanaKqlBackend.quoted_escapes, None),
        (KibanaKqlBackend.unquoted_escapes, None),
        (ElasticEqlBackend.string_escapes, unicode),
    ]:
        assert strings.escape(text, table, other) == _escape_per_character(text, table, other)
    sentinel = SentinelKqlBackend()
    if not strings.only_escaped(text, sentinel.string_escapes):
        return
    assert sentinel._escape(text) == _escape_per_character(text, sentinel.string_escapes, None)
