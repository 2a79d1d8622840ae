"""Reading rule files into the rule model, with errors that name the file and the rule."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from translator.attack import attack
from translator.errors import RuleError
from translator.model import FirstSeen, RuleSource, Schedule, guide_from_attribute

# libyaml's loader when present: pySigma's pure-Python one is ~9x slower on large rule sets.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_SUFFIXES = (".yml", ".yaml")


def discover(rules_dir: Path) -> list[Path]:
    """Every rule file under `rules_dir`, in a stable order; one that cannot be read is still listed,
    so the build reports it instead of leaving it out."""
    return sorted(p for p in rules_dir.rglob("*") if p.suffix in RULE_SUFFIXES and not p.is_dir())


def _label(data: Any) -> str | None:
    if isinstance(data, dict) and (data.get("title") or data.get("id")):
        return f"'{data.get('title', '')}' ({data.get('id', 'no id')})"
    return None


def load_rule(path: Path, rules_dir: Path) -> RuleSource:
    """Parse one rule file, conditions and custom attributes included, or raise RuleError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(path, f"cannot read the file: {e}") from e
    try:
        documents = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as e:
        raise RuleError(path, f"invalid YAML: {' '.join(str(e).split())}") from e
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise RuleError(path, "a rule file must hold exactly one YAML mapping (one Sigma rule)")
    data = documents[0]
    label = _label(data)
    try:
        rule = SigmaRule.from_dict(data)
        for condition in rule.detection.parsed_condition:
            _ = condition.parsed  # parse now: a bad condition is a load error, not a render error
    except SigmaError as e:
        raise RuleError(path, f"invalid Sigma rule: {e}", label) from e
    if rule.id is None:
        raise RuleError(path, "the rule has no id; outputs and the manifest are keyed by it", label)
    try:
        schedule = Schedule.from_attribute(rule.custom_attributes.get("schedule"))
        first_seen = FirstSeen.from_attribute(rule.custom_attributes.get("first_seen"))
        guide = guide_from_attribute(rule.custom_attributes.get("investigation_guide"))
        threat = attack().threat(rule.tags)
    except ValueError as e:
        raise RuleError(path, str(e), label) from e
    rel_path = PurePosixPath(path.resolve().relative_to(rules_dir.resolve()).as_posix())
    return RuleSource(path, rel_path, rule, schedule, first_seen, guide, threat)
