"""What Elastic's Azure integration stores for raw Entra ID records: the signinlogs, auditlogs and
identity_protection data streams.

Written from the integration's documented behaviour (each stream's ingest pipeline, default.yml, and the
shared Azure pipeline in elastic/integrations; the newest versions where they differ), not from this
project's pipelines, so that a wrong belief in a pipeline shows up as a failing test. The three were
checked by hand against the integration's own test fixtures (raw line -> expected document); the tests
do not read those. A record the stream drops (another category) gives None.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from typing import Any

from support import asn

Doc = dict[str, Any]
ECS_TYPES = {  # ECS fields the streams fill that are not keyword, and the text multi-field of ECS
    "@timestamp": "date",
    "source.ip": "ip",
    "client.ip": "ip",
    "source.as.number": "long",
    "event.duration": "long",
    "message": "match_only_text",
    "user_agent.original.text": "match_only_text",
}
MULTI_FIELDS = {"user_agent.original.text": "user_agent.original"}  # multi-field -> the field it indexes
SIGNIN_TYPES = ECS_TYPES | {
    "azure.signinlogs.caller_ip_address": "ip",
    "azure.signinlogs.properties.status.error_code": "long",
    "azure.signinlogs.properties.autonomous_system_number": "long",
    "azure.signinlogs.properties.processing_time_ms": "float",
    **{
        f"azure.signinlogs.properties.{name}": "boolean"
        for name in (
            "is_interactive",
            "device_detail.is_compliant",
            "device_detail.is_managed",
            "flagged_for_review",
            "is_tenant_restricted",
            "is_through_global_secure_access",
        )
    },
    **{
        f"azure.signinlogs.properties.{name}": "flattened"
        for name in (
            "applied_conditional_access_policies",
            "authentication_details",
            "authentication_processing_details",
            "authentication_requirement_policies",
            "network_location_details",
        )
    },
}
AUDIT_TYPES = ECS_TYPES | {"azure.auditlogs.level": "float"}
RISK_TYPES = ECS_TYPES | {
    "azure.identityprotection.properties.ip_address": "ip",
    "azure.identityprotection.properties.additional_info": "flattened",
    "azure.identityprotection.properties.location": "flattened",
}


def _base(dataset: str) -> Doc:
    return {
        "data_stream": {"type": "logs", "dataset": dataset, "namespace": "default"},
        "event": {"dataset": dataset, "kind": "event", "module": "azure"},
        "cloud": {"provider": "azure"},
    }


def _shared(doc: Doc, resource_id: Any) -> Doc:
    """azure-shared-pipeline: the resource, and event.outcome lower-cased."""
    if resource_id is not None:
        doc.setdefault("azure", {})["resource"] = {"id": resource_id}
    if isinstance(doc["event"].get("outcome"), str):
        doc["event"]["outcome"] = doc["event"]["outcome"].lower()
    return doc


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _source(doc: Doc, address: Any, keep_address: bool = False) -> None:
    """source.ip, client.ip, related.ip and the ASN when `address` is an IP address, else source.address
    (the sign-in pipeline keeps source.address in both cases)."""
    if address is None or address == "":
        return
    ip = _ip(address)
    doc["source"] = {"address": address} if keep_address or ip is None else {}
    if ip is None:
        return
    doc["source"]["ip"] = ip
    doc["client"] = {"ip": ip}
    doc["related"] = {"ip": [ip]}
    if found := asn.lookup(ip):
        doc["source"]["as"] = {"number": found[0], "organization": {"name": found[1]}}


# -- signinlogs -------------------------------------------------------------------------------------


def _snake(key: str) -> str:
    return re.sub(r"([a-z])([A-Z]+)", r"\1_\2", key).lower()


def _snake_keys(value: Any) -> Any:
    """The pipeline's script: every key of every map, also in maps inside lists, to snake case."""
    if isinstance(value, dict):
        return {_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _drop_empty(value: Any) -> Any:
    """The final script (newest versions): nulls, empty strings, empty maps and lists removed, deeply."""
    if isinstance(value, dict):
        out = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        out = [_drop_empty(v) for v in value]
        return [v for v in out if v not in (None, "", {}, [])]
    return value


def signin_to_ecs(record: Doc) -> Doc | None:
    logs = _snake_keys(copy.deepcopy(record))
    if not str(logs.get("category", "")).endswith("SignInLogs"):
        return None
    doc = _base("azure.signinlogs")
    props = logs.get("properties") if isinstance(logs.get("properties"), dict) else {}
    if "created_date_time" in props:
        props["created_at"] = props.pop("created_date_time")
    doc["@timestamp"] = props.get("created_at", logs.pop("time", None))
    logs.pop("time", None)
    address = props.pop("ip_address", None) or props.pop("ipaddress", None)
    _source(doc, address, keep_address=True)
    if "caller_ip_address" in logs and _ip(logs["caller_ip_address"]) is None:
        logs.pop("caller_ip_address")  # the ip conversion fails and drops it
    if "level" in logs:
        doc["log"] = {"level": str(logs.pop("level"))}
    if "duration_ms" in logs:
        doc["event"]["duration"] = int(logs.pop("duration_ms")) * 1_000_000
    geo = {"country_iso_code": logs.pop("location")} if "location" in logs else {}
    location = props.pop("location", None) or {}
    geo |= {"city_name": location.get("city"), "region_name": location.get("state")}
    if isinstance(location.get("geo_coordinates"), dict):
        coordinates = location["geo_coordinates"]
        geo["location"] = {"lat": coordinates.get("latitude"), "lon": coordinates.get("longitude")}
    doc["geo"] = geo
    if "operation_name" in logs:
        doc["event"]["action"] = logs["operation_name"]
    doc["azure"] = {
        "tenant_id": logs.pop("tenant_id", None),
        "correlation_id": logs.pop("correlation_id", None),
    }
    status = props.get("status") if isinstance(props.get("status"), dict) else {}
    reason, details = status.pop("failure_reason", None), status.pop("additional_details", None)
    doc["message"] = f"{reason} ({details})" if reason and details else reason or details
    if isinstance(props.get("authentication_processing_details"), list):
        pairs = props["authentication_processing_details"]
        props["authentication_processing_details"] = {p.get("key"): p.get("value") for p in pairs}
    if "risk_level_during_sign_in" in props:
        props["risk_level_during_signin"] = props.pop("risk_level_during_sign_in")
    if "processing_time_in_milliseconds" in props:
        props["processing_time_ms"] = props.pop("processing_time_in_milliseconds")
    code = status.get("error_code")
    doc["event"]["outcome"] = "success" if code in (None, 0) else "failure"
    doc["event"]["id"] = props.get("id")
    upn = props.get("user_principal_name")
    doc["user"] = {"name": upn, "email": upn if isinstance(upn, str) and "@" in upn else None}
    doc["user"] |= {"full_name": props.get("user_display_name"), "id": props.get("user_id")}
    doc["user_agent"] = {"original": props.pop("user_agent", None)}
    doc["azure"]["signinlogs"] = logs
    return _drop_empty(_shared(doc, logs.pop("resource_id", None)))


# -- auditlogs --------------------------------------------------------------------------------------

AUDIT_TOP = {"operationName": "operation_name", "operationVersion": "operation_version"}
AUDIT_TOP |= {"resultSignature": "result_signature", "resultDescription": "result_description"}
AUDIT_PROPERTIES = {
    "activityDisplayName": "activity_display_name",
    "activityDateTime": "activity_datetime",
    "additionalDetails": "additional_details",
    "resultReason": "result_reason",
    "correlationId": "correlation_id",
    "loggedByService": "logged_by_service",
    "operationType": "operation_type",
    "initiatedBy": "initiated_by",
}
TARGET_KEYS = {"id": "id", "displayName": "display_name", "type": "type", "ipAddress": "ip_address"}
TARGET_KEYS |= {"userPrincipalName": "user_principal_name"}
MODIFIED_KEYS = {"displayName": "display_name", "oldValue": "old_value", "newValue": "new_value"}


def _keyed(items: list[Any], keys: dict[str, str]) -> dict[str, Any]:
    """A list of objects as the pipeline stores it: an object keyed "0", "1", ..., only `keys` kept
    (renamed), nulls left out."""
    return {
        str(i): {keys[k]: v for k, v in item.items() if k in keys and v is not None}
        for i, item in enumerate(items)
        if isinstance(item, dict)
    }


def _tenant_of(resource_id: Any) -> str | None:
    """Newer versions take the tenant from the resource id when the record has no tenantId."""
    found = re.match(r"/tenants/([^/]+)/", resource_id) if isinstance(resource_id, str) else None
    return found.group(1) if found else None


def audit_to_ecs(record: Doc) -> Doc | None:
    logs = copy.deepcopy(record)
    if logs.get("category") != "AuditLogs":
        return None
    doc = _base("azure.auditlogs")
    doc["@timestamp"] = logs.pop("time", None)
    if "durationMs" in logs:
        doc["event"]["duration"] = int(logs.pop("durationMs")) * 1_000_000
    props = logs.pop("properties", None) or {}
    result = props.get("result")
    if isinstance(result, str) and result.lower() in ("success", "failure"):
        doc["event"]["outcome"] = props.pop("result")
    if "level" in logs:
        doc["log"] = {"level": logs.pop("level")}
    if "Level" in logs:
        logs["level"] = float(logs.pop("Level"))
    for src, dst in AUDIT_TOP.items():
        if src in logs:
            logs[dst] = logs.pop(src)
    if "operation_name" in logs:
        doc["event"]["action"] = logs["operation_name"]
    tenant = logs.pop("tenantId", None) or _tenant_of(logs.get("resourceId"))
    doc["azure"] = {"tenant_id": tenant, "correlation_id": logs.pop("correlationId", None)}
    _source(doc, logs.pop("callerIpAddress", None))
    for src, dst in AUDIT_PROPERTIES.items():
        if src in props:
            props[dst] = props.pop(src)
    for kind, key in (("app", "appId"), ("app", "servicePrincipalName"), ("user", "displayName")):
        actor = (props.get("initiated_by") or {}).get(kind)
        if isinstance(actor, dict) and actor.get(key) is None:
            actor.pop(key, None)
    if props.get("userAgent", "") is None:
        props.pop("userAgent")
    if isinstance(props.get("targetResources"), list):
        targets = props.pop("targetResources")
        props["target_resources"] = _keyed(targets, TARGET_KEYS)
        for i, target in enumerate(t for t in targets if isinstance(t, dict)):
            if isinstance(target.get("modifiedProperties"), list):
                modified = _keyed(target["modifiedProperties"], MODIFIED_KEYS)
                props["target_resources"][str(i)]["modified_properties"] = modified
    logs["properties"] = props
    doc["azure"]["auditlogs"] = logs
    return _shared(doc, logs.pop("resourceId", None))


# -- identity_protection ----------------------------------------------------------------------------

RENAMED_RISK_KEYS = [  # the fixed list the pipeline renames to snake case
    *["isDeleted", "isGuest", "isProcessing", "riskType", "riskEventType", "riskState", "riskLevel"],
    *["riskDetail", "userId", "userDisplayName", "userPrincipalName", "userType", "detectionTimingType"],
    *["requestId", "correlationId", "tokenIssuerType", "ipAddress"],
]
RISK_PROPERTIES = {key: _snake(key) for key in RENAMED_RISK_KEYS}
RISK_PROPERTIES |= {
    "lastUpdatedDateTime": "last_updated_datetime",
    "riskLastUpdatedDateTime": "risk_last_updated_datetime",
    "activityDateTime": "activity_datetime",
    "detectedDateTime": "detected_datetime",
}
RISK_REMOVED = ("homeTenantId", "resourceTenantId", "crossTenantAccessType")


def risk_to_ecs(record: Doc) -> Doc | None:
    logs = copy.deepcopy(record)
    if logs.get("category") not in ("RiskyUsers", "UserRiskEvents"):
        return None
    doc = _base("azure.identity_protection")
    doc["@timestamp"] = logs.pop("time", None)
    props = logs.pop("properties", None) or {}
    _source(doc, logs.pop("callerIpAddress", None) or props.get("ipAddress"))
    if "durationMs" in logs:
        doc["event"]["duration"] = int(logs.pop("durationMs")) * 1_000_000
    for src, dst in (("operationName", "operation_name"), ("operationVersion", "operation_version")):
        if src in logs:
            logs[dst] = logs.pop(src)
    if "resultSignature" in logs:
        logs["result_signature"] = logs.pop("resultSignature")
    if "operation_name" in logs:
        doc["event"]["action"] = logs["operation_name"]
    doc["azure"] = {
        "tenant_id": logs.pop("tenantId", None),
        "correlation_id": logs.pop("correlationId", None),
    }
    for key in ("identity", "Level", "location"):
        logs.pop(key, None)
    for key in RISK_REMOVED:
        props.pop(key, None)
    for src, dst in RISK_PROPERTIES.items():
        if src in props:
            props[dst] = props.pop(src)
    if isinstance(props.get("additionalInfo"), str):
        props["additional_info"] = json.loads(props.pop("additionalInfo"))
    logs["properties"] = props
    doc["azure"]["identityprotection"] = logs
    return _shared(doc, logs.pop("resourceId", None))


STREAMS = {
    "signinlogs": (signin_to_ecs, SIGNIN_TYPES),
    "auditlogs": (audit_to_ecs, AUDIT_TYPES),
    "riskdetection": (risk_to_ecs, RISK_TYPES),
}
