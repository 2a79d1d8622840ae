"""A rule's conditions, parsed by pySigma once per distinct text and copied for each use.

Why: pySigma parses each condition text once (an LRU cache) but hands out a copy.deepcopy of that parse
tree every time a condition is read, because postprocessing changes the tree it is given; a rule is
read four times (the loader and each target), and the deep copy was a twentieth of a rule's compile.

Why the cheaper copy is the same: before postprocessing, a parse tree holds only ConditionAND, OR and
NOT (their `args` further nodes or None), and ConditionIdentifier and ConditionSelector (their `args`
strings); `parent` and `source` are None. Postprocessing only sets `parent` and `source` on a node and
gives it a new `args` list; it never changes a string or an args list in place. So a new object per
node with the same attributes and a new `args` list shares nothing postprocessing changes. Anything
else in a tree is deep-copied as before. tests/test_conditions.py compares the copies with pySigma's on
every condition of the project's rules and golden cases, and checks that the cached tree never changes.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from sigma.conditions import ConditionIdentifier, ConditionItem, ConditionSelector, SigmaCondition
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

CACHED_LENGTH = 4096  # a longer condition text is not kept in the cache (bounded memory): pySigma parses it


class CopiedCondition(SigmaCondition):
    """SigmaCondition whose parse copies the cached tree with `copy_tree` (module docstring).

    `reuse_once` (targets.Processed.adopt): the next parse gives the condition tree the last one made,
    instead of making it again from the same searches. The same: a conversion only reads the tree and
    the searches, and postprocessing set the searches' parents to that tree's nodes, as a new one would.
    """

    last: Any = None  # the last postprocessed tree
    reuse: bool = False

    def parse(self, postprocess: bool = True) -> Any:
        if self.reuse:
            self.reuse = False
            if postprocess and self.last is not None:
                return self.last
        tree = parsed_tree(self.condition) if len(self.condition) <= CACHED_LENGTH else None
        if tree is None:  # refused by pySigma (its parse raises the error, as it always did), or long
            result = super().parse(postprocess)
        else:
            copied = copy_tree(tree)
            result = copied.postprocess(self.detections, source=self.source) if postprocess else copied
        if postprocess:
            self.last = result
        return result

    def reuse_once(self) -> None:
        self.reuse = True


def use_copied_conditions(rule: SigmaRule) -> None:
    """Make the rule's conditions CopiedConditions; called on a rule pySigma has just made."""
    rule.detection.parsed_condition = [
        CopiedCondition(c.condition, c.detections, c.source) for c in rule.detection.parsed_condition
    ]


@lru_cache(maxsize=1024)
def parsed_tree(condition: str) -> Any:
    """pySigma's parse tree of a condition text, not postprocessed; None if pySigma cannot parse it.
    Never handed out: only copies of it (copy_tree) are."""
    try:
        return SigmaCondition(condition, None).parse(postprocess=False)  # type: ignore[arg-type]
    except SigmaError:
        return None


def copy_tree(item: Any) -> Any:
    """A copy of a parse tree sharing nothing that postprocessing changes (module docstring)."""
    if type(item) is ConditionIdentifier or type(item) is ConditionSelector:
        copied = _node(item)
        copied.args = list(item.args)
        return copied
    if isinstance(item, ConditionItem) and type(item).postprocess is ConditionItem.postprocess:
        copied = _node(item)
        copied.args = [arg if arg is None else copy_tree(arg) for arg in item.args]
        return copied
    return copy.deepcopy(item)


def _node(item: Any) -> Any:
    copied = object.__new__(type(item))
    copied.__dict__.update(item.__dict__)
    return copied
