"""Worker processes: where a build compiles the rules the cache does not have.

Each rule is compiled alone (translator/compile_rule.py, a pure function) and its result comes back as
bytes, in job order, so the build does not depend on the number of workers or on which finishes first.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

from translator.cache import Cache
from translator.cache_packs import Location
from translator.config import Config
from translator.results import RuleResult

# Below this many rules to compile, starting worker processes costs more than it saves.
MIN_RULES_PER_WORKER = 8


class Job(NamedTuple):
    """One rule to compile, and the cache key its result is kept under ("" for none)."""

    path: Path
    rules_dir: Path
    text: str
    strict: bool
    config: Config
    key: str


class Workers:
    """The worker processes of one build, started at most once: early, by read_library, as soon as it has
    found enough rules the cache lacks (their workers then load pySigma while the rest is read), or by
    `run`. A context manager: leaving it ends the workers.

    Fork, where the platform has it: the workers start with this process's modules and data, in
    milliseconds, and load the compiler themselves if this process has not (_load_compiler).
    """

    def __init__(self, count: int, cache: Cache | None) -> None:
        self.count = count  # the most it may start
        self.cache = cache
        self.folder = cache.root.parent if cache else None  # what a job names the cache by
        if cache:
            _caches[cache.root.parent] = cache  # here and (forked) in the workers: its secret read once
        self.pool: ProcessPoolExecutor | None = None

    def start(self, count: int) -> ProcessPoolExecutor:
        """The running pool; `count` processes, if they are started now."""
        if self.pool is None:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            gc.freeze()  # the loaded modules stay out of the workers' collections: less work, pages shared
            context = multiprocessing.get_context(method)
            self.pool = ProcessPoolExecutor(count, mp_context=context, initializer=_load_compiler)
            self.pool.submit(int)  # with fork, every worker is forked at the first submission
            self.count = count
        return self.pool

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=kind is not None)  # an error here ends the build now
            gc.unfreeze()


Compiled = tuple[bytes, Location | None]  # a result (RuleResult.to_bytes) and where the cache keeps it


def run(
    jobs: list[Job], workers: Workers, count: int, meanwhile: Callable[[], None] | None = None
) -> Iterator[tuple[RuleResult, Location | None]]:
    """Compile the jobs and cache each result, in order: here, or in `count` worker processes.

    Each process that compiles (a worker, or this one for the jobs it compiles itself) appends its results
    to a pack of its own (translator/cache_packs.py) and sends back where each lies; this process keeps
    the index. Results come back in job order (map), so the
    output does not depend on which worker finishes first, and as bytes (RuleResult.to_bytes): nothing a
    worker returns can fail to unpickle. A worker that dies (killed, out of memory) fails the build with
    an error instead of hanging it (concurrent.futures, unlike multiprocessing.Pool, notices).

    `meanwhile` runs here as soon as the workers have every job, before the first result is taken; with
    it, even one job goes to a worker, so the two overlap. Without it, and without workers started
    already, the first job is compiled here, so that the forks share the loaded compiler, and a single
    worker is this process.
    """
    folder = workers.folder
    if not jobs or (count <= 1 and meanwhile is None):
        if meanwhile:
            meanwhile()
        yield from map(_received, (_compile_job(job, folder) for job in jobs))
        return
    if meanwhile is None and workers.pool is None:
        yield _received(_compile_job(jobs[0], folder))  # here first: shared by the forks
        jobs = jobs[1:]
    pool = workers.start(count)
    chunk = max(1, min(16, len(jobs) // (workers.count * 8)))
    try:
        compiled = pool.map(functools.partial(_compile_job, folder=folder), jobs, chunksize=chunk)
        if meanwhile:
            meanwhile()
        yield from map(_received, compiled)
    except BrokenProcessPool as e:
        raise WorkerError("a worker process died (killed, or out of memory); nothing was written") from e


def _load_compiler() -> None:
    """A worker's first step: load pySigma and the compiler (at once, if the parent had them)."""
    import translator.compile_rule  # noqa: F401


class WorkerError(Exception):
    """The build could not finish: a worker process died."""


_caches: dict[Path, Cache] = {}  # per process: each cache's secret is read once


def _compile_job(job: Job, folder: Path | None = None) -> Compiled:
    from translator.compile_rule import compile_rule  # here: a build served by the cache never loads pySigma

    data = compile_rule(job.path, job.rules_dir, job.text, job.strict, job.config).to_bytes()
    where = None if folder is None else _caches.setdefault(folder, Cache(folder)).put(job.key, data)
    return data, where


def _received(compiled: Compiled) -> tuple[RuleResult, Location | None]:
    data, where = compiled
    return RuleResult.from_bytes(data), where


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
