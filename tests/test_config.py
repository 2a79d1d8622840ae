"""translator.toml: strict reading, `translator config`, and exactly the changes each setting makes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path, PurePosixPath

import pytest
import yaml
from click.testing import CliRunner, Result

from support.grammars import KustoAnalyzer
from translator.build import compile_rules
from translator.cli import main
from translator.config import DEFAULT, TARGET_NAMES, ConfigError, effective, load_config
from translator.output_read import read_tree
from translator.packaging import PACKAGES
from translator.targets import TARGETS

RULE = PurePosixPath("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn")
KQL = f"kibana-kql/{RULE}.kql"
EQL = f"eql/{RULE}.eql"
SENTINEL = f"sentinel-kql/{RULE}.kql"
NDJSON = f"kibana-rules/{RULE}.ndjson"
SENTINEL_FILES = (SENTINEL, f"sentinel-rules/{RULE}.yaml", f"sentinel-arm/{RULE}.json")
RENAME = """\
name: team-renames
priority: 100
transformations:
  - id: team_principal
    type: field_name_mapping
    mapping:
      azure.activitylogs.identity.authorization.evidence.principal_id: team.principal
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write_config(folder: Path, text: str) -> Path:
    path = folder / "translator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def built(project: Path, config_text: str) -> dict[str, bytes]:
    """The files a build of the project's rules makes under this configuration."""
    build = compile_rules(project / "sigma", config=load_config(write_config(project, config_text)))
    assert not build.errors
    return build.files()


def default_files(small_project: Path) -> dict[str, bytes]:
    return read_tree(small_project / "output")


