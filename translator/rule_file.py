"""Reading one rule file safely: rule files are untrusted input.

Bounded before anything is parsed: only regular files inside the rules folder (no FIFO that blocks,
no device that never ends, no symlink out of the tree), at most MAX_RULE_BYTES. The YAML is read
strictly: no aliases or merge keys (an alias bomb of 1 KB expands to gigabytes), nesting at most
MAX_DEPTH deep (libyaml's composer recurses in C and crashes the process on deep input, so depth is
checked on the event stream first), no duplicate keys (the last one would silently win), mapping
keys are strings, and dates stay text for pySigma to check (PyYAML raises on 2024-13-45).
"""

from __future__ import annotations

import errno
import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from translator.errors import RuleError, printable

RULE_SUFFIXES = (".yml", ".yaml")
MAX_RULE_BYTES = 1024 * 1024  # SigmaHQ's largest rule is 295 KB
MAX_DEPTH = 32  # SigmaHQ's rules nest at most 5 levels
# O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. (O_NOFOLLOW is added
# where a link is not to be followed: read_rule resolves one, the cache never follows one.)
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CACHED_LENGTH = 256  # longer texts are never kept in a cache: its memory stays bounded whatever the rules

_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


class _StrictLoader(_CLoader):  # type: ignore[misc,valid-type]
    """libyaml's safe loader without timestamps, refusing duplicate and non-string keys."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _MERGE)]
        for first, resolvers in _CLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key!r} is not a string", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1}); "
                    "YAML would keep only the last one",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def discover(rules_dir: Path) -> list[Path]:
    """Every rule file under `rules_dir`, in a stable order, without following directory links.

    A file that cannot be read is still listed, so the build reports it instead of leaving it out; so is
    a directory link that leaves the tree (its rules would silently be missing otherwise).
    """
    root = rules_dir.resolve()
    found = []
    for directory, dirnames, filenames in os.walk(rules_dir):
        for name in dirnames:
            path = Path(directory, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                found.append(path)
        found += [Path(directory, n) for n in filenames if n.endswith(RULE_SUFFIXES)]
    return sorted(found, key=lambda path: path.parts)  # as Path sorts, without its slow comparisons


def read_rule(path: Path, rules_dir: Path, root: Path | None = None) -> str:
    """The text of one rule file under `rules_dir` (whose real path is `root`, when the caller has it),
    read safely: RuleError if it cannot be a rule."""
    rel_path = path.relative_to(rules_dir).as_posix()
    if printable(rel_path) != rel_path:
        raise RuleError(path, "the file name holds control characters, which artifact names cannot carry")
    return read_rule_text(path, root or rules_dir.resolve())


def read_rule_text(path: Path, root: Path) -> str:
    """The text of a rule file under `root` (resolved), or RuleError saying why it cannot be read.

    `path`'s folders must lie inside `root` without symbolic links (discover walks without following
    them; `translator convert` reads a file from its own folder), so only the file itself can be a link
    out of the tree. Fast path: a file that is no link is opened as it is, and O_NOFOLLOW makes that
    open fail if it became a link meanwhile; only a link is resolved and checked.
    """
    try:
        fd = os.open(path, READ_FLAGS | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno != errno.ELOOP:  # ELOOP: the file is a symbolic link
            raise RuleError(path, f"cannot read the file: {e.strerror}") from e
        fd = _open_link(path, root, READ_FLAGS)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise RuleError(path, f"not a regular file ({_kind(status.st_mode)}); not read")
        data = read_at_most(fd, MAX_RULE_BYTES + 1, status.st_size)
    finally:
        os.close(fd)
    if len(data) > MAX_RULE_BYTES:
        raise RuleError(path, f"larger than the limit of {MAX_RULE_BYTES} bytes for a rule file; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleError(path, f"cannot read the file: not UTF-8 ({e.reason} at byte {e.start})") from e


def read_at_most(fd: int, limit: int, size: int) -> bytes:
    """Up to `limit` bytes of the file, read in the size fstat gave (plus one byte, to see the end), not
    in one `limit`-sized buffer: a buffered read(limit) allocates a megabyte per rule file, 7 times the
    time of reading it. A file that grows meanwhile, or a read that stops short, is read on in chunks of
    at most 64 KiB, still only up to `limit`. The cache reads its files with it too."""
    parts: list[bytes] = []
    total = 0
    chunk = min(size, limit - 1) + 1
    while total < limit:
        part = os.read(fd, chunk)
        if not part:
            break
        parts.append(part)
        total += len(part)
        chunk = min(limit - total, max(size + 1 - total, 1 << 16))
    return b"".join(parts)


def _open_link(path: Path, root: Path, flags: int) -> int:
    """Open what a symbolic link points to, if that is inside root."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise RuleError(path, f"cannot read the file: {e}") from e
    if not real.is_relative_to(root):
        raise RuleError(path, f"symbolic link to {real}, outside the rules folder {root}; not read")
    try:
        return os.open(real, flags)
    except OSError as e:
        raise RuleError(path, f"cannot read the file: {e.strerror}") from e


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    kinds += ((stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def parse_yaml(text: str) -> list[Any]:
    """The documents of a rule file, or yaml.YAMLError (a MarkedYAMLError saying where and why)."""
    documents = _plain_documents(text)
    if documents is not None:
        return documents
    _check_events(text)
    return list(yaml.load_all(text, Loader=_StrictLoader))


def _plain_documents(text: str) -> list[Any] | None:
    """The documents, built straight from libyaml's events in one pass, where that is certain to give
    what _check_events and _StrictLoader would; None for anything else, which they then read.

    Why: the two of them parse the text twice and build a node tree in between, half the time of loading
    a rule. Why it is the same: PyYAML's composer and constructor, for events without a tag or an anchor,
    make a list of a sequence, a dict of a mapping, and of a scalar what the resolver's tag for its text
    and style (event.implicit) constructs; `_scalar` does exactly that with the loader's own resolver and
    constructors. Everything the strict reading refuses or treats apart (an alias, an anchor, a tag,
    nesting past MAX_DEPTH, a duplicate, non-string or collection key, a parse error) returns None, so
    the error, and its wording, come from the usual path. tests/test_yaml_read.py compares the two.
    """
    documents: list[Any] = []
    stack: list[Any] = []  # the open collections, innermost last
    keys: list[Any] = []  # for each open collection: its mapping's pending key (_NO_KEY: none)
    try:
        for event in yaml.parse(text, Loader=_CLoader):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    return None
                scalar = event.value
                construct = _scalar if len(scalar) <= CACHED_LENGTH else _scalar.__wrapped__
                value = construct(scalar, event.implicit)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                    return None
                value = {} if kind is yaml.MappingStartEvent else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
                keys.pop()
                continue
            elif kind is yaml.AliasEvent:
                return None
            else:  # stream and document start and end: a document's value is added at its root
                continue
            if not stack:
                documents.append(value)
            elif keys[-1] is _NO_KEY and type(stack[-1]) is dict:
                if type(value) is not str or value in stack[-1]:
                    return None
                keys[-1] = value
            elif keys[-1] is _NO_KEY:
                stack[-1].append(value)
            else:
                stack[-1][keys[-1]] = value
                keys[-1] = _NO_KEY
            if type(value) is dict or type(value) is list:
                stack.append(value)
                keys.append(_NO_KEY)
    except (yaml.YAMLError, _NotConstructed):
        return None
    return documents


_NO_KEY = object()
_READER = _StrictLoader("")  # its resolver and constructors; scalars need no parser state


class _NotConstructed(Exception):
    """A scalar tag the strict loader has no constructor for (its own error says so)."""


@lru_cache(maxsize=8192)
def _scalar(text: str, implicit: tuple[bool, bool]) -> Any:
    """What _StrictLoader makes of an untagged scalar: resolved as its composer does, then constructed.
    Cached: every value it makes (str, int, float, bool, None) is immutable."""
    tag = _READER.resolve(yaml.ScalarNode, text, implicit)
    if tag == _STR:
        return text
    construct = _READER.yaml_constructors.get(tag)
    if construct is None:
        raise _NotConstructed
    return construct(_READER, yaml.ScalarNode(tag, text))


def _check_events(text: str) -> None:
    """Refuse aliases and deep nesting on libyaml's event stream, which is not recursive."""
    depth = 0
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                None, None, "YAML aliases (*name) are not allowed in rule files", event.start_mark
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
