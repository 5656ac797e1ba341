"""Bytes -> text: the one decoder of plain-text corpus files and queries.

The order, first decisive step wins:

1. ``--encoding NAME`` (``given``) overrides everything.
2. A byte-order mark (``bom``): UTF-32 (checked first: its little-endian mark starts with UTF-16's),
   UTF-16, UTF-8. The mark is kept in the text as one character, U+FEFF, whatever the encoding, so
   offsets count it the same way in every file (and as they always did for UTF-8 files).
3. UTF-16 or UTF-32 without a mark (``detected``), recognised by its pattern of zero bytes: the
   zeros of mostly-Latin text fall on one byte of each pair (or three of each four), which no
   legacy encoding and no binary format produces; CJK text has few zeros, and the byte order in
   which it reads as text decides. This runs before NUL bytes call a file binary.
4. Valid UTF-8 (``utf-8``; plain ASCII is UTF-8).
5. NUL bytes left -> binary (``BinaryInputError``).
6. UTF-8 but for a few stray bytes (``utf-8``): four valid multi-byte characters or more for each
   invalid byte in the sample below; the stray bytes are errors.
7. Detection (``detected``) on a bounded sample (``SAMPLE_BYTES`` from just before the first byte
   that is not UTF-8) with chardet (7.x, chosen by ``benchmarks/bench_encoding.py``; DOS, Mac and
   EBCDIC code pages left out), then these rules, which are right on real files where it hesitates:

   - A Latin-1 or Windows-1252 guess is read as **Windows-1252** when bytes 0x80-0x9F occur anywhere
     in the text (curly quotes and dashes there; control codes in Latin-1), else as **Latin-1** (the
     two agree on every other byte). Other Latin code pages (Central European cp1250, ...) stand:
     only language statistics tell them apart.
   - GB2312/GBK are read as **GB18030** (a superset that decodes the same bytes the same way);
     Big5 as Big5, else its Windows (cp950) and Hong Kong (big5hkscs) supersets; Shift_JIS as
     **cp932** (Windows' superset); EUC-KR as cp949.
   - A single-byte guess for a sample a quarter or more of whose bytes are above 0x7F (a line of
     CJK text, or CJK text with a stray byte, which makes chardet drop the right encoding) gives way
     to the double-byte encoding chardet names for most pieces of the sample, else to the one that
     reads it as CJK characters (with kana: Japanese; with Hangul: Korean).
   - A guess that cannot read the whole text gives way to a superset in its family (Big5 -> cp950),
     else, when more than one byte in 200 is unreadable, to the detector's next guess that reads all.
     Fewer are stray bytes: the guess stands and they are errors (see below).

   What is guessed: which legacy encoding wrote a text that is not UTF-8 and has no mark. Short
   texts (a line) in a double-byte encoding can be valid in several (GB18030, Big5, Shift_JIS,
   Johab) and are decided by character statistics, sometimes wrongly; ``--encoding`` settles it.

Bytes the chosen encoding cannot decode are an ``UndecodableError`` (``errors="strict"``), or U+FFFD
each (``errors="replace"``), counted in ``Decoded.replacements``.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass
from typing import Callable, Literal

from ..errors import InputError

How = Literal["bom", "utf-8", "detected", "given"]
Errors = Literal["strict", "replace"]
Detector = Callable[[bytes], list[str]]

SAMPLE_BYTES = 8 << 10  # detection reads at most this much: its cost stays flat whatever the file size
BINARY_PROBE = 8192  # NUL bytes in this many first bytes (and no UTF-16/32 pattern) make a file binary

# byte-order marks, longest first (UTF-32 LE's mark begins with UTF-16 LE's)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """Text and how it was read: ``encoding`` is a Python codec name (``codecs.lookup(...).name``),
    ``how`` says what decided it, ``replacements`` counts U+FFFD put in for undecodable bytes."""

    text: str
    encoding: str
    how: How
    replacements: int = 0


class UndecodableError(InputError):
    """Bytes that are not text in the encoding decided (or given); ``position`` is the byte offset."""

    def __init__(self, message: str, fix: str, encoding: str, position: int, *, code: str | None = None,
                 params: dict | None = None) -> None:
        super().__init__(message, fix, code=code, params=params)
        self.encoding = encoding
        self.position = position


class BinaryInputError(InputError):
    """NUL bytes that no UTF-16/32 pattern explains: not a text file."""


def check_encoding(name: str) -> str:
    """The codec name of ``name`` (``latin1`` -> ``iso8859-1``); InputError if Python has no such text encoding."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise InputError(f"unknown text encoding {name!r}",
                         "give a name Python knows, e.g. utf-8, cp1252, latin-1, utf-16, gb18030, big5, cp932 "
                         "(see https://docs.python.org/3/library/codecs.html#standard-encodings)")
    return info.name


