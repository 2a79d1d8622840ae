"""Hostile and sloppy rule files: each gets a clear error naming the file, the rule and the reason, in
bounded time and memory, without a traceback, and changes nothing in output/.

Every refused case runs a real `translator build` in a subprocess under resource limits (address space,
CPU time, file size) that the harness sets, and measures its wall time and peak memory. The injection
cases (text in a rule that would change an emitted query or template) are in tests/test_injection.py.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from translator.build import compile_rules
from translator.config import DEFAULT, Config
from translator.errors import RuleError
from translator.model import RuleSource
from translator.output_read import read_tree
from translator.rule_file import MAX_DEPTH, MAX_RULE_BYTES, read_rule
from translator.targets import Rendered, Target

RULE = Path("rules/azure/activitylogs/azure_vm_serial_console_connect_new_principal_asn.yml")
BAD_ID = "0b5f3f7e-5d7e-4c1b-9a51-3c8f8e8c0a01"
LABEL = f"rule 'Hostile' ({BAD_ID})"
# Bounds on one build of a few rules. A normal build takes about 2 s and 150 MB.
TIME_LIMIT = 60  # seconds, wall clock; the CPU limit is the same
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space
RSS_BOUND = 400  # MB, peak resident memory the harness accepts
FILE_LIMIT = 64 * 1024 * 1024  # largest file the build may write


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (TIME_LIMIT, TIME_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def build(rules: Path, output: Path, *extra: str) -> Run:
    """`translator build` in a child process under the limits; its exit code, output, time and memory."""
    out_path, err_path = output.parent / "stdout.txt", output.parent / "stderr.txt"
    command = [sys.executable, "-m", "translator", "build", "--rules", str(rules), "--output", str(output)]
    start = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen([*command, *extra], stdout=out, stderr=err, preexec_fn=_limits)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > TIME_LIMIT:
                child.send_signal(signal.SIGKILL)
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not reap it again
    return Run(
        child.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        time.monotonic() - start,
        usage.ru_maxrss / 1024,
    )


def good_rule(root: Path) -> dict:
    return yaml.safe_load((root / "sigma" / RULE).read_text())


def hostile(root: Path, **changes: object) -> dict:
    """The good rule under another id and title, with `changes` applied."""
    data = good_rule(root) | {"id": BAD_ID, "title": "Hostile"}
    data.update(changes)
    return data


def refused(project: Path, expected: list[str]) -> Run:
    """Build; it must fail with exactly these error lines, within the bounds, and change nothing."""
    before = read_tree(project / "output")
    run = build(project / "sigma", project / "output")
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert (run.code, errors) == (1, [f"error: {line}" for line in expected]), run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1].endswith("left unchanged")
    assert all(line.startswith(("error: ", "note: ")) for line in run.stderr.splitlines()[:-1]), run.stderr
    assert read_tree(project / "output") == before
    assert run.seconds < TIME_LIMIT and run.max_rss_mb < RSS_BOUND, (run.seconds, run.max_rss_mb)
    return run


def write(project: Path, name: str, content: str | bytes | dict) -> Path:
    path = project / "sigma" / "rules" / name
    if isinstance(content, dict):
        content = yaml.safe_dump(content, sort_keys=False, width=1000)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def alias_bomb(levels: int = 9) -> str:
    """About 1 KB of YAML that expands to 9**levels strings when aliases are followed."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines)


def rule_text(root: Path, **changes: object) -> str:
    return yaml.safe_dump(hostile(root, **changes), sort_keys=False, width=1000)


DEPTH_REASON = f"nested more than {MAX_DEPTH} levels deep"
CaseMaker = Callable[[Path, Path], tuple[Path, str]]


def _duplicate_keys(root: Path, project: Path) -> tuple[Path, str]:
    text = rule_text(root).replace("condition: selection", "condition: selection\n  condition: not selection")
    path = write(project, "dup.yml", text)
    line = text.splitlines().index("  condition: selection") + 1
    return path, (
        f"invalid YAML: duplicate key 'condition' (first at line {line}); YAML would keep only the last "
        f"one (line {line + 1}, column 3)"
    )


