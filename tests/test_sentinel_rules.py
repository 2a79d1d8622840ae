"""Sentinel rules of every shape on the Entra ID tables: the slice of time each run reads, the entities
and custom details every rule maps, first seen over the two sign-in tables, and the keyword search.

Each query runs on simulated rows at fixed run times; each rule file passes Sentinel's template checks
against the columns Kusto.Language finds in the query's result.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from support import records, sentinel_checks, sentinel_entra_ingest, sentinel_ingest
from support.attack_data import attack_data
from support.corpus import merge
from support.grammars import KustoAnalyzer
from support.kusto_exec import Workspace
from support.sentinel_entra_cases import NOW, compile_sentinel, record, source
from translator.attack import attack
from translator.build import Build
from translator.errors import RuleError
from translator.model import Duration
from translator.packaging.sentinel import SentinelRuleBuilder
from translator.packaging.sentinel_yaml import SentinelDumper
from translator.targets import TARGETS

UPDATE_USER = {"selection": {"operationName": "Update user"}, "condition": "selection"}


def rows_at(service: str, times: dict[str, datetime], changes: dict[str, Any] | None = None) -> list[dict]:
    return [sentinel_entra_ingest.to_row(record(service, name, changes), t) for name, t in times.items()]


def ids(workspace: Workspace, query: str, now: datetime) -> set[str]:
    return {row["Id"] for row in workspace.run(query, now)}


def test_a_plain_rule_reads_one_frequency_ending_its_delay_before_the_run(workspace: Workspace) -> None:
    """Every 5m, 1m late (the default schedule): the run at NOW reads (NOW - 6m, NOW - 1m]."""
    query = compile_sentinel("auditlogs", UPDATE_USER).text
    times = {
        "6m before": NOW - timedelta(minutes=6),
        "just after 6m before": NOW - timedelta(minutes=6) + timedelta(seconds=1),
        "3m before": NOW - timedelta(minutes=3),
        "1m before": NOW - timedelta(minutes=1),
        "just after 1m before": NOW - timedelta(minutes=1) + timedelta(seconds=1),
    }
    workspace.load(rows_at("auditlogs", times), "AuditLogs")
    assert ids(workspace, query, NOW) == {"just after 6m before", "3m before", "1m before"}


@pytest.mark.parametrize(("interval", "lookback"), [("5m", "6m"), ("10m", "15m"), ("1h", "1h")])
def test_consecutive_runs_alert_on_each_event_once(
    workspace: Workspace, interval: str, lookback: str
) -> None:
    """Runs every queryFrequency; each event in the runs' span is returned by exactly one run."""
    rule_source = source("auditlogs", UPDATE_USER, schedule={"interval": interval, "lookback": lookback})
    rendered = TARGETS["sentinel-kql"].render(rule_source)
    rule = SentinelRuleBuilder(rule_source, rendered, attack()).build()
    frequency, period = rule.query_frequency.timedelta, rule.query_period.timedelta
    delay = (Duration.parse(lookback, "lookback") - Duration.parse(interval, "interval")).timedelta
    assert (frequency, period) == (Duration.parse(interval, "interval").timedelta, frequency + delay)
    runs = [NOW + k * frequency for k in range(6)]
    start, end = runs[0] - period, runs[-1] - delay
    times = {
        f"event {k}": start + k * timedelta(seconds=97)
        for k in range(int((end - start).total_seconds() // 97) + 1)
    }
    workspace.load(rows_at("auditlogs", times), "AuditLogs")
    seen: dict[str, int] = {}
    for run in runs:
        for name in ids(workspace, rendered.text, run):
            seen[name] = seen.get(name, 0) + 1
    inside = {name for name, t in times.items() if start < t <= end}
    assert seen == dict.fromkeys(inside, 1)


EXPECTED_ENTITIES = {
    "signinlogs": {
        ("Account", "UserPrincipalName"),
        ("IP", "IPAddress"),
        ("CloudApplication", "AppDisplayName"),
    },
    "auditlogs": {
        ("Account", "InitiatedByUserUserPrincipalName"),
        ("Account", "InitiatedByAppServicePrincipalId"),
        ("IP", "InitiatedByUserIpAddress"),
    },
    "riskdetection": {("Account", "UserPrincipalName"), ("IP", "IpAddress")},
}
DETECTIONS = {
    "signinlogs": {
        "selection": {"properties.deviceDetail.trustType": "Hybrid Azure AD joined"},
        "condition": "selection",
    },
    "auditlogs": {
        "selection": {"properties.targetResources[].type": "Role", "Category": "RoleManagement"},
        "condition": "selection",
    },
    "riskdetection": {"selection": {"riskEventType": "anonymizedIPAddress"}, "condition": "selection"},
}
DETAILS = {
    "signinlogs": {"DetailTrustType": "DeviceDetailTrustType"},
    "auditlogs": {"TargetResources": "TargetResources", "Category": "Category"},
    "riskdetection": {"RiskEventType": "RiskEventType"},
}


@pytest.mark.parametrize("service", EXPECTED_ENTITIES)
def test_a_rule_without_fields_maps_the_tables_entities(service: str, kusto: KustoAnalyzer) -> None:
    """Sentinel refuses a rule without entities; the query's results hold the table's entity columns,
    and the custom details show what the detection reads."""
    rendered = compile_sentinel(service, DETECTIONS[service])
    rule = SentinelRuleBuilder(source(service, DETECTIONS[service]), rendered, attack()).build().template()
    first = {(e["entityType"], e["fieldMappings"][0]["columnName"]) for e in rule["entityMappings"]}
    assert first == EXPECTED_ENTITIES[service]
    assert rule["customDetails"] == DETAILS[service]
    errors, columns = kusto.analysis(rule["query"])
    assert errors == []
    assert sentinel_checks.check_template(rule, attack_data(), set(columns)) == []


def test_entity_columns_hold_the_records_values(workspace: Workspace) -> None:
    query = compile_sentinel("auditlogs", UPDATE_USER).text
    workspace.load(rows_at("auditlogs", {"update": NOW - timedelta(minutes=3)}), "AuditLogs")
    (row,) = workspace.run(query, NOW)
    assert (row["InitiatedByUserUserPrincipalName"], row["InitiatedByUserIpAddress"]) == (
        "admin@contoso.com",
        "20.33.14.7",
    )


def test_a_rule_with_fields_shows_them(kusto: KustoAnalyzer) -> None:
    detection = DETECTIONS["signinlogs"]
    fields = ["properties.userAgent", "properties.appliedConditionalAccessPolicies[].displayName"]
    rendered = compile_sentinel("signinlogs", detection, fields=fields)
    rule = SentinelRuleBuilder(source("signinlogs", detection, fields=fields), rendered, attack()).build()
    # a path through a list shows its list
    assert rule.custom_details == {
        "UserAgent": "UserAgent",
        "AccessPolicies": "ConditionalAccessPolicies",  # keys are at most 20 characters
    }
    errors, columns = kusto.analysis(rule.query)
    assert errors == [] and set(rule.custom_details.values()) <= set(columns)


def test_first_seen_over_both_sign_in_tables(workspace: Workspace, kusto: KustoAnalyzer) -> None:
    """A pair seen before in either table is not new; the history spans both."""
    extra = {
        "first_seen": {"fields": ["properties.userPrincipalName", "properties.ipAddress"], "history": "1d"},
        "fields": ["properties.userPrincipalName", "properties.ipAddress", "properties.appDisplayName"],
    }
    detection = {"selection": {"operationName": "Sign-in activity"}, "condition": "selection"}
    query = compile_sentinel("signinlogs", detection, **extra).text
    assert kusto.errors(query) == []
    non_interactive = {"category": "NonInteractiveUserSignInLogs", "properties": {"isInteractive": False}}
    known_before = sentinel_entra_ingest.to_row(
        record("signinlogs", "known before", non_interactive), NOW - timedelta(hours=3)
    )
    known_now = sentinel_entra_ingest.to_row(record("signinlogs", "known now"), NOW - timedelta(minutes=3))
    new = {"properties": {"ipAddress": "67.43.156.42"}}
    new_now = sentinel_entra_ingest.to_row(record("signinlogs", "new now", new), NOW - timedelta(minutes=3))
    new_again = sentinel_entra_ingest.to_row(
        record("signinlogs", "new again", merge(new, non_interactive)), NOW - timedelta(minutes=2)
    )
    workspace.load([known_now, new_now], "SigninLogs")
    workspace.load([known_before, new_again], "AADNonInteractiveUserSignInLogs")
    (alert,) = workspace.run(query, NOW)
    assert (alert["IPAddress"], alert["EventCount"], alert["AppDisplayName"]) == (
        "67.43.156.42",
        2,
        "Azure Portal",
    )


def test_the_union_gives_each_column_one_type(kusto: KustoAnalyzer) -> None:
    """Without todynamic, a key of the non-interactive table's JSON text is no column path."""
    assert kusto.errors('AADNonInteractiveUserSignInLogs | where DeviceDetail.trustType == "x"')
    query = compile_sentinel(
        "signinlogs", {"selection": {"properties.deviceDetail.trustType": "x"}, "condition": "selection"}
    ).text
    assert (
        "AADNonInteractiveUserSignInLogs | project-rename ProcessingTimeInMilliseconds = ProcessingTimeInMs"
        in query
    )
    errors, columns = kusto.analysis(query)
    assert errors == []
    assert not [c for c in columns if c.endswith(("_string", "_dynamic"))]  # no column split by type


def test_activity_keywords_search_every_column(workspace: Workspace) -> None:
    """SigmaHQ's activity keyword rules: the operation wherever the row holds it, in any case."""
    detection = {"keywords": ["Microsoft.Storage/storageAccounts/listKeys/action"], "condition": "keywords"}
    query = TARGETS["sentinel-kql"].render(source("activitylogs", detection)).text
    action = records.BASE["identity"]["authorization"] | {
        "action": "Microsoft.Storage/storageAccounts/listKeys/action"
    }
    rows = {
        "operation": records.record(operationName="MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION"),
        "authorization action only": records.record(
            identity=records.BASE["identity"] | {"authorization": action}
        ),
        "other operation": records.record(),
    }
    workspace.load(
        [
            sentinel_ingest.to_row(r | {"correlationId": name}, NOW - timedelta(minutes=3))
            for name, r in rows.items()
        ]
    )
    assert {r["CorrelationId"] for r in workspace.run(query, NOW)} == {
        "operation",
        "authorization action only",
    }


@pytest.mark.parametrize(
    ("service", "detection", "reason"),
    [
        (
            "activitylogs",
            {"keywords": ["listKeys"], "asn": {"callerIpAddressAsn": 8075}, "condition": "keywords or asn"},
            "a keyword search ORed or negated together with a condition on a lookup column",
        ),
        (
            "auditlogs",
            {
                "keywords": ["Guest"],
                "target": {"properties.targetResources[].type": "User"},
                "condition": "not (keywords and target)",
            },
            "a keyword search ORed or negated together with a condition on a list",
        ),
    ],
)
def test_a_keyword_beside_columns_the_query_adds_is_refused(
    service: str, detection: dict, reason: str
) -> None:
    """`*` would also search the lookup's or the list stages' columns; joined by `and` it runs before them."""
    with pytest.raises(RuleError, match=reason):
        TARGETS["sentinel-kql"].render(source(service, detection))
    detection = detection | {"condition": detection["condition"].replace(" or ", " and ").replace("not ", "")}
    TARGETS["sentinel-kql"].render(source(service, detection))


def test_a_first_seen_field_must_be_one_value() -> None:
    extra = {"first_seen": {"fields": ["properties.targetResources[].id"], "history": "1d"}}
    with pytest.raises(RuleError, match="a first_seen field must not be a path through a list"):
        compile_sentinel("auditlogs", UPDATE_USER, **extra)


class _PythonDumper(yaml.SafeDumper):
    """The Sentinel dumper's representer on PyYAML's pure-Python emitter."""


_PythonDumper.add_representer(str, SentinelDumper.yaml_representers[str])


def _both_emitters(value: Any) -> tuple[str, str]:
    options = {"sort_keys": False, "allow_unicode": True, "width": 1000}
    return (
        yaml.dump(value, Dumper=SentinelDumper, **options),
        yaml.dump(value, Dumper=_PythonDumper, **options),
    )


def test_libyaml_writes_every_committed_sentinel_rule_as_the_python_emitter_does(build: Build) -> None:
    """The fast (libyaml) emitter is an optimisation: it must not change a byte of any rule file."""
    assert SentinelDumper.__mro__[1] is yaml.CSafeDumper
    files = [a for a in build.artifacts if a.kind == "sentinel-rule-yaml"]
    assert files
    for artifact in files:
        header, body = artifact.content.decode().split("\n", 1)
        fast, python = _both_emitters(yaml.safe_load(body))
        assert fast == python == body, artifact.path


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=40), st.text(max_size=40))
def test_libyaml_and_python_emitters_agree_on_any_text(first: str, second: str) -> None:
    """Both emitters write the same text, except that libyaml escapes characters outside the BMP
    (emoji), which PyYAML writes as they are; either way the text reads back as it was."""
    value = {"name": first, "description": f"{first}\n{second}", "list": [second]}
    fast, python = _both_emitters(value)
    assert yaml.safe_load(fast) == value == yaml.safe_load(python)
    if all(ord(c) <= 0xFFFF for c in first + second):
        assert fast == python


def test_the_dumpers_direct_nodes_are_those_of_pyyamls_representer() -> None:
    """SentinelDumper makes the nodes of plain data itself (a dict or list met twice is one node, an
    alias); values of other types, and other dump options, take PyYAML's representer as before."""

    class Representer(yaml.CSafeDumper):  # type: ignore[misc,name-defined]
        """SentinelDumper's str representer on PyYAML's own representer, over the same emitter."""

    Representer.add_representer(str, SentinelDumper.yaml_representers[str])
    shared = {"k": ["v", 1, True, None]}
    values: list[Any] = [
        {"a": shared, "b": shared, "c": [shared, []], "d": {}, "e": -3, "f": False, "g": "x\ny"},
        {"tuple": (1, 2), "float": 1.5, "date": datetime(2024, 1, 2)},
        ["plain", "", "\u2028", "a\n\n", "true", "null", "01", "#x", "é"],
    ]
    for value in values:
        for options in ({}, {"default_flow_style": None}, {"default_style": "'"}):
            expected = yaml.dump(value, Dumper=Representer, sort_keys=False, **options)
            assert yaml.dump(value, Dumper=SentinelDumper, sort_keys=False, **options) == expected
