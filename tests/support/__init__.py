"""Test-only helpers: the real grammars, and fixtures shared by the suites."""
