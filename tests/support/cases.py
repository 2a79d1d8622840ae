"""The focused golden cases (tests/golden/cases.yml): build each case's rule and render it."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import yaml

from translator.errors import RuleError
from translator.loader import load_rule
from translator.targets import TARGETS

CASES_FILE = Path(__file__).resolve().parent.parent / "golden" / "cases.yml"
HEADER_LINES = 2  # sentinel-kql: title and id comments, left out of the expectations


def load_cases() -> list[dict]:
    return yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


def case_rule(case: dict) -> dict:
    """A complete Sigma rule around the case's detection."""
    rule = {
        "title": f"Golden case: {case['name']}",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "translator-golden:" + case["name"])),
        "status": "test",
        "logsource": {"product": "azure", "service": "activitylogs"},
        "detection": case["detection"],
        "level": "low",
    }
    rule.update(case.get("extra", {}))
    return rule


def render_case(case: dict) -> dict[str, dict[str, str]]:
    """For each target: {"query": text} or {"error": reason}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.yml"
        path.write_text(yaml.safe_dump(case_rule(case), sort_keys=False), encoding="utf-8")
        source = load_rule(path, Path(tmp))
        results = {}
        for name, target in TARGETS.items():
            try:
                text = target.render(source).text
            except RuleError as e:
                results[name] = {"error": e.reason}
                continue
            if name == "sentinel-kql":
                text = "\n".join(text.split("\n")[HEADER_LINES:])
            results[name] = {"query": text}
        return results
