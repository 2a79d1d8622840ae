"""The compile targets: which backend and which pipeline make each artifact, and how one is rendered."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from sigma.conversion.base import TextQueryBackend
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.transformations.placeholder import BasePlaceholderTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaDetections, SigmaLogSource, SigmaRule
from sigma.types import SigmaNull

from translator.backends.eql import ElasticEqlBackend
from translator.backends.kibana_kql import KibanaKqlBackend
from translator.backends.sentinel_kql import SentinelKqlBackend
from translator.conditions import CopiedCondition
from translator.config import DEFAULT, Config
from translator.errors import RuleError
from translator.model import RuleSource
from translator.pipelines import answer_once, join_pipelines, load_pipelines, pipeline_files


@dataclass(frozen=True)
class Rendered:
    """One query and what the rule files built around it need from the same conversion."""

    text: str
    notes: tuple[str, ...]  # printed by the build: what the query cannot match as Sigma does
    terms: tuple[str, ...]  # first_seen fields, mapped
    fields: tuple[str, ...]  # the rule's `fields:`, mapped
    query_fields: tuple[str, ...]  # every field the query reads, mapped
    state: dict[str, Any]  # the pipeline's state for this rule (the index, the table)
    vars: dict[str, Any]  # the pipeline's variables (settings and target facts)
    columns: dict[str, str]  # mapped field -> result column, where the query names its results
    summary_columns: tuple[str, ...]  # result columns the query computes (first seen, counts)


@dataclass(frozen=True)
class Target:
    name: str
    backend: type[TextQueryBackend]
    model: str  # the storage model its pipelines map to (pipelines/logsources.yml)
    suffix: str
    description: str

    def pipelines(self, source: RuleSource) -> tuple[Path, ...]:
        """The pipeline files for the rule's log source (ValueError if none maps it)."""
        return pipeline_files(self.model, source.rule.logsource)

    def map_field(self, source: RuleSource, field: str, config: Config = DEFAULT) -> str:
        """The one target field a Sigma field maps to, by the same pipelines as the detection."""
        logsource = source.rule.logsource
        key = (logsource.category, logsource.product, logsource.service, logsource.definition)
        return _map_field(self.pipelines(source), key, field, config, self.model)

    def render(
        self,
        source: RuleSource,
        config: Config = DEFAULT,
        processed: dict[str, Processed] | None = None,
        lent: bool = False,
    ) -> Rendered:
        """Convert one rule, from a copy of its single parse, or raise RuleError; `config` sets pipeline
        variables and appends the team's pipelines to ours. `processed` (one dict per rule) keeps the
        rule as this target's pipeline processed it, for the next target of the same model. `lent`: the
        rule's last conversion, which may convert source.rule itself (model.Lent)."""
        try:
            paths = self.pipelines(source)
        except ValueError as e:
            raise RuleError(source.path, str(e), source.label, self.name) from e
        try:
            first_seen = source.first_seen and replace(
                source.first_seen,
                fields=tuple(self.map_field(source, f, config) for f in source.first_seen.fields),
            )
            pipeline = _shared(paths, config, self.model)
            backend = self.backend(pipeline, schedule=source.schedule, first_seen=first_seen)
            pipeline.start(backend)
            done = processed.get(self.model) if processed is not None else None
            adopted = done.adopt(backend) if done else None
            rule = adopted if adopted is not None else source.rule if lent else source.fresh_rule()
            queries = backend.convert_rule(rule)
            if processed is not None and adopted is None:
                processed[self.model] = Processed(rule, pipeline)
        except (SigmaError, ValueError) as e:
            names = [f"pipelines/{p.name}" for p in paths] + [
                p.path for p in config.extra_pipelines(self.model)
            ]
            where = ("pipeline " if len(names) == 1 else "pipelines ") + ", ".join(names)
            raise RuleError(source.path, f"{e} ({where})", source.label, self.name) from e
        if len(queries) != 1:
            raise RuleError(source.path, "a rule must have exactly one condition", source.label, self.name)
        return Rendered(
            text=queries[0] + "\n",
            notes=tuple(getattr(backend, "notes", ())),
            terms=first_seen.fields if first_seen else (),
            fields=tuple(rule.fields),
            query_fields=tuple(dict.fromkeys(_detection_fields(rule))),
            state=dict(pipeline.state),
            vars=dict(pipeline.vars),
            columns=dict(getattr(backend, "columns", {})),
            summary_columns=tuple(getattr(backend, "summary_columns", ())),
        )


