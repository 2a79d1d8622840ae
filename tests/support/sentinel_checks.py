"""Sentinel's rules for analytic rule templates and their ARM templates, run on every rule file.

Each check returns the problems it finds. The template rules are those Azure-Sentinel's own CI applies
(.script/tests/detectionTemplateSchemaValidation); the ARM ones follow the SecurityInsights API.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from support.attack_data import AttackData

SEVERITIES = {"Informational", "Low", "Medium", "High"}
OPERATORS = {"gt": "GreaterThan", "lt": "LessThan", "eq": "Equal", "ne": "NotEqual"}
TACTICS = {
    "Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
    "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
    "Collection", "Exfiltration", "CommandAndControl", "Impact", "ImpairProcessControl",
    "InhibitResponseFunction",
}  # fmt: skip
# Entity identifiers, and the sets of which one must be complete (DTV/Models/EntityMappingIdentifiers.cs).
ENTITIES: dict[str, tuple[set[str], list[set[str]]]] = {
    "Account": (
        {"Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId", "PUID",
         "IsDomainJoined", "DisplayName", "ObjectGuid", "CloudAppAccountId"},
        [{"FullName"}, {"Sid"}, {"Name"}, {"AadUserId"}, {"PUID"}, {"ObjectGuid"}],
    ),
    "AzureResource": ({"ResourceId"}, [{"ResourceId"}]),
    "IP": ({"Address"}, [{"Address"}]),
    "URL": ({"Url"}, [{"Url"}]),
    "DNS": ({"DomainName"}, [{"DomainName"}]),
    "Host": (
        {"DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily",
         "OSVersion", "IsDomainJoined"},
        [{"FullName"}, {"HostName"}, {"NetBiosName"}, {"AzureID"}, {"OMSAgentID"}],
    ),
    "CloudApplication": ({"AppId", "Name", "InstanceName"}, [{"AppId"}, {"Name"}]),
}  # fmt: skip
DURATION = re.compile(r"^([1-9][0-9]*)([mhd])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIMESPAN = re.compile(r"^([0-9]+)(d|h|m|s)$")
COLUMN = re.compile(r"^[a-zA-Z_]+\w*$")
DETAIL_KEY = re.compile(r"^[a-zA-Z]+\w*$")
PLACEHOLDER = re.compile(r"{{([^{}]*)}}")
VERSION = re.compile(r"^(\d+\.)(\d+\.)(\d+)$")
ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
MIN_PERIOD, MAX_PERIOD, LONG, HOUR = 300, 14 * 86400, 2 * 86400, 3600
SUBTECHNIQUE_API = "2023-12-01-preview"  # the first alertRules API with subTechniques
ARM_REQUIRED = (
    "displayName", "enabled", "severity", "query", "queryFrequency", "queryPeriod", "triggerOperator",
    "triggerThreshold", "suppressionEnabled", "suppressionDuration",
)  # fmt: skip


def seconds(duration: str) -> int | None:
    match = DURATION.match(str(duration))
    return int(match.group(1)) * SECONDS[match.group(2)] if match else None


def iso_seconds(duration: str) -> int | None:
    match = ISO.match(str(duration))
    if not match or duration in ("P", "PT"):
        return None
    days, hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + secs


def query_reach(query: str) -> int:
    """How far back the query reads: the largest ago(...) over its `let` timespans and literals."""
    names = {m.group(1): m.group(2) for m in re.finditer(r"let (\w+) = ([0-9]+[dhms]);", query)}
    reach = 0
    for expression in re.findall(r"ago\(([^)]*)\)", query):
        total = 0
        for term in (t.strip() for t in expression.split("+")):
            match = TIMESPAN.match(names.get(term, term))
            assert match, f"ago() term {term!r} is not a timespan"
            total += int(match.group(1)) * SECONDS[match.group(2)]
        reach = max(reach, total)
    return reach


def check_template(t: dict[str, Any], attack: AttackData, columns: set[str]) -> list[str]:
    """`columns`: the result columns of the template's query (from Kusto.Language)."""
    problems = []
    for key in ("id", "name", "description", "severity", "requiredDataConnectors", "queryFrequency",
                "queryPeriod", "triggerOperator", "triggerThreshold", "query", "kind"):  # fmt: skip
        if key not in t:
            problems.append(f"missing {key}")
    try:
        uuid.UUID(str(t.get("id")))
    except ValueError:
        problems.append("id is not a GUID")
    if not 0 < len(t.get("name", "")) <= 256:
        problems.append("name must be 1 to 256 characters")
    if not 0 < len(t.get("description", "")) <= 5000:
        problems.append("description must be 1 to 5000 characters")
    if not 0 < len(t.get("query", "")) <= 10000:
        problems.append("query must be 1 to 10000 characters")
    if t.get("severity") not in SEVERITIES:
        problems.append(f"severity {t.get('severity')!r} is not one of {sorted(SEVERITIES)}")
    if t.get("kind") != "Scheduled":
        problems.append("kind must be Scheduled")
    frequency, period = seconds(t.get("queryFrequency")), seconds(t.get("queryPeriod"))
    if frequency is None or period is None:
        problems.append("queryFrequency and queryPeriod must be <number><m|h|d>")
    else:
        if not (MIN_PERIOD <= frequency <= MAX_PERIOD and MIN_PERIOD <= period <= MAX_PERIOD):
            problems.append("queryFrequency and queryPeriod must lie between 5 minutes and 14 days")
        if period < frequency:
            problems.append("queryPeriod must be at least queryFrequency")
        if period >= LONG and frequency < HOUR:
            problems.append("queryFrequency must be at least 1 hour once queryPeriod reaches 2 days")
        if query_reach(t.get("query", "")) > period:
            problems.append("the query reads further back than queryPeriod, which Sentinel silently cuts")
    if t.get("triggerOperator") not in OPERATORS:
        problems.append(f"triggerOperator {t.get('triggerOperator')!r} is not one of {sorted(OPERATORS)}")
    if not (isinstance(t.get("triggerThreshold"), int) and 0 <= t["triggerThreshold"] <= 10000):
        problems.append("triggerThreshold must be an integer 0 to 10000")
    if "version" in t and not (VERSION.match(str(t["version"])) and len(str(t["version"])) <= 20):
        problems.append(f"version {t['version']!r} is not X.Y.Z")
    for connector in t.get("requiredDataConnectors", []):
        if not isinstance(connector.get("dataTypes"), list) or not connector.get("connectorId"):
            problems.append(f"data connector {connector} needs connectorId and dataTypes")
    problems += _entities(t.get("entityMappings", []), columns)
    problems += _details(t, columns)
    problems += _tactics(t, attack)
    return problems


