"""Tokenisation: NFKC + casefold, what is a token, offsets into the original string."""

from __future__ import annotations

import string
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipscope import _chartable
from ipscope.text import Tokens, normalize, token_hash, tokenize


def toks(text: str) -> list[str]:
    return tokenize(text).strings(text)


def hashes(text: str) -> list[int]:
    return tokenize(text).hashes.tolist()


def spans(text: str) -> list[str]:
    t = tokenize(text)
    return [text[s:e] for s, e in zip(t.starts.tolist(), t.ends.tolist())]


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ﬁne", "fine"),  # ligature (NFKC)
        ("Straße", "STRASSE"),  # full case folding, not lower()
        ("ＡＢＣ", "abc"),  # fullwidth
        ("cafe\u0301", "café"),  # decomposed vs precomposed
        ("Ǆemal", "džemal"),  # titlecase digraph
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),  # final sigma folds with sigma
        ("x²", "x2"),  # superscript (NFKC)
        ("Ⅻ", "xii"),  # roman numeral compatibility form
        ("ｶ", "カ"),  # halfwidth katakana
    ],
)
def test_equivalent_forms_hash_equal(a: str, b: str) -> None:
    assert hashes(a) == hashes(b)
    assert len(hashes(a)) >= 1
    assert toks(a) == toks(b)


def test_different_words_hash_different() -> None:
    assert hashes("cafe") != hashes("café")
    assert hashes("fine") != hashes("find")
    assert len(set(hashes("the quick brown fox jumps over the lazy dog"))) == 8


def test_normalize_is_idempotent_on_examples() -> None:
    for s in ("Straße", "ﬁne", "ＡＢＣ", "cafe\u0301", "“x”—y"):
        assert normalize(normalize(s)) == normalize(s)


# Text written in NFD (macOS file names and copies from them), halfwidth katakana with
# sound marks (legacy Japanese text) and conjoining Hangul jamo are NFKC-equivalent to the
# precomposed characters, so by the module's rule ("compared after NFKC") they must hash
# the same. The fast path hashes code points one by one and treats the CJK "single token"
# class before composition, so these come out as different tokens.
@pytest.mark.parametrize(
    ("decomposed", "composed"),
    [
        pytest.param("カ\u3099", "ガ", id="nfd-kana-dakuten"),
        pytest.param("ｶﾞｯｺｳ", "ガッコウ", id="halfwidth-kana-dakuten"),
        pytest.param("\u1100\u1161", "\uac00", id="hangul-jamo-LV"),
        pytest.param("\uac00\u11a8", "\uac01", id="hangul-LV+T"),
    ],
)
def test_nfkc_equivalent_cjk_hash_equal(decomposed: str, composed: str) -> None:
    assert unicodedata.normalize("NFKC", decomposed) == composed
    assert hashes(decomposed) == hashes(composed)


# ------------------------------------------------------------------ what is a token


def test_words_digits_and_marks() -> None:
    assert toks("Hello, World! 42 times") == ["hello", "world", "42", "times"]
    assert toks("naïve résumé") == ["naïve", "résumé"]
    assert toks("a1b2 x_y") == ["a1b2", "x", "y"]  # underscore is punctuation


@pytest.mark.parametrize("text", ["", " ", "\n\t\r ", "...!?", "“ ” ‘ ’ « »", "— – - ‐ −", "$%&*+<=>@^|~", "\u00a0\u2003\u3000"])
def test_punctuation_quotes_dashes_whitespace_are_not_tokens(text: str) -> None:
    t = tokenize(text)
    assert len(t) == 0
    assert t.starts.shape == t.ends.shape == t.hashes.shape == (0,)


