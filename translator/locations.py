"""Where the compiler's data files are, wherever it is installed; light (no pySigma) for translator.cache.

The pipelines live in the repository's top-level pipelines/ (data, not code) and are installed as the
package `translator.pipeline_files` (pyproject.toml maps it to that folder): a wheel holds a copy, an
editable install (`make build`) links to the repository's files, and both are found the same way,
through importlib.resources. Python run from the repository's root imports the source tree's
translator/ first, which has no such package: there the files are the repository's own pipelines/.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PIPELINES_PACKAGE = "translator.pipeline_files"
PIPELINES_INDEX = "logsources.yml"  # the one file every pipelines folder holds
SOURCE_PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


def pipelines_dir() -> Path:
    """The folder the pipeline files are loaded from.

    The package is a namespace package (pipelines/ holds no Python), whose resources are a multiplexed
    path; the index file inside it names its one real folder.
    """
    try:
        index = importlib.resources.files(PIPELINES_PACKAGE) / PIPELINES_INDEX
    except ModuleNotFoundError:
        return SOURCE_PIPELINES
    return Path(str(index)).parent
