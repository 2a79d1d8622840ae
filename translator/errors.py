"""One error type for bad input, so every message names the file, the rule and the reason."""

from __future__ import annotations

import unicodedata
from pathlib import Path

# Characters that would break a diagnostic line or hide text: controls (line breaks included), line and
# paragraph separators, format characters (bidirectional overrides), and lone surrogates from file names.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def printable(text: str) -> str:
    """`text` on one visible line: every hidden character as its escape (\\n, \\u2028, \\udcff)."""
    if text.isprintable():
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _HIDDEN else c for c in text
    )


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

    def __reduce__(self) -> tuple[type[RuleError], tuple[str, str, str | None, str | None]]:
        return (RuleError, (self.path, self.reason, self.rule, self.target))

    def __str__(self) -> str:
        """One line, whatever the file name, the title or the reason hold."""
        where = self.path
        if self.rule:
            where += f": rule {self.rule}"
        if self.target:
            where += f": target {self.target}"
        return printable(f"{where}: {self.reason}")
