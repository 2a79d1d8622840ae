"""The two command lines bench/library_scale.py times, and how it times them.

Each run is one child process, reaped with os.wait4 so its own resource usage (peak RSS) comes back with
its exit status: no /usr/bin/time, and no mixing with other children. sigma-cli lives in its own
virtual environment, installed from the hashed pins in bench/requirements-sigma-cli.txt, so the
benchmark needs neither the project's test tooling nor anything outside PyPI.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REQUIREMENTS = BENCH / "requirements-sigma-cli.txt"
SIGMA_VENV = BENCH / ".venv-sigma-cli"
# Options of `translator build` the benchmark uses when the CLI offers them (see fresh_cache_args).
CACHE_DIR_OPTION = "--cache-dir"


class BenchError(Exception):
    """A run failed: the benchmark stops and says which, never times a failure."""


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time: what the table reports
    cpu_seconds: float  # user + system: steadier than wall time on a busy or shared machine
    peak_rss_bytes: int
    steal_seconds: float = 0.0  # CPU time the hypervisor gave other guests during the run, all CPUs


def stolen() -> float:
    """The machine's stolen CPU seconds so far (/proc/stat `steal`, all CPUs; 0 where there is none):
    a virtual machine whose host runs other guests loses this time, more of it, and more unevenly, the
    more of its processors a program keeps busy."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Run:
    """Run cmd with stdout and stderr in log; its wall time and peak RSS, or BenchError if it fails."""
    with log.open("wb") as out:
        steal = stolen()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        steal = stolen() - steal
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BenchError(f"exit code {proc.returncode}: {' '.join(cmd)}\n{tail}")
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * scale, steal)


def translator_options(translator: str) -> set[str]:
    """The long options `translator build --help` lists, so the benchmark follows the CLI as it grows."""
    out = subprocess.run([translator, "build", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def fresh_cache_args(options: set[str], cache: Path) -> list[str]:
    """Point the build's cache (when there is one) at a folder of this repetition only, so "cold" is cold."""
    return [CACHE_DIR_OPTION, str(cache)] if CACHE_DIR_OPTION in options else []


def cache_env(cache: Path) -> dict[str, str]:
    """The environment with the user cache dir (XDG) in a fresh folder: for a cache without --cache-dir."""
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


def ensure_sigma_cli(venv: Path = SIGMA_VENV) -> Path:
    """Install the pinned sigma-cli stack into venv once; reuse it while the pins are unchanged."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = venv / ".installed"
    sigma = venv / "bin" / "sigma"
    if marker.is_file() and marker.read_text().strip() == digest and sigma.is_file():
        return sigma
    print(f"installing sigma-cli into {venv} (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(digest + "\n")
    return sigma


def sigma_cli_versions(venv: Path = SIGMA_VENV) -> dict[str, str]:
    """Installed versions of the sigma-cli stack, for the report."""
    names = ["sigma-cli", "pySigma", "pySigma-backend-elasticsearch", "pySigma-backend-kusto"]
    code = "import sys, importlib.metadata as m; print(*(m.version(n) for n in sys.argv[1:]))"
    python = str(venv / "bin" / "python")
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, check=True)
    return dict(zip(names, out.stdout.split(), strict=True))
