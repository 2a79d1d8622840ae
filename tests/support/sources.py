"""A rule source made in memory from a detection, for tests that render one search to every target."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from sigma.rule import SigmaRule

from translator.model import RuleSource, Schedule


def rule_source(detection: dict[str, Any], service: str = "activitylogs") -> RuleSource:
    """An Azure rule of `service` with this detection, no schedule and no first-seen attribute."""
    rule = SigmaRule.from_dict(
        {
            "title": "test case",
            "id": "3f9d2c1e-8a7b-4c6d-9e0f-1a2b3c4d5e6f",
            "logsource": {"product": "azure", "service": service},
            "detection": detection,
        }
    )
    return RuleSource(Path("case.yml"), PurePosixPath("case.yml"), rule, Schedule.from_attribute(None), None)
