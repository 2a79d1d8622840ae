"""Our pipelines per storage model as pySigma pipelines; installed as sigma.pipelines.translator.

Each applies, to every rule, the pipelines pipelines/logsources.yml names for the rule's log source
(translator/sigma_cli.py), so `sigma convert -p translator_ecs` maps a rule as `translator build` does.
"""

from __future__ import annotations

from sigma.processing.pipeline import ProcessingPipeline

from translator.sigma_cli import PIPELINE_IDS, model_pipeline

__all__ = ["pipelines"]  # pySigma would register every public name bound here


def translator_ecs() -> ProcessingPipeline:
    """Azure log sources to the documents of Elastic's Azure integration (kibana-kql, eql)."""
    return model_pipeline("ecs")


def translator_sentinel() -> ProcessingPipeline:
    """Azure log sources to the Microsoft Sentinel tables (sentinel-kql)."""
    return model_pipeline("sentinel")


pipelines = {PIPELINE_IDS["ecs"]: translator_ecs, PIPELINE_IDS["sentinel"]: translator_sentinel}
