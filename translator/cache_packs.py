"""Pack files: where the cache keeps rule entries, many to a file.

Why packs: a cold build of 4,000 rules wrote 4,000 entry files beside the 24,000 files of output/, and
creating a file is what costs (0.22 ms an entry under /work, 0.65 ms in a /tmp where many files were
recently deleted: about 6% of a worker's time, and a sixth in /tmp). Each process that compiles now
appends its signed entries to one pack of its own, created exclusively under a random name, so no two
writers ever share a file and written bytes never change: a pack is only ever appended to. Where an
entry lies (pack, offset, length) goes back with the result to the build, which keeps the index
(translator/cache.py). A reader trusts no location: it reads the bytes and the entry's own HMAC decides.
"""

from __future__ import annotations

import os
import re
import secrets
import time

Location = tuple[str, int, int]  # pack name, offset, length: where one signed entry lies
NAME = re.compile(r"[0-9a-f]{32}")  # a pack's name: what a location may name (never a path)
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def valid(location: object) -> bool:
    """Whether a value read back (from an index) has the shape of a location."""
    if not isinstance(location, list) or len(location) != 3:
        return False
    name, offset, length = location
    return isinstance(name, str) and bool(NAME.fullmatch(name)) and _count(offset) and _count(length)


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


class PackWriter:
    """Appends entries to a pack of this process's own, opened at the first entry.

    Per process: a worker forked after its parent wrote entries gets a copy of this object, and opens a
    pack of its own rather than writing at the parent's offsets. After any failed write the writer
    stops: the offsets after a short write would be wrong, and a cache that cannot be written only
    makes the next build slower.
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
        if self._broken:
            return None
        try:
            if self._pid != os.getpid():
                self._open()
            offset = self._offset
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view) :]
            self._offset += len(record)  # each write renews the pack's mtime: the clean-up keeps it
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
        self._pid, self._name, self._offset = os.getpid(), name, 0


class PackReader:
    """Reads entries by location, each pack opened once per build; renews a pack's mtime when it is read
    and a day old, so the cache's clean-up keeps what builds use."""

    def __init__(self, folder: str, touch_after: float) -> None:
        self.folder = folder
        self.touch_after = touch_after
        self._fds: dict[str, int] = {}

    def read(self, location: Location) -> bytes | None:
        """The bytes at a location, or None if the pack is gone or shorter."""
        name, offset, length = location
        try:
            fd = self._fds.get(name)
            if fd is None:
                fd = self._fds[name] = os.open(f"{self.folder}/{name}", _READ)
                if os.fstat(fd).st_mtime < time.time() - self.touch_after:
                    os.utime(fd)
            data = os.pread(fd, length, offset)
        except OSError:
            return None
        return data if len(data) == length else None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