def toml_value(value: object) -> str:
    """A JSON value as TOML: tables inline, keys quoted."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def test_the_target_names_are_the_targets_and_packages() -> None:
    assert (*TARGETS, *(p.name for p in PACKAGES)) == TARGET_NAMES


def test_every_default_written_out_reproduces_output(root: Path, tmp_path: Path) -> None:
    """A file that sets every setting `translator config` prints, to its printed default, changes no
    byte of the committed output/ (and neither does an empty file)."""
    lines = [f"{key} = {toml_value(value)}" for key, value, _ in effective(DEFAULT)]
    lines = [line for line in lines if not line.startswith(("build.rules", "build.output"))]
    for text in ("\n".join(lines) + "\n", ""):
        config = write_config(tmp_path, text)
        paths = ["--rules", str(root / "sigma"), "--output", str(root / "output")]
        result = run("build", "--check", "--no-cache", "--config", str(config), *paths)
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[kibana]\nenabeld = false\n",
            "kibana.enabeld: unknown setting; the settings here are enabled, tags, rule_id_namespace, index",
        ),
        (
            "colour = 1\n",
            "colour: unknown setting; the settings here are build, kibana, sentinel, pipelines, "
            "pipeline_vars",
        ),
        ("[kibana]\nenabled = 'no'\n", "kibana.enabled: must be a boolean, not a string"),
        ("[kibana]\ntags = 'x'\n", "kibana.tags: must be an array, not a string"),
        ("[build]\ntargets = ['kql']\n", "build.targets[0]: must be one of " + ", ".join(TARGET_NAMES)),
        (
            "[pipelines]\necs = ['missing.yml']\n",
            "pipelines.ecs[0]: cannot read {dir}/missing.yml: No such file or directory",
        ),
        (
            "[kibana.index]\n'azure/nope' = ['x-*']\n",
            'kibana.index."azure/nope": not a log source with '
            "pipelines; they are azure/activitylogs, azure/auditlogs, azure/riskdetection, azure/signinlogs",
        ),
        (
            "[sentinel.watchlist]\nalias = 'a b'\n",
            "sentinel.watchlist.alias: must be a watchlist alias: letters, digits and _, at most 64",
        ),
        (
            "[sentinel.alert_grouping]\nlookback = '5h'\n",
            "sentinel.alert_grouping.lookback: must be an ISO "
            "8601 duration of at most 7 days (PT30M, PT5H, P1D)",
        ),
        (
            "[pipeline_vars.'azure_activitylogs_to_sentinel.yml']\nwatchlist = 'x'\n",
            'pipeline_vars."azure_activitylogs_to_sentinel.yml".watchlist: '
            "azure_activitylogs_to_sentinel.yml has no variable watchlist; its variables are "
            "data_connectors, entities, lookups",
        ),
        (
            "[pipeline_vars.'azure_activitylogs_to_ecs.yml']\nindex = 'x-*'\n",
            'pipeline_vars."azure_activitylogs_to_ecs.yml".index: must be an array, as in '
            "pipelines/azure_activitylogs_to_ecs.yml",
        ),
        (
            "[pipeline_vars.'mine.yml']\nindex = ['x-*']\n",
            'pipeline_vars."mine.yml": not one of our pipelines',
        ),
        ("kibana = [\n", "cannot read the configuration: "),
    ],
)
def test_a_bad_configuration_is_one_clear_error(project: Path, text: str, message: str) -> None:
    config = write_config(project, text)
    output = project / "output"
    before = read_tree(output)
    for command in (["build", "--rules", str(project / "sigma"), "--output", str(output)], ["config"]):
        result = run(*command, "--config", str(config))
        assert result.exit_code == 1
        assert "Traceback" not in result.output + result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: {config}: {message.format(dir=project)}")
    assert read_tree(output) == before


def test_a_missing_configuration_file_is_an_error(tmp_path: Path) -> None:
    result = run("config", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'nope.toml'}: no such configuration file\n"


def test_config_prints_each_value_and_where_it_comes_from(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "[kibana]\ntags = ['Team: Blue']\n[sentinel.watchlist]\nalias = 'TeamAsn'\n"
    )
    result = run("config", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"# configuration file: {config}"
    assert f'kibana.tags = ["Team: Blue"]  # {config}:kibana.tags' in lines
    assert f'sentinel.watchlist.alias = "TeamAsn"  # {config}:sentinel.watchlist.alias' in lines
    assert "kibana.enabled = true  # default" in lines
    assert (
        'kibana.index."azure/activitylogs" = ["logs-azure.activitylogs-*"]  '
        "# default (pipelines/azure_activitylogs_to_ecs.yml)"
    ) in lines
    assert (
        'sentinel.watchlist.range_column = "network"  '
        "# default (pipelines/azure_activitylogs_to_sentinel.yml)"
    ) in lines


def test_index_and_watchlist_change_exactly_those(
    small_project: Path, project: Path, kusto: KustoAnalyzer
) -> None:
    files = built(
        project,
        "[kibana.index]\n'azure/activitylogs' = ['team-azure-*', 'archive-azure-*']\n"
        "[sentinel.watchlist]\nalias = 'TeamAsn'\n",
    )
    before = default_files(small_project)
    assert files.keys() == before.keys()
    changed = {path for path in files if files[path] != before[path]}
    assert changed == {NDJSON, *SENTINEL_FILES, "manifest.json"}
    old_index = '"index":["logs-azure.activitylogs-*"]'
    assert old_index in before[NDJSON].decode()
    new_index = '"index":["team-azure-*","archive-azure-*"]'
    assert files[NDJSON].decode() == before[NDJSON].decode().replace(old_index, new_index)
    for path in SENTINEL_FILES:
        assert files[path].decode() == before[path].decode().replace("AsnIPv4Ranges", "TeamAsn")
    query = files[SENTINEL].decode()
    assert 'let TeamAsn = _GetWatchlist("TeamAsn")' in query
    assert kusto.errors(query) == []
    assert yaml.safe_load(files[f"sentinel-rules/{RULE}.yaml"])["query"] == query


def test_watchlist_columns_and_a_pipeline_variable(small_project: Path, project: Path) -> None:
    files = built(
        project,
        "[sentinel.watchlist]\nrange_column = 'cidr'\ncolumns.CallerIpAddressAsn = 'asn'\n"
        "[pipeline_vars.'azure_activitylogs_to_sentinel.yml']\n"
        "data_connectors = [{connectorId = 'TeamConnector', dataTypes = ['AzureActivity']}]\n",
    )
    before = default_files(small_project)
    query = files[SENTINEL].decode()
    assert "CallerIpAddressAsn = tolong(asn)" in query and "CallerIpAddress, cidr," in query
    assert "autonomous_system_number" not in query and "autonomous_system_organization" in query
    template = yaml.safe_load(files[f"sentinel-rules/{RULE}.yaml"])
    assert template["requiredDataConnectors"] == [
        {"connectorId": "TeamConnector", "dataTypes": ["AzureActivity"]}
    ]
    assert {p for p in files if files[p] != before[p]} == {*SENTINEL_FILES, "manifest.json"}


def test_kibana_defaults_and_alert_grouping(small_project: Path, project: Path) -> None:
    files = built(
        project,
        "[kibana]\nenabled = false\ntags = ['Team: Blue']\n"
        "rule_id_namespace = '00000000-0000-4000-8000-000000000001'\n"
        "[sentinel.alert_grouping]\nenabled = true\nmatching_method = 'Selected'\n"
        "group_by_entities = ['Account']\nlookback = 'PT1H'\n",
    )
    before = [json.loads(line) for line in default_files(small_project)[NDJSON].splitlines()]
    after = [json.loads(line) for line in files[NDJSON].splitlines()]
    for old, new in zip(before, after, strict=True):
        assert new["tags"] == [*old["tags"], "Team: Blue"]
        assert new["rule_id"] != old["rule_id"]
        assert new["enabled"] is False
        assert {k: v for k, v in new.items() if k not in {"tags", "rule_id", "enabled"}} == {
            k: v for k, v in old.items() if k not in {"tags", "rule_id", "enabled"}
        }
    grouping = json.loads(files[f"sentinel-arm/{RULE}.json"])["resources"][0]["properties"][
        "incidentConfiguration"
    ]["groupingConfiguration"]
    assert grouping["enabled"] is True and grouping["matchingMethod"] == "Selected"
    assert grouping["groupByEntities"] == ["Account"] and grouping["lookbackDuration"] == "PT1H"


def test_an_extra_pipeline_applies_after_ours(small_project: Path, project: Path) -> None:
    """It renames an ECS field, a name that exists only once our pipelines have mapped the rule."""
    (project / "team").mkdir()
    (project / "team" / "rename.yml").write_text(RENAME)
    files = built(project, "[pipelines]\necs = ['team/rename.yml']\n")
    before = default_files(small_project)
    old = "azure.activitylogs.identity.authorization.evidence.principal_id"
    for path in (KQL, EQL):
        assert old in before[path].decode()
        assert files[path].decode() == before[path].decode().replace(old, "team.principal")
    expected = [
        json.loads(line) for line in before[NDJSON].decode().replace(old, "team.principal").splitlines()
    ]
    for rule in expected:  # sorted by name: the new name sorts elsewhere
        rule["required_fields"].sort(key=lambda f: f["name"])
    assert [json.loads(line) for line in files[NDJSON].splitlines()] == expected
    assert json.loads(files[NDJSON].splitlines()[0])["new_terms_fields"][0] == "team.principal"
    for path in SENTINEL_FILES:
        assert files[path] == before[path]


def test_targets_from_the_file_and_the_command_line(project: Path) -> None:
    files = built(project, "[build]\ntargets = ['kibana-rules']\n")
    assert set(files) == {NDJSON, "manifest.json"}
    assert len(json.loads(files[NDJSON].splitlines()[1])["query"]) > 0  # the EQL rule is still there
    config = write_config(project, "[build]\ntargets = ['kibana-rules']\noutput = 'out'\n")
    result = run("build", "--config", str(config), "--rules", str(project / "sigma"), "--target", "eql")
    assert result.exit_code == 0, result.stderr
    assert set(read_tree(project / "out")) == {EQL, "manifest.json"}


def test_the_fingerprint_keys_every_setting_and_pipeline_byte(tmp_path: Path) -> None:
    (tmp_path / "rename.yml").write_text(RENAME)
    config = load_config(write_config(tmp_path, "[pipelines]\necs = ['rename.yml']\n"))
    assert pickle.loads(pickle.dumps(config)) == config
    assert hash(config) == hash(load_config(tmp_path / "translator.toml"))
    assert config.fingerprint() == load_config(tmp_path / "translator.toml").fingerprint()
    assert config.fingerprint() != DEFAULT.fingerprint()
    (tmp_path / "rename.yml").write_text(RENAME + "\n")
    assert load_config(tmp_path / "translator.toml").fingerprint() != config.fingerprint()
    write_config(tmp_path, "[kibana]\nenabled = false\n")
    assert load_config(tmp_path / "translator.toml").fingerprint() != DEFAULT.fingerprint()


def test_the_cache_never_serves_another_configurations_artifacts(
    small_project: Path, project: Path, tmp_path: Path
) -> None:
    from translator.cache import Cache

    cache = Cache(tmp_path / "cache")
    config = load_config(write_config(project, "[sentinel.watchlist]\nalias = 'TeamAsn'\n"))
    with_config = compile_rules(project / "sigma", cache=cache, config=config)
    without = compile_rules(project / "sigma", cache=cache)
    assert without.cache_hits == 0
    assert b"TeamAsn" in with_config.files()[SENTINEL]
    assert without.files() == default_files(small_project)


def test_the_configuration_is_found_in_the_current_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(project, "[build]\noutput = 'team-output'\n")
    monkeypatch.chdir(project)
    assert load_config(None).get("build", "output") == "team-output"
    result = run("build")
    assert result.exit_code == 0, result.stderr
    assert (project / "team-output" / f"{SENTINEL}").is_file()


def test_a_configuration_is_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"build\.rules: no folder"):
        load_config(write_config(tmp_path, "[build]\nrules = 'nowhere'\n"))
