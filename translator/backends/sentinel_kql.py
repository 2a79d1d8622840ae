"""Microsoft Sentinel KQL: pysigma-backend-kusto, fixed for dynamic columns, plus the first-seen query.

The stock backend quotes a dotted field name in single quotes, which Kusto reads as a string literal,
so `'Authorization_d.evidence.principalId' =~ "x"` parses and never matches. Here a mapped field is a
column path checked against the table schema (kusto_columns), and each value is compared with the
operator its column type needs. Columns the table lacks come from the lookups the pipeline declares
(its `lookups` variable). A condition on a path through a list holds when any element holds it
(kusto_lists); a value without a field searches every column (`* contains`); kusto_stages says where in
the query each part of the condition runs. The rule may read several tables as one (kusto_tables).
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from typing import Any, ClassVar

from sigma.backends.kusto import KustoBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from translator.backends import NO_FORMAT_PIPELINES, strings
from translator.backends.field_eq import DirectFieldEq
from translator.backends.kusto_columns import Column, parse_path, resolve
from translator.backends.kusto_lists import Shapes, condition, group, in_text, matches_empty
from translator.backends.kusto_stages import Stages, fields, split
from translator.backends.kusto_tables import Source
from translator.backends.sentinel_query import SentinelQuery
from translator.model import FirstSeen, Schedule


class SentinelKqlBackend(DirectFieldEq, KustoBackend):
    """Sigma to a Sentinel query over Log Analytics tables; first-seen rules get the full query."""

    name: ClassVar[str] = "Microsoft Sentinel KQL"
    output_format_processing_pipeline = NO_FORMAT_PIPELINES  # type: ignore[assignment]
    formats: ClassVar[dict[str, str]] = {"default": "Kusto query for a Sentinel scheduled rule"}

    parenthesize = False
    convert_and_as_in: ClassVar[bool] = False  # has_all matches terms, not values

    string_escapes: ClassVar[dict[str, str]] = strings.BACKSLASH_ESCAPES
    # RE2 (matches regex): metacharacters escaped, anything unprintable as \x{..}.
    regex_meta: ClassVar[re.Pattern[str]] = re.compile(r"([\\.+*?()|\[\]{}^$])")
    regex_wildcards: ClassVar[dict[SpecialChars, str]] = {
        SpecialChars.WILDCARD_MULTI: ".*",
        SpecialChars.WILDCARD_SINGLE: ".",
    }
    wildcard_flags: ClassVar[str] = "(?is)"  # Sigma: case-insensitive, and `*` spans newlines
    cased_wildcard_flags: ClassVar[str] = "(?s)"
    equals_expression: ClassVar[str] = "{field} =~ {value}"
    cased_expression: ClassVar[str] = "{field} == {value}"
    startswith_expression: ClassVar[str] = "{field} startswith {value}"
    endswith_expression: ClassVar[str] = "{field} endswith {value}"
    contains_expression: ClassVar[str] = "{field} contains {value}"
    regex_expression: ClassVar[str] = "{field} matches regex {value}"
    in_expression: ClassVar[str] = "{field} in~ ({values})"
    re_flag_tokens: ClassVar[dict[SigmaRegularExpressionFlag, str]] = {
        SigmaRegularExpressionFlag.IGNORECASE: "i",
        SigmaRegularExpressionFlag.MULTILINE: "m",
        SigmaRegularExpressionFlag.DOTALL: "s",
    }
    cidr_functions: ClassVar[dict[int, str]] = {4: "ipv4_is_in_range", 6: "ipv6_is_in_range"}

    def __init__(
        self,
        processing_pipeline: Any = None,
        collect_errors: bool = False,
        schedule: Schedule | None = None,
        first_seen: FirstSeen | None = None,
        **options: Any,
    ) -> None:
        """`first_seen` carries the term fields already mapped to this target's columns."""
        super().__init__(processing_pipeline, collect_errors, **options)
        self.schedule = schedule or Schedule.from_attribute(None)
        self.first_seen = first_seen
        self.notes: list[str] = []
        self.columns: dict[str, str] = {}  # mapped field -> the column the query's results hold it in
        self.summary_columns: tuple[str, ...] = ()  # columns the query adds (first seen, counts)
        self.source = Source(("",))
        self.types: dict[str, str] = {}  # column -> Kusto type: the tables' and the lookups'
        self.shapes = Shapes()
        self.stages = Stages()
        self._bound: dict[str, Column] = {}  # field -> the list element it stands for, while rendered
        self._root_state: ConversionState | None = None

    # -- columns -------------------------------------------------------------------------------

    def lookups(self) -> list[dict[str, Any]]:
        return list(self.last_processing_pipeline.vars.get("lookups", []))

    def lookup_columns(self) -> dict[str, str]:
        return {name: spec["type"] for lk in self.lookups() for name, spec in lk["columns"].items()}

    def column(self, field: str) -> Column:
        return self._bound.get(field) or resolve(field, self.types, self.source.name)

    def escape_and_quote_field(self, field_name: str) -> str:
        return self.column(field_name).string

    # -- values --------------------------------------------------------------------------------

    def literal(self, text: str) -> str:
        return '"' + self._escape(text) + '"'

    def _escape(self, text: str) -> str:
        """Unprintable characters as \\uXXXX. Kusto.Language reads the hex digits of \\u for as long as
        they come (KustoFacts.DecodeHex), so a hex digit straight after such an escape is one too:
        "\\u0000a" could read as U+000A, "\\u0000\\u0061" reads the same either way."""
        if strings.only_escaped(text, self.string_escapes):  # no \\u escape, so no digit after one
            return text.translate(str.maketrans(self.string_escapes))
        out, after_escape = [], False
        for char in text:
            if char in self.string_escapes:
                out.append(self.string_escapes[char])
                after_escape = False
            elif strings.UNPRINTABLE.match(char) or (after_escape and char in string.hexdigits):
                out.append(f"\\u{ord(char):04x}")
                after_escape = True
            else:
                out.append(char)
                after_escape = False
        return "".join(out)

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return '"' + strings.render(s, self._escape, {}, self.name) + '"'

    def _regex_literal(self, pattern: str) -> str:
        """A verbatim string keeps a regular expression readable; it cannot hold control characters."""
        if any(ord(c) < 0x20 for c in pattern):
            return self.literal(pattern)
        return '@"' + pattern.replace('"', '""') + '"'

    def _wildcard_regex(self, s: SigmaString, flags: str, anchor: str = "^{}$") -> str:
        """The value as a regular expression: the whole string must match, unless `anchor` says so."""

        def plain(text: str) -> str:
            escaped = self.regex_meta.sub(r"\\\1", text)
            return "".join(c if c.isprintable() else f"\\x{{{ord(c):x}}}" for c in escaped)

        return self._regex_literal(
            flags + anchor.format(strings.render(s, plain, self.regex_wildcards, self.name))
        )

    # -- conditions ----------------------------------------------------------------------------

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        parent = super().convert_condition_field_eq_val
        if isinstance(cond.value, (SigmaExists, SigmaNull)):
            return self._presence(cond, lambda: parent(cond, state))
        return self._on_values(cond.field, [cond.value], lambda: parent(cond, state))

    def _on_values(self, field: str, values: list[Any], convert: Callable[[], str]) -> str:
        """A condition on `field` as pySigma converts it, but on each element where the field is a path
        through a list, and also on the other forms of a list or JSON text value (kusto_lists)."""
        column = self.column(field)
        views = not all(in_text(v) for v in values)
        empty = any(matches_empty(v) for v in values)
        bound = self._bind(field, convert)

        def predicate(value: Column) -> str:
            # A missing key of a dynamic value reads as "": a value that matches "" must not match it.
            text = bound(value)
            return f"(isnotnull({value.text}) and {group(text)})" if empty and value.is_dynamic else text

        if not column.lists and not (views and column.name in self.shapes.lists | self.shapes.json_text):
            return predicate(column)
        return condition(self.stages.lists, column, self.shapes, predicate, views)

    def _presence(self, cond: ConditionFieldEqualsValueExpression, convert: Callable[[], str]) -> str:
        """exists, not exists and null. A path through a list is there when any element has it, and
        missing (null) when none has."""
        column = self.column(cond.field)
        if not column.lists:
            return convert()
        present = condition(self.stages.lists, column, self.shapes, lambda value: value.present, False)
        wanted = isinstance(cond.value, SigmaExists) and cond.value.exists
        return present if wanted else f"not({present})"

    def _bind(self, field: str, convert: Callable[[], str]) -> Callable[[Column], str]:
        """`convert`, rendering the condition on `value` (the field itself, or a list element)."""

        def predicate(value: Column) -> str:
            self._bound[field] = value
            try:
                return convert()
            finally:
                del self._bound[field]

        return predicate

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        field, value = self.column(cond.field).string, cond.value
        multi = SpecialChars.WILDCARD_MULTI
        if not value.contains_special():
            expression = self.equals_expression
        elif value.endswith(multi) and not value[:-1].contains_special():
            expression, value = self.startswith_expression, value[:-1]
        elif value.startswith(multi) and not value[1:].contains_special():
            expression, value = self.endswith_expression, value[1:]
        elif value.startswith(multi) and value.endswith(multi) and not value[1:-1].contains_special():
            expression, value = self.contains_expression, value[1:-1]
        else:
            return self.regex_expression.format(
                field=field, value=self._wildcard_regex(value, self.wildcard_flags)
            )
        return expression.format(field=field, value=self.convert_value_str(value, state))

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        field, value = self.column(cond.field).string, cond.value
        if value.contains_special():
            return self.regex_expression.format(
                field=field, value=self._wildcard_regex(value, self.cased_wildcard_flags)
            )
        return self.cased_expression.format(field=field, value=self.convert_value_str(value, state))

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        return super().decide_convert_condition_as_in_expression(cond, state) and all(
            isinstance(arg.value, SigmaString) for arg in cond.args
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        return self._on_values(
            cond.args[0].field, [a.value for a in cond.args], lambda: self._in_expression(cond, state)
        )

    def _in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> str:
        """Plain values in one case-insensitive `in~`; wildcard values stay their own comparisons."""
        special = [a.value.contains_special() for a in cond.args]
        plain = [a for a, wild in zip(cond.args, special, strict=True) if not wild]
        parts = []
        if plain:
            values = ", ".join(self.convert_value_str(a.value, state) for a in plain)
            parts.append(self.in_expression.format(field=self.column(plain[0].field).string, values=values))
        # Split by position, not by `in`: comparing pySigma values is slow and made this quadratic.
        parts.extend(
            self.convert_condition_field_eq_val_str(a, state)
            for a, wild in zip(cond.args, special, strict=True)
            if wild
        )
        return " or ".join(parts)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        column = self.column(cond.field)
        if column.type == "string":
            return f"{column.text} == {self.literal(str(cond.value))}"
        return f"{column.number} == {cond.value}"

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        return f"{self.column(cond.field).number} {self.compare_operators[value.op]} {value.number}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaBool)
        column = self.column(cond.field)
        expression = column.text if column.type == "bool" else f"tobool({column.text})"
        return f"{expression} == {'true' if cond.value.boolean else 'false'}"

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self.column(cond.field).present

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self.column(cond.field).absent

    convert_condition_field_eq_val_null = convert_condition_field_not_exists

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        regex = cond.value
        assert isinstance(regex, SigmaRegularExpression)
        return self.regex_expression.format(
            field=self.column(cond.field).string, value=self._regex_literal(self._regex_pattern(regex))
        )

    def _regex_pattern(self, regex: SigmaRegularExpression) -> str:
        flags = "".join(sorted(self.re_flag_tokens[f] for f in regex.flags))
        return (f"(?{flags})" if flags else "") + str(regex.regexp)

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        network = ipaddress.ip_network(str(cond.value.network))
        function = self.cidr_functions[network.version]
        return f"{function}({self.column(cond.field).string}, {self.literal(str(network))})"

    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError(f"{self.name}: field references are not supported")

    # -- keywords: values without a field ------------------------------------------------------

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Sigma's keyword: the value anywhere in the event, in any case. `*` searches every column of
        the row (dynamic ones as their JSON text); wildcards at the ends add nothing to "anywhere"."""
        value = cond.value
        assert isinstance(value, SigmaString)
        multi = SpecialChars.WILDCARD_MULTI
        while value.startswith(multi):
            value = value[1:]
        while value.endswith(multi):
            value = value[:-1]
        if not value.contains_special():
            return f"* contains {self.convert_value_str(value, state)}"
        return f"* matches regex {self._wildcard_regex(value, self.wildcard_flags, '{}')}"

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        return f"* contains {self.literal(str(cond.value))}"

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        regex = cond.value
        assert isinstance(regex, SigmaRegularExpression)
        return f"* matches regex {self._regex_literal(self._regex_pattern(regex))}"

    # -- the parts of the condition ------------------------------------------------------------

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """Split the rule's condition into the parts each stage of the query filters on (kusto_stages).

        The first call for a conversion state is the rule's whole condition; it returns the parts that
        filter the table first, and keeps the others in `stages` for SentinelQuery.
        """
        if state is self._root_state:
            return super().convert_condition(cond, state)
        self._root_state = state
        pipeline_vars = self.last_processing_pipeline.vars
        self.source = Source.of(
            state.processing_state.get("query_table"), pipeline_vars.get("column_renames", {})
        )
        lookup_columns = self.lookup_columns()
        self.types = self.source.types | lookup_columns
        self.shapes = Shapes(
            frozenset(pipeline_vars.get("lists", [])), frozenset(pipeline_vars.get("json_text", []))
        )
        self.stages = Stages()
        split(
            cond,
            lambda parts: self._and(parts, state),
            lambda part: {parse_path(f)[0] for f in fields(part)} & lookup_columns.keys(),
            self.stages,
        )
        return self.stages.before

    def _and(self, parts: list[Any], state: ConversionState) -> str:
        outer = ConditionAND([])
        return " and ".join(
            self.convert_condition(p, state)
            if self.compare_precedence(outer, p)
            else self.convert_condition_group(p, state)
            for p in parts
        )

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        """`query` is the part that filters the table first; SentinelQuery reads every part from `stages`."""
        return SentinelQuery(self, rule).text()
