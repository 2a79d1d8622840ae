"""Reading rule files into the rule model, with errors that name the file and the rule."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from sigma.conditions import ConditionIdentifier, ConditionItem, ConditionSelector, ParentChainMixin
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from translator.attack import attack
from translator.errors import RuleError
from translator.model import FirstSeen, RuleSource, Schedule, guide_from_attribute, sigma_rule, unlink
from translator.rule_file import parse_yaml, read_rule
from translator.rule_schema import check_shape

MAX_CONDITION_DEPTH = 32  # parentheses and `not`s; SigmaHQ's conditions nest at most 4 deep
# Each reference to a search in the condition repeats it in every query: `s and s and ...` over a large
# `s` would grow quadratically with the file. The searches' text, once per reference, is bounded.
MAX_EXPANDED_BYTES = 4 * 1024 * 1024


def _yaml_reason(error: yaml.YAMLError) -> str:
    """PyYAML's message on one line, with the place as a rule author reads it (line and column)."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return " ".join(str(error).split())
    text = ": ".join(part for part in (error.context, error.problem) if part)
    mark = error.problem_mark or error.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return " ".join(text.split()) + where


def _label(data: Any) -> str | None:
    if isinstance(data, dict) and (data.get("title") or data.get("id")):
        return f"'{data.get('title', '')}' ({data.get('id', 'no id')})"
    return None


def load_rule(
    path: Path, rules_dir: Path, text: str | None = None, rel_path: PurePosixPath | None = None
) -> RuleSource:
    """Parse one rule file (its `text` when already read), or raise RuleError. `rel_path`: its path
    under rules_dir, where the caller has it."""
    rel_path = rel_path or PurePosixPath(path.relative_to(rules_dir).as_posix())
    if text is None:
        text = read_rule(path, rules_dir)
    try:
        documents = [d for d in parse_yaml(text) if d is not None]
    except yaml.YAMLError as e:
        raise RuleError(path, f"invalid YAML: {_yaml_reason(e)}") from e
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise RuleError(path, "a rule file must hold exactly one YAML mapping (one Sigma rule)")
    data = documents[0]
    label = _label(data)
    try:
        check_shape(data)
        rule = sigma_rule(data)
        trees = _check_conditions(rule, data["detection"])
        for condition, tree in zip(rule.detection.parsed_condition, trees, strict=True):
            # As SigmaCondition.parsed does to a fresh parse, on the one _check_conditions made: a bad
            # condition is a load error, not a render error, and it is parsed once, not twice.
            tree.postprocess(rule.detection, source=condition.source)
        unlink(rule)  # what that postprocessing set, so the rule can be converted itself (model.Lent)
    except SigmaError as e:
        raise RuleError(path, f"invalid Sigma rule: {e}", label) from e
    except ValueError as e:
        raise RuleError(path, str(e), label) from e
    except RecursionError as e:
        raise RuleError(path, "the detection is nested too deeply to compile", label) from e
    if rule.id is None:
        raise RuleError(path, "the rule has no id; outputs and the manifest are keyed by it", label)
    try:
        schedule = Schedule.from_attribute(rule.custom_attributes.get("schedule"))
        first_seen = FirstSeen.from_attribute(rule.custom_attributes.get("first_seen"))
        guide = guide_from_attribute(rule.custom_attributes.get("investigation_guide"))
        threat = attack().threat(rule.tags)
    except ValueError as e:
        raise RuleError(path, str(e), label) from e
    return RuleSource(path, rel_path, rule, schedule, first_seen, guide, threat, data)


def _check_conditions(rule: SigmaRule, detection: dict[str, Any]) -> list[ParentChainMixin]:
    """Bound what the conditions expand to, before pySigma expands them (ValueError); the parse trees,
    not yet postprocessed (each a copy of its own)."""
    sizes = {
        name: len(json.dumps(search, ensure_ascii=False, default=str))
        for name, search in detection.items()
        if name not in ("condition", "timeframe")
    }
    trees = []
    for condition in rule.detection.parsed_condition:
        if _paren_depth(condition.condition) > MAX_CONDITION_DEPTH:
            raise ValueError(f"the condition nests more than {MAX_CONDITION_DEPTH} parentheses")
        trees.append(condition.parse(postprocess=False))
        expanded, stack = 0, [(trees[-1], 0)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_CONDITION_DEPTH:
                raise ValueError(f"the condition nests more than {MAX_CONDITION_DEPTH} levels deep")
            if isinstance(item, ConditionSelector):
                referenced = item.resolve_referenced_detections(rule.detection)
                expanded += sum(sizes.get(i.identifier, 0) for i in referenced)
            elif isinstance(item, ConditionIdentifier):
                expanded += sizes.get(item.identifier, 0)
            elif isinstance(item, ConditionItem):
                stack += [(arg, depth + 1) for arg in item.args]
        if expanded > MAX_EXPANDED_BYTES:
            raise ValueError(
                f"the condition repeats its searches to {expanded} bytes, above the limit of "
                f"{MAX_EXPANDED_BYTES}; each reference to a search copies it into the query"
            )
    return trees


def _paren_depth(condition: str) -> int:
    """How deep the parentheses nest (pyparsing recurses once per level)."""
    depth = deepest = 0
    for char in condition:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest
