"""The artifacts mean what the Sigma rules mean: every compiled query runs on what each SIEM stores for
every corpus record, and matches exactly the records the oracle matches, but for the listed
differences (tests/known_differences.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from duckdb_kql import KqlUnsupportedError
from known_differences import KNOWN_DIFFERENCES, NOT_EXECUTABLE

from support.cases import load_cases
from support.corpus import Entry, load
from support.kusto_exec import Workspace
from support.semantics import eql_matches, kibana_matches, oracle_matches, sentinel_matches

RULE = Path("azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn")
SUFFIX = {"kibana-kql": ".kql", "eql": ".eql", "sentinel-kql": ".kql"}


def rules(root: Path) -> list[tuple[str, dict[str, Any], dict[str, str], bool]]:
    """(name, detection, query per target, is first-seen): the Serial Console rule and the golden cases."""
    sigma = yaml.safe_load((root / "sigma" / "rules" / RULE.with_suffix(".yml")).read_text())
    queries = {
        t: (root / "output" / t / "rules" / RULE.with_suffix(s)).read_text() for t, s in SUFFIX.items()
    }
    found = [("serial console", sigma["detection"], queries, True)]
    for case in load_cases():
        runnable = {t: q for t, q in case["expected"].items() if isinstance(q, str)}
        found.append((case["name"], case["detection"], runnable, False))
    return found


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load()


@pytest.fixture(scope="module")
def results(root: Path, corpus: list[Entry], workspace: Workspace) -> dict[str, Any]:
    differences: dict[tuple[str, str, str], tuple[bool, bool]] = {}
    not_executable: set[tuple[str, str]] = set()
    positives: dict[str, int] = {}
    for name, detection, queries, first_seen in rules(root):
        expected = oracle_matches(detection, corpus)
        positives[name] = sum(expected.values())
        for target, query in queries.items():
            try:
                if target == "kibana-kql":
                    got = kibana_matches(query, corpus)
                elif target == "eql":
                    got = eql_matches(query, corpus)
                else:
                    got = sentinel_matches(query, corpus, workspace, per_record=first_seen)
            except KqlUnsupportedError:
                not_executable.add((name, target))
                continue
            differences |= {
                (name, target, r): (expected[r], got[r]) for r in expected if expected[r] != got[r]
            }
    return {"differences": differences, "not_executable": not_executable, "positives": positives}


def test_targets_match_the_oracle_but_for_the_known_differences(results: dict[str, Any]) -> None:
    assert results["differences"] == {key: value[:2] for key, value in KNOWN_DIFFERENCES.items()}


def test_only_the_listed_cases_cannot_run(results: dict[str, Any]) -> None:
    assert results["not_executable"] == set(NOT_EXECUTABLE)


def test_the_corpus_exercises_each_rule(results: dict[str, Any], corpus: list[Entry]) -> None:
    """Every rule that compiles matches some records and misses others (no vacuous agreement)."""
    for name, count in results["positives"].items():
        if name in ("unmapped field",):  # compiles nowhere
            continue
        assert 0 < count < len(corpus), name


def test_serial_console_positives(root: Path, corpus: list[Entry]) -> None:
    """The oracle's reading of the rule, spelled out: connect + success + principal + an ASN."""
    sigma = yaml.safe_load((root / "sigma" / "rules" / RULE.with_suffix(".yml")).read_text())
    matched = {name for name, hit in oracle_matches(sigma["detection"], corpus).items() if hit}
    assert "serial console connect" in matched
    assert "connect, operation in lower case" in matched  # Sigma is case-insensitive
    assert "connect, empty principal id" in matched  # exists: the field is there
    misses = (
        "disconnect",
        "connect, result Start",
        "connect, no principal id",
        "connect from a private address",
        "connect from IPv6 without ASN",
        "connect operation with a suffix",
    )
    assert not matched & set(misses)


def test_readme_lists_every_known_difference(root: Path) -> None:
    readme = (root / "README.md").read_text()
    for (rule, target, record), (oracle, got, _) in KNOWN_DIFFERENCES.items():
        verdicts = " | ".join("matches" if v else "no match" for v in (oracle, got))
        assert f"| {rule} | {target} | {record} | {verdicts} |" in readme
