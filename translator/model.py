"""The rule model: a parsed Sigma rule plus the custom attributes Sigma has no construct for.

`schedule` and `first_seen` are kept by pySigma in `rule.custom_attributes`; this module turns them into
typed values once, so every backend reads the same facts (README, "The first-seen rule attributes").
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sigma.rule import SigmaDetection, SigmaRule

from translator.attack import Threat
from translator.conditions import use_copied_conditions
from translator.plain_data import copy_plain

_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, order=True)
class Duration:
    """A whole number of seconds, written the way Sigma authors and Kibana write it (`9m`, `7d`)."""

    seconds: int

    @classmethod
    def parse(cls, text: Any, what: str) -> Duration:
        match = _DURATION.match(str(text)) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"{what} must be a duration such as 5m, 1h or 7d, not {text!r}")
        return cls(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        """The shortest exact form in the largest unit: 7d, 64m, 90s (Kibana and Kusto read it)."""
        for unit in "dhms":
            size = _UNIT_SECONDS[unit]
            if self.seconds % size == 0:
                return f"{self.seconds // size}{unit}"
        raise AssertionError("unreachable: seconds divide every duration")

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.seconds + other.seconds)

    def __sub__(self, other: Duration) -> Duration:
        return Duration(self.seconds - other.seconds)


@dataclass(frozen=True)
class Schedule:
    """How often the rule runs and how far back each run looks (Elastic's interval and from)."""

    interval: Duration
    lookback: Duration

    @classmethod
    def from_attribute(cls, value: Any) -> Schedule:
        """Read the attribute; absent keys take Elastic's defaults (every 5m, over the last 6m)."""
        if value is None:
            value = {}
        if not isinstance(value, dict) or set(value) - {"interval", "lookback"}:
            raise ValueError("schedule must be a mapping with interval and lookback")
        interval = Duration.parse(value.get("interval", "5m"), "schedule.interval")
        lookback = Duration.parse(value.get("lookback", str(interval + Duration(60))), "schedule.lookback")
        if lookback < interval:
            raise ValueError("schedule.lookback must be at least schedule.interval, or runs leave gaps")
        return cls(interval, lookback)


@dataclass(frozen=True)
class FirstSeen:
    """Alert on the first event of each combination of `fields` not seen within `history`."""

    fields: tuple[str, ...]
    history: Duration

    @classmethod
    def from_attribute(cls, value: Any) -> FirstSeen | None:
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != {"fields", "history"}:
            raise ValueError("first_seen must be a mapping with exactly fields and history")
        fields = value["fields"]
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
            raise ValueError("first_seen.fields must be a non-empty list of field names")
        if len(set(fields)) != len(fields):
            raise ValueError("first_seen.fields must not repeat a field")
        return cls(tuple(fields), Duration.parse(value["history"], "first_seen.history"))


def guide_from_attribute(value: Any) -> str | None:
    """The investigation guide (Markdown) for analysts, carried into the rule files of each SIEM."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError("investigation_guide must be Markdown text")
    return value


def sigma_rule(data: dict[str, Any]) -> SigmaRule:
    """SigmaRule.from_dict(copy.deepcopy(data)): a rule that shares nothing a pipeline may change with
    `data`, without copying the searches, the bulk of a rule.

    from_dict keeps by reference only the top-level values (`fields`, `references`, the custom
    attributes: pySigma's add_field appends to rule.fields) and the detection's condition list, which
    are copied. The searches it only reads: each value becomes a new SigmaType in a new list
    (SigmaDetectionItem.from_mapping), each map and list of maps a new SigmaDetection; strings,
    numbers, booleans and null, all a search holds (rule_schema), are immutable. tests/test_model.py
    walks every rule made so and finds no list or dict of `data` in it.
    """
    detection = data.get("detection")
    if not isinstance(detection, dict):
        rule = SigmaRule.from_dict(copy_plain(data))
    else:
        copied = {key: copy_plain(value) for key, value in data.items() if key != "detection"}
        copied["detection"] = {
            name: copy_plain(search) if name == "condition" else search for name, search in detection.items()
        }
        rule = SigmaRule.from_dict(copied)
    use_copied_conditions(rule)  # each read of a condition copies its parse tree cheaply (conditions.py)
    return rule


def unlink(rule: SigmaRule) -> None:
    """Forget the parents that postprocessing a condition gives the rule's searches and their items: the
    rule is then, object for object, what sigma_rule makes (tests/test_lent.py), so that it can be lent
    to a conversion (Lent)."""
    stack: list[Any] = list(rule.detection.detections.values())
    while stack:
        item = stack.pop()
        item.__dict__.pop("parent", None)  # back to the class default, None
        if isinstance(item, SigmaDetection):
            stack += item.detection_items


# What a conversion changes on the rule it converts and nothing reads from RuleSource.rule afterwards:
# the searches and conditions (a target reads its own converted rule), pySigma's conversion records, and
# the `fields` list (which Lent.back puts back).
_CONVERSION_OWN = {"detection", "fields", "applied_processing_items", "errors", "_backreferences"}
_CONVERSION_OWN |= {"_conversion_result", "_conversion_states", "_output"}
_METADATA = tuple(f.name for f in dataclasses.fields(SigmaRule) if f.name not in _CONVERSION_OWN)


# Attribute values no one can change in place: kept as they are, not copied.
_IMMUTABLE = (str, int, float, type(None), uuid.UUID, date, enum.Enum)


def _metadata(rule: SigmaRule) -> list[Any]:
    """Shallow copies of the rule's other attributes: a copied list, dict or dataclass compares by its
    items, so an attribute changed in place is seen as one replaced is. Lists and dicts are copied by
    their constructors and immutable values kept, as copy.copy would (copy.copy of each takes 1.4 times
    as long)."""
    snapshot: list[Any] = []
    for name in _METADATA:
        value = getattr(rule, name)
        kind = type(value)
        if kind is list:
            value = list(value)
        elif kind is dict:
            value = dict(value)
        elif not isinstance(value, _IMMUTABLE):
            value = copy.copy(value)
        snapshot.append(value)
    return snapshot


@dataclass(frozen=True)
class RuleSource:
    """One parsed rule with where it came from; parsed once, rendered to every target from copies."""

    path: Path
    rel_path: PurePosixPath  # relative to the rules directory; output paths mirror it
    rule: SigmaRule
    schedule: Schedule
    first_seen: FirstSeen | None
    guide: str | None = None
    threat: Threat = Threat((), (), ())  # the ATT&CK mapping of its tags, and what it leaves out
    data: dict[str, Any] | None = None  # the YAML mapping `rule` was made from, untouched

    def fresh_rule(self) -> SigmaRule:
        """A rule a pipeline may change, equal to `rule` as loaded.

        Made again from the mapping `rule` came from (sigma_rule, as the loader made it): half the time
        of copy.deepcopy(rule), which a build pays once per rule and model.
        """
        if self.data is None:
            return copy.deepcopy(self.rule)
        return sigma_rule(self.data)

    @functools.cached_property
    def rule_id(self) -> str:
        return str(self.rule.id)

    @functools.cached_property  # read for every note and error; the rule it names never changes
    def label(self) -> str:
        return f"'{self.rule.title}' ({self.rule.id})"


@dataclass(frozen=True)
class Lent:
    """RuleSource.rule lent to the rule's last conversion instead of a fresh copy: one SigmaRule.from_dict
    less per rule (compile_rule).

    Why it is safe: the loaded rule is, object for object, what fresh_rule makes (the loader unlinks what
    its condition check set: tests/test_lent.py), and no conversion follows that would need it as
    loaded. What reads it afterwards (the rule files, the labels of notes) reads its metadata: `back`
    puts `fields` back, and where the conversion's pipelines changed anything else of it (renamed the
    title, changed the log source, set a custom attribute) gives a RuleSource with the rule made afresh.
    """

    source: RuleSource
    metadata: list[Any]
    fields: list[Any]

    @classmethod
    def of(cls, source: RuleSource) -> Lent | None:
        """None where the rule cannot be made afresh (no mapping): then it is not lent."""
        if source.data is None:
            return None
        return cls(source, _metadata(source.rule), list(source.rule.fields))

    def back(self) -> RuleSource:
        """The source the rule's files are built from, after the conversion."""
        rule = self.source.rule
        rule.fields = self.fields
        if _metadata(rule) == self.metadata:
            return self.source
        return dataclasses.replace(self.source, rule=self.source.fresh_rule())
