"""The last conversion of a rule converts the loaded rule itself (model.Lent): no artifact, note or
refusal differs from converting a fresh copy, also when a team's pipeline changes the rule's metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support.cases import case_rule, load_cases
from translator import model
from translator.compile_rule import compile_rule
from translator.config import DEFAULT, Config, load_config
from translator.loader import load_rule
from translator.model import sigma_rule
from translator.rule_file import discover

# Runs after our Sentinel pipeline: changes what the rule files read (log source, a custom attribute,
# the fields list) on the rule it converts.
METADATA_CHANGES = """\
name: team-metadata
priority: 100
transformations:
  - id: team_logsource
    type: change_logsource
    category: team
    product: azure
    service: activitylogs
  - id: team_attribute
    type: set_custom_attribute
    attribute: team_marker
    value: changed
  - id: team_field
    type: add_field
    field: TimeGenerated
"""


def _attributes(a: Any, b: Any, path: str, seen: set[int]) -> list[str]:
    """Where two object graphs differ: types, attribute names, items or values."""
    if id(a) in seen:
        return []
    seen.add(id(a))
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _attributes(x, y, f"{path}[{i}]", seen)]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{path}: keys"]
        return [d for k in a for d in _attributes(a[k], b[k], f"{path}[{k!r}]", seen)]
    if hasattr(a, "__dict__") and not isinstance(a, type):
        if list(vars(a)) != list(vars(b)):
            return [f"{path}: attributes {sorted(vars(a))} != {sorted(vars(b))}"]
        return [d for k in vars(a) for d in _attributes(vars(a)[k], vars(b)[k], f"{path}.{k}", seen)]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _rule_files(root: Path, tmp_path: Path) -> list[Path]:
    """The project's rules and every golden case as a rule file."""
    files = discover(root / "sigma")
    (tmp_path / "cases").mkdir()
    for i, case in enumerate(load_cases()):
        path = tmp_path / "cases" / f"case_{i:03d}.yml"
        path.write_text(yaml.safe_dump(case_rule(case), sort_keys=False))
        files.append(path)
    return files


def test_a_loaded_rule_is_what_a_fresh_copy_is(root: Path, tmp_path: Path) -> None:
    for path in _rule_files(root, tmp_path):
        try:
            source = load_rule(path, path.parent)
        except Exception:  # a golden case of an error: nothing to lend
            continue
        assert source.data is not None
        assert _attributes(source.rule, sigma_rule(source.data), "rule", set()) == [], path


@pytest.mark.parametrize("team_pipeline", [False, True])
def test_lending_changes_no_artifact(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, team_pipeline: bool
) -> None:
    config: Config = DEFAULT
    if team_pipeline:
        (tmp_path / "team.yml").write_text(METADATA_CHANGES)
        (tmp_path / "translator.toml").write_text("[pipelines]\nsentinel = ['team.yml']\n")
        config = load_config(tmp_path / "translator.toml")
    files = _rule_files(root, tmp_path)
    given_back: list[bool] = []
    back = model.Lent.back

    def spy(lent: model.Lent) -> model.RuleSource:
        source = back(lent)
        given_back.append(source is lent.source)
        return source

    monkeypatch.setattr(model.Lent, "back", spy)
    lent = [compile_rule(p, p.parent, p.read_text(), False, config).to_bytes() for p in files]
    monkeypatch.setattr(model.Lent, "of", classmethod(lambda cls, source: None))
    fresh = [compile_rule(p, p.parent, p.read_text(), False, config).to_bytes() for p in files]
    assert lent == fresh
    assert given_back and (not all(given_back) if team_pipeline else all(given_back))
