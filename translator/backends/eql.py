"""Elasticsearch EQL: pysigma-backend-elasticsearch's EQL backend with its faults fixed.

The stock backend writes `\\*` for a literal asterisk, which the EQL grammar rejects, has no field
exists, compares numbers with `:` (a string operator), and treats every regular expression as
case-insensitive. Elasticsearch's `:` and `like~` have no escape for `*` and `?` at all (its
toLikePattern turns every one into a wildcard), so a value holding either literally becomes a
case-insensitive regular expression (`regex~`), which is exact. Sigma's regular expressions are
searches in PCRE style; they are rewritten as the Lucene RegExps Elasticsearch matches whole values with.

EQL resolves every field name exactly against the index mapping and searches no text, so it is refused
for what the Elastic storage holds otherwise (translator/backends/elastic_fields.py, from the pipeline):
a key of a `flattened` field (Elasticsearch answers "Cannot use field [...] with unsupported type
[flattened]", elastic/elasticsearch#101985), a field-name pattern over a list's numbered keys, a text
field (no exact value to compare), and a value without a field.
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
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString, SpecialChars

from translator.backends import NO_FORMAT_PIPELINES, strings
from translator.backends.elastic_fields import PipelineFields
from translator.backends.field_eq import DirectFieldEq
from translator.backends.plain_eq import PlainStringEq


class ElasticEqlBackend(DirectFieldEq, PipelineFields, EqlBackend, PlainStringEq):
    """EQL in Elasticsearch syntax (`:` case-insensitive, `==` exact)."""

    name: ClassVar[str] = "Elasticsearch EQL"
    output_format_processing_pipeline = NO_FORMAT_PIPELINES  # type: ignore[assignment]
    formats: ClassVar[dict[str, str]] = {"default": "EQL query: any where <condition>"}

    # The stock backend ranks OR above AND; EQL binds NOT, then AND, then OR, as the base class says.
    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        TextQueryBackend.precedence
    )
    parenthesize: bool = False

    # A name is quoted whole in backticks (`` doubles a backtick: Elasticsearch's ESCAPED_IDENTIFIER)
    # unless every dotted part is a name in both grammars: a letter or _, then letters, digits and _
    # (Elasticsearch's IDENTIFIER, the eql library's NAME), and no keyword. Claim keys showed that
    # `a.1x`, `a.b@c` and `a.or` do not parse bare.
    field_quote: ClassVar[str] = "`"
    field_quote_pattern: ClassVar[re.Pattern[str]] = re.compile(
        r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    )
    field_quote_pattern_negation: ClassVar[bool] = True
    field_escape: ClassVar[str] = "`"
    field_escape_pattern: ClassVar[re.Pattern[str] | None] = None
    # The keywords of Elasticsearch's EqlBase.g4 and of the eql library (any letter case, to be safe).
    keywords: ClassVar[frozenset[str]] = frozenset(
        {
            "and", "any", "by", "const", "false", "fork", "in", "join", "like", "macro", "maxspan", "not",
            "null", "of", "or", "regex", "sample", "sequence", "true", "until", "where", "with",
        }
    )  # fmt: skip

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
    bool_eq_expression: ClassVar[str] = "{field} == {value}"  # `:` compares strings only
    typed_eq_expression: ClassVar[str] = "{field} == {value}"  # date and ip fields take a string value
    typed_by_string: ClassVar[frozenset[str]] = frozenset({"date", "ip"})
    re_expression: ClassVar[str] = "{field} regex{flag_i} {regex}"
    re_flag_prefix: bool = False
    # Only i changes the operator; s and m change the pattern itself (see convert_value_re).
    re_flags: dict[SigmaRegularExpressionFlag, str] = {
        SigmaRegularExpressionFlag.IGNORECASE: "~",
        SigmaRegularExpressionFlag.DOTALL: "",
        SigmaRegularExpressionFlag.MULTILINE: "",
    }

    def escape_and_quote_field(self, field_name: str) -> str:
        self._check_field(field_name)
        quoted = super().escape_and_quote_field(field_name)
        if quoted == field_name and any(p.lower() in self.keywords for p in field_name.split(".")):
            return self.field_quote + field_name + self.field_quote  # bare names hold no backtick
        return quoted

    def _check_field(self, field: str) -> None:
        fields = self._fields
        if fields.is_pattern(field):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{self.name} has no field-name patterns: it resolves each field exactly, and the "
                f"integration stores each element of this list under its own numbered key ({field})"
            )
        if root := fields.flattened_root(field):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{self.name} cannot query {field}: the integration maps {root} as flattened, and "
                "Elasticsearch refuses flattened fields in EQL "
                '("Cannot use field [...] with unsupported type [flattened]")'
            )
        if fields.is_text(field):
            raise SigmaFeatureNotSupportedByBackendError(
                f"{self.name} compares exact values only, and {field} is a text field without a keyword "
                'multi-field ("No keyword/multi-field defined exact matches")'
            )

    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError(
            f"{self.name} has no full-text search: every condition names a field, and a keyword detection "
            "searches values in any field"
        )

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return '"' + strings.render(s, self._escape, self.wildcards, self.name) + '"'

    def _escape(self, text: str) -> str:
        return strings.escape(
            text, self.string_escapes, lambda c: f"\\u{{{ord(c):02x}}}"
        )  # 2 to 8 hex digits

    def _regex(self, s: SigmaString) -> str:
        plain = lambda text: self._escape(self.regex_literal.sub(r"\\\1", text))  # noqa: E731
        return '"' + strings.render(s, plain, self.regex_wildcards, self.name) + '"'

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        fields = self._fields
        fields.check_wildcards(cond.field, cond.value)
        if fields.type_of(cond.field) in self.typed_by_string:
            if cond.value.contains_special():
                raise SigmaFeatureNotSupportedByBackendError(
                    f"{cond.field} is a date field, which takes no wildcards"
                )
            value = self.convert_value_str(cond.value, state)
            return self.typed_eq_expression.format(field=self.escape_and_quote_field(cond.field), value=value)
        if strings.has_literal(cond.value, self.literal_wildcard_chars):
            return self.regex_match_expression.format(
                field=self.escape_and_quote_field(cond.field), value=self._regex(cond.value)
            )
        return super().convert_condition_field_eq_val_str(cond, state)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        """A like~ list cannot hold a literal * or ?; such lists stay OR-ed comparisons (as do lists on
        a date or ip field, which compare with ==)."""
        field = cond.args[0].field if isinstance(cond.args[0], ConditionFieldEqualsValueExpression) else None
        return (
            super().decide_convert_condition_as_in_expression(cond, state)
            and self._fields.type_of(field) not in self.typed_by_string
            and not any(
                isinstance(arg, ConditionFieldEqualsValueExpression)
                and isinstance(arg.value, SigmaString)
                and strings.has_literal(arg.value, self.literal_wildcard_chars)
                for arg in cond.args
            )
        )

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self.num_eq_expression.format(field=self.escape_and_quote_field(cond.field), value=cond.value)

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = self.bool_values[cond.value.boolean]
        return self.bool_eq_expression.format(field=self.escape_and_quote_field(cond.field), value=value)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        if SigmaRegularExpressionFlag.MULTILINE in r.flags:
            raise SigmaFeatureNotSupportedByBackendError("EQL regular expressions have no multi-line mode")
        dotall = SigmaRegularExpressionFlag.DOTALL in r.flags
        return '"' + self._escape(lucene_regex(str(r.regexp), dotall)) + '"'


# Sigma's regular expressions search (PCRE style); Elasticsearch's regex is a Lucene RegExp, matched
# against the whole value, with no anchors, no shorthand classes and operators of its own.
LUCENE_OPERATORS = frozenset('#@&~<>"{}')  # literal in PCRE (outside a repeat), syntax in Lucene
REPEAT = re.compile(r"\{(?=,?\d)(\d*)(,\d*)?\}")  # {n}, {n,}, {n,m} and {,m}
SHORTHANDS = {"d": "0-9", "w": "0-9A-Za-z_", "s": " \t\n\r\f\v"}
CONTROL = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v"}


def lucene_regex(pattern: str, dotall: bool = False) -> str:
    """The Lucene RegExp that matches a whole value exactly when `pattern` is found in it."""
    return "|".join(_alternative(a, dotall) for a in _split_alternatives(pattern))


def _split_alternatives(pattern: str) -> list[str]:
    parts, depth, in_class, start, i = [], 0, False, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" else 3 if pattern[i + 1 : i + 3] == "^]" else 1
            continue
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return parts + [pattern[start:]]


def _alternative(pattern: str, dotall: bool) -> str:
    """One top-level alternative: its ^ and $ decide whether the whole value is matched or searched."""
    anchored_start = pattern.startswith("^")
    anchored_end = pattern.endswith("$") and (len(pattern) - len(pattern[:-1].rstrip("\\"))) % 2 == 1
    body = pattern[1 if anchored_start else 0 : len(pattern) - 1 if anchored_end else len(pattern)]
    out: list[str] = []
    in_class, quantified, i = False, False, 0
    while i < len(body):
        c, nxt = body[i], body[i + 1 : i + 2]
        step, was_quantified, quantified = 1, quantified, False
        if c == "\\" and nxt:
            step = 2
            if nxt.lower() in SHORTHANDS and (nxt.islower() or not in_class):
                chars = SHORTHANDS[nxt.lower()]
                out.append(chars if in_class else f"[{'' if nxt.islower() else '^'}{chars}]")
            elif nxt in CONTROL:
                out.append(CONTROL[nxt])
            elif nxt.isalnum():
                raise SigmaFeatureNotSupportedByBackendError(f"EQL regular expressions have no \\{nxt}")
            else:
                out.append("\\" + nxt)
        elif in_class:
            if c == "[" and nxt == ":":
                raise SigmaFeatureNotSupportedByBackendError(
                    f"EQL regular expressions have no POSIX classes: {pattern!r}"
                )
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True  # a ] straight after [ or [^ is a literal one
            step = 2 if nxt == "]" else 3 if body[i + 1 : i + 3] == "^]" else 1
            out.append(body[i : i + step].replace("]", "\\]"))
        elif c in "*+?{" and was_quantified:
            if c != "?":
                raise SigmaFeatureNotSupportedByBackendError(f"EQL regular expressions have no {c!r} here")
            # a lazy quantifier matches where the greedy one does: the same yes or no
        elif c in "*+?":
            quantified = True
            out.append(c)
        elif repeat := REPEAT.match(body, i):
            quantified, step = True, len(repeat[0])
            out.append("{" + (repeat[1] or "0") + (repeat[2] or "") + "}")
        elif c in "^$" or (c == "(" and nxt == "?" and body[i + 2 : i + 3] != ":"):
            raise SigmaFeatureNotSupportedByBackendError(
                f"EQL regular expressions have no inner anchors, lookaround or flags: {pattern!r}"
            )
        elif c == "(" and nxt == "?":
            out.append("(")
            step = 3
        elif c == "." and not dotall:
            out.append("[^\n]")
        elif c in LUCENE_OPERATORS:
            out.append("\\" + c)
        else:
            out.append(c)
        i += step
    return ("" if anchored_start else ".*") + "".join(out) + ("" if anchored_end else ".*")