class SharedPipeline(ProcessingPipeline):
    """The one pipeline object that converts every rule of a log source and configuration in the targets
    of one model (_shared), where pySigma's convert_rule would join a new one for each conversion
    (init_processing_pipeline: `ProcessingPipeline() + pipeline + None`, which binds every item anew to
    the same items and variables: 4.8% of a rule's instructions).

    Safe to reuse, as sigma-cli reuses one pipeline for a whole batch: apply() starts from fresh
    per-rule state (state, applied ids, field mappings), `start` gives each conversion the variables
    init_processing_pipeline would give it, and its items are its own (join_pipelines), bound to it
    alone. A conversion reads it only while it converts; what a target keeps (Rendered) is copied.
    """

    defaults: dict[str, Any]  # the joined pipelines' variables, before a backend adds its own
    kept: SigmaRule | None = None

    @classmethod
    def of(cls, joined: ProcessingPipeline) -> SharedPipeline:
        """The pipeline `ProcessingPipeline() + joined` makes, once."""
        joined._clear_pipeline()
        shared = cls(joined.items, joined.postprocessing_items, joined.finalizers, dict(joined.vars))
        shared.defaults = dict(joined.vars)
        answer_once(shared)
        return shared

    def start(self, backend: TextQueryBackend) -> None:
        """Make this the pipeline of `backend`'s next conversion, with the variables that
        init_processing_pipeline sets: the backend's options, its name and its output format."""
        options = {"backend_" + key: value for key, value in backend.backend_options.items()}
        self.vars = (
            self.defaults | options | {"backend": backend.name, "output_format": backend.default_format}
        )
        backend.last_processing_pipeline = self

    def keep(self, rule: SigmaRule) -> None:
        """The next apply() leaves `rule` as this pipeline's last apply() made it (Processed.adopt)."""
        self.kept = rule

    def apply(self, rule: SigmaRule) -> SigmaRule:  # type: ignore[override]
        kept, self.kept = self.kept, None
        return rule if rule is kept else super().apply(rule)

    def _clear_pipeline(self) -> None:
        """pySigma's `+` calls this to bind the items to another pipeline: never for this one."""
        raise AssertionError("a shared pipeline cannot be joined to another")


@cache
def _shared(paths: tuple[Path, ...], config: Config, model: str) -> SharedPipeline:
    """One SharedPipeline per log source, configuration and model, with items of its own (not those of
    load_pipelines, which maps `fields:` entries between conversions)."""
    return SharedPipeline.of(join_pipelines(paths, config, model))


@dataclass(frozen=True)
class Processed:
    """A rule as a conversion's pipeline processed it, with that pipeline (its per-rule results)."""

    rule: SigmaRule
    pipeline: SharedPipeline

    def adopt(self, backend: TextQueryBackend) -> SigmaRule | None:
        """Set `backend` (started: SharedPipeline.start) up to convert this rule as processed, without
        processing it again; None where its pipeline could process the rule differently.

        The kibana-kql and eql targets convert with the same pipeline object (_shared: one per log source,
        configuration and model) and their backends add no pipeline of their own, so the same items
        make the same changes to the same rule. The two conversions differ only in the variables a
        backend sets (its name and options), which only placeholder transformations read: none may be
        among the items. A conversion only reads the rule and its condition tree, so the first target's
        leaves both as processed (the second reads the same tree: CopiedCondition.reuse_once), and
        nothing applies the pipeline between the two conversions of a rule, so it still holds that run's
        results (applied ids, field mappings, state). tests/test_pipelines.py compares every project
        rule and golden case converted both ways.
        """
        pipeline = backend.last_processing_pipeline
        if pipeline is not self.pipeline or any(
            isinstance(i.transformation, BasePlaceholderTransformation) for i in pipeline.items
        ):
            return None
        pipeline.keep(self.rule)
        for condition in self.rule.detection.parsed_condition:
            if isinstance(condition, CopiedCondition):
                condition.reuse_once()  # and the condition tree the first conversion made
        return self.rule


@lru_cache(maxsize=4096)
def _map_field(
    pipelines: tuple[Path, ...], logsource: tuple[str | None, ...], field: str, config: Config, model: str
) -> str:
    """Map `field` as the pipeline maps a `fields:` entry, on a probe rule holding only that field.

    Safe to share between rules: pySigma maps a `fields:` entry by its name and the rule conditions of
    each processing item, and the rule conditions of our pipelines test only the logsource
    (tests/test_pipelines.py checks this). The probe's detection names the field once, with no value,
    so that a field the pipeline cannot map fails as it would in the detection.
    """
    category, product, service, definition = logsource
    pipeline = load_pipelines(pipelines, config, model)
    return probe_field(pipeline, SigmaLogSource(category, product, service, definition), field)


def probe_field(pipeline: ProcessingPipeline, logsource: SigmaLogSource, field: str) -> str:
    """The one field `pipeline` maps `field` to in a rule of `logsource` (also for sigma-cli's pipeline)."""
    probe = SigmaRule(
        title="field probe",
        logsource=logsource,
        detection=SigmaDetections(
            {"probe": SigmaDetection([SigmaDetectionItem(field, [], [SigmaNull()])])}, ["probe"]
        ),
        fields=[field],
    )
    pipeline.apply(probe)
    if len(probe.fields) != 1:
        raise ValueError(f"field '{field}' maps to {len(probe.fields)} fields, not one")
    return probe.fields[0]


def _detection_fields(rule: SigmaRule) -> list[str]:
    def walk(detection: SigmaDetection) -> list[str]:
        return [
            f
            for item in detection.detection_items
            for f in (walk(item) if isinstance(item, SigmaDetection) else [item.field] if item.field else [])
        ]

    return [f for detection in rule.detection.detections.values() for f in walk(detection)]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "kibana-kql",
            KibanaKqlBackend,
            "ecs",
            ".kql",
            "Kibana Query Language (kuery) per-event query over the Elastic Azure integration (ECS)",
        ),
        Target(
            "eql",
            ElasticEqlBackend,
            "ecs",
            ".eql",
            "Elasticsearch EQL per-event query over the Elastic Azure integration (ECS)",
        ),
        Target(
            "sentinel-kql",
            SentinelKqlBackend,
            "sentinel",
            ".kql",
            "Microsoft Sentinel KQL over the Log Analytics tables; first-seen rules get the complete query",
        ),
    )
}
