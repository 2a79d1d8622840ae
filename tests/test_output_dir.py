"""output/ is replaced only when translator wrote it, and a kill at any instant leaves the old or the
new tree, never none; builds of one folder take turns; builds are the same bytes in any environment."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import locale
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import copy_project

from translator import output_dir
from translator.build import compile_rules
from translator.cli import main
from translator.output_dir import FAULT_ENV, FAULT_POINTS, MARKER

TRANSLATOR = Path(sys.executable).parent / "translator"
RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
EXTRA = RULE.with_name("extra_copy.yml")
REFUSE = "refusing to replace the folder"
RENAME = "renameat2" if sys.platform == "linux" else "renameatx_np"

Tree = dict[str, bytes]


@pytest.fixture
def project(small_project: Path, tmp_path: Path) -> Path:
    """project/sigma and project/output: a copy of a one-rule project and the output/ it compiles to."""
    project = Path(os.path.realpath(tmp_path)) / "project"
    copy_project(small_project, project)
    return project


@pytest.fixture
def trees(project: Path) -> dict[str, Tree]:
    """What the build must write without (old) and with (new) a second rule, compiled in-process."""
    old = compile_rules(project / "sigma").files()
    use_rules(project, "new")
    new = compile_rules(project / "sigma").files()
    use_rules(project, "old")
    assert old != new and old == owned_tree(project / "output")
    return {"old": old, "new": new}


def use_rules(project: Path, which: str) -> None:
    """Make the rules under project/sigma compile to trees[which]: new has a second rule."""
    data = yaml.safe_load((project / "sigma" / RULE).read_text())
    data |= {"id": "6f1f0c8e-2b8a-4d36-9d4e-2f6c1f7a9b10", "title": "A second rule"}
    if which == "new":
        (project / "sigma" / EXTRA).write_text(yaml.safe_dump(data, sort_keys=False))
    else:
        (project / "sigma" / EXTRA).unlink(missing_ok=True)


def snapshot(top: Path) -> dict[str, tuple]:
    """Everything under top, top included: kind, mode, inode and bytes or link target."""
    found = {}
    for folder, dirs, files in os.walk(top):
        for name in [".", *dirs, *files]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                content: bytes | str | None = Path(path).read_bytes()
            else:
                content = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            found[os.path.relpath(path, top)] = (st.st_mode, st.st_ino, content)
    return found


def owned_tree(output: Path) -> Tree:
    """output/ exactly as its manifest describes it: every listed file with its sha256, nothing else."""
    files: Tree = {}
    for folder, _, names in os.walk(output):
        for name in names:
            path = Path(folder, name)
            assert stat.S_ISREG(os.lstat(path).st_mode), path
            files[path.relative_to(output).as_posix()] = path.read_bytes()
    manifest = json.loads(files["manifest.json"])
    listed = {e["artifact_path"]: e["sha256"] for e in manifest["artifacts"]}
    assert set(files) == {"manifest.json", *listed}
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path
    return files


def no_leftovers(project: Path) -> None:
    assert sorted(os.listdir(project)) == ["output", "sigma"]


def cli_build(rules: Path, output: str | Path) -> Result:
    return CliRunner().invoke(main, ["build", "--rules", str(rules), "--output", str(output)])


def spawn(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real command line, in its own process."""
    return subprocess.Popen(
        [str(TRANSLATOR), "build", "--rules", "sigma", "--output", "output", *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 30) -> None:
    """Read proc's stderr (unbuffered: a buffered reader could hold the line select waits for)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s: {seen!r}"
        if select.select([proc.stderr], [], [], 0.1)[0]:
            chunk = os.read(proc.stderr.fileno(), 65536)
            assert chunk, f"exited ({proc.wait()}) without printing {text!r}: {seen!r}"
            seen += chunk


# --- Ownership: every refused path, exact error, nothing touched, nothing compiled -------------------


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """folder made unwritable, for root too (root ignores modes, not the immutable attribute)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root, and chattr +i is not available here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def user_folder(folder: Path) -> Path:
    for name, text in ((".bashrc", "alias ll='ls -l'\n"), ("notes.txt", "mine\n"), ("sub/draft.md", "# d\n")):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def no_manifest(name: str) -> str:
    return f"holds {name} and no manifest.json, so translator did not build it; {REFUSE}"


def dot(p: Path) -> tuple[Path, str, Path, str]:
    return user_folder(p.parent / "docs"), ".", p.parent / "docs", no_manifest(".bashrc")


def dotdot(p: Path) -> tuple[Path, str, Path, str]:
    return p / "output", "..", p, f"holds the rules folder {p / 'sigma'}; refusing to replace it"


def rules(p: Path) -> tuple[Path, str, Path, str]:
    return p, "sigma", p / "sigma", "is the rules folder; refusing to replace it"


def inside_rules(p: Path) -> tuple[Path, str, Path, str]:
    reason = f"is inside the rules folder {p / 'sigma'}; its .yaml artifacts would be read back as rules"
    return p, "sigma/rules/out", p / "sigma/rules/out", reason


def above_rules(p: Path) -> tuple[Path, str, Path, str]:
    return p, str(p.parent), p.parent, f"holds the rules folder {p / 'sigma'}; refusing to replace it"


def home(p: Path) -> tuple[Path, str, Path, str]:
    alice = user_folder(p.parent / "home" / "alice")
    return p, str(alice), alice, no_manifest(".bashrc")


def a_file(p: Path) -> tuple[Path, str, Path, str]:
    user_folder(p)
    return p, "notes.txt", p / "notes.txt", "is not a folder"


def symlink(p: Path) -> tuple[Path, str, Path, str]:
    (p / "out").symlink_to(p / "output")
    return p, "out", p / "out", "is a symbolic link; give the folder itself"


def users_file(p: Path) -> tuple[Path, str, Path, str]:
    (p / "output/eql/rules/notes.md").write_text("mine")
    reason = "holds eql/rules/notes.md, which its manifest.json does not list, so translator did not write it"
    return p, "output", p / "output", f"{reason}; {REFUSE}"


def symlink_inside(p: Path) -> tuple[Path, str, Path, str]:
    (p / "output/eql/link").symlink_to("/etc/passwd")
    return (
        p,
        "output",
        p / "output",
        f"holds eql/link, a symbolic link, which translator never writes; {REFUSE}",
    )


def foreign_manifest(p: Path) -> tuple[Path, str, Path, str]:
    (p / "output/manifest.json").write_text('{"name": "a web app", "icons": []}')
    reason = "its manifest.json is not one translator writes (an artifacts list of artifact_path and sha256)"
    return p, "output", p / "output", f"{reason}; {REFUSE}"


def foreign_work_folder(p: Path) -> tuple[Path, str, Path, str]:
    user_folder(p / ".output.translator")
    reason = (
        f"{p / '.output.translator'} is in the way: translator keeps its temporary trees there, but it is "
        "not translator's work folder (no TRANSLATOR-WORK-FOLDER file in it); move it away"
    )
    return p, "output", p / "output", reason


# Each makes its case under the project folder and gives: cwd, --output, the folder named, the reason.
CASES: dict[str, Callable[[Path], tuple[Path, str, Path, str]]] = {
    "dot, a folder of user files": dot,
    "dotdot from inside output, the project": dotdot,
    "the rules folder": rules,
    "inside the rules folder": inside_rules,
    "a parent of the rules folder": above_rules,
    "a home folder": home,
    "a file": a_file,
    "a symlink to an owned output": symlink,
    "an owned output with a user's file": users_file,
    "an owned output with a symlink": symlink_inside,
    "a web app's manifest.json": foreign_manifest,
    "a work folder that is not ours": foreign_work_folder,
}


@pytest.mark.parametrize("case", CASES)
def test_refused_output_paths(project: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly one error line, so nothing was compiled either (the notes come after compiling), and not
    a byte, mode or inode changed around the project."""
    cwd, output, folder, reason = CASES[case](project)
    monkeypatch.chdir(cwd)
    before = snapshot(project.parent)
    result = cli_build(project / "sigma", output)
    assert (result.exit_code, result.stderr) == (1, f"error: {folder}: {reason}\n")
    assert snapshot(project.parent) == before


@pytest.mark.parametrize("exists", [True, False], ids=["owned output", "new output"])
def test_read_only_parent(project: Path, exists: bool) -> None:
    parent = project / "ro"
    if exists:
        shutil.copytree(project / "output", parent / "output")
        reason = f"cannot be replaced: its parent folder {parent} is not writable"
    else:
        parent.mkdir()
        reason = f"cannot be created: {parent} is not a writable folder"
    with read_only(parent):
        before = snapshot(project.parent)
        result = cli_build(project / "sigma", parent / "output")
        assert (result.exit_code, result.stderr) == (1, f"error: {parent / 'output'}: {reason}\n")
        assert snapshot(project.parent) == before


def test_what_may_be_written(project: Path, trees: dict[str, Tree]) -> None:
    """A new folder (parents created), an empty folder, and the folder an earlier build wrote."""
    (project / "empty").mkdir()
    for output in (project / "a" / "b" / "new", project / "empty", project / "output"):
        result = cli_build(project / "sigma", output)
        assert result.exit_code == 0, result.stderr
        assert owned_tree(output) == trees["old"]
        assert not (output.parent / f".{output.name}.translator").exists()


@pytest.mark.parametrize("threads", [1, 2, 3, 9])
def test_any_number_of_writing_threads_gives_the_same_tree(
    project: Path, trees: dict[str, Tree], threads: int
) -> None:
    """_stage splits the files by top folder among threads: a first build, a rebuild that keeps some
    files (hard links from the old tree) and one that drops a rule's files all end exactly as asked."""
    output = project / "out"
    for which in ("old", "new", "old"):
        assert output_dir.write_tree(output, trees[which], project / "sigma", threads)
        assert owned_tree(output) == trees[which]
        assert not (project / ".out.translator").exists()


def test_write_file_removes_only_the_file_it_could_not_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file write_file created and could not fill (disk full) is gone; one that was there is kept."""
    existing = tmp_path / "existing"
    existing.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        output_dir.write_file(existing, b"ours")
    assert existing.read_bytes() == b"theirs"

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output_dir.os, "write", full)
    with pytest.raises(OSError, match="No space"):
        output_dir.write_file(tmp_path / "new", b"content")
    assert not (tmp_path / "new").exists()


# --- Crash safety ------------------------------------------------------------------------------------

# Where each fault point leaves output/ when it was built before (old) or not.
AFTER_FAULT = {"writing": "old", "staged": "old", "exchanged": "new", "deleting": "new", "deleted": "new"}


@pytest.mark.parametrize(
    ("point", "existed"),
    [(p, True) for p in FAULT_POINTS] + [("staged", False), ("exchanged", False)],
)
def test_killed_at_each_fault_point(project: Path, trees: dict[str, Tree], point: str, existed: bool) -> None:
    if not existed:
        shutil.rmtree(project / "output")
    use_rules(project, "new")
    proc = spawn(project, env={FAULT_ENV: point})
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read()
    assert (project / ".output.translator").is_dir()  # it died mid-way: there are leftovers
    if existed:
        assert owned_tree(project / "output") == trees[AFTER_FAULT[point]]
    elif AFTER_FAULT[point] == "old":
        assert not (project / "output").exists()
    else:
        assert owned_tree(project / "output") == trees["new"]
    assert cli_build(project / "sigma", project / "output").exit_code == 0
    assert owned_tree(project / "output") == trees["new"]
    no_leftovers(project)


def entries(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def test_killed_at_random_instants(project: Path, trees: dict[str, Tree]) -> None:
    """Ten kills, each leaving its leftovers for the next build to cope with: half at any instant of
    the run, half while it writes, swaps and deletes (in the first 60% of the time the work folder
    lived in a first build: fsync speed varies)."""
    rng = random.Random(20240611)
    work = project / ".output.translator"

    def start(wanted: str, staged: bool) -> subprocess.Popen:
        """A build towards trees[wanted]; with staged, returns once it creates its staging folder."""
        use_rules(project, wanted)
        leftovers = entries(work) | {MARKER}
        proc = spawn(project)
        while staged and proc.poll() is None and not entries(work) - leftovers:
            time.sleep(0.0002)
        return proc

    proc = start("new", staged=True)
    began = time.monotonic()
    while work.exists():
        time.sleep(0.0002)
    window = time.monotonic() - began
    assert proc.wait() == 0
    current, kills, midway = "new", 0, 0
    for i in range(10):
        wanted = "new" if current == "old" else "old"
        proc = start(wanted, staged=bool(i % 2))
        time.sleep(rng.uniform(0, window * 0.6 if i % 2 else 1.0))
        proc.kill()
        kills += proc.wait() == -signal.SIGKILL
        midway += bool(i % 2) and work.exists()
        tree = owned_tree(project / "output")
        assert tree in (trees[current], trees[wanted]), f"kill {i}"
        current = "old" if tree == trees["old"] else "new"
    assert kills >= 5 and midway >= 1, (kills, midway)
    assert cli_build(project / "sigma", project / "output").exit_code == 0
    assert owned_tree(project / "output") == trees[wanted]
    no_leftovers(project)


@pytest.mark.parametrize(
    ("rename", "why"),
    [
        ({}, f"{sys.platform} offers translator no atomic exchange of two folders"),
        ({sys.platform: (RENAME, 1 << 30, 1 << 30)}, f"{RENAME}: Invalid argument"),
    ],
    ids=["no atomic exchange on this platform", "the kernel answers EINVAL"],
)
def test_no_fallback_to_a_non_atomic_swap(
    project: Path, trees: dict[str, Tree], monkeypatch: pytest.MonkeyPatch, rename: dict, why: str
) -> None:
    """Where the exchange cannot be atomic (no such call; a flag the kernel rejects with EINVAL, as a
    filesystem without RENAME_EXCHANGE does), the build fails and output/ is left as it was."""
    use_rules(project, "new")
    monkeypatch.setattr(output_dir, "_ATOMIC_RENAME", rename)
    before = snapshot(project)
    result = cli_build(project / "sigma", project / "output")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {project / 'output'}: cannot be replaced atomically here ({why}); translator will not "
        "swap folders non-atomically, so it was left as it was"
    ]
    assert snapshot(project) == before
    no_leftovers(project)


def test_stale_leftovers_never_block(project: Path, trees: dict[str, Tree]) -> None:
    """A killed build's staging tree, one named like a reused PID's, and the old scheme's
    .output.old-<pid> (this very process's PID) do not stop the build; only what is provably
    translator's (in its marked work folder) is deleted."""
    use_rules(project, "new")
    assert spawn(project, env={FAULT_ENV: "deleting"}).wait() == -signal.SIGKILL
    shutil.copytree(project / "output", project / ".output.translator" / f"new-{os.getpid()}")
    legacy = project / f".output.old-{os.getpid()}"
    shutil.copytree(project / "output", legacy)
    before = snapshot(legacy)
    result = cli_build(project / "sigma", project / "output")
    assert result.exit_code == 0, result.stderr
    assert owned_tree(project / "output") == trees["new"]
    assert snapshot(legacy) == before
    shutil.rmtree(legacy)
    no_leftovers(project)


# --- The lock ----------------------------------------------------------------------------------------


@contextmanager
def held(folder: Path, kind: int) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)


def test_build_waits_for_the_lock_and_check_shares_it(project: Path, trees: dict[str, Tree]) -> None:
    waiting = f"waiting for another translator build in {project} to finish"
    with held(project, fcntl.LOCK_SH):  # as a running --check holds it
        check = spawn(project, "--check")
        assert check.wait(timeout=60) == 0 and waiting not in check.stderr.read()
        use_rules(project, "new")
        build = spawn(project)
        wait_for_line(build, waiting)
        time.sleep(0.2)
        assert build.poll() is None
        assert owned_tree(project / "output") == trees["old"]
        assert sorted(os.listdir(project)) == ["output", "sigma"]  # it waits before touching anything
    assert build.wait(timeout=60) == 0, build.stderr.read()
    assert owned_tree(project / "output") == trees["new"]
    with held(project, fcntl.LOCK_EX):  # as a running build holds it
        check = spawn(project, "--check")
        wait_for_line(check, waiting)
        assert check.poll() is None
    assert check.wait(timeout=60) == 0
    no_leftovers(project)


def test_the_check_before_compiling_waits_for_a_build_in_its_exchange(
    project: Path, trees: dict[str, Tree]
) -> None:
    """The early check (run while the rules compile) takes the shared lock: it sees another build's
    folder before or after that build's exchange, never halfway, where a walk could meet a file its
    manifest does not list yet and refuse a folder that is ours."""
    output, rules = project / "output", project / "sigma"
    halfway = output / "kibana-kql" / "from-the-new-tree.kql"
    outcome: list[BaseException | None] = []

    def early_check() -> None:
        try:
            output_dir.check_owned_now(output, rules)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            outcome.append(e)

    with held(project, fcntl.LOCK_EX):  # as a build holds it from its staging to its clean-up
        halfway.write_text("a file of the tree being swapped in")
        with pytest.raises(output_dir.OutputError, match="from-the-new-tree"):
            output_dir.check_owned(output, rules)  # the hazard: the same walk without the lock
        thread = threading.Thread(target=early_check)
        thread.start()
        time.sleep(0.3)
        assert outcome == []  # waiting for the lock, not walking the halfway tree
        halfway.unlink()  # the exchange is over: a consistent tree again
    thread.join(timeout=30)
    assert outcome == [None]


def test_two_builds_at_once(project: Path, trees: dict[str, Tree]) -> None:
    use_rules(project, "new")
    procs = [spawn(project) for _ in range(2)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    assert owned_tree(project / "output") == trees["new"]
    no_leftovers(project)


# --- Determinism -------------------------------------------------------------------------------------


def locales() -> tuple[str, str]:
    saved = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, "en_US.UTF-8")
        return "C.UTF-8", "en_US.UTF-8"
    except locale.Error:
        return "C.UTF-8", "POSIX"
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def test_same_bytes_in_any_environment(project: Path, trees: dict[str, Tree]) -> None:
    shutil.rmtree(project / "output")
    settings = [
        ("a", {"PYTHONHASHSEED": "0", "TZ": "UTC", "LC_ALL": locales()[0]}, 0o022),
        ("b", {"PYTHONHASHSEED": "4242", "TZ": "Pacific/Chatham", "LC_ALL": locales()[1]}, 0o077),
    ]
    procs = []
    for name, env, umask in settings:
        command = [str(TRANSLATOR), "build", "--rules", "sigma", "--output", name]
        procs.append(subprocess.Popen(command, cwd=project, env={**os.environ, **env}, umask=umask))
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    for name, _, umask in settings:
        assert owned_tree(project / name) == trees["old"]
        for folder, _, files in os.walk(project / name):
            assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o777 & ~umask, folder
            for file in files:
                assert stat.S_IMODE(os.lstat(Path(folder, file)).st_mode) == 0o666 & ~umask, file
