"""A condition's parse tree copied by copy_tree is copy.deepcopy's, and the cached tree never changes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sigma.conditions import SigmaCondition
from sigma.exceptions import SigmaConditionError

from support.cases import case_rule, load_cases
from translator.conditions import CACHED_LENGTH, CopiedCondition, copy_tree, parsed_tree
from translator.model import sigma_rule
from translator.rule_file import discover, parse_yaml, read_rule

CONDITIONS = [
    "selection",
    "selection and not filter",
    "1 of selection_* and not 1 of filter_*",
    "all of them",
    "any of sel* or (a and (b or not (c and d)))",
    "not not a",
    "(a)",
    "a or b or c and d",
]


def _rules(root: Path) -> list[Any]:
    rules_dir = root / "sigma"
    mappings = [parse_yaml(read_rule(path, rules_dir))[0] for path in discover(rules_dir)]
    return [sigma_rule(data) for data in mappings + [case_rule(case) for case in load_cases()]]


def _tree_shape(item: Any) -> Any:
    """The tree as nested tuples, with each node's class and every attribute but its parent."""
    if isinstance(item, list):
        return [_tree_shape(i) for i in item]
    if hasattr(item, "__dict__") and not isinstance(item, type):
        fields = {k: _tree_shape(v) for k, v in vars(item).items() if k != "parent"}
        parent = type(item.parent).__name__ if getattr(item, "parent", None) is not None else None
        return (type(item).__name__, parent, fields)
    return item


def test_every_condition_reads_as_pysigma_reads_it(root: Path) -> None:
    rules = _rules(root)
    assert rules
    for rule in rules:
        for condition in rule.detection.parsed_condition:
            assert isinstance(condition, CopiedCondition)
            plain = SigmaCondition(condition.condition, condition.detections, condition.source)
            assert _tree_shape(condition.parse(False)) == _tree_shape(plain.parse(False))
            assert condition.parsed == plain.parsed, condition.condition  # dataclass equality, leaves too


@pytest.mark.parametrize("text", CONDITIONS)
def test_a_copy_shares_nothing_postprocessing_changes(text: str) -> None:
    tree = parsed_tree(text)
    before = _tree_shape(copy.deepcopy(tree))
    copied = copy_tree(tree)
    assert _tree_shape(copied) == _tree_shape(copy.deepcopy(tree)) == before

    def nodes(item: Any) -> list[Any]:
        children = [c for a in getattr(item, "args", []) for c in nodes(a) if hasattr(a, "__dict__")]
        return [item, *children]

    originals = {id(n) for n in nodes(tree)} | {id(n.args) for n in nodes(tree)}
    assert not originals & ({id(n) for n in nodes(copied)} | {id(n.args) for n in nodes(copied)})
    for node in nodes(copied):  # what postprocessing does to each node
        node.parent, node.source, node.args = object(), object(), []
    assert _tree_shape(tree) == before


def test_a_condition_pysigma_refuses_is_refused_as_before() -> None:
    for text in ("a | count() > 1", "a and", "1 of"):
        assert parsed_tree(text) is None
        with pytest.raises(SigmaConditionError) as ours:
            CopiedCondition(text, None).parse()  # type: ignore[arg-type]
        with pytest.raises(SigmaConditionError) as theirs:
            SigmaCondition(text, None).parse()  # type: ignore[arg-type]
        assert str(ours.value) == str(theirs.value)


def test_a_long_condition_is_parsed_by_pysigma_and_not_cached() -> None:
    text = " or ".join(f"selection_{i}" for i in range(400))
    assert len(text) > CACHED_LENGTH
    before = parsed_tree.cache_info().currsize
    condition = CopiedCondition(text, None)  # type: ignore[arg-type]
    assert _tree_shape(condition.parse(False)) == _tree_shape(SigmaCondition(text, None).parse(False))  # type: ignore[arg-type]
    assert parsed_tree.cache_info().currsize == before


def test_reuse_once_gives_the_last_condition_tree_once() -> None:
    """What targets.Processed.adopt asks of a rule's conditions: the next parse, and only the next one,
    gives the tree the last parse made (with the searches' parents pointing into it); a parse before
    any, or without postprocessing, makes its own."""
    data = {
        "title": "reuse",
        "logsource": {"product": "azure", "service": "activitylogs"},
        "detection": {"a": {"x": 1}, "b": {"y": 2}, "condition": "a and not b"},
    }
    (condition,) = sigma_rule(data).detection.parsed_condition
    assert isinstance(condition, CopiedCondition)
    condition.reuse_once()
    first = condition.parse()  # nothing to reuse yet: made
    condition.reuse_once()
    assert condition.parse() is first
    again = condition.parse()
    assert again is not first and type(again) is type(first)
    condition.reuse_once()
    assert condition.parse(postprocess=False) is not again
    assert condition.parse() is not again  # the flag was spent by the parse before
