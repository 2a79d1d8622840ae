"""Microsoft Sentinel KQL: pysigma-backend-kusto, fixed for dynamic columns, plus the first-seen query.

The stock backend quotes a dotted field name in single quotes, which Kusto reads as a string literal,
so `'Authorization_d.evidence.principalId' =~ "x"` parses and never matches. Here a mapped field is a
column path checked against the table schema (kusto_columns), and each value is compared with the
operator its column type needs. Columns the table lacks come from the lookups the pipeline declares
(its `lookups` variable); conditions on them run after the lookup, the rest before it.
"""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Any, ClassVar

from sigma.backends.kusto import KustoBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
)
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCompareExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from translator.backends import strings
from translator.backends.kusto_columns import Column, parse_path, resolve
from translator.backends.sentinel_query import SentinelQuery
from translator.model import FirstSeen, Schedule


class SentinelKqlBackend(KustoBackend):
    """Sigma to a Sentinel query over one Log Analytics table; first-seen rules get the full query."""

    name: ClassVar[str] = "Microsoft Sentinel KQL"
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
        self.table = ""
        self.types: dict[str, str] = {}  # column -> Kusto type: the table's and the lookups'
        self._root_state: ConversionState | None = None

    # -- columns -------------------------------------------------------------------------------

    def lookups(self) -> list[dict[str, Any]]:
        return list(self.last_processing_pipeline.vars.get("lookups", []))

    def lookup_columns(self) -> dict[str, str]:
        return {name: spec["type"] for lk in self.lookups() for name, spec in lk["columns"].items()}

    def column(self, field: str) -> Column:
        return resolve(field, self.types, self.table)

    def escape_and_quote_field(self, field_name: str) -> str:
        return self.column(field_name).string

    # -- values --------------------------------------------------------------------------------

    def literal(self, text: str) -> str:
        return '"' + self._escape(text) + '"'

    def _escape(self, text: str) -> str:
        """Unprintable characters as \\uXXXX. Kusto.Language reads the hex digits of \\u for as long as
        they come (KustoFacts.DecodeHex), so a hex digit straight after such an escape is one too:
        "\\u0000a" could read as U+000A, "\\u0000\\u0061" reads the same either way."""
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

    def _wildcard_regex(self, s: SigmaString, flags: str) -> str:
        def plain(text: str) -> str:
            escaped = self.regex_meta.sub(r"\\\1", text)
            return "".join(c if c.isprintable() else f"\\x{{{ord(c):x}}}" for c in escaped)

        return self._regex_literal(
            flags + "^" + strings.render(s, plain, self.regex_wildcards, self.name) + "$"
        )

    # -- conditions ----------------------------------------------------------------------------

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
        flags = "".join(sorted(self.re_flag_tokens[f] for f in regex.flags))
        pattern = (f"(?{flags})" if flags else "") + str(regex.regexp)
        return self.regex_expression.format(
            field=self.column(cond.field).string, value=self._regex_literal(pattern)
        )

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        network = ipaddress.ip_network(str(cond.value.network))
        function = self.cidr_functions[network.version]
        return f"{function}({self.column(cond.field).string}, {self.literal(str(network))})"

    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError(f"{self.name}: field references are not supported")

    # -- the lookup split ----------------------------------------------------------------------

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """Split the rule's condition into the parts before and after the lookups.

        The first call for a conversion state is the rule's whole condition: its top-level AND parts
        that use no lookup column filter the table before the lookup, which then runs on fewer rows.
        """
        if state is self._root_state:
            return super().convert_condition(cond, state)
        self._root_state = state
        table = state.processing_state.get("query_table")
        if table not in AZURE_MONITOR_TABLES:
            raise SigmaFeatureNotSupportedByBackendError(
                f"the pipeline names no known Log Analytics table (query_table is {table!r})"
            )
        self.table = str(table)
        lookup_columns = self.lookup_columns()
        columns = {name: info["data_type"] for name, info in AZURE_MONITOR_TABLES[self.table].items()}
        self.types = columns | lookup_columns
        before, after, used_columns = [], [], set()
        for part in _conjuncts(cond):
            used = {parse_path(field)[0] for field in _fields(part)} & lookup_columns.keys()
            (after if used else before).append(part)
            used_columns |= used
        state.processing_state["after_lookup"] = self._and(after, state)
        state.processing_state["lookup_columns_used"] = used_columns
        return self._and(before, state)

    def _and(self, parts: list[Any], state: ConversionState) -> str:
        outer = ConditionAND([])
        return " and ".join(
            self.convert_condition(p, state)
            if self.compare_precedence(outer, p)
            else self.convert_condition_group(p, state)
            for p in parts
        )

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        return SentinelQuery(self, rule, query, state).text()


def _conjuncts(cond: Any) -> list[Any]:
    if isinstance(cond, ConditionAND):
        return [c for arg in cond.args for c in _conjuncts(arg)]
    return [cond]


def _fields(cond: Any) -> list[str]:
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return [cond.field]
    return [f for arg in getattr(cond, "args", []) for f in _fields(arg)]
