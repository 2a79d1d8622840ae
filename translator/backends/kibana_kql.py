"""Kibana Query Language (kuery), the query language of Kibana's search bar and detection rules.

No pySigma backend emits it: the Elasticsearch backend's Lucene is not KQL. The dialect follows
Kibana's grammar (kuery.peg): a quoted value is a literal phrase (no wildcard inside quotes), `*` is the
only wildcard and works only unquoted, an unquoted value is trimmed and stops at a keyword, and there is
neither a `?` wildcard nor a regular expression.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.transformations import CaseTransformation
from sigma.types import SigmaCompareExpression, SigmaString, SpecialChars

from translator.backends import strings


class KibanaKqlBackend(TextQueryBackend):
    """Sigma to Kibana KQL; `notes` lists the matches a case-sensitive keyword field narrows."""

    name: ClassVar[str] = "Kibana KQL"
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

    def escape_and_quote_field(self, field_name: str) -> str:
        if self.plain_field.fullmatch(field_name) and field_name.lower() not in ("or", "and", "not"):
            return field_name
        return '"' + self._quoted(field_name) + '"'

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
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
        self._note_case(cond.field, cond.value)
        return super().convert_condition_field_eq_val_str(cond, state)

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        for arg in cond.args:
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                self._note_case(arg.field, arg.value)
        return super().convert_condition_as_in_expression(cond, state)

    def convert_condition_field_eq_val_re(self, cond, state):  # type: ignore[no-untyped-def]
        raise SigmaFeatureNotSupportedByBackendError(
            f"{self.name} has no regular expressions (field {cond.field}); use wildcards or another target"
        )

    def convert_condition_field_eq_field(self, cond, state):  # type: ignore[no-untyped-def]
        raise SigmaFeatureNotSupportedByBackendError(f"{self.name} cannot compare two fields ({cond.field})")

    def _note_case(self, field: str, value: object) -> None:
        """Keyword fields match case-sensitively; say so unless the integration normalises the case."""
        if not isinstance(value, SigmaString) or not any(c.isalpha() for c in str(value)):
            return
        if field not in self._stored_cases:
            self._stored_cases[field] = self._stored_case(field)
        if self._stored_cases[field] is None:
            values = self._case_values.setdefault(field, {})
            values.setdefault(self.convert_value_str(value, ConversionState()), None)

    @property
    def notes(self) -> list[str]:
        """One note per field (a rule can list thousands of values), naming the first few values."""
        notes = []
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
