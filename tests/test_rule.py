"""The Serial Console rule: full Sigma metadata, the custom attributes, and pySigma's own validators."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
from sigma.validation import SigmaValidator

from support.attack_data import attack_data
from translator.loader import load_rule
from translator.model import Duration
from translator.packaging.common import derived_id

RULE = Path("sigma/rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
NETWORK_VALIDATORS = {"d3_fendtag"}  # downloads MITRE D3FEND; ATT&CK comes from the pinned bundle


def test_pysigma_validators_pass(root: Path) -> None:
    """All of pySigma's validators but D3FEND's, the ATT&CK tag one reading the offline bundle."""
    attack_data()  # points pySigma's ATT&CK loader at the bundle
    plugins = InstalledSigmaPlugins.autodiscover()
    validators = [v for name, v in plugins.validators.items() if name not in NETWORK_VALIDATORS]
    assert len(validators) > 20
    rules = SigmaCollection.load_ruleset([root / "sigma"])
    assert len(rules.rules) >= 1
    assert SigmaValidator(validators).validate_rules(rules.rules) == []


@pytest.fixture(scope="module")
def source(root: Path):  # noqa: ANN201
    return load_rule(root / RULE, root / "sigma")


def test_metadata(source) -> None:  # noqa: ANN001
    rule = source.rule
    assert rule.title and rule.description and rule.author and rule.date
    assert isinstance(rule.id, uuid.UUID)
    assert rule.status.name == "EXPERIMENTAL"
    assert rule.level.name == "MEDIUM"
    assert rule.falsepositives
    assert (rule.logsource.product, rule.logsource.service) == ("azure", "activitylogs")
    assert rule.references == [
        "https://learn.microsoft.com/en-us/troubleshoot/azure/virtual-machines/serial-console-overview",
        "https://blog.pwnedlabs.io/diving-deep-into-azure-vm-attack-vectors",
        "https://www.netspi.com/blog/technical-blog/adversary-simulation/"
        "7-ways-to-execute-command-on-azure-virtual-machine-virtual-machine-scale-sets/",
    ]
    assert [str(t) for t in rule.tags] == [
        "attack.lateral-movement",
        "attack.t1021.008",
        "attack.initial-access",
        "attack.t1078.004",
    ]


def test_first_seen_attributes(source) -> None:  # noqa: ANN001
    assert source.first_seen.fields == ("identity.authorization.evidence.principalId", "callerIpAddressAsn")
    assert source.first_seen.history == Duration(7 * 86400)
    assert (source.schedule.interval, source.schedule.lookback) == (Duration(300), Duration(540))


def test_attack_tag_validator_reads_the_bundle() -> None:
    """The ATT&CK validator runs offline and still rejects what ATT&CK does not have."""
    attack_data()
    validator = InstalledSigmaPlugins.autodiscover().validators["attacktag"]()
    rule = SigmaCollection.from_yaml(
        "title: t\nlogsource: {product: azure}\ndetection: {s: {a: b}, condition: s}\n"
        "tags: [attack.t1021.008, attack.t1021.099, attack.lateral-movement]"
    ).rules[0]
    assert [str(issue.tag) for issue in validator.validate(rule)] == ["attack.t1021.099"]


@settings(max_examples=300, derandomize=True)
@given(st.uuids(), st.uuids(), st.text())
def test_derived_ids_are_uuid5s(namespace: uuid.UUID, rule_id: uuid.UUID, role: str) -> None:
    """derived_id spells uuid5 out; any namespace, Sigma id and role give uuid5's text."""
    rule = SimpleNamespace(id=rule_id)
    assert derived_id(rule, role, namespace) == str(uuid.uuid5(namespace, f"{rule_id}/{role}"))  # type: ignore[arg-type]
