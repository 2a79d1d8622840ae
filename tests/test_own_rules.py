"""The project's own Entra ID rules (sigma/rules/azure/<service>/) and the activity-log keyword rule, as
committed in output/: each target's artifact runs on what its SIEM stores for the records of
tests/corpus/entra_records.json (the activity corpus for activity logs) and matches exactly what the
oracle says the Sigma rule means, but for the differences listed below with their reason.

Rules written with aliases are evaluated by the oracle in their raw names (CANONICAL): the oracle reads
raw records only, and tests/test_aliases.py shows that each alias compiles as its raw name.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import elastic_entra_ingest, sentinel_entra_cases, sentinel_entra_ingest
from support.corpus import load as activity_corpus
from support.corpus import merge
from support.eql_eval import EqlQuery
from support.kql_eval import KqlQuery
from support.kusto_exec import Workspace
from support.oracle import SigmaRule as Oracle
from support.semantics import kibana_matches, sentinel_matches

ROOT = Path(__file__).resolve().parent.parent
RECORDS = json.loads((ROOT / "tests" / "corpus" / "entra_records.json").read_text(encoding="utf-8"))
SERVICES = ("signinlogs", "auditlogs", "riskdetection")
KEYWORD_RULE = "sigma/rules/azure/activitylogs/azure_activity_storage_keys_listed.yml"

# What the alias rules mean in raw names (names pipelines: README, "Field aliases").
CANONICAL = {
    "Entra ID Device Code Sign-in from an Unmanaged Device": {
        "selection": {
            "resultType": "0",
            "properties.authenticationProtocol": "deviceCode",
            "properties.deviceDetail.isManaged": False,
        },
        "condition": "selection",
    },
    "Entra ID Directory Role Assigned Outside Privileged Identity Management": {
        "selection": {
            "properties.category": "RoleManagement",
            "operationName": "Add member to role",
            "properties.result": "Success",
            "properties.loggedByService": "Core Directory",
        },
        "filter_pim": {"identity": "MS-PIM"},
        "condition": "selection and not filter_pim",
    },
    "Entra ID Protection Impossible Travel at High Risk": {
        "selection": {"properties.riskEventType": "impossibleTravel", "properties.riskLevel": "high"},
        "condition": "selection",
    },
}
CASE = "keyword field, matched in the letter case written (README, Letter case)"
USER_SIGNINS = (
    "service-principal sign-ins are not user sign-ins: Sentinel keeps them in another table and the Elastic "
    "queries leave them out (README, Log sources)"
)
LEGACY = "Successful Entra ID Sign-in over a Legacy Authentication Protocol"
TRAVEL = "Entra ID Protection Impossible Travel at High Risk"
MCAS = "SigmaHQ's impossibleTravel also matches Entra's current name mcasImpossibleTravel"
TARGETS = ("kibana-kql", "eql", "sentinel-kql")
# (rule title, target, record) -> (what the target matches, why it differs from the Sigma rule)
KNOWN = {
    (LEGACY, "kibana-kql", "imap4 success, lower case"): (False, CASE),
    ("Entra ID Protection Detects Token Theft", "kibana-kql", "adversary in the middle, other case"): (
        False,
        CASE,
    ),
    **{(LEGACY, target, "service principal sign-in"): (False, USER_SIGNINS) for target in TARGETS},
    **{(TRAVEL, target, "impossible travel, current name, high"): (True, MCAS) for target in TARGETS},
}
KEYWORD_CASE = {"storage key listing"}  # activity records naming the operation in upper case only


def own_rules() -> list[tuple[str, Path]]:
    rules = [(s, p) for s in SERVICES for p in sorted((ROOT / "sigma" / "rules" / "azure" / s).glob("*.yml"))]
    return rules + [("activitylogs", ROOT / KEYWORD_RULE)]


def records(service: str) -> dict[str, dict[str, Any]]:
    """The service's records by name; each record's id (Sentinel's Id column) is its name."""
    corpus = RECORDS[service]
    return {
        r["name"]: merge(
            merge(copy.deepcopy(corpus["base"]), r["changes"]), {"properties": {"id": r["name"]}}
        )
        for r in corpus["records"]
    }


def artifacts(path: Path) -> tuple[dict[str, str], set[str]]:
    """The rule's committed query per target, and the targets that refused it (manifest.json)."""
    manifest = json.loads((ROOT / "output" / "manifest.json").read_text())
    rule_path = path.relative_to(ROOT).as_posix()
    queries = {
        e["target"]: (ROOT / "output" / e["artifact_path"]).read_text()
        for e in manifest["artifacts"]
        if e["rule_path"] == rule_path and e["kind"] == "query"
    }
    return queries, {r["target"] for r in manifest["refused"] if r["rule_path"] == rule_path}


@pytest.fixture(scope="module")
def sentinel(workspace: Workspace):  # noqa: ANN201
    def run(service: str, query: str, named: dict[str, dict[str, Any]]) -> dict[str, bool]:
        """Records of categories no table the query reads holds (service-principal sign-ins) never match."""
        kept = {n: r for n, r in named.items() if r["category"] in sentinel_entra_ingest.TABLES}
        found = set(sentinel_entra_cases.matches(workspace, query, kept))
        return {name: name in found for name in named}

    return run


def answers(
    service: str, target: str, query: str, named: dict[str, dict[str, Any]], sentinel
) -> dict[str, bool]:  # noqa: ANN001
    if target == "sentinel-kql":
        return sentinel(service, query, named)
    to_ecs, types = elastic_entra_ingest.STREAMS[service]
    docs = {name: to_ecs(record) for name, record in named.items()}
    if target == "kibana-kql":
        kql = KqlQuery(query.rstrip("\n"), types, elastic_entra_ingest.MULTI_FIELDS)
        return {name: doc is not None and kql.matches(doc) for name, doc in docs.items()}
    eql = EqlQuery(query)
    return {name: doc is not None and eql.matches(doc) for name, doc in docs.items()}


CASES = [
    pytest.param(service, path, target, id=f"{path.stem}:{target}")
    for service, path in own_rules()
    if service != "activitylogs"
    for target in ("kibana-kql", "eql", "sentinel-kql")
]


@pytest.mark.parametrize(("service", "path", "target"), CASES)
def test_rule_means_what_it_says(service: str, path: Path, target: str, sentinel) -> None:  # noqa: ANN001
    rule = yaml.safe_load(path.read_text())
    queries, refused = artifacts(path)
    if target in refused:
        assert target not in queries
        return
    named = records(service)
    oracle = Oracle(CANONICAL.get(rule["title"], rule["detection"]))
    expected = {name: oracle.matches(record) for name, record in named.items()}
    for (title, known_target, name), (answer, _) in KNOWN.items():
        if (title, known_target) == (rule["title"], target):
            expected[name] = answer
    assert answers(service, target, queries[target], named, sentinel) == expected


@pytest.mark.parametrize(("service", "path"), [(s, p) for s, p in own_rules() if s != "activitylogs"])
def test_the_records_exercise_each_rule(service: str, path: Path) -> None:
    rule = yaml.safe_load(path.read_text())
    oracle = Oracle(CANONICAL.get(rule["title"], rule["detection"]))
    results = [oracle.matches(record) for record in records(service).values()]
    assert any(results) and results.count(True) < len(results) - 2, path.name


def test_every_listed_difference_is_real() -> None:
    """A listed difference is one the oracle disagrees with (else it is stale)."""
    titles = {yaml.safe_load(p.read_text())["title"]: (s, p) for s, p in own_rules()}
    for (title, _, name), (answer, why) in KNOWN.items():
        service, path = titles[title]
        oracle = Oracle(CANONICAL.get(title, yaml.safe_load(path.read_text())["detection"]))
        assert oracle.matches(records(service)[name]) != answer and why, (title, name)


COSMOS_KEYS = "Microsoft.DocumentDB/databaseAccounts/listKeys/action"


def test_the_keyword_rule_searches_every_field(workspace: Workspace) -> None:
    """The activity-log keyword rule on the activity corpus plus records naming the operation in the
    operation name or only in the authorization action. EQL refuses it (no full-text search)."""
    path = ROOT / KEYWORD_RULE
    queries, refused = artifacts(path)
    assert refused == {"eql"}
    corpus = activity_corpus()
    extra = [
        ("list storage keys", {"operationName": "Microsoft.Storage/storageAccounts/listKeys/action"}),
        (
            "list cosmos keys in the action only",
            {
                "identity": {
                    "authorization": {"action": "Microsoft.DocumentDB/databaseAccounts/listKeys/action"}
                }
            },
        ),
    ]
    base = corpus[0]
    entries = corpus + [
        type(base)(name, merge(base.record, changes) | {"correlationId": f"keyword-{i}"}, {})
        for i, (name, changes) in enumerate(extra)
    ]
    oracle = Oracle(yaml.safe_load(path.read_text())["detection"])
    expected = {e.name: oracle.matches(e.record) for e in entries}
    assert expected["list storage keys"] and expected["list cosmos keys in the action only"]
    assert kibana_matches(queries["kibana-kql"], entries) == expected | {name: False for name in KEYWORD_CASE}
    assert sentinel_matches(queries["sentinel-kql"], entries, workspace, False) == expected
