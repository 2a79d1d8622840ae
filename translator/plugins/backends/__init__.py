"""Our targets as pySigma backends; installed as sigma.backends.translator, where sigma-cli finds them.

pySigma registers every backend class at this module's top level under its `identifier`, so only the
plugin classes are bound here (the classes they extend are reached through their modules).
"""

from __future__ import annotations

from typing import ClassVar

import translator.backends.eql
import translator.backends.kibana_kql
import translator.backends.sentinel_kql
from translator.sigma_cli import BACKEND_IDS, RuleAttributes


class TranslatorKibanaKqlBackend(translator.backends.kibana_kql.KibanaKqlBackend):
    """The kibana-kql target; needs translator_ecs (or another pipeline to ECS)."""

    identifier: ClassVar[str] = BACKEND_IDS["kibana-kql"]
    requires_pipeline: ClassVar[bool] = True


class TranslatorEqlBackend(translator.backends.eql.ElasticEqlBackend):
    """The eql target; needs translator_ecs."""

    identifier: ClassVar[str] = BACKEND_IDS["eql"]
    requires_pipeline: ClassVar[bool] = True


class TranslatorSentinelKqlBackend(RuleAttributes, translator.backends.sentinel_kql.SentinelKqlBackend):
    """The sentinel-kql target, first-seen rules included; needs translator_sentinel."""

    identifier: ClassVar[str] = BACKEND_IDS["sentinel-kql"]
    requires_pipeline: ClassVar[bool] = True
