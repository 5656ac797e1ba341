"""Per-code-point tables behind tokenisation, generated from :mod:`unicodedata`.

Two arrays over every code point up to ``LIMIT``:

* ``cls``: 0 = not part of a token (punctuation, space, symbols), 1 = word character
  (letters and digits after NFKC + casefold), 2 = a token on its own (CJK ideographs,
  kana, Hangul syllables, leading Hangul jamo), 3 = joins the token before it (combining
  marks, kana sound marks, vowel and final Hangul jamo: they compose with the character
  before them under NFKC, so "カ\u3099" is one token like "ガ").
* ``norm``: the single code point a character normalises to (NFKC, casefold, NFKC again),
  or -1 when it does not normalise to exactly one character or may compose with its
  neighbour (combining marks). Tokens holding such a character are normalised as a whole
  in Python, so the fast path never guesses.

``norm`` also folds Chinese scripts (``FOLDING``): every Han character of one traditional /
simplified / regional-variant class maps to one representative, so a simplified copy of a
traditional text (or the reverse) matches verbatim. The classes come from OpenCC, the converter
users run: each ideograph is linked to what OpenCC's ``t2s`` (traditional -> simplified), ``tw2t``
and ``hk2t`` (Taiwan / Hong Kong variant forms -> OpenCC's standard forms) make of it *on its own*
(one code point in, one out); linked characters form a class, represented by its simplified
member (the one ``t2s`` leaves unchanged and most members convert to). It is a fold of one code
point to one code point, so offsets cannot move. It conflates characters that simplification
merged (發/髮 -> 发, 後/后 -> 后, 乾/幹/干 -> 干): that is what matching simplified text needs. The
pairs come from the ``opencc`` package at development time only and ship in the data file.

The tables ship in ``_data/chartable.npz`` so every process tokenises identically whatever
Unicode version its Python has; ``python -m ipscope._chartable`` regenerates the file and
a test checks it against this code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

LIMIT = 0x32400  # beyond CJK Extension H nothing tokenises differently from "not a token"
DATA_FILE = Path(__file__).parent / "_data" / "chartable.npz"

# Ranges whose letters are one token each: ideographs, kana, Hangul syllables.
_SINGLE_RANGES = (
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3038, 0x303B),
    (0x3041, 0x3096),  # hiragana
    (0x309D, 0x309F),
    (0x30A1, 0x30FF),  # katakana (incl. ー)
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),  # CJK Ext A
    (0x4E00, 0x9FFF),  # CJK Unified
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0xFF66, 0xFF9D),  # halfwidth katakana
    (0x1B000, 0x1B16F),  # kana supplement / extended
    (0x20000, 0x323AF),  # CJK Ext B..H
)


# The OpenCC release the shipped fold was generated from (``pip install 'ipscope[dev]'`` pins it).
OPENCC_VERSION = "1.4.2"
FOLDING = f"opencc-{OPENCC_VERSION} t2s+tw2t+hk2t, one character to one"
_OPENCC_CONFIGS = ("t2s", "tw2t", "hk2t")
# Han code points OpenCC may convert. Compatibility ideographs (U+F900.., U+2F800..) are left
# out: NFKC already maps them to the unified ideograph, which is then folded.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2F7FF), (0x30000, 0x323AF))


def opencc_fold() -> dict[int, int]:
    """The script fold from OpenCC: {code point: representative} for every Han character
    that is not its class's representative. Needs the ``opencc`` package (development only)."""
    try:
        import opencc
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("regenerating the character table needs OpenCC: pip install 'ipscope[dev]'") from e
    if opencc.__version__ != OPENCC_VERSION:
        raise RuntimeError(f"the fold is pinned to OpenCC {OPENCC_VERSION}, found {opencc.__version__}: "
                           f"pip install opencc=={OPENCC_VERSION}, or change OPENCC_VERSION on purpose")
    cps = [cp for lo, hi in _HAN_RANGES for cp in range(lo, hi + 1) if unicodedata.category(chr(cp)) != "Cn"]
    # one character a line: OpenCC's phrase tables never see two characters together, so each
    # conversion is the character's own default (for 乾 -> 干 / 乾, the first candidate, 干)
    joined = "\n".join(chr(cp) for cp in cps)
    parent: dict[int, int] = {}

    def find(x: int) -> int:  # the classes have at most a few members: no path compression needed
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    t2s: dict[int, int] = {}
    for config in _OPENCC_CONFIGS:
        out = opencc.OpenCC(config).convert(joined).split("\n")
        if len(out) != len(cps):  # pragma: no cover - OpenCC changed how it treats line breaks
            raise RuntimeError(f"OpenCC {config} did not keep one character a line")
        for cp, o in zip(cps, out):
            if len(o) != 1 or o == chr(cp):
                continue  # not one character to one: no fold
            dst = ord(o)
            if not any(lo <= dst <= hi for lo, hi in _HAN_RANGES):  # pragma: no cover - never in 1.4.2
                continue
            if config == "t2s":
                t2s[cp] = dst
            a, b = find(cp), find(dst)
            if a != b:
                parent[a] = b
    classes: dict[int, list[int]] = {}
    for cp in set(parent) | set(parent.values()):
        classes.setdefault(find(cp), []).append(cp)
    fold: dict[int, int] = {}
    for members in classes.values():
        # the simplified member: one t2s leaves alone, that most members convert to, then the lowest
        fixed = [c for c in members if c not in t2s] or members
        rep = min(fixed, key=lambda c: (-sum(t2s.get(m) == c for m in members), c))
        fold.update({c: rep for c in members if c != rep})
    return fold


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


