"""What compiling one rule file gives, as plain data: built by workers, kept by the cache, read by the build.

Light on purpose (no pySigma): a build whose every rule comes from the cache never loads the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from translator.errors import RuleError


@dataclass(frozen=True)
class Artifact:
    target: str  # the query target or the package that made it
    kind: str  # query, kibana-rule, sentinel-rule-yaml, sentinel-arm
    path: str  # relative to the output directory, POSIX (a plain string: a build handles tens of thousands)
    content: bytes


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

    def to_json(self) -> dict[str, Any]:
        return {
            "rel_path": self.rel_path.as_posix(),
            "rule_id": self.rule_id,
            "label": self.label,
            "artifacts": [[a.target, a.kind, a.path, a.content.decode()] for a in self.artifacts],
            "errors": [_error_json(e) for e in self.errors],
            "refusals": [_error_json(e) for e in self.refusals],
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleResult:
        """The inverse of to_json (KeyError, TypeError or ValueError on anything else)."""
        return cls(
            rel_path=PurePosixPath(data["rel_path"]),
            rule_id=data["rule_id"],
            label=data["label"],
            artifacts=[Artifact(t, k, str(p), c.encode()) for t, k, p, c in data["artifacts"]],
            errors=[RuleError(*e) for e in data["errors"]],
            refusals=[RuleError(*e) for e in data["refusals"]],
            notes=[str(n) for n in data["notes"]],
        )


def _error_json(error: RuleError) -> list[str | None]:
    return [error.path, error.reason, error.rule, error.target]
