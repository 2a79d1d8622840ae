"""JSON text every artifact and the manifest are written as (no pySigma: the manifest needs it alone)."""

from __future__ import annotations

import json
from typing import Any

# JSON leaves these raw inside strings, but line-based readers (ndjson importers, Python's splitlines,
# JavaScript before ES2019) take them for line ends; escaped, the text means the same to every reader.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_text(value: Any, **options: Any) -> str:
    """`json.dumps` with non-ASCII kept readable and every character that could end a line escaped."""
    text = json.dumps(value, ensure_ascii=False, **options)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text


def json_string(value: str | None) -> str:
    """json_text of one string (or null), by the C encoder directly: the manifest writes 100,000s."""
    if value is None:
        return "null"
    text = _encode_string(value)
    if not text.isascii():
        for char, escaped in _LINE_BREAKS.items():
            text = text.replace(char, escaped)
    return text


_encode_string = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
