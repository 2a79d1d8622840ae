"""Import-ready rule files built around the compiled queries: Elastic Security and Microsoft Sentinel.

Each package turns one rule and the queries it compiled to into files of a SIEM's import format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from translator.attack import attack
from translator.config import DEFAULT, Config
from translator.model import RuleSource
from translator.packaging.kibana import KibanaRules
from translator.packaging.sentinel import SentinelRuleBuilder
from translator.targets import Rendered


@dataclass(frozen=True)
class File:
    kind: str  # the manifest's kind
    directory: str  # under output/
    suffix: str
    content: bytes


@dataclass(frozen=True)
class Package:
    name: str
    needs: tuple[str, ...]  # the query targets it is built from; without one of them it is not built
    uses: tuple[str, ...]  # every query target it reads: rendered for it even when not built themselves
    make: Callable[[RuleSource, dict[str, Rendered], Config], list[File]]


def _kibana(source: RuleSource, queries: dict[str, Rendered], config: Config = DEFAULT) -> list[File]:
    rules = KibanaRules(source, queries["kibana-kql"], queries.get("eql"), attack(), config)
    return [File("kibana-rule", "kibana-rules", ".ndjson", rules.ndjson())]


def _sentinel(source: RuleSource, queries: dict[str, Rendered], config: Config = DEFAULT) -> list[File]:
    rule = SentinelRuleBuilder(source, queries["sentinel-kql"], attack(), config).build()
    return [
        File("sentinel-rule-yaml", "sentinel-rules", ".yaml", rule.yaml()),
        File("sentinel-arm", "sentinel-arm", ".json", rule.arm_json()),
    ]


PACKAGES = (
    Package("kibana-rules", ("kibana-kql",), ("kibana-kql", "eql"), _kibana),  # EQL joins where it compiled
    Package("sentinel-rules", ("sentinel-kql",), ("sentinel-kql",), _sentinel),
)
