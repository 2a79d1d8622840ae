"""A rebuild with nothing to do, recognised without loading one compiled rule.

After a build without errors, the cache keeps a summary of it under the library's key (which covers
every rule's key, so every input of every rule: translator/cache.py): the digest of the manifest it
wrote and what it reported. When the next build reads the same library, it looks up that summary and
compares output/ with the manifest (output_read.holds): the manifest by its digest, every file it lists
by its digest, nothing else. Safe because the artifacts are a function of the library key: when output/
holds exactly those files, the full build would write nothing and report the same, so it is skipped.
Anything else (no summary, a damaged one, one file different) runs the full build.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from translator.build import Build, Library
from translator.cache import Cache
from translator.output_read import holds
from translator.progress import found

KIND = "library"  # the entry kind beside the per-rule entries, so a rule key can never name one


def remember(cache: Cache, library: Library, build: Build, manifest: bytes) -> None:
    """Keep the summary of a build without errors for the next build of the same library."""
    if build.errors or library.unreadable:
        return
    refused = [str(e) for _, e in build.refusals]
    entry = {
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "report": found(build),
        "refused": refused,
    }
    cache.put_data(KIND, library.key, entry)


def recall(cache: Cache, library: Library, output: Path) -> dict[str, Any] | None:
    """The summary of the last build of this library, if output/ still holds exactly what it wrote."""
    if library.unreadable:
        return None
    entry = cache.get_data(KIND, library.key)
    if entry is None or not holds(output, entry["manifest_sha256"]):
        return None
    return entry
