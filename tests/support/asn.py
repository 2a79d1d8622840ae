"""A small stand-in for an IP-to-ASN database (GeoLite2-ASN in Elastic, the watchlist in Sentinel).

Both simulated SIEMs read the same table, so they agree on which addresses have an ASN: public ranges
listed here do, private and unlisted addresses do not.
"""

from __future__ import annotations

import ipaddress

RANGES: list[tuple[str, int, str]] = [
    ("20.33.0.0/16", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"),
    ("81.2.69.0/24", 20712, "Andrews & Arnold Ltd"),
    ("203.0.113.0/24", 64500, "Example Hosting (test range)"),
    ("198.51.100.0/24", 64501, "Example Residential (test range)"),
    ("2a02:cf40::/32", 29695, "Altibox AS"),
]


def lookup(address: str) -> tuple[int, str] | None:
    """(asn, organization) for an address, or None: no entry, not an address, or private."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for network, asn, organization in RANGES:
        if ip in ipaddress.ip_network(network):
            return asn, organization
    return None
