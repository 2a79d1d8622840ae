"""The oracle reads Sigma as the specification says (checked here on hand-made records)."""

from __future__ import annotations

import pytest

from support.oracle import SigmaRule, resolve

UPN = "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
RECORD = {
    "operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
    "message": "a*b?c\\d",
    "durationMs": 1500,
    "callerIpAddress": "10.1.2.3",
    "identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "a@contoso.com"}},
    "empty": "",
    "nothing": None,
}


def matches(detection: dict, condition: str = "s") -> bool:
    return SigmaRule({**detection, "condition": condition}).matches(RECORD)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"operationName": "microsoft.compute/virtualmachines/write"}, True),  # case-insensitive
        ({"operationName|cased": "microsoft.compute/virtualmachines/write"}, False),
        ({"operationName": "MICROSOFT.COMPUTE/*"}, True),
        ({"operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/?RITE"}, True),
        ({"operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/?WRITE"}, False),
        ({"operationName": "*"}, True),
        ({"operationName|contains": "machines"}, True),
        ({"operationName|startswith": "COMPUTE"}, False),
        ({"operationName|endswith": "/write"}, True),
        ({"operationName": ["x", "*write"]}, True),  # a list is OR
        ({"operationName|contains|all": ["compute", "write"]}, True),
        ({"operationName|contains|all": ["compute", "delete"]}, False),
        ({"message": "a\\*b\\?c\\\\d"}, True),  # escaped wildcards and backslash are literal
        ({"message": "a\\*b\\?c\\d"}, True),  # a backslash before another character is a backslash
        ({"message": "aXb?c\\d"}, False),
        ({"message": "a*c\\d"}, True),  # unescaped: wildcards
        ({"durationMs": 1500}, True),
        ({"durationMs|gt": 1000}, True),
        ({"durationMs|lte": 1000}, False),
        ({"callerIpAddress|cidr": "10.0.0.0/8"}, True),
        ({"callerIpAddress|cidr": "10.2.0.0/16"}, False),
        ({UPN + "|endswith": "@CONTOSO.COM"}, True),
        ({"empty|exists": True}, True),  # present, even empty
        ({"nothing|exists": True}, False),
        ({"missing|exists": False}, True),
        ({"missing": None}, True),
        ({"nothing": None}, True),
        ({"empty": None}, False),
        ({"operationName|re": "COMPUTE/.+/WRITE$"}, True),  # search, not full match
        ({"operationName|re": "compute"}, False),
        ({"operationName|re|i": "compute"}, True),
    ],
)
def test_items(item: dict, expected: bool) -> None:
    assert matches({"s": item}) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("yes and no", False),
        ("yes or no", True),
        ("not no", True),
        ("not yes or yes", True),  # not binds first
        ("not (yes or yes)", False),
        ("no and no or yes", True),  # and binds before or
        ("no and (no or yes)", False),
        ("1 of y*", True),
        ("all of y*", True),
        ("all of them", False),
        ("1 of them", True),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    detection = {"yes": {"durationMs": 1500}, "yes2": {"empty": ""}, "no": {"durationMs": 1}}
    assert matches(detection, condition) is expected


def test_list_of_maps_is_or() -> None:
    assert matches({"s": [{"durationMs": 1}, {"durationMs": 1500}]})
    assert not matches({"s": [{"durationMs": 1}, {"durationMs": 2}]})


def test_dotted_keys_and_paths() -> None:
    record = {"a": {"b.c": {"d": 1}, "b": {"c": 2}}}
    assert resolve(record, "a.b.c.d") == 1  # the longest key first
    assert resolve(record, "a.b.c") == {"d": 1}
