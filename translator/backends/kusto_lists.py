"""Conditions on lists: "any element holds it", computed per row with Kusto's mv-apply.

A condition on a path through a list (`TargetResources[].type`) holds when it holds for any element
(README, "Lists of objects"). Kusto has no scalar "any" over an array, so each such condition becomes
one stage, `mv-apply ... on (summarize _anyN = countif(...))`, that adds the number of elements holding
it to the row; the rule's condition reads `_anyN > 0`. So NOT and OR keep their meaning ("no element
holds it" is `not(_anyN > 0)`), and each stage ends in a summarize without groups, which yields exactly
one row per row: rows are never repeated. mv-expand makes no row for an empty list, and what mv-apply
then does with the row is not documented, so each list is expanded behind a leading null (index 0) that
keeps the row and never counts. Nested lists nest the stages.

The pipeline says which values are lists and which hold JSON text (`Shapes`); a condition on such a
value as a whole also holds when it holds for any element, or for the decoded JSON, as for the raw
record (a list holds a value when its JSON text or any element does). A key missing from a dynamic
value reads as "" once written as a string, so a condition that "" holds needs the key there too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from sigma.types import SigmaString, SpecialChars

from translator.backends.kusto_columns import Column, element

Predicate = Callable[[Column], str]  # renders a condition on one value


@dataclass(frozen=True)
class Shapes:
    """Values (named as the pipeline maps fields, `TargetResources[].modifiedProperties`) that hold a
    JSON list, and string values that hold JSON text."""

    lists: frozenset[str] = frozenset()
    json_text: frozenset[str] = frozenset()


@dataclass
class Scope:
    """Where stages go: the query itself (depth 0), or the subquery of an enclosing mv-apply."""

    names: Iterator[int] = field(default_factory=lambda: count(1))
    depth: int = 0
    stages: list[str] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)  # the columns this scope's stages add

    def any(self, array: str, holds: Callable[[Scope, Column], str]) -> str:
        """Add a stage counting the elements of `array` that `holds`; the condition that one does."""
        inner = Scope(self.names, self.depth + 1)
        variable, index = f"_e{inner.depth}", f"_i{inner.depth}"
        body = holds(inner, element(variable, ()))
        name = f"_any{next(self.names)}"
        summarize = f"summarize {name} = countif({index} > 0 and {group(body)})"
        self.stages.append(
            f"mv-apply with_itemindex={index} {variable} = array_concat(dynamic([null]), {array}) on "
            f"({' | '.join([*inner.stages, summarize])})"
        )
        self.counts.append(name)
        return f"{name} > 0"


def condition(scope: Scope, column: Column, shapes: Shapes, predicate: Predicate, views: bool) -> str:
    """The condition on `column`, along its lists; with `views`, also on the whole value's other forms
    (elements of a list, decoded JSON text), where the pipeline says the value has them."""
    return group(
        _along(scope, column, 0, Column(column.root, column.path, column.type), shapes, predicate, views)
    )


def _along(
    scope: Scope, column: Column, level: int, value: Column, shapes: Shapes, predicate: Predicate, views: bool
) -> str:
    if level == len(column.lists):
        return _views(scope, value, column.name, shapes, predicate) if views else predicate(value)
    path = column.lists[level]
    return scope.any(
        value.dynamic,
        lambda inner, item: _along(
            inner, column, level + 1, element(item.root, path), shapes, predicate, views
        ),
    )


def _views(scope: Scope, value: Column, name: str, shapes: Shapes, predicate: Predicate) -> str:
    options = [predicate(value)]
    if name in shapes.json_text:
        decoded = Column(f"todynamic({value.string})", (), "dynamic")
        options.append(f"(isnotnull({decoded.text}) and {predicate(decoded)})")
        options.append(scope.any(decoded.text, lambda _, item: predicate(item)))
    if name in shapes.lists:
        options.append(scope.any(value.dynamic, lambda _, item: predicate(item)))
    return " or ".join(group(o) for o in options) if len(options) > 1 else options[0]


def group(text: str) -> str:
    """A condition that stays one term inside an `and`: an `or` (pySigma's, or of views) in parentheses."""
    return f"({text})" if " or " in text else text


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f-\U0010ffff]')


def matches_empty(value: Any) -> bool:
    """Whether a Sigma string matches the empty string: it is empty, or nothing but `*`."""
    return isinstance(value, SigmaString) and all(p in ("", SpecialChars.WILDCARD_MULTI) for p in value.s)


def in_text(value: Any) -> bool:
    """Whether a value found in an element or the decoded form of a list or JSON text is always found
    in its JSON text too: a pattern `*...*` of text JSON writes as it is (no quote, backslash, control
    or non-ASCII character) and no `?`."""
    if not isinstance(value, SigmaString) or len(value) < 2:
        return False
    multi = SpecialChars.WILDCARD_MULTI
    return (
        value.startswith(multi)
        and value.endswith(multi)
        and all(p is multi or (isinstance(p, str) and not _JSON_ESCAPED.search(p)) for p in value.s)
    )
