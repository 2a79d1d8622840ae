"""Runs Kibana KQL on documents: a walker over the kibana-ql parse tree with Elasticsearch semantics.

It shares no code with the KQL backend. A quoted value is a phrase, an unquoted value without `*` a
match, with `*` a wildcard (a value that is only `*` is an exists query); unquoted values are trimmed.
What a value matches depends on the stored field's type (support/kql_fields.py: keyword, flattened keys,
text, long, ip, boolean); a field name with `*` is a pattern over the document's fields, and a value
without a field searches the default fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parsimonious.nodes import Node

from support.grammars import parse_kibana_kql
from support.kql_fields import WILDCARD, QueryFailure, StoredFields, field_values, wildcard_regex

__all__ = ["JS_WHITESPACE", "KqlQuery", "QueryFailure", "field_values"]

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
JS_WHITESPACE = (  # what JavaScript's trim() removes
    " \t\n\r\v\f\u00a0\ufeff\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _named(node: Node) -> list[Node]:
    out = []
    for child in node.children:
        out.extend([child] if child.expr_name else _named(child))
    return out


def _first(node: Node, name: str) -> Node | None:
    return next((n for n in _named(node) if n.expr_name == name), None)


class FieldPattern(str):
    """A field name written with an unquoted `*`: a pattern over the index's field names."""


class KqlQuery:
    """A parsed query; `matches(doc)` evaluates it. `types` gives non-keyword field types (flattened
    roots included), `multi_fields` each multi-field's source field."""

    def __init__(self, query: str, types: dict[str, str], multi_fields: dict[str, str] | None = None) -> None:
        self.fields = StoredFields(types, multi_fields)
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
            value = _named(_first(node, "Value"))[0]
            parts = self._parts(value)
            return lambda doc: self.fields.free_text(doc, parts)
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
        parts, quoted = self._parts(node), node.expr_name == "QuotedString"
        if not isinstance(field, FieldPattern):
            return lambda doc: self.fields.matches(doc, field, parts, quoted)
        pattern = wildcard_regex([WILDCARD if c == "*" else c for c in field])
        return lambda doc: any(
            self.fields.matches(doc, f, parts, quoted) for f in self.fields.expand(doc, pattern)
        )

    def _range(self, field: str, node: Node) -> Predicate:
        op = _first(node, "RangeOperator").text
        bound = float(self._literal_text(_first(node, "Literal")))
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]
        if self.fields.flattened_root(field):
            raise QueryFailure(
                f"[range] queries on keyed [flattened] fields must include both bounds ({field})"
            )
        return lambda doc: any(
            isinstance(v, (int, float)) and compare(float(v), bound) for v in field_values(doc, field)
        )

    def _field(self, node: Node) -> str:
        """A field name: the literal's text, quoted or not; an unquoted `*` makes it a FieldPattern (a
        quoted name is always a name, its `*` a character)."""
        while node.expr_name in ("Field", "Literal"):
            node = _named(node)[0]
        parts = self._parts(node)
        if WILDCARD in parts:
            return FieldPattern("".join("*" if p is WILDCARD else p for p in parts))
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
