"""The Kibana KQL artifact asks for the same events as the query of Elastic's own rule.

Both run on what the Elastic integration stores for a grid of raw records (every near miss of every
condition, crossed), with Elasticsearch keyword semantics.
"""

from __future__ import annotations

from pathlib import Path

from support import elastic_ingest
from support.kql_eval import KqlQuery
from support.records import serial_console_variants

ARTIFACT = Path(
    "output/kibana-kql/rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.kql"
)

# The query of Elastic's rule 97266eb4-b8c3-4e3e-9417-7d0ace6b3dfe ("Azure VM Serial Console Connection
# with Unusual User and ASN", elastic/detection-rules), restated.
ELASTIC_QUERY = (
    "data_stream.dataset:azure.activitylogs and"
    ' azure.activitylogs.operation_name:"MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTION" and'
    ' event.outcome:("success" or "Success") and'
    " azure.activitylogs.identity.authorization.evidence.principal_id:* and"
    " source.as.number:*"
)


def test_kibana_artifact_matches_the_same_events_as_elastic(root: Path) -> None:
    docs = [elastic_ingest.to_ecs(r) for r in serial_console_variants()]
    ours = KqlQuery((root / ARTIFACT).read_text().rstrip("\n"), elastic_ingest.TYPES)
    theirs = KqlQuery(ELASTIC_QUERY, elastic_ingest.TYPES)
    matched = [i for i, doc in enumerate(docs) if ours.matches(doc)]
    assert matched == [i for i, doc in enumerate(docs) if theirs.matches(doc)]
    # Not vacuous: the positives are the upper-case connect, success in any case, a principal id
    # (even empty: exists), and a caller with an ASN (two IPv4 ranges and one IPv6 range).
    assert len(matched) == 1 * 3 * 2 * 3
    assert 0 < len(matched) < len(docs)
