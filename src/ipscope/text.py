"""Normalisation and tokenisation with character offsets into the original text.

Rules (format ``TOKENIZER`` below, recorded in every index manifest):

* Text is compared after NFKC, case folding and NFKC again; curly quotes, primes and the
  dash family are unified with their ASCII forms (:func:`normalize`).
* A token is a maximal run of letters, digits and combining marks, or a single CJK
  ideograph, kana or Hangul syllable. Punctuation, symbols and whitespace are not tokens.
* Every token keeps its half-open character offsets in the *original* string, so a match
  found on normalised tokens points at the exact characters a person wrote.
* Chinese scripts are folded (``SCRIPT_FOLDING``): a traditional character, its simplified form
  and its Taiwan / Hong Kong variant forms normalise to one character (國/国, 發/髮/发, 爲/為/为,
  著/着), from OpenCC's tables, one code point to one (see :mod:`ipscope._chartable`). So a
  simplified copy of a traditional text matches verbatim; offsets stay in each text's own
  characters. Characters that simplification merged are one token (發 and 髮 both match 发).
* A token's identity is a 64-bit hash of its normalised characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from . import _chartable

TOKENIZER = "ipscope-words-cjk-v2"  # v2: Chinese script folding
SCRIPT_FOLDING = _chartable.FOLDING  # recorded in every index manifest (params.script_folding)

_UNIFY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
    }
)


@lru_cache(maxsize=1)
def _translation() -> dict[int, int | str]:
    # quotes and dashes, and the Chinese script fold: both one character to one character
    return {**_UNIFY, **_chartable.load_fold()}


def normalize(text: str) -> str:
    """The comparison form of ``text``: NFKC, casefold, NFKC, quotes and dashes unified,
    Chinese scripts folded."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return folded.translate(_translation())


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of one text: offsets in the original string and normalised-form hashes."""

    starts: np.ndarray  # int64, char offset of each token
    ends: np.ndarray  # int64, half-open
    hashes: np.ndarray  # uint64

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def strings(self, text: str) -> list[str]:
        """The tokens as normalised strings (for people and tests, not hot paths)."""
        return [normalize(text[s:e]) for s, e in zip(self.starts.tolist(), self.ends.tolist())]


def codepoints(text: str) -> np.ndarray:
    """Code points of ``text`` as uint32 without a per-character Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def tokenize(text: str) -> Tokens:
    """Tokenise ``text`` (see the module docstring for the rules)."""
    from . import _kernels

    cls, norm = _chartable.load()
    starts, ends, hashes, cplx = _kernels.tokenize(codepoints(text), cls, norm)
    for k in np.flatnonzero(cplx).tolist():  # tokens the tables cannot normalise char by char
        hashes[k] = token_hash(text[starts[k] : ends[k]])
    return Tokens(starts, ends, hashes)


def token_hash(token: str) -> int:
    """Hash of a single token string (normalised first)."""
    from . import _kernels

    return int(_kernels.hash_codepoints(codepoints(normalize(token))))


class QueryState:
    """The state of one query's phases in one process (``trace()``, ``similar()``): its tokens, and its token ids
    per shard (``ipscope.trace``). The in-process driver makes one per query and hands it to the rounds and the
    shard calls, so nothing of a query outlives it or is seen by another thread; a shard server makes none (each
    of its requests stands alone)."""

    __slots__ = ("text", "toks", "ids", "memo")

    def __init__(self) -> None:
        self.text: str | None = None
        self.toks: Tokens | None = None
        self.ids: dict[int, np.ndarray] = {}  # the query's token ids per shard (one index: the driver's)
        self.memo: dict[Any, Any] = {}  # what else the phases derive from the query once (``similar``'s terms)

    def tokens(self, text: str) -> Tokens:
        """``tokenize(text)``, once for this query (a new text starts the state afresh)."""
        if self.toks is None or self.text is not text:
            self.text, self.toks, self.ids, self.memo = text, tokenize(text), {}, {}
        return self.toks


def tokenize_once(text: str, state: QueryState | None = None) -> Tokens:
    """``tokenize(text)``, kept in ``state`` (a query's phases in one process each take the query's text and would
    tokenise it again); without a state, tokenised now. The caller must not change the arrays."""
    return state.tokens(text) if state is not None else tokenize(text)
