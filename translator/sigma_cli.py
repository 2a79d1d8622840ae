"""What pySigma's plugin discovery (and so sigma-cli) needs to run our targets and pipelines.

A build picks the pipelines of each rule from its log source (pipelines/logsources.yml) and makes one
backend per rule and target. sigma-cli instead takes one pipeline and one backend for a whole batch, so:

- the pipeline per storage model holds one item that applies, to each rule, the pipelines
  logsources.yml names for the rule's log source, exactly as a build does, and makes their variables
  and state the batch pipeline's own for that rule (the backends read both);
- the backends read the `schedule` and `first_seen` attributes from each rule, as Target.render passes
  them, and map the first-seen fields through the pipeline sigma-cli gave them.

The plugin modules themselves (translator/plugins/, installed as sigma.backends.translator and
sigma.pipelines.translator) only name these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConfigurationError, SigmaTransformationError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaRule

from translator.model import FirstSeen, Schedule
from translator.pipelines import load_pipelines, pipeline_files
from translator.targets import TARGETS, probe_field

# sigma-cli's names for our targets (`sigma convert -t`) and pipelines (`-p`).
BACKEND_IDS = {name: "translator_" + name.replace("-", "_") for name in TARGETS}
PIPELINE_IDS = {"ecs": "translator_ecs", "sentinel": "translator_sentinel"}
MODEL_NAMES = {"ecs": "Elastic Azure integration (ECS)", "sentinel": "Microsoft Sentinel tables"}


@dataclass
class LogSourcePipelinesTransformation(PreprocessingTransformation):
    """Apply the pipelines pipelines/logsources.yml names for the rule's log source and `model`."""

    model: str
    _vars: tuple[str, ...] = field(init=False, default=(), compare=False, repr=False)

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        super().apply(rule)
        if not isinstance(rule, SigmaRule):
            raise SigmaTransformationError("translator pipelines map Sigma rules, not correlation rules")
        try:
            paths = pipeline_files(self.model, rule.logsource)
        except ValueError as e:
            raise SigmaTransformationError(str(e)) from e
        inner = ProcessingPipeline() + load_pipelines(paths)  # as a backend joins it, in a build
        inner.apply(rule)
        outer = self._pipeline
        assert outer is not None, "pySigma sets the pipeline of every item it holds"
        for name in self._vars:  # the previous rule's log source may have set others
            outer.vars.pop(name, None)
        outer.vars.update(inner.vars)
        self._vars = tuple(inner.vars)
        outer.state.update(inner.state)
        outer.applied_ids |= inner.applied_ids


def model_pipeline(model: str) -> ProcessingPipeline:
    """The sigma-cli pipeline of one storage model: every log source logsources.yml maps to it."""
    backends = frozenset(BACKEND_IDS[t.name] for t in TARGETS.values() if t.model == model)
    return ProcessingPipeline(
        name=f"translator: Azure log sources to the {MODEL_NAMES[model]}, per rule log source",
        priority=20,
        items=[ProcessingItem(LogSourcePipelinesTransformation(model), identifier=PIPELINE_IDS[model])],
        allowed_backends=backends,
    )


class RuleAttributes:
    """Mixed into a plugin backend: each rule's schedule and first_seen, as Target.render passes them."""

    schedule: Schedule
    first_seen: FirstSeen | None
    last_processing_pipeline: ProcessingPipeline | None
    init_processing_pipeline: Callable[[str | None], None]

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback: Any = None) -> Any:
        if isinstance(rule, SigmaRule):
            attributes = rule.custom_attributes
            try:
                self.schedule = Schedule.from_attribute(attributes.get("schedule"))
                first_seen = FirstSeen.from_attribute(attributes.get("first_seen"))
                if first_seen is not None:
                    if getattr(self, "last_processing_pipeline", None) is None:
                        self.init_processing_pipeline(output_format)
                    pipeline = self.last_processing_pipeline
                    assert pipeline is not None
                    mapped = (probe_field(pipeline, rule.logsource, f) for f in first_seen.fields)
                    first_seen = replace(first_seen, fields=tuple(mapped))
            except ValueError as e:
                raise SigmaConfigurationError(f"rule '{rule.title}': {e}") from e
            self.first_seen = first_seen
        return super().convert_rule(rule, output_format, callback)  # type: ignore[misc]
