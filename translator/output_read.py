"""Reading the output folder as builds and checks see it, under the lock builds take to replace it.

The lock (why flock on the parent folder: translator/output_dir.py) is shared here: a check, or a
rebuild that finds nothing to do, sees output/ before or after a concurrent build's swap, never during.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MANIFEST = "manifest.json"


class OutputError(Exception):
    """Why the output folder cannot be written; printed as `error: <folder>: <reason>`."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"{folder}: {reason}")


def path_order(path: str) -> str:
    """The sort key of a relative POSIX path: by its parts, as PurePosixPath sorts ("a/b" before "a-b").
    The parts joined by NUL, which sorts before every character a file name can hold, sort as the lists
    of parts do, with less work than the lists (the manifest sorts 24,000 paths at 4,000 rules)."""
    return path.replace("/", "\0")


def resolve(output: Path) -> Path:
    """The absolute output path, its parents' symlinks resolved but not its own (a symlink is refused)."""
    if output.name in ("", ".."):
        return Path(os.path.realpath(output))
    return Path(os.path.realpath(output.parent)) / output.name


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under root (symlinks followed, as --check always read it), by relative POSIX path."""
    if not root.is_dir():
        return {}
    files = {}
    for directory, _, filenames in os.walk(root, followlinks=True):
        rel = os.path.relpath(directory, root)
        for name in filenames:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    files[name if rel == "." else f"{rel}/{name}"] = f.read()
    return files


def differences(output: Path, files: dict[str, bytes]) -> list[str]:
    """Each path where output/ is not what the build makes: missing, different, or stale.

    Read under a shared lock, so a build swapping the folder meanwhile is seen before or after.
    """
    target = resolve(output)
    with reading(target):
        existing = read_tree(target)
    lines = []
    for path in sorted(set(files) | set(existing), key=path_order):
        if path not in existing:
            lines.append(f"missing: {path}")
        elif path not in files:
            lines.append(f"stale (no rule makes it): {path}")
        elif existing[path] != files[path]:
            lines.append(f"differs: {path}")
    return lines


def holds(output: Path, manifest_sha256: str) -> bool:
    """Whether output/ is exactly a build's tree: a manifest.json with this digest, every file it lists
    with the digest it lists, and nothing else (no other file, link, folder link, or work folder).

    Read under the shared lock. What it proves: output/ holds the bytes the manifest describes, so a
    build whose manifest has this digest would write nothing (translator/noop.py).
    """
    target = resolve(output)
    if not target.parent.is_dir() or os.path.lexists(target.parent / f".{target.name}.translator"):
        return False
    with locked(target, shared=True):
        try:
            manifest = (target / MANIFEST).read_bytes()
            if hashlib.sha256(manifest).hexdigest() != manifest_sha256:
                return False
            listed = {e["artifact_path"]: e["sha256"] for e in json.loads(manifest)["artifacts"]}
            return _holds_only(target, listed)
        except (OSError, ValueError, KeyError, TypeError):
            return False


def _holds_only(target: Path, listed: dict[str, str]) -> bool:
    found = 0
    for directory, dirnames, filenames in os.walk(target):
        if any(os.path.islink(os.path.join(directory, d)) for d in dirnames):
            return False
        rel = os.path.relpath(directory, target)
        for name in filenames:
            path = "" if rel == "." else f"{rel}/"
            path += name
            if path == MANIFEST:
                continue
            full = os.path.join(directory, name)
            if path not in listed or not stat.S_ISREG(os.lstat(full).st_mode):
                return False
            with open(full, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != listed[path]:
                    return False
            found += 1
    return found == len(listed)


@contextmanager
def reading(target: Path) -> Iterator[None]:
    """The shared lock for reading target, where its parent folder exists (where it does not, no build
    is writing there, and there is nothing to lock)."""
    if not target.parent.is_dir():
        yield
        return
    with locked(target, shared=True):
        yield


@contextmanager
def locked(target: Path, shared: bool) -> Iterator[int]:
    """Hold flock(2) on target's parent folder; yields its descriptor for the renames."""
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise OutputError(target, f"cannot lock its parent folder: {describe(e)}") from e
    try:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another translator build in {target.parent} to finish", file=sys.stderr)
            fcntl.flock(fd, kind)
    except OSError as e:
        os.close(fd)
        raise OutputError(target, f"cannot lock its parent folder: {describe(e)}") from e
    try:
        yield fd
    finally:
        os.close(fd)


def describe(e: OSError) -> str:
    reason = e.strerror or str(e)
    return f"{e.filename}: {reason}" if e.filename else reason
