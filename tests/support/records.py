"""Raw Azure Activity Log records for the tests, modelled on Microsoft's documented record (diagnostic
settings export) and the real samples of the Elastic integration and Sentinel's training lab."""

from __future__ import annotations

import copy
import itertools
from typing import Any

CONNECT = "MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION"

BASE: dict[str, Any] = {
    "time": "2026-11-20T10:15:42.1234567Z",
    "resourceId": "/SUBSCRIPTIONS/3F041B6D-FC31-41D8-8FF6-E5F16E6747FF/RESOURCEGROUPS/PROD-RG/PROVIDERS/"
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/APP01/PROVIDERS/MICROSOFT.SERIALCONSOLE/SERIALPORTS/0",
    "operationName": CONNECT,
    "category": "Action",
    "resultType": "Success",
    "resultSignature": "Succeeded.",
    "durationMs": 0,
    "callerIpAddress": "20.33.14.7",
    "correlationId": "876190b4-5b99-4a39-b725-4f5644911cf0",
    "identity": {
        "authorization": {
            "scope": "/subscriptions/3f041b6d-fc31-41d8-8ff6-e5f16e6747ff/resourceGroups/prod-rg/providers/"
            "Microsoft.Compute/virtualMachines/app01/providers/Microsoft.SerialConsole/serialPorts/0",
            "action": "Microsoft.SerialConsole/serialPorts/connect/action",
            "evidence": {
                "role": "Virtual Machine Contributor",
                "roleAssignmentScope": "/subscriptions/3f041b6d-fc31-41d8-8ff6-e5f16e6747ff",
                "roleAssignmentId": "7f06f09dd6764b44930adbec3f10e92b",
                "roleDefinitionId": "9980e02c92be4b2ea6a5b2b0e1d7e05a",
                "principalId": "68b1adf93eb744b08eb8ce96522a08d3",
                "principalType": "User",
            },
        },
        "claims": {
            "aud": "https://management.core.windows.net/",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": (
                "68b1adf9-3eb7-44b0-8eb8-ce96522a08d3"
            ),
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "admin@contoso.com",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "admin@contoso.com",
            "name": "Admin User",
            "ipaddr": "20.33.14.7",
        },
    },
    "level": "Information",
    "location": "global",
    "properties": {"statusCode": "OK", "eventCategory": "Administrative"},
}


def record(**changes: Any) -> dict[str, Any]:
    """The base record with top-level fields replaced (None removes a field)."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def with_principal(rec: dict[str, Any], principal: str | None) -> dict[str, Any]:
    evidence = rec["identity"]["authorization"]["evidence"]
    if principal is None:
        evidence.pop("principalId")
    else:
        evidence["principalId"] = principal
    return rec


def serial_console_variants() -> list[dict[str, Any]]:
    """The rule's positive case and near misses on each condition, crossed with each other."""
    operations = [
        CONNECT,
        CONNECT.lower(),
        "Microsoft.SerialConsole/serialPorts/connect/action",
        "MICROSOFT.SERIALCONSOLE/SERIALPORTS/DISCONNECT/ACTION",
        "MICROSOFT.SERIALCONSOLE/SERIALPORTS/WRITE",
    ]
    results = ["Success", "SUCCESS", "success", "Failure", "Start", "Accept", None]
    principals = ["68b1adf93eb744b08eb8ce96522a08d3", "", None]
    callers = [
        "20.33.14.7",
        "81.2.69.144",
        "10.1.2.3",
        "2a02:cf40:add:4002::1",
        "2001:db8::1",
        "not-an-ip",
        None,
    ]
    return [
        with_principal(record(operationName=op, resultType=result, callerIpAddress=caller), principal)
        for op, result, principal, caller in itertools.product(operations, results, principals, callers)
    ]
