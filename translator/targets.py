"""The compile targets: which backend and which pipeline make each artifact, and how one is rendered."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

from sigma.conversion.base import TextQueryBackend
from sigma.exceptions import SigmaError

from translator.backends.eql import ElasticEqlBackend
from translator.backends.kibana_kql import KibanaKqlBackend
from translator.backends.sentinel_kql import SentinelKqlBackend
from translator.errors import RuleError
from translator.model import RuleSource
from translator.pipelines import PIPELINES_DIR, load_pipeline


@dataclass(frozen=True)
class Rendered:
    """One artifact's text and the notes the build prints about it (what it cannot match)."""

    text: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    name: str
    backend: type[TextQueryBackend]
    pipeline: str  # file in pipelines/
    suffix: str
    description: str

    @property
    def pipeline_path(self) -> Path:
        return PIPELINES_DIR / self.pipeline

    def map_field(self, source: RuleSource, field: str) -> str:
        """The one target field a Sigma field maps to, by the same pipeline as the detection."""
        probe = copy.deepcopy(source.rule)
        probe.fields = [field]
        load_pipeline(self.pipeline_path).apply(probe)
        if len(probe.fields) != 1:
            raise ValueError(f"first_seen field '{field}' maps to {len(probe.fields)} fields, not one")
        return probe.fields[0]

    def render(self, source: RuleSource) -> Rendered:
        """Convert one rule, from a copy of its single parse, or raise RuleError."""
        try:
            first_seen = source.first_seen and replace(
                source.first_seen,
                fields=tuple(self.map_field(source, f) for f in source.first_seen.fields),
            )
            backend = self.backend(
                load_pipeline(self.pipeline_path), schedule=source.schedule, first_seen=first_seen
            )
            queries = backend.convert_rule(copy.deepcopy(source.rule))
        except (SigmaError, ValueError) as e:
            raise RuleError(
                source.path, f"{e} (pipeline pipelines/{self.pipeline})", source.label, self.name
            ) from e
        if len(queries) != 1:
            raise RuleError(source.path, "a rule must have exactly one condition", source.label, self.name)
        return Rendered(queries[0] + "\n", tuple(getattr(backend, "notes", ())))


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "kibana-kql",
            KibanaKqlBackend,
            "azure_activitylogs_to_ecs.yml",
            ".kql",
            "Kibana Query Language (kuery) per-event query over the Elastic Azure integration (ECS)",
        ),
        Target(
            "eql",
            ElasticEqlBackend,
            "azure_activitylogs_to_ecs.yml",
            ".eql",
            "Elasticsearch EQL per-event query over the Elastic Azure integration (ECS)",
        ),
        Target(
            "sentinel-kql",
            SentinelKqlBackend,
            "azure_activitylogs_to_sentinel.yml",
            ".kql",
            "Microsoft Sentinel KQL over AzureActivity; first-seen rules get the complete query",
        ),
    )
}
