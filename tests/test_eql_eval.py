"""The EQL executor applies Elasticsearch's semantics (the eql library's own engine would not)."""

from __future__ import annotations

import pytest

from support.eql_eval import EqlQuery, string

DOC = {"a": "Foo*Bar", "n": 5, "ip": "10.1.2.3", "x": {"y.z": "v"}, "e": ""}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('any where a == "Foo*Bar"', True),
        ('any where a == "foo*bar"', False),  # == is case-sensitive
        ('any where a : "foo*bar"', True),  # : is not
        ('any where a : "foo*"', True),
        ('any where a : "f?o*"', True),
        ('any where a : "foo\\\\*"', False),  # no escape for * in `:`: the backslash is a character
        ('any where a like "Foo*"', True),
        ('any where a like "foo*"', False),
        ('any where a like~ ("x", "foo*")', True),
        ('any where a in ("foo*bar")', False),
        ('any where a in~ ("foo*bar")', True),
        ('any where a regex "Foo\\\\*Bar"', True),
        ('any where a regex "Foo"', False),  # a regular expression matches the whole value
        ('any where a regex~ "foo.*"', True),
        ("any where ?b == null", True),
        ("any where ?e != null", True),  # an empty string is a value
        ("any where n >= 5 and not n > 5", True),
        ('any where cidrMatch(ip, "10.0.0.0/8")', True),
        ('any where `x.y.z` == "v"', True),
        ('any where a == "x" or n == 5 and a : "foo*"', True),
    ],
)
def test_semantics(query: str, expected: bool) -> None:
    assert EqlQuery(query).matches(DOC) is expected


def test_string_literals() -> None:
    assert string('"a\\"b\\\\c\\n\\t\\u{41}"') == 'a"b\\c\n\tA'
    assert string('"""raw \\n"""') == "raw \\n"
