"""The dialects' real grammars: Kusto.Language (node), Elastic's eql, and a port of Kibana's kuery."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import eql
from kibana_ql import KqlParser
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

KUSTO_DIR = Path(__file__).resolve().parent.parent / "kusto"
_KQL = KqlParser()


def parse_kibana_kql(query: str):  # noqa: ANN201 - a parsimonious Node
    """Parse with Kibana's grammar (kibana-ql); raises parsimonious.ParseError when Kibana would."""
    return _KQL.parse(query)


def parse_eql(query: str) -> eql.ast.PipedQuery:
    """Parse with Elastic's eql library in Elasticsearch syntax; raises eql.EqlError."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        return eql.parse_query(query)


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
