"""Facts about the pipelines that the compiler relies on."""

from __future__ import annotations

import pytest
import yaml
from sigma.processing.conditions import LogsourceCondition

from translator.pipelines import INDEX, PIPELINES_DIR, load_pipeline

ENTRIES = yaml.safe_load((PIPELINES_DIR / INDEX).read_text())
INDEXED = sorted(
    {
        name
        for entry in ENTRIES.values()
        for files in entry.values()
        if isinstance(files, list)
        for name in files
    }
)


def test_the_index_names_every_pipeline_file_and_only_those() -> None:
    files = {p.name for p in PIPELINES_DIR.glob("*.yml")} - {INDEX}
    assert set(INDEXED) == files


@pytest.mark.parametrize("name", INDEXED)
def test_rule_conditions_test_only_the_logsource(name: str) -> None:
    """translator/targets.py maps `fields:` entries once per (pipelines, logsource, field) and shares the
    result between rules; that is only right while no item's rule condition looks at anything else."""
    pipeline = load_pipeline(PIPELINES_DIR / name)
    conditions = [c for item in pipeline.items for c in item.rule_conditions]
    assert all(isinstance(c, LogsourceCondition) for c in conditions)
