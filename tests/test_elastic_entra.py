"""The Elastic targets on Entra ID logs (and activity-log keywords): every compiled query runs on what
Elastic's Azure integration stores for raw records, and matches what the Sigma rule means.

The records and the expected answers are in tests/corpus/elastic_entra_cases.json: one case per raw field
each ECS pipeline maps (the rule `field: value` matches the record holding the value and misses the one
holding another), and the constructs (paths through lists, whole lists, JSON-encoded values, results,
empty values, booleans, text and caseless fields, keyword search, letter case, the log categories kept).
Where a target answers otherwise than the rule means, the corpus says so and why; where it cannot express
a rule, the reason it must give.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import elastic_entra_ingest, elastic_ingest, kibana_checks
from support.attack_data import attack_data
from support.corpus import merge
from support.eql_eval import EqlQuery
from support.grammars import parse_eql, parse_kibana_kql
from support.kql_eval import KqlQuery
from support.records import BASE as ACTIVITY_BASE
from support.sources import rule_source
from translator.errors import RuleError
from translator.packaging import PACKAGES
from translator.pipelines import PIPELINES_DIR
from translator.targets import TARGETS

CORPUS = json.loads(
    (Path(__file__).parent / "corpus" / "elastic_entra_cases.json").read_text(encoding="utf-8")
)
ELASTIC = ("kibana-kql", "eql")
STREAMS = {
    **elastic_entra_ingest.STREAMS,
    "activitylogs": (elastic_ingest.to_ecs, elastic_ingest.TYPES),
}


def base(service: str) -> dict[str, Any]:
    return copy.deepcopy(ACTIVITY_BASE if service == "activitylogs" else CORPUS["records"][service])


def checked_query(target: str, service: str, detection: dict[str, Any], refusal: str | None) -> str | None:
    """The query the detection compiles to, parsed by the target's grammar; None when the case expects
    this target to refuse it, after checking that it does, for that reason."""
    try:
        query = TARGETS[target].render(rule_source(detection, service)).text
    except RuleError as e:
        assert refusal and refusal in e.reason, e
        return None
    assert not refusal, query
    parse_kibana_kql(query.rstrip("\n")) if target == "kibana-kql" else parse_eql(query)
    return query


def matches(target: str, query: str, service: str, record: dict[str, Any]) -> bool:
    to_ecs, types = STREAMS[service]
    doc = to_ecs(record)
    if doc is None:  # the data stream drops the record
        return False
    if target == "kibana-kql":
        return KqlQuery(query.rstrip("\n"), types, elastic_entra_ingest.MULTI_FIELDS).matches(doc)
    return EqlQuery(query).matches(doc)


def set_path(node: Any, path: str, value: Any) -> None:
    """Write `value` at a raw path; `a[]` writes into every element of the list a."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        for item in node.setdefault(head[:-2], [{}]):
            set_path(item, rest, value)
    elif not rest:
        node[head] = value
    else:
        set_path(node.setdefault(head, {}), rest, value)


