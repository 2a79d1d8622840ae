"""What the Kusto executor changes in duckdb-kql, each tested on its own: the ipv4_lookup rewrite (which
duckdb-kql lacks), string escapes read as Kusto.Language reads them, and dynamic keys as JSON pointers."""

from __future__ import annotations

from datetime import datetime

import pytest

from support.kusto_exec import Workspace, ipv4_range, kusto_string, rewrite_ipv4_lookup

QUERY = """let R = _GetWatchlist("w")
    | project network = tostring(network), Asn = tolong(autonomous_system_number);
AzureActivity
| where OperationNameValue =~ "x"
| evaluate ipv4_lookup(R, CallerIpAddress, network, return_unmatched = true)
| project CorrelationId, Asn, network"""


def test_rewrite_replaces_only_the_lookup() -> None:
    rewritten, found = rewrite_ipv4_lookup(QUERY)
    assert found == [("R", "CallerIpAddress", "network")]
    before, after = QUERY.split("| evaluate")[0], QUERY.split("return_unmatched = true)")[1]
    assert rewritten.startswith(before) and rewritten.endswith(after)
    assert "evaluate" not in rewritten
    assert rewrite_ipv4_lookup("T | where a == 1") == ("T | where a == 1", [])


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("20.33.14.7", "20.33.0.0/16"),
        ("20.34.0.1", None),
        ("81.2.69.255", "81.2.69.0/24"),
        ("2a02:cf40::1", None),  # IPv6: ipv4_lookup matches no IPv6 key
        ("", None),
        ("not-an-ip", None),
        ("20.33.14.7/32", None),
    ],
)
def test_ipv4_range(address: str, expected: str | None) -> None:
    assert ipv4_range(address, ["20.33.0.0/16", "81.2.69.0/24"]) == expected


def test_rewritten_lookup_keeps_unmatched_rows(workspace: Workspace) -> None:
    rows = [
        {
            "CorrelationId": name,
            "OperationNameValue": "X",
            "CallerIpAddress": ip,
            "TimeGenerated": datetime(2026, 1, 1),
        }
        for name, ip in (("in", "20.33.14.7"), ("out", "10.0.0.1"), ("v6", "2a02:cf40::1"), ("none", ""))
    ]
    workspace.load(rows)
    got = {r["CorrelationId"]: (r["Asn"], r["network"]) for r in workspace.run(QUERY, datetime(2026, 1, 2))}
    assert got == {
        "in": (8075, "20.33.0.0/16"),
        "out": (None, None),
        "v6": (None, None),
        "none": (None, None),
    }


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\tb\nc\rd\\e\"f\'g"', "a\tb\nc\rd\\e\"f'g"),
        (r'"\a\b\f\v"', "\a\b\f\v"),
        (r'"\u0000\u001b\u2028"', "\x00\x1b\u2028"),
        (r'"\u0000\u0061"', "\x00a"),
        (r'"\u0000a"', "\x0a"),  # Kusto.Language reads hex digits for as long as they come
        (r'"\x41"', "A"),
        (r"@'a\b''c'", "a\\b'c"),  # verbatim: no escapes, a doubled quote
        ("'plain'", "plain"),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert kusto_string(literal) == value


@pytest.mark.parametrize("key", ["*", "a*", 'a\\"b', "x\\", "a/b", "~1", "a.b", "a b", "中", "$"])
def test_dynamic_keys_name_one_key(workspace: Workspace, key: str) -> None:
    """`Claims_d["*"]` is the key "*", not every key (DuckDB's JSONPath reads `$."*"` as a wildcard)."""
    rows = [
        {"CorrelationId": name, "Claims_d": claims, "TimeGenerated": datetime(2026, 1, 1)}
        for name, claims in (("key", {key: "v", "other": "w"}), ("other", {"other": "v", key + "x": "v"}))
    ]
    workspace.load(rows)
    literal = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    query = f"AzureActivity | where tostring(Claims_d[{literal}]) == 'v' | project CorrelationId"
    assert [r["CorrelationId"] for r in workspace.run(query, datetime(2026, 1, 2))] == ["key"]
