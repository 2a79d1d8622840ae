"""What Microsoft Sentinel's AzureActivity table holds for a raw Activity Log record.

Written from Microsoft's activity log schema and AzureActivity table reference and from real rows of
Sentinel's training lab, not from this project's pipelines. Current (diagnostic-settings) collection
keeps resultType as sent in ActivityStatusValue; the legacy connector wrote display values.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

WORKSPACE_ID = "7c759f10-811c-4db8-ad6d-f07d8ae3f8ea"  # TenantId holds the workspace, not the tenant
LEGACY_STATUS = {"Success": "Succeeded", "Start": "Started", "Accept": "Accepted", "Failure": "Failed"}
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def to_row(record: dict[str, Any], time: datetime, legacy: bool = False) -> dict[str, Any]:
    """The row, keyed by column; dynamic columns as Python objects, `time` as TimeGenerated."""
    identity = record.get("identity") if isinstance(record.get("identity"), dict) else {}
    claims = identity.get("claims") or {}
    authorization = identity.get("authorization")
    properties = record.get("properties") or {}
    status = record.get("resultType", "")
    resource_id = record.get("resourceId", "")
    parts = re.match(
        r"(?i)/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?(?:/providers/([^/]+))?", resource_id
    )
    caller = claims.get(UPN) or claims.get(OBJECT_ID) or ""
    return {
        "TimeGenerated": time,
        "OperationNameValue": record.get("operationName", ""),
        "ActivityStatusValue": LEGACY_STATUS.get(status, status) if legacy else status,
        "ActivitySubstatusValue": str(properties.get("statusCode", "")),
        "CategoryValue": properties.get("eventCategory", "Administrative"),
        "CallerIpAddress": record.get("callerIpAddress", ""),
        "Caller": caller,
        "CorrelationId": record.get("correlationId", ""),
        "Authorization_d": authorization,
        "Authorization": json.dumps(authorization) if authorization is not None else "",
        "Claims_d": claims or None,
        "Claims": json.dumps(claims) if claims else "",
        "Properties_d": properties or None,
        "Properties": json.dumps(properties) if properties else "",
        "_ResourceId": resource_id.lower(),
        "SubscriptionId": parts.group(1).lower() if parts else "",
        "ResourceGroup": (parts.group(2) or "").upper() if parts else "",
        "ResourceProviderValue": (parts.group(3) or "").upper() if parts else "",
        "Level": "",
        "TenantId": WORKSPACE_ID,
        "SourceSystem": "Azure",
        "Type": "AzureActivity",
    }
