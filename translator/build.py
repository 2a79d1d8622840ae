"""Compiling every rule to every target, and writing or checking output/ as one unit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sigma.exceptions import SigmaError

from translator.errors import RuleError
from translator.loader import discover, load_rule
from translator.model import RuleSource
from translator.packaging import PACKAGES
from translator.targets import TARGETS, Rendered

MANIFEST = PurePosixPath("manifest.json")


@dataclass(frozen=True)
class Artifact:
    source: RuleSource
    target: str  # the query target or the package that made it
    kind: str  # query, kibana-rule, sentinel-rule-yaml, sentinel-arm
    path: PurePosixPath  # relative to the output directory
    content: bytes


@dataclass
class Build:
    """What a build produced: every artifact it could make, and every error and note on the way."""

    rules_dir: Path
    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
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
                "rule_path": (PurePosixPath(self.rules_dir.resolve().name) / a.source.rel_path).as_posix(),
                "target": a.target,
                "kind": a.kind,
                "artifact_path": a.path.as_posix(),
                "sha256": hashlib.sha256(a.content).hexdigest(),
            }
            for a in sorted(self.artifacts, key=lambda a: a.path)
        ]
        return (json.dumps({"artifacts": entries}, indent=2, ensure_ascii=False) + "\n").encode()


def compile_rules(rules_dir: Path) -> Build:
    """Parse each rule once, render it to every target, then package the queries into rule files.

    A bad rule never stops the others: every error is collected.
    """
    build = Build(rules_dir)
    seen: dict[str, Path] = {}
    for path in discover(rules_dir):
        try:
            source = load_rule(path, rules_dir)
            if source.rule_id in seen:
                raise RuleError(
                    path, f"rule id {source.rule_id} is also used by {seen[source.rule_id]}", source.label
                )
            seen[source.rule_id] = path
        except RuleError as e:
            build.errors.append(e)
            continue
        queries = _queries(build, source)
        for package in PACKAGES:
            if not all(name in queries for name in package.needs):
                continue  # the query's own error is already reported
            try:
                files = package.make(source, queries)
            except (ValueError, SigmaError) as e:
                build.errors.append(RuleError(path, str(e), source.label, package.name))
                continue
            for f in files:
                build.add(source, package.name, f.kind, f.directory, f.suffix, f.content)
    return build


def _queries(build: Build, source: RuleSource) -> dict[str, Rendered]:
    queries: dict[str, Rendered] = {}
    for target in TARGETS.values():
        try:
            queries[target.name] = rendered = target.render(source)
        except RuleError as e:
            build.errors.append(e)
            continue
        build.add(source, target.name, "query", target.name, target.suffix, rendered.text.encode())
        build.notes.extend(str(RuleError(source.path, n, source.label, target.name)) for n in rendered.notes)
    return queries


def read_tree(root: Path) -> dict[PurePosixPath, bytes]:
    if not root.is_dir():
        return {}
    return {
        PurePosixPath(p.relative_to(root).as_posix()): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def differences(output_dir: Path, files: dict[PurePosixPath, bytes]) -> list[str]:
    """Each path where output/ is not what the build makes: missing, different, or stale."""
    existing = read_tree(output_dir)
    lines = []
    for path in sorted(set(files) | set(existing)):
        if path not in existing:
            lines.append(f"missing: {path}")
        elif path not in files:
            lines.append(f"stale (no rule makes it): {path}")
        elif existing[path] != files[path]:
            lines.append(f"differs: {path}")
    return lines


def write_tree(output_dir: Path, files: dict[PurePosixPath, bytes]) -> None:
    """Replace output_dir with exactly `files`, written beside it first and then swapped in."""
    parent = output_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.new-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    try:
        for path, content in files.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = parent / f".{output_dir.name}.old-{os.getpid()}"
    if output_dir.exists():
        output_dir.rename(old)
    staging.rename(output_dir)
    shutil.rmtree(old, ignore_errors=True)
