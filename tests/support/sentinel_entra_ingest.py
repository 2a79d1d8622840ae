"""What Microsoft Sentinel's Entra ID tables hold for a raw Entra ID record (diagnostic settings export).

Written from Microsoft's documentation, not from this project's pipelines: the sign-in and audit log
schemas for Azure Monitor (raw key -> column, by name but for the documented exceptions: `location` ->
LocationDetails, appliedConditionalAccessPolicies -> ConditionalAccessPolicies, riskEventTypes_v2 ->
RiskEventTypes_V2, tenantId -> AADTenantId, operationType -> AADOperationType), the table references
(column types: the non-interactive table keeps Status, DeviceDetail, LocationDetails,
ConditionalAccessPolicies and MfaDetail as JSON text, and names ProcessingTimeInMs differently; SigninLogs
keeps lists such as AuthenticationDetails as JSON text too), and Entra's how-to for exporting risk data
(one AADUserRiskEvents row per UserRiskEvents record; additionalInfo, JSON text in the record, lands in
a dynamic column). `table(record)` says which table a record lands in.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

WORKSPACE_ID = "7c759f10-811c-4db8-ad6d-f07d8ae3f8ea"  # TenantId: the workspace, not the Entra tenant
TABLES = {
    "SignInLogs": "SigninLogs",
    "NonInteractiveUserSignInLogs": "AADNonInteractiveUserSignInLogs",
    "AuditLogs": "AuditLogs",
    "UserRiskEvents": "AADUserRiskEvents",
}
# Sign-in columns the non-interactive table stores as JSON text, where SigninLogs has them dynamic.
NON_INTERACTIVE_TEXT = ("Status", "DeviceDetail", "LocationDetails", "ConditionalAccessPolicies", "MfaDetail")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?")


def table(record: dict[str, Any]) -> str:
    return TABLES[record["category"]]


def to_row(record: dict[str, Any], time: datetime) -> dict[str, Any]:
    """The row Sentinel stores, keyed by column; dynamic columns as Python objects, `time` as
    TimeGenerated (when the row was ingested)."""
    name = table(record)
    if name == "AuditLogs":
        return _audit(record, time)
    if name == "AADUserRiskEvents":
        return _risk(record, time)
    return _signin(record, time, name)


def _text(value: Any) -> str | None:
    """A list or object as the JSON text a string column holds."""
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parsed(text: Any) -> Any:
    """What a dynamic column holds for a string: the JSON it holds, else the string itself."""
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _when(text: Any) -> datetime | None:
    """An ISO time of a record's properties (Entra writes hours without a leading zero at times)."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        return None
    *parts, fraction = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(*map(int, parts), micro)


def _signin(record: dict[str, Any], time: datetime, name: str) -> dict[str, Any]:
    p = record.get("properties") or {}
    row = {
        "TimeGenerated": time,
        "OperationName": record.get("operationName"),
        "OperationVersion": record.get("operationVersion"),
        "Category": record.get("category"),
        "AADTenantId": record.get("tenantId"),
        "ResultType": record.get("resultType"),
        "ResultSignature": record.get("resultSignature"),
        "ResultDescription": record.get("resultDescription"),
        "DurationMs": record.get("durationMs"),
        "CorrelationId": record.get("correlationId"),
        "Identity": record.get("identity"),
        "Level": str(record["Level"]) if "Level" in record else None,
        "Location": record.get("location"),
        "Id": p.get("id"),
        "CreatedDateTime": _when(p.get("createdDateTime")),
        "UserDisplayName": p.get("userDisplayName"),
        "UserPrincipalName": p.get("userPrincipalName"),
        "UserId": p.get("userId"),
        "UserType": p.get("userType"),
        "AppId": p.get("appId"),
        "AppDisplayName": p.get("appDisplayName"),
        "IPAddress": p.get("ipAddress"),
        "IPAddressFromResourceProvider": p.get("ipAddressFromResourceProvider"),
        "AutonomousSystemNumber": str(p["autonomousSystemNumber"]) if "autonomousSystemNumber" in p else None,
        "Status": p.get("status"),
        "ClientAppUsed": p.get("clientAppUsed"),
        "UserAgent": p.get("userAgent"),
        "DeviceDetail": p.get("deviceDetail"),
        "LocationDetails": p.get("location"),
        "ConditionalAccessStatus": p.get("conditionalAccessStatus"),
        "ConditionalAccessPolicies": p.get("appliedConditionalAccessPolicies"),
        "OriginalRequestId": p.get("originalRequestId"),
        "IsInteractive": p.get("isInteractive"),
        "AuthenticationProcessingDetails": _text(p.get("authenticationProcessingDetails")),
        "NetworkLocationDetails": _text(p.get("networkLocationDetails")),
        "RiskDetail": p.get("riskDetail"),
        "RiskLevelAggregated": p.get("riskLevelAggregated"),
        "RiskLevelDuringSignIn": p.get("riskLevelDuringSignIn"),
        "RiskState": p.get("riskState"),
        "RiskEventTypes": _text(p.get("riskEventTypes")),
        "RiskEventTypes_V2": _text(p.get("riskEventTypes_v2")),
        "ResourceDisplayName": p.get("resourceDisplayName"),
        "ResourceIdentity": p.get("resourceId"),
        "ResourceTenantId": p.get("resourceTenantId"),
        "ResourceServicePrincipalId": p.get("resourceServicePrincipalId"),
        "HomeTenantId": p.get("homeTenantId"),
        "TokenIssuerName": p.get("tokenIssuerName"),
        "TokenIssuerType": p.get("tokenIssuerType"),
        "AuthenticationDetails": _text(p.get("authenticationDetails")),
        "AuthenticationRequirementPolicies": _text(p.get("authenticationRequirementPolicies")),
        "AuthenticationRequirement": p.get("authenticationRequirement"),
        "AuthenticationProtocol": p.get("authenticationProtocol"),
        "AuthenticationMethodsUsed": _text(p.get("authenticationMethodsUsed")),
        "AuthenticationContextClassReferences": _text(p.get("authenticationContextClassReferences")),
        "AlternateSignInName": p.get("alternateSignInName"),
        "SignInIdentifierType": p.get("signInIdentifierType"),
        "ServicePrincipalId": p.get("servicePrincipalId"),
        "CrossTenantAccessType": p.get("crossTenantAccessType"),
        "UniqueTokenIdentifier": p.get("uniqueTokenIdentifier"),
        "SessionLifetimePolicies": _text(p.get("sessionLifetimePolicies")),
        "AppliedEventListeners": p.get("appliedEventListeners"),
        "MfaDetail": p.get("mfaDetail"),
        "SourceSystem": "Azure",
        "Type": name,
    }
    processing = p.get("processingTimeInMilliseconds")
    processing = None if processing is None else str(processing)
    if name == "SigninLogs":
        return row | {
            "ProcessingTimeInMilliseconds": processing,
            "SignInIdentifier": p.get("signInIdentifier"),
            "ServicePrincipalName": p.get("servicePrincipalName"),
            "FlaggedForReview": p.get("flaggedForReview"),
            "ResourceId": p.get("resourceId"),
        }
    return (
        row
        | {column: _text(row[column]) for column in NON_INTERACTIVE_TEXT}
        | {"ProcessingTimeInMs": processing, "SignInEventTypes": _text(p.get("signInEventTypes"))}
        | {"TenantId": WORKSPACE_ID}
    )


