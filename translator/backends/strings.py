"""Rendering Sigma string values through a dialect's escape table (shared by the backends)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaValueError
from sigma.types import Placeholder, SigmaString, SpecialChars

# The backslash escapes of a double-quoted string in EQL, Kusto and KQL alike.
BACKSLASH_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\r": "\\r", "\n": "\\n"}


def escape(text: str, table: Mapping[str, str], other: Callable[[str], str] | None = None) -> str:
    """Replace each character found in `table`; `other` renders any remaining control character."""
    out = []
    for char in text:
        if char in table:
            out.append(table[char])
        elif other is not None and (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0):
            out.append(other(char))
        else:
            out.append(char)
    return "".join(out)


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
