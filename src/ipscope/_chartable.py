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

The tables ship in ``_data/chartable.npz`` so every process tokenises identically whatever
Unicode version its Python has; ``python -m ipscope._chartable`` regenerates the file and
a test checks it against this code.
"""

from __future__ import annotations

import unicodedata
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


def generate() -> tuple[np.ndarray, np.ndarray]:
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
            norm[cp] = ord(f) if len(f) == 1 else cp
            continue
        if f and all(_is_word_char(ch) for ch in f):
            cls[cp] = 1
            if len(f) == 1 and cat[0] != "M" and unicodedata.combining(f) == 0:
                norm[cp] = ord(f)
    return cls, norm


def write(path: Path = DATA_FILE) -> None:
    cls, norm = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # store norm as a delta from the identity: mostly zeros, so it compresses to a few KB
    delta = np.where(norm >= 0, norm - np.arange(LIMIT, dtype=np.int32), np.int32(-(2**30)))
    np.savez_compressed(path, cls=cls, delta=delta.astype(np.int32),
                        unidata=np.array(unicodedata.unidata_version))


@lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
    """(cls, norm) arrays of length LIMIT, read from the shipped file."""
    with np.load(DATA_FILE, allow_pickle=False) as z:
        cls = z["cls"]
        delta = z["delta"]
    norm = np.where(delta == -(2**30), -1, delta + np.arange(LIMIT, dtype=np.int32)).astype(np.int32)
    return cls, norm


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    write()
    print(f"wrote {DATA_FILE}")
