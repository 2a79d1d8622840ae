"""One error type for bad input, so every message names the file, the rule and the reason."""

from __future__ import annotations

from pathlib import Path


class RuleError(Exception):
    """A rule (or its file) that cannot be compiled; `str()` is the line the CLI prints."""

    def __init__(
        self, path: Path | str, reason: str, rule: str | None = None, target: str | None = None
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.rule = rule
        self.target = target
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.rule:
            where += f": rule {self.rule}"
        if self.target:
            where += f": target {self.target}"
        return f"{where}: {self.reason}"
