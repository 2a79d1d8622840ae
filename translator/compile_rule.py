"""Compiling one rule file to every target and rule file: the unit a worker runs and the cache keeps.

`compile_rule` is a pure function of the rule's path, its text, the build options and the compiler
(its code, pipelines and data): translator/cache.py keys results by exactly these, and worker processes
may run it in any order. Its result is plain data that round-trips through JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

from sigma.exceptions import SigmaError

from translator.errors import RuleError
from translator.loader import load_rule
from translator.model import RuleSource
from translator.packaging import PACKAGES
from translator.results import Artifact, RuleResult
from translator.targets import TARGETS, Rendered

T = TypeVar("T")
INTERNAL = "internal error"


def compile_rule(path: Path, rules_dir: Path, text: str, strict: bool) -> RuleResult:
    """Parse the rule once, render it to every target, then package the queries into rule files.

    Nothing raises: whatever goes wrong becomes the result's error or refusal, so one bad rule never
    ends a batch. `strict` makes ATT&CK tags the bundled data cannot map errors instead of notes.
    """
    result = RuleResult(PurePosixPath(path.relative_to(rules_dir).as_posix()))
    try:
        source = _guarded(path, None, None, lambda: load_rule(path, rules_dir, text))
    except RuleError as e:
        result.errors.append(e)
        return result
    result.rule_id, result.label = source.rule_id, source.label
    attack_notes = [RuleError(path, note, source.label) for note in source.threat.notes]
    if strict and attack_notes:
        result.errors += attack_notes
        return result
    result.notes += [str(note) for note in attack_notes]
    queries = _queries(result, source)
    for package in PACKAGES:
        if not all(name in queries for name in package.needs):
            continue  # the query's own refusal is already reported
        try:
            files = _guarded(path, source.label, package.name, lambda: package.make(source, queries))  # noqa: B023
        except RuleError as e:
            _refuse(result, e)
            continue
        for f in files:
            _add(result, package.name, f.kind, f.directory, f.suffix, f.content)
    return result


def _add(result: RuleResult, target: str, kind: str, directory: str, suffix: str, content: bytes) -> None:
    """An artifact on the path that mirrors the rule's: <directory>/<path under rules/ + suffix>."""
    path = PurePosixPath(directory) / result.rel_path.with_suffix(suffix)
    result.artifacts.append(Artifact(target, kind, path, content))


def _refuse(result: RuleResult, error: RuleError) -> None:
    """A target's refusal; a failure of the compiler itself stays an error."""
    if error.reason.startswith(INTERNAL):
        result.errors.append(error)
    else:
        result.refusals.append(error)


def _guarded(path: Path, label: str | None, target: str | None, step: Callable[[], T]) -> T:
    """Run one step for one rule; whatever goes wrong becomes that rule's error (RuleError)."""
    try:
        return step()
    except RuleError:
        raise
    except (ValueError, SigmaError) as e:
        raise RuleError(path, str(e), label, target) from e
    except Exception as e:  # a defect of the compiler on this rule: report it, go on with the others
        reason = f"{INTERNAL} ({type(e).__name__}: {e}); please report it with the rule"
        raise RuleError(path, reason, label, target) from e


def _queries(result: RuleResult, source: RuleSource) -> dict[str, Rendered]:
    queries: dict[str, Rendered] = {}
    for target in TARGETS.values():
        try:
            rendered = _guarded(source.path, source.label, target.name, lambda: target.render(source))  # noqa: B023
        except RuleError as e:
            _refuse(result, e)
            continue
        queries[target.name] = rendered
        _add(result, target.name, "query", target.name, target.suffix, rendered.text.encode())
        result.notes += [str(RuleError(source.path, n, source.label, target.name)) for n in rendered.notes]
    return queries
