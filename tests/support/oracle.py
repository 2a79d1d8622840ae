"""A reference evaluator of Sigma semantics over raw Azure Activity Log records.

Written from the Sigma specification (detection items, value modifiers, condition syntax), for the
tests only: it shares no code with the query emitters (nor with pySigma's rule parsing), so an emitter
and the oracle agreeing means two independent readings of the rule agree.

Semantics: strings match case-insensitively unless `cased`; `*` matches any run of characters, `?`
exactly one, and a backslash makes `*`, `?` or `\\` literal (before anything else it is a plain
backslash); a list of values is OR-ed (AND-ed with `all`); the items of a map are AND-ed, the maps of
a list OR-ed; `exists` asks whether the field is present; `null` matches a missing or null field.

Lists in records (the project's definition, README "Lists of objects"): `a[].b` names `b` in every
element of the list `a`, and a condition on it holds when it holds for any element; a field whose value
is a list holds a value when any element does, or when the list's JSON text does (`[]` is the empty
list); an object is compared as its JSON text (compact, as Kusto's tostring writes it). A keyword (a
value without a field) matches when any value anywhere in the record contains it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from support import asn

Record = dict[str, Any]
MISSING = object()
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _caller(record: Record) -> Any:
    """The event schema's caller: the UPN claim, else the caller's object id (Microsoft's definition)."""
    identity = record.get("identity")
    claims = identity.get("claims") if isinstance(identity, dict) else None
    claims = claims if isinstance(claims, dict) else {}
    return claims.get(UPN) or claims.get(OBJECT_ID) or MISSING


ENRICHMENTS: dict[str, Callable[[Record], Any]] = {
    # Not fields of the exported record: the autonomous system of callerIpAddress, from the test ASN
    # database, and the caller and resource provider of the Activity Log event schema.
    "callerIpAddressAsn": lambda r: (asn.lookup(r.get("callerIpAddress", "")) or (MISSING, None))[0],
    "callerIpAddressAsOrganization": lambda r: (asn.lookup(r.get("callerIpAddress", "")) or (None, MISSING))[
        1
    ],
    "caller": _caller,
    # The resource's provider (event schema): the namespace after resourceId's first /providers/.
    "resourceProviderName": lambda r: next(
        iter(re.findall(r"(?i)/providers/([^/]+)", str(r.get("resourceId", "")))), MISSING
    ),
}


# Keys whose values Entra writes as JSON text: the rule means the value, so the decoded value counts too.
JSON_TEXT = {"newValue", "oldValue"}


def _decoded(text: Any) -> list[Any]:
    """The value JSON text holds (a string, or each item of a list), or nothing if it is no JSON."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return []
    return value if isinstance(value, list) else [] if value is None else [value]


class Elements(list):
    """The values a path through lists reaches, one per element: a condition holds if it holds for any."""


def resolve(record: Record, field: str) -> Any:
    """A field's value: a dotted path into the record, where a key may itself hold dots (claim URLs);
    `[]` after a name steps into each element of the list it names."""
    if field in ENRICHMENTS:
        return ENRICHMENTS[field](record)
    if "[]" in field:
        head, _, tail = field.partition("[]")
        items = resolve(record, head)
        items = items if isinstance(items, list) else []
        if not tail:
            return Elements(items)
        found = Elements()
        for item in items:
            value = resolve(item, tail.removeprefix(".")) if isinstance(item, dict) else MISSING
            if isinstance(value, Elements):
                found.extend(value)
            elif value is not MISSING:
                found.append(value)
                if tail.removeprefix(".") in JSON_TEXT:
                    found.extend(_decoded(value))
        return found
    node: Any = record
    rest = field
    while True:
        if not isinstance(node, dict):
            return MISSING
        if rest in node:
            return node[rest]
        for i in range(len(rest) - 1, 0, -1):  # the longest key that prefixes the rest
            if rest[i] == "." and rest[:i] in node:
                node, rest = node[rest[:i]], rest[i + 1 :]
                break
        else:
            return MISSING


def pattern(value: str, cased: bool) -> re.Pattern[str]:
    """A Sigma string as a regular expression matching the whole value."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append({"*": ".*", "?": "."}.get(c, re.escape(c)))
        i += 1
    return re.compile("".join(out), re.DOTALL | (0 if cased else re.IGNORECASE))


class SigmaRule:
    """`matches(record)` evaluates the rule's detection on one raw record."""

    def __init__(self, detection: dict[str, Any]) -> None:
        self.detections = {k: v for k, v in detection.items() if k != "condition"}
        self.condition = _Condition(str(detection["condition"]), set(self.detections))

    def matches(self, record: Record) -> bool:
        return self.condition.evaluate(lambda name: self._detection(self.detections[name], record))

    def _detection(self, definition: Any, record: Record) -> bool:
        if isinstance(definition, list) and all(isinstance(d, dict) for d in definition):
            return any(self._detection(d, record) for d in definition)
        if isinstance(definition, dict):
            return all(self._item(key, values, record) for key, values in definition.items())
        keywords = definition if isinstance(definition, list) else [definition]
        return any(_match(Elements(_leaves(record)), k, ["contains"]) for k in keywords)

    def _item(self, key: str, values: Any, record: Record) -> bool:
        field, *modifiers = key.split("|")
        value = resolve(record, field)
        values = values if isinstance(values, list) else [values]
        if "exists" in modifiers:
            if isinstance(value, Elements):
                return any(v is not None for v in value) == bool(values[0])
            return (value is not MISSING and value is not None) == bool(values[0])
        combine = all if "all" in modifiers else any
        return combine(_match(value, v, modifiers) for v in values)


def _match(value: Any, expected: Any, modifiers: list[str]) -> bool:
    if expected is None:
        return value is MISSING or value is None
    if value is MISSING or value is None:
        return False
    if isinstance(value, Elements):
        return any(_match(v, expected, modifiers) for v in value)
    if isinstance(value, list):
        return _match(_json(value), expected, modifiers) or any(_match(v, expected, modifiers) for v in value)
    if isinstance(value, dict):
        return _match(_json(value), expected, modifiers)
    compare = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    for modifier, method in compare.items():
        if modifier in modifiers:
            number = _number(value)
            return number is not None and getattr(number, method)(float(expected))
    if "cidr" in modifiers:
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(expected)
        except ValueError:
            return False
    if "re" in modifiers:
        flags = (re.IGNORECASE if "i" in modifiers else 0) | (re.MULTILINE if "m" in modifiers else 0)
        flags |= re.DOTALL if "s" in modifiers else 0
        return isinstance(value, str) and re.search(expected, value, flags) is not None
    if isinstance(expected, bool) or isinstance(value, bool):
        return str(value).lower() == str(expected).lower()
    if isinstance(expected, (int, float)):
        number = _number(value)
        return number is not None and number == expected
    text = str(expected)
    if "contains" in modifiers:
        text = f"*{text}*"
    elif "startswith" in modifiers:
        text = f"{text}*"
    elif "endswith" in modifiers:
        text = f"*{text}"
    return pattern(text, "cased" in modifiers).fullmatch(str(value)) is not None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _leaves(node: Any) -> list[Any]:
    """Every value in a record that is not an object or a list: what a keyword is searched in."""
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v)]
    return [] if node is None else [node]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Condition:
    """Sigma condition syntax: names (with * patterns), not, and, or, parentheses, 1 of / all of."""

    token = re.compile(r"\s*(\(|\)|[A-Za-z0-9_*]+)")

    def __init__(self, text: str, names: set[str]) -> None:
        self.names = names
        self.tokens = [m.group(1) for m in self.token.finditer(text)]
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unparsed condition: {self.tokens[self.pos :]}")

    def evaluate(self, detection: Callable[[str], bool]) -> bool:
        return self._eval(self.tree, detection)

    def _eval(self, node: tuple, detection: Callable[[str], bool]) -> bool:
        kind, *args = node
        if kind == "name":
            return detection(args[0])
        if kind == "not":
            return not self._eval(args[0], detection)
        if kind in ("and", "or"):
            return (all if kind == "and" else any)(self._eval(a, detection) for a in args)
        quantifier, names = args  # "of"
        return (any if quantifier == "1" else all)(detection(n) for n in names)

    def _peek(self) -> str | None:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else None

    def _next(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _or(self) -> tuple:
        return self._chain("or", self._and)

    def _and(self) -> tuple:
        return self._chain("and", self._not)

    def _chain(self, operator: str, operand: Callable[[], tuple]) -> tuple:
        """Operands joined by one binary operator; the operand parser binds tighter."""
        args = [operand()]
        while self._peek() == operator:
            self._next()
            args.append(operand())
        return (operator, *args) if len(args) > 1 else args[0]

    def _not(self) -> tuple:
        if self._peek() == "not":
            self._next()
            return ("not", self._not())
        return self._atom()

    def _atom(self) -> tuple:
        token = self._next()
        if token == "(":
            node = self._or()
            assert self._next() == ")"
            return node
        if token.lower() in ("1", "all", "any") and self._peek() == "of":
            self._next()
            target = self._next()
            wanted = re.compile(re.escape(target).replace(r"\*", ".*"))
            names = sorted(n for n in self.names if target == "them" or wanted.fullmatch(n))
            return ("of", "1" if token.lower() in ("1", "any") else "all", names)
        if token not in self.names:
            raise ValueError(f"condition names {token!r}, which the detection does not define")
        return ("name", token)