def _deep_custom_attribute(root: Path, project: Path) -> tuple[Path, str]:
    text = rule_text(root) + "deep: " + "[" * 10_000 + "]" * 10_000 + "\n"
    path = write(project, "deep.yml", text)
    line = text.count("\n")
    return (
        path,
        f"invalid YAML: nested more than {MAX_DEPTH} levels deep (line {line}, column {6 + MAX_DEPTH})",
    )


def _deeper_than_libyaml_survives(root: Path, project: Path) -> tuple[Path, str]:
    """libyaml's composer recurses in C: 200,000 levels crashed the process before the depth check."""
    text = rule_text(root) + "deep: " + "[" * 200_000 + "]" * 200_000 + "\n"
    path = write(project, "deeper.yml", text)
    line = text.count("\n")
    return (
        path,
        f"invalid YAML: nested more than {MAX_DEPTH} levels deep (line {line}, column {6 + MAX_DEPTH})",
    )


def _alias_bomb_in(attribute: str) -> CaseMaker:
    def make(root: Path, project: Path) -> tuple[Path, str]:
        text = rule_text(root, **{attribute: None}).replace(f"{attribute}: null\n", "")
        text = alias_bomb() + "\n" + text + f"{attribute}: *a8\n"
        reason = "invalid YAML: YAML aliases (*name) are not allowed in rule files (line 2, column 10)"
        return write(project, f"bomb_{attribute}.yml", text), reason

    return make


def _wrong_type(attribute: str, value: object, reason: str) -> CaseMaker:
    def make(root: Path, project: Path) -> tuple[Path, str]:
        return write(
            project, f"type_{attribute}.yml", hostile(root, **{attribute: value})
        ), f"{LABEL}: {reason}"

    return make


def _impossible_date(root: Path, project: Path) -> tuple[Path, str]:
    text = re.sub(r"(?m)^date: .*$", "date: 2024-13-45", rule_text(root))
    path = write(project, "date.yml", text)
    return path, f"{LABEL}: invalid Sigma rule: Rule date '2024-13-45' is invalid, use yyyy-mm-dd"


def _symlink_outside(root: Path, project: Path) -> tuple[Path, str]:
    outside = project / "elsewhere.yml"
    outside.write_text(rule_text(root))
    link = project / "sigma" / "rules" / "linked.yml"
    link.symlink_to(outside)
    return link, f"symbolic link to {outside}, outside the rules folder {project / 'sigma'}; not read"


def _link_to_dev_zero(root: Path, project: Path) -> tuple[Path, str]:
    link = project / "sigma" / "rules" / "zero.yml"
    link.symlink_to("/dev/zero")
    return link, f"symbolic link to /dev/zero, outside the rules folder {project / 'sigma'}; not read"


def _fifo(root: Path, project: Path) -> tuple[Path, str]:
    path = project / "sigma" / "rules" / "x.yml"
    os.mkfifo(path)
    return path, "not a regular file (a FIFO); not read"


def _too_large(root: Path, project: Path) -> tuple[Path, str]:
    values = [f"MICROSOFT.COMPUTE/VIRTUALMACHINES/EXTENSIONS/OPERATION{i:06d}/ACTION" for i in range(30_000)]
    data = hostile(root)
    data["detection"]["selection"]["operationName"] = values
    path = write(project, "large.yml", data)
    assert path.stat().st_size > 1.5 * MAX_RULE_BYTES
    return path, f"larger than the limit of {MAX_RULE_BYTES} bytes for a rule file; not read"


def _newline_in_file_name(root: Path, project: Path) -> tuple[Path, str]:
    path = write(project, "x\nerror: forged.yml", rule_text(root))
    return Path(str(path).replace("\n", "\\n")), (
        "the file name holds control characters, which artifact names cannot carry"
    )


