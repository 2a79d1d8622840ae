"""The YAML of Sentinel's analytic rule templates: libyaml's emitter, with nodes made directly."""

from __future__ import annotations

from typing import Any

import yaml

from translator.backends.strings import UNPRINTABLE
from translator.packaging.yaml_block import WIDTH, block_yaml

_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class SentinelDumper(yaml.CSafeDumper):  # type: ignore[misc,name-defined]
    """Block style for multi-line strings (the query, the description), as Sentinel content has it.

    libyaml's emitter, required rather than PyYAML's pure-Python one as a fallback: a tenth of the time,
    and one emitter everywhere, so the same rule gives the same bytes on every machine (the two differ
    on characters outside the BMP, which libyaml escapes). PyYAML's wheels carry libyaml on every
    platform Python ships for; tests/test_sentinel_rules.py shows the emitters agree on everything else.
    """

    def represent(self, data: Any) -> None:
        """SafeRepresenter.represent, with the nodes of plain data made directly.

        PyYAML's representer is pure Python even on libyaml: for each value it looks up the type's
        representer, tracks aliases and picks a style, several calls deep. A template holds only dicts,
        lists, strings, ints, booleans and null, of exactly these types, and for them SafeRepresenter
        (with our str representer) makes exactly the nodes `_node` makes: yaml.dump's default_style
        None and default_flow_style False, and one node for a dict or list met twice (libyaml writes it
        as an alias). Any other value or option takes PyYAML's own way. tests/test_sentinel_rules.py
        compares the text with PyYAML's representer and emitter on every committed rule file.
        """
        if self.default_style is not None or self.default_flow_style is not False:
            return super().represent(data)
        try:
            node = _node(data, {})
        except _NotPlain:
            return super().represent(data)
        self.serialize(node)


class _NotPlain(Exception):
    """A value `_node` leaves to PyYAML's representer."""


def _node(value: Any, seen: dict[int, yaml.Node]) -> yaml.Node:
    kind = type(value)
    if kind is str:
        return yaml.ScalarNode(_STR, value, style=_str_style(value))
    if kind is bool:
        return yaml.ScalarNode(_BOOL, "true" if value else "false")
    if kind is int:
        return yaml.ScalarNode(_INT, str(value))
    if value is None:
        return yaml.ScalarNode(_NULL, "null")
    if kind is not dict and kind is not list:
        raise _NotPlain
    if id(value) in seen:
        return seen[id(value)]
    if kind is dict:
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        node: yaml.Node = yaml.MappingNode(_MAP, pairs, flow_style=False)
        seen[id(value)] = node
        pairs += [(_node(k, seen), _node(v, seen)) for k, v in value.items()]
        return node
    items: list[yaml.Node] = []
    node = yaml.SequenceNode(_SEQ, items, flow_style=False)
    seen[id(value)] = node
    items += [_node(v, seen) for v in value]
    return node


def _str_style(value: str) -> str | None:
    """Block style for text with line feeds only; double quotes (with escapes) for any other control
    or line-break character, which a plain or block scalar would fold or lose (NEL, U+2028, CR), and
    for text ending in blank lines, whose keep-chomping block (`|+`) libyaml and PyYAML's own emitter
    end differently (libyaml adds a document end marker)."""
    if value.isprintable():  # no control, line-break or separator character: most values, at C speed
        return None
    if UNPRINTABLE.search(value.replace("\n", "")) or value.endswith("\n\n") or value == "\n":
        return '"'
    return "|" if "\n" in value else None


SentinelDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style=_str_style(value)),
)


def dump(template: dict[str, Any]) -> str:
    """The template as YAML: keys in their order, long lines kept whole, non-ASCII as it is; written
    by yaml_block where it can write it as libyaml would (most templates), by libyaml otherwise."""
    text = block_yaml(template)
    if text is not None:
        return text
    return yaml.dump(template, Dumper=SentinelDumper, sort_keys=False, allow_unicode=True, width=WIDTH)
