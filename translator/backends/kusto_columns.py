"""Kusto column references: a mapped field is a column path (`Column`, `.name`, `["key"]`).

The Sentinel pipeline maps fields to such paths; this module checks them against the table schema and
writes them the way each kind of comparison needs (strings, numbers, emptiness).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from translator.backends.kusto_keywords import BOOLEAN_LITERALS, RESERVED

NUMERIC_TYPES = frozenset({"int", "long", "real", "decimal"})


@dataclass(frozen=True)
class Column:
    """A mapped field: a table or lookup column, with a path into it when it is dynamic."""

    root: str
    path: tuple[str, ...]
    type: str

    @property
    def text(self) -> str:
        return self.root + "".join(segment(p) for p in self.path)

    @property
    def is_dynamic(self) -> bool:
        return self.type == "dynamic"

    @property
    def string(self) -> str:
        """The column as a string, for string operators."""
        return self.text if self.type == "string" else f"tostring({self.text})"

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
    def alias(self) -> str:
        return alias(self.root, self.path)


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


def parse_path(field: str) -> tuple[str, tuple[str, ...]]:
    """Split `Root.a["b.c"].d` into ("Root", ("a", "b.c", "d"))."""
    match = IDENTIFIER.match(field)
    if not match:
        raise SigmaFeatureNotSupportedByBackendError(f"mapped field {field!r} is not a Kusto column")
    root, pos, parts = match.group(0), match.end(), []
    decoder = json.JSONDecoder()
    while pos < len(field):
        if field[pos] == "." and (m := IDENTIFIER.match(field, pos + 1)):
            parts.append(m.group(0))
            pos = m.end()
        elif field.startswith('["', pos):
            key, end = decoder.raw_decode(field, pos + 1)
            if not field.startswith("]", end):
                break
            parts.append(key)
            pos = end + 1
        else:
            break
    if pos != len(field):
        raise SigmaFeatureNotSupportedByBackendError(f"mapped field {field!r} is not a Kusto column path")
    return root, tuple(parts)


def resolve(field: str, types: dict[str, str], table: str) -> Column:
    """The column a mapped field names, typed from the table schema (and lookup columns)."""
    root, path = parse_path(field)
    if root not in types:
        raise SigmaFeatureNotSupportedByBackendError(
            f"mapped field {field!r}: {table} has no column {root!r} and no lookup adds it"
        )
    if path and types[root] != "dynamic":
        raise SigmaFeatureNotSupportedByBackendError(
            f"mapped field {field!r}: {root} is {types[root]}, not dynamic, so it has no keys"
        )
    return Column(root, path, types[root])
