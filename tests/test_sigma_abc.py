"""translator/sigma_abc.py: pySigma's classes answer isinstance and issubclass exactly as ABCMeta would."""

from __future__ import annotations

import abc
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
)

import translator.compile_rule  # noqa: F401  (applies speed_up to the loaded pySigma)
from translator import sigma_abc
from translator.loader import load_rule

RULES = Path(__file__).parent.parent / "sigma"


def sigma_classes() -> list[type]:
    found = {
        value
        for name, module in list(sys.modules.items())
        if name == "sigma" or name.startswith("sigma.")
        for value in vars(module).values()
        if isinstance(value, abc.ABCMeta) and value.__module__.startswith("sigma")
    }
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def sample_objects() -> Iterator[object]:
    """What a conversion meets: every object reachable from a parsed rule's detection, and others."""
    rules = [load_rule(path, RULES, path.read_text()).rule for path in sorted(RULES.rglob("*.yml"))]
    stack: list[object] = [part for rule in rules for part in (rule, rule.detection, rule.logsource)]
    stack += [SigmaNumber(1), SigmaBool(True), SigmaNull(), SigmaRegularExpression("a.*")]
    stack += [SigmaCIDRExpression("10.0.0.0/8"), SigmaCasedString("Ab"), SigmaExists(True)]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for attr in ("detection_items", "value", "original_value", "args"):
            got = getattr(item, attr, None)
            stack += got if isinstance(got, list) else [] if got is None else [got]
        stack += list(getattr(item, "detections", {}).values())
        stack += [c.parsed for c in getattr(item, "parsed_condition", [])]
    yield from (1, "text", None, 2.5, [], {}, object())


def test_the_loaded_pysigma_classes_take_plain_checks() -> None:
    from sigma.conditions import ConditionAND
    from sigma.types import SigmaString, SigmaType

    for cls in (SigmaType, SigmaString, ConditionAND):
        assert type(cls) is sigma_abc._PlainChecks


def test_every_answer_is_abcmetas() -> None:
    classes = sigma_classes()
    objects = list(sample_objects())
    assert len(classes) > 100 and len(objects) > 100
    for cls in classes:
        for obj in objects:
            assert isinstance(obj, cls) == abc.ABCMeta.__instancecheck__(cls, obj), (cls, obj)
        for other in classes:
            assert issubclass(other, cls) == abc.ABCMeta.__subclasscheck__(cls, other), (cls, other)


def fake_module(name: str) -> types.ModuleType:
    """A module `name` holding a small ABC hierarchy: Base <- Middle <- Leaf, Hooked, Registered."""
    module = types.ModuleType(name)

    class Base(abc.ABC):
        @abc.abstractmethod
        def kind(self) -> str: ...

    class Middle(Base):
        pass

    class Leaf(Middle):
        pass

    class Hooked(abc.ABC):
        @abc.abstractmethod
        def kind(self) -> str: ...

        @classmethod
        def __subclasshook__(cls, other: type) -> bool:
            return other is int

    class Registered(abc.ABC):
        @abc.abstractmethod
        def kind(self) -> str: ...

    Registered.register(str)
    for cls in (Base, Middle, Leaf, Hooked, Registered):
        cls.__module__ = name
        setattr(module, cls.__name__, cls)
    return module


def test_registering_later_hands_the_classes_back_to_abcmeta(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_module("fakesigma")
    monkeypatch.setitem(sys.modules, "fakesigma", module)
    assert sigma_abc.speed_up("fakesigma") == 3  # Base, Middle, Leaf; not Hooked nor Registered
    assert type(module.Hooked) is abc.ABCMeta and type(module.Registered) is abc.ABCMeta
    assert isinstance(1, module.Hooked) and isinstance("x", module.Registered)

    class Virtual:
        pass

    assert not isinstance(Virtual(), module.Base)
    module.Middle.register(Virtual)
    assert type(module.Base) is abc.ABCMeta and type(module.Middle) is abc.ABCMeta
    assert type(module.Leaf) is sigma_abc._PlainChecks  # its answers do not depend on Middle's registry
    assert isinstance(Virtual(), module.Middle) and isinstance(Virtual(), module.Base)
    assert not isinstance(Virtual(), module.Leaf)


def test_a_registry_below_keeps_its_ancestors_on_abcmeta(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_module("fakesigma2")
    module.Leaf.register(bytes)
    monkeypatch.setitem(sys.modules, "fakesigma2", module)
    assert sigma_abc.speed_up("fakesigma2") == 0
    assert isinstance(b"x", module.Base)
