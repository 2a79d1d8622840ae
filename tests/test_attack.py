"""ATT&CK: the bundled data, and tags it does not know (notes by default, errors with --strict)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sigma.rule import SigmaRuleTag

from support.attack_data import attack_data, mitre_bundle
from translator.attack import attack
from translator.cli import main

RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
V19_TAGS = ["attack.stealth", "attack.defense-impairment", "attack.t1685", "attack.t1686.003"]


def tags(*names: str) -> list[SigmaRuleTag]:
    return [SigmaRuleTag.from_str(n) for n in names]


def test_tactic_table_is_mitres() -> None:
    """translator/data/attack_tactics.json holds MITRE's tactic objects, id, name and shortname."""
    objects = json.loads(mitre_bundle().read_text())["objects"]
    mitre = {
        (ref["external_id"], o["name"], o["x_mitre_shortname"])
        for o in objects
        if o["type"] == "x-mitre-tactic" and not o.get("revoked") and not o.get("x_mitre_deprecated")
        for ref in o["external_references"]
        if ref.get("source_name") == "mitre-attack"
    }
    assert {(t.id, t.name, t.shortname) for t in attack().tactics.values()} == mitre


def test_techniques_are_the_newest_release() -> None:
    data = attack()
    assert data.version == "18.1"
    reference = attack_data()
    assert {t.id: t.name for t in data.techniques.values()} == reference.techniques
    assert {t.id: list(t.tactics) for t in data.techniques.values()} == reference.technique_tactics
    assert "T1219.002" in data.techniques  # added after v15


def test_unknown_tags_become_notes_and_stay_tags() -> None:
    threat = attack().threat(tags("attack.lateral-movement", "attack.t1021.008", *V19_TAGS, "attack.g0016"))
    assert [e.tactic.shortname for e in threat.entries] == ["lateral-movement"]
    assert [t.id for t in threat.entries[0].techniques] == ["T1021.008"]
    assert threat.unmapped_tags == tuple(V19_TAGS)
    assert threat.notes == (
        "tag attack.stealth: no such tactic in ATT&CK v18.1; kept as a tag, not mapped",
        "tag attack.defense-impairment: no such tactic in ATT&CK v18.1; kept as a tag, not mapped",
        "tag attack.t1685: no such technique in ATT&CK v18.1; kept as a tag, not mapped",
        "tag attack.t1686.003: no such technique in ATT&CK v18.1; kept as a tag, not mapped",
    )


def test_a_technique_without_its_tactic_is_a_note() -> None:
    threat = attack().threat(tags("attack.stealth", "attack.t1078.004"))
    assert threat.entries == ()
    assert threat.unmapped_tags == ("attack.stealth", "attack.t1078.004")
    assert threat.notes[1].startswith("technique T1078.004 (Cloud Accounts) is under no tactic the rule tags")


@pytest.fixture
def v19_rules(small_project: Path, tmp_path: Path) -> Path:
    """The Serial Console rule retagged with ATT&CK v19 tags, as SigmaHQ's rules are since 2026."""
    shutil.copytree(small_project / "sigma", tmp_path / "sigma")
    path = tmp_path / "sigma" / RULE
    data = yaml.safe_load(path.read_text())
    data["tags"] = ["attack.lateral-movement", "attack.t1021.008", *V19_TAGS]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path / "sigma"


def test_build_notes_unknown_tags_and_keeps_them(v19_rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    result = CliRunner().invoke(main, ["build", "--rules", str(v19_rules), "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "no such tactic in ATT&CK v18.1; kept as a tag, not mapped" in result.stderr
    [ndjson] = out.glob("kibana-rules/**/*.ndjson")
    for rule in map(json.loads, ndjson.read_text().splitlines()):
        assert [t["tactic"]["id"] for t in rule["threat"]] == ["TA0008"]
        assert [t for t in rule["tags"] if t.startswith("attack.")] == V19_TAGS


def test_strict_makes_them_errors(v19_rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    args = ["build", "--strict", "--rules", str(v19_rules), "--output", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4 and all("not mapped" in line for line in errors)
    assert not out.exists()
