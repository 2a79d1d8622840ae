"""What the ECS pipelines say about the fields Elastic stores, as both Elastic dialects need it.

The pipelines' vars give each field's Elasticsearch type (`ecs_field_types` for the ECS fields every
Azure stream shares, `field_types` for a stream's own) and the caseless text multi-field of keyword
fields (`text_fields`); the pipeline state lists the field-name patterns made for paths through lists
(transformations.FIELD_PATTERNS). A field below a `flattened` field is one of its keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import SigmaString

from translator.transformations import FIELD_PATTERNS

TEXT_TYPES = frozenset({"text", "match_only_text"})
CACHED_LENGTH = 256  # a longer field name is not kept in _flattened_root's cache (bounded memory)


@dataclass(frozen=True)
class StoredFields:
    types: Mapping[str, str]
    text_fields: Mapping[str, str]  # keyword field -> its text multi-field
    patterns: frozenset[str]
    # The types as a key of _flattened_root's cache: the same for every rule of a log source.
    _types_key: frozenset[tuple[str, str]] = dataclasses.field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def of(cls, pipeline_vars: Mapping[str, Any], state: Mapping[str, Any]) -> StoredFields:
        types = {**pipeline_vars.get("ecs_field_types", {}), **pipeline_vars.get("field_types", {})}
        text_fields = dict(pipeline_vars.get("text_fields", {}))
        patterns = frozenset(state.get(FIELD_PATTERNS, ()))
        return cls(types, text_fields, patterns, frozenset(types.items()))

    def type_of(self, field: str) -> str:
        """The field's Elasticsearch type; a key of a flattened field is `flattened`, as field caps says."""
        if field in self.types:
            return self.types[field]
        return "flattened" if self.flattened_root(field) else "keyword"

    def flattened_root(self, field: str) -> str | None:
        """The flattened field that `field` is, or is a key of."""
        root = _flattened_root if len(field) <= CACHED_LENGTH else _flattened_root.__wrapped__
        return root(self._types_key, field)

    def is_text(self, field: str) -> bool:
        return self.type_of(field) in TEXT_TYPES

    def is_pattern(self, field: str) -> bool:
        return field in self.patterns

    def check_wildcards(self, field: str, value: object) -> None:
        """An ip field takes addresses and CIDR ranges, never a wildcard (in KQL and EQL alike)."""
        if self.type_of(field) == "ip" and isinstance(value, SigmaString) and value.contains_special():
            raise SigmaFeatureNotSupportedByBackendError(
                f"{field} is an ip field, which takes no wildcards; use the cidr modifier"
            )


@lru_cache(maxsize=4096)
def _flattened_root(types: frozenset[tuple[str, str]], field: str) -> str | None:
    """StoredFields.flattened_root, kept across rules: the answer depends only on the types (a key made
    of all of them, so a pipeline with other types never shares an answer) and the field's name."""
    flattened = {name for name, kind in types if kind == "flattened"}
    parts = field.split(".")
    return next((r for i in range(len(parts), 0, -1) if (r := ".".join(parts[:i])) in flattened), None)


class PipelineFields:
    """For the Elastic backends: `_fields`, the StoredFields of the pipeline converting the rule.

    Made once per conversion, not at each of the many questions about fields: they are read from the
    pipeline's vars and state, which change only while the pipeline processes a rule (apply() makes a
    new state), never while the backend converts it; a new vars or state object makes them again.
    """

    last_processing_pipeline: ProcessingPipeline
    _stored: tuple[object, object, StoredFields] | None = None

    @property
    def _fields(self) -> StoredFields:
        pipeline = self.last_processing_pipeline
        stored = self._stored
        if stored is None or stored[0] is not pipeline.vars or stored[1] is not pipeline.state:
            stored = self._stored = (
                pipeline.vars,
                pipeline.state,
                StoredFields.of(pipeline.vars, pipeline.state),
            )
        return stored[2]
