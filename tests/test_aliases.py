"""Field aliases: every other name SigmaHQ uses for a raw field compiles exactly as the raw name does,
in every target, and the README's alias table lists exactly the aliases the pipelines accept."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml
from sigma.rule import SigmaRule

from translator.errors import RuleError
from translator.model import RuleSource, Schedule
from translator.pipelines import PIPELINES_DIR
from translator.targets import TARGETS

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("activitylogs", "signinlogs", "auditlogs", "riskdetection")
ALIAS_TYPES = ("field_name_alias", "field_name_alias_prefix")
PREFIX_KEY = "operatingSystem"  # a key to try each prefix alias with
# Aliases that mean one raw field only with certain values, and the raw values they stand for.
VALUES = {
    ("signinlogs", "Status", "resultType"): ("Success", "0"),
    ("signinlogs", "Status", "properties.status.additionalDetails"): ("MFA Denied", "MFA Denied"),
    ("signinlogs", "ActivityDetails", "operationName"): ("Sign-ins", "Sign-in activity"),
    ("signinlogs", "properties.message", "properties.authenticationProtocol"): ("Device Code", "deviceCode"),
    ("auditlogs", "Status", "properties.result"): ("failure", "failure"),
    ("auditlogs", "Status", "operationName"): ("Add user", "Add user"),
    ("auditlogs", "targetResources.type", "properties.targetResources[].type"): (
        "Service Principal",
        "ServicePrincipal",
    ),
    ("riskdetection", "riskEventType", "properties.riskEventType"): ("anomalousToken", "anomalousToken"),
}


def pipeline_aliases() -> list[tuple[str, str, str]]:
    """(service, alias, raw field) for every alias item of the names pipelines; a prefix ends with '.'."""
    rows = []
    for service in SERVICES:
        pipeline = yaml.safe_load((PIPELINES_DIR / f"azure_{service}_names.yml").read_text())
        for item in pipeline["transformations"]:
            if item["type"] in ALIAS_TYPES:
                rows += [(service, alias, raw) for alias, raw in item["mapping"].items()]
    return rows


def readme_aliases() -> list[tuple[str, str, str]]:
    """The rows of the README's alias table: | service | `alias` | `raw field` | meaning |."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Field aliases", 1)[1].split("\n#", 1)[0]
    row = re.compile(r"^\| (\w+) \| `([^`]+)` \| `([^`]+)` \|", re.M)
    return [m.groups() for m in row.finditer(section)]


def test_the_readme_lists_every_alias_and_only_those() -> None:
    assert sorted(readme_aliases()) == sorted(pipeline_aliases())


def outcome(service: str, field: str, value: str, target: str) -> str:
    """The query a one-condition rule compiles to, or the target's reason for refusing it."""
    rule = SigmaRule.from_dict(
        {
            "title": "alias",
            "id": "3a1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "logsource": {"product": "azure", "service": service},
            "detection": {"selection": {field: value}, "condition": "selection"},
        }
    )
    source = RuleSource(
        Path("alias.yml"), PurePosixPath("alias.yml"), rule, Schedule.from_attribute(None), None
    )
    try:
        return TARGETS[target].render(source).text
    except RuleError as e:
        return "refused: " + e.reason


CASES = [
    pytest.param(service, alias, raw, target, id=f"{service}:{alias}->{raw}:{target}")
    for service, alias, raw in pipeline_aliases()
    for target in TARGETS
]


@pytest.mark.parametrize(("service", "alias", "raw", "target"), CASES)
def test_an_alias_compiles_as_its_raw_field(service: str, alias: str, raw: str, target: str) -> None:
    if alias.endswith("."):
        alias, raw = alias + PREFIX_KEY, raw + PREFIX_KEY
    alias_value, raw_value = VALUES.get((service, alias, raw), ("x", "x"))
    assert outcome(service, alias, alias_value, target) == outcome(service, raw, raw_value, target)
