"""The import-ready rule files in output/: Kibana ndjson, Sentinel YAML and ARM.

Every file passes its SIEM's rules (support/kibana_checks.py, support/sentinel_checks.py); the queries
they embed are the exact query artifacts; the ARM template and the YAML agree field by field. The
second half shows that each check catches what it is for.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from support import kibana_checks, sentinel_checks
from support.attack_data import attack_data
from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql
from translator.attack import attack

SERIAL_CONSOLE_ID = "d2d742ac-7b18-45b7-8c33-702e23e368f2"


def entries(root: Path, kind: str) -> list[dict]:
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    found = [e for e in manifest["artifacts"] if e["kind"] == kind]
    assert found, f"no {kind} artifacts"
    return found


def query_of(root: Path, rule_id: str, target: str) -> str:
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    (entry,) = [e for e in manifest["artifacts"] if e["rule_id"] == rule_id and e["target"] == target]
    return (root / "output" / entry["artifact_path"]).read_text()


def kibana_rules(root: Path) -> list[tuple[dict, list[dict]]]:
    return [
        (e, [json.loads(line) for line in (root / "output" / e["artifact_path"]).read_text().splitlines()])
        for e in entries(root, "kibana-rule")
    ]


def sentinel_pairs(root: Path) -> list[tuple[dict, dict, dict]]:
    yamls = {e["rule_id"]: e for e in entries(root, "sentinel-rule-yaml")}
    arms = {e["rule_id"]: e for e in entries(root, "sentinel-arm")}
    assert set(yamls) == set(arms)
    return [
        (
            yamls[rule_id],
            yaml.safe_load((root / "output" / yamls[rule_id]["artifact_path"]).read_text()),
            json.loads((root / "output" / arms[rule_id]["artifact_path"]).read_text()),
        )
        for rule_id in sorted(yamls)
    ]


# -- Kibana ----------------------------------------------------------------------------------------


def test_kibana_rules_pass_kibanas_rules(root: Path) -> None:
    for _, rules in kibana_rules(root):
        for rule in rules:
            assert kibana_checks.check_rule(rule, attack_data()) == [], rule["name"]


def test_kibana_rules_embed_the_query_artifacts(root: Path) -> None:
    """The KQL rule, and the EQL rule where the EQL target compiled the rule (else it is refused)."""
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    eql_refused = {r["rule_id"] for r in manifest["refused"] if r["target"] == "eql"}
    for entry, rules in kibana_rules(root):
        primary, *rest = rules
        assert primary["type"] in ("new_terms", "query")
        assert primary["query"] + "\n" == query_of(root, entry["rule_id"], "kibana-kql")
        parse_kibana_kql(primary["query"])
        assert len(rest) == (0 if entry["rule_id"] in eql_refused else 1)
        for eql in rest:
            assert eql["type"] == "eql" and eql["query"] + "\n" == query_of(root, entry["rule_id"], "eql")
            parse_eql(eql["query"])
            assert primary["rule_id"] != eql["rule_id"]


def test_first_seen_in_kibana(root: Path) -> None:
    """new_terms over the term fields and history; the EQL rule suppresses on the same fields."""
    for _, (new_terms, *rest) in kibana_rules(root):
        if new_terms["type"] != "new_terms" or not rest:
            continue
        (eql,) = rest
        suppression = eql["alert_suppression"]
        assert suppression["group_by"] == new_terms["new_terms_fields"]
        history = kibana_checks.ago(new_terms["history_window_start"])
        unit = {"s": 1, "m": 60, "h": 3600}[suppression["duration"]["unit"]]
        assert suppression["duration"]["value"] * unit == history
        assert eql["enabled"] is False and new_terms["enabled"] is True
        assert "How this EQL rule differs" in eql["note"]


def test_serial_console_kibana_rule_matches_elastic(root: Path) -> None:
    """The fields Elastic's rule sets and ours keeps equal (README, the comparison table)."""
    (new_terms, _) = next(rules for e, rules in kibana_rules(root) if "serial_console" in e["rule_path"])
    assert new_terms["type"] == "new_terms" and new_terms["language"] == "kuery"
    assert new_terms["index"] == ["logs-azure.activitylogs-*"]
    assert new_terms["from"] == "now-9m" and new_terms["interval"] == "5m"
    assert new_terms["history_window_start"] == "now-7d"
    assert new_terms["new_terms_fields"] == [
        "azure.activitylogs.identity.authorization.evidence.principal_id",
        "source.as.number",
    ]
    assert (new_terms["severity"], new_terms["risk_score"]) == ("medium", 47)
    assert new_terms["timestamp_override"] == "event.ingested"
    assert new_terms["related_integrations"][0]["package"] == "azure"
    assert new_terms["related_integrations"][0]["integration"] == "activitylogs"
    assert [(t["tactic"]["id"], [(x["id"], [s["id"] for s in x["subtechnique"]]) for x in t["technique"]])
            for t in new_terms["threat"]] == [
        ("TA0008", [("T1021", ["T1021.008"])]),
        ("TA0001", [("T1078", ["T1078.004"])]),
    ]  # fmt: skip
    assert new_terms["rule_id"] != "97266eb4-b8c3-4e3e-9417-7d0ace6b3dfe"  # never Elastic's prebuilt id


