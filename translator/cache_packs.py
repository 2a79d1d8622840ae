"""Pack files: where the cache keeps rule entries, many to a file.

Why packs: a cold build of 4,000 rules wrote 4,000 entry files beside the 24,000 files of output/, and
creating a file is what costs (0.22 ms an entry under /work, 0.65 ms in a /tmp where many files were
recently deleted). Each process that compiles now appends its signed entries to one pack of its own,
created exclusively under a random name, so no two writers ever share a file and written bytes never
change: a pack is only ever appended to. Where an entry lies (pack, offset, length) goes back with the
result to the build, which keeps the index (translator/cache.py). The index is signed, but a reader
still trusts no bytes it reads: the entry's own HMAC decides, and a location is bounded before it is
read. A pack's mtime is its last write: reads never renew it (the cache copies an entry still in use out
of an old pack instead, so that a pack expires whole).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat

from translator.rule_file import READ_FLAGS, read_at_most

Location = tuple[str, int, int]  # pack name, offset, length: where one signed entry lies
NAME = re.compile(r"[0-9a-f]{32}")  # a pack's name: what a location may name (never a path)
MAX_ENTRY = 1 << 26  # 64 MiB: a rule file is at most 1 MiB (rule_file.MAX_RULE_BYTES)
MAX_OPEN = 16  # packs a reader keeps open at once (a rebuild reads a few; a descriptor limit may be 256)
_READ = READ_FLAGS | os.O_NOFOLLOW  # as rule files are read: a FIFO is not waited on; no link followed
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def valid(location: object) -> bool:
    """Whether a value read back (from an index) has the shape of a location."""
    if not isinstance(location, list) or len(location) != 3:
        return False
    name, offset, length = location
    named = isinstance(name, str) and bool(NAME.fullmatch(name))
    return named and _count(offset) and _count(length, MAX_ENTRY)


def _count(value: object, most: int = 1 << 62) -> bool:
    return type(value) is int and 0 <= value <= most


def pack_size(folder: str, name: str) -> int:
    """The size of a pack that is there as a regular file, else -1 (one lstat)."""
    try:
        status = os.lstat(f"{folder}/{name}")
    except OSError:
        return -1
    return status.st_size if stat.S_ISREG(status.st_mode) else -1


def read_file(path: str, most: int) -> tuple[bytes, float]:
    """A cache file's bytes and mtime: a regular file of at most `most` bytes, opened without following
    a link or waiting on a FIFO (OSError otherwise)."""
    fd = os.open(path, _READ)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size > most:
            raise OSError(f"{path} is not a cache file")
        data = read_at_most(fd, most + 1, status.st_size)
    finally:
        os.close(fd)
    if len(data) > most:
        raise OSError(f"{path} is not a cache file")
    return data, status.st_mtime


class PackWriter:
    """Appends entries to a pack of this process's own, opened at the first entry.

    Per process: a worker forked after its parent wrote entries gets a copy of this object, and opens a
    pack of its own rather than writing at the parent's offsets (or giving up where the parent did).
    After any failed write the writer stops: the offsets after a short write would be wrong, and a cache
    that cannot be written only makes the next build slower.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._pid = 0
        self._fd = -1
        self._name = ""
        self._offset = 0
        self._broken = False

    def add(self, record: bytes) -> Location | None:
        """Append one entry; where it lies, or None if it could not be written."""
        if self._pid != os.getpid():
            self._pid, self._fd, self._broken = os.getpid(), -1, False  # the parent's descriptor is not ours
        if self._broken:
            return None
        try:
            if self._fd < 0:
                self._open()
            offset = self._offset
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view) :]
            self._offset += len(record)
            return self._name, offset, len(record)
        except OSError:
            self._broken = True
            return None

    def _open(self) -> None:
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        while True:
            name = secrets.token_hex(16)
            try:
                self._fd = os.open(f"{self.folder}/{name}", _CREATE, 0o600)
                break
            except FileExistsError:  # 128 random bits taken already: not ours, draw again
                continue
        self._name, self._offset = name, 0

    def close(self) -> None:
        """Close this process's pack; a later entry starts a new one. A write error that only shows at
        close (a network file system, a quota) is the cache's loss, not the build's."""
        fd, mine = self._fd, self._pid == os.getpid()
        self._pid, self._fd = 0, -1  # first: the descriptor is released even when close fails
        if fd >= 0 and mine:
            with contextlib.suppress(OSError):
                os.close(fd)


class PackReader:
    """Reads entries by location, keeping at most MAX_OPEN packs open (the least recently read closed
    first)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._open: dict[str, tuple[int, float]] = {}  # name -> descriptor, mtime; least recent first

    def read(self, location: Location) -> tuple[bytes, float] | None:
        """The bytes at a location and its pack's mtime, or None if the pack is gone, not a regular file,
        or shorter."""
        name, offset, length = location
        try:
            fd, written = self._open.pop(name, None) or self._pack(name)
            self._open[name] = fd, written  # now the most recent
            data = os.pread(fd, length, offset)
        except (OSError, ValueError, OverflowError, MemoryError):
            return None
        return (data, written) if len(data) == length else None

    def _pack(self, name: str) -> tuple[int, float]:
        if len(self._open) >= MAX_OPEN:
            os.close(self._open.pop(next(iter(self._open)))[0])
        fd = os.open(f"{self.folder}/{name}", _READ)
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise OSError(f"{name} is not a regular file")
        except OSError:
            os.close(fd)
            raise
        return fd, status.st_mtime

    def close(self) -> None:
        for fd, _ in self._open.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._open.clear()
