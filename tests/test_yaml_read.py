"""Reading a rule file in one pass over libyaml's events gives what the strict loader gives, or declines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translator import rule_file
from translator.rule_file import _check_events, _plain_documents, _StrictLoader, parse_yaml


def strict(text: str) -> list[Any] | str:
    """The documents the strict path reads, or its error's text."""
    try:
        _check_events(text)
        return list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as e:
        return f"{type(e).__name__}: {e}"


def assert_same(text: str) -> bool:
    """parse_yaml's answer is the strict path's, whichever way it took; True if the fast one."""
    fast = _plain_documents(text)
    expected = strict(text)
    if fast is not None:
        assert fast == expected and repr(fast) == repr(expected), text  # repr: 1 and 1.0 and True differ
    try:
        answer: list[Any] | str = parse_yaml(text)
    except yaml.YAMLError as e:
        answer = f"{type(e).__name__}: {e}"
    assert answer == expected or repr(answer) == repr(expected), text  # NaN != NaN
    return fast is not None


TRICKY = [
    "a: b",
    "a: 1\nb: 1.5\nc: true\nd: ~\ne: null\nf: ''\ng: 0x1f\nh: 0o17\ni: 1_000",
    "j: 190:20:30\nk: .nan\nl: -.inf\nm: +1\nn: 1e3\no: 0b101",
    "a: yes\nb: No\nc: on\nd: 2024-01-01\ne: 2024-13-45 10:00:00\nf: '1'\ng: \"true\"\nh: =\ni: <<",
    "a:\n  - x\n  - {b: c, d: [1, 2]}\n  -\n  - - nested\n",
    "a: |\n  text\n  more\nb: >-\n  folded\n  text\n",
    "---\na: 1\n---\nb: 2\n",
    "---\n...\n",
    "",
    "# only a comment\n",
    "- a\n- b\n",
    "plain scalar",
    "a: 1\na: 2\n",
    "1: a\n",
    "true: a\n",
    "~: a\n",
    "? [a]\n: b\n",
    "? {a: b}\n: c\n",
    "a: &x 1\nb: *x\n",
    "a: &x 1\n",
    "a: !!str 1\n",
    "a: !custom x\n",
    "!!map {a: b}\n",
    "a: !!python/object:os.system x\n",
    "<<: {a: b}\n",
    "a: [1, 2\n",
    "a: b\n c: d\n",
    "a: 'unterminated\n",
    "\t- tab",
    "a: " + "[" * 40 + "]" * 40,
    "a: " + "[" * 20 + "]" * 20,
    "a: \u2028b\nc: \x85\n",
    "%YAML 1.1\n---\na: b\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!x b\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_awkward_yaml_reads_as_the_strict_loader_reads_it(text: str) -> None:
    assert_same(text)


def test_rule_files_take_the_one_pass(root: Path) -> None:
    """Without this, a reader that always declined would pass the tests above."""
    files = sorted((root / "sigma").rglob("*.yml"))
    assert files
    assert all(assert_same(path.read_text()) for path in files)


yaml_texts = st.text(st.sampled_from(list("ab:-?[]{},#&*!|>'\"%@`~ \n\t.01e+=<")), max_size=40)
values = st.recursive(
    st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_texts)
def test_any_text_reads_as_the_strict_loader_reads_it(text: str) -> None:
    assert_same(text)


@settings(max_examples=500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.sampled_from([None, False, True]), st.sampled_from([None, "'", '"']))
def test_dumped_data_reads_as_the_strict_loader_reads_it(
    value: Any, flow: bool | None, style: str | None
) -> None:
    assert_same(yaml.safe_dump(value, default_flow_style=flow, default_style=style, allow_unicode=True))


def test_long_scalars_are_read_but_never_cached() -> None:
    text = "a: " + "x" * 1000 + "\nb: '" + "y" * 300 + "'\n"
    rule_file._scalar.cache_clear()
    assert assert_same(text)
    assert rule_file._scalar.cache_info().currsize == 2  # the keys
