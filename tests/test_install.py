"""The wheel as a detection team installs it: a fresh environment with the locked dependencies, a rules
folder outside the repository, sigma-cli beside it.

One session fixture builds the wheel and the environment once (about 20 s, pip's cache warm); each test
then runs the installed commands from a working folder of its own, never from the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from translator.output_read import read_tree
from translator.sigma_cli import BACKEND_IDS, PIPELINE_IDS
from translator.targets import TARGETS
from translator.versions import version_line

ROOT = Path(__file__).resolve().parent.parent
SERIAL = "rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn"
SIGMA_CLI = ("sigma-cli", "colorama", "prettytable", "wcwidth")  # sigma-cli and what it adds


def _locked(names: tuple[str, ...]) -> str:
    """The hashed entries of requirements-test.lock for `names` (the rest is in requirements.lock)."""
    blocks = re.split(r"\n(?=\S)", (ROOT / "requirements-test.lock").read_text())
    return "\n".join(b for b in blocks if b.split("==", 1)[0] in names) + "\n"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the bin folder of a fresh environment holding it and sigma-cli)."""
    base = tmp_path_factory.mktemp("install")
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet")
    built = _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", base / "dist", ROOT, cwd=base)
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "dist").glob("translator-*.whl")
    _run(sys.executable, "-m", "venv", base / "venv", cwd=base).check_returncode()
    bin_dir = base / "venv" / "bin"
    (base / "sigma-cli.lock").write_text(_locked(SIGMA_CLI))
    vpip = (bin_dir / "python", "-m", "pip", "--disable-pip-version-check", "--quiet", "install", "--no-deps")
    for step in (
        ("--require-hashes", "-r", ROOT / "requirements.lock"),
        ("--require-hashes", "-r", base / "sigma-cli.lock"),
        (wheel,),
    ):
        done = _run(*vpip, *step, cwd=base)
        assert done.returncode == 0, done.stderr
    return wheel, bin_dir


def test_every_package_is_listed() -> None:
    """pyproject lists the packages (find cannot name the mapped folders): none may be missing."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(d.relative_to(ROOT).parts)
        for d in [ROOT / "translator", *(ROOT / "translator").rglob("*")]
        if d.is_dir() and d.name != "__pycache__" and "plugins" not in d.relative_to(ROOT).parts
    }
    assert found <= listed


def test_wheel_holds_the_pipelines_data_and_plugins(installed: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(installed[0]).namelist())
    pipelines = {f"translator/pipeline_files/{p.name}" for p in (ROOT / "pipelines").glob("*.yml")}
    data = {f"translator/data/{p.name}" for p in (ROOT / "translator" / "data").iterdir()}
    plugins = {"sigma/backends/translator/__init__.py", "sigma/pipelines/translator/__init__.py"}
    assert pipelines | data | plugins | {"translator/packaging/kibana.py"} <= names
    assert not {n for n in names if n.startswith(("pipelines/", "translator/plugins/", "sigma/rules"))}


def test_installed_build_reproduces_output(installed: tuple[Path, Path], tmp_path: Path) -> None:
    """A rules folder outside the repository, built from another folder: output/ byte for byte, and
    every path in the messages as the user wrote it."""
    shutil.copytree(ROOT / "sigma", tmp_path / "detections" / "sigma")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rules, output = Path("..", "detections", "sigma"), Path("..", "detections", "output")
    done = _run(installed[1] / "translator", "build", "--rules", rules, "--output", output, cwd=elsewhere)
    assert done.returncode == 3, done.stderr  # built, with the refusals output/manifest.json lists
    assert read_tree(tmp_path / "detections" / "output") == read_tree(ROOT / "output")
    refused = [line for line in done.stderr.splitlines() if line.startswith("refused: ")]
    assert refused and all(line.startswith(f"refused: {rules}/rules/") for line in refused)
    assert str(tmp_path) not in done.stderr + done.stdout
    check = _run(
        installed[1] / "translator", "build", "--check", "--rules", rules, "--output", output, cwd=elsewhere
    )
    assert check.returncode == 0, check.stderr


def test_installed_version(installed: tuple[Path, Path], tmp_path: Path) -> None:
    done = _run(installed[1] / "translator", "--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == version_line() + "\n"


def test_sigma_cli_lists_our_targets_and_pipelines(installed: tuple[Path, Path], tmp_path: Path) -> None:
    targets = _run(installed[1] / "sigma", "list", "targets", cwd=tmp_path)
    pipelines = _run(installed[1] / "sigma", "list", "pipelines", cwd=tmp_path)
    assert all(f"| {name} " in targets.stdout for name in BACKEND_IDS.values()), targets.stdout
    assert all(f"| {name} " in pipelines.stdout for name in PIPELINE_IDS.values()), pipelines.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_sigma_convert_prints_our_artifact(installed: tuple[Path, Path], tmp_path: Path, target: str) -> None:
    """sigma-cli ends its output with a newline, as our query files end: they compare exactly."""
    rule = shutil.copy(ROOT / "sigma" / f"{SERIAL}.yml", tmp_path / "rule.yml")
    pipeline = PIPELINE_IDS[TARGETS[target].model]
    done = _run(
        installed[1] / "sigma", "convert", "-t", BACKEND_IDS[target], "-p", pipeline, rule, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "output" / target / f"{SERIAL}{TARGETS[target].suffix}").read_text()
