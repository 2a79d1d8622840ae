"""JSON text every artifact and the manifest are written as (no pySigma: the manifest needs it alone)."""

from __future__ import annotations

import json
from typing import Any

import orjson

# JSON leaves these raw inside strings, but line-based readers (ndjson importers, Python's splitlines,
# JavaScript before ES2019) take them for line ends; escaped, the text means the same to every reader.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
# The same in UTF-8. Replacing bytes is exact: a UTF-8 lead byte never occurs inside another character,
# and outside strings JSON has only ASCII.
_LINE_BREAKS_UTF8 = [(char.encode(), escaped.encode()) for char, escaped in _LINE_BREAKS.items()]


def json_text(value: Any, **options: Any) -> str:
    """`json.dumps` with non-ASCII kept readable and every character that could end a line escaped."""
    text = json.dumps(value, ensure_ascii=False, **options)
    for char, escaped in _LINE_BREAKS.items():
        text = text.replace(char, escaped)
    return text


def json_bytes(value: Any, indent: bool = False, sort_keys: bool = False) -> bytes:
    """UTF-8 JSON, compact or with an indent of two, as json_text writes it with separators (",", ":")
    or indent=2 (a template per rule, the manifest, every result a worker sends).

    orjson writes it in C, byte for byte as json_text does for what artifacts hold: strings (the same
    escapes: tests/test_output.py compares every character up to U+2FFF and beyond), integers, true,
    false, null, lists and string-keyed mappings. What orjson does not take (an integer beyond 64 bits, a
    key that is not a string, a lone surrogate) goes to json_text, whose text is then encoded as before.
    """
    try:
        options = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_SORT_KEYS if sort_keys else 0)
        data = orjson.dumps(value, option=options)
    except TypeError:  # orjson.JSONEncodeError
        layout: dict[str, Any] = {"indent": 2} if indent else {"separators": (",", ":")}
        return json_text(value, sort_keys=sort_keys, **layout).encode()
    for char, escaped in _LINE_BREAKS_UTF8:
        data = data.replace(char, escaped)
    return data
