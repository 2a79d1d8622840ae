"""Rendering Sigma string values through a dialect's escape table (shared by the backends)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaValueError
from sigma.types import Placeholder, SigmaString, SpecialChars

# The backslash escapes of a double-quoted string in EQL, Kusto and KQL alike.
BACKSLASH_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\r": "\\r", "\n": "\\n"}


# Control characters and the Unicode line and paragraph separators, which some grammars end a line at.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str, table: Mapping[str, str], other: Callable[[str], str] | None = None) -> str:
    """Replace each character found in `table`; `other` renders any remaining UNPRINTABLE one."""
    if only_escaped(text, table, other is not None):
        return text.translate(str.maketrans(table))
    out = []
    for char in text:
        if char in table:
            out.append(table[char])
        elif other is not None and UNPRINTABLE.match(char):
            out.append(other(char))
        else:
            out.append(char)
    return "".join(out)


def only_escaped(text: str, table: Mapping[str, str], unprintable: bool = True) -> bool:
    """Whether `table` alone escapes `text`: no UNPRINTABLE character outside it (or `unprintable`
    false), so that str.translate, in C, gives what a loop over the characters gives. Values
    rarely hold control characters, and escape tables map single characters (str.maketrans checks)."""
    return not unprintable or all(char in table for char in UNPRINTABLE.findall(text))


def render(
    value: SigmaString,
    plain: Callable[[str], str],
    wildcards: Mapping[SpecialChars, str],
    dialect: str,
) -> str:
    """Join the parts of `value`: plain text through `plain`, wildcards through `wildcards`."""
    out = []
    for part in value.s:
        if isinstance(part, str):
            out.append(plain(part))
        elif isinstance(part, SpecialChars):
            if part not in wildcards:
                kind = "single-character ('?')" if part is SpecialChars.WILDCARD_SINGLE else "'*'"
                raise SigmaFeatureNotSupportedByBackendError(
                    f"{dialect} has no {kind} wildcard; rewrite the value without it"
                )
            out.append(wildcards[part])
        elif isinstance(part, Placeholder):
            raise SigmaValueError(f"placeholder %{part.name}% was not resolved by the pipeline")
    return "".join(out)


def has_literal(value: SigmaString, chars: str) -> bool:
    """Whether the plain text of `value` holds any of `chars` (wildcard characters meant literally)."""
    return any(isinstance(part, str) and any(c in part for c in chars) for part in value.s)