def test_quotes_and_dashes_split_but_do_not_count() -> None:
    assert toks("“Well”—she said—‘no’") == ["well", "she", "said", "no"]
    assert hashes("don't") == hashes("don’t") == hashes("don t")
    assert hashes("e-mail") == hashes("e–mail") == hashes("e mail")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("子曰學而時習之", list("子曰學而時習之")),
        ("ひらがなカタカナ", list("ひらがなカタカナ")),
        ("한국어", list("한국어")),
        ("東京abc大学", ["東", "京", "abc", "大", "学"]),
        ("子曰：“学而时习之。”", list("子曰学而时习之")),  # CJK punctuation is not a token
    ],
)
def test_cjk_one_token_per_character(text: str, expected: list[str]) -> None:
    assert spans(text) == expected


def test_offsets_point_into_the_original_string() -> None:
    text = "  “Straße”, ﬁne — cafe\u0301 ＡＢＣ 子曰\n"
    t = tokenize(text)
    assert spans(text) == ["Straße", "ﬁne", "cafe\u0301", "ＡＢＣ", "子", "曰"]
    assert t.strings(text) == ["strasse", "fine", "café", "abc", "子", "曰"]
    assert t.starts.dtype == np.int64 and t.ends.dtype == np.int64 and t.hashes.dtype == np.uint64
    assert isinstance(t, Tokens) and len(t) == 6


def test_offsets_are_code_points_beyond_the_bmp() -> None:
    text = "😀 𠀀𠀁 word"  # emoji (not a token), two Extension B ideographs (one each)
    assert spans(text) == ["𠀀", "𠀁", "word"]
    assert tokenize(text).starts.tolist() == [2, 3, 5]


def test_token_hash_matches_tokenize() -> None:
    for word in ("Straße", "ﬁne", "cafe\u0301", "ＡＢＣ", "子"):
        assert hashes(word) == [token_hash(word)]


# ------------------------------------------------------------------ properties

_PROP = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# any text, including marks, CJK, astral code points and punctuation
any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@_PROP
@given(any_text)
def test_offsets_increasing_nonoverlapping_in_bounds(text: str) -> None:
    t = tokenize(text)
    s, e = t.starts, t.ends
    assert (s >= 0).all() and (e <= len(text)).all()
    assert (s < e).all()
    assert (s[1:] >= e[:-1]).all()
    # no token starts or ends in a whitespace character
    for a, b in zip(s.tolist(), e.tolist()):
        assert not text[a].isspace() and not text[b - 1].isspace()


@_PROP
@given(any_text, any_text)
def test_concatenation_with_space(a: str, b: str) -> None:
    ta, tb, tab = tokenize(a), tokenize(b), tokenize(a + " " + b)
    shift = len(a) + 1
    assert tab.hashes.tolist() == ta.hashes.tolist() + tb.hashes.tolist()
    assert tab.starts.tolist() == ta.starts.tolist() + (tb.starts + shift).tolist()
    assert tab.ends.tolist() == ta.ends.tolist() + (tb.ends + shift).tolist()


@_PROP
@given(st.text(alphabet=string.ascii_letters + string.digits + " .,;'-\n", max_size=80))
def test_ascii_case_does_not_matter(text: str) -> None:
    lo, up = tokenize(text.lower()), tokenize(text.upper())
    assert lo.hashes.tolist() == up.hashes.tolist() == tokenize(text).hashes.tolist()
    assert lo.starts.tolist() == up.starts.tolist()


@_PROP
@given(any_text)
def test_each_token_hash_is_the_hash_of_its_normal_form(text: str) -> None:
    # the compiled fast path and the Python slow path must agree token by token
    t = tokenize(text)
    for a, b, h in zip(t.starts.tolist(), t.ends.tolist(), t.hashes.tolist()):
        assert h == token_hash(text[a:b])



def test_shipped_char_table_equals_generated() -> None:
    cls, norm = _chartable.generate()
    shipped_cls, shipped_norm = _chartable.load()
    assert shipped_cls.shape == cls.shape == (_chartable.LIMIT,)
    np.testing.assert_array_equal(shipped_cls, cls)
    np.testing.assert_array_equal(shipped_norm, norm)
