"""The command line: bad input gets a clear error and exit 1 and leaves output/ as it was."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from translator.cli import main
from translator.output_read import read_tree

RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def errors(result: Result) -> str:
    """The error lines only (notes about case and lookups are printed too)."""
    return "\n".join(line for line in result.stderr.splitlines() if line.startswith("error: "))


def rule_data(project: Path) -> dict:
    return yaml.safe_load((project / "sigma" / RULE).read_text())


def add_rule(project: Path, name: str, data: dict | str | bytes) -> Path:
    path = project / "sigma" / "rules" / name
    if isinstance(data, dict):
        data = yaml.safe_dump(data, sort_keys=False)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def refusals(result: Result) -> str:
    return "\n".join(line for line in result.stderr.splitlines() if line.startswith("refused: "))


def refusing_build(project: Path, refused_targets: set[str]) -> Result:
    """Build into the copied output/: exit 3; the refused targets of the variant are listed in the
    manifest and on stderr, everything else (the variant's other targets, the other rule) is built."""
    result = run("build", "--rules", str(project / "sigma"), "--output", str(project / "output"))
    assert result.exit_code == 3, result.output + result.stderr
    assert errors(result) == ""
    manifest = json.loads((project / "output" / "manifest.json").read_text())
    listed = [(e["rule_id"], e["target"]) for e in manifest["refused"]]
    assert sorted(listed) == sorted((VARIANT_ID, t) for t in refused_targets)
    assert len(refusals(result).splitlines()) == len(refused_targets)
    built = {(e["rule_id"], e["target"]) for e in manifest["artifacts"]}
    assert all((VARIANT_ID, t) not in built for t in refused_targets)
    expected = EVERY_TARGET - refused_targets
    expected -= {package for query, package in PACKAGE_OF.items() if query in refused_targets}
    assert {t for rule_id, t in built if rule_id == VARIANT_ID} == expected
    return result


def failing_build(project: Path) -> Result:
    """Build into the copied output/; it must fail and leave that output/ byte for byte as it was."""
    before = read_tree(project / "output")
    result = run("build", "--rules", str(project / "sigma"), "--output", str(project / "output"))
    assert result.exit_code == 1, result.output + result.stderr
    assert read_tree(project / "output") == before
    assert "left unchanged" in result.stderr
    return result


VARIANT_ID = "0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01"
EVERY_TARGET = {"kibana-kql", "eql", "sentinel-kql", "kibana-rules", "sentinel-rules"}
PACKAGE_OF = {"kibana-kql": "kibana-rules", "sentinel-kql": "sentinel-rules"}  # a package needs its query


def variant(project: Path, **changes: object) -> dict:
    data = rule_data(project)
    data["id"] = "0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01"
    data["title"] = "Broken variant"
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


def test_invalid_yaml(project: Path) -> None:
    path = add_rule(project, "bad.yml", "title: x\n  detection: [\n")
    result = failing_build(project)
    assert f"{path}: invalid YAML" in result.stderr


def test_rule_without_logsource(project: Path) -> None:
    path = add_rule(project, "nolog.yml", variant(project, logsource=None))
    result = failing_build(project)
    assert f"{path}: rule 'Broken variant' (0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01)" in result.stderr
    assert "the rule must have logsource" in result.stderr


def test_rule_without_condition(project: Path) -> None:
    data = variant(project)
    del data["detection"]["condition"]
    path = add_rule(project, "nocond.yml", data)
    result = failing_build(project)
    assert f"{path}: rule 'Broken variant'" in result.stderr
    assert "condition" in result.stderr


def test_unmapped_field(project: Path) -> None:
    data = variant(project)
    data["detection"]["selection"]["operationname"] = "x"
    path = add_rule(project, "unmapped.yml", data)
    result = refusing_build(project, {"kibana-kql", "eql", "sentinel-kql"})
    names = "pipelines pipelines/azure_activitylogs_names.yml"
    ecs = f"{names}, pipelines/azure_activitylogs_to_ecs.yml, pipelines/azure_shared_to_ecs.yml"
    for target, pipeline in (
        ("kibana-kql", ecs),
        ("eql", ecs),
        ("sentinel-kql", f"{names}, pipelines/azure_activitylogs_to_sentinel.yml"),
    ):
        assert (
            f"{path}: rule 'Broken variant' (0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01): target {target}: "
            f"field 'operationname' is not mapped ({pipeline})"
        ) in result.stderr


QUERIES = {"kibana-kql", "eql", "sentinel-kql"}


@pytest.mark.parametrize(
    ("change", "refused", "reason"),
    [
        ({"fields": ["operationName", "callerIPAddress"]}, QUERIES, "field 'callerIPAddress' is not mapped"),
        (
            {"first_seen": {"fields": ["callerIpAddressASN"], "history": "7d"}},
            QUERIES,
            "field 'callerIpAddressASN' is not mapped",
        ),
        (
            {"first_seen": {"fields": ["callerIpAddressAsn"], "history": "14d"}},
            {"sentinel-kql"},
            "Sentinel reads at most 14d",
        ),
        (
            {
                "first_seen": {
                    "fields": ["operationName", "callerIpAddress", "callerIpAddressAsn", "correlationId"],
                    "history": "7d",
                }
            },
            {"kibana-rules"},
            "target kibana-rules: Kibana new terms rules take 1 to 3 fields, not 4",
        ),
    ],
)
def test_what_a_target_cannot_express_is_refused(
    project: Path, change: dict, refused: set[str], reason: str
) -> None:
    path = add_rule(project, "attrs.yml", variant(project, **change))
    result = refusing_build(project, refused)
    assert f"{path}: rule 'Broken variant' ({VARIANT_ID}): " in refusals(result)
    assert reason in refusals(result)


def test_an_invalid_attribute_is_an_error(project: Path) -> None:
    add_rule(project, "attrs.yml", variant(project, schedule={"interval": "5m", "lookback": "1m"}))
    result = failing_build(project)
    assert "at least schedule.interval" in errors(result)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("MICROSOFT.SERIALCONSOLE/SERIALPORTS/CONNECT/ACTIO?", "has no single-character ('?') wildcard"),
        (None, "has no regular expressions"),
    ],
)
def test_what_kibana_kql_cannot_express(project: Path, value: str | None, reason: str) -> None:
    data = variant(project)
    selection = data["detection"]["selection"]
    del selection["operationName"]
    if value is None:
        selection["operationName|re"] = "^MICROSOFT\\.SERIALCONSOLE/.*$"
    else:
        selection["operationName"] = value
    path = add_rule(project, "kql.yml", data)
    result = refusing_build(project, {"kibana-kql"})
    lines = refusals(result).splitlines()
    assert len(lines) == 1
    assert (
        f"{path}: rule 'Broken variant' (0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01): target kibana-kql: "
        in lines[0]
    )
    assert reason in lines[0]


