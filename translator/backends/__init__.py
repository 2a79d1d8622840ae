"""The query dialects: one pySigma backend class per target language."""

from collections import defaultdict

# A backend's pipelines per output format, for the backends here: none. pySigma joins the backend's
# pipeline, the given one and the output format's with `+` (init_processing_pipeline); `+ None` gives
# the pipeline as it is, where `+` of an empty pipeline makes one more copy that binds every processing
# item anew, for the same items and variables. pySigma's field analysis takes None for "none" too.
NO_FORMAT_PIPELINES: defaultdict[str, None] = defaultdict(lambda: None)
