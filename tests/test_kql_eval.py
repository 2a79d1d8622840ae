"""The Kibana KQL evaluator used as an oracle-side executor discriminates as Elasticsearch would."""

from __future__ import annotations

import pytest

from support.kql_eval import KqlQuery

DOC = {
    "a": "Foo*bar",
    "s": "cannot or will",
    "n": 5,
    "ip": "10.1.2.3",
    "nested": {"k": ["x", "y"]},
    "dotted.key": "v",
}
TYPES = {"n": "long", "ip": "ip"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('a:"Foo*bar"', True),
        ('a:"foo*bar"', False),  # keyword fields are case-sensitive
        ("a:Foo*", True),
        ("a:foo*", False),
        ("a:Foo\\*bar", True),  # an escaped * is literal
        ("a:Foo\\*", False),
        ('a:"Foo*"', False),  # a quoted * is literal
        ("a:*", True),
        ("b:*", False),
        ("not b:*", True),
        ("a: Foo*bar ", True),  # unquoted values are trimmed
        ('a:("x" or "Foo*bar")', True),
        ('a:("x" and "Foo*bar")', False),
        ("s:*can\\u006eot \\or will", True),
        ("s:*can\\not \\or will", False),  # \\n is a newline, not an escaped n
        ("s:*will", True),
        ("n:5", True),
        ("n >= 5", True),
        ("n > 5", False),
        ('ip:"10.0.0.0/8"', True),
        ('ip:"10.1.2.3"', True),
        ('ip:"10.1.2.4"', False),
        ("nested.k:y", True),
        ("dotted.key:v", True),
        ('a:"Foo*bar" and not (n:6 or b:*)', True),
        ('a:"x" or n:5 and b:*', False),  # and binds tighter than or
    ],
)
def test_evaluator(query: str, expected: bool) -> None:
    assert KqlQuery(query, TYPES).matches(DOC) is expected
