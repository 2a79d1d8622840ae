"""Compiling every rule to every target (translator/output_dir.py writes or checks output/)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from sigma.exceptions import SigmaError

from translator.errors import RuleError
from translator.loader import discover, load_rule
from translator.model import RuleSource
from translator.packaging import PACKAGES
from translator.packaging.common import json_text
from translator.targets import TARGETS, Rendered

MANIFEST = PurePosixPath("manifest.json")
T = TypeVar("T")
INTERNAL = "internal error"


@dataclass(frozen=True)
class Artifact:
    source: RuleSource
    target: str  # the query target or the package that made it
    kind: str  # query, kibana-rule, sentinel-rule-yaml, sentinel-arm
    path: PurePosixPath  # relative to the output directory
    content: bytes


@dataclass
class Build:
    """What a build produced: every artifact it could make, and every error, refusal and note.

    An error is a rule file that is not a valid rule (or a defect of the compiler): the build writes
    nothing. A refusal is a valid rule that one target cannot express, or whose data no SIEM receives:
    the rule's other targets, and every other rule, are still built, and the manifest lists it.
    """

    rules_dir: Path
    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    refusals: list[tuple[RuleSource, RuleError]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, source: RuleSource, target: str, kind: str, directory: str, suffix: str, content: bytes
    ) -> None:
        """An artifact on the path that mirrors the rule's: <directory>/<path under rules/ + suffix>."""
        path = PurePosixPath(directory) / source.rel_path.with_suffix(suffix)
        self.artifacts.append(Artifact(source, target, kind, path, content))

    def files(self) -> dict[PurePosixPath, bytes]:
        """The complete contents of output/: the artifacts and the manifest that lists them."""
        files = {a.path: a.content for a in self.artifacts}
        files[MANIFEST] = self.manifest()
        return files

    def manifest(self) -> bytes:
        """The interface CI jobs read; sorted, so the same sources give the same bytes."""
        entries = [
            {
                "rule_id": a.source.rule_id,
                "rule_path": self.rule_path(a.source),
                "target": a.target,
                "kind": a.kind,
                "artifact_path": a.path.as_posix(),
                "sha256": hashlib.sha256(a.content).hexdigest(),
            }
            for a in sorted(self.artifacts, key=lambda a: a.path)
        ]
        refused = sorted(
            (
                {"rule_id": s.rule_id, "rule_path": self.rule_path(s), "target": e.target, "reason": e.reason}
                for s, e in self.refusals
            ),
            key=lambda r: (r["rule_path"], r["target"]),
        )
        return (json_text({"artifacts": entries, "refused": refused}, indent=2) + "\n").encode()

    def rule_path(self, source: RuleSource) -> str:
        return (PurePosixPath(self.rules_dir.resolve().name) / source.rel_path).as_posix()

    def refuse(self, source: RuleSource, error: RuleError) -> None:
        """A target's refusal; a failure of the compiler itself stays an error."""
        if error.reason.startswith(INTERNAL):
            self.errors.append(error)
        else:
            self.refusals.append((source, error))


def compile_rules(rules_dir: Path, strict: bool = False) -> Build:
    """Parse each rule once, render it to every target, then package the queries into rule files.

    A bad rule never stops the others: every error is collected, and so is any failure of the compiler
    itself on one rule (an internal error, reported as such instead of ending the batch). `strict` makes
    ATT&CK tags the bundled data cannot map errors instead of notes.
    """
    build = Build(rules_dir)
    seen: dict[str, Path] = {}
    for path in discover(rules_dir):
        try:
            source = _guarded(path, None, None, lambda: load_rule(path, rules_dir))  # noqa: B023
            if source.rule_id in seen:
                raise RuleError(
                    path, f"rule id {source.rule_id} is also used by {seen[source.rule_id]}", source.label
                )
            seen[source.rule_id] = path
        except RuleError as e:
            build.errors.append(e)
            continue
        attack_notes = [RuleError(path, note, source.label) for note in source.threat.notes]
        if strict and attack_notes:
            build.errors += attack_notes
            continue
        build.notes += [str(note) for note in attack_notes]
        queries = _queries(build, source)
        for package in PACKAGES:
            if not all(name in queries for name in package.needs):
                continue  # the query's own error is already reported
            try:
                files = _guarded(path, source.label, package.name, lambda: package.make(source, queries))  # noqa: B023
            except RuleError as e:
                build.refuse(source, e)
                continue
            for f in files:
                build.add(source, package.name, f.kind, f.directory, f.suffix, f.content)
    return build


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


def _queries(build: Build, source: RuleSource) -> dict[str, Rendered]:
    queries: dict[str, Rendered] = {}
    for target in TARGETS.values():
        try:
            rendered = _guarded(source.path, source.label, target.name, lambda: target.render(source))  # noqa: B023
        except RuleError as e:
            build.refuse(source, e)
            continue
        queries[target.name] = rendered
        build.add(source, target.name, "query", target.name, target.suffix, rendered.text.encode())
        build.notes.extend(str(RuleError(source.path, n, source.label, target.name)) for n in rendered.notes)
    return queries
