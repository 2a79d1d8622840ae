"""The processing pipelines in pipelines/ (data): which ones map a rule, and loading them.

pipelines/logsources.yml says, for each Sigma log source, which pipelines map it to each storage model
(`ecs`: the Elastic integration's documents; `sentinel`: the Log Analytics tables), in the order they
apply, or why no SIEM has its data. A target names its model; the rule's logsource picks the files.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaLogSource

import translator.transformations  # noqa: F401  (registers the transformation types pipelines name)
from translator.locations import PIPELINES_INDEX, pipelines_dir

if TYPE_CHECKING:
    from translator.config import Config

# The pipelines are part of the compiler's definition: installed with the package (translator.locations).
PIPELINES_DIR = pipelines_dir()
INDEX = PIPELINES_INDEX

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PipelineError(Exception):
    """A pipeline file that cannot be read: a defect of the project, not of a rule."""


@dataclass(frozen=True, order=True)
class LogSource:
    """A Sigma log source as the index names it: `product/service`."""

    product: str
    service: str

    def __str__(self) -> str:
        return f"{self.product}/{self.service}"

    @classmethod
    def of(cls, logsource: SigmaLogSource) -> LogSource:
        return cls(logsource.product or "", logsource.service or "")

    @property
    def sigma(self) -> SigmaLogSource:
        return SigmaLogSource(product=self.product, service=self.service)


@cache
def _definition(path: Path) -> dict:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as e:
        raise PipelineError(f"{path}: cannot load pipeline: {e}") from e


@cache
def _index() -> dict[LogSource, dict[str, Any]]:
    entries = _definition(PIPELINES_DIR / INDEX)
    return {LogSource(*name.split("/", 1)): entry for name, entry in entries.items()}


def logsources() -> list[dict[str, Any]]:
    """The index's entries (model -> pipeline file names), in its order."""
    return list(_index().values())


def definition_vars(name: str) -> dict[str, Any]:
    """The variables one of our pipeline files declares, as written (a copy)."""
    return copy.deepcopy(_definition(PIPELINES_DIR / name).get("vars") or {})


def supported(model: str) -> list[LogSource]:
    """The log sources with pipelines to `model`, sorted."""
    return sorted(source for source, entry in _index().items() if model in entry)


def pipeline_files(model: str, logsource: SigmaLogSource) -> tuple[Path, ...]:
    """The pipelines that map a rule of `logsource` to `model`, in order; ValueError saying why none do."""
    return _files(model, LogSource.of(logsource))


@cache  # a function of the index alone, asked for each rule and target (an error is not kept)
def _files(model: str, source: LogSource) -> tuple[Path, ...]:
    entry = _index().get(source, {})
    if model in entry:
        return tuple(PIPELINES_DIR / name for name in entry[model])
    if "unavailable" in entry:
        raise ValueError(f"log source {source}: {' '.join(entry['unavailable'].split())}")
    names = ", ".join(str(s) for s in supported(model))
    raise ValueError(
        f"no pipeline maps log source {source or 'without product and service'}; supported: {names}"
    )


def load_pipeline(path: Path, overrides: dict[str, Any] | None = None) -> ProcessingPipeline:
    """A new pipeline object from the file's definition (copied: pySigma may change what it is given),
    with the variables the configuration sets (`overrides`) in place of the file's."""
    try:
        pipeline = ProcessingPipeline.from_dict(copy.deepcopy(_definition(path)))
    except SigmaError as e:
        raise PipelineError(f"{path}: invalid pipeline: {e}") from e
    pipeline.vars.update(overrides or {})
    return pipeline


def _parse_pipeline(text: str, name: str) -> ProcessingPipeline:
    try:
        definition = yaml.load(text, Loader=_Loader)
        if not isinstance(definition, dict):
            raise PipelineError(f"{name}: invalid pipeline: not a mapping")
        return ProcessingPipeline.from_dict(definition)
    except (yaml.YAMLError, SigmaError, TypeError, KeyError, AttributeError) as e:
        raise PipelineError(f"{name}: invalid pipeline: {e}") from e


@cache
def parse_pipeline(text: str, name: str) -> ProcessingPipeline:
    """A team's pipeline (translator.toml `pipelines`) from its text; PipelineError naming it if invalid."""
    return _parse_pipeline(text, name)


@cache
def load_pipelines(
    paths: tuple[Path, ...], config: Config | None = None, model: str | None = None
) -> ProcessingPipeline:
    """join_pipelines, one object per log source and configuration: what maps a `fields:` entry
    (targets._map_field) and what sigma-cli's pipeline applies per log source (translator/sigma_cli.py).

    Safe to share between rules, as sigma-cli shares one pipeline across a whole batch: every apply()
    starts from fresh per-rule state (state, applied ids, field mappings), and the items hold only their
    configuration (tests/test_pipelines.py compiles rules in both orders to show no rule leaks into
    the next).
    """
    return join_pipelines(paths, config, model)


def join_pipelines(
    paths: tuple[Path, ...], config: Config | None = None, model: str | None = None
) -> ProcessingPipeline:
    """The pipelines joined in order into a new one, as a conversion applies them: our files with the
    variables `config` sets, then the team's pipelines of `model`. Its processing items are its own
    (pySigma binds an item to one pipeline at a time): each call loads and parses them anew."""
    pipelines = [load_pipeline(path, config.var_overrides(path.name) if config else None) for path in paths]
    if config and model:
        pipelines += [_parse_pipeline(p.text, p.path) for p in config.extra_pipelines(model)]
    combined = pipelines[0]
    for pipeline in pipelines[1:]:
        combined = combined + pipeline
    return combined


def answer_once(pipeline: ProcessingPipeline) -> None:
    """Give each item without detection-item and field-name conditions its constant answers.

    Why: a transformation asks its item, for every detection item and field of every rule, whether it
    matches (ProcessingItem.match_detection_item, match_field_name); for an item with neither kind of
    condition, pySigma works out the same answer from empty lists each time (the linking of no results,
    then the negation): 2.0% of a rule's instructions (callgrind over 100 rules: 10.44M per rule before,
    10.22M after). Safe because the answer depends on nothing else, the conditions of an item are not
    changed by applying it, and the pipeline's items are its own (targets.SharedPipeline): an item
    whose question raises (no linking) keeps pySigma's method, and raises as before.
    """
    for item in pipeline.items:
        if item.detection_item_condition_expression is not None or item.detection_item_conditions:
            continue
        if item.field_name_condition_expression is not None or item.field_name_conditions:
            continue
        try:
            detection_item, field_name = item.match_detection_item(None), item.match_field_name(None)
        except SigmaError:
            continue
        item.match_detection_item = _constant(detection_item)  # type: ignore[method-assign]
        item.match_field_name = _constant(field_name)  # type: ignore[method-assign]


def _constant(answer: bool) -> Callable[[Any], bool]:
    return lambda _: answer
