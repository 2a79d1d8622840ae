"""Runs EQL queries on documents with Elasticsearch's semantics, over the raw tree of Elastic's parser.

The eql library's own engine compares every string case-insensitively and its parsed form folds
`in~` into `==` and `:`/`like`/`like~` into wildcard(), so it cannot tell `==` from `:`. This walker
reads the raw lark tree (`eql.parser.lark_parser`), which keeps the operators, and applies
Elasticsearch EQL's rules: `==`, `in` and `like` are case-sensitive, `:`, `in~` and `like~` are not;
`*` and `?` are wildcards in `:` and `like`, with no escape for them (Elasticsearch's toLikePattern);
`regex` is a Lucene regular expression matched against the whole value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import eql
from eql.parser import elasticsearch_syntax, lark_parser
from lark import Token, Tree

from support.grammars import EQL_BACKTICK, for_eql_library
from support.kql_eval import field_values

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
FIELD_PART = re.compile(r"`([^`]*)`|([A-Za-z_][A-Za-z0-9_]*)")
FIELD = re.compile(rf"\s*(?:{FIELD_PART.pattern})(?:\s*\.\s*(?:{FIELD_PART.pattern}))*")
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def parse(query: str) -> Tree:
    query = for_eql_library(query)  # a doubled backtick in a quoted name (support/grammars.py)
    with elasticsearch_syntax:
        eql.parse_query(query)  # the library's own checks (syntax, types) first
        return lark_parser.parse(query, start="piped_query")


def string(token: str) -> str:
    """The value of an EQL string literal ("..." with escapes, or a raw \"\"\"...\"\"\")."""
    if token.startswith('"""'):
        return token[3:-3]
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
        elif body[i + 1] == "u":
            end = body.index("}", i)
            out.append(chr(int(body[i + 3 : end], 16)))
            i = end + 1
        else:
            out.append(ESCAPES[body[i + 1]])
            i += 2
    return "".join(out)


class EqlQuery:
    """`matches(doc)` for an `any where ...` query."""

    def __init__(self, query: str) -> None:
        tree = parse(query)
        event = next(tree.find_data("event_query"))
        name, condition = event.children
        assert str(name.children[0]) == "any", "only `any where` queries"
        self.matches: Predicate = self._expr(condition)

    def _expr(self, node: Tree) -> Predicate:
        kind = node.data
        if kind in ("and_expr", "or_expr"):
            parts = [self._expr(c) for c in node.children if isinstance(c, Tree)]
            combine = all if kind == "and_expr" else any
            return lambda doc: combine(p(doc) for p in parts)
        if kind == "not_expr":
            inner = self._expr(node.children[-1])
            return lambda doc: not inner(doc)
        if kind == "comparison":
            return self._comparison(node)
        if kind == "string_predicate":
            return self._string_predicate(node)
        if kind == "in_set":
            return self._in_set(node)
        if kind == "function_call":
            return self._function(node)
        raise NotImplementedError(f"EQL node {kind}")

    def _field(self, node: Tree) -> str:
        """The field's name: its dotted parts, each a name or a backticked name, joined by dots (as
        Elasticsearch's qualifiedName joins them); a doubled backtick is one backtick."""
        token = "".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token))).lstrip("?")
        if not FIELD.fullmatch(token):
            raise NotImplementedError(f"EQL field {token}")
        parts = FIELD_PART.findall(token)
        return ".".join(quoted or bare for quoted, bare in parts).replace(EQL_BACKTICK, "`")

    def _literal(self, node: Tree) -> Any:
        (child,) = node.children
        if isinstance(child, Tree) and child.data == "null":
            return None
        token = child.children[0] if isinstance(child, Tree) else child
        kind = child.data if isinstance(child, Tree) else child.type
        if kind == "string":
            return string(str(token))
        if kind == "number":
            return float(str(token))
        if kind == "boolean":
            return str(token) == "true"
        raise NotImplementedError(f"EQL literal {kind}")

    def _comparison(self, node: Tree) -> Predicate:
        left, op, right = node.children
        field, value = self._field(left), self._literal(right)
        op = str(op)
        if value is None:
            present = lambda doc: bool(field_values(doc, field))  # noqa: E731
            return present if op == "!=" else (lambda doc: not present(doc))
        compare = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]

        def check(doc: Doc) -> bool:
            for v in field_values(doc, field):
                if isinstance(value, bool) or isinstance(v, bool):  # a boolean field compares booleans
                    if isinstance(value, bool) and isinstance(v, bool) and compare(v, value):
                        return True
                elif isinstance(value, float) and isinstance(v, (int, float)) and not isinstance(v, bool):
                    if compare(float(v), value):
                        return True
                elif (
                    isinstance(value, str)
                    and isinstance(v, str)
                    and compare(v, value)
                    or isinstance(value, str)
                    and _is_ip(v)
                    and _is_ip(value)
                    and compare(_ip(v), _ip(value))
                ):
                    return True
            return False

        return check

    def _string_predicate(self, node: Tree) -> Predicate:
        field_node, op, *values = node.children
        field, op = self._field(field_node), str(op)
        patterns = [self._literal(v) for v in values]
        insensitive = op in (":", "like~", "regex~")
        if op.startswith("regex"):
            flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
            compiled = [re.compile(lucene_to_python(p), flags) for p in patterns]
        else:
            compiled = [_wildcard(p, insensitive) for p in patterns]
        return lambda doc: any(
            isinstance(v, str) and c.fullmatch(v) for v in field_values(doc, field) for c in compiled
        )

    def _in_set(self, node: Tree) -> Predicate:
        field_node, op, expressions = node.children
        field, insensitive = self._field(field_node), str(op).endswith("~")
        wanted = {_fold(self._literal(e), insensitive) for e in expressions.children}
        return lambda doc: any(_fold(v, insensitive) in wanted for v in field_values(doc, field))

    def _function(self, node: Tree) -> Predicate:
        name, expressions = node.children
        if str(name) != "cidrMatch":
            raise NotImplementedError(f"EQL function {name}")
        field_node, *ranges = expressions.children
        field = self._field(field_node)
        networks = [ipaddress.ip_network(self._literal(r)) for r in ranges]
        return lambda doc: any(
            _is_ip(v) and any(_ip(v) in n for n in networks) for v in field_values(doc, field)
        )


def lucene_to_python(pattern: str) -> str:
    """A Lucene RegExp as a Python one: a backslash makes any character literal (\\d is a "d"), ^ and $
    are characters, not anchors; the operators our output never holds are refused."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
        elif c in "^$":
            out.append("\\" + c)
        elif c in '#@&~<>"':
            raise NotImplementedError(f"Lucene operator {c!r}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _wildcard(pattern: str, insensitive: bool) -> re.Pattern[str]:
    regex = "".join({"*": ".*", "?": "."}.get(c, re.escape(c)) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if insensitive else 0))


def _fold(value: Any, insensitive: bool) -> Any:
    return value.lower() if insensitive and isinstance(value, str) else value


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(value)
