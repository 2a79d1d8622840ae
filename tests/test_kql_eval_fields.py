"""The Kibana KQL executor answers by the stored field's type as Elasticsearch does: field-name patterns,
values without a field, text fields, keys of flattened fields, a text multi-field, booleans."""

from __future__ import annotations

import pytest

from support.kql_eval import KqlQuery, QueryFailure

DOC = {
    "a": {
        "list": {
            "0": {"name": "Admins", "props": {"0": {"new": '["Member"]'}, "1": {"new": "x"}}},
            "1": {"name": "Users", "props": {"0": {"new": "y"}}},
        },
        "flat": {"city": "Staten Island", "n": 5, "ok": True, "items": [{"k": "v1"}, {"k": "v2"}]},
        "enabled": False,
        "word": "Keep me signed in",
    },
    "message": "This error occurred (MFA denied; user declined the authentication)",
    "user_agent": {"original": "Mozilla/5.0 AzureHound/2.1"},
}
TYPES = {"a.flat": "flattened", "message": "match_only_text", "a.enabled": "boolean"}
TYPES |= {"user_agent.original.text": "match_only_text"}
MULTI = {"user_agent.original.text": "user_agent.original"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # A field-name pattern: any field it expands to.
        ('a.list.*.name:"Users"', True),
        ('a.list.*.name:"Guests"', False),
        ('a.list.*.props.*.new:"y"', True),
        ('a.list.*:"y"', True),  # `*` spans dots: every field below a.list
        ("a.list.*.props.*.new:*Member*", True),
        ("a.list.*.missing:*", False),
        ('"a.list.*.name":"Users"', False),  # a quoted name is a name, not a pattern
        # Keys of a flattened field: exact values and prefixes; a pattern does not reach into it.
        ('a.flat.city:"Staten Island"', True),
        ("a.flat.city:Staten*", True),
        ("a.flat.city:Island*", False),
        ("a.flat.items.k:v2", True),  # any element of a list inside
        ("a.flat.ok:true", True),  # leaves are keywords: a boolean is its text
        ("a.flat.n:5", True),
        ('a.flat:"v1"', True),  # the root: any value inside
        ('a.*:"Staten Island"', False),
        # Text: words, any letter case; a phrase in sequence.
        ('message:"mfa DENIED"', True),
        ('message:"denied MFA"', False),
        ('message:"MFA"', True),
        ('message:"MF"', False),
        # A text multi-field indexes its field's value as words.
        ("user_agent.original.text:*azurehound*", True),
        ("user_agent.original:*azurehound*", False),  # the keyword field is case-sensitive
        # Booleans.
        ("a.enabled:false", True),
        ("a.enabled:true", False),
        # A value without a field: the default fields (keyword and text, not flattened ones).
        ("*signed*in*", True),
        ("*Staten*", False),
        ("*Users*", True),
    ],
)
def test_field_types(query: str, expected: bool) -> None:
    assert KqlQuery(query, TYPES, MULTI).matches(DOC) is expected


@pytest.mark.parametrize(
    "query",
    [
        "a.flat.city:*Island",  # Elasticsearch runs no wildcard query on a flattened key
        "a.flat.city:S*d",
        "a.flat.n > 3",  # nor a range with one bound
    ],
)
def test_what_elasticsearch_refuses(query: str) -> None:
    with pytest.raises(QueryFailure):
        KqlQuery(query, TYPES, MULTI).matches(DOC)


def test_query_string_splits_at_whitespace() -> None:
    """A wildcard value on a flattened key goes through query_string: each word is a term of its own."""
    assert KqlQuery("a.flat.city:Island Sta*", TYPES).matches(DOC) is True  # "Island" or Sta*
    assert KqlQuery("a.word:*me signed*", TYPES).matches(DOC) is True  # a keyword field: one wildcard query
    assert KqlQuery("a.word:*me  xsigned*", TYPES).matches(DOC) is False