def _audit(record: dict[str, Any], time: datetime) -> dict[str, Any]:
    p = record.get("properties") or {}
    result = p.get("result")
    return {
        "TimeGenerated": time,
        "ResourceId": record.get("resourceId"),
        "OperationName": record.get("operationName"),
        "OperationVersion": record.get("operationVersion"),
        "AADTenantId": record.get("tenantId"),
        "ResultType": record.get("resultType"),
        "ResultSignature": record.get("resultSignature"),
        "ResultDescription": record.get("resultDescription"),
        "DurationMs": record.get("durationMs"),
        "CorrelationId": record.get("correlationId"),
        "Identity": record.get("identity"),
        "Level": record.get("level", record.get("Level")),
        "Location": record.get("location"),
        "Id": p.get("id"),
        "Category": p.get("category"),
        "Result": None if result is None else str(result),
        "ResultReason": p.get("resultReason"),
        "ActivityDisplayName": p.get("activityDisplayName"),
        "ActivityDateTime": _when(p.get("activityDateTime")),
        "LoggedByService": p.get("loggedByService"),
        "AADOperationType": p.get("operationType"),
        "InitiatedBy": p.get("initiatedBy"),
        "TargetResources": p.get("targetResources"),
        "AdditionalDetails": p.get("additionalDetails"),
        "SourceSystem": "Azure AD",
        "Type": "AuditLogs",
    }


def _risk(record: dict[str, Any], time: datetime) -> dict[str, Any]:
    p = record.get("properties") or {}
    info = p.get("additionalInfo")
    return {
        "TimeGenerated": time,
        "OperationName": record.get("operationName"),
        "Id": p.get("id"),
        "RequestId": p.get("requestId"),
        "CorrelationId": p.get("correlationId"),
        "RiskEventType": p.get("riskEventType"),
        "RiskState": p.get("riskState"),
        "RiskLevel": p.get("riskLevel"),
        "RiskDetail": p.get("riskDetail"),
        "Source": p.get("source"),
        "DetectionTimingType": p.get("detectionTimingType"),
        "Activity": p.get("activity"),
        "IpAddress": p.get("ipAddress"),
        "Location": p.get("location"),
        "ActivityDateTime": _when(p.get("activityDateTime")),
        "DetectedDateTime": _when(p.get("detectedDateTime")),
        "LastUpdatedDateTime": _when(p.get("lastUpdatedDateTime")),
        "UserId": p.get("userId"),
        "UserDisplayName": p.get("userDisplayName"),
        "UserPrincipalName": p.get("userPrincipalName"),
        "AdditionalInfo": _parsed(info),
        "TokenIssuerType": p.get("tokenIssuerType"),
        "TenantId": WORKSPACE_ID,
        "SourceSystem": "Azure AD",
        "Type": "AADUserRiskEvents",
    }
