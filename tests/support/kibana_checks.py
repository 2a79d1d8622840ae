"""Kibana's rules for an importable detection rule, written down once and run on every rule file.

Each check returns the problems it finds (empty when the rule is fine), so the tests can also show that
every check catches what it is for. Sources: Kibana's rule schema (RuleToImport), the new terms and
alert suppression schemas, alerting's duration format, and elastic/detection-rules' conventions.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from support.attack_data import AttackData

BASE = {"rule_id", "name", "description", "risk_score", "severity", "type"}
BY_TYPE = {
    "query": {"query", "language", "index"},
    "eql": {"query", "language", "index"},
    "new_terms": {"query", "language", "index", "new_terms_fields", "history_window_start"},
}
LANGUAGES = {"query": {"kuery", "lucene"}, "new_terms": {"kuery", "lucene"}, "eql": {"eql"}}
SERVER_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "revision",
    "execution_summary",
}
BANDS = {"low": (0, 21), "medium": (22, 47), "high": (48, 73), "critical": (74, 100)}
DATE_MATH = re.compile(r"^now(-([1-9][0-9]*)([smhd]))?$")
INTERVAL = re.compile(r"^[1-9][0-9]*[smhd]$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SIGNALS = 1000  # xpack.alerting.rules.run.alerts.max, Kibana's default cap
TACTIC_URL = re.compile(r"^https://attack\.mitre\.org/tactics/(TA\d{4})/$")
TECHNIQUE_URL = re.compile(r"^https://attack\.mitre\.org/techniques/(T\d{4})/$")
SUBTECHNIQUE_URL = re.compile(r"^https://attack\.mitre\.org/techniques/(T\d{4})/(\d{3})/$")


def ago(date_math: str) -> int | None:
    """Seconds before now a date-math expression like now-9m names, or None if it is not one."""
    match = DATE_MATH.match(date_math)
    if not match:
        return None
    return int(match.group(2)) * SECONDS[match.group(3)] if match.group(1) else 0


def check_rule(rule: dict[str, Any], attack: AttackData) -> list[str]:
    problems = []
    kind = rule.get("type")
    missing = (BASE | BY_TYPE.get(kind, set())) - set(rule)
    if kind not in BY_TYPE:
        problems.append(f"type {kind!r} is not query, eql or new_terms")
    if missing:
        problems.append(f"missing required fields: {sorted(missing)}")
    if SERVER_FIELDS & set(rule):
        problems.append(f"server-generated fields: {sorted(SERVER_FIELDS & set(rule))}")
    if not all(isinstance(rule.get(f), str) and rule.get(f) for f in ("name", "description", "query")):
        problems.append("name, description and query must be non-empty strings")
    if rule.get("language") not in LANGUAGES.get(kind, set()):
        problems.append(f"language {rule.get('language')!r} is not valid for {kind}")
    try:
        uuid.UUID(rule.get("rule_id", ""))
    except ValueError:
        problems.append("rule_id is not a UUID")
    low, high = BANDS.get(rule.get("severity"), (1, 0))
    if not (isinstance(rule.get("risk_score"), int) and low <= rule["risk_score"] <= high):
        problems.append(f"risk_score {rule.get('risk_score')} is outside the {rule.get('severity')} band")
    if not INTERVAL.match(str(rule.get("interval", "5m"))):
        problems.append(f"interval {rule.get('interval')!r} is not like 5m")
    start = ago(str(rule.get("from", "now-6m")))
    if start is None:
        problems.append(f"from {rule.get('from')!r} is not date math")
    if not 1 <= rule.get("max_signals", 100) <= MAX_SIGNALS:
        problems.append(f"max_signals {rule.get('max_signals')} is not within 1..{MAX_SIGNALS}")
    if not (isinstance(rule.get("version"), int) and rule["version"] >= 1):
        problems.append("version must be an integer >= 1")
    if kind == "new_terms":
        problems += _new_terms(rule, start)
    if "alert_suppression" in rule:
        problems += _suppression(rule["alert_suppression"])
    problems += _threat(rule, attack)
    return problems


def _new_terms(rule: dict[str, Any], start: int | None) -> list[str]:
    problems = []
    fields = rule.get("new_terms_fields", [])
    if not 1 <= len(fields) <= 3 or len(set(fields)) != len(fields):
        problems.append(f"new_terms_fields must be 1 to 3 distinct fields, not {fields}")
    history = ago(str(rule.get("history_window_start")))
    if history is None:
        problems.append(f"history_window_start {rule.get('history_window_start')!r} is not date math")
    elif start is not None and history <= start:
        problems.append("history_window_start must be earlier than from")
    return problems


def _suppression(suppression: dict[str, Any]) -> list[str]:
    problems = []
    group_by = suppression.get("group_by", [])
    if not 1 <= len(group_by) <= 3:
        problems.append(f"alert_suppression.group_by must hold 1 to 3 fields, not {group_by}")
    duration = suppression.get("duration")
    if duration is not None and (
        duration.get("unit") not in ("s", "m", "h")
        or not (isinstance(duration.get("value"), int) and duration["value"] >= 1)
    ):
        problems.append(f"alert_suppression.duration {duration} is not a positive count of s, m or h")
    if suppression.get("missing_fields_strategy", "suppress") not in ("suppress", "doNotSuppress"):
        problems.append("alert_suppression.missing_fields_strategy is not suppress or doNotSuppress")
    return problems


def _threat(rule: dict[str, Any], attack: AttackData) -> list[str]:
    problems = []
    tactics = []
    for entry in rule.get("threat", []):
        tactic = entry.get("tactic", {})
        if entry.get("framework") != "MITRE ATT&CK":
            problems.append("threat framework must be MITRE ATT&CK")
        shortname = attack.tactics.get(tactic.get("id"))
        url = TACTIC_URL.match(tactic.get("reference", ""))
        if shortname is None or tactic.get("name", "").lower().replace(" ", "-") != shortname:
            problems.append(f"tactic {tactic} is not an ATT&CK tactic with that name")
        if not url or url.group(1) != tactic.get("id"):
            problems.append(
                f"tactic reference {tactic.get('reference')!r} does not point to {tactic.get('id')}"
            )
        tactics.append(tactic.get("name"))
        for technique in entry.get("technique", []):
            problems += _technique(technique, shortname, attack)
    tagged = [t.removeprefix("Tactic: ") for t in rule.get("tags", []) if t.startswith("Tactic: ")]
    if sorted(tagged) != sorted(tactics):
        problems.append(f"tactic tags {tagged} and threat tactics {tactics} differ")
    return problems


def _technique(technique: dict[str, Any], tactic: str | None, attack: AttackData) -> list[str]:
    problems = []
    tid = technique.get("id", "")
    url = TECHNIQUE_URL.match(technique.get("reference", ""))
    if attack.techniques.get(tid) != technique.get("name") or "." in tid:
        problems.append(f"technique {tid} {technique.get('name')!r} is not an ATT&CK technique")
    if not url or url.group(1) != tid:
        problems.append(f"technique reference {technique.get('reference')!r} does not point to {tid}")
    if tactic not in attack.technique_tactics.get(tid, []):
        problems.append(f"technique {tid} does not belong to tactic {tactic}")
    for sub in technique.get("subtechnique", []):
        sid = sub.get("id", "")
        url = SUBTECHNIQUE_URL.match(sub.get("reference", ""))
        if attack.techniques.get(sid) != sub.get("name") or sid.split(".")[0] != tid:
            problems.append(
                f"sub-technique {sid} {sub.get('name')!r} is not an ATT&CK sub-technique of {tid}"
            )
        if not url or f"{url.group(1)}.{url.group(2)}" != sid:
            problems.append(f"sub-technique reference {sub.get('reference')!r} does not point to {sid}")
    return problems
