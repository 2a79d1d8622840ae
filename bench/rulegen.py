"""Synthetic Azure Activity Log rule libraries for bench/library_scale.py.

A library of N rules is rules 0..N-1 of one fixed sequence: each rule is drawn from its own seeded
random generator and its id is a UUIDv5 of a fixed namespace and its index, so the same N always gives
byte-identical files and a small library is a prefix of a larger one. The templates cover the shapes a
real library has (value lists, contains/startswith/endswith, `|all`, `cidr`, null, `selection and
not filter`, `1 of selection_*`, first-seen rules) and use only raw fields that both project pipelines
map (so every rule compiles for every target: nothing refused, nothing skipped).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = uuid.UUID("6f1c2b1e-4f7a-5e8b-9a51-0c3d2e1f4b60")  # fixed: libraries are reproducible
RULES_SUBDIR = Path("azure/activitylogs")
LEVELS = ("low", "medium", "medium", "high", "critical")
STATUSES = ("experimental", "test", "stable")

# Operations as Azure writes them in operationName (upper case).
OPERATIONS = (
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE",
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/EXTENSIONS/WRITE",
    "MICROSOFT.COMPUTE/DISKS/BEGINGETACCESS/ACTION",
    "MICROSOFT.COMPUTE/SNAPSHOTS/WRITE",
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE",
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/BLOBSERVICES/CONTAINERS/WRITE",
    "MICROSOFT.KEYVAULT/VAULTS/DELETE",
    "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE",
    "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
    "MICROSOFT.AUTHORIZATION/ROLEDEFINITIONS/WRITE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE",
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/DELETE",
    "MICROSOFT.NETWORK/AZUREFIREWALLS/DELETE",
    "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
    "MICROSOFT.INSIGHTS/ACTIVITYLOGALERTS/DELETE",
    "MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/DELETE",
    "MICROSOFT.SQL/SERVERS/FIREWALLRULES/WRITE",
    "MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/WRITE",
    "MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION",
    "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION",
    "MICROSOFT.WEB/SITES/PUBLISHXML/ACTION",
)
PROVIDERS = sorted({op.split("/")[0] + "/" for op in OPERATIONS})
# (tactic, technique) pairs that ATT&CK v18.1 (the project's bundle) maps.
TAGS = (
    ("attack.initial-access", "attack.t1078.004"),
    ("attack.persistence", "attack.t1098.003"),
    ("attack.privilege-escalation", "attack.t1098.003"),
    ("attack.impact", "attack.t1485"),
    ("attack.impact", "attack.t1496"),
    ("attack.credential-access", "attack.t1552"),
    ("attack.defense-evasion", "attack.t1562.008"),
    ("attack.defense-evasion", "attack.t1578.002"),
    ("attack.lateral-movement", "attack.t1021.008"),
    ("attack.execution", "attack.t1651"),
    ("attack.discovery", "attack.t1580"),
    ("attack.exfiltration", "attack.t1537"),
)
ROLES = ("Owner", "Contributor", "User Access Administrator", "Virtual Machine Contributor")
PRINCIPAL_TYPES = ("User", "ServicePrincipal", "Group", "ForeignGroup")
CLAIM_UPN = "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
CLAIM_APPID = "identity.claims.appid"
PRINCIPAL_ID = "identity.authorization.evidence.principalId"
FIRST_SEEN_FIELDS = [
    "time",
    "operationName",
    "resultType",
    PRINCIPAL_ID,
    "identity.authorization.evidence.principalType",
    "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "resourceId",
    "callerIpAddress",
    "callerIpAddressAsn",
    "correlationId",
]


@dataclass(frozen=True)
class Edit:
    """One value of one rule to change for the "one changed rule" rebuild."""

    path: Path
    old: str
    new: str


@dataclass(frozen=True)
class Library:
    root: Path
    paths: list[Path]
    edit: Edit


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ops(rng: random.Random, k: int) -> list[str]:
    return rng.sample(OPERATIONS, k)


def value_list(rng: random.Random, n: int) -> tuple[dict, dict]:
    """Equality on a list of operations, and an outcome."""
    selection = {
        "operationName": _ops(rng, rng.randint(2, 4)),
        "resultType": rng.choice(["Success", "Failure"]),
    }
    if rng.random() < 0.5:  # not properties.*: flattened in Elastic's integration, which EQL cannot query
        selection["identity.authorization.evidence.principalType"] = rng.sample(PRINCIPAL_TYPES, 2)
    return {"selection": selection, "condition": "selection"}, {}


def modifiers(rng: random.Random, n: int) -> tuple[dict, dict]:
    """startswith, endswith and contains on provider, resource and scope."""
    selection = {
        "operationName|startswith": rng.choice(PROVIDERS),
        "resourceId|endswith": f"/virtualMachines/vm-{n:05d}",
        "identity.authorization.scope|contains": f"/resourceGroups/rg-prod-{rng.randint(1, 99):02d}",
    }
    if rng.random() < 0.5:
        selection["operationName|endswith"] = rng.choice(["/WRITE", "/DELETE", "/ACTION"])
    return {"selection": selection, "condition": "selection"}, {}


def contains_all(rng: random.Random, n: int) -> tuple[dict, dict]:
    """`|contains|all` on the authorization action, and a claim."""
    selection = {
        "operationName": rng.choice(OPERATIONS),
        "identity.authorization.action|contains|all": ["Microsoft.", rng.choice(["listKeys", "write"])],
        CLAIM_UPN + "|endswith": f"@contoso{n % 50}.com",
    }
    return {"selection": selection, "condition": "selection"}, {}


def not_filter(rng: random.Random, n: int) -> tuple[dict, dict]:
    """`selection and not filter`: a known principal, service principals or a network excluded."""
    detection: dict[str, Any] = {"selection": {"operationName": _ops(rng, 2), "resultType": "Success"}}
    kind = rng.randrange(3)
    if kind == 0:
        detection["filter"] = {PRINCIPAL_ID: [_guid(rng) for _ in range(rng.randint(1, 3))]}
    elif kind == 1:
        detection["filter"] = {"identity.authorization.evidence.principalType": "ServicePrincipal"}
    else:
        detection["filter"] = {"callerIpAddress|cidr": f"10.{rng.randint(0, 255)}.0.0/16"}
    detection["condition"] = "selection and not filter"
    return detection, {}


def one_of(rng: random.Random, n: int) -> tuple[dict, dict]:
    """`1 of selection_*`, sometimes with an exclusion of known applications."""
    detection: dict[str, Any] = {
        "selection_role": {
            "operationName|endswith": "/ROLEASSIGNMENTS/WRITE",
            "identity.authorization.evidence.role": rng.sample(ROLES, 2),
        },
        "selection_ops": {"operationName": _ops(rng, 2)},
        "selection_caller": {
            "callerIpAddress": [f"203.0.113.{rng.randint(1, 254)}", f"198.51.100.{n % 250}"]
        },
    }
    condition = "1 of selection_*"
    if rng.random() < 0.5:
        detection["filter_apps"] = {CLAIM_APPID: [_guid(rng), _guid(rng)]}
        condition += " and not filter_apps"
    return {**detection, "condition": condition}, {}


def first_seen(rng: random.Random, n: int) -> tuple[dict, dict]:
    """A first-seen (new terms) rule: a new principal and caller address, or principal and network.

    "Has a principal" is written `not filter_missing` with null values, not `|exists: true`: the stock
    EQL backend sigma-cli uses refuses `exists` ("Field exists expressions are not supported").
    """
    by_asn = rng.random() < 0.5
    term = "callerIpAddressAsn" if by_asn else "callerIpAddress"
    detection = {
        "selection": {"operationName": rng.choice(OPERATIONS), "resultType": "Success"},
        "filter_missing": [{PRINCIPAL_ID: None}] + ([{term: None}] if by_asn else []),
        "condition": "selection and not filter_missing",
    }
    interval = rng.choice([5, 10, 15])
    custom = {
        "fields": FIRST_SEEN_FIELDS,
        "first_seen": {"fields": [PRINCIPAL_ID, term], "history": rng.choice(["1d", "3d", "7d", "10d"])},
        "schedule": {"interval": f"{interval}m", "lookback": f"{interval + 4}m"},
    }
    return detection, custom


TEMPLATES: tuple[Callable[[random.Random, int], tuple[dict, dict]], ...] = (
    value_list,
    modifiers,
    contains_all,
    not_filter,
    one_of,
    first_seen,
)


def rule(n: int) -> tuple[str, dict]:
    """Rule number n: its file name and content (a dict in Sigma's attribute order)."""
    rng = random.Random(n)
    template = TEMPLATES[n % len(TEMPLATES)]
    detection, custom = template(rng, n)
    tactic, technique = rng.choice(TAGS)
    name = template.__name__
    content = {
        "title": f"Synthetic Azure Activity rule {n} ({name.replace('_', ' ')})",
        "id": str(uuid.uuid5(NAMESPACE, f"library-scale/{n}")),
        "status": rng.choice(STATUSES),
        "description": f"Benchmark rule {n}, shape {name}: generated by bench/rulegen.py, not a detection.",
        "references": [
            "https://learn.microsoft.com/en-us/azure/azure-monitor/essentials/activity-log-schema"
        ],
        "author": "bench/rulegen.py",
        "date": (dt.date(2026, 1, 1) + dt.timedelta(days=n % 365)).isoformat(),
        "tags": [tactic, technique],
        "logsource": {"product": "azure", "service": "activitylogs"},
        "detection": detection,
        "falsepositives": ["Administrators and automation doing the same on purpose."],
        "level": rng.choice(LEVELS),
    }
    if "fields" in custom:
        content = {**content, "fields": custom.pop("fields")}
    return f"{n:05d}_{name}.yml", {**content, **custom}


def generate(root: Path, count: int) -> Library:
    """Write rules 0..count-1 under root/azure/activitylogs and pick the value the edit benchmark changes."""
    folder = root / RULES_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        name, content = rule(n)
        path = folder / name
        text = yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=200)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    # The edit: in the value-list rule nearest the middle, replace its first operation by another one.
    n = count // 2 - (count // 2) % len(TEMPLATES)
    _, content = rule(n)
    ops = content["detection"]["selection"]["operationName"]
    new = next(op for op in OPERATIONS if op not in ops)
    return Library(root, paths, Edit(paths[n], ops[0], new))
