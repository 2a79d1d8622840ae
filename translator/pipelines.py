"""Loading the processing pipelines in pipelines/ (data) into fresh pySigma pipeline objects."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import yaml
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline

import translator.transformations  # noqa: F401  (registers the transformation types pipelines name)

# The pipelines are part of the compiler's definition, so they are found beside the package.
PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PipelineError(Exception):
    """A pipeline file that cannot be read: a defect of the project, not of a rule."""


@cache
def _definition(path: Path) -> dict:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as e:
        raise PipelineError(f"{path}: cannot load pipeline: {e}") from e


def load_pipeline(path: Path) -> ProcessingPipeline:
    """A new pipeline object: pySigma pipelines carry per-rule state, so each conversion gets its own."""
    try:
        return ProcessingPipeline.from_dict(copy.deepcopy(_definition(path)))
    except SigmaError as e:
        raise PipelineError(f"{path}: invalid pipeline: {e}") from e
