"""ATT&CK facts for the checks, read through pySigma's own loader from the pinned offline bundle.

A second reader of the same file: the checks do not trust translator.attack's parsing of it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache

from sigma.data import mitre_attack

from translator.attack import attack


@dataclass(frozen=True)
class AttackData:
    tactics: dict[str, str]  # TA0008 -> lateral-movement
    techniques: dict[str, str]  # T1021.008 -> Direct Cloud VM Connections
    technique_tactics: dict[str, list[str]]  # T1078 -> [defense-evasion, ...]

    def tactic_id(self, shortname: str) -> str:
        return next(i for i, s in self.tactics.items() if s == shortname)


@cache
def attack_data() -> AttackData:
    """Point pySigma at the bundle (no download) with a private cache, and read its tables."""
    mitre_attack.set_cache_dir(tempfile.mkdtemp(prefix="pysigma-attack-"))
    mitre_attack.set_url(str(attack().bundle))
    return AttackData(
        dict(mitre_attack.mitre_attack_tactics),
        dict(mitre_attack.mitre_attack_techniques),
        dict(mitre_attack.mitre_attack_techniques_tactics_mapping),
    )
