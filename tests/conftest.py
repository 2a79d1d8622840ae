"""Shared fixtures: the project paths, one Kusto.Language process, and one build of every rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support.grammars import KustoAnalyzer, table_schema, watchlist_stub
from support.kusto_exec import Workspace
from translator.build import Build, compile_rules

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sentinel_lookups() -> list[dict]:
    pipeline = yaml.safe_load((ROOT / "pipelines" / "azure_activitylogs_to_sentinel.yml").read_text())
    return pipeline["vars"]["lookups"]


@pytest.fixture(scope="session")
def kusto(sentinel_lookups: list[dict]) -> KustoAnalyzer:
    analyzer = KustoAnalyzer()
    analyzer.use_schema(
        {"AzureActivity": table_schema("AzureActivity")},
        {"_GetWatchlist": watchlist_stub(sentinel_lookups)},
    )
    yield analyzer
    analyzer.close()


@pytest.fixture(scope="session")
def build() -> Build:
    """Every rule under sigma/, compiled once for the whole session."""
    return compile_rules(ROOT / "sigma")


@pytest.fixture(scope="session")
def workspace(sentinel_lookups: list[dict]) -> Workspace:
    """An in-memory workspace whose ASN watchlist has the columns the Sentinel pipeline names."""
    (lookup,) = sentinel_lookups
    return Workspace(
        {
            "range": lookup["range_column"],
            "asn": lookup["columns"]["CallerIpAddressAsn"]["from"],
            "organization": lookup["columns"]["CallerIpAddressAsOrganization"]["from"],
        }
    )
