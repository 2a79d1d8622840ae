"""What the Elastic Azure integration (activitylogs data stream) stores for a raw Activity Log record.

Written from the integration's ingest pipeline (default.yml and the shared Azure pipeline in
elastic/integrations) and its test fixtures, not from this project's pipelines, so that a wrong belief
in a pipeline shows up as a failing test instead of being copied into both.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from support import asn

# Non-keyword field types of the data stream (fields.yml and ECS), for query evaluation.
TYPES = {
    "source.ip": "ip",
    "client.ip": "ip",
    "source.as.number": "long",
    "event.duration": "long",
    "message": "match_only_text",
    "azure.activitylogs.properties": "flattened",
}

EVIDENCE_RENAMES = {
    "roleAssignmentScope": "role_assignment_scope",
    "roleDefinitionId": "role_definition_id",
    "roleAssignmentId": "role_assignment_id",
    "principalId": "principal_id",
    "principalType": "principal_type",
}
PROPERTY_RENAMES = {"statusCode": "status_code", "serviceRequestId": "service_request_id"}


def to_ecs(record: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(record)
    logs: dict[str, Any] = {}
    doc: dict[str, Any] = {
        "data_stream": {"type": "logs", "dataset": "azure.activitylogs", "namespace": "default"},
        "event": {"dataset": "azure.activitylogs", "kind": "event", "module": "azure"},
        "cloud": {"provider": "azure"},
        "azure": {"activitylogs": logs},
    }
    if "time" in raw:
        doc["@timestamp"] = raw.pop("time")
    if "resourceId" in raw:
        doc["azure"]["resource"] = {"id": raw.pop("resourceId")}
    if "operationName" in raw:
        logs["operation_name"] = raw.pop("operationName")
        doc["event"]["action"] = str(logs["operation_name"])
    for src, dst in (
        ("operationVersion", "operation_version"),
        ("resultType", "result_type"),
        ("resultSignature", "result_signature"),
        ("tenantId", "tenant_id"),
    ):
        if src in raw:
            logs[dst] = raw.pop(src)
    result = logs.get("result_type")
    if isinstance(result, str) and result.lower() in ("success", "failure"):
        doc["event"]["outcome"] = result.lower()
    if "durationMs" in raw:
        doc["event"]["duration"] = raw.pop("durationMs") * 1_000_000
    if "correlationId" in raw:
        doc["azure"]["correlation_id"] = raw.pop("correlationId")
    if "level" in raw:
        doc["log"] = {"level": raw.pop("level")}
    location = raw.pop("location", None)
    _caller(doc, raw.pop("callerIpAddress", None), location)
    identity = raw.pop("identity", None)
    if isinstance(identity, str):
        logs["identity_name"] = identity
    elif isinstance(identity, dict):
        logs["identity"] = _identity(identity)
    properties = raw.pop("properties", None)
    if isinstance(properties, dict):
        _properties(doc, logs, dict(properties))
    logs.update(raw)  # any other raw key stays under azure.activitylogs, name unchanged
    return doc


def _caller(doc: dict[str, Any], caller: Any, location: Any) -> None:
    try:
        ip = str(ipaddress.ip_address(caller)) if isinstance(caller, str) else None
    except ValueError:
        ip = None
    if ip is None:
        if caller is not None:
            doc["source"] = {"address": caller}
        if location is not None:
            doc["geo"] = {"name": location}
        return
    doc["source"] = {"ip": ip}
    doc["client"] = {"ip": ip}
    doc["related"] = {"ip": [ip]}
    found = asn.lookup(ip)
    if found:
        doc["source"]["as"] = {"number": found[0], "organization": {"name": found[1]}}
        doc["geo"] = {"country_iso_code": "ZZ"}  # the GeoIP step replaces geo, dropping geo.name
    elif location is not None:
        doc["geo"] = {"name": location}


def _identity(identity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    authorization = identity.get("authorization")
    if isinstance(authorization, dict):
        out["authorization"] = dict(authorization)
        evidence = authorization.get("evidence")
        if isinstance(evidence, dict):
            out["authorization"]["evidence"] = {EVIDENCE_RENAMES.get(k, k): v for k, v in evidence.items()}
    claims = identity.get("claims")
    if isinstance(claims, dict):
        claims = dict(claims)
        if "name" in claims:
            out["claims_initiated_by_user"] = {"fullname": claims.pop("name")}
        out["claims"] = {key.replace(".", "_"): value for key, value in claims.items()}
    return out


def _properties(doc: dict[str, Any], logs: dict[str, Any], properties: dict[str, Any]) -> None:
    default = "Policy" if "policies" in properties else "Administrative"
    logs["event_category"] = properties.pop("eventCategory", default)
    if "statusMessage" in properties:
        doc["message"] = properties.pop("statusMessage")
    for src, dst in PROPERTY_RENAMES.items():
        if src in properties:
            properties[dst] = properties.pop(src)
    logs["properties"] = properties
