"""isinstance on pySigma's value and condition classes at the speed of a plain class.

Why: pySigma's types (SigmaString, SigmaNumber...) and condition nodes (ConditionAND...) are abstract
base classes, and a conversion asks isinstance of them hundreds of times per rule (every `match` of a
value or a node). ABCMeta answers each in Python (`<frozen abc>` __instancecheck__, then its cache):
2.5% of a rule's instructions (callgrind over 100 rules: 10.94M per rule before, 10.66M after).

Why it is safe: for an ABC with no virtual subclass (nothing registered) and no __subclasshook__, on it
or on any class derived from it, ABCMeta's answer is the class hierarchy's, which is what type's own
checks give. `speed_up` gives exactly those classes a metaclass whose checks are type's, and nothing
else changes (abstract methods are enforced when a class is made, by its flags). A class derived later
inherits the metaclass. Registering a virtual subclass later hands the class and its ancestors back to
ABCMeta first, so every answer stays ABCMeta's. tests/test_sigma_abc.py compares the two.
"""

from __future__ import annotations

import abc
import sys
from typing import Any


class _PlainChecks(abc.ABCMeta):
    """ABCMeta whose isinstance and issubclass are type's, in C."""

    __instancecheck__ = type.__instancecheck__
    __subclasscheck__ = type.__subclasscheck__

    def register(cls, subclass: Any) -> Any:
        for klass in cls.__mro__:  # the ABCs whose answers a registry of cls changes: cls and its bases
            if type(klass) is _PlainChecks:
                klass.__class__ = abc.ABCMeta
        return abc.ABCMeta.register(cls, subclass)


def speed_up(prefix: str = "sigma") -> int:
    """Give every ABC of the loaded modules named `prefix`(.*) that can take them type's checks; how many."""
    changed = 0
    for name, module in list(sys.modules.items()):
        if name != prefix and not name.startswith(prefix + "."):
            continue
        for value in list(vars(module).values()):
            if type(value) is abc.ABCMeta and value.__module__.partition(".")[0] == prefix and _plain(value):
                value.__class__ = _PlainChecks
                changed += 1
    return changed


def _plain(cls: type) -> bool:
    """Whether ABCMeta answers for `cls` as the hierarchy does: nothing registered and no subclass hook,
    on it or on any class derived from it (ABCMeta asks those too)."""
    dump = getattr(abc, "_get_dump", None)  # CPython's C implementation of abc; elsewhere, change nothing
    if dump is None:
        return False
    for klass in _derived(cls):
        if dump(klass)[0] or any("__subclasshook__" in vars(k) for k in klass.__mro__ if k is not object):
            return False
    return True


def _derived(cls: type) -> list[type]:
    """cls and every class derived from it."""
    found, stack = [], [cls]
    while stack:
        klass = stack.pop()
        found.append(klass)
        stack += type.__subclasses__(klass)
    return found
