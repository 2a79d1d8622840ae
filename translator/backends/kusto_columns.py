"""Kusto column references: a mapped field is a column path (`Column`, `.name`, `["key"]`, `[]`).

The Sentinel pipeline maps fields to such paths; this module checks them against the table schema and
writes them the way each kind of comparison needs (strings, numbers, emptiness). `[]` steps into every
element of a list (kusto_lists turns a condition on such a path into "any element holds it"). A path
into a string column reads the column's text as JSON (`todynamic`): some tables store JSON as text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from translator.backends.kusto_keywords import BOOLEAN_LITERALS, RESERVED

NUMERIC_TYPES = frozenset({"int", "long", "real", "decimal"})
EACH = "[]"  # in a mapped field: every element of the list before it


@dataclass(frozen=True)
class Column:
    """A mapped field: a table or lookup column, with a path into it when it is dynamic (or JSON text).

    `lists` holds the steps after each `[]`: `TargetResources[].modifiedProperties[].newValue` is root
    TargetResources, path (), lists (("modifiedProperties",), ("newValue",)).
    """

    root: str
    path: tuple[str, ...]
    type: str
    lists: tuple[tuple[str, ...], ...] = ()

    @property
    def name(self) -> str:
        """The path as the pipeline writes it, `[]` included: how its `lists` and `json_text` name values."""
        steps = [self.path, *self.lists]
        return self.root + EACH.join("".join(segment(p) for p in step) for step in steps)

    @property
    def base(self) -> str:
        """The root as a value: a string column read as JSON when the path goes into it."""
        if self.type == "string" and (self.path or self.lists):
            return f"todynamic({self.root})"
        return self.root

    @property
    def text(self) -> str:
        """The value the path names (not for paths through lists: see kusto_lists)."""
        if self.lists:
            raise SigmaFeatureNotSupportedByBackendError(f"{self.name} names many values, not one")
        return self.base + "".join(segment(p) for p in self.path)

    @property
    def is_dynamic(self) -> bool:
        return self.type == "dynamic" or self.base != self.root

    @property
    def string(self) -> str:
        """The column as a string, for string operators."""
        return self.text if self.type == "string" and not self.path else f"tostring({self.text})"

    @property
    def number(self) -> str:
        """The column as a number, for numeric comparison."""
        return self.text if self.type in NUMERIC_TYPES else f"toreal({self.text})"

    @property
    def scalar(self) -> str:
        """The column as a plain value, for results (a dynamic path as its string)."""
        return f"tostring({self.text})" if self.is_dynamic else self.text

    @property
    def present(self) -> str:
        """Whether the field is there. A key of a dynamic column is there when not null, an empty
        string included; a table column cannot tell empty from missing, so it must hold a value."""
        return f"isnotnull({self.text})" if self.path else f"isnotempty({self.text})"

    @property
    def absent(self) -> str:
        return f"isnull({self.text})" if self.path else f"isempty({self.text})"

    @property
    def dynamic(self) -> str:
        """The value as dynamic, to expand as a list (a string column holds the list as JSON text)."""
        return self.text if self.is_dynamic else f"todynamic({self.text})"

    @property
    def alias(self) -> str:
        return alias(self.root, self.path)


def element(variable: str, path: tuple[str, ...]) -> Column:
    """A list element bound to a variable of an mv-apply, and a path into it."""
    return Column(variable, path, "dynamic")


def alias(root: str, path: tuple[str, ...]) -> str:
    """The column name a query gives a path, built from its parts: Authorization_d.evidence.principalId
    -> AuthorizationEvidencePrincipalId; a claim URL contributes its last segment."""
    if not path:
        return root
    parts = [root.removesuffix("_d")] + [p.rsplit("/", 1)[-1] for p in path]
    words = [re.sub(r"[^0-9A-Za-z]", "", p) for p in parts]
    return "".join(w[:1].upper() + w[1:] for w in words if w)


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def segment(name: str) -> str:
    """One step of a dynamic path: `.name`, or `["name"]` for keys that are not plain names."""
    if IDENTIFIER.fullmatch(name) and name not in RESERVED and name not in BOOLEAN_LITERALS:
        return "." + name
    return "[" + json.dumps(name, ensure_ascii=False) + "]"


_DECODER = json.JSONDecoder()


@lru_cache(maxsize=4096)  # a function of the text alone, asked again for each mention of a field
def parse_path(field: str) -> tuple[str, tuple[tuple[str, ...], ...]]:
    """Split `Root.a["b.c"][].d` into ("Root", (("a", "b.c"), ("d",))): the steps between `[]`s."""
    match = IDENTIFIER.match(field)
    if not match:
        raise SigmaFeatureNotSupportedByBackendError(f"mapped field {field!r} is not a Kusto column")
    root, pos, steps, parts = match.group(0), match.end(), [], []
    while pos < len(field):
        if field[pos] == "." and (m := IDENTIFIER.match(field, pos + 1)):
            parts.append(m.group(0))
            pos = m.end()
        elif field.startswith(EACH, pos):
            steps.append(tuple(parts))
            parts = []
            pos += len(EACH)
        elif field.startswith('["', pos):
            key, end = _DECODER.raw_decode(field, pos + 1)
            if not field.startswith("]", end):
                break
            parts.append(key)
            pos = end + 1
        else:
            break
    if pos != len(field):
        raise SigmaFeatureNotSupportedByBackendError(f"mapped field {field!r} is not a Kusto column path")
    return root, (*steps, tuple(parts))


def resolve(field: str, types: dict[str, str], table: str) -> Column:
    """The column a mapped field names, typed from the table schema (and lookup columns)."""
    root, (path, *lists) = parse_path(field)
    if root not in types:
        raise SigmaFeatureNotSupportedByBackendError(
            f"mapped field {field!r}: {table} has no column {root!r} and no lookup adds it"
        )
    if (path or lists) and types[root] not in ("dynamic", "string"):
        raise SigmaFeatureNotSupportedByBackendError(
            f"mapped field {field!r}: {root} is {types[root]}, not dynamic, so it has no keys"
        )
    return Column(root, path, types[root], tuple(lists))
