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


def json_indented(value: Any) -> str:
    """json_text(value, indent=2), byte for byte, at the speed of the C encoder (an ARM template per rule).

    Python's json lays out indented text in pure Python. Here each string and scalar is encoded by the
    C encoder, compactly, and placed as the indenting encoder places it: `[`/`{`, each item on a line of
    its own indented two more, `,` between items, the closing bracket on its own line, `[]`/`{}` when
    empty, `": "` after a key. A value it does not lay out (a key that is not a string) takes json_text
    itself; tests/test_output.py compares the two on every committed ARM template and awkward values.
    """
    try:
        text = _layout(value, "\n")
    except _NotLaidOut:
        return json_text(value, indent=2)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text


class _NotLaidOut(Exception):
    """A value json_indented leaves to json_text."""


def _layout(value: Any, newline: str) -> str:
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if not all(isinstance(key, str) for key in value):
            raise _NotLaidOut  # json turns numbers and null into keys by rules of its own
        inner = newline + "  "
        items = [
            _encode_string(k) + ": " + (_encode_string(v) if isinstance(v, str) else _layout(v, inner))
            for k, v in value.items()
        ]
        return "{" + inner + ("," + inner).join(items) + newline + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = newline + "  "
        items = [_encode_string(v) if isinstance(v, str) else _layout(v, inner) for v in value]
        return "[" + inner + ("," + inner).join(items) + newline + "]"
    return _encode_scalar(value)  # a number, true, false or null


_encode_string = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
_encode_scalar = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(value, ensure_ascii=False)
