"""Compiling one rule file to every target and rule file: the unit a worker runs and the cache keeps.

`compile_rule` is a pure function of the rule's path, its text, the build options, the configuration
(translator/config.py, by its fingerprint) and the compiler (its code, pipelines and data):
translator/cache.py keys results by exactly these, and worker processes may run it in any order. Its
result is plain data that round-trips through JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

from sigma.exceptions import SigmaError

from translator import sigma_abc
from translator.config import DEFAULT, Config
from translator.errors import RuleError
from translator.loader import load_rule
from translator.model import Lent, RuleSource
from translator.packaging import PACKAGES
from translator.results import Artifact, RuleResult
from translator.targets import TARGETS, Processed, Rendered

sigma_abc.speed_up()  # pySigma is loaded by now: isinstance of its classes at C speed (sigma_abc)

T = TypeVar("T")
INTERNAL = "internal error"


def compile_rule(
    path: Path, rules_dir: Path, text: str, strict: bool, config: Config = DEFAULT
) -> RuleResult:
    """Parse the rule once, render it to the configured targets, then package the queries into rule files.

    Nothing raises: whatever goes wrong becomes the result's error or refusal, so one bad rule never
    ends a batch. `strict` makes ATT&CK tags the bundled data cannot map errors instead of notes.
    `config` picks the targets and carries the team's settings (a parameter, not global state: it
    travels to worker processes with each job).
    """
    result = RuleResult(PurePosixPath(path.relative_to(rules_dir).as_posix()))
    try:
        source = _guarded(path, None, None, lambda: load_rule(path, rules_dir, text, result.rel_path))
    except RuleError as e:
        result.errors.append(e)
        return result
    result.rule_id, result.label = source.rule_id, source.label
    attack_notes = [RuleError(path, note, source.label) for note in source.threat.notes]
    if strict and attack_notes:
        result.errors += attack_notes
        return result
    result.notes += [str(note) for note in attack_notes]
    queries, source = _queries(result, source, config)
    for package in PACKAGES:
        if package.name not in config.targets or not all(name in queries for name in package.needs):
            continue  # not wanted, or the query's own refusal is already reported
        try:
            make = lambda: package.make(source, queries, config)  # noqa: B023, E731
            files = _guarded(path, source.label, package.name, make)
        except RuleError as e:
            _refuse(result, e)
            continue
        for f in files:
            _add(result, package.name, f.kind, f.directory, f.suffix, f.content)
    return result


def _add(result: RuleResult, target: str, kind: str, directory: str, suffix: str, content: bytes) -> None:
    """An artifact on the path that mirrors the rule's: <directory>/<path under rules/ + suffix>, the
    rule's suffix replaced as PurePosixPath.with_suffix replaces it (strings: six artifacts a rule)."""
    rel_path = result.rel_path.as_posix()
    path = f"{directory}/{rel_path[: len(rel_path) - len(result.rel_path.suffix)]}{suffix}"
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


def _queries(
    result: RuleResult, source: RuleSource, config: Config
) -> tuple[dict[str, Rendered], RuleSource]:
    """The queries of the configured targets and of those the configured packages read; a query is
    an artifact only where its target is configured, but its refusals and notes are always reported
    (they say what a package lacks). The last conversion converts the loaded rule itself (model.Lent);
    with the queries comes the source the rule files are then built from."""
    wanted = set(config.targets)
    used = wanted | {name for p in PACKAGES if p.name in wanted for name in p.uses}
    queries: dict[str, Rendered] = {}
    processed: dict[str, Processed] = {}  # the rule processed once per model (Processed.adopt)
    targets = [t for t in TARGETS.values() if t.name in used]
    for target in targets:
        lent = Lent.of(source) if target is targets[-1] else None
        render = lambda: target.render(source, config, processed, lent=lent is not None)  # noqa: B023, E731
        try:
            rendered = _guarded(source.path, source.label, target.name, render)
        except RuleError as e:
            _refuse(result, e)
            continue
        finally:
            source = lent.back() if lent else source
        queries[target.name] = rendered
        if target.name in wanted:
            _add(result, target.name, "query", target.name, target.suffix, rendered.text.encode())
        result.notes += [str(RuleError(source.path, n, source.label, target.name)) for n in rendered.notes]
    return queries, source