def field_records(service: str, entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record holding the value and the one holding the near miss."""
    records = []
    for stored, patch in (("stored", "match_patch"), ("stored_miss", "miss_patch")):
        record = base(service)
        if patch in entry:
            record = merge(record, entry[patch])
        else:
            set_path(
                record, entry["field"], entry.get(stored, entry["value" if stored == "stored" else "miss"])
            )
            record = merge(record, entry.get("patch", {}))
        records.append(record)
    return records[0], records[1]


FIELD_CASES = [
    pytest.param(service, entry, target, id=f"{service}:{entry['field']}:{target}")
    for service, entries in CORPUS["fields"].items()
    for entry in entries
    for target in ELASTIC
]


@pytest.mark.parametrize(("service", "entry", "target"), FIELD_CASES)
def test_each_mapped_field(service: str, entry: dict[str, Any], target: str) -> None:
    key = entry["field"] + (f"|{entry['modifier']}" if "modifier" in entry else "")
    detection = {"selection": {key: entry["value"]}, "condition": "selection"}
    query = checked_query(target, service, detection, entry.get("refused", {}).get(target))
    if query is None:
        return
    holding, missing = field_records(service, entry)
    assert (matches(target, query, service, holding), matches(target, query, service, missing)) == (
        True,
        False,
    )


def _pipeline_names(service: str) -> set[str]:
    """The raw names the service's ECS pipeline maps or declares unavailable (prefixes end with '.')."""
    pipeline = yaml.safe_load((PIPELINES_DIR / f"azure_{service}_to_ecs.yml").read_text())
    names: set[str] = set()
    for item in pipeline["transformations"]:
        if "mapping" in item:
            names |= set(item["mapping"])
        names |= set(item.get("unavailable", {}))
    return names


@pytest.mark.parametrize("service", ["signinlogs", "auditlogs", "riskdetection"])
def test_every_mapping_has_a_case(service: str) -> None:
    covered = {entry["field"] for entry in CORPUS["fields"][service]}
    missing = {
        name
        for name in _pipeline_names(service)
        if not (name in covered or name.endswith(".") and any(f.startswith(name) for f in covered))
    }
    assert missing == set()


CONSTRUCTS = [
    pytest.param(case, target, id=f"{case['name']}:{target}")
    for case in CORPUS["cases"]
    for target in ELASTIC
]


@pytest.mark.parametrize(("case", "target"), CONSTRUCTS)
def test_construct(case: dict[str, Any], target: str) -> None:
    query = checked_query(target, case["service"], case["detection"], case.get("refused", {}).get(target))
    if query is None:
        return
    got = {
        r["name"]: matches(target, query, case["service"], merge(base(case["service"]), r["changes"]))
        for r in case["records"]
    }
    assert got == {r["name"]: r.get(target, r["sigma"]) for r in case["records"]}


def test_every_difference_is_explained() -> None:
    for case in CORPUS["cases"]:
        for record in case["records"]:
            differs = any(record.get(t, record["sigma"]) != record["sigma"] for t in ELASTIC)
            assert not differs or record.get("why"), (case["name"], record["name"])
        assert case.get("refused") or any(r["sigma"] for r in case["records"]), case["name"]
        assert case.get("refused") or not all(r["sigma"] for r in case["records"]), case["name"]


@pytest.mark.parametrize(
    ("service", "detection", "required"),
    [
        (
            "signinlogs",
            {"selection": {"properties.ipAddress|cidr": "20.33.0.0/16", "properties.isInteractive": True}},
            {"source.ip": "ip", "azure.signinlogs.properties.is_interactive": "boolean"},
        ),
        (
            "auditlogs",
            {"selection": {"properties.targetResources[].type": "User", "Level": 4}},
            {
                "azure.auditlogs.properties.target_resources.*.type": "keyword",
                "azure.auditlogs.level": "float",
            },
        ),
        (
            "riskdetection",
            {
                "selection": {
                    "properties.additionalInfo[].Key": "userAgent",
                    "riskEventType": "leakedCredentials",
                }
            },
            {"azure.identityprotection.properties.additional_info.Key": "flattened"},
        ),
    ],
)
def test_kibana_rule_files(service: str, detection: dict[str, Any], required: dict[str, str]) -> None:
    """The Kibana rules carry the stream's index, integration, tags and the field types it maps."""
    source = rule_source(detection | {"condition": "selection"}, service)
    source.rule.date = date(2026, 11, 20)
    queries = {}
    for target in ELASTIC:
        try:
            queries[target] = TARGETS[target].render(source)
        except RuleError:
            continue  # refused: the file holds the other rule
    (package,) = [p for p in PACKAGES if p.name == "kibana-rules"]
    (file,) = package.make(source, queries)
    rules = [json.loads(line) for line in file.content.decode().splitlines()]
    stream = {"signinlogs": "signinlogs", "auditlogs": "auditlogs", "riskdetection": "identity_protection"}[
        service
    ]
    for rule in rules:
        assert kibana_checks.check_rule(rule, attack_data()) == []
        assert rule["index"] == [f"logs-azure.{stream}-*"]
        assert rule["related_integrations"] == [
            {"package": "azure", "integration": stream, "version": "^1.5.32"}
        ]
        assert "Data Source: Microsoft Entra ID" in rule["tags"]
        types = {f["name"]: f["type"] for f in rule["required_fields"]}
        assert required.items() <= types.items()
        assert types["data_stream.dataset"] == "constant_keyword"


def test_the_simulators_store_what_the_integration_does() -> None:
    """The behaviours the pipelines rely on, one record each (see support/elastic_entra_ingest.py)."""
    signin = elastic_entra_ingest.signin_to_ecs(base("signinlogs"))
    props = signin["azure"]["signinlogs"]["properties"]
    assert props["risk_level_during_signin"] == "none" and "riskLevelDuringSignIn" not in props
    assert "token_issuer_name" not in props and "service_principal_id" not in props  # empty: dropped
    assert props["authentication_processing_details"] == {"Login Hint Present": "True"}
    assert (
        signin["message"].endswith("(MFA completed in Azure AD)") and "failure_reason" not in props["status"]
    )
    assert signin["event"]["outcome"] == "failure" and signin["user_agent"]["original"].startswith("Mozilla")
    assert elastic_entra_ingest.signin_to_ecs(base("signinlogs") | {"category": "AuditLogs"}) is None

    audit = elastic_entra_ingest.audit_to_ecs(base("auditlogs"))
    properties = audit["azure"]["auditlogs"]["properties"]
    assert properties["target_resources"]["0"]["modified_properties"]["1"] == {
        "display_name": "Included Updated Properties",
        "new_value": '"AccountEnabled"',
    }
    assert "administrativeUnits" not in properties["target_resources"]["0"]
    assert audit["event"]["outcome"] == "success" and "result" not in properties
    assert properties["initiated_by"]["user"]["userPrincipalName"] == "jadmin@contoso.com"
    timeout = merge(base("auditlogs"), {"properties": {"result": "timeout"}})
    assert (
        elastic_entra_ingest.audit_to_ecs(timeout)["azure"]["auditlogs"]["properties"]["result"] == "timeout"
    )

    risk = elastic_entra_ingest.risk_to_ecs(base("riskdetection"))
    logs = risk["azure"]["identityprotection"]
    assert logs["properties"]["risk_event_type"] == "anonymizedIPAddress" and "identity" not in logs
    assert logs["properties"]["additional_info"][0]["Key"] == "userAgent"
    assert "home_tenant_id" not in logs["properties"] and "homeTenantId" not in logs["properties"]
    assert "outcome" not in risk["event"]
