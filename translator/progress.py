"""What a long build shows while it runs (on a terminal only) and the JSON summary CI jobs read."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translator.build import Build
from translator.cache import Cache

REDRAW_SECONDS = 0.1  # a terminal line redrawn at most ten times a second: thousands of rules stay cheap


class Progress:
    """`rules done/total, errors so far` on one line of stderr, redrawn in place; nothing when disabled
    (not a terminal, or --quiet), so CI logs get no carriage returns."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.last = 0.0

    def update(self, done: int, total: int, errors: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done < total and now - self.last < REDRAW_SECONDS):
            return
        self.last = now
        sys.stderr.write(f"\r\x1b[Kcompiling rules: {done}/{total}, {errors} with errors")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line, so the diagnostics that follow start on a clean one."""
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


def found(build: Build) -> dict[str, Any]:
    """What a build found in the library, as `--format json` prints it (README, "Large libraries"):
    the same for every build of the same library, so translator/noop.py keeps it."""
    per_target = Counter(a.target for a in build.artifacts)
    refused = Counter(e.target for _, e in build.refusals)
    targets = sorted(set(per_target) | set(refused))
    return {
        "rules": build.rules,
        "artifacts": len(build.artifacts),
        "targets": {t: {"artifacts": per_target[t], "refused": refused[t]} for t in targets},
        "refused": [
            {"rule_path": build.rule_path(ref.rel_path), "rule_id": ref.rule_id, "target": e.target}
            | {"reason": e.reason}
            for ref, e in build.refusals
        ],
        "errors": [str(e) for e in build.errors],
        "notes": build.notes,
    }


@dataclass
class Run:
    """How one build ran, beside what it found: the rest of the JSON summary."""

    output: Path
    cache: Cache | None
    hits: int  # rules served from the cache
    compiled: int
    workers: int  # 0: nothing needed compiling
    seconds: dict[str, float]

    def report(self, status: str, exit_code: int, drift: list[str]) -> dict[str, Any]:
        return {
            "status": status,  # built, unchanged, up to date, drift, errors
            "exit_code": exit_code,
            "output": str(self.output),
            "drift": drift,
            "cache": {
                "enabled": self.cache is not None,
                "folder": str(self.cache.root) if self.cache else None,
                "hits": self.hits,
                "compiled": self.compiled,
            },
            "workers": self.workers,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }

    @classmethod
    def of(cls, build: Build, output: Path, cache: Cache | None) -> Run:
        return cls(
            output, cache, build.cache_hits, build.rules - build.cache_hits, build.workers, build.seconds
        )