# -- Sentinel --------------------------------------------------------------------------------------


def test_sentinel_templates_pass_sentinels_rules(root: Path, kusto: KustoAnalyzer) -> None:
    for _, template, _ in sentinel_pairs(root):
        columns = set(kusto.result_columns(template["query"]))
        assert columns
        assert sentinel_checks.check_template(template, attack_data(), columns) == []


def test_sentinel_arm_templates_pass_and_agree_with_the_yaml(root: Path) -> None:
    for _, template, arm in sentinel_pairs(root):
        assert sentinel_checks.check_arm(arm) == []
        assert sentinel_checks.disagreements(template, arm) == []


def test_sentinel_rules_embed_the_query_artifact(root: Path, kusto: KustoAnalyzer) -> None:
    for entry, template, arm in sentinel_pairs(root):
        assert template["query"] == query_of(root, entry["rule_id"], "sentinel-kql")
        assert arm["resources"][0]["properties"]["query"] == template["query"]
        assert kusto.errors(template["query"]) == []


def test_serial_console_sentinel_rule(root: Path) -> None:
    entry, template, _ = next(p for p in sentinel_pairs(root) if "serial_console" in p[0]["rule_path"])
    assert (template["queryFrequency"], template["queryPeriod"]) == ("1h", "10144m")
    assert template["requiredDataConnectors"] == [
        {"connectorId": "AzureActivity", "dataTypes": ["AzureActivity"]}
    ]
    assert {e["entityType"] for e in template["entityMappings"]} == {"Account", "IP", "AzureResource"}
    assert template["relevantTechniques"] == ["T1021.008", "T1078.004"]
    assert template["severity"] == "Medium"


def test_attack_version_is_recorded(root: Path) -> None:
    version = attack().version
    assert re.fullmatch(r"\d+(\.\d+)?", version)
    for entry in entries(root, "sentinel-arm"):
        assert (
            json.loads((root / "output" / entry["artifact_path"]).read_text())["metadata"]["attackVersion"]
            == version
        )
    for _, rules in kibana_rules(root):
        assert all(rule["meta"]["attack_version"] == version for rule in rules)
    for entry in entries(root, "sentinel-rule-yaml"):
        assert f"MITRE ATT&CK v{version}." in (root / "output" / entry["artifact_path"]).read_text()


