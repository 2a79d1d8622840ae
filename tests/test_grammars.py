"""The grammar harnesses reject what their dialect rejects, so "it parses" means something."""

from __future__ import annotations

import eql
import parsimonious
import pytest

from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql
from translator.backends.kusto_keywords import RESERVED


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
