"""Where a target cannot match what the Sigma rule matches: the one list, each entry explained.

tests/test_semantics.py asserts that the targets differ from the oracle exactly here, so a new
difference fails the suite, and so does a listed one that disappears. Keys are (rule or golden case,
target, corpus record); values are (the oracle's answer, the target's answer, why).
"""

from __future__ import annotations

KIBANA_CASE = (
    "Kibana KQL compares keyword fields case-sensitively and the integration stores operation names "
    "as sent; Sigma matches any case (the build prints a note for this)"
)
IPV6_ASN = (
    "Sentinel looks the ASN up with ipv4_lookup, which finds nothing for IPv6 callers; the Elastic "
    "integration's GeoLite2-ASN lookup covers IPv6 (the build prints a note for this)"
)

KNOWN_DIFFERENCES: dict[tuple[str, str, str], tuple[bool, bool, str]] = {
    **{
        ("serial console", "kibana-kql", record): (True, False, KIBANA_CASE)
        for record in ("connect, operation in lower case", "connect, operation in mixed case")
    },
    ("serial console", "sentinel-kql", "connect from IPv6 with an ASN"): (True, False, IPV6_ASN),
    ("equality", "kibana-kql", "compute write in lower case by a reader"): (True, False, KIBANA_CASE),
    ("value list", "kibana-kql", "compute write in lower case by a reader"): (True, False, KIBANA_CASE),
    **{
        (case, "kibana-kql", record): (True, False, KIBANA_CASE)
        for case in ("wildcard in the middle", "list with wildcards", "not")
        for record in ("connect, operation in lower case", "connect, operation in mixed case")
    },
}

# Golden cases the executors cannot run, and why; asserted too, so a case that becomes runnable or
# stops running shows up.
NOT_EXECUTABLE: dict[tuple[str, str], str] = {
    ("cidr", "sentinel-kql"): "duckdb-kql cannot translate ipv4_is_in_range",
}
