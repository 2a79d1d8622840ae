r"""What the Kusto executor rewrites so that duckdb-kql runs a Sentinel query as emitted.

duckdb-kql has no `mv-apply` and no `*` (every column) in a predicate. Each is rewritten into what it
runs, written from Kusto's documented meaning, not from the compiler, and only in the forms the compiler
emits (anything else is left alone and fails in duckdb-kql):

- `* contains "x"` and `* matches regex "..."`: Kusto compares each column of the row, as a string (a
  dynamic one as its JSON text). Rewritten into an `or` over the columns of the query's tables.
- `mv-apply with_itemindex=_iN _eN = array_concat(dynamic([null]), A) on (... | summarize _anyK =
  countif(_iN > 0 and P))`: the number of elements of the list A for which P holds (the leading null
  only keeps rows whose list is empty, and never counts). Rewritten into a lookup, by a row id every
  table of the test workspace has (`__rowid`), of `mv-expand` of A, `summarize countif(P) by` the row
  (and for a nested mv-apply, the enclosing elements too); rows with no element get 0. An element that
  is JSON null counts as none here (Entra's lists hold no nulls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES

ROW_ID = "__rowid"
_STRING = re.compile(r'@"(?:[^"]|"")*"|"(?:[^"\\]|\\.)*"')
_STAR = re.compile(r"\* (contains|matches regex) (" + _STRING.pattern + ")")
_APPLY = re.compile(r"mv-apply with_itemindex=(_i\d+) (_e\d+) = array_concat\(dynamic\(\[null\]\), ")
_SUMMARIZE = re.compile(r"summarize (_any\d+) = countif\((_i\d+) > 0 and ")
_UNION = re.compile(r"union isfuzzy=true (.*)")


def closing(text: str, start: int) -> int:
    """The index of the parenthesis that closes the one before `start` (strings skipped)."""
    depth = 1
    i = start
    while i < len(text):
        if string := _STRING.match(text, i):
            i = string.end()
            continue
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
        i += 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def split_pipes(text: str) -> list[str]:
    """The operators of a pipeline, split at the `|`s outside parentheses and strings."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if string := _STRING.match(text, i):
            i = string.end()
            continue
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if text[i] == "|" and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    return [*parts, text[start:].strip()]


# -- the tables and their columns -------------------------------------------------------------------


def source_columns(source: str) -> list[str]:
    """The columns of a query's source: a table, or the union of tables the compiler writes (with
    their renames), in the order Kusto's union gives them."""
    union = _UNION.fullmatch(source)
    legs = [source] if not union else [leg.strip() for leg in _legs(union.group(1))]
    columns: dict[str, None] = {}
    for leg in legs:
        table, *steps = split_pipes(leg.removeprefix("(").removesuffix(")"))
        names = list(AZURE_MONITOR_TABLES[table])
        for step in steps:
            if step.startswith("project-rename "):
                for pair in step.removeprefix("project-rename ").split(", "):
                    new, old = pair.split(" = ")
                    names[names.index(old)] = new
        columns.update(dict.fromkeys(names))
    return list(columns)


def _legs(text: str) -> list[str]:
    legs, i = [], 0
    while i < len(text):
        if text[i] == "(":
            end = closing(text, i + 1)
            legs.append(text[i : end + 1])
            i = end + 1
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            legs.append(text[i:end])
            i = end
        i += 1 if i < len(text) and text[i] == "," else 0
        while i < len(text) and text[i] == " ":
            i += 1
    return [leg for leg in legs if leg.strip()]


def rewrite_star(predicate_line: str, columns: list[str]) -> str:
    """Each `* op value` as the `or` of `op value` over every column, each as a string."""

    def expand(match: re.Match[str]) -> str:
        operator, value = match.groups()
        return "(" + " or ".join(f"tostring({c}) {operator} {value}" for c in columns) + ")"

    return _STAR.sub(expand, predicate_line)


# -- mv-apply ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Apply:
    """One mv-apply as the compiler writes it: the list, its element and index names, the stages inside
    (mv-apply over the element's lists), the count it adds and the condition each element is counted on."""

    index: str
    element: str
    array: str
    inner: tuple[Apply, ...]
    count: str
    predicate: str


def parse_apply(text: str) -> Apply:
    header = _APPLY.match(text)
    if not header:
        raise ValueError(f"not an mv-apply the compiler writes: {text[:80]!r}")
    index, element = header.groups()
    array_end = closing(text, header.end())
    on = text.index(" on (", array_end) + len(" on (")
    body_end = closing(text, on)
    if body_end != len(text) - 1:
        raise ValueError(f"text after the mv-apply: {text[body_end:]!r}")
    *stages, last = split_pipes(text[on:body_end])
    summarize = _SUMMARIZE.match(last)
    if not summarize or summarize.group(2) != index or not last.endswith(")"):
        raise ValueError(f"an mv-apply must end in the count of its elements: {last!r}")
    return Apply(
        index,
        element,
        text[header.end() : array_end],
        tuple(parse_apply(stage) for stage in stages),
        summarize.group(1),
        last[summarize.end() : -1],
    )


def counted(apply: Apply, parent: str, keys: list[str]) -> str:
    """A table of `keys` and the count: per row of `parent`, how many elements hold the predicate."""
    expanded = f"{parent} | mv-expand with_itemindex={apply.index} {apply.element} = {apply.array}"
    expanded += f" | where isnotnull({apply.element})"
    rows = keys + [apply.index]
    table = expanded
    for inner in apply.inner:
        table += (
            f" | lookup kind=leftouter ({counted(inner, expanded, rows)}) on {', '.join(rows)}"
            f" | extend {inner.count} = coalesce({inner.count}, 0)"
        )
    return f"{table} | summarize {apply.count} = countif({apply.predicate}) by {', '.join(keys)}"


def rewrite_apply(stage: str, source: str) -> str:
    """The pipeline stages that add what the mv-apply `stage` adds to each row of `source`."""
    apply = parse_apply(stage)
    return (
        f"lookup kind=leftouter ({counted(apply, source, [ROW_ID])}) on {ROW_ID}"
        f" | extend {apply.count} = coalesce({apply.count}, 0)"
    )


def rewrite(query: str) -> str:
    """The query with every `*` predicate and every mv-apply stage rewritten (see above). Each pipeline
    of the query starts at a line that is not a `|` continuation: a table, a union, or `let x = ...`."""
    out, source = [], ""
    for line in query.split("\n"):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("| "):
            body = stripped[2:]
            if body.startswith("mv-apply "):
                line = f"{indent}| {rewrite_apply(body, source)}"
            elif source and "* " in body:
                line = f"{indent}| {rewrite_star(body, source_columns(source))}"
        elif not stripped.startswith("//"):
            head = re.sub(r"^let \w+ = ", "", stripped).rstrip(";")
            first = head if head.startswith("union ") else head.split(" | ")[0]
            source = first if first in AZURE_MONITOR_TABLES or first.startswith("union ") else ""
        out.append(line)
    return "\n".join(out)
