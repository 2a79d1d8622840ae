"""Compiling a rules folder: each rule from the cache or in a worker, then one Build in path order.

translator/output_dir.py writes or checks output/. The result never depends on the cache or the number
of workers: every rule is compiled alone (translator/compile_rule.py, a pure function), and the results
are put together in the sorted order of the rule paths, whatever order the workers finish in.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from translator.cache import Cache, fingerprint, rule_key, shelf_key
from translator.cache_packs import Location
from translator.config import DEFAULT, Config
from translator.errors import RuleError
from translator.json_text import json_bytes
from translator.output_read import MANIFEST, path_order
from translator.results import Artifact, RuleResult
from translator.rule_file import discover, read_rule
from translator.versions import compiler_versions
from translator.workers import MIN_RULES_PER_WORKER, Job, Workers, run

Progress = Callable[[int, int, int], None]  # rules done, rules in all, rules with errors so far


class RuleRef(NamedTuple):
    rule_id: str
    rel_path: PurePosixPath


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
    refusals: list[tuple[RuleRef, RuleError]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    owners: dict[str, RuleRef] = field(default_factory=dict)  # artifact path -> its rule
    rules: int = 0
    cache_hits: int = 0
    workers: int = 1
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, result: RuleResult) -> None:
        self.rules += 1
        self.errors += result.errors
        self.notes += result.notes
        if result.rule_id is None:
            return
        ref = RuleRef(result.rule_id, result.rel_path)
        self.artifacts += result.artifacts
        self.owners.update((a.path, ref) for a in result.artifacts)
        self.refusals += [(ref, e) for e in result.refusals]

    def files(self) -> dict[str, bytes]:
        """The complete contents of output/: the artifacts and the manifest that lists them."""
        files = {a.path: a.content for a in self.artifacts}
        files[MANIFEST] = self.manifest()
        return files

    def manifest(self) -> bytes:
        """The interface CI jobs read; sorted, so the same sources give the same bytes."""
        owners = self.owners
        rule_paths: dict[int, str] = {}  # each rule's, made once for its artifacts
        for ref in owners.values():
            if id(ref) not in rule_paths:
                rule_paths[id(ref)] = self.rule_path(ref.rel_path)
        entries = []
        for a in sorted(self.artifacts, key=lambda a: path_order(a.path)):
            ref = owners[a.path]
            entries.append(
                {
                    "rule_id": ref.rule_id,
                    "rule_path": rule_paths[id(ref)],
                    "target": a.target,
                    "kind": a.kind,
                    "artifact_path": a.path,
                    "sha256": a.sha256,
                }
            )
        refused = sorted(
            (
                {
                    "rule_id": r.rule_id,
                    "rule_path": self.rule_path(r.rel_path),
                    "target": e.target,
                    "reason": e.reason,
                }
                for r, e in self.refusals
            ),
            key=lambda r: (r["rule_path"], r["target"]),
        )
        manifest = {"compiler": compiler_versions(), "artifacts": entries, "refused": refused}
        return json_bytes(manifest, indent=True) + b"\n"

    def rule_path(self, rel_path: PurePosixPath) -> str:
        return f"{self.rules_name}/{rel_path.as_posix()}"

    @functools.cached_property
    def rules_name(self) -> str:
        """The rules folder's own name, as the manifest names rules (not where it lies)."""
        return self.rules_dir.resolve().name

    def check_unique(self, results: list[RuleResult]) -> None:
        """One rule per id and one rule per artifact path: a later file with an id already used, or whose
        artifacts would replace an earlier file's (`a.yml` and `a.yaml` both give `a.kql`), is an error,
        and gives nothing."""
        ids: dict[str, PurePosixPath] = {}
        paths: dict[str, PurePosixPath] = {}  # artifact path -> the rule that makes it
        for i, result in enumerate(results):
            if result.rule_id is None:
                continue
            clash = next((a.path for a in result.artifacts if a.path in paths), None)
            if result.rule_id in ids:
                reason = f"rule id {result.rule_id} is also used by {self.rules_dir / ids[result.rule_id]}"
            elif clash is not None:
                reason = (
                    f"its artifact {clash} is also made from {self.rules_dir / paths[clash]}; "
                    "rename one of the two files"
                )
            else:
                ids[result.rule_id] = result.rel_path
                paths.update((a.path, result.rel_path) for a in result.artifacts)
                continue
            error = RuleError(self.rules_dir / result.rel_path, reason, result.label)
            results[i] = RuleResult(result.rel_path, errors=[error])


@dataclass
class Library:
    """A rules folder as read: each rule file's text and cache key, or why it could not be read."""

    rules_dir: Path
    strict: bool
    config: Config
    paths: list[Path]
    texts: list[str | None]  # None: unreadable, its error in `unreadable`
    keys: list[str]  # "" without a cache
    cached: set[int]  # the rules the cache has an entry for
    unreadable: dict[int, RuleError]
    key: str  # of the whole library: every rule's key, in order ("" without a cache)
    shelf: str  # of its location, the cache's index (shelf_key; "" without a cache)
    seconds: float


