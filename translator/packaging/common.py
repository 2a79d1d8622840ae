"""Facts every rule file derives the same way from a Sigma rule: stable ids and a version."""

from __future__ import annotations

import hashlib
import uuid

from sigma.rule import SigmaRule

from translator.config import DEFAULT_RULE_ID_NAMESPACE

# Namespace of the ids this project derives; a SIEM rule id is a UUIDv5 of the Sigma id and its role,
# so it never changes while the Sigma id stays, and never collides with the SIEM's own prebuilt rules.
ID_NAMESPACE = uuid.UUID(DEFAULT_RULE_ID_NAMESPACE)


def derived_id(rule: SigmaRule, role: str, namespace: uuid.UUID = ID_NAMESPACE) -> str:
    """str(uuid.uuid5(namespace, f"{rule.id}/{role}")), spelled out: RFC 4122's SHA-1 name-based UUID
    (version 5 in the top nibble of byte 6, variant 10 in the top bits of byte 8) without the UUID
    object, a third of the time (tests/test_rule.py compares the two). `namespace` is a team's own
    (translator.toml), so two teams' rules of one Sigma id never clash."""
    digest = bytearray(hashlib.sha1(namespace.bytes + f"{rule.id}/{role}".encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50
    digest[8] = digest[8] & 0x3F | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rule_date(rule: SigmaRule) -> tuple[int, int, int]:
    """The day the rule last changed (modified, else date): a version that only ever grows."""
    day = rule.modified or rule.date
    if day is None:
        raise ValueError("the rule needs a date (or modified) to version its rule files")
    return day.year, day.month, day.day


def level(rule: SigmaRule) -> str:
    """The Sigma level's name, which picks each SIEM's severity; a rule without one counts as medium."""
    return rule.level.name.lower() if rule.level else "medium"


def description(rule: SigmaRule) -> str:
    """The text every SIEM requires: the rule's description, or its title when it has none. A description
    of whitespace only counts as none: trimmed, it was empty, which Kibana and Sentinel both refuse."""
    return (rule.description or "").strip() or rule.title.strip()
