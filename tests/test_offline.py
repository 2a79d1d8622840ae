"""Nothing in the build reaches the network: a fresh build with every socket refused still succeeds.

It runs in a new interpreter with an empty home (so no cached ATT&CK download of pySigma's helps).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD_WITHOUT_NETWORK = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("network refused by the test")

socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse

from pathlib import Path
from translator.build import compile_rules

build = compile_rules(Path(sys.argv[1]))
print(len(build.errors), sorted({a.kind for a in build.artifacts}))
"""


def test_build_uses_no_network(root: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WITHOUT_NETWORK, str(root / "sigma")],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=root,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 ['kibana-rule', 'query', 'sentinel-arm', 'sentinel-rule-yaml']"
