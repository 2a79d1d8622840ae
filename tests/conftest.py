"""Shared fixtures: the project paths, one Kusto.Language process, and one build of every rule."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.grammars import KustoAnalyzer, table_schema, watchlist_stub
from support.kusto_exec import TABLES, Workspace
from translator.build import Build, compile_rules
from translator.cache import ENV_CACHE_DIR
from translator.output_dir import write_tree

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every build the tests run (and the CLI processes they start) caches into a folder of this session,
    never into the user's cache; tests/test_cache.py makes its own where it needs a cold one."""
    folder = tmp_path_factory.mktemp("translator-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_CACHE_DIR, str(folder))
        yield folder


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


SERIAL_CONSOLE_RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of one rule (the Serial Console rule) and the output/ a build made of it: what the tests
    of the command line and of the output folder work on, so that they do not depend on which other
    rules the library holds (its refusals, notes and artifacts)."""
    project = tmp_path_factory.mktemp("small-project")
    (project / "sigma" / SERIAL_CONSOLE_RULE).parent.mkdir(parents=True)
    (project / "sigma" / SERIAL_CONSOLE_RULE).write_bytes((ROOT / "sigma" / SERIAL_CONSOLE_RULE).read_bytes())
    build = compile_rules(project / "sigma")
    assert not build.errors and not build.refusals
    write_tree(project / "output", build.files(), project / "sigma")
    return project


def copy_project(small_project: Path, destination: Path) -> None:
    """The small project's sigma/ and output/ under `destination`."""
    shutil.copytree(small_project / "sigma", destination / "sigma")
    shutil.copytree(small_project / "output", destination / "output")


@pytest.fixture
def project(small_project: Path, tmp_path: Path) -> Path:
    """A copy of the one-rule project's sigma/ and output/ in this test's folder, to break things in."""
    copy_project(small_project, tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sentinel_lookups() -> list[dict]:
    pipeline = yaml.safe_load((ROOT / "pipelines" / "azure_activitylogs_to_sentinel.yml").read_text())
    return pipeline["vars"]["lookups"]


@pytest.fixture(scope="session")
def kusto(sentinel_lookups: list[dict]) -> KustoAnalyzer:
    analyzer = KustoAnalyzer()
    analyzer.use_schema(
        {table: table_schema(table) for table in TABLES},
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