def _condition_bomb(root: Path, project: Path) -> tuple[Path, str]:
    data = hostile(root)
    data["detection"]["selection"]["operationName"] = [f"OPERATION-{i:05d}" for i in range(2_000)]
    data["detection"]["condition"] = " and ".join(["selection"] * 250)
    size = 250 * len(json.dumps(data["detection"]["selection"], ensure_ascii=False))
    return write(project, "condition_bomb.yml", data), (
        f"{LABEL}: the condition repeats its searches to {size} bytes, above the limit of 4194304; "
        "each reference to a search copies it into the query"
    )


def _deep_parentheses(root: Path, project: Path) -> tuple[Path, str]:
    data = hostile(root)
    data["detection"]["condition"] = "(" * 5_000 + "selection" + ")" * 5_000
    return write(project, "parentheses.yml", data), (
        f"{LABEL}: detection.condition must be a condition or a list of conditions, each at most 4096 "
        "characters"
    )


def _nested_parentheses(root: Path, project: Path) -> tuple[Path, str]:
    data = hostile(root)
    data["detection"]["condition"] = "(" * 40 + "selection" + ")" * 40
    return write(project, "nested.yml", data), f"{LABEL}: the condition nests more than 32 parentheses"


def _non_string_key(root: Path, project: Path) -> tuple[Path, str]:
    text = rule_text(root).replace("  selection:\n", "  selection:\n    123: x\n")
    path = write(project, "key.yml", text)
    line = text.splitlines().index("    123: x") + 1
    return path, f"invalid YAML: mapping key 123 is not a string (line {line}, column 5)"


def _control_character_in_field(root: Path, project: Path) -> tuple[Path, str]:
    data = hostile(root)
    data["detection"]["selection"]["properties.x\ny"] = "v"
    return write(project, "field.yml", data), (
        f"{LABEL}: detection.selection must be a map of field names to a value or a list of values, a list "
        "of such maps, or keywords; values are strings, numbers, booleans or null, and field names hold no "
        "control characters"
    )


def _blank_title(root: Path, project: Path) -> tuple[Path, str]:
    path = write(project, "blank.yml", hostile(root, title="\u2028 \n"))
    return path, f"rule '\\u2028 \\n' ({BAD_ID}): title must not be blank"


CASES: dict[str, CaseMaker] = {
    "duplicate key": _duplicate_keys,
    "custom attribute nested 10k deep": _deep_custom_attribute,
    "nested 200k deep": _deeper_than_libyaml_survives,
    "alias bomb in falsepositives": _alias_bomb_in("falsepositives"),
    "alias bomb in references": _alias_bomb_in("references"),
    "fields: [[a]]": _wrong_type("fields", [["a"]], "fields[0] must be a string"),
    "references: [[a]]": _wrong_type("references", [["a"]], "references[0] must be a string"),
    "falsepositives: [{a: 1}]": _wrong_type(
        "falsepositives", [{"a": 1}], "falsepositives[0] must be a string"
    ),
    "tags: [1]": _wrong_type("tags", [1], "tags[0] must be a string"),
    "schedule: [5m]": _wrong_type("schedule", ["5m"], "schedule must be a map"),
    "logsource: {product: [azure]}": _wrong_type(
        "logsource", {"product": ["azure"]}, "logsource.product must be a string"
    ),
    "impossible date": _impossible_date,
    "symlink out of the rules tree": _symlink_outside,
    "link to /dev/zero": _link_to_dev_zero,
    "FIFO named x.yml": _fifo,
    "rule above the size limit": _too_large,
    "newline in the file name": _newline_in_file_name,
    "condition bomb": _condition_bomb,
    "5,000 parentheses": _deep_parentheses,
    "40 nested parentheses": _nested_parentheses,
    "non-string key": _non_string_key,
    "control character in a field name": _control_character_in_field,
    "blank title": _blank_title,
}


@pytest.mark.parametrize("case", CASES)
def test_refused(root: Path, project: Path, case: str) -> None:
    path, reason = CASES[case](root, project)
    refused(project, [f"{path}: {reason}"])


