"""The query dialects: one pySigma backend class per target language."""
