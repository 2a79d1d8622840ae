"""The dialects' real grammars: Kusto.Language (node), Elastic's eql, and a port of Kibana's kuery."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import eql
from kibana_ql import KqlParser
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

KUSTO_DIR = Path(__file__).resolve().parent.parent / "kusto"
_KQL = KqlParser()


def _eql_unescape(cls: type[eql.ast.String], s: str) -> str:
    """The eql library's String.unescape, reading `\\u{...}` as its lexer takes it: 2 to 8 hex digits.

    The library's own regex (`\\u\\{.+\\}`) is greedy: in `"\\u{00}}"` or `"\\u{00} {x}"` it reads
    up to the last `}` and int() fails. Its lexer (DQ_STRING) and Elasticsearch's grammar take exactly
    2 to 8 hex digits, so an escape ends at the first `}`; only this slip of the library is replaced.
    """
    return re.sub(
        r"\\u\{([0-9A-Fa-f]{2,8})\}|\\[^u]",
        lambda m: chr(int(m.group(1), 16)) if m.group(1) else cls.reverse_patterns[m.group(0)],
        s,
    )


eql.ast.String.unescape = classmethod(_eql_unescape)


def parse_kibana_kql(query: str):  # noqa: ANN201 - a parsimonious Node
    """Parse with Kibana's grammar (kibana-ql); raises parsimonious.ParseError when Kibana would."""
    return _KQL.parse(query)


# Elasticsearch writes a backtick inside a quoted field name as two (EqlBase.g4's ESCAPED_IDENTIFIER:
# '`' (~'`' | '``')* '`'); the eql library's ESCAPED_NAME (`[^`\r\n]+`) has no escape for one at all.
# So that the library can parse such a name, `for_eql_library` turns each doubled backtick inside a quoted
# name into this private-use character, which the EQL executor reads back as a backtick. Nothing else
# changes: string literals are left as they are, and a lone backtick still ends the name.
EQL_BACKTICK = "\ue000"


def for_eql_library(query: str) -> str:
    """The query with each `` inside a backticked name as EQL_BACKTICK (see above)."""
    assert EQL_BACKTICK not in query, "the query holds the placeholder character itself"
    out, i = [], 0
    while i < len(query):
        char = query[i]
        if query.startswith('"""', i):  # a raw string: no escapes, ends at the next """
            end = query.find('"""', i + 3)
            end = len(query) if end < 0 else end + 3
        elif char in "\"'":  # a string: a backslash escapes the next character
            end = i + 1
            while end < len(query) and query[end] != char:
                end += 2 if query[end] == "\\" else 1
            end += 1
        elif char == "`":
            name, end = [], i + 1
            while end < len(query) and (query[end] != "`" or query.startswith("``", end)):
                name.append(EQL_BACKTICK if query[end] == "`" else query[end])
                end += 2 if query[end] == "`" else 1
            out.append("`" + "".join(name) + query[end : end + 1])  # and the closing backtick
            i = end + 1
            continue
        else:
            end = i + 1
        out.append(query[i:end])
        i = end
    return "".join(out)


def parse_eql(query: str) -> eql.ast.PipedQuery:
    """Parse with Elastic's eql library in Elasticsearch syntax; raises eql.EqlError."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        return eql.parse_query(for_eql_library(query))


class KustoAnalyzer:
    """One node process running Microsoft's Kusto.Language; queries are analysed against a schema."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is required for the Kusto grammar (make test installs the rest)")
        self._process = subprocess.Popen(
            [node, str(KUSTO_DIR / "analyze.js")],
            cwd=KUSTO_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def _call(self, request: dict) -> dict:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"Kusto.Language harness: {reply['error']}")
        return reply

    def use_schema(self, tables: dict[str, str], functions: dict[str, list[str]]) -> None:
        self._call({"op": "schema", "tables": tables, "functions": functions})

    def errors(self, query: str) -> list[dict]:
        """Every error diagnostic (syntax, unknown column KS142, unknown function KS211, types...)."""
        return [
            d
            for d in self._call({"op": "analyze", "query": query})["diagnostics"]
            if d["severity"] == "Error"
        ]

    def analysis(self, query: str) -> tuple[list[dict], list[str]]:
        """`errors` and `result_columns` from one analysis."""
        reply = self._call({"op": "analyze", "query": query})
        errors = [d for d in reply["diagnostics"] if d["severity"] == "Error"]
        return errors, reply["columns"] or []

    def result_columns(self, query: str) -> list[str]:
        """The columns of the query's result, as Kusto.Language's semantic analysis types them."""
        return self._call({"op": "analyze", "query": query})["columns"] or []

    def reserved_words(self) -> list[str]:
        return self._call({"op": "reserved"})["words"]

    def close(self) -> None:
        self._process.stdin.close() if self._process.stdin else None
        self._process.wait(timeout=10)


def table_schema(table: str) -> str:
    """A table's columns in Kusto.Language's "(name:type, ...)" form, from pysigma-backend-kusto."""
    columns = AZURE_MONITOR_TABLES[table]
    return "(" + ", ".join(f"['{name}']:{info['data_type']}" for name, info in columns.items()) + ")"


def watchlist_stub(lookups: list[dict]) -> list[str]:
    """_GetWatchlist(alias) as Sentinel defines it: SearchKey, bookkeeping, the CSV columns as strings."""
    columns = ["SearchKey:string", "_DTItemId:string", "LastUpdatedTimeUTC:datetime"]
    for lookup in lookups:
        for name in [lookup["range_column"], *(spec["from"] for spec in lookup["columns"].values())]:
            if f"{name}:string" not in columns:
                columns.append(f"{name}:string")
    return ["(alias:string)", "{ datatable(" + ", ".join(columns) + ")[] }"]
