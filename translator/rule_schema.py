"""The shape of a rule file, checked before pySigma sees it (data/sigma_rule.schema.json).

pySigma checks some types and not others: `references: [[a]]` reached the Kibana JSON as a list, and
`fields: [[a]]` raised a TypeError deep in a backend. A JSON schema states every attribute's type in one
place, and fastjsonschema checks it in microseconds per rule.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema

# What a failed keyword means, where fastjsonschema's own words are vague.
_REASONS = {
    "not": "must not hold control characters (line breaks, tabs and the like)",
    "pattern": "must not be blank",
    "anyOf": (
        "must be a map of field names to a value or a list of values, a list of such maps, or "
        "keywords; values are strings, numbers, booleans or null, and field names hold no control "
        "characters"
    ),
}
_CONDITION = "must be a condition or a list of conditions, each at most 4096 characters"
_TYPES = {"string": "a string", "array": "a list", "object": "a map", "number": "a number"}


@cache
def compiled_schema(name: str) -> Callable[[Any], Any]:
    """A JSON schema of translator/data compiled once to a Python check (the rule's, the config's)."""
    schema = importlib.resources.files("translator") / "data" / name
    return fastjsonschema.compile(json.loads(schema.read_text(encoding="utf-8")))


def check_shape(data: dict[str, Any]) -> None:
    """Raise ValueError naming the attribute whose value has the wrong shape or type."""
    try:
        compiled_schema("sigma_rule.schema.json")(data)
    except fastjsonschema.JsonSchemaValueException as e:
        where = _where(e.path or [])
        if where == "detection.condition":
            reason = _CONDITION
        elif e.rule == "required":
            reason = "must have " + ", ".join(n for n in e.rule_definition if n not in e.value)
        elif e.rule == "type":
            reason = f"must be {_TYPES.get(e.rule_definition, e.rule_definition)}"
        else:
            reason = _REASONS.get(e.rule or "") or e.message.split(" ", 1)[1]
        raise ValueError(f"{where or 'the rule'} {reason}") from None


def _where(path: list[str]) -> str:
    """`detection.selection`, `references[0]`: the attribute as a rule author writes it."""
    out = ""
    for part in path[1:]:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out
