"""What compiling one rule file gives, as plain data: built by workers, kept by the cache, read by the build.

Light on purpose (no pySigma): a build whose every rule comes from the cache never loads the compiler.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import orjson

from translator.errors import RuleError
from translator.json_text import json_bytes


@dataclass(frozen=True)
class Artifact:
    target: str  # the query target or the package that made it
    kind: str  # query, kibana-rule, sentinel-rule-yaml, sentinel-arm
    path: str  # relative to the output directory, POSIX (a plain string: a build handles tens of thousands)
    content: bytes

    @functools.cached_property
    def sha256(self) -> str:
        """The manifest's digest of the content (the build takes it as each rule's result arrives)."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class RuleResult:
    """Everything one rule file gave: its artifacts, and its errors, refusals and notes.

    An error is a file that is not a valid rule, or a defect of the compiler on it; a refusal is a valid
    rule that one target cannot express. `rule_id` is None when the file did not load.
    """

    rel_path: PurePosixPath
    rule_id: str | None = None
    label: str | None = None  # 'title' (id), as diagnostics name the rule
    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    refusals: list[RuleError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """What the cache keeps and a worker sends back: one line of JSON (all but the artifacts'
        contents, each with its length), then the contents as they are. Reading it back costs a slice
        per artifact, not the decoding of its escaped text (a rebuild reads thousands)."""
        head = {
            "rel_path": self.rel_path.as_posix(),
            "rule_id": self.rule_id,
            "label": self.label,
            "artifacts": [[a.target, a.kind, a.path, len(a.content)] for a in self.artifacts],
            "errors": [_error_json(e) for e in self.errors],
            "refusals": [_error_json(e) for e in self.refusals],
            "notes": self.notes,
        }
        # JSON escapes every line feed inside strings: the first one ends the head.
        return json_bytes(head) + b"\n" + b"".join(a.content for a in self.artifacts)

    @classmethod
    def from_bytes(cls, data: bytes) -> RuleResult:
        """The inverse of to_bytes (KeyError, TypeError or ValueError on anything else)."""
        line, _, body = data.partition(b"\n")
        head = orjson.loads(line)
        artifacts, offset = [], 0
        for target, kind, path, size in head["artifacts"]:
            if type(size) is not int or size < 0 or offset + size > len(body):
                raise ValueError("an artifact's length does not fit the entry")
            artifacts.append(Artifact(str(target), str(kind), str(path), body[offset : offset + size]))
            offset += size
        if offset != len(body):
            raise ValueError("bytes after the last artifact")
        return cls(
            rel_path=PurePosixPath(head["rel_path"]),
            rule_id=head["rule_id"],
            label=head["label"],
            artifacts=artifacts,
            errors=[RuleError(*e) for e in head["errors"]],
            refusals=[RuleError(*e) for e in head["refusals"]],
            notes=[str(n) for n in head["notes"]],
        )


def _error_json(error: RuleError) -> list[str | None]:
    return [error.path, error.reason, error.rule, error.target]