def test_unreadable_files(project: Path) -> None:
    dangling = project / "sigma" / "rules" / "gone.yml"
    dangling.symlink_to(project / "nowhere.yml")
    binary = add_rule(project, "binary.yml", b"title: \xff\xfe\n")
    result = failing_build(project)
    assert f"{dangling}: cannot read the file" in result.stderr
    assert f"{binary}: cannot read the file" in result.stderr


def test_every_bad_rule_is_reported(project: Path) -> None:
    """One bad rule does not stop the batch: both are reported, the good rule raises nothing."""
    first = add_rule(project, "a.yml", "title: [\n")
    second = add_rule(project, "b.yml", variant(project, logsource=None))
    result = failing_build(project)
    assert f"{first}: invalid YAML" in errors(result)
    assert f"{second}: rule 'Broken variant'" in errors(result)
    assert "azure_vm_serial_console_connect_new_principal_asn.yml" not in errors(result)
    assert "2 error(s)" in result.stderr


def test_duplicate_rule_id(project: Path) -> None:
    path = add_rule(project, "copy.yml", rule_data(project))
    result = failing_build(project)
    assert f"{path}: rule " in result.stderr and "is also used by" in result.stderr


def test_two_files_that_would_make_the_same_artifacts(project: Path) -> None:
    """`x.yml` and `x.yaml` would both give `x.kql` (and the rest): the later one is an error, and
    nothing is written, instead of one rule's artifacts silently replacing the other's."""
    data = rule_data(project)
    add_rule(project, "twin.yml", data | {"id": "0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a02"})
    later = add_rule(project, "twin.yaml", data | {"id": "0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a03"})
    result = failing_build(project)
    assert (
        f"{later}: rule " in result.stderr and "kibana-kql/rules/twin.kql is also made from" in result.stderr
    )
    assert "1 error(s)" in result.stderr


def test_unknown_target(root: Path) -> None:
    result = run("convert", str(root / "sigma" / RULE), "--target", "splunk")
    assert result.exit_code == 1
    assert "unknown target 'splunk'; the targets are: kibana-kql, eql, sentinel-kql" in result.stderr
    assert result.stdout == ""


def test_convert_unreadable_rule(tmp_path: Path) -> None:
    result = run("convert", str(tmp_path / "missing.yml"), "--target", "eql")
    assert result.exit_code == 1
    assert f"{tmp_path / 'missing.yml'}: cannot read the file" in result.stderr


