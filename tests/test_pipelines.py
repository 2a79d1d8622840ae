"""Facts about the pipelines that the compiler relies on."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import pytest
import yaml
from sigma.exceptions import SigmaError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaLogSource, SigmaRule

import translator.targets as targets_module
from support.cases import case_rule, load_cases
from translator.compile_rule import compile_rule
from translator.config import DEFAULT, load_config
from translator.errors import RuleError
from translator.loader import load_rule
from translator.pipelines import INDEX, PIPELINES_DIR, load_pipeline, load_pipelines, pipeline_files
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
    targets_module._shared.cache_clear()
    targets_module._map_field.cache_clear()


def test_shared_pipelines_carry_nothing_from_one_rule_to_the_next(root: Path) -> None:
    """Every rule of a log source is converted by one pipeline object (targets._shared) and its `fields:`
    mapped by another (load_pipelines): compiling the project's rules
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


def test_each_shared_pipeline_has_processing_items_of_its_own(tmp_path: Path) -> None:
    """pySigma binds a processing item to one pipeline at a time, and an item asks that pipeline what it
    did to a field (field name conditions): the shared pipelines of two log sources with the same team
    pipeline, and the pipeline load_pipelines keeps for `fields:`, hold no item in common, each bound
    to its own pipeline; and a shared pipeline refuses to be joined to another (which would rebind its
    items)."""
    (tmp_path / "team.yml").write_text(
        "name: team\npriority: 100\ntransformations:\n"
        "  - id: team_prefix\n    type: field_name_prefix\n    prefix: team.\n"
    )
    (tmp_path / "translator.toml").write_text("[pipelines]\necs = ['team.yml']\n")
    config = load_config(tmp_path / "translator.toml")
    shared = []
    for service in ("activitylogs", "signinlogs"):
        paths = pipeline_files("ecs", SigmaLogSource(product="azure", service=service))
        shared += [targets_module._shared(paths, config, "ecs"), load_pipelines(paths, config, "ecs")]
    for pipeline in shared:
        assert pipeline.items and all(item._pipeline is pipeline for item in pipeline.items)
    items = [id(item) for pipeline in shared for item in pipeline.items]
    assert len(items) == len(set(items))
    with pytest.raises(AssertionError, match="cannot be joined"):
        ProcessingPipeline() + shared[0]


def test_unconditional_items_answer_as_pysigma_does(root: Path) -> None:
    """answer_once: an item without detection-item and field-name conditions gives, for every detection
    item and field of every project rule and golden case, pySigma's own answer."""
    rules = root / "sigma"
    sources = [load_rule(path, rules, read_rule(path, rules)).rule for path in discover(rules)]
    for case in load_cases():
        with suppress(SigmaError):  # the cases of rules pySigma refuses
            sources.append(SigmaRule.from_dict(case_rule(case)))
    replaced = 0
    for rule in sources:
        items = [i for d in rule.detection.detections.values() for i in _detection_items(d)]
        for target in TARGETS.values():
            try:
                paths = pipeline_files(target.model, rule.logsource)
            except ValueError:
                continue
            for item in targets_module._shared(paths, DEFAULT, target.model).items:
                if "match_detection_item" not in vars(item):
                    continue
                replaced += 1
                for detection_item in items:
                    expected = ProcessingItem.match_detection_item(item, detection_item)
                    assert item.match_detection_item(detection_item) is expected
                    expected = ProcessingItem.match_field_name(item, detection_item.field)
                    assert item.match_field_name(detection_item.field) is expected
    assert replaced > 100


def _detection_items(detection: SigmaDetection) -> list[SigmaDetectionItem]:
    found = []
    for item in detection.detection_items:
        found += _detection_items(item) if isinstance(item, SigmaDetection) else [item]
    return found
