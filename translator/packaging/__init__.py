"""Import-ready rule files built around the compiled queries: Elastic Security and Microsoft Sentinel.

Each package turns one rule and the queries it compiled to into files of a SIEM's import format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from translator.attack import attack
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
    make: Callable[[RuleSource, dict[str, Rendered]], list[File]]


def _kibana(source: RuleSource, queries: dict[str, Rendered]) -> list[File]:
    rules = KibanaRules(source, queries["kibana-kql"], queries.get("eql"), attack())
    return [File("kibana-rule", "kibana-rules", ".ndjson", rules.ndjson())]


def _sentinel(source: RuleSource, queries: dict[str, Rendered]) -> list[File]:
    rule = SentinelRuleBuilder(source, queries["sentinel-kql"], attack()).build()
    return [
        File("sentinel-rule-yaml", "sentinel-rules", ".yaml", rule.yaml()),
        File("sentinel-arm", "sentinel-arm", ".json", rule.arm_json()),
    ]


PACKAGES = (
    Package("kibana-rules", ("kibana-kql",), _kibana),  # the EQL rule joins it where EQL compiled
    Package("sentinel-rules", ("sentinel-kql",), _sentinel),
)
