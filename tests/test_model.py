"""The custom attributes: durations, schedule and first_seen parsing, and their errors."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest

from support.cases import case_rule, load_cases
from translator.model import Duration, FirstSeen, Schedule, sigma_rule
from translator.plain_data import copy_plain
from translator.rule_file import discover, parse_yaml, read_rule


@pytest.mark.parametrize(
    ("text", "seconds", "back"),
    [
        ("30s", 30, "30s"),
        ("5m", 300, "5m"),
        ("60m", 3600, "1h"),
        ("7d", 604800, "7d"),
        ("36h", 129600, "36h"),
    ],
)
def test_duration_round_trip(text: str, seconds: int, back: str) -> None:
    assert Duration.parse(text, "x") == Duration(seconds)
    assert str(Duration(seconds)) == back


@pytest.mark.parametrize("text", ["", "5", "0m", "-5m", "5 m", "1w", 5, None, "1.5h"])
def test_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        Duration.parse(text, "x")


def test_schedule_defaults_follow_elastic() -> None:
    assert Schedule.from_attribute(None) == Schedule(Duration(300), Duration(360))
    assert Schedule.from_attribute({"interval": "1h"}) == Schedule(Duration(3600), Duration(3660))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"interval": "10m", "lookback": "5m"}, "at least schedule.interval"),
        ({"every": "5m"}, "interval and lookback"),
        ("5m", "interval and lookback"),
    ],
)
def test_schedule_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.from_attribute(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"fields": ["a"]}, "exactly fields and history"),
        ({"fields": [], "history": "7d"}, "non-empty list"),
        ({"fields": ["a", "a"], "history": "7d"}, "must not repeat"),
        ({"fields": "a", "history": "7d"}, "non-empty list"),
        ({"fields": ["a"], "history": "a week"}, "must be a duration"),
    ],
)
def test_first_seen_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FirstSeen.from_attribute(value)


def _containers(value: Any) -> list[Any]:
    """Every list and dict in a YAML mapping, itself included."""
    if isinstance(value, dict):
        return [value] + [c for v in value.values() for c in _containers(v)]
    if isinstance(value, list):
        return [value] + [c for v in value for c in _containers(v)]
    return []


def _reachable(root: object) -> set[int]:
    """The ids of every object reachable from `root` through attributes and container items."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, int, float, type(None), type)):
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
        elif hasattr(item, "__dict__"):
            stack += list(vars(item).values())
    return seen


def test_a_rule_shares_no_list_or_dict_with_its_mapping(root: Path) -> None:
    """sigma_rule copies only what SigmaRule.from_dict keeps of the mapping: nothing the rule holds, at
    any depth, is a list or dict of the mapping (a pipeline changing the rule would change it)."""
    rules_dir = root / "sigma"
    mappings = [parse_yaml(read_rule(path, rules_dir))[0] for path in discover(rules_dir)]
    mappings += [case_rule(case) for case in load_cases()]
    for data in mappings:
        rule = sigma_rule(data)
        shared = [c for c in _containers(data) if id(c) in _reachable(rule)]
        assert shared == [], data.get("title")


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in _containers(item))]
    return []


def test_copy_plain_is_deepcopy_for_plain_data(root: Path) -> None:
    """sigma_rule and Config.get copy with copy_plain: equal to copy.deepcopy, with no list or dict in
    common with the original, on every project rule and golden case and on awkward values; a value that
    is not plain data goes to deepcopy itself."""
    rules_dir = root / "sigma"
    values: list[Any] = [parse_yaml(read_rule(path, rules_dir))[0] for path in discover(rules_dir)]
    values += [case_rule(case) for case in load_cases()]
    values += [{}, [], [[], {}], {"a": [1, 2.5, True, None, "x", {"b": [{}]}]}, "s", 0, None]
    for value in values:
        copied = copy_plain(value)
        assert copied == copy.deepcopy(value) and type(copied) is type(value)
        assert not {id(c) for c in _containers(copied)} & {id(c) for c in _containers(value)}
    other = {"day": [datetime.date(2026, 1, 2)], "set": [{1, 2}]}
    copied = copy_plain(other)
    assert copied == other and copied["set"][0] is not other["set"][0]
