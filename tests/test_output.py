"""output/ is golden: the build reproduces it byte for byte, and the manifest describes it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from support.grammars import KustoAnalyzer, parse_eql, parse_kibana_kql
from translator.build import Build
from translator.cli import main
from translator.json_text import json_bytes, json_text
from translator.output_read import path_order, read_tree
from translator.targets import TARGETS
from translator.versions import compiler_versions


def exit_code(root: Path) -> int:
    """What a build of the project's rules exits with: 3 where the committed manifest lists refusals."""
    return 3 if json.loads((root / "output" / "manifest.json").read_text())["refused"] else 0


def test_build_reproduces_output_byte_for_byte(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "output"
    result = CliRunner().invoke(main, ["build", "--rules", str(root / "sigma"), "--output", str(out)])
    assert result.exit_code == exit_code(root), result.output + result.stderr
    assert read_tree(out) == read_tree(root / "output")


def test_build_is_deterministic(root: Path, tmp_path: Path) -> None:
    trees = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert CliRunner().invoke(
            main, ["build", "--rules", str(root / "sigma"), "--output", str(out)]
        ).exit_code == exit_code(root)
        trees.append(read_tree(out))
    assert trees[0] == trees[1]


def test_check_passes_on_committed_output(root: Path) -> None:
    result = CliRunner().invoke(
        main, ["build", "--check", "--rules", str(root / "sigma"), "--output", str(root / "output")]
    )
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.output


def test_manifest_lists_every_artifact(root: Path, build: Build) -> None:
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    files = read_tree(root / "output")
    entries = manifest["artifacts"]
    assert list(manifest) == ["compiler", "artifacts", "refused"]
    assert manifest["compiler"] == compiler_versions()
    refused = {(r["rule_id"], r["target"]) for r in manifest["refused"]}
    assert refused == {(s.rule_id, e.target) for s, e in build.refusals}
    assert all(list(r) == ["rule_id", "rule_path", "target", "reason"] for r in manifest["refused"])
    assert {e["artifact_path"] for e in entries} == {str(p) for p in files} - {"manifest.json"}
    for entry in entries:
        assert list(entry) == ["rule_id", "rule_path", "target", "kind", "artifact_path", "sha256"]
        assert (entry["kind"] == "query") == (entry["target"] in TARGETS)
        assert (
            hashlib.sha256((root / "output" / entry["artifact_path"]).read_bytes()).hexdigest()
            == entry["sha256"]
        )
        assert (root / entry["rule_path"]).is_file()
    assert entries == sorted(entries, key=lambda e: e["artifact_path"])
    assert len(entries) == len(build.artifacts)
    every = [
        ("eql", "query"),
        ("kibana-kql", "query"),
        ("kibana-rules", "kibana-rule"),
        ("sentinel-kql", "query"),
        ("sentinel-rules", "sentinel-arm"),
        ("sentinel-rules", "sentinel-rule-yaml"),
    ]
    for rule in {e["rule_id"] for e in entries}:
        kinds = sorted((e["target"], e["kind"]) for e in entries if e["rule_id"] == rule)
        assert kinds == [k for k in every if (rule, k[0]) not in refused]


def _queries(root: Path, target: str) -> list[Path]:
    manifest = json.loads((root / "output" / "manifest.json").read_text())
    paths = [root / "output" / e["artifact_path"] for e in manifest["artifacts"] if e["target"] == target]
    assert paths, f"no {target} artifacts"
    return paths


@pytest.mark.parametrize("target", ["kibana-kql"])
def test_kibana_artifacts_parse(root: Path, target: str) -> None:
    for path in _queries(root, target):
        parse_kibana_kql(path.read_text().rstrip("\n"))


def test_eql_artifacts_parse(root: Path) -> None:
    for path in _queries(root, "eql"):
        parse_eql(path.read_text())


def test_sentinel_artifacts_analyse_cleanly(root: Path, kusto: KustoAnalyzer) -> None:
    for path in _queries(root, "sentinel-kql"):
        assert kusto.errors(path.read_text()) == [], path


def test_the_manifest_is_json_text_with_an_indent_of_two(build: Build) -> None:
    """The manifest is written by json_bytes (below): exactly what json_text(indent=2) writes."""
    manifest = build.manifest()
    assert manifest == (json_text(json.loads(manifest), indent=2) + "\n").encode()


def _as_json_text(value: object, indent: bool, sort_keys: bool) -> bytes:
    layout: dict = {"indent": 2} if indent else {"separators": (",", ":")}
    return json_text(value, sort_keys=sort_keys, **layout).encode()


def test_json_bytes_is_json_text(root: Path) -> None:
    """Templates, Kibana rules and the manifest are written by orjson (translator/json_text.py,
    json_bytes): exactly what json_text writes with an indent of two or compactly, on every committed
    template and Kibana rule, on every character up to U+2FFF and beyond, and on values orjson leaves to
    json_text."""
    templates = sorted((root / "output" / "sentinel-arm").rglob("*.json"))
    kibana = sorted((root / "output" / "kibana-rules").rglob("*.ndjson"))
    assert templates and kibana
    for path in templates:
        text = path.read_bytes()
        assert json_bytes(json.loads(text), indent=True) + b"\n" == text, path
    for path in kibana:
        for line in path.read_bytes().splitlines():
            assert json_bytes(json.loads(line), sort_keys=True) == line, path
    characters = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000)
    awkward = [
        {},
        [],
        {"a": [], "b": {}, "c": [{"d": [1, -7, 2**63 - 1, -(2**63), True, False, None]}], "e": (1, "x")},
        ['q"\\', "\u2028\x85é\U0001f600", "x\ny\t", "", characters, "\ufeff\ufffe\uffff\U0010ffff"],
        {"z": 1, "a": {"é": 2, "e": 3, "\U0001f600": 4, "\uffff": 5}, "A": [{"b": 1, "a": 2}]},
        {1: "number key", None: "null key"},  # json_text's own layout
        [2**64, -(2**63) - 1],  # beyond 64 bits: json_text's
        {"c%s": "%", "refused": [{"reason": "100%s %d", "target": None}]},
        "a string",
        7,
    ]
    for value in awkward:
        for indent in (False, True):
            for sort_keys in (False, True):
                try:
                    expected = _as_json_text(value, indent, sort_keys)
                except TypeError:  # keys json cannot sort (a number and null): both refuse alike
                    with pytest.raises(TypeError):
                        json_bytes(value, indent, sort_keys)
                    continue
                assert json_bytes(value, indent, sort_keys) == expected, (value, indent, sort_keys)


_PART = st.text(st.sampled_from("ab-._/é\u00ff\U0001f600 0"), min_size=1, max_size=6).filter(
    lambda p: "/" not in p
)


@given(st.lists(st.lists(_PART, min_size=1, max_size=4).map("/".join), max_size=30))
def test_paths_sort_by_their_parts(paths: list[str]) -> None:
    """path_order (the manifest's order, and the order drift is reported in) sorts paths as their lists
    of parts sort, as PurePosixPath sorts ("a/b" before "a-b")."""
    assert sorted(paths, key=path_order) == sorted(paths, key=lambda path: path.split("/"))
