"""translator/backends/field_eq.py: without pySigma's negation wrapper, every query is the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from sigma.conversion.base import TextQueryBackend

from support.sources import rule_source
from translator.backends.field_eq import DirectFieldEq
from translator.backends.kibana_kql import KibanaKqlBackend
from translator.errors import RuleError
from translator.targets import TARGETS

# Values of every kind a field = value condition dispatches on, alone, ORed, and under one or two NOTs
# (where a backend with convert_not_as_not_eq would swap its templates).
DETECTIONS: list[dict[str, Any]] = [
    {"a": {"operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"}, "condition": "a"},
    {"a": {"operationName|startswith": "MICROSOFT.KEYVAULT/"}, "condition": "not a"},
    {"a": {"resourceId|endswith": "/vm-1", "level": 4}, "condition": "not a"},
    {"a": {"callerIpAddress|cidr": "10.0.0.0/8"}, "b": {"level": [3, 4]}, "condition": "a and not b"},
    {"a": {"operationName|re": "^MICROSOFT\\..*"}, "condition": "not a"},
    {"a": {"properties.isComplianceCheck": True}, "b": {"resultType": None}, "condition": "not (a or not b)"},
    {"a": {"operationName|contains|all": ["A", "B"]}, "b": {"caller": "x"}, "condition": "not (a and b)"},
    {"a": ["keyword search"], "condition": "not a"},
]


def outcome(target: str, detection: dict[str, Any]) -> str:
    try:
        return TARGETS[target].render(rule_source(detection)).text
    except RuleError as e:
        return f"refused: {e.reason}"


@pytest.mark.parametrize("target", ["kibana-kql", "eql", "sentinel-kql"])
@pytest.mark.parametrize("detection", DETECTIONS, ids=lambda d: repr(d)[:70])
def test_the_queries_are_those_with_pysigmas_wrapper(
    target: str, detection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = outcome(target, detection)
    monkeypatch.setattr(
        DirectFieldEq,
        "convert_condition_field_eq_val",
        lambda self, cond, state: TextQueryBackend.convert_condition_field_eq_val(self, cond, state),
    )
    assert outcome(target, detection) == direct


def test_a_backend_that_negates_templates_keeps_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    entered: list[bool] = []
    original = TextQueryBackend.not_equals_context_manager

    @contextmanager
    def spying(self: TextQueryBackend, use_negated_expressions: bool = False) -> Iterator[None]:
        entered.append(use_negated_expressions)
        with original(self, use_negated_expressions):
            yield

    monkeypatch.setattr(TextQueryBackend, "not_equals_context_manager", spying)
    outcome("kibana-kql", DETECTIONS[1])
    assert entered == []  # ours: the dispatcher directly

    class Negating(KibanaKqlBackend):
        convert_not_as_not_eq: ClassVar[bool] = True
        not_eq_expression: ClassVar[str] = "not {field}:{value}"

    with suppress(RuleError):  # what the template makes of it does not matter, only that pySigma's way ran
        replace(TARGETS["kibana-kql"], backend=Negating).render(rule_source(DETECTIONS[1]))
    assert True in entered  # the value under `not`, with the negated templates
