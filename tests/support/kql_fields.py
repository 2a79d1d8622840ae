"""How Elasticsearch matches one Kibana KQL value against one stored field, by the field's type.

Kibana 8.x detection rules load the types of the fields a query names (field caps) and send:
- keyword: a term query for a value, a case-sensitive `wildcard` query for a value with `*`;
- a key of a `flattened` field: a term query, or a `query_string`, which splits the value at whitespace
  into terms (OR) and runs each as a term or prefix query; Elasticsearch refuses a wildcard query
  there ("[wildcard] queries are not currently supported on keyed [flattened] fields"): QueryFailure;
- text: the standard analyzer's lower-cased words: a quoted value is a phrase, an unquoted one any of
  its words, a wildcard value a query_string whose terms match words;
- long, float, ip, boolean: the value parsed; an ip field also takes a CIDR range.
A field-name pattern (`a.*.b`) expands over the index's fields; here, over the document's leaves (not
the keys of flattened fields, which field caps does not list). A value without a field searches the
default fields: the declared keyword and text fields (not flattened ones).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]
WILDCARD = object()
TEXT = ("text", "match_only_text")
WORD = re.compile(r"\w+(?:[.']\w+)*")  # the standard analyzer's words, close enough for test values


class QueryFailure(Exception):
    """Elasticsearch rejects the query (every run of the rule fails)."""


def field_values(doc: Doc, field: str) -> list[Any]:
    """The values Elasticsearch would index for a dotted field name (objects, arrays, dotted keys)."""

    def walk(node: Any, rest: str) -> list[Any]:
        if rest == "":
            if isinstance(node, list):
                return [v for item in node for v in walk(item, "")]
            return [] if node is None or isinstance(node, dict) else [node]
        if isinstance(node, list):
            return [v for item in node for v in walk(item, rest)]
        if not isinstance(node, dict):
            return []
        found = []
        for key, value in node.items():
            if rest == key:
                found.extend(walk(value, ""))
            elif rest.startswith(key + "."):
                found.extend(walk(value, rest[len(key) + 1 :]))
        return found

    return walk(doc, field)


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted field name, value) of a document; a list's elements share its name."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for item in node:
            yield from leaves(item, path)
    elif node is not None:
        yield path, node


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def wildcard_regex(parts: list[Any], flags: int = 0) -> re.Pattern[str]:
    return re.compile("".join(".*" if p is WILDCARD else re.escape(p) for p in parts), re.DOTALL | flags)


def split_terms(parts: list[Any]) -> list[list[Any]]:
    """query_string's terms: the value split at (unescaped) whitespace."""
    terms: list[list[Any]] = [[]]
    for part in parts:
        if part is not WILDCARD and part.isspace():
            terms.append([])
        else:
            terms[-1].append(part)
    return [t for t in terms if t]


class StoredFields:
    """The field types of one data stream and what a value matches in each."""

    def __init__(self, types: dict[str, str], multi_fields: dict[str, str] | None = None) -> None:
        self.types = types
        self.multi_fields = multi_fields or {}  # multi-field -> the field whose values it indexes

    def kind(self, field: str) -> str:
        if field in self.types:
            return self.types[field]
        return "flattened" if self.flattened_root(field) else "keyword"

    def flattened_root(self, field: str) -> str | None:
        parts = field.split(".")
        roots = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        return next((root for root in roots if self.types.get(root) == "flattened"), None)

    def values(self, doc: Doc, field: str) -> list[Any]:
        field = self.multi_fields.get(field, field)
        if self.types.get(field) == "flattened":  # the root: every value inside
            return [v for _, v in leaves(field_values_node(doc, field))]
        return field_values(doc, field)

    def expand(self, doc: Doc, pattern: re.Pattern[str]) -> list[str]:
        names = {name for name, _ in leaves(doc) if not self.flattened_root(name)}
        return sorted(name for name in names if pattern.fullmatch(name))

    def default_fields(self, doc: Doc) -> list[str]:
        names = {name for name, _ in leaves(doc) if not self.flattened_root(name)}
        return sorted(n for n in names if self.kind(n) == "keyword" or self.kind(n) in TEXT)

    # -- one value against one field -----------------------------------------------------------
    def matches(self, doc: Doc, field: str, parts: list[Any], quoted: bool) -> bool:
        values = self.values(doc, field)
        kind = self.kind(field)
        if not quoted and parts and all(p is WILDCARD for p in parts):
            return bool(values)
        if kind in TEXT:
            return self._text(values, parts, quoted)
        if kind == "flattened":
            return self._flattened(field, values, parts, quoted)
        if WILDCARD in parts and not quoted:
            if kind != "keyword":
                raise QueryFailure(f"wildcard on {kind} field {field}")
            pattern = wildcard_regex(parts)
            return any(isinstance(v, str) and pattern.fullmatch(v) for v in values)
        text = "".join("*" if p is WILDCARD else p for p in parts)
        return any(equal(kind, v, text) for v in values)

    def _flattened(self, field: str, values: list[Any], parts: list[Any], quoted: bool) -> bool:
        values = [keyword_text(v) for v in values]  # a flattened field indexes every leaf as a keyword
        if quoted or WILDCARD not in parts:
            text = "".join("*" if p is WILDCARD else p for p in parts)
            return any(equal("keyword", v, text) for v in values)
        for term in split_terms(parts):
            if WILDCARD in term[:-1]:
                raise QueryFailure(
                    f"[wildcard] queries are not supported on keyed [flattened] fields ({field})"
                )
            prefix = "".join(p for p in term if p is not WILDCARD)
            strings = [v for v in values if isinstance(v, str)]
            if any(v.startswith(prefix) if term[-1] is WILDCARD else v == prefix for v in strings):
                return True
        return False

    @staticmethod
    def _text(values: list[Any], parts: list[Any], quoted: bool) -> bool:
        tokens = [words(v) for v in values if isinstance(v, str)]
        if quoted or WILDCARD not in parts:
            query = words("".join(p for p in parts if p is not WILDCARD))
            if quoted:
                n = len(query)
                return bool(query) and any(t[i : i + n] == query for t in tokens for i in range(len(t)))
            return any(set(query) & set(t) for t in tokens)
        patterns = [
            wildcard_regex([p.lower() if p is not WILDCARD else p for p in term])
            for term in split_terms(parts)
        ]
        return any(p.fullmatch(w) for p in patterns for t in tokens for w in t)

    def free_text(self, doc: Doc, parts: list[Any]) -> bool:
        """A value without a field: query_string over the default fields, split at whitespace."""
        for field in self.default_fields(doc):
            for term in split_terms(parts):
                if self.kind(field) in TEXT:
                    if self._text(field_values(doc, field), term, quoted=False):
                        return True
                elif self.matches(doc, field, term, quoted=False):
                    return True
        return False


def field_values_node(doc: Doc, field: str) -> Any:
    """The object (or value) stored at a dotted path, for a flattened root."""
    node: Any = doc
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def keyword_text(value: Any) -> Any:
    """A leaf as a keyword indexes it: booleans and numbers as their JSON text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def equal(kind: str, value: Any, text: str) -> bool:
    if kind in ("long", "float"):
        try:
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and float(value) == float(text)
            )
        except ValueError:
            return False
    if kind == "boolean":
        return isinstance(value, bool) and str(value).lower() == text.lower()
    if kind == "ip":
        try:
            address = ipaddress.ip_address(value)
            return (
                address in ipaddress.ip_network(text, strict=False)
                if "/" in text
                else address == ipaddress.ip_address(text)
            )
        except ValueError:
            return False
    return isinstance(value, str) and value == text
