"""Elastic Security rule files: one ndjson file per Sigma rule, in the shape Kibana's rule import takes
(`POST /api/detection_engine/rules/_import`, one rule per line).

A first-seen rule becomes a `new_terms` rule over the Kibana KQL query, and an `eql` rule with alert
suppression grouped by the same fields over the history window, the closest EQL gets to first-seen.
Other rules become a `query` rule and an `eql` rule. The EQL rule is imported disabled: it is the
alternative to the first rule, and both enabled would alert twice.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from translator.attack import Attack, Technique, ThreatEntry
from translator.backends.elastic_fields import StoredFields
from translator.config import DEFAULT, Config
from translator.json_text import json_bytes
from translator.model import Duration, RuleSource
from translator.packaging.common import derived_id, description, level, rule_date
from translator.targets import Rendered


class KibanaRules:
    """Builds the rule objects of one Sigma rule from its compiled Kibana KQL and EQL queries."""

    # Elastic's severity bands and the risk score it gives each.
    levels: ClassVar[dict[str, tuple[str, int]]] = {
        "informational": ("low", 1),
        "low": ("low", 21),
        "medium": ("medium", 47),
        "high": ("high", 73),
        "critical": ("critical", 99),
    }
    max_new_terms_fields: ClassVar[int] = 3
    suppression_units: ClassVar[tuple[tuple[str, int], ...]] = (("h", 3600), ("m", 60), ("s", 1))
    eql_difference: ClassVar[str] = """
## How this EQL rule differs from the new terms rule

It alerts on the first matching event of each ({fields}) combination and then suppresses further
alerts for that combination for {history}. Unlike the new terms rule it has no history when it starts,
so at first every combination alerts once, and a combination seen before the last alert for it
counts as new again once {history} have passed since that alert. It is imported disabled: enable it
instead of the new terms rule, not beside it. Alert suppression needs a Platinum subscription and
Kibana 8.14 or later.
"""

    def __init__(
        self,
        source: RuleSource,
        kql: Rendered,
        eql: Rendered | None,
        attack: Attack,
        config: Config = DEFAULT,
    ) -> None:
        """`eql` is None where the EQL target refused the rule: the file then holds the KQL rule alone.
        `config` gives the team's rule defaults: enabled, extra tags, the rule_id namespace."""
        self.source = source
        self.enabled: bool = config.get("kibana", "enabled")
        self.extra_tags: list[str] = config.get("kibana", "tags")
        self.namespace = uuid.UUID(config.get("kibana", "rule_id_namespace"))
        self.rule = source.rule
        self.kql = kql
        self.eql = eql
        self.attack = attack
        self.threat = source.threat.entries

    def ndjson(self) -> bytes:
        rules = [self.primary(), *([self.eql_rule()] if self.eql is not None else [])]
        return b"".join(json_bytes(r, sort_keys=True) + b"\n" for r in rules)

    def primary(self) -> dict[str, Any]:
        first_seen = self.source.first_seen
        if first_seen is None:
            return self._common("query", "kuery", self.kql) | {
                "rule_id": derived_id(self.rule, "kibana/query", self.namespace)
            }
        if not 1 <= len(self.kql.terms) <= self.max_new_terms_fields:
            raise ValueError(f"Kibana new terms rules take 1 to 3 fields, not {len(self.kql.terms)}")
        return self._common("new_terms", "kuery", self.kql) | {
            "rule_id": derived_id(self.rule, "kibana/new_terms", self.namespace),
            "new_terms_fields": list(self.kql.terms),
            "history_window_start": f"now-{first_seen.history}",
        }

    def eql_rule(self) -> dict[str, Any]:
        assert self.eql is not None
        rule = self._common("eql", "eql", self.eql) | {
            "rule_id": derived_id(self.rule, "kibana/eql", self.namespace),
            "name": f"{self.rule.title} (EQL)",
            "enabled": False,
        }
        first_seen = self.source.first_seen
        if first_seen is not None:
            rule["alert_suppression"] = {
                "group_by": list(self.eql.terms),
                "duration": self._duration(first_seen.history),
                "missing_fields_strategy": "suppress",
            }
            rule["note"] = rule.get("note", "") + self.eql_difference.format(
                fields=", ".join(self.eql.terms), history=first_seen.history
            )
        return rule

    def _duration(self, duration: Duration) -> dict[str, Any]:
        """Kibana's suppression duration takes s, m or h only: the largest unit that is exact."""
        unit, size = next((u, s) for u, s in self.suppression_units if duration.seconds % s == 0)
        return {"value": duration.seconds // size, "unit": unit}

    def _common(self, rule_type: str, language: str, query: Rendered) -> dict[str, Any]:
        severity, risk_score = self.levels[level(self.rule)]
        year, month, day = rule_date(self.rule)
        pipeline = query.vars
        stored = StoredFields.of(pipeline, query.state)
        rule: dict[str, Any] = {
            "type": rule_type,
            "language": language,
            "query": query.text.rstrip("\n"),
            "name": self.rule.title,
            "description": description(self.rule),
            "author": [self.rule.author] if self.rule.author else [],
            "license": self.rule.license or "",
            "severity": severity,
            "risk_score": risk_score,
            "references": list(self.rule.references),
            "false_positives": list(self.rule.falsepositives),
            "tags": self._tags(pipeline["tags"]),
            "threat": [self._threat_entry(e) for e in self.threat],
            "index": list(pipeline["index"]),
            "interval": str(self.source.schedule.interval),
            "from": f"now-{self.source.schedule.lookback}",
            "to": "now",
            "timestamp_override": pipeline["timestamp_override"],
            "enabled": self.enabled,
            "version": year * 10000 + month * 100 + day,
            "max_signals": 100,
            "risk_score_mapping": [],
            "severity_mapping": [],
            "exceptions_list": [],
            "actions": [],
            "related_integrations": [dict(pipeline["integration"])],
            "required_fields": [{"name": f, "type": stored.type_of(f)} for f in sorted(query.query_fields)],
            "meta": {
                "sigma_rule_id": str(self.rule.id),
                "attack_version": self.attack.version,
                "generator": "translator",
            },
        }
        if self.source.guide:
            rule["note"] = self.source.guide
        if query.fields:
            rule["investigation_fields"] = {"field_names": list(dict.fromkeys(query.fields))}
        return rule

    def _tags(self, data_tags: list[str]) -> list[str]:
        tags = [*data_tags, "Use Case: Threat Detection"]
        tags += [f"Tactic: {entry.tactic.name}" for entry in self.threat]
        tags += list(self.source.threat.unmapped_tags)  # ATT&CK tags the mapping cannot hold, as written
        if self.source.guide:
            tags.append("Resources: Investigation Guide")
        return tags + [t for t in self.extra_tags if t not in tags]

    def _threat_entry(self, entry: ThreatEntry) -> dict[str, Any]:
        """One tactic with its techniques, each sub-technique under its parent technique."""
        parents: dict[str, list[Technique]] = {}
        for technique in entry.techniques:
            parents.setdefault(technique.parent, [])
            if technique.id != technique.parent:
                parents[technique.parent].append(technique)
        techniques = []
        for parent_id, subs in parents.items():
            parent = self.attack.techniques[parent_id]
            item: dict[str, Any] = {"id": parent.id, "name": parent.name, "reference": parent.reference}
            if subs:
                item["subtechnique"] = [{"id": s.id, "name": s.name, "reference": s.reference} for s in subs]
            techniques.append(item)
        tactic = entry.tactic
        return {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": tactic.id, "name": tactic.name, "reference": tactic.reference},
            "technique": techniques,
        }
