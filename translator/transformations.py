"""pySigma transformations that the pipelines in pipelines/ name by type.

pySigma's own transformations cover most of a mapping; these three fill the gaps that would otherwise
push field facts into Python: keys under a prefix that the target rewrites (claim keys), a field that
the target stores in another unit, and a field that a pipeline does not map at all.
Importing this module registers them with pySigma's transformation table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sigma.exceptions import SigmaTransformationError
from sigma.processing.transformations import transformations as registry
from sigma.processing.transformations.base import (
    FieldMappingTransformationBase,
    PreprocessingTransformation,
    ValueTransformation,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaCompareExpression, SigmaNumber


@dataclass
class FieldKeyMappingTransformation(FieldMappingTransformationBase):
    """Map every field under `prefix` to `target`, whose `{key}` is the rest of the name.

    The rest is one key, not a path: identity claims are a flat map whose keys are URLs with dots.
    `key_replace` rewrites substrings of the key (Elastic turns its dots into underscores) and
    `key_quote` writes it as a JSON string, the form Kusto's bracket syntax takes.
    """

    prefix: str
    target: str
    key_replace: dict[str, str] = field(default_factory=dict)
    key_quote: bool = False

    def apply_field_name(self, field: str | None) -> str | None:
        if field is None or not field.startswith(self.prefix) or field == self.prefix:
            return None
        key = field[len(self.prefix) :]
        for old, new in self.key_replace.items():
            key = key.replace(old, new)
        if self.key_quote:
            key = json.dumps(key, ensure_ascii=False)
        return self.target.format(key=key)


@dataclass
class ScaleNumberTransformation(ValueTransformation):
    """Multiply numbers by `factor`, for a field the target stores in another unit (ms -> ns)."""

    factor: int

    def apply_value(
        self, field: str | None, val: SigmaNumber | SigmaCompareExpression
    ) -> SigmaNumber | SigmaCompareExpression:
        if isinstance(val, SigmaCompareExpression):
            return SigmaCompareExpression(SigmaNumber(val.number.number * self.factor), val.op)
        return SigmaNumber(val.number * self.factor)


@dataclass
class UnmappedFieldFailure(PreprocessingTransformation):
    """Fail on any field that no field-mapping item of the pipeline has mapped.

    Passing a raw name through would give a query that runs and silently matches nothing.
    `unavailable` gives the reason for fields the target does not store at all.
    """

    unavailable: dict[str, str] = field(default_factory=dict)

    def apply(self, rule: SigmaRule) -> None:  # type: ignore[override]
        super().apply(rule)
        pipeline = self._pipeline
        if pipeline is None:
            raise SigmaTransformationError("unmapped_field_failure needs its pipeline")
        mapping_ids = {
            item.identifier
            for item in pipeline.items
            if isinstance(item.transformation, FieldMappingTransformationBase)
        }
        for detection in rule.detection.detections.values():
            self._check_detection(detection, mapping_ids)
        for name in rule.fields:
            if not pipeline.field_name_applied_ids[name] & mapping_ids:
                self._fail(name)

    def _check_detection(self, detection: SigmaDetection, ids: set[str | None]) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                self._check_detection(item, ids)
            elif not item.applied_processing_items & ids:
                self._fail(item.field, item)

    def _fail(self, name: str | None, item: SigmaDetectionItem | None = None) -> None:
        if name is None:
            reason = "a value without a field (keyword search) cannot be mapped to a field"
        elif name in self.unavailable:
            reason = f"field '{name}' is not available: {self.unavailable[name]}"
        else:
            reason = f"field '{name}' is not mapped"
        raise SigmaTransformationError(reason, source=item.source if item else None)


registry.update(
    {
        "field_name_key_mapping": FieldKeyMappingTransformation,
        "scale_number": ScaleNumberTransformation,
        "unmapped_field_failure": UnmappedFieldFailure,
    }
)
