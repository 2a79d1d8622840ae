"""Kibana Query Language (kuery), the query language of Kibana's search bar and detection rules.

No pySigma backend emits it: the Elasticsearch backend's Lucene is not KQL. The dialect follows
Kibana's grammar (kuery.peg): a quoted value is a literal phrase (no wildcard inside quotes), `*` is the
only wildcard and works only unquoted, an unquoted value is trimmed and stops at a keyword, and there is
neither a `?` wildcard nor a regular expression.

Kibana (8.x detection rules load the types of the fields a query names) sends a keyword field's wildcard
value as a `wildcard` query, and any other field's as a `query_string`, which splits it at whitespace.
So what a value can say depends on the stored field (translator/backends/elastic_fields.py, from the
pipeline): a key of a `flattened` field takes exact values, prefixes and exists only (Elasticsearch runs
no wildcard query on it); a text field is searched for words, in any letter case; a field-name pattern
(`a.*.b`, for a list the integration stores under numbered keys) is expanded over the index's fields. A
value without a field searches the index's default fields.
"""

from __future__ import annotations

import functools
import re
from typing import ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.transformations import AddConditionTransformation, CaseTransformation
from sigma.rule import SigmaDetectionItem
from sigma.types import SigmaCompareExpression, SigmaString, SpecialChars

from translator.backends import NO_FORMAT_PIPELINES, strings
from translator.backends.elastic_fields import PipelineFields
from translator.backends.field_eq import DirectFieldEq
from translator.backends.plain_eq import PlainStringEq


