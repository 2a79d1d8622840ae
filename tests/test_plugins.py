"""Our targets and pipelines as pySigma plugins, in this environment (make build's strict editable
install lays them out as the wheel does): discovered by pySigma, and converting every rule of the
library exactly as the build does, with one backend and one pipeline for the whole batch as sigma-cli
uses them (so nothing of one rule leaks into the next)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.plugins import InstalledSigmaPlugins

from translator.sigma_cli import BACKEND_IDS, PIPELINE_IDS
from translator.targets import TARGETS


@pytest.fixture(scope="module")
def plugins() -> InstalledSigmaPlugins:
    return InstalledSigmaPlugins.autodiscover()


def test_discovered(plugins: InstalledSigmaPlugins) -> None:
    assert {BACKEND_IDS[t]: plugins.backends[BACKEND_IDS[t]].name for t in TARGETS} == {
        BACKEND_IDS[name]: target.backend.name for name, target in TARGETS.items()
    }
    for model, name in PIPELINE_IDS.items():
        pipeline = plugins.pipelines[name]()
        expected = {BACKEND_IDS[t.name] for t in TARGETS.values() if t.model == model}
        assert pipeline.allowed_backends == expected


@pytest.mark.parametrize("target", TARGETS)
def test_library_converts_as_built(plugins: InstalledSigmaPlugins, root: Path, target: str) -> None:
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    artifacts = {
        e["rule_path"]: e["artifact_path"]
        for e in manifest["artifacts"]
        if e["target"] == target and e["kind"] == "query"
    }
    refused = {r["rule_path"] for r in manifest["refused"] if r["target"] == target}
    pipeline = plugins.pipelines[PIPELINE_IDS[TARGETS[target].model]]()
    backend = plugins.backends[BACKEND_IDS[target]](pipeline)
    rules = sorted(artifacts.keys() | refused)
    assert len(rules) == len(list((root / "sigma").rglob("*.yml")))
    for rule_path in rules:
        (rule,) = SigmaCollection.load_ruleset([root / rule_path]).rules
        if rule_path in refused:
            with pytest.raises(SigmaError):
                backend.convert_rule(rule)
            continue
        (query,) = backend.convert_rule(rule)
        assert query + "\n" == (root / "output" / artifacts[rule_path]).read_text(), rule_path


def test_first_seen_needs_its_attribute(plugins: InstalledSigmaPlugins, root: Path) -> None:
    """A bad first_seen is a pySigma error naming the rule, as sigma-cli reports errors."""
    path = root / "sigma" / "rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml"
    rule = SigmaCollection.from_yaml(path.read_text().replace("history: 7d", "history: soon")).rules[0]
    backend = plugins.backends[BACKEND_IDS["sentinel-kql"]](plugins.pipelines[PIPELINE_IDS["sentinel"]]())
    with pytest.raises(SigmaError, match="first_seen.history must be a duration"):
        backend.convert_rule(rule)
