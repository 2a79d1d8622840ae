"""Sigma regular expressions (search, PCRE style) become Lucene RegExps (whole value) for EQL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError

from support.eql_eval import lucene_to_python
from translator.backends.eql import lucene_regex

PATTERNS = [
    r"^MICROSOFT\.COMPUTE/.*/ACTION$",
    r"connect",
    r"a\d+b",
    r"^a|b$",
    r"x[\w-]+@y",
    r"(?:ab|cd)e",
    r"a.*?b",
    r"a??b",
    r"\*?x",
    r"a\$",
    r"a\\$",
    r"a#b~c<d>",
    r"[^\d]x",
    r"\s",
    r"^$",
    r"a.b",
    r"a{2,}b",
    r"x{,2}y",
    r"a{b}",
    r"[]x]",
    r"[^]x]+$",
]
TEXTS = ["MICROSOFT.COMPUTE/VM/ACTION", "xx connect yy", "a12b", "a", "b", "za", "xab-c@y", "abe", "cde",
         "a$", "a\\", "za#b~c<d>z", "1x", "ax", "a b", "", "aZb", "a\nb", "aab", "y", "xxxy", "a{b}", "]",
         "*x", "zz"]  # fmt: skip


def finds(pattern: str, texts: list[str], dotall: bool = False) -> list[tuple[str, bool, bool]]:
    """(text, Lucene whole-value match, PCRE-style search) for each text; Lucene's dot is any char."""
    lucene = re.compile(lucene_to_python(lucene_regex(pattern, dotall)), re.DOTALL)
    search = re.compile(pattern, re.DOTALL if dotall else 0)
    return [(t, bool(lucene.fullmatch(t)), bool(search.search(t))) for t in texts]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("dotall", [False, True])
def test_lucene_form_finds_what_the_search_finds(pattern: str, dotall: bool) -> None:
    for text, lucene, search in finds(pattern, TEXTS, dotall):
        assert lucene == search, (pattern, text)


TOKENS = ["a", "b", ".", r"\d", r"\w", r"\S", "[ab]", "[^a]", "*", "+", "?", "{1,2}", "{2}", "|", "(?:", "(",
          ")", "^", "$", r"\.", "#", "{", "}", "@", "-"]  # fmt: skip


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=7).map("".join),
    st.lists(st.text("ab1 .\n#{}@-", max_size=6), min_size=1, max_size=8),
)
def test_any_accepted_pattern_finds_what_python_re_finds(pattern: str, texts: list[str]) -> None:
    try:
        re.compile(pattern)
        finds(pattern, [], False)
    except (re.error, SigmaFeatureNotSupportedByBackendError):
        return  # not a regular expression, or one the converter refuses (below)
    for text, lucene, search in finds(pattern, texts):
        assert lucene == search, (pattern, text)


@pytest.mark.parametrize(
    "pattern", [r"a(?=b)", r"(?i)abc", r"a\bb", r"(a)\1", r"a^b", r"a$b", r"a*+b", r"[[:alpha:]]"]
)
def test_what_lucene_cannot_say_is_refused(pattern: str) -> None:
    with pytest.raises(SigmaFeatureNotSupportedByBackendError):
        lucene_regex(pattern)
