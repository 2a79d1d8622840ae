"""Every field of the raw Entra ID records, compiled to Sentinel and run on what Sentinel stores.

For each value in each base record of tests/corpus/sentinel_entra_cases.json (every documented field,
and each key of each element of its lists, `a[].b`), the rule `field: value` must either compile and
match the record but not the same record with that one value changed (a near miss), or be refused with
the reason the pipeline gives for a field the table does not hold. So every mapping of the Sentinel
pipelines is executed once against the simulated row (support/sentinel_entra_ingest.py), and a raw field
can be neither silently dropped nor passed through. The sign-in record runs as an interactive and as a
non-interactive sign-in, so every column is also read from the table that stores it as JSON text.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from support.kusto_exec import Workspace
from support.sentinel_entra_cases import compile_sentinel, corpus, matches, record
from translator.errors import RuleError
from translator.pipelines import PIPELINES_DIR

NON_INTERACTIVE = {
    "category": "NonInteractiveUserSignInLogs",
    "properties": {"isInteractive": False, "signInEventTypes": ["refreshToken"]},
}
VARIANTS = {
    "signinlogs": {"interactive": {}, "non-interactive": NON_INTERACTIVE},
    "auditlogs": {"audit": {}},
    "riskdetection": {"risk": {}},
}
# Fields the tables do not hold: refused, with the reason the pipeline gives.
UNAVAILABLE = {
    "signinlogs": {"resourceId", "properties.isTenantRestricted", "properties.ssoExtensionVersion"},
    "auditlogs": {"callerIpAddress", "properties.userAgent"},
    "riskdetection": {
        "category",
        "tenantId",
        "correlationId",
        "callerIpAddress",
        "identity",
        "location",
        "resourceId",
        "operationVersion",
        "resultSignature",
        "durationMs",
        "Level",
        "properties.riskType",
        "properties.userType",
        "properties.homeTenantId",
        "properties.crossTenantAccessType",
    },
}
# Raw names the names pipelines read as another field: in SigmaHQ's audit rules `category` is always an
# audit category (azure_auditlogs_names.yml), so the log category AuditLogs matches no record.
RENAMED = {("auditlogs", "category")}
# Where the table cannot match the value as the record holds it (README, Sentinel: known differences).
NOT_COMPARED = {
    # TimeGenerated is when Log Analytics received the row; the record's time is its own.
    "time": "TimeGenerated is the ingestion time",
    # Date-time columns compare as Kusto writes them (2026-11-20T11:50:15.5522137Z), not as the record.
    "properties.createdDateTime": "a datetime column",
    "properties.activityDateTime": "a datetime column",
    "properties.detectedDateTime": "a datetime column",
    "properties.lastUpdatedDateTime": "a datetime column",
}
# Columns only SigninLogs has in the table schemas (pysigma-backend-kusto 1.0.1): the non-interactive
# rows hold nothing there. AADTenantId is in Sentinel's current non-interactive schema, not in this one.
SIGNINLOGS_ONLY = {
    "tenantId",
    "properties.signInIdentifier",
    "properties.servicePrincipalName",
    "properties.flaggedForReview",
    "properties.ipAddressFromResourceProvider",
}
# The record carries one value twice; the table keeps one column (a near miss changes both).
SAME_COLUMN = {
    "signinlogs": [
        ("correlationId", "properties.correlationId"),
        ("callerIpAddress", "properties.ipAddress"),
    ],
    "auditlogs": [("correlationId", "properties.correlationId")],
    "riskdetection": [],
}


def leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(field, value) for every scalar of a record: keys joined by dots, `[]` into the first element
    (the near miss changes it in every element, so no other element keeps the value)."""
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, f"{path}{key}.")]
    if isinstance(node, list):
        return leaves(node[0], path.removesuffix(".") + "[].") if node else []
    return [] if node is None else [(path.removesuffix("."), node)]


# The category names the table a record lands in: its near miss is the other sign-in category.
OTHER_CATEGORY = {"SignInLogs": "NonInteractiveUserSignInLogs", "NonInteractiveUserSignInLogs": "SignInLogs"}


def near_miss(value: Any) -> Any:
    if value in OTHER_CATEGORY:
        return OTHER_CATEGORY[value]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value + "-other"


def with_value(rec: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of the record with `field` (a leaf path, `[]` meaning every element) set to value."""
    out = copy.deepcopy(rec)
    _set(out, field.replace("[]", ".[]").split("."), value)
    return out


def _set(node: Any, parts: list[str], value: Any) -> None:
    """Set the value at `parts` in `node`; `[]` sets it in every element that has the path."""
    part, rest = parts[0], parts[1:]
    if part == "[]":
        for i, item in enumerate(node):
            if not rest:
                node[i] = value
            elif isinstance(item, dict) and rest[0] in item:
                _set(item, rest, value)
    elif not rest:
        node[part] = value
    else:
        _set(node[part], rest, value)


CASES = [
    (service, variant, field, value)
    for service, variants in VARIANTS.items()
    for variant, changes in variants.items()
    for field, value in leaves(record(service, "base", changes))
    if field != "properties.id"
]


@pytest.mark.parametrize(
    ("service", "variant", "field", "value"), CASES, ids=[f"{c[1]}:{c[2]}" for c in CASES]
)
def test_field(workspace: Workspace, service: str, variant: str, field: str, value: Any) -> None:
    base = record(service, "base", VARIANTS[service][variant])
    try:
        query = compile_sentinel(service, {"selection": {field: value}, "condition": "selection"}).text
    except RuleError as e:
        assert field in UNAVAILABLE[service], e.reason
        assert f"field '{field}' is not available: " in e.reason
        return
    assert field not in UNAVAILABLE[service]
    if (service, field) in RENAMED:
        assert matches(workspace, query, {"base": base}) == []
        return
    other = base
    for same in [pair for pair in SAME_COLUMN[service] if field in pair] or [(field,)]:
        for name in same:
            other = with_value(other, name, near_miss(value))
    found = matches(workspace, query, {"base": base, "near miss": other})
    if field in NOT_COMPARED or (variant == "non-interactive" and field in SIGNINLOGS_ONLY):
        assert found != ["base"], f"{field} now matches: take it off the list"
        return
    assert found == ["base"], query


def test_every_pipeline_mapping_is_exercised() -> None:
    """Each raw field a Sentinel pipeline maps (or prefix it maps under) is a field of a base record or
    of a case."""
    fields = {(s, f) for s, _, f, _ in CASES} | {(s, "properties.id") for s in VARIANTS}
    fields |= {  # fields only a list inside JSON text reaches (additionalInfo), from the cases
        (c["service"], key.split("|")[0])
        for c in corpus()["cases"]
        for part in c["detection"].values()
        if isinstance(part, dict)
        for key in part
    }
    for service in VARIANTS:
        pipeline = yaml.safe_load((PIPELINES_DIR / f"azure_{service}_to_sentinel.yml").read_text())
        for item in pipeline["transformations"]:
            for raw in item.get("mapping", {}) if item["type"].startswith("field_name") else {}:
                assert any(f == raw or f.startswith(raw) for s, f in fields if s == service), raw
