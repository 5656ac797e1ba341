"""Tokenisation: NFKC + casefold, what is a token, offsets into the original string."""

from __future__ import annotations

import re
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
    # from unicodedata and the shipped script fold (this part needs no OpenCC)
    cls, norm = _chartable.generate()
    shipped_cls, shipped_norm = _chartable.load()
    assert shipped_cls.shape == cls.shape == (_chartable.LIMIT,)
    np.testing.assert_array_equal(shipped_cls, cls)
    np.testing.assert_array_equal(shipped_norm, norm)


def test_shipped_script_fold_equals_the_one_opencc_gives() -> None:
    opencc = pytest.importorskip("opencc", reason="regenerating the fold needs OpenCC: pip install 'ipscope[dev]'")
    if opencc.__version__ != _chartable.OPENCC_VERSION:
        pytest.skip(f"the shipped fold is from OpenCC {_chartable.OPENCC_VERSION}; {opencc.__version__} is installed")
    assert _chartable.opencc_fold() == _chartable.load_fold()


# ------------------------------------------------------------------ Chinese script folding

FOLD = _chartable.load_fold()


@pytest.fixture(scope="module")
def unfolded_norm() -> np.ndarray:
    return _chartable.generate({})[1]


@pytest.mark.parametrize(
    "forms",
    [
        "國国", "學学", "們们", "話话", "開开", "願愿",  # traditional / simplified
        "發髮发", "後后", "乾幹干", "隻只", "鐘鍾钟",  # several traditional characters merged by simplification
        "爲為为", "僞偽伪", "啓啟启", "峯峰", "牀床",  # variant forms (異體字) OpenCC's t2s already unifies
        "著着", "衞衛卫", "糉糭粽",  # Taiwan / Hong Kong variant forms (tw2t, hk2t)
        "麼麽么幺",  # 幺 is OpenCC's standard form of Taiwan's 么, which is also the simplified 麼
    ],
)
def test_chinese_script_forms_are_one_token(forms: str) -> None:
    assert len(set(hashes(" ".join(forms)))) == 1
    assert len(set(toks(forms))) == 1


@pytest.mark.parametrize("pair", ["干千", "发后", "画划", "台合", "复覆", "苏甦", "借藉", "着看"])
def test_distinct_characters_stay_distinct(pair: str) -> None:
    # 画/划, 复/覆, 苏/甦, 借/藉: OpenCC converts 畫, 覆, 甦, 藉 to the other form only inside some phrases
    # (計畫 -> 计划, 甦醒 -> 苏醒), not as characters: folding them would merge characters that differ
    a, b = hashes(pair)
    assert a != b


def test_fold_is_one_code_point_to_one_and_keeps_offsets() -> None:
    trad = "孟子見梁惠王。王曰：「叟不遠千里而來，亦將有以利吾國乎？」"
    simp = "孟子见梁惠王。王曰：「叟不远千里而来，亦将有以利吾国乎？」"
    a, b = tokenize(trad), tokenize(simp)
    assert a.hashes.tolist() == b.hashes.tolist()
    assert a.starts.tolist() == b.starts.tolist() and a.ends.tolist() == b.ends.tolist()
    assert spans(trad)[-2] == "國" and spans(simp)[-2] == "国"  # offsets in each text's own characters
    assert normalize(trad) == normalize(simp) == normalize("孟子见梁惠王。王曰:「叟不远千里而来,亦将有以利吾国乎?」")


def test_fold_is_a_fold() -> None:
    assert len(FOLD) > 4000
    # idempotent: a representative folds to itself
    assert not set(FOLD.values()) & set(FOLD)
    assert all(normalize(normalize(chr(c))) == normalize(chr(c)) for c in list(FOLD)[:: 50])
    # only unified Han ideographs, on both sides: no kana, Hangul, Latin or compatibility ideographs
    for c in set(FOLD) | set(FOLD.values()):
        assert unicodedata.name(chr(c)).startswith("CJK UNIFIED IDEOGRAPH-"), hex(c)


def test_only_han_characters_change(unfolded_norm: np.ndarray) -> None:
    _, norm = _chartable.load()
    changed = np.flatnonzero(norm != unfolded_norm)
    # each changed code point normalises (NFKC) to a folded character: the characters themselves, and
    # the compatibility ideographs and Kangxi radicals that NFKC maps onto them (U+F900.., ⾨ -> 門)
    assert set(unfolded_norm[changed].tolist()) <= set(FOLD)
    assert set(changed.tolist()) >= set(FOLD)
    # (and circled or squared ideographs: ㊥ -> 中): no kana, Hangul, Latin or anything else
    odd = [chr(c) for c in changed.tolist() if not re.search(r"IDEOGRAPH|RADICAL", unicodedata.name(chr(c)))]
    assert not odd


def test_japanese_and_korean_text_is_untouched_but_shared_kanji_fold(unfolded_norm: np.ndarray) -> None:
    ja = "国立国會図書館の學校で、ひらがなとカタカナとｶﾀｶﾅを学ぶ。東京は日本の首都です。"
    ko = "대한민국 國語 한국어를 배웁니다"
    _, norm = _chartable.load()
    for text in (ja, ko):
        for ch in text:
            if not 0x3400 <= ord(ch) <= 0x9FFF:  # kana, Hangul, punctuation: as before the fold
                assert norm[ord(ch)] == unfolded_norm[ord(ch)], ch
    # shinjitai and kyūjitai that are also simplified / traditional pairs fold together (國/国, 學/学) ...
    assert hashes("国 学 会")[:2] == hashes("國 學 會")[:2]
    # ... shinjitai forms that are not Chinese simplified forms do not (図 vs 圖 -> 图); Japanese still
    # matches Japanese, as both sides fold alike
    assert hashes("図") != hashes("圖")
    assert toks("図書館の学校") == ["図", "书", "馆", "の", "学", "校"]
    assert toks("한국어") == list("한국어")


# any mix of folded characters, their representatives, kana, Hangul jamo and combining marks
_fold_chars = "".join(chr(c) for c in list(FOLD)[::40] + list(set(FOLD.values()))[::40])
fold_text = st.text(alphabet=st.sampled_from(_fold_chars + "ガカ\u3099ｶﾞ\u1100\u1161가\u0301\ufe00豈 ab,。"), max_size=40)


@_PROP
@given(fold_text)
def test_fast_and_slow_paths_agree_on_folded_text(text: str) -> None:
    t = tokenize(text)
    for a, b, h in zip(t.starts.tolist(), t.ends.tolist(), t.hashes.tolist()):
        assert h == token_hash(text[a:b])
    assert normalize(normalize(text)) == normalize(text)
