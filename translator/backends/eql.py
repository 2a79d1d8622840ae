"""Elasticsearch EQL: pysigma-backend-elasticsearch's EQL backend with its faults fixed.

The stock backend writes `\\*` for a literal asterisk, which the EQL grammar rejects, has no field
exists, compares numbers with `:` (a string operator), and treats every regular expression as
case-insensitive. Elasticsearch's `:` and `like~` have no escape for `*` and `?` at all (its
toLikePattern turns every one into a wildcard), so a value holding either literally becomes a
case-insensitive regular expression (`regex~`), which is exact.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sigma.backends.elasticsearch import EqlBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString, SpecialChars

from translator.backends import strings


class ElasticEqlBackend(EqlBackend):
    """EQL in Elasticsearch syntax (`:` case-insensitive, `==` exact)."""

    name: ClassVar[str] = "Elasticsearch EQL"
    formats: ClassVar[dict[str, str]] = {"default": "EQL query: any where <condition>"}

    # The stock backend ranks OR above AND; EQL binds NOT, then AND, then OR, as the base class says.
    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        TextQueryBackend.precedence
    )
    parenthesize: bool = False

    # A name that is not a plain dotted identifier is quoted whole in backticks (`` doubles a backtick).
    field_quote: ClassVar[str] = "`"
    field_quote_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z_@][A-Za-z0-9_@.]*$")
    field_quote_pattern_negation: ClassVar[bool] = True
    field_escape: ClassVar[str] = "`"
    field_escape_pattern: ClassVar[re.Pattern[str] | None] = None

    string_escapes: ClassVar[dict[str, str]] = strings.BACKSLASH_ESCAPES
    wildcards: ClassVar[dict[SpecialChars, str]] = {
        SpecialChars.WILDCARD_MULTI: "*",
        SpecialChars.WILDCARD_SINGLE: "?",
    }
    # Lucene regular expressions, for values with a literal * or ?: `\` before any non-alphanumeric
    # character makes it literal (before a letter it could name a class such as \d).
    regex_wildcards: ClassVar[dict[SpecialChars, str]] = {
        SpecialChars.WILDCARD_MULTI: ".*",
        SpecialChars.WILDCARD_SINGLE: ".",
    }
    regex_literal: ClassVar[re.Pattern[str]] = re.compile(r"([^0-9A-Za-z\s\u0080-\U0010ffff])")
    literal_wildcard_chars: ClassVar[str] = "*?"
    regex_match_expression: ClassVar[str] = "{field} regex~ {value}"

    field_exists_expression: ClassVar[str] = "?{field} != null"
    field_not_exists_expression: ClassVar[str] = "?{field} == null"
    num_eq_expression: ClassVar[str] = "{field} == {value}"
    re_expression: ClassVar[str] = "{field} regex{flag_i} {regex}"
    re_flag_prefix: bool = False
    re_flags: dict[SigmaRegularExpressionFlag, str] = {SigmaRegularExpressionFlag.IGNORECASE: "~"}

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return '"' + strings.render(s, self._escape, self.wildcards, self.name) + '"'

    def _escape(self, text: str) -> str:
        return strings.escape(text, self.string_escapes, lambda c: f"\\u{{{ord(c):x}}}")

    def _regex(self, s: SigmaString) -> str:
        plain = lambda text: self._escape(self.regex_literal.sub(r"\\\1", text))  # noqa: E731
        return '"' + strings.render(s, plain, self.regex_wildcards, self.name) + '"'

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        if strings.has_literal(cond.value, self.literal_wildcard_chars):
            return self.regex_match_expression.format(
                field=self.escape_and_quote_field(cond.field), value=self._regex(cond.value)
            )
        return super().convert_condition_field_eq_val_str(cond, state)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        """A like~ list cannot hold a literal * or ?; such lists stay OR-ed comparisons."""
        return super().decide_convert_condition_as_in_expression(cond, state) and not any(
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and isinstance(arg.value, SigmaString)
            and strings.has_literal(arg.value, self.literal_wildcard_chars)
            for arg in cond.args
        )

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self.num_eq_expression.format(field=self.escape_and_quote_field(cond.field), value=cond.value)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        return '"' + self._escape(str(r.regexp)) + '"'
