"""Block-style YAML of plain data, written in Python as libyaml writes it, for the common case only.

Why: libyaml's emitter is C, but PyYAML drives it from Python: a node object per value, then, for each
scalar, the resolver's regular expressions and a round of Cython calls. For a Sentinel template that is
0.4 ms, a tenth of a rule's whole compile. Here each scalar costs one cached lookup.

Why it is safe: `block_yaml` writes only what it can write exactly as yaml.dump(value,
Dumper=SentinelDumper, sort_keys=False, allow_unicode=True, width=1000) would, and returns None for
anything else, which then takes libyaml. It takes on: a mapping at the root; mappings and lists nested
(a list inside a list, or a container met twice, which libyaml writes as an alias, is left to libyaml);
ints, booleans, null; strings of printable ASCII, which libyaml writes plain where that reads back as
the same string and single-quoted otherwise (`_scalar` follows libyaml's yaml_emitter_analyze_scalar);
and, as mapping values, text with line feeds in literal block style (`|`, `|-`). Everything else is
left to libyaml: non-ASCII or control characters, text a literal block cannot hold as it is (leading or
trailing blanks, a space before a line feed, blank lines at the end), keys that are not simple, and any
line near the width at which libyaml folds. tests/test_yaml_block.py compares the two on generated
values and on every committed Sentinel rule.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

WIDTH = 1000  # yaml.dump(width=...): libyaml folds plain and quoted scalars at spaces past it
_MARGIN = 24  # lines are kept this far below WIDTH, so that no position rule of the folding matters
_ASCII = re.compile(r"[\x20-\x7e]*")  # printable ASCII: no character libyaml escapes or folds on
_ASCII_LINES = re.compile(r"[\x20-\x7e\n]*")
_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_RESOLVER = yaml.resolver.Resolver()  # the implicit types a dumper's plain scalar would read back as
_STR = "tag:yaml.org,2002:str"
MAX_SIMPLE_KEY = 128  # libyaml writes a longer key as a complex key (`? key`)
CACHED_LENGTH = 256  # longer texts are never kept in _scalar's cache: its memory stays bounded


class _Unsupported(Exception):
    """A value block_yaml leaves to libyaml."""


def block_yaml(value: Any) -> str | None:
    """The YAML text libyaml would write for the mapping `value`, or None where this module leaves it."""
    if type(value) is not dict or not value:
        return None
    out: list[str] = []
    try:
        _mapping(value, 0, out, set())
    except _Unsupported:
        return None
    return "".join(out)


def _mapping(value: dict[Any, Any], indent: int, out: list[str], seen: set[int], first: str = "") -> None:
    """Write a non-empty mapping's entries at `indent`; the first one after `first` (a sequence's `- `)."""
    _once(value, seen)
    pad = " " * indent
    lead = first
    for key, item in value.items():
        text = _text(key) if type(key) is str else None
        if text is None or len(key) > MAX_SIMPLE_KEY:
            raise _Unsupported
        out.append(f"{lead or pad}{text}:")
        lead = ""
        column = indent + len(text) + 2
        kind = type(item)
        if kind is dict and item:
            out.append("\n")
            _mapping(item, indent + 2, out, seen)
        elif kind is list and item:
            out.append("\n")
            _sequence(item, indent, out, seen)  # in a mapping, a sequence is not indented
        elif kind is str and "\n" in item:
            out.append(" " + _literal(item, indent + 2) + "\n")
        else:
            out.append(" " + _leaf(item, column, seen) + "\n")


def _sequence(value: list[Any], indent: int, out: list[str], seen: set[int]) -> None:
    _once(value, seen)
    pad = " " * indent
    for item in value:
        kind = type(item)
        if kind is dict and item:
            _mapping(item, indent + 2, out, seen, first=pad + "- ")
        elif kind is list and item or kind is str and "\n" in item:
            raise _Unsupported
        else:
            out.append(f"{pad}- {_leaf(item, indent + 2, seen)}\n")


def _leaf(value: Any, column: int, seen: set[int]) -> str:
    """A scalar or an empty collection, written on the current line from `column`."""
    kind = type(value)
    if kind is str:
        text = _text(value)
        if text is None or column + len(text) > WIDTH - _MARGIN:
            raise _Unsupported
        return text
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is dict or kind is list:
        _once(value, seen)
        return "{}" if kind is dict else "[]"
    raise _Unsupported


def _once(value: dict[Any, Any] | list[Any], seen: set[int]) -> None:
    """A container met twice is one node to libyaml, written with an anchor and an alias."""
    if id(value) in seen:
        raise _Unsupported
    seen.add(id(value))


def _text(value: str) -> str | None:
    """_scalar, cached for the short texts that repeat across templates (keys, names, values)."""
    return _scalar(value) if len(value) <= CACHED_LENGTH else _scalar.__wrapped__(value)


@lru_cache(maxsize=8192)
def _scalar(value: str) -> str | None:
    """The plain or single-quoted form libyaml picks for a one-line ASCII string, else None.

    libyaml writes a scalar plain unless an indicator, a blank at either end, or the resolver forbid it
    (the plain text would read back as a number, boolean, null, date...), and then single-quoted, which
    any printable one-line ASCII text allows. Only block context is written here, so flow indicators
    (`,`, `[`, a `:` not followed by a blank...) do not matter.
    """
    if not value:
        return "''"
    if not _ASCII.fullmatch(value):
        return None
    plain = value[0] != " " and value[-1] != " " and value[0] not in _FIRST_INDICATORS
    plain = plain and not value.startswith(("---", "..."))
    if plain and value[0] in "?:-" and (len(value) == 1 or value[1] == " "):
        plain = False
    plain = plain and ": " not in value and not value.endswith(":") and " #" not in value
    if plain and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR:
        return value
    return "'" + value.replace("'", "''") + "'"


def _literal(value: str, indent: int) -> str:
    """Text with line feeds as a literal block scalar, its lines at `indent`: `|` when it ends with one
    line feed, `|-` when with none (libyaml's clip and strip chomping)."""
    if not _ASCII_LINES.fullmatch(value) or value[0] in " \n" or value[-1] == " " or " \n" in value:
        raise _Unsupported  # an indentation indicator, or a block libyaml will not write (space_break)
    if value.endswith("\n\n"):
        raise _Unsupported  # keep chomping (`|+`), after which libyaml ends the document with `...`
    pad = " " * indent
    body = value[:-1] if value.endswith("\n") else value
    lines = "".join(f"\n{pad}{line}" if line else "\n" for line in body.split("\n"))
    return ("|" if value.endswith("\n") else "|-") + lines
