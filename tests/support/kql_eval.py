"""Runs Kibana KQL on documents: a walker over the kibana-ql parse tree with Elasticsearch semantics.

It shares no code with the KQL backend. Semantics follow Kibana (kuery -> query DSL) on an index whose
string fields are keyword: a quoted value is a phrase, which on a keyword field means the exact value;
an unquoted value without `*` is a match on the exact value; with `*` it is a case-sensitive wildcard
query; a value that is only `*` is an exists query; unquoted values are trimmed. Fields of type long
compare numerically, ip fields take an address or a CIDR range.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from parsimonious.nodes import Node

from support.grammars import parse_kibana_kql

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
WILDCARD = object()
JS_WHITESPACE = (  # what JavaScript's trim() removes
    " \t\n\r\v\f\u00a0\ufeff\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


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


def _named(node: Node) -> list[Node]:
    out = []
    for child in node.children:
        out.extend([child] if child.expr_name else _named(child))
    return out


def _first(node: Node, name: str) -> Node | None:
    return next((n for n in _named(node) if n.expr_name == name), None)


class KqlQuery:
    """A parsed query; `matches(doc)` evaluates it. `types` gives non-keyword field types."""

    def __init__(self, query: str, types: dict[str, str]) -> None:
        self.types = types
        tree = parse_kibana_kql(query)
        body = _first(tree, "OrQuery")
        self.matches: Predicate = self._query(body) if body else (lambda doc: True)

    # -- queries -----------------------------------------------------------------------------
    def _query(self, node: Node) -> Predicate:
        name = node.expr_name
        kids = _named(node)
        if name in ("OrQuery", "AndQuery"):
            parts = [self._query(k) for k in kids if k.expr_name in ("AndQuery", "NotQuery")]
            combine = any if name == "OrQuery" else all
            return lambda doc: combine(p(doc) for p in parts)
        if name == "NotQuery":
            inner = self._query(_first(node, "SubQuery"))
            if _first(node, "Not") is not None:
                return lambda doc: not inner(doc)
            return inner
        if name == "SubQuery":
            return self._query(_first(node, "OrQuery") or _first(node, "NestedQuery"))
        if name == "NestedQuery":
            if _first(node, "OrQuery") is not None:
                raise NotImplementedError("nested field:{...} queries")
            return self._query(_first(node, "Expression"))
        if name == "Expression":
            return self._query(kids[0])
        if name == "FieldRangeExpression":
            return self._range(self._field(_first(node, "Field")), node)
        if name == "FieldValueExpression":
            field = self._field(_first(node, "Field"))
            return self._values(field, _first(node, "ListOfValues"))
        if name == "ValueExpression":
            raise NotImplementedError("free-text queries without a field")
        raise AssertionError(f"unexpected node {name}")

    def _values(self, field: str, node: Node) -> Predicate:
        name = node.expr_name
        kids = _named(node)
        if name in ("ListOfValues",):
            inner = _first(node, "OrListOfValues") or _first(node, "Value")
            return self._values(field, inner)
        if name in ("OrListOfValues", "AndListOfValues"):
            wanted = "AndListOfValues" if name == "OrListOfValues" else "NotListOfValues"
            parts = [self._values(field, k) for k in kids if k.expr_name == wanted]
            combine = any if name == "OrListOfValues" else all
            return lambda doc: combine(p(doc) for p in parts)
        if name == "NotListOfValues":
            inner = self._values(field, _first(node, "ListOfValues"))
            if _first(node, "Not") is not None:
                return lambda doc: not inner(doc)
            return inner
        if name == "Value":
            return self._term(field, kids[0])
        raise AssertionError(f"unexpected node {name}")

    # -- values ------------------------------------------------------------------------------
    def _term(self, field: str, node: Node) -> Predicate:
        parts = self._parts(node)
        if node.expr_name == "UnquotedLiteral" and parts and all(p is WILDCARD for p in parts):
            return lambda doc: bool(field_values(doc, field))
        kind = self.types.get(field, "keyword")
        if WILDCARD in parts and node.expr_name == "UnquotedLiteral":
            if kind != "keyword":
                raise NotImplementedError(f"wildcard on {kind} field {field}")
            pattern = re.compile("".join(".*" if p is WILDCARD else re.escape(p) for p in parts), re.DOTALL)
            return lambda doc: any(
                isinstance(v, str) and pattern.fullmatch(v) for v in field_values(doc, field)
            )
        text = "".join("*" if p is WILDCARD else p for p in parts)
        return lambda doc: any(_equal(kind, v, text) for v in field_values(doc, field))

    def _range(self, field: str, node: Node) -> Predicate:
        op = _first(node, "RangeOperator").text
        bound = float(self._literal_text(_first(node, "Literal")))
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]
        return lambda doc: any(
            isinstance(v, (int, float)) and compare(float(v), bound) for v in field_values(doc, field)
        )

    def _field(self, node: Node) -> str:
        """A field name: the literal's text, quoted or not. An unquoted `*` would make it a pattern over
        the index's field names, which this walker does not implement (no backend writes one)."""
        while node.expr_name in ("Field", "Literal"):
            node = _named(node)[0]
        parts = self._parts(node)
        if WILDCARD in parts:
            raise NotImplementedError(f"field name patterns ({node.text})")
        return "".join(parts)

    def _literal_text(self, node: Node) -> str:
        while node.expr_name in ("Field", "Literal"):
            node = _named(node)[0]
        return "".join("*" if p is WILDCARD else p for p in self._parts(node))

    def _parts(self, node: Node) -> list[Any]:
        """The characters of a QuotedString or UnquotedLiteral, escapes resolved; `*` as WILDCARD."""
        if node.expr_name == "QuotedString":
            return [self._char(c) for c in _named(node) if c.expr_name == "QuotedCharacter"]
        chars = [self._char(c) for c in _named(node) if c.expr_name == "UnquotedCharacter"]
        while chars and chars[0] is not WILDCARD and chars[0] in JS_WHITESPACE:
            chars.pop(0)
        while chars and chars[-1] is not WILDCARD and chars[-1] in JS_WHITESPACE:
            chars.pop()
        return chars

    def _char(self, node: Node) -> Any:
        kids = _named(node)
        if not kids:  # a plain character, or a backslash escape inside quotes
            text = node.text
            return text[1] if len(text) == 2 and text[0] == "\\" else text
        kid = kids[0]
        if kid.expr_name == "Wildcard":
            return WILDCARD
        if kid.expr_name == "EscapedWhitespace":
            return {"\\t": "\t", "\\r": "\r", "\\n": "\n"}[kid.text]
        if kid.expr_name == "EscapedUnicodeSequence":
            return chr(int(kid.text[2:], 16))
        if kid.expr_name in ("EscapedSpecialCharacter", "EscapedKeyword"):
            return kid.text[1:]
        return node.text  # a character that merely passed the !SpecialCharacter !Keyword checks


def _equal(kind: str, value: Any, text: str) -> bool:
    if kind == "long":
        try:
            return isinstance(value, (int, float)) and float(value) == float(text)
        except ValueError:
            return False
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