class KibanaKqlBackend(DirectFieldEq, PipelineFields, PlainStringEq):
    """Sigma to Kibana KQL; `notes` lists the matches a case-sensitive keyword field narrows."""

    name: ClassVar[str] = "Kibana KQL"
    output_format_processing_pipeline = NO_FORMAT_PIPELINES  # type: ignore[assignment]
    formats: ClassVar[dict[str, str]] = {"default": "Kibana Query Language (kuery) query"}
    requires_pipeline: ClassVar[bool] = True

    group_expression: ClassVar[str] = "({expr})"
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = ":"

    # A field name is a literal: plain dotted names stand bare, any other is quoted whole (a quoted name
    # is never a field wildcard, and spaces or the words or/and/not inside it stay part of the name).
    plain_field: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@.\-]*")
    # A field-name pattern the pipeline made: plain but for `*`, which Kibana expands over field names.
    pattern_field: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@.\-*]*")
    # A value that lies within one word of the standard analyzer wherever it occurs: a run of letters,
    # digits and underscores (Unicode word-break rules never split one).
    one_word: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_]+")

    # Values: quoted when literal, unquoted when they hold the `*` wildcard.
    quoted_escapes: ClassVar[dict[str, str]] = strings.BACKSLASH_ESCAPES
    unquoted_escapes: ClassVar[dict[str, str]] = {
        **{c: "\\" + c for c in '\\():<>"*{}'},
        "\t": "\\t",
        "\r": "\\r",
        "\n": "\\n",
    }
    wildcards: ClassVar[dict[SpecialChars, str]] = {SpecialChars.WILDCARD_MULTI: "*"}
    # A keyword ends an unquoted value: `or`/`and` between spaces, `not` before one. A backslash
    # escapes the word, except that `\n` already means newline: a lower-case n is written \u006e.
    keyword: ClassVar[re.Pattern[str]] = re.compile(
        r"(?i)(?<=[ \u00a0])(or|and)(?=[ \u00a0])|not(?=[ \u00a0])"
    )
    keyword_escapes: ClassVar[dict[str, str]] = {"n": "\\u006e"}
    # Kibana trims an unquoted value (JavaScript's trim), so whitespace at either end, escaped or
    # not, cannot be expressed there.
    trimmed: ClassVar[str] = (
        " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
        "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    )

    note_values: ClassVar[int] = 3  # values a letter-case note names before "and N more"
    bool_values: ClassVar[dict[bool, str | None]] = {True: "true", False: "false"}
    field_exists_expression: ClassVar[str] = "{field}:*"
    field_not_exists_expression: ClassVar[str] = "not {field}:*"
    field_null_expression: ClassVar[str] = "not {field}:*"
    compare_op_expression: ClassVar[str] = "{field} {operator} {value}"
    compare_operators: ClassVar[dict[SigmaCompareExpression.CompareOperators, str]] = {
        SigmaCompareExpression.CompareOperators.LT: "<",
        SigmaCompareExpression.CompareOperators.LTE: "<=",
        SigmaCompareExpression.CompareOperators.GT: ">",
        SigmaCompareExpression.CompareOperators.GTE: ">=",
    }
    cidr_expression: ClassVar[str] = '{field}:"{value}"'
    unbound_value_str_expression: ClassVar[str] = "{value}"
    case_sensitive_match_expression: ClassVar[str] = "{field}:{value}"  # |cased: KQL already is

    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = True
    field_in_list_expression: ClassVar[str] = "{field}:({list})"
    or_in_operator: ClassVar[str] = "or"
    list_separator: ClassVar[str] = " or "

    def __init__(self, processing_pipeline=None, collect_errors: bool = False, **options) -> None:  # type: ignore[no-untyped-def]
        super().__init__(processing_pipeline, collect_errors, **options)
        self._case_values: dict[str, dict[str, None]] = {}  # field -> values, in order, without repeats
        self._stored_cases: dict[str, str | None] = {}
        self._other_notes: dict[str, None] = {}
        # id(value) -> (value, its text): _note_case renders a value before the conversion renders it
        # again. The value is kept with its text, so its id cannot be another value's while the entry
        # lives; the text depends on the value alone (no state, and one backend per conversion).
        self._rendered: dict[int, tuple[SigmaString, str]] = {}

    def escape_and_quote_field(self, field_name: str) -> str:
        if self._fields.is_pattern(field_name):
            if not self.pattern_field.fullmatch(field_name):
                raise ValueError(f"the pipeline's field-name pattern {field_name!r} is not a plain name")
            return field_name
        if self.plain_field.fullmatch(field_name) and field_name.lower() not in ("or", "and", "not"):
            return field_name
        return '"' + self._quoted(field_name) + '"'

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        rendered = self._rendered.get(id(s))
        if rendered is not None and rendered[0] is s:
            return rendered[1]
        text = self._render_value(s)
        self._rendered[id(s)] = (s, text)
        return text

    def _render_value(self, s: SigmaString) -> str:
        if not s.contains_special():
            return '"' + strings.render(s, self._quoted, self.wildcards, self.name) + '"'
        ends = (s.s[0], s.s[-1])
        if any(isinstance(end, str) and end.strip(self.trimmed) != end for end in ends):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{self.name} trims whitespace at the ends of a wildcard value, so {str(s)!r} "
                "cannot be expressed"
            )
        return strings.render(s, self._unquoted, self.wildcards, self.name)

    def _quoted(self, text: str) -> str:
        return strings.escape(text, self.quoted_escapes)

    def _unquoted(self, text: str) -> str:
        def escape_keyword(match: re.Match[str]) -> str:
            word = match.group(0)
            return self.keyword_escapes.get(word[0], "\\" + word[0]) + word[1:]

        return self.keyword.sub(escape_keyword, strings.escape(text, self.unquoted_escapes))

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        fields, value = self._fields, cond.value
        fields.check_wildcards(cond.field, value)
        self._check_flattened(cond.field, value)
        if fields.is_text(cond.field):
            return self._words(cond.field, value)
        text_field = fields.text_fields.get(cond.field)
        if text_field and self._one_word_contains(value):
            self._note(
                f"{cond.field}:{self.convert_value_str(value, state)} is searched in {text_field}, the "
                "value's caseless words: it matches any letter case, within one word"
            )
            return f"{self.escape_and_quote_field(text_field)}:{self.convert_value_str(value, state)}"
        self._note_case(cond)
        return super().convert_condition_field_eq_val_str(cond, state)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        """Text fields and keyword fields with a text multi-field take their values one by one."""
        field = cond.args[0].field if isinstance(cond.args[0], ConditionFieldEqualsValueExpression) else None
        fields = self._fields
        return (
            super().decide_convert_condition_as_in_expression(cond, state)
            and not fields.is_text(field)
            and field not in fields.text_fields
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        for arg in cond.args:
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                self._fields.check_wildcards(arg.field, arg.value)
                self._check_flattened(arg.field, arg.value)
                self._note_case(arg)
        return super().convert_condition_as_in_expression(cond, state)

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        if root := self._fields.flattened_root(cond.field):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{cond.field} is a key of the flattened field {root}, which Elasticsearch compares as text "
                "and only between two bounds: a numeric comparison cannot be expressed"
            )
        return super().convert_condition_field_compare_op_val(cond, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """A value without a field: free text over the index's default fields, as a substring. Kibana
        sends it as a query_string, which splits at whitespace: each run of whitespace is written `*`."""
        parts: list[str | SpecialChars] = [SpecialChars.WILDCARD_MULTI]
        for part in cond.value.s:
            pieces = re.split(r"(\s+)", part) if isinstance(part, str) else [part]
            parts += [
                SpecialChars.WILDCARD_MULTI if isinstance(p, str) and p.isspace() else p for p in pieces if p
            ]
        parts.append(SpecialChars.WILDCARD_MULTI)
        value = SigmaString()
        value.s = [
            p
            for i, p in enumerate(parts)
            if i == 0 or p is not SpecialChars.WILDCARD_MULTI or parts[i - 1] != p
        ]
        query = self.convert_value_str(value, state)
        spaced = "; each run of whitespace matches any text" if len(value.s) > len(cond.value.s) + 2 else ""
        self._note(
            f"the keyword {str(cond.value)!r} is searched as {query} in the index's default fields (the "
            "keyword and text fields the integration declares, not flattened ones), in this letter case on "
            f"keyword fields{spaced}"
        )
        return query

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        return self.convert_condition_val_str(ConditionValueExpression(SigmaString(str(cond.value))), state)

    def convert_condition_val_re(self, cond, state):  # type: ignore[no-untyped-def]
        raise SigmaFeatureNotSupportedByBackendError(f"{self.name} has no regular expressions")

    def convert_condition_field_eq_val_re(self, cond, state):  # type: ignore[no-untyped-def]
        raise SigmaFeatureNotSupportedByBackendError(
            f"{self.name} has no regular expressions (field {cond.field}); use wildcards or another target"
        )

    def convert_condition_field_eq_field(self, cond, state):  # type: ignore[no-untyped-def]
        raise SigmaFeatureNotSupportedByBackendError(f"{self.name} cannot compare two fields ({cond.field})")

    def _check_flattened(self, field: str, value: object) -> None:
        """A key of a flattened field takes exact values and prefixes (a `prefix` query); Elasticsearch runs
        no wildcard query on it ("[wildcard] queries are not currently supported on keyed [flattened]
        fields"), and Kibana's query_string would split a prefix at whitespace."""
        root = self._fields.flattened_root(field)
        if root is None or not isinstance(value, SigmaString) or not value.contains_special():
            return
        *head, last = value.s
        prefix = "".join(p for p in head if isinstance(p, str))
        if (
            last is SpecialChars.WILDCARD_MULTI
            and all(isinstance(p, str) for p in head)
            and not re.search(r"\s", prefix)
        ):
            return
        raise SigmaFeatureNotSupportedByBackendError(
            f"{field} is a key of the flattened field {root}, on which Elasticsearch runs no wildcard query "
            f"(only exact values, prefixes without whitespace and exists): {str(value)!r} cannot be expressed"
        )

    def _words(self, field: str, value: SigmaString) -> str:
        """A text field holds words (standard analyzer, lower-cased): a value, with `*` at most at its ends,
        becomes the phrase of its words, which matches them in sequence, in any letter case."""
        inner = list(value.s)
        while inner and inner[0] is SpecialChars.WILDCARD_MULTI:
            inner.pop(0)
        while inner and inner[-1] is SpecialChars.WILDCARD_MULTI:
            inner.pop()
        if len(inner) != 1 or not isinstance(inner[0], str) or not re.search(r"\w", inner[0]):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{field} is a text field, searched for words: {str(value)!r} cannot be expressed"
            )
        phrase = '"' + self._quoted(inner[0]) + '"'
        self._note(
            f"{field} is a text field: {phrase} matches these words in sequence anywhere in it, in any "
            "letter case"
        )
        return f"{self.escape_and_quote_field(field)}:{phrase}"

    def _one_word_contains(self, value: object) -> bool:
        return (
            isinstance(value, SigmaString)
            and len(value.s) == 3
            and value.s[0] is value.s[2] is SpecialChars.WILDCARD_MULTI
            and isinstance(value.s[1], str)
            and self.one_word.fullmatch(value.s[1]) is not None
        )

    def _note(self, text: str) -> None:
        self._other_notes.setdefault(text, None)

    def _note_case(self, cond: ConditionFieldEqualsValueExpression) -> None:
        """Keyword fields match case-sensitively; say so unless the integration normalises the case. The
        pipeline's own conditions (the data stream, the log category) name values as the integration
        stores them."""
        field, value = cond.field, cond.value
        if not isinstance(value, SigmaString) or not any(c.isalpha() for c in str(value)):
            return
        if self._fields.type_of(field) != "keyword" or self._added_by_pipeline(cond):
            return
        if field not in self._stored_cases:
            self._stored_cases[field] = self._stored_case(field)
        if self._stored_cases[field] is None:
            values = self._case_values.setdefault(field, {})
            values.setdefault(self.convert_value_str(value, ConversionState()), None)

    def _added_by_pipeline(self, cond: ConditionFieldEqualsValueExpression) -> bool:
        added = self._added_ids
        return any(
            isinstance(parent, SigmaDetectionItem) and parent.applied_processing_items & added
            for parent in cond.parent_chain()
        )

    @functools.cached_property
    def _added_ids(self) -> set[str | None]:
        """The pipeline's items that add conditions: one pipeline per conversion, and a backend per
        conversion (targets.Target.render), so found once, not once per value."""
        return {
            item.identifier
            for item in self.last_processing_pipeline.items
            if isinstance(item.transformation, AddConditionTransformation)
        }

    @property
    def notes(self) -> list[str]:
        """One note per field (a rule can list thousands of values), naming the first few values."""
        notes = list(self._other_notes)
        for field, values in self._case_values.items():
            shown = list(values)[: self.note_values]
            more = f" and {len(values) - len(shown)} more values" if len(values) > len(shown) else ""
            notes.append(
                f"{field}:{' or '.join(shown)}{more} {'matches' if len(values) == 1 else 'match'} only this "
                "letter case (keyword field, stored as sent); the Sigma rule also matches other cases"
            )
        return notes

    def _stored_case(self, field: str) -> str | None:
        """The case the pipeline says the target stores `field` in, from its `case` transformations."""
        pipeline = self.last_processing_pipeline
        for item, applied in zip(pipeline.items, pipeline.applied, strict=True):
            if (
                applied
                and isinstance(item.transformation, CaseTransformation)
                and item.match_field_name(field)
            ):
                return item.transformation.method
        return None