@pytest.mark.parametrize("target", ["kibana-kql", "eql", "sentinel-kql"])
def test_convert_prints_the_artifact(root: Path, target: str) -> None:
    result = run("convert", str(root / "sigma" / RULE), "--target", target)
    assert result.exit_code == 0, result.stderr
    artifact = root / "output" / target / RULE.with_suffix(".eql" if target == "eql" else ".kql")
    assert result.stdout == artifact.read_text()


def test_check_fails_after_editing_the_rule(project: Path, small_project: Path) -> None:
    path = project / "sigma" / RULE
    path.write_text(path.read_text().replace("CONNECT/ACTION", "DISCONNECT/ACTION"))
    out = small_project / "output"
    result = run("build", "--check", "--rules", str(project / "sigma"), "--output", str(out))
    assert result.exit_code == 1
    for target, suffix in (("kibana-kql", ".kql"), ("eql", ".eql"), ("sentinel-kql", ".kql")):
        assert f"drift: differs: {target}/{RULE.with_suffix(suffix)}" in result.stderr
    assert "drift: differs: manifest.json" in result.stderr


def test_check_reports_missing_and_stale(project: Path) -> None:
    out = project / "output"
    (out / "eql" / RULE.with_suffix(".eql")).unlink()
    (out / "leftover.kql").write_text("x")
    result = run("build", "--check", "--rules", str(project / "sigma"), "--output", str(out))
    assert result.exit_code == 1
    assert f"drift: missing: eql/{RULE.with_suffix('.eql')}" in result.stderr
    assert "drift: stale (no rule makes it): leftover.kql" in result.stderr


def test_build_refuses_a_file_it_did_not_write(project: Path) -> None:
    """A file in output/ that its manifest does not list is a user's: the build refuses, names it,
    and deletes nothing (before compiling: no notes are printed)."""
    out = project / "output"
    (out / "leftover.kql").write_text("x")
    before = read_tree(out)
    result = run("build", "--rules", str(project / "sigma"), "--output", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {os.path.realpath(out)}: holds leftover.kql, which its manifest.json does not list, "
        "so translator did not write it; refusing to replace the folder\n"
    )
    assert read_tree(out) == before


def test_build_removes_stale_artifacts(project: Path, small_project: Path) -> None:
    """A file an earlier build listed in its manifest and no rule makes any more is ours: removed."""
    out = project / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    stale = out / "eql" / "rules" / "retired.eql"
    stale.write_text("any where true\n")
    manifest["artifacts"].append(
        {"artifact_path": "eql/rules/retired.eql", "sha256": hashlib.sha256(stale.read_bytes()).hexdigest()}
    )
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert run("build", "--rules", str(project / "sigma"), "--output", str(out)).exit_code == 0
    assert not stale.exists()
    assert read_tree(out) == read_tree(small_project / "output")


def test_targets_lists_targets_log_sources_and_pipelines() -> None:
    result = run("targets")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    targets = [line.split("\t")[0] for line in lines if not line.startswith(" ")]
    assert targets == ["kibana-kql", "eql", "sentinel-kql"]
    sentinel = lines[lines.index(next(x for x in lines if x.startswith("sentinel-kql"))) + 1 :]
    files = "pipelines/azure_activitylogs_names.yml, pipelines/azure_activitylogs_to_sentinel.yml"
    assert f"  azure/activitylogs\t{files}" in sentinel


def test_a_log_source_without_pipelines_names_the_supported_ones(project: Path) -> None:
    data = variant(project, logsource={"product": "azure", "service": "nosuchlogs"})
    path = add_rule(project, "unknown_source.yml", data)
    result = refusing_build(project, QUERIES)
    for target in ("kibana-kql", "eql", "sentinel-kql"):
        assert (
            f"{path}: rule 'Broken variant' (0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01): target {target}: "
            "no pipeline maps log source azure/nosuchlogs; supported: azure/activitylogs"
        ) in refusals(result)


@pytest.mark.parametrize("command", [[], ["build"], ["convert"], ["targets"]])
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_usage_error_exits_2() -> None:
    assert run("convert").exit_code == 2
    assert run("build", "--no-such-option").exit_code == 2


def test_every_unmapped_field_of_a_rule_is_named_at_once(project: Path) -> None:
    data = variant(project, fields=["operationName", "callerIPAddress"])
    data["detection"]["selection"]["operationname"] = "x"
    path = add_rule(project, "unmapped_all.yml", data)
    result = refusing_build(project, QUERIES)
    assert (
        f"{path}: rule 'Broken variant' ({VARIANT_ID}): target sentinel-kql: field 'operationname' is not "
        "mapped; field 'callerIPAddress' is not mapped (pipelines "
    ) in refusals(result)
