"""Facts about the pipelines that the compiler relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sigma.processing.conditions import LogsourceCondition

import translator.targets as targets_module
from translator.compile_rule import compile_rule
from translator.pipelines import INDEX, PIPELINES_DIR, load_pipeline, load_pipelines
from translator.rule_file import discover, read_rule

ENTRIES = yaml.safe_load((PIPELINES_DIR / INDEX).read_text())
INDEXED = sorted(
    {
        name
        for entry in ENTRIES.values()
        for files in entry.values()
        if isinstance(files, list)
        for name in files
    }
)


def test_the_index_names_every_pipeline_file_and_only_those() -> None:
    files = {p.name for p in PIPELINES_DIR.glob("*.yml")} - {INDEX}
    assert set(INDEXED) == files


@pytest.mark.parametrize("name", INDEXED)
def test_rule_conditions_test_only_the_logsource(name: str) -> None:
    """translator/targets.py maps `fields:` entries once per (pipelines, logsource, field) and shares the
    result between rules; that is only right while no item's rule condition looks at anything else."""
    pipeline = load_pipeline(PIPELINES_DIR / name)
    conditions = [c for item in pipeline.items for c in item.rule_conditions]
    assert all(isinstance(c, LogsourceCondition) for c in conditions)


def _clear_pipeline_caches() -> None:
    load_pipelines.cache_clear()
    targets_module._map_field.cache_clear()


def test_shared_pipelines_carry_nothing_from_one_rule_to_the_next(root: Path) -> None:
    """load_pipelines gives every rule of a log source one pipeline object: compiling the project's rules
    in one order, in the other, and each alone after a fresh start gives the same results."""
    rules_dir = root / "sigma"
    paths = discover(rules_dir)

    def compiled(path: Path) -> dict:
        return compile_rule(path, rules_dir, read_rule(path, rules_dir), False).to_json()

    _clear_pipeline_caches()
    forward = {path: compiled(path) for path in paths}
    _clear_pipeline_caches()
    backward = {path: compiled(path) for path in reversed(paths)}
    alone = {}
    for path in paths:
        _clear_pipeline_caches()
        alone[path] = compiled(path)
    assert len(forward) > 5 and forward == backward == alone