def read_library(
    rules_dir: Path,
    strict: bool = False,
    cache: Cache | None = None,
    config: Config = DEFAULT,
    workers: Workers | None = None,
) -> Library:
    """Read every rule file once (the text compiled is the text hashed) and key it for the cache.

    Once it has found enough rules the cache lacks to keep every worker busy, it starts `workers`, which
    load the compiler while it reads on (a rebuild that compiles fewer never starts them here).
    """
    started = time.perf_counter()
    paths = discover(rules_dir)
    root = rules_dir.resolve()
    compiler = fingerprint() if cache else ""
    options = f"strict={strict};config={config.fingerprint()}"
    shelf = shelf_key(compiler, options, rules_dir) if cache else ""
    if cache:
        cache.load_index(shelf)
    texts: list[str | None] = []
    keys: list[str] = []
    cached: set[int] = set()
    unreadable: dict[int, RuleError] = {}
    early = workers.count * MIN_RULES_PER_WORKER if workers and workers.count > 1 else 0
    misses = 0
    for i, path in enumerate(paths):
        try:
            text: str | None = read_rule(path, rules_dir, root)
        except RuleError as e:
            text, unreadable[i] = None, e
        texts.append(text)
        keys.append(rule_key(compiler, options, path, rules_dir, text) if cache and text is not None else "")
        if text is None:
            continue
        if cache and cache.has(keys[i]):
            cached.add(i)
            continue
        misses += 1
        if misses == early and workers:
            workers.start(workers.count)
    key = hashlib.sha256("\n".join([str(rules_dir), *keys]).encode()).hexdigest() if cache else ""
    seconds = time.perf_counter() - started
    return Library(rules_dir, strict, config, paths, texts, keys, cached, unreadable, key, shelf, seconds)


def compile_rules(
    rules_dir: Path,
    strict: bool = False,
    cache: Cache | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    config: Config = DEFAULT,
) -> Build:
    """Compile every rule under rules_dir (read_library, then compile_library)."""
    with Workers(workers, cache) as pool:
        return compile_library(read_library(rules_dir, strict, cache, config, pool), pool, progress)


def _job(library: Library, i: int) -> Job:
    path, text, key = library.paths[i], library.texts[i] or "", library.keys[i]
    return Job(path, library.rules_dir, text, library.strict, library.config, key)


def compile_library(
    library: Library,
    workers: Workers,
    progress: Progress | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Build:
    """Compile every rule of the library, from the cache where it has the rule, in workers otherwise.

    The rules without a cache entry go to the workers first; this process then runs `meanwhile` (the
    caller's check of the output folder) and loads the cached rules while they compile, so a rebuild
    after a small change pays for loading pySigma on one core and for its cached rules on the other. An
    entry that exists but fails its check is compiled last, here. A bad rule never stops the others:
    every error is collected, and so is any failure of the compiler itself on one rule (an internal
    error, reported as such instead of ending the batch).
    """
    cache = workers.cache
    build = Build(library.rules_dir)
    build.seconds["read"] = library.seconds
    started = time.perf_counter()
    paths, rules_dir = library.paths, library.rules_dir
    results: list[RuleResult | None] = [None] * len(paths)
    for i, error in library.unreadable.items():
        results[i] = RuleResult(PurePosixPath(paths[i].relative_to(rules_dir).as_posix()), errors=[error])
    readable = [i for i in range(len(paths)) if i not in library.unreadable]
    cached = library.cached
    todo = [i for i in readable if i not in cached]
    late: list[int] = []  # an entry that was there but cannot be used (torn, tampered): compiled last, here
    kept: dict[str, Location] = {}  # rule key -> its cache entry: the next index
    done = errors = len(library.unreadable)

    def count(result: RuleResult) -> None:
        nonlocal done, errors
        for artifact in result.artifacts:
            artifact.sha256  # noqa: B018  here, while the workers compile, not after them (the manifest's)
        done += 1
        errors += bool(result.errors)
        if progress:
            progress(done, len(paths), errors)

    def load_cached() -> None:
        if meanwhile:
            meanwhile()
        if not cache:
            return
        for i in sorted(cached, key=lambda i: cache.index[library.keys[i]]):  # pack by pack, in order
            results[i] = cache.get(library.keys[i])
            if results[i] is None:
                late.append(i)
            else:
                kept[library.keys[i]] = cache.index[library.keys[i]]
                count(results[i])

    if progress:
        progress(done, len(paths), errors)
    during = load_cached if cached else meanwhile if workers.pool else None
    if meanwhile and during is None:
        meanwhile()  # a cold build whose workers would start after it: the first rule is compiled here
    build.workers = (
        workers.count if workers.pool else min(workers.count, max(1, len(todo) // MIN_RULES_PER_WORKER))
    )
    try:
        for batch, workers_now, overlap in ((todo, build.workers, during), (late, 1, None)):
            jobs = [_job(library, i) for i in batch]
            for i, (result, where) in zip(batch, run(jobs, workers, workers_now, overlap), strict=True):
                results[i] = result
                if where:
                    kept[library.keys[i]] = where
                count(result)
        if cache and (todo or late or cache.moved):
            keys = {k for k in library.keys if k}
            cache.save_index(library.shelf, {k: kept[k] for k in library.keys if k in kept}, keys)  # in order
            cache.clean()  # this build wrote entries: keep the folder from growing with every edit
    finally:
        if cache:
            cache.close()
    build.cache_hits = len(cached) - len(late)
    build.seconds["compile"] = time.perf_counter() - started
    final = [r for r in results if r is not None]
    build.check_unique(final)
    for result in final:
        build.add(result)
    return build