def _entities(mappings: list[dict[str, Any]], columns: set[str]) -> list[str]:
    problems = []
    if not 1 <= len(mappings) <= 5:
        problems.append(f"{len(mappings)} entity mappings: Sentinel takes 1 to 5")
    for mapping in mappings:
        kind = mapping.get("entityType")
        identifiers = [m.get("identifier") for m in mapping.get("fieldMappings", [])]
        if kind not in ENTITIES:
            problems.append(f"entity type {kind!r} is not one of {sorted(ENTITIES)}")
            continue
        valid, required = ENTITIES[kind]
        if not 1 <= len(identifiers) <= 3 or len(set(identifiers)) != len(identifiers):
            problems.append(f"{kind}: 1 to 3 distinct identifiers, not {identifiers}")
        if set(identifiers) - valid:
            problems.append(f"{kind}: invalid identifiers {sorted(set(identifiers) - valid)}")
        if not any(group <= set(identifiers) for group in required):
            problems.append(f"{kind}: none of the required identifier sets {required}")
        for m in mapping.get("fieldMappings", []):
            if not COLUMN.match(m.get("columnName", "")) or m.get("columnName") not in columns:
                problems.append(
                    f"{kind}.{m.get('identifier')}: column {m.get('columnName')!r} is not in the query"
                )
    return problems


def _details(t: dict[str, Any], columns: set[str]) -> list[str]:
    problems = []
    details = t.get("customDetails", {})
    if len(details) > 20:
        problems.append(f"{len(details)} custom details: Sentinel takes 20")
    for key, column in details.items():
        if not (DETAIL_KEY.match(key) and len(key) <= 20):
            problems.append(f"custom detail key {key!r} is not letters first, up to 20 word characters")
        if not COLUMN.match(column) or column not in columns:
            problems.append(f"custom detail {key}: column {column!r} is not in the query")
    override = t.get("alertDetailsOverride") or {}
    for key, limit in (("alertDisplayNameFormat", 256), ("alertDescriptionFormat", 5000)):
        text = override.get(key)
        if text is None:
            continue
        placeholders = PLACEHOLDER.findall(text)
        if not 0 < len(text) <= limit or len(placeholders) > 3:
            problems.append(f"{key} must be 1 to {limit} characters with at most 3 placeholders")
        if set(placeholders) - columns:
            problems.append(f"{key} names columns the query has not: {sorted(set(placeholders) - columns)}")
    return problems


def _tactics(t: dict[str, Any], attack: AttackData) -> list[str]:
    """Every tactic valid; every technique's tactics (its parent's, as Sentinel's CI checks) listed."""
    problems = []
    tactics = set(t.get("tactics", []))
    if tactics - TACTICS:
        problems.append(f"invalid tactics {sorted(tactics - TACTICS)}")
    for technique in t.get("relevantTechniques", []):
        parent = technique.split(".")[0]
        if technique not in attack.techniques:
            problems.append(f"{technique} is not an ATT&CK technique")
        names = {
            "".join(w.capitalize() for w in s.split("-")) for s in attack.technique_tactics.get(parent, [])
        }
        if not names or not names <= tactics:
            problems.append(f"{technique}: tactics {sorted(names)} are not all listed")
    return problems


