"""yaml_block writes a Sentinel template exactly as libyaml does, or leaves it to libyaml."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translator.build import Build
from translator.packaging import yaml_block
from translator.packaging.sentinel_yaml import SentinelDumper
from translator.packaging.yaml_block import WIDTH, block_yaml


def libyaml(value: Any) -> str:
    return yaml.dump(value, Dumper=SentinelDumper, sort_keys=False, allow_unicode=True, width=WIDTH)


# Texts at every rule of libyaml's choice of style: indicators first and inside, blanks at the ends,
# words the resolver reads as other types, quotes, line feeds where a literal block can and cannot hold
# them, and characters left to libyaml (tab, non-ASCII, NEL).
AWKWARD = [
    *("true", "No", "on", "null", "~", "", " ", "1", "0x1f", "1e3", "1.5", ".inf", "1_000", "190:20:30"),
    *("2024-01-01", "2026.10.12", "<<", "=", "-", "- a", "-a", "?", "? x", "?x", ":", ": x", "a: b", "a:b"),
    *("a:", "a #b", "a#b", "#x", "---", "--- x", "...", "'q'", '"d"', "x'y", "[a]", "{a}", "a,b", "*a"),
    *("&a", "!t", "|", "> x", "%x", "@x", "`x", " lead", "trail ", "a  b", "\tx", "é", "a\x85b"),
    *("a\nb", "a\n\nb", "\nx", "x\n", "x\n\n", "a \nb", "a\n b", "a\nb ", "\n", "| x\n- y\n"),
]
texts = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(st.sampled_from(list("ab :#-?'\"\n,[]{}&*!|>%@`.019eE+~<=")), max_size=12),
)
leaves = st.one_of(texts, st.integers(-(10**20), 10**20), st.booleans(), st.none())
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(texts, values, min_size=1, max_size=6))
def test_what_it_writes_is_what_libyaml_writes(value: dict[str, Any]) -> None:
    written = block_yaml(value)
    assert written is None or written == libyaml(value)


def test_it_writes_the_common_shapes_itself() -> None:
    """Without this, a block_yaml that always declined would pass the test above."""
    value = {
        "name": "Rule: a 'quoted' name",
        "empty": "",
        "number": 3,
        "flags": [True, False, None, "yes", "--- x"],
        "nested": {"entities": [{"entityType": "IP", "fieldMappings": [{"identifier": "Address"}]}]},
        "none": [],
        "nothing": {},
        "query": "AzureActivity\n| where x == 1\n\n| project y\n",
        "description": "line one\n  indented line",
    }
    assert block_yaml(value) == libyaml(value)
    for key in AWKWARD:
        if "\n" not in key and key.isascii() and key.isprintable():
            assert block_yaml({key: key}) == libyaml({key: key}), key


def test_it_leaves_aliases_and_long_lines_to_libyaml() -> None:
    shared = {"a": 1}
    assert block_yaml({"x": shared, "y": shared}) is None
    assert block_yaml({"x": "word " * (WIDTH // 5)}) is None
    assert block_yaml({"x": [["nested"]]}) is None
    assert block_yaml({"x": 1.5}) is None


def test_every_committed_sentinel_rule_is_written_by_it(build: Build) -> None:
    files = [a for a in build.artifacts if a.kind == "sentinel-rule-yaml"]
    assert files
    for artifact in files:
        header, body = artifact.content.decode().split("\n", 1)
        template = yaml.safe_load(body)
        written = block_yaml(template)
        assert written is None or written == body, artifact.path
    taken = sum(block_yaml(yaml.safe_load(a.content.decode().split("\n", 1)[1])) is not None for a in files)
    assert taken >= len(files) // 2, f"only {taken} of {len(files)} rule files took the fast path"


def test_long_texts_are_written_but_never_cached() -> None:
    value = {"description": "word " * 60 + "end", "name": "a: " + "k" * 300}
    yaml_block._scalar.cache_clear()
    assert block_yaml(value) == libyaml(value)
    assert yaml_block._scalar.cache_info().currsize == 2  # the keys
