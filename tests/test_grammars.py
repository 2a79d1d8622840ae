"""The grammar harnesses reject what their dialect rejects, so "it parses" means something."""

from __future__ import annotations

import itertools

import eql
import parsimonious
import pytest

from support.grammars import EQL_BACKTICK, KustoAnalyzer, for_eql_library, parse_eql, parse_kibana_kql
from translator.backends.kusto_keywords import BOOLEAN_LITERALS, RESERVED


@pytest.mark.parametrize(
    "query",
    [
        "a.b:x\\/y",  # the Lucene escape the Elasticsearch backend writes
        "a.b:x:y",
        "a.b:(x or",
        "a.b:x)",
        'a.b:"x',
    ],
)
def test_kibana_grammar_rejects(query: str) -> None:
    with pytest.raises(parsimonious.exceptions.ParseError):
        parse_kibana_kql(query)


@pytest.mark.parametrize(
    "query",
    [
        'any where a : "x\\*y"',  # the stock backend's literal asterisk
        "any where a : 'x'",
        'any where a : "x" and',
    ],
)
def test_eql_grammar_rejects(query: str) -> None:
    with pytest.raises(eql.EqlError):
        parse_eql(query)


@pytest.mark.parametrize(
    "query",
    [
        'any where a.1x == "v"',  # a name part starts with a letter or _
        'any where a.b@c == "v"',
        'any where a.or == "v"',  # a keyword is no name
        'any where a.true == "v"',
        'any where `a`b` == "v"',  # a lone backtick ends the quoted name
        'any where `a``b == "v"',
    ],
)
def test_eql_grammar_rejects_names(query: str) -> None:
    with pytest.raises(eql.EqlError):
        parse_eql(query)


def test_eql_quoted_names_double_a_backtick() -> None:
    """Elasticsearch's `` inside a quoted name (the eql library has no escape for it; support/grammars.py
    maps it to a placeholder the executor reads back), and nothing inside strings is touched."""
    assert for_eql_library('any where `a``b` : "x``y" and ```c` == """``"""') == (
        f'any where `a{EQL_BACKTICK}b` : "x``y" and `{EQL_BACKTICK}c` == """``"""'
    )
    parse_eql('any where `a``b.c d` : "x`` \\"`y"')


def test_eql_unicode_escape_ends_at_its_brace() -> None:
    """`"\\u{00}}"` is NUL and a brace (the eql library's own unescape read `00}` as hex digits)."""
    (value,) = parse_eql('any where a : "\\u{00}}{x}\\u{1b}"').first.query.arguments[1:]
    assert value.value == "\x00}{x}\x1b"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('AzureActivity | where NoSuchColumn == "x"', "KS142"),
        ('NoSuchTable | where OperationNameValue == "x"', "KS204"),
        ('AzureActivity | where OperationNameValue =~ "a\\/b"', "KS001"),
        ('AzureActivity | where tostring(Authorization_d.by) == "x"', "KS006"),
        ('AzureActivity | where no_such_function("x")', "KS211"),
    ],
)
def test_kusto_analysis_reports(kusto: KustoAnalyzer, query: str, code: str) -> None:
    assert code in {d["code"] for d in kusto.errors(query)}


def test_kusto_reserved_words_match_the_grammar(kusto: KustoAnalyzer) -> None:
    """The backend brackets these names in dynamic paths; the list must be Kusto.Language's own."""
    assert sorted(RESERVED) == kusto.reserved_words()


def test_kusto_boolean_literals_match_the_grammar(kusto: KustoAnalyzer) -> None:
    """Of every letter case of true and false, exactly these cannot stand as a name after a dot."""
    spellings = {
        "".join(letters)
        for word in ("true", "false")
        for letters in itertools.product(*[(c, c.upper()) for c in word])
    }
    refused = {w for w in spellings if kusto.errors(f'AzureActivity | where tostring(Claims_d.{w}) == "x"')}
    assert refused == BOOLEAN_LITERALS
