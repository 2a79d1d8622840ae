"""Facts about the pipelines that the compiler relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sigma.processing.conditions import LogsourceCondition

import translator.targets as targets_module
from support.cases import case_rule, load_cases
from translator.compile_rule import compile_rule
from translator.errors import RuleError
from translator.loader import load_rule
from translator.pipelines import INDEX, PIPELINES_DIR, load_pipeline, load_pipelines
from translator.rule_file import discover, read_rule
from translator.targets import TARGETS, Processed

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

    def compiled(path: Path) -> bytes:
        return compile_rule(path, rules_dir, read_rule(path, rules_dir), False).to_bytes()

    _clear_pipeline_caches()
    forward = {path: compiled(path) for path in paths}
    _clear_pipeline_caches()
    backward = {path: compiled(path) for path in reversed(paths)}
    alone = {}
    for path in paths:
        _clear_pipeline_caches()
        alone[path] = compiled(path)
    assert len(forward) > 5 and forward == backward == alone


def _render(name: str, source: targets_module.RuleSource, processed: dict[str, Processed] | None) -> object:
    try:
        return TARGETS[name].render(source, processed=processed)
    except RuleError as e:
        return e.reason


def test_targets_of_one_model_convert_the_rule_it_processed_once(root: Path, tmp_path: Path) -> None:
    """kibana-kql and eql convert one rule processed once by their shared pipeline (targets.Processed):
    for every rule of the project and every golden case, each target's result (query, notes, pipeline
    state and variables, or refusal) is the one it gives converting a rule processed for it alone."""
    rules_dir = root / "sigma"
    sources = [load_rule(path, rules_dir) for path in discover(rules_dir)]
    for i, case in enumerate(load_cases()):
        path = tmp_path / f"case{i}.yml"
        path.write_text(yaml.safe_dump(case_rule(case), sort_keys=False), encoding="utf-8")
        sources.append(load_rule(path, tmp_path))
    adopted = 0
    for source in sources:
        processed: dict[str, Processed] = {}
        together = {}
        for name in TARGETS:
            before = processed.get(TARGETS[name].model)
            together[name] = _render(name, source, processed)
            adopted += before is not None and processed[TARGETS[name].model] is before
        assert together == {name: _render(name, source, None) for name in TARGETS}, source.path
    assert adopted >= len(sources) // 2