def test_every_hostile_file_is_reported_in_one_batch(root: Path, project: Path) -> None:
    """No hostile file ends the batch: one build reports each of them, and nothing else."""
    expected = [f"{path}: {reason}" for path, reason in (make(root, project) for make in CASES.values())]
    refused(project, sorted(expected, key=lambda line: line.split(": ")[0].replace("\\n", "\n")))


def test_twenty_thousand_values_compile(root: Path, project: Path) -> None:
    """A long list is not hostile: it compiles, within the same bounds (no quadratic step)."""
    data = hostile(root)
    data["detection"]["selection"]["operationName"] = [f"MICROSOFT.OP/{i}/ACTION" for i in range(20_000)]
    write(project, "long_list.yml", data)
    run = build(project / "sigma", project / "output")
    assert run.code == 0, run.stderr
    assert run.seconds < TIME_LIMIT and run.max_rss_mb < RSS_BOUND, (run.seconds, run.max_rss_mb)
    query = (project / "output" / "sentinel-kql" / "rules" / "long_list.kql").read_text()
    assert query.count('"MICROSOFT.OP/') == 20_000


def test_a_compiler_defect_on_one_rule_does_not_end_the_batch(
    root: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception the compiler did not foresee becomes that rule's error; the other targets and rules
    still compile."""
    write(project, "other.yml", hostile(root))
    render = Target.render

    def broken(
        target: Target,
        source: RuleSource,
        config: Config = DEFAULT,
        processed: dict | None = None,
        lent: bool = False,
    ) -> Rendered:
        if target.name == "eql" and source.rule_id == BAD_ID:
            raise TypeError("boom")
        return render(target, source, config, processed, lent)

    monkeypatch.setattr(Target, "render", broken)
    result = compile_rules(project / "sigma")
    assert [str(e) for e in result.errors] == [
        f"{project / 'sigma' / 'rules' / 'other.yml'}: {LABEL}: target eql: "
        "internal error (TypeError: boom); "
        "please report it with the rule"
    ]
    made = {(result.owners[a.path].rule_id, a.target) for a in result.artifacts}
    assert (BAD_ID, "sentinel-kql") in made and (BAD_ID, "eql") not in made
    assert len([a for a in result.artifacts if result.owners[a.path].rule_id != BAD_ID]) == 6


def test_a_description_too_long_for_sentinel_is_refused_there_only(root: Path, project: Path) -> None:
    """A valid rule that one target cannot take: refused for it (exit 3, listed in the manifest), built
    for the others."""
    write(project, "long_description.yml", hostile(root, description="x" * 5001))
    run = build(project / "sigma", project / "output")
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr
    refused = [line for line in run.stderr.splitlines() if line.startswith("refused: ")]
    assert refused == [
        f"refused: {project / 'sigma' / 'rules' / 'long_description.yml'}: {LABEL}: target sentinel-rules: "
        "Sentinel takes descriptions of at most 5000 characters; this one has 5001"
    ]
    manifest = json.loads((project / "output" / "manifest.json").read_text())
    assert [(e["rule_id"], e["target"]) for e in manifest["refused"]] == [(BAD_ID, "sentinel-rules")]
    assert (project / "output" / "kibana-rules" / "rules" / "long_description.ndjson").is_file()


@pytest.mark.parametrize("size", [0, 1, 4096, MAX_RULE_BYTES, MAX_RULE_BYTES + 1, 3 * MAX_RULE_BYTES])
def test_a_rule_file_is_read_whole_up_to_the_limit(tmp_path: Path, size: int) -> None:
    """Exactly the limit is read; one byte more is refused, however much more the file holds."""
    (tmp_path / "x.yml").write_bytes(b"#" * size)
    if size <= MAX_RULE_BYTES:
        assert read_rule(tmp_path / "x.yml", tmp_path) == "#" * size
    else:
        with pytest.raises(RuleError, match="larger than the limit"):
            read_rule(tmp_path / "x.yml", tmp_path)
