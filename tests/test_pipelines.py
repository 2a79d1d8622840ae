"""Facts about the pipelines that the compiler's fast paths rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.processing.conditions import LogsourceCondition

from translator.pipelines import PIPELINES_DIR, load_pipeline

PIPELINES = sorted(PIPELINES_DIR.glob("*.yml"))


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_rule_conditions_test_only_the_logsource(path: Path) -> None:
    """translator/targets.py maps `fields:` entries once per (pipeline, logsource, field) and shares the
    result between rules; that is only right while no item's rule condition looks at anything else."""
    pipeline = load_pipeline(path)
    conditions = [c for item in pipeline.items for c in item.rule_conditions]
    assert conditions and all(isinstance(c, LogsourceCondition) for c in conditions)