# -- each check bites ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def new_terms(root: Path) -> dict:
    """The Serial Console rule's new terms rule, the one the check tests break."""
    return next(rules[0] for e, rules in kibana_rules(root) if e["rule_id"] == SERIAL_CONSOLE_ID)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": None}, "missing required fields"),
        ({"new_terms_fields": None}, "missing required fields"),
        ({"new_terms_fields": ["a", "b", "c", "d"]}, "1 to 3 distinct"),
        ({"new_terms_fields": ["a", "a"]}, "1 to 3 distinct"),
        ({"history_window_start": "7 days ago"}, "not date math"),
        ({"history_window_start": "now-5m"}, "earlier than from"),
        ({"from": "yesterday"}, "not date math"),
        ({"interval": "5 minutes"}, "not like 5m"),
        ({"risk_score": 73}, "outside the medium band"),
        ({"max_signals": 5000}, "not within 1..1000"),
        ({"rule_id": "serial-console"}, "not a UUID"),
        ({"language": "eql"}, "not valid for new_terms"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "server-generated"),
        ({"tags": ["Tactic: Lateral Movement"]}, "differ"),
    ],
)
def test_kibana_check_catches(new_terms: dict, change: dict, problem: str) -> None:
    rule = copy.deepcopy(new_terms)
    for key, value in change.items():
        if value is None:
            del rule[key]
        else:
            rule[key] = value
    assert any(problem in p for p in kibana_checks.check_rule(rule, attack_data()))


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("tactic", "id"), "TA0001", "not an ATT&CK tactic with that name"),
        (("tactic", "reference"), "https://attack.mitre.org/tactics/TA0008", "does not point to"),
        (("technique", 0, "name"), "Remote Service", "not an ATT&CK technique"),
        (("technique", 0, "subtechnique", 0, "id"), "T1021.007", "not an ATT&CK sub-technique"),
        (("framework",), "ATT&CK", "MITRE ATT&CK"),
    ],
)
def test_kibana_threat_check_catches(new_terms: dict, path: tuple, value: str, problem: str) -> None:
    rule = copy.deepcopy(new_terms)
    node = rule["threat"][0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert any(problem in p for p in kibana_checks.check_rule(rule, attack_data()))


@pytest.fixture(scope="module")
def sentinel(root: Path, kusto: KustoAnalyzer) -> tuple[dict, dict, set[str]]:
    _, template, arm = next(pair for pair in sentinel_pairs(root) if pair[0]["rule_id"] == SERIAL_CONSOLE_ID)
    return template, arm, set(kusto.result_columns(template["query"]))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": "serial-console"}, "not a GUID"),
        ({"name": "x" * 257}, "1 to 256"),
        ({"severity": "Critical"}, "severity"),
        ({"queryFrequency": "1h", "queryPeriod": "30m"}, "at least queryFrequency"),
        ({"queryFrequency": "30m"}, "at least 1 hour once queryPeriod reaches 2 days"),
        ({"queryPeriod": "15d"}, "between 5 minutes and 14 days"),
        ({"queryPeriod": "7d"}, "further back than queryPeriod"),
        ({"triggerOperator": "GreaterThanOrEqual"}, "triggerOperator"),
        ({"triggerThreshold": 10001}, "0 to 10000"),
        ({"version": "1.0"}, "not X.Y.Z"),
        ({"tactics": ["LateralMovement", "InitialAccess"]}, "are not all listed"),
        ({"tactics": ["LateralMovement", "Lateral Movement"]}, "invalid tactics"),
        ({"customDetails": {"1stSeen": "FirstSeen"}}, "letters first"),
        ({"customDetails": {"Seen": "NoSuchColumn"}}, "not in the query"),
        ({"customDetails": {f"K{i}": "FirstSeen" for i in range(21)}}, "Sentinel takes 20"),
        (
            {"alertDetailsOverride": {"alertDisplayNameFormat": "{{A}} {{B}} {{C}} {{FirstSeen}}"}},
            "at most 3 placeholders",
        ),
        ({"entityMappings": []}, "1 to 5"),
        (
            {"entityMappings": [{"entityType": "Account", "fieldMappings": [{"identifier": "UPNSuffix",
                                                                            "columnName": "ClaimsName"}]}]},
            "required identifier sets",
        ),
        (
            {"entityMappings": [{"entityType": "IP", "fieldMappings": [{"identifier": "Ip",
                                                                       "columnName": "CallerIpAddress"}]}]},
            "invalid identifiers",
        ),
    ],
)  # fmt: skip
def test_sentinel_check_catches(sentinel: tuple, change: dict, problem: str) -> None:
    template = copy.deepcopy(sentinel[0]) | change
    assert any(problem in p for p in sentinel_checks.check_template(template, attack_data(), sentinel[2]))


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("queryPeriod", "10144m", "ISO-8601"),
        ("triggerOperator", "gt", "ARM operator"),
        ("techniques", ["T1021.008"], "parent ids"),
    ],
)
def test_arm_check_catches(sentinel: tuple, key: str, value: object, problem: str) -> None:
    arm = copy.deepcopy(sentinel[1])
    arm["resources"][0]["properties"][key] = value
    assert any(problem in p for p in sentinel_checks.check_arm(arm))
    assert sentinel_checks.disagreements(sentinel[0], arm)


def test_arm_check_catches_an_old_api(sentinel: tuple) -> None:
    arm = copy.deepcopy(sentinel[1])
    arm["resources"][0]["apiVersion"] = "2023-02-01"
    assert any("predates subTechniques" in p for p in sentinel_checks.check_arm(arm))


def test_arm_check_catches_rule_text_arm_would_evaluate(sentinel: tuple) -> None:
    template, arm = copy.deepcopy(sentinel[0]), copy.deepcopy(sentinel[1])
    template["name"] = "[subscription().subscriptionId]"
    arm["resources"][0]["properties"]["displayName"] = "[subscription().subscriptionId]"
    assert any("ARM expression" in p for p in sentinel_checks.check_arm(arm))
    assert sentinel_checks.disagreements(template, arm)
    arm["resources"][0]["properties"]["displayName"] = "[[subscription().subscriptionId]"  # ARM's literal
    assert sentinel_checks.check_arm(arm) == []
    assert sentinel_checks.disagreements(template, arm) == []
