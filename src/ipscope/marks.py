"""What a text's own marks say about it, for the labels of ``ipscope similar``: which characters lie inside
quotation marks (a copied passage the writer set in quotes is ``quoted``, not ``copy``) and which script it is
written in (passages aligned by meaning across scripts are a ``translation``, with their own thresholds).
"""

from __future__ import annotations

import re

import numpy as np

# opening mark -> closing mark. Single curly quotes are left out: U+2019 is also the apostrophe ("don't"), so
# pairing them would open or close a quotation at every elided word.
PAIRS = {"\u201c": "\u201d", "\u201e": "\u201c", "\u00ab": "\u00bb", "\u2039": "\u203a", "\u300c": "\u300d",
         "\u300e": "\u300f", "\uff02": "\uff02"}
# a quotation does not run past a blank line (a mark left open in a paragraph, as novels leave the opening mark
# of a speech that goes on in the next paragraph, closes at the paragraph's end)
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")
# a block quotation: lines starting with ">" (e-mail, Markdown). Indentation is not read as quotation: verse and
# letters inside novels are indented too.
_BLOCK = re.compile(r"^[ \t]*>.*$", re.M)


def quoted_chars(text: str) -> np.ndarray:
    """bool per character of ``text``: inside a quotation (between paired quotation marks, marks included, or on
    a line that starts with ">")."""
    out = np.zeros(len(text), bool)
    pos = 0
    for para in _PARAGRAPH.split(text) if text else []:
        start = text.index(para, pos) if para else pos
        pos = start + len(para)
        _mark_pairs(para, start, out)
    for mo in _BLOCK.finditer(text):
        out[mo.start() : mo.end()] = True
    return out


def _mark_pairs(para: str, base: int, out: np.ndarray) -> None:
    open_at = -1
    close = ""
    for k, ch in enumerate(para):
        if open_at < 0:
            if ch in PAIRS:
                open_at, close = k, PAIRS[ch]
            elif ch == '"':
                open_at, close = k, '"'
        elif ch == close:
            out[base + open_at : base + k + 1] = True
            open_at = -1
    if open_at >= 0:  # left open: to the paragraph's end
        out[base + open_at : base + len(para)] = True


def quoted_tokens(text: str, starts: np.ndarray) -> np.ndarray:
    """bool per token (by its first character's offset in ``text``): inside a quotation."""
    chars = quoted_chars(text)
    if starts.shape[0] == 0 or chars.shape[0] == 0:
        return np.zeros(starts.shape[0], bool)
    return chars[np.minimum(starts.astype(np.int64), chars.shape[0] - 1)]


# dominant script of a text: the block of most of its letters. Chinese and Japanese (Han with kana) are one
# script here ("cjk"), so a Japanese text against a Chinese one is not taken for a translation.
_SCRIPTS = (
    ("cjk", re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")),
    ("hangul", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("greek", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")),
)


def script(text: str, sample: int = 4000) -> str:
    """The script most letters of ``text`` (its first ``sample`` characters) are written in, or "" for none."""
    head = text[:sample]
    counts = [(len(rx.findall(head)), name) for name, rx in _SCRIPTS]
    n, name = max(counts)
    return name if n else ""
