"""The tables a Sentinel query reads: one table, or the union of tables that hold the same records.

Entra ID writes interactive and non-interactive user sign-ins to two tables whose schemas differ in a
few columns: the non-interactive one stores some dynamic columns as JSON text, and names a column
differently. A rule reads them as one (`union`), each column with one type (`todynamic` on the text
columns) and one name (`project-rename`), so that a condition is written once for both. `isfuzzy=true`
lets the query run in a workspace that does not collect one of the tables. Column types come from the
table schemas pysigma-backend-kusto ships; which tables and which renames, from the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.azuremonitor.tables import AZURE_MONITOR_TABLES


@dataclass(frozen=True)
class Source:
    """The tables, in order, and per table the columns renamed: {name in the query: the table's name}."""

    tables: tuple[str, ...]
    renames: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, query_table: Any, renames: dict[str, dict[str, str]]) -> Source:
        """From the pipeline's `query_table` state (a table, or a list of them) and `column_renames`."""
        tables = tuple(query_table) if isinstance(query_table, list) else (query_table,)
        unknown = [t for t in tables if t not in AZURE_MONITOR_TABLES]
        if not tables or unknown:
            raise SigmaFeatureNotSupportedByBackendError(
                f"the pipeline names no known Log Analytics table (query_table is {query_table!r})"
            )
        return cls(tables, {t: dict(renames.get(t, {})) for t in tables})

    @property
    def name(self) -> str:
        return " + ".join(self.tables)

    @property
    def types(self) -> Mapping[str, str]:
        """Column -> Kusto type of the rows the query reads: dynamic where any table has it dynamic
        and another stores it as JSON text."""
        renames = tuple((table, tuple(self.renames[table].items())) for table in self.tables)
        return _types(renames)

    @property
    def text(self) -> str:
        """The table, or the union of the tables with their columns made to agree."""
        if len(self.tables) == 1:
            return self.tables[0]
        legs = []
        for table in self.tables:
            steps = []
            if self.renames[table]:
                renames = ", ".join(f"{new} = {old}" for new, old in self.renames[table].items())
                steps.append(f"project-rename {renames}")
            types, renamed = self.types, tuple(self.renames[table].items())
            texts = [n for n, kind in _columns(table, renamed).items() if kind != types[n]]
            if texts:
                steps.append("extend " + ", ".join(f"{n} = todynamic({n})" for n in texts))
            legs.append(f"({' | '.join([table, *steps])})" if steps else table)
        return "union isfuzzy=true " + ", ".join(legs)


@lru_cache(maxsize=256)
def _types(renames: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> Mapping[str, str]:
    """Source.types of the tables, each with its renames, in order: a function of the pipeline's tables
    and renames alone, so made once for all the rules that read them (read-only)."""
    types: dict[str, str] = {}
    for table, renamed in renames:
        for name, kind in _columns(table, renamed).items():
            known = types.setdefault(name, kind)
            if known != kind:
                if {known, kind} != {"dynamic", "string"}:
                    raise SigmaFeatureNotSupportedByBackendError(
                        f"column {name} is {known} in one table and {kind} in {table}"
                    )
                types[name] = "dynamic"
    return MappingProxyType(types)


@lru_cache(maxsize=256)
def _columns(table: str, renamed: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """The table's columns and their types, renamed (new name, the table's name) (read-only)."""
    columns = {name: info["data_type"] for name, info in AZURE_MONITOR_TABLES[table].items()}
    for new, old in renamed:
        columns[new] = columns.pop(old)
    return MappingProxyType(columns)