# ------------------------------------------------------------------ replacement counting

_tally = threading.local()


def _count_replace(err: UnicodeError) -> tuple[str, int]:
    # the same as Python's "replace" for decoding (one U+FFFD per error), counted
    _tally.n = getattr(_tally, "n", 0) + 1
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd", err.end


codecs.register_error("ipscope-replace", _count_replace)


class Counted:
    """Replacements made by decoders using ``handler(errors)`` within this block (this thread only)."""

    def __enter__(self) -> "Counted":
        self._before = getattr(_tally, "n", 0)
        self.n = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.n = getattr(_tally, "n", 0) - self._before


def handler(errors: Errors) -> str:
    """The codec error-handler name for ``errors``."""
    return "strict" if errors == "strict" else "ipscope-replace"


# ------------------------------------------------------------------------- sniffing


def sniff(head: bytes) -> tuple[str, How] | None:
    """The encoding a byte-order mark or a UTF-16/32 zero-byte pattern in ``head`` proves, or None."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name == "utf-32-le" and len(head) % 4 and len(head) < BINARY_PROBE:
                continue  # FF FE 00 00 in a text whose length is no multiple of 4: UTF-16 LE, then U+0000
            return name, "bom"
    name = _zero_pattern(head[:BINARY_PROBE])
    return (name, "detected") if name else None


def _zero_pattern(head: bytes) -> str | None:
    """UTF-32/UTF-16 without a mark, from where the zero bytes fall, confirmed by decoding to text.

    UTF-32: the high byte of every unit is zero. UTF-16: zeros fall (nearly) only on the high byte of
    a pair: one per ASCII character in Latin text, only at line breaks and spaces in Chinese text
    (which may have few, on both bytes); no legacy encoding has zero bytes, and binary data has them
    anywhere and seldom decodes as UTF-16 at all (a lone surrogate fails)."""
    n = len(head)
    if n < 4 or b"\x00" not in head:
        return None
    tries = []
    cut4 = n - n % 4
    units4 = cut4 // 4
    if head[3:cut4:4].count(0) == units4:
        tries.append("utf-32-le")
    if head[0:cut4:4].count(0) == units4:
        tries.append("utf-32-be")
    cut2 = n - n % 2
    even, odd = head[0:cut2:2].count(0), head[1:cut2:2].count(0)
    if odd and even * 10 <= odd:
        tries.append("utf-16-le")
    elif even and odd * 10 <= even:
        tries.append("utf-16-be")
    elif (even + odd) * 10 <= n:
        # few zeros on both bytes: CJK text, whose characters' low byte is zero now and then (U+4E00)
        # and whose line breaks put the other zeros; which byte order reads as text decides
        tries += ["utf-16-le", "utf-16-be"]
    for name in tries:
        width = 4 if "32" in name else 2
        unit = head[: n - n % width]
        try:
            text = unit.decode(name)
        except UnicodeDecodeError as e:
            if e.start < len(unit) - 4:  # only a character cut at the end of the probe is allowed
                continue
            text = unit[: e.start].decode(name)
        if _looks_like_text(text):
            return name
    return None


def _looks_like_text(text: str) -> bool:
    """Few control codes, unassigned or private-use characters: random bytes read as UTF-16 are
    ~15% unassigned or private use, text almost none."""
    if not text:
        return False
    import unicodedata

    sample = text[:4096]
    bad = sum(1 for c in sample
              if (c < " " and c not in "\t\n\r\f\v") or unicodedata.category(c) in ("Cn", "Co", "Cs"))
    return bad * 100 <= len(sample)


# ------------------------------------------------------------------------- detection


def _chardet(sample: bytes) -> list[str]:
    import chardet
    from chardet import EncodingEra

    # Only the encodings of today's files and the ISO 8859 family: DOS, Mac and mainframe (EBCDIC) code
    # pages read any short run of bytes as *something*, and chardet then proposes them for short CJK
    # texts (cp852 or cp500 for two lines of Shift_JIS in the benchmark); files in them need --encoding.
    # Every guess above chardet's threshold, best first: the rules below may pass over the first.
    found = chardet.detect_all(sample, max_bytes=SAMPLE_BYTES,
                               encoding_era=EncodingEra.MODERN_WEB | EncodingEra.LEGACY_ISO)
    return [r["encoding"] for r in found if r["encoding"]]


DETECTOR: Detector = _chardet

# the guesses a detector gives -> the codecs to try, in order (supersets read the same bytes the same way)
_FAMILY = {
    "gb2312": ["gb18030"], "gbk": ["gb18030"], "gb18030": ["gb18030"], "hz": ["gb18030"],
    "big5": ["big5", "cp950", "big5hkscs"], "cp950": ["cp950", "big5hkscs"], "big5hkscs": ["big5hkscs"],
    # not JIS X 0213 (shift_jis_2004) for cp932: it reads nearly every byte pair, so it would take the
    # stray bytes of a cp932 file for characters (a detector proposes it for just such a file)
    # a file with a stray byte (JIS X 0213 files are rare; --encoding shift_jis_2004 reads them)
    "shift_jis": ["cp932"], "cp932": ["cp932"], "shift_jis_2004": ["cp932"], "shift_jisx0213": ["cp932"],
    "euc_jp": ["euc_jp"], "euc_jis_2004": ["euc_jp"],
    "euc_kr": ["cp949"], "cp949": ["cp949"], "johab": ["johab"],
}
# single-byte Latin code pages a detector may propose for West European text with a few accents and quotes
_WESTERN = {"latin-1", "iso8859-1", "cp1252", "iso8859-15", "cp1250", "iso8859-2", "cp1254", "iso8859-9", "cp1258",
            "cp1257", "iso8859-13", "iso8859-3", "iso8859-4", "iso8859-10", "iso8859-14", "iso8859-16",
            "mac-roman", "mac-latin2", "cp850", "cp437", "cp858", "ascii", "utf-8"}


# other single-byte code pages a detector proposes (Cyrillic, Greek, Arabic, Hebrew, Thai, Vietnamese)
_SINGLE_BYTE_OTHER = {"koi8-r", "koi8-u", "cp1251", "cp1253", "cp1255", "cp1256", "cp874", "tis-620", "cp1258"}


def _norm(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except LookupError:  # a detector's name Python has no codec for (VISCII, ...): not a candidate
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def candidates(sample: bytes, guesses: list[str], detector: Detector | None = None) -> list[list[str]]:
    """The codecs to try for ``sample``, best first, in groups: each guess of the detector mapped through
    the rules above to the codecs that read its bytes (a family: Big5, then its supersets)."""
    out: list[list[str]] = []
    c1 = C1_BYTES.search(sample) is not None
    western = "cp1252" if c1 else "iso8859-1"
    first = _norm(guesses[0]) if guesses else None
    if first is None or first in _WESTERN or first in _SINGLE_BYTE_OTHER or first.startswith("iso8859"):
        high = len(sample.translate(None, _ASCII))  # the bytes above 0x7F
        if high * 4 >= len(sample):
            # A quarter of the bytes or more above 0x7F is no West European text (French has ~3%). A
            # single-byte guess then is the detector's answer for a line or two of CJK text it could not
            # place, or for CJK text with a stray byte (a detector drops an encoding at its first invalid
            # byte): a double-byte encoding that reads it as CJK wins, by the detector's vote on pieces
            # of the sample (a stray byte spoils one), else by which reads it as CJK characters.
            cjk = (_vote(sample, detector) if detector else None) or _cjk_reading(sample)
            if cjk:
                out.append(_FAMILY.get(cjk, [cjk]))
    for g in guesses:
        name = _norm(g)
        if name is None or name in ("ascii", "utf-8"):
            continue
        if name in ("iso8859-1", "cp1252"):
            out.append([western])  # the two differ only in 0x80-0x9F
        elif name in _WESTERN or name in _SINGLE_BYTE_OTHER or name.startswith("iso8859"):
            out.append([name])  # Central European, Cyrillic, ...: chardet's language statistics decide
        else:
            out.append(_FAMILY.get(name, [name]))
    if not out:  # no guess: every byte sequence is a text in Latin-1 and nearly every one in Windows-1252
        out.append([western])
    seen: set[str] = set()
    groups = []
    for group in out:
        group = [n for n in group if n not in seen]
        seen.update(group)
        if group:
            groups.append(group)
    return groups


_CJK_CODECS = ("gb18030", "big5", "cp932", "euc_jp", "cp949")


def _vote(sample: bytes, detector: Detector) -> str | None:
    """The double-byte encoding the detector names first for at least two of four pieces of ``sample``
    (cut at line breaks), or None."""
    if len(sample) < 1024:
        return None
    cuts = [0]
    for k in (1, 2, 3):
        at = sample.find(b"\n", k * len(sample) // 4)
        cuts.append(at + 1 if at >= 0 else len(sample))
    cuts.append(len(sample))
    votes: dict[str, int] = {}
    for a, b in zip(cuts, cuts[1:]):
        if b - a < 64:
            continue
        try:
            first = detector(sample[a:b])[:1]
        except Exception:
            continue
        name = _norm(first[0]) if first else None
        if name in _FAMILY:
            key = _FAMILY[name][0]
            votes[key] = votes.get(key, 0) + 1
    best = max(votes.items(), key=lambda kv: kv[1], default=(None, 0))
    return best[0] if best[1] >= 2 else None


def _cjk_reading(sample: bytes) -> str | None:
    """The double-byte encoding in which ``sample`` reads most like CJK text, if one reads at least 95%
    so: ASCII, CJK punctuation, kana, and the *common* characters of that encoding (GB2312's hanzi,
    Big5's level 1, JIS X 0208 level 1, KS X 1001 Hangul), since other readings of the same bytes
    land on rare ones. At most one unreadable byte in 200 (stray bytes) is allowed: text in a
    single-byte script read as double-byte breaks far more often (a word of odd length leaves a
    lead byte before a space)."""
    best, best_share = None, 0.95
    for name in _CJK_CODECS:
        text = sample.decode(name, "replace")
        bad = text.count("\ufffd")
        if not text or bad > len(sample) // 200:
            continue
        kana = hangul = good = 0
        for c in text:
            if c < "\x80" or "\u2000" <= c <= "\u206f" or "\u3000" <= c <= "\u303f" or "\uff01" <= c <= "\uff5e":
                good += 1
            elif "\u3040" <= c <= "\u30ff":
                kana += 1
            elif _common(c, name):
                good += 1
                hangul += "\uac00" <= c <= "\ud7a3"
        n = max(1, len(text) - bad)
        share = (good + kana) / n
        # Japanese has kana, Korean Hangul, in a good share of its characters: the script decides
        # between readings that are all common characters (ties keep the earlier codec: GB18030 first)
        if (name in ("cp932", "euc_jp") and kana * 20 >= n) or (name == "cp949" and hangul * 5 >= n):
            share += 0.1
        if share > best_share:
            best, best_share = name, share
    return best


def _common(c: str, name: str) -> bool:
    """Whether ``c`` is among the frequent characters of encoding ``name`` (its first level)."""
    try:
        if name == "gb18030":
            c.encode("gb2312")
            return True
        if name == "big5":
            return 0xA4 <= c.encode("big5")[0] <= 0xC6
        if name in ("cp932", "euc_jp"):
            return 0x88 <= c.encode("cp932")[0] <= 0x98
        if name == "cp949":
            return "\uac00" <= c <= "\ud7a3" and len(c.encode("euc_kr")) == 2
    except UnicodeEncodeError:
        return False
    return False


C1_BYTES = re.compile(rb"[\x80-\x9f]")  # curly quotes and dashes in Windows-1252, control codes in Latin-1
_ASCII = bytes(range(128))


def mostly_utf8(data: bytes) -> bool:
    """UTF-8 with a few stray bytes (a Latin-1 £ pasted into a UTF-8 file, a character cut in two):
    at least four valid multi-byte characters for each invalid byte. Legacy double-byte text forms a
    valid UTF-8 pair now and then (GBK 学 is D1 A7), about one in ten characters, so it stays below."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - bad
    return multibyte >= 4 * bad > 0


def detect_sample(data: bytes, bad_at: int) -> bytes:
    """At most SAMPLE_BYTES of ``data`` for detection, starting a little before ``bad_at`` (the first
    byte that is not UTF-8), so a long ASCII preface does not leave the detector nothing to judge."""
    if len(data) <= SAMPLE_BYTES:
        return data
    start = max(0, min(bad_at - 1024, len(data) - SAMPLE_BYTES))
    return data[start:start + SAMPLE_BYTES]


def choose(sample: bytes, detector: Detector | None = None) -> list[list[str]]:
    """The codecs to try for a text that is neither marked nor UTF-8, best first, in groups (``candidates``)."""
    try:
        guesses = (detector or DETECTOR)(sample)
    except Exception:  # a detector's internal error must not stop a build; the rules still give a choice
        guesses = []
    return candidates(sample, guesses, detector or DETECTOR)


# ---------------------------------------------------------------------------- decode


def decode(data: bytes, encoding: str | None = None, errors: Errors = "strict",
           detector: Detector | None = None) -> Decoded:
    """Decode ``data`` (a whole file or query); see the module docstring for the order of steps.

    Raises ``UndecodableError`` (strict, bytes the encoding cannot read), ``BinaryInputError`` (NUL
    bytes that are not UTF-16/32), InputError (an unknown ``encoding``); never anything else."""
    if encoding is not None:
        name = check_encoding(encoding)
        return _decode_as(data, name, "given", errors)
    found = sniff(data[:BINARY_PROBE])
    if found is not None:
        return _decode_as(data, found[0], found[1], errors)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_at = e.start
    else:
        if "\x00" in text[:BINARY_PROBE]:
            raise _binary()
        return Decoded(text, "utf-8", "utf-8")
    if b"\x00" in data[:BINARY_PROBE]:
        raise _binary()
    sample = detect_sample(data, bad_at)
    if mostly_utf8(sample):
        return _decode_as(data, "utf-8", "utf-8", errors)
    groups = choose(sample, detector)
    if groups[0][0] == "iso8859-1" and C1_BYTES.search(data):
        groups[0][0] = "cp1252"  # the sample had no byte in 0x80-0x9F, the rest of the text has
    for name in groups[0]:
        try:
            return Decoded(data.decode(name), name, "detected")
        except UnicodeDecodeError:
            continue
    best = groups[0][0]
    with Counted() as c:
        data.decode(best, "ipscope-replace")
    if c.n > 1 + len(data) // 200:
        # many bytes the first guess cannot read: it was wrong, and a later guess that reads them all
        # is taken; a few are stray bytes in a text the first guess reads (a later single-byte guess
        # would read them, and garble the rest)
        for group in groups[1:]:
            for name in group:
                try:
                    return Decoded(data.decode(name), name, "detected")
                except UnicodeDecodeError:
                    continue
    return _decode_as(data, best, "detected", errors)


def _decode_as(data: bytes, name: str, how: How, errors: Errors) -> Decoded:
    if errors == "strict":
        try:
            return Decoded(data.decode(name), name, how)
        except UnicodeDecodeError as e:
            raise undecodable(name, how, e.start) from None
    with Counted() as c:
        text = data.decode(name, handler(errors))
    return Decoded(text, name, how, c.n)


def undecodable(name: str, how: How, position: int) -> UndecodableError:
    """The error for bytes at ``position`` that ``name`` cannot decode; the fix names the options."""
    from ..messages import Message, render

    if how == "utf-8":
        code, params = "encoding.invalid_utf8", {"position": position}
    else:
        code = "encoding.not_text_in_given" if how == "given" else "encoding.not_text_in"
        params = {"position": position, "name": name, "how": Message(f"encoding.how.{how}")}
    return UndecodableError(render(code, params), render(code + ".fix", params), name, position, code=code,
                            params=params)


def _binary() -> BinaryInputError:
    from ..messages import error

    return error(BinaryInputError, "encoding.binary")
