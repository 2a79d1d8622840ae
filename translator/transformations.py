"""pySigma transformations that the pipelines in pipelines/ name by type.

pySigma's own transformations cover most of a mapping; these fill the gaps that would otherwise push
field facts into Python: aliases (other names for a raw field, which are renamings and not a mapping
to any storage), keys under a prefix that the target rewrites (claim keys), paths through lists that
the target stores under numbered keys, a field that the target stores in another unit or type, values
the target stores as nothing at all, and a field that a pipeline does not map at all.
Importing this module registers them with pySigma's transformation table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import ConditionAND
from sigma.exceptions import SigmaTransformationError, SigmaValueError
from sigma.processing.transformations import transformations as registry
from sigma.processing.transformations import values
from sigma.processing.transformations.base import (
    DetectionItemTransformation,
    FieldMappingTransformationBase,
    PreprocessingTransformation,
    ValueTransformation,
)
from sigma.processing.transformations.fields import (
    FieldMappingTransformation,
    FieldPrefixMappingTransformation,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaBool, SigmaCompareExpression, SigmaNull, SigmaNumber, SigmaString, SigmaType

# The pipeline state key under which field_name_pattern_mapping lists the field-name patterns it made.
FIELD_PATTERNS = "field_patterns"


@dataclass
class FieldNameAliasTransformation(FieldMappingTransformation):
    """Rename a Sigma field to the raw field it stands for (pipelines/*_names.yml).

    A renaming, not a mapping to storage: `unmapped_field_failure` still wants a storage pipeline to map
    the raw name, so an alias can never pass a name through to a SIEM.
    """


@dataclass
class FieldNameAliasPrefixTransformation(FieldPrefixMappingTransformation):
    """Rename every field under a prefix, as FieldNameAliasTransformation does one field."""


ALIASES = (FieldNameAliasTransformation, FieldNameAliasPrefixTransformation)


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
class FieldNamePatternMappingTransformation(FieldMappingTransformation):
    """Map a raw path through lists (`a[].b`) to a field-name pattern over the stored elements.

    Elastic stores a list of objects as an object keyed "0", "1", ...; `*` in the target stands for
    that position, so a condition on the pattern matches when any element matches. The targets are
    recorded in the pipeline state (FIELD_PATTERNS): a backend reads `*` as a pattern only there,
    never in a name the rule wrote (claim keys may hold `*`).
    """

    def apply_field_name(self, field: str | None) -> str | list[str] | None:
        result = super().apply_field_name(field)
        if result is not None and self._pipeline is not None:
            patterns = self._pipeline.state.setdefault(FIELD_PATTERNS, [])
            patterns += [
                name for name in ([result] if isinstance(result, str) else result) if name not in patterns
            ]
        return result


@dataclass
class ConvertTypeTransformation(values.ConvertTypeTransformation):
    """pySigma's convert_type, with an error that names the field and the value: pySigma's own message
    embeds the whole pipeline's repr, thousands of characters that differ from run to run."""

    def apply_value(self, field: str | None, val: SigmaType) -> SigmaType | None:
        try:
            return super().apply_value(field, val)
        except SigmaValueError:
            raise SigmaValueError(f"field '{field}' holds numbers, and {str(val)!r} is none") from None


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
class JsonEncodedValueTransformation(ValueTransformation):
    """Also match a plain value in its JSON-encoded forms, for fields that hold JSON text.

    Entra writes modified properties' values as JSON: a string (`"False"`) or a list of one string
    (`["Member"]`). A rule's `newValue: Member` means the value Member, so it matches the text `Member`,
    the JSON string `"Member"` and the JSON list `["Member"]`. Wildcard values (contains, startswith,
    ...) search the text as it is. Under `|all` the values of an item are ANDed, so expanding one into
    several would change the rule: such items stay.
    """

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        if detection_item.value_linking is ConditionAND:
            return None
        return super().apply_detection_item(detection_item)

    def apply_value(self, field: str, val: SigmaString) -> SigmaString | list[SigmaString] | None:
        if val.contains_special():
            return None
        text = "".join(part for part in val.s if isinstance(part, str))
        encoded = (json.dumps(text, ensure_ascii=False), json.dumps([text], ensure_ascii=False))
        return [val, *(SigmaString.from_str(form) for form in encoded)]


@dataclass
class ListEntryAliasTransformation(DetectionItemTransformation):
    """A field that names one entry of a list of named values: SigmaHQ writes
    `ConsentContext.IsAdminConsent` for the modified property of that display name, and
    `additionalDetails.additionalInfo` for the additional detail with that key.

    It becomes two conditions: some element's name field equals the name, and some element's value
    field holds the rule's values. Each holds on any element, as every condition on a list does
    (README, "Lists of objects"), so the two need not hold on the same element.
    """

    entries: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> name_field, name, value_field

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetection | None:
        entry = self.entries.get(detection_item.field or "")
        if entry is None:
            return None
        named = SigmaDetectionItem(
            entry["name_field"], [], [SigmaString.from_str(entry["name"])], auto_modifiers=False
        )
        detection_item.field = entry["value_field"]
        return SigmaDetection([named, detection_item], item_linking=ConditionAND)


@dataclass
class BooleanValueTransformation(ValueTransformation):
    """Read the strings true and false (any case) as booleans, for fields the target types boolean."""

    def apply_value(self, field: str, val: SigmaString) -> SigmaBool | None:
        text = str(val).lower()
        return SigmaBool(text == "true") if text in ("true", "false") and not val.contains_special() else None


@dataclass
class OrAbsentTransformation(ValueTransformation):
    """Let each of `values` also match a missing field: the target drops such values when it stores
    the record (an empty string, an empty list), so its documents hold nothing where the record did."""

    values: list[str] = field(default_factory=list)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        if any(isinstance(value, SigmaNull) for value in detection_item.value):
            return None  # a missing field already matches
        return super().apply_detection_item(detection_item)

    def apply_value(self, field: str, val: SigmaString) -> list[SigmaString | SigmaNull] | None:
        if val.contains_special() or str(val) not in self.values:
            return None
        return [val, SigmaNull()]


@dataclass
class UnmappedFieldFailure(PreprocessingTransformation):
    """Fail on any field that no field-mapping item of the pipeline has mapped.

    Passing a raw name through would give a query that runs and silently matches nothing.
    `unavailable` gives the reason for fields the target does not store at all. `keywords` lets values
    without a field through, for storage that searches a set of default fields (the backend decides
    whether its dialect can say so).
    """

    unavailable: dict[str, str] = field(default_factory=dict)
    keywords: bool = False

    def apply(self, rule: SigmaRule) -> None:  # type: ignore[override]
        super().apply(rule)
        pipeline = self._pipeline
        if pipeline is None:
            raise SigmaTransformationError("unmapped_field_failure needs its pipeline")
        mapping_ids = {
            item.identifier
            for item in pipeline.items
            if isinstance(item.transformation, FieldMappingTransformationBase)
            and not isinstance(item.transformation, ALIASES)
        }
        unmapped: dict[str | None, SigmaDetectionItem | None] = {}
        for detection in rule.detection.detections.values():
            self._check_detection(detection, mapping_ids, unmapped)
        for name in rule.fields:
            if not pipeline.field_name_applied_ids[name] & mapping_ids:
                unmapped.setdefault(name, None)
        if unmapped:
            # Every unmapped field of the rule at once, so one build shows all that needs fixing.
            first = next(iter(unmapped.values()))
            reasons = "; ".join(self._reason(name) for name in unmapped)
            raise SigmaTransformationError(reasons, source=first.source if first else None)

    def _check_detection(
        self, detection: SigmaDetection, ids: set[str | None], unmapped: dict[str | None, Any]
    ) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                self._check_detection(item, ids, unmapped)
            elif item.field is None and self.keywords:
                continue
            elif not item.applied_processing_items & ids:
                unmapped.setdefault(item.field, item)

    def _reason(self, name: str | None) -> str:
        if name is None:
            return "a value without a field (keyword search) cannot be mapped to a field"
        if name in self.unavailable:
            return f"field '{name}' is not available: {' '.join(self.unavailable[name].split())}"
        return f"field '{name}' is not mapped"


registry.update(
    {
        "convert_type": ConvertTypeTransformation,
        "field_name_alias": FieldNameAliasTransformation,
        "field_name_alias_prefix": FieldNameAliasPrefixTransformation,
        "field_name_key_mapping": FieldKeyMappingTransformation,
        "field_name_pattern_mapping": FieldNamePatternMappingTransformation,
        "scale_number": ScaleNumberTransformation,
        "boolean_values": BooleanValueTransformation,
        "or_absent": OrAbsentTransformation,
        "json_encoded_values": JsonEncodedValueTransformation,
        "list_entry_alias": ListEntryAliasTransformation,
        "unmapped_field_failure": UnmappedFieldFailure,
    }
)
