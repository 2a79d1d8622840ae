"""A string comparison written with the eq template alone, without the regular expression it never reads.

pySigma's TextQueryBackend renders `field = "string"` through the first template its string modifiers
select (startswith, endswith, contains, wildcard match, else eq) and passes every template the value as
a regular expression too, `{regex}`, converting each value to one first. The Kibana KQL and EQL backends
define no template but eq, and theirs does not read `{regex}`: building the expression cost 6% of a
build's instructions (callgrind, 200 generated rules) for text nobody used.
"""

from __future__ import annotations

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState

_SELECTING = (
    "startswith_expression",
    "endswith_expression",
    "contains_expression",
    "wildcard_match_expression",
)


class PlainStringEq(TextQueryBackend):
    """Place it after the backend classes whose own string comparison must still run first (pySigma's
    EqlBackend writes empty strings and addresses with `==`), so that their `super()` call lands here."""

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str | DeferredQueryExpression:
        """Safe where TextQueryBackend would pick eq_expression whatever the value (no other template is
        set) and eq_expression does not read `{regex}`: the same call of format with the same field and
        value. Any other backend takes pySigma's way."""
        if any(getattr(self, name) is not None for name in _SELECTING) or "{regex" in self.eq_expression:
            return super().convert_condition_field_eq_val_str(cond, state)
        field = self.escape_and_quote_field(cond.field)
        return self.eq_expression.format(
            field=field, value=self.convert_value_str(cond.value, state), backend=self
        )
