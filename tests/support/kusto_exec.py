r"""Runs Sentinel queries as emitted on Log Analytics rows, with duckdb-kql (KQL translated to DuckDB).

duckdb-kql lacks `mv-apply` and `*` predicates (kusto_rewrites rewrites them) and `evaluate` plugins:
`evaluate ipv4_lookup(T, Key, Range, return_unmatched = true)` becomes two left-outer lookups: first
the key's IPv4 range, found by Python's ipaddress over the ranges of T, then T itself on that range.
Rows without an IPv4 key in a range keep empty lookup columns, as ipv4_lookup leaves them.

duckdb-kql's string literals know the escapes \n \t \r \\ \' \" \0 and read any other `\c` as `c`.
Kusto.Language (KustoFacts.GetStringLiteralValue) also decodes \a \b \f \v and the hex escapes \u,
\U and \x, reading hex digits for as long as they come (a C# char: the low 16 bits). `kusto_string`
replaces duckdb-kql's decoder and adds those escapes as Kusto.Language reads them: an escape whose
meaning depends on the engine stopping after four hex digits fails here.

duckdb-kql writes a dynamic path (`Claims_d["k"]`) as a DuckDB JSONPath, `$."k"`. DuckDB reads a
quoted `"*"` there as a wildcard over every key, and duckdb-kql escapes a key's quotes but not its
backslashes (`a\"b` was a path error). `json_pointer` writes a path of names only as a JSON pointer
(RFC 6901: `/k`, with `~0` and `~1` for `~` and `/`), which names exactly one key per step.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from typing import Any

import duckdb_kql
import duckdb_kql.lower
import duckdb_kql.translate
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

from support import asn
from support.kusto_rewrites import ROW_ID, rewrite

SQL_TYPES = {
    "string": "VARCHAR",
    "dynamic": "JSON",
    "datetime": "TIMESTAMP",
    "real": "DOUBLE",
    "long": "BIGINT",
    "int": "INTEGER",
    "bool": "BOOLEAN",
}
# The Log Analytics tables the Sentinel pipelines read, with pysigma-backend-kusto's schemas.
TABLES = ("AzureActivity", "SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs", "AADUserRiskEvents")
KUSTO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
HEX_ESCAPE = re.compile(r"[uUx]([0-9A-Fa-f]*)")


def kusto_string(text: str) -> str:
    """One KQL string literal's value ("...", '...', or @ verbatim); escapes as described above."""
    if text.startswith("@") or "\\" not in text:
        return _duckdb_string_value(text)
    quote = text[0]
    body = text[1:-1] if len(text) >= 2 and text[-1] == quote else text[1:]
    out, i = [], 0
    while i < len(body):
        if body[i] != "\\" or i + 1 == len(body):
            out.append(body[i])
            i += 1
        elif hex_escape := HEX_ESCAPE.match(body, i + 1):
            out.append(chr(int(hex_escape.group(1) or "0", 16) & 0xFFFF))
            i = hex_escape.end()
        else:
            out.append(KUSTO_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
    return "".join(out)


def json_pointer(steps: tuple[Any, ...]) -> str | None:
    """A static dynamic path of names as a JSON pointer; any other path as duckdb-kql writes it."""
    if not steps or any(step.name is None for step in steps):
        return _duckdb_static_path(steps)
    return "".join("/" + step.name.replace("~", "~0").replace("/", "~1") for step in steps)


_duckdb_string_value = duckdb_kql.lower._string_value
duckdb_kql.lower._string_value = kusto_string
_duckdb_static_path = duckdb_kql.translate._static_path
duckdb_kql.translate._static_path = json_pointer

IPV4_LOOKUP = re.compile(r"\| evaluate ipv4_lookup\((\w+), (\w+), (\w+), return_unmatched = true\)")
MATCHES = "__ipv4_ranges"


def rewrite_ipv4_lookup(query: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The query with each ipv4_lookup replaced; and (table, key column, range column) of each."""
    found = [m.groups() for m in IPV4_LOOKUP.finditer(query)]

    def replace(match: re.Match[str]) -> str:
        table, key, range_column = match.groups()
        return (
            f"| lookup kind=leftouter ({MATCHES}) on $left.{key} == $right.__key\n"
            f"    | lookup kind=leftouter ({table}) on $left.__range == $right.{range_column}\n"
            f"    | project-rename {range_column} = __range"
        )

    return IPV4_LOOKUP.sub(replace, query), found


def ipv4_range(address: str, ranges: list[str]) -> str | None:
    """The first range holding an IPv4 address; IPv6, empty or malformed keys match none."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    return next((r for r in ranges if ip in ipaddress.IPv4Network(r, strict=False)), None)


class Workspace:
    """An in-memory Log Analytics workspace: the tables, and the ASN watchlist of the test database.

    Each table also has a row id (kusto_rewrites.ROW_ID), unique across tables, for the mv-apply rewrite.
    """

    def __init__(self, watchlist_columns: dict[str, str]) -> None:
        """`watchlist_columns`: the watchlist's range, ASN and organisation column names."""
        self.con = duckdb_kql.connect()
        self.types = {t: {n: c["data_type"] for n, c in AZURE_MONITOR_TABLES[t].items()} for t in TABLES}
        self.columns = {table: list(self.types[table]) for table in TABLES}
        self.rows = 0
        for table in TABLES:
            ddl = ", ".join(
                f'"{n}" {SQL_TYPES[c["data_type"]]}' for n, c in AZURE_MONITOR_TABLES[table].items()
            )
            self.con.execute(f'CREATE TABLE {table} ({ddl}, "{ROW_ID}" BIGINT)')
        names = watchlist_columns
        self.con.execute(
            f"CREATE TABLE Watchlist (SearchKey VARCHAR, _DTItemId VARCHAR, LastUpdatedTimeUTC TIMESTAMP, "
            f'"{names["range"]}" VARCHAR, "{names["asn"]}" VARCHAR, "{names["organization"]}" VARCHAR)'
        )
        self.ranges = [network for network, *_ in asn.RANGES if ipaddress.ip_network(network).version == 4]
        for i, (network, number, organization) in enumerate(r for r in asn.RANGES if r[0] in self.ranges):
            self.con.execute(
                "INSERT INTO Watchlist VALUES (?, ?, NULL, ?, ?, ?)",
                [network, str(i), network, str(number), organization],
            )
        self.con.execute(f"CREATE TABLE {MATCHES} (__key VARCHAR, __range VARCHAR)")

    def load(self, rows: list[dict[str, Any]], table: str = "AzureActivity") -> None:
        """Replace a table's rows. Dynamic columns are stored as compact JSON, as Kusto's tostring
        writes them; a missing column is null."""
        self.con.execute(f"DELETE FROM {table}")
        for row in rows:
            names = [n for n in row if n in self.columns[table]]
            values = [
                json.dumps(row[n], separators=(",", ":"), ensure_ascii=False)
                if self.types[table][n] == "dynamic" and row[n] is not None
                else row[n]
                for n in names
            ]
            self.rows += 1
            quoted = ", ".join(f'"{n}"' for n in [*names, ROW_ID])
            self.con.execute(
                f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * (len(names) + 1))})",
                [*values, self.rows],
            )
        if table != "AzureActivity":
            return
        self.con.execute(f"DELETE FROM {MATCHES}")
        for (key,) in self.con.execute("SELECT DISTINCT CallerIpAddress FROM AzureActivity").fetchall():
            if key is not None and (found := ipv4_range(key, self.ranges)) is not None:
                self.con.execute(f"INSERT INTO {MATCHES} VALUES (?, ?)", [key, found])

    def run(self, query: str, now: datetime) -> list[dict[str, Any]]:
        """Run a query as emitted (but for the ipv4_lookup rewrite and kusto_rewrites) at a fixed now()."""
        rewritten, _ = rewrite_ipv4_lookup(rewrite(query))
        relation = duckdb_kql.query(
            self.con,
            rewritten,
            query_now=now,
            functions=["function _GetWatchlist(alias:string) { Watchlist }"],
        )
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
