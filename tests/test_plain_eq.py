"""translator/backends/plain_eq.py: the string comparisons it writes are pySigma's, byte for byte."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import pytest
from sigma.conversion.base import TextQueryBackend
from sigma.types import SigmaString

from support.sources import rule_source
from translator.backends.kibana_kql import KibanaKqlBackend
from translator.backends.plain_eq import PlainStringEq
from translator.errors import RuleError
from translator.model import RuleSource
from translator.targets import TARGETS, Target

# Plain text, wildcards, escapes, quotes, an empty string and an address (pySigma's EQL writes those two
# with ==), letters outside ASCII, a keyword-like word and modifiers that add wildcards.
SEARCHES: list[dict[str, Any]] = [
    {"operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"},
    {"operationName": ["MICROSOFT.A/WRITE", "MICROSOFT.B/DELETE"]},
    {"operationName|startswith": "MICROSOFT.KEYVAULT/"},
    {"resourceId|endswith": "/virtualMachines/vm-1"},
    {"identity.authorization.scope|contains": 'rg "prod" \\ 50% (a?b)'},
    {"operationName": "MICROSOFT.*/WRITE?"},
    {"operationName": "a\\*literal"},
    {"operationName": ""},
    {"callerIpAddress": "10.1.2.3"},
    {"identity.authorization.evidence.principalType": "jürgen@contoso.com"},
    {"operationName": "and or not"},
    {"identity.authorization.action|contains|all": ["Microsoft.", "listKeys"]},
]


def outcome(target: Target, search: dict[str, Any]) -> str:
    """The query, or the refusal: the two ways must agree on both."""
    try:
        return target.render(selected(search)).text
    except RuleError as e:
        return f"refused: {e.reason}"


def selected(search: dict[str, Any]) -> RuleSource:
    return rule_source({"selection": search, "condition": "selection"})


@pytest.mark.parametrize("target", ["kibana-kql", "eql"])
@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: repr(s)[:60])
def test_the_queries_are_pysigmas(
    target: str, search: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = outcome(TARGETS[target], search)
    monkeypatch.setattr(
        PlainStringEq,
        "convert_condition_field_eq_val_str",
        lambda self, cond, state: TextQueryBackend.convert_condition_field_eq_val_str(self, cond, state),
    )
    assert outcome(TARGETS[target], search) == fast


def test_a_backend_with_another_string_template_takes_pysigmas_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where pySigma could pick another template, or eq reads {regex}, the value's regex is built."""
    built: list[str] = []
    to_regex = SigmaString.to_regex

    def counting(self: SigmaString, *args: Any) -> Any:
        built.append(str(self))
        return to_regex(self, *args)

    monkeypatch.setattr(SigmaString, "to_regex", counting)
    TARGETS["kibana-kql"].render(selected(SEARCHES[0]))
    assert built == []  # the fast path: no regex for a template that does not read it

    class WithStartswith(KibanaKqlBackend):
        startswith_expression: ClassVar[str] = "{field}:{value}*"

    replace(TARGETS["kibana-kql"], backend=WithStartswith).render(selected(SEARCHES[0]))
    assert "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE" in built