def _is_word_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"


def _joins_previous(cp: int, c: str) -> bool:
    if 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF:  # Hangul vowel and final jamo
        return True
    if cp in (0xFF9E, 0xFF9F):  # halfwidth kana sound marks (NFKC: combining U+3099/309A)
        return True
    return unicodedata.category(c)[0] == "M"


def generate(fold: Mapping[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cls, norm) from :mod:`unicodedata` and the script fold (by default the shipped one)."""
    fold = load_fold() if fold is None else fold
    cls = np.zeros(LIMIT, dtype=np.uint8)
    norm = np.full(LIMIT, -1, dtype=np.int32)
    single = np.zeros(LIMIT, dtype=bool)
    for lo, hi in _SINGLE_RANGES:
        single[lo : hi + 1] = True
    for cp in range(LIMIT):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat in ("Cn", "Co", "Cs"):
            continue
        f = _fold(c)
        if _joins_previous(cp, c):
            cls[cp] = 3  # norm stays -1: a token holding it is normalised as a whole
            continue
        if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97F:  # leading jamo start a syllable
            cls[cp] = 2
            continue
        if single[cp] and cat[0] == "L":
            cls[cp] = 2
            norm[cp] = fold.get(ord(f), ord(f)) if len(f) == 1 else cp
            continue
        if f and all(_is_word_char(ch) for ch in f):
            cls[cp] = 1
            if len(f) == 1 and cat[0] != "M" and unicodedata.combining(f) == 0:
                norm[cp] = fold.get(ord(f), ord(f))
    return cls, norm


def write(path: Path = DATA_FILE) -> None:
    fold = opencc_fold()
    cls, norm = generate(fold)
    src = np.array(sorted(fold), dtype=np.int32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # store norm as a delta from the identity: mostly zeros, so it compresses to a few KB
    delta = np.where(norm >= 0, norm - np.arange(LIMIT, dtype=np.int32), np.int32(-(2**30)))
    np.savez_compressed(path, cls=cls, delta=delta.astype(np.int32),
                        unidata=np.array(unicodedata.unidata_version),
                        fold_src=src, fold_dst=np.array([fold[c] for c in src.tolist()], dtype=np.int32),
                        folding=np.array(FOLDING))


@lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
    """(cls, norm) arrays of length LIMIT, read from the shipped file."""
    with np.load(DATA_FILE, allow_pickle=False) as z:
        cls = z["cls"]
        delta = z["delta"]
    norm = np.where(delta == -(2**30), -1, delta + np.arange(LIMIT, dtype=np.int32)).astype(np.int32)
    return cls, norm


@lru_cache(maxsize=1)
def load_fold() -> dict[int, int]:
    """The shipped script fold, {code point: representative} (see the module docstring)."""
    with np.load(DATA_FILE, allow_pickle=False) as z:
        if str(z["folding"]) != FOLDING:
            raise RuntimeError(f"{DATA_FILE} holds the fold {str(z['folding'])!r}, this code expects {FOLDING!r}; "
                               "regenerate it: python -m ipscope._chartable")
        return dict(zip(z["fold_src"].tolist(), z["fold_dst"].tolist()))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    write()
    print(f"wrote {DATA_FILE}")
