"""Where each part of a rule's condition runs in the Sentinel query.

The rule's condition is an AND of parts. Parts on the table's own columns filter first; the list stages
(kusto_lists) run on the rows left, and the parts that read their counts filter after them; the
lookups (kusto lookups of the pipeline, such as the ASN watchlist) run last, on the fewest rows, and the
parts that read their columns filter after them. A keyword search (`* contains`) reads every column of
its input, so it must not share a part with list counts or lookup columns, which it would search too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionValueExpression
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from translator.backends.kusto_lists import Scope


@dataclass
class Stages:
    """The rule's condition, split: each text is a `where` predicate, empty when no part goes there."""

    lists: Scope = field(default_factory=Scope)  # the list stages and the counts they add
    before: str = ""  # on the table's columns, before the list stages
    with_lists: str = ""  # reads list counts
    after_lookups: str = ""  # reads lookup columns
    lookup_columns: set[str] = field(default_factory=set)  # the lookup columns the condition reads
    fields: list[str] = field(default_factory=list)  # every field the condition reads, in order


def split(
    cond: Any,
    convert: Callable[[list[Any]], str],
    lookup_columns: Callable[[Any], set[str]],
    stages: Stages,
) -> None:
    """Fill `stages` from the rule's condition. `convert` renders an AND of parts (adding list stages
    to `stages.lists` as it goes); `lookup_columns` names the lookup columns a part reads."""
    before, with_lists, after = [], [], []
    for part in _conjuncts(cond):
        used = lookup_columns(part)
        count = len(stages.lists.stages)
        text = convert([part])
        lists = len(stages.lists.stages) > count
        if _has_keyword(part) and (used or lists):
            raise SigmaFeatureNotSupportedByBackendError(
                "a keyword search ORed or negated together with a condition on "
                + ("a lookup column" if used else "a list")
                + " would also search the columns those add; write them as separate conditions joined by and"
            )
        (after if used else with_lists if lists else before).append(text)
        stages.lookup_columns |= used
    stages.before, stages.with_lists, stages.after_lookups = (
        " and ".join(p) for p in (before, with_lists, after)
    )
    stages.fields = list(dict.fromkeys(fields(cond)))


def _conjuncts(cond: Any) -> list[Any]:
    if isinstance(cond, ConditionAND):
        return [c for arg in cond.args for c in _conjuncts(arg)]
    return [cond]


def fields(cond: Any) -> list[str]:
    """Every field a part of the condition reads."""
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return [cond.field]
    return [f for arg in getattr(cond, "args", []) for f in fields(arg)]


def _has_keyword(cond: Any) -> bool:
    if isinstance(cond, ConditionValueExpression):
        return True
    return any(_has_keyword(arg) for arg in getattr(cond, "args", []))