class ArmExpression(str):
    """A string ARM evaluates as a template expression; equal to no literal string."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArmExpression) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


def arm_value(value: Any) -> Any:
    """What ARM deploys for a template value (ExpressionParser): a string that starts with "[" and ends
    with "]" is an expression (an ArmExpression here), unless it starts with "[[", which is the literal
    without its first "["; every other string is itself."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == "[" and value[-1] == "]":
            return value[1:] if value[1] == "[" else ArmExpression(value)
        return value
    if isinstance(value, dict):
        return {k: arm_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_value(v) for v in value]
    return value


def _expressions(value: Any, path: str) -> list[str]:
    if isinstance(value, ArmExpression):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _expressions(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _expressions(v, f"{path}[{i}]")]
    return []


def check_arm(arm: dict[str, Any]) -> list[str]:
    problems = []
    if "workspace" not in arm.get("parameters", {}):
        problems.append("the template takes no workspace parameter")
    resources = arm.get("resources", [])
    if len(resources) != 1:
        return problems + ["the template must deploy exactly one resource"]
    resource = resources[0]
    if resource.get("type") != "Microsoft.OperationalInsights/workspaces/providers/alertRules":
        problems.append(f"resource type {resource.get('type')!r} is not an alert rule")
    if resource.get("kind") != "Scheduled":
        problems.append("kind must be Scheduled")
    if resource.get("apiVersion", "") < SUBTECHNIQUE_API:
        problems.append(f"apiVersion {resource.get('apiVersion')} predates subTechniques")
    p = resource.get("properties", {})
    for path in _expressions(arm_value(p), "properties") + _expressions(
        arm_value(arm.get("metadata", {})), "metadata"
    ):
        problems.append(f"{path} is an ARM expression: ARM would evaluate rule text")
    for key in ARM_REQUIRED:
        if key not in p:
            problems.append(f"missing property {key}")
    for key in ("queryFrequency", "queryPeriod", "suppressionDuration"):
        if iso_seconds(p.get(key, "")) is None:
            problems.append(f"{key} {p.get(key)!r} is not an ISO-8601 duration")
    if p.get("triggerOperator") not in OPERATORS.values():
        problems.append(f"triggerOperator {p.get('triggerOperator')!r} is not an ARM operator")
    if any(not re.fullmatch(r"T\d{4}", t) for t in p.get("techniques", [])):
        problems.append("techniques must be parent ids (T####)")
    if any(not re.fullmatch(r"T\d{4}\.\d{3}", t) for t in p.get("subTechniques", [])):
        problems.append("subTechniques must be dotted ids (T####.###)")
    return problems


def disagreements(t: dict[str, Any], arm: dict[str, Any]) -> list[str]:
    """Where the ARM template says something else than the YAML template, field by field, comparing
    what ARM deploys (its "[[" literals read as ARM reads them) with the YAML."""
    resource = arm["resources"][0]
    p = arm_value(resource["properties"])
    techniques = t.get("relevantTechniques", [])
    pairs = [
        ("id", t["id"], resource["name"].split("/")[-1].rstrip("')]")),
        ("name", t["name"], p["displayName"]),
        ("description", t["description"], p["description"]),
        ("severity", t["severity"], p["severity"]),
        ("query", t["query"], p["query"]),
        ("queryFrequency", seconds(t["queryFrequency"]), iso_seconds(p["queryFrequency"])),
        ("queryPeriod", seconds(t["queryPeriod"]), iso_seconds(p["queryPeriod"])),
        ("triggerOperator", OPERATORS.get(t["triggerOperator"]), p["triggerOperator"]),
        ("triggerThreshold", t["triggerThreshold"], p["triggerThreshold"]),
        ("tactics", t.get("tactics", []), p.get("tactics", [])),
        ("techniques", sorted({x.split(".")[0] for x in techniques}), sorted(p.get("techniques", []))),
        ("subTechniques", sorted(x for x in techniques if "." in x), sorted(p.get("subTechniques", []))),
        ("entityMappings", t.get("entityMappings"), p.get("entityMappings")),
        ("customDetails", t.get("customDetails"), p.get("customDetails")),
        ("alertDetailsOverride", t.get("alertDetailsOverride"), p.get("alertDetailsOverride")),
        ("eventGroupingSettings", t.get("eventGroupingSettings"), p.get("eventGroupingSettings")),
        ("incidentConfiguration", t.get("incidentConfiguration"), p.get("incidentConfiguration")),
        ("kind", t["kind"], resource["kind"]),
        ("version", t.get("version"), arm.get("metadata", {}).get("ruleVersion")),
    ]
    return [f"{name}: YAML {a!r} but ARM {b!r}" for name, a, b in pairs if a != b]
