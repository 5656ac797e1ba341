"""IETF AI Preferences (aipref): the ``Content-Usage`` vocabulary and HTTP header field.

What is read (docs/audit/content-usage.md has the full rules):

- ``draft-ietf-aipref-vocab`` §6 ("Exemplary Serialization Format"): a statement of preference is an RFC 9651
  Structured Field *Dictionary*; each key is a usage-category label, each value the Token ``y`` (allow) or ``n``
  (disallow). Anything else for a known label (a string ``"n"``, a Boolean, the Token ``no``) leaves that
  category *unknown* — not an error (vocab §6.5). A Dictionary that does not parse leaves every category
  unknown; we report that as a :class:`Problem` because a site that meant ``train-ai=n`` would want to know.
- ``draft-ietf-aipref-attach`` §2: the ``Content-Usage`` HTTP response header carries that Dictionary for the
  content of the message. (§3, the robots.txt ``Content-Usage`` rule, is read by :mod:`.robots` with
  :func:`parse_usage`.)

Labels. The current vocabulary (vocab-08) has ``train-ai`` (AI Training), ``ai-use`` and ``search``; earlier
revisions, still met in the wild, had a hierarchy: ``train-genai`` inside ``train-ai`` inside a top-level
Automated Processing category (``bots`` in -03/-04, ``all`` in -02, ``tdm`` in -01, whose ``ai``/``genai`` were
the training labels). A stated preference for a broader category applies to an unstated narrower one (the
subset fallback of vocab -01 to -06 §5). ipscope honours those legacy labels as a documented policy of its own
(the current text would ignore them as unknown labels), because each was a published way to say "do not train".

Reserved means: the effective preference for AI training or for generative AI training is *disallow*.
An explicit *allow* of (generative) AI training, with no disallow, is an explicit permission (``reserved=False``).
``search=y`` does not count as a permission to train: its override (vocab-08 §4.3) covers training only for
use inside a search application, which is not what a training-data audit is deciding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from ipscope.audit.signals.base import Finding, Problem
from ipscope.messages import Message

SIGNAL: Final = "content-usage"
HEADER_WHERE: Final = Message("audit.where.header", name="Content-Usage")

Pref = Literal["allowed", "disallowed", "unknown"]

#: Usage-category labels of the current vocabulary (vocab-08 §6.1) and of earlier revisions, each with the
#: broader category it falls back to when unstated (vocab -01 to -06 §5, "Applying Statements of Preference").
PARENT: Final[Mapping[str, str | None]] = {
    "train-ai": "bots",  # AI Training (vocab-02..-08); inside Automated Processing up to -04
    "train-genai": "train-ai",  # Generative AI Training, a proper subset of AI Training (vocab-02, -03)
    "ai-use": None,  # AI Use (vocab-02, vocab-08)
    "search": "bots",  # Search (all revisions)
    "ai-output": "bots",  # AI Output (vocab-04)
    "bots": None,  # Automated Processing (vocab-03, -04)
    "all": None,  # Automated Processing (vocab-02)
    "tdm": None,  # Text and data mining, the top category of vocab-01
    "ai": "tdm",  # AI Training (vocab-01)
    "genai": "ai",  # Generative AI Training (vocab-01)
}
#: Labels that each name "Automated Processing" in some revision; the first one stated applies.
_TOP: Final = ("bots", "all", "tdm")
#: Longest serialisation we parse; a header is rarely over a few hundred bytes (RFC 9651 §6 asks parsers to limit).
MAX_VALUE: Final = 8192
#: Longest evidence string kept in a Finding.
MAX_EVIDENCE: Final = 300


class _SFError(ValueError):
    """The value is not an RFC 9651 Dictionary; the message says where."""


@dataclass(frozen=True, slots=True)
class UsagePrefs:
    """A parsed statement of preference.

    ``explicit`` maps each label whose value was the Token ``y`` or ``n`` to True (allow) / False (disallow),
    unknown labels included (they are kept for evidence, never consulted). ``error`` is set when the value
    did not parse as a Structured Field Dictionary; then every category is unknown (vocab §6.5.1).
    """

    explicit: Mapping[str, bool] = field(default_factory=dict)
    error: str | None = None

    def category(self, label: str) -> Pref:
        """The preference for one category, falling back to broader categories when unstated."""
        seen: set[str] = set()
        cur: str | None = label
        while cur is not None and cur not in seen:
            seen.add(cur)
            if cur in self.explicit:
                return "allowed" if self.explicit[cur] else "disallowed"
            if cur == "bots":  # the top category had a different label in each revision
                for top in _TOP:
                    if top in self.explicit:
                        return "allowed" if self.explicit[top] else "disallowed"
                return "unknown"
            cur = PARENT.get(cur)
        return "unknown"

    @property
    def training(self) -> Pref:
        """AI training as the audit needs it: disallowed when AI training or generative AI training (in any
        revision's labels) is disallowed; allowed when generative AI training is allowed and nothing is
        disallowed; otherwise unknown."""
        prefs = (self.category("train-genai"), self.category("genai"), self.category("train-ai"), self.category("ai"))
        if "disallowed" in prefs:
            return "disallowed"
        return "allowed" if "allowed" in prefs else "unknown"

    def deciding_labels(self) -> tuple[str, ...]:
        """The stated labels that make :attr:`training` what it is (for evidence)."""
        want = {"disallowed": False, "allowed": True}.get(self.training)
        if want is None:
            return ()
        chain = ("train-genai", "genai", "train-ai", "ai", *_TOP)
        return tuple(k for k in chain if self.explicit.get(k) is want)


EMPTY: Final = UsagePrefs()


def parse_usage(value: str | bytes) -> UsagePrefs:
    """Parse a statement of preference (``train-ai=n, search=y``); never raises.

    Follows RFC 9651 §4.2.2 (parsing a Dictionary) and vocab §6.5 (processing): keys are case-sensitive,
    a repeated key keeps its last value, parameters are ignored, non-Token values leave the category unknown.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return UsagePrefs(error="not ASCII (RFC 9651 §4.2: a Structured Field is ASCII)")
    if len(value) > MAX_VALUE:
        return UsagePrefs(error=f"longer than {MAX_VALUE} characters; not parsed")
    try:
        members = _parse_dictionary(value)
    except _SFError as e:
        return UsagePrefs(error=str(e))
    explicit = {k: v == "y" for k, v in members.items() if v in ("y", "n")}
    return UsagePrefs(explicit=explicit)


def parse_content_signal(value: str) -> tuple[bool | None, list[str]]:
    """Cloudflare's ``Content-Signal`` value (``search=yes, ai-train=no``; contentsignals.org).

    Returns ``ai-train`` as True (yes) / False (no) / None (absent), and notes on items that could not be
    read. Lenient: names and values are case-insensitive and ``y``/``n`` count as yes/no. When ``ai-train``
    appears twice, a ``no`` wins (the most restrictive reading).
    """
    train: bool | None = None
    notes: list[str] = []
    for item in value.split(","):
        k, eq, v = item.partition("=")
        k, v = k.strip().lower(), v.strip().lower()
        if not eq or not k:
            if item.strip():
                notes.append(f"Content-Signal item {item.strip()[:60]!r} is not 'name=yes|no'; ignored")
        elif k == "ai-train":
            if v in ("yes", "y"):
                train = True if train is None else train
            elif v in ("no", "n"):
                train = False
            else:
                notes.append(f"Content-Signal ai-train={v[:30]!r} is neither yes nor no; ignored")
    return train, notes


def header_signal(value: object, where: str = HEADER_WHERE) -> tuple[list[Finding], list[Problem]]:
    """Findings and Problems of a ``Content-Usage`` response header (attach §2); never raises.

    ``value`` is the header value, or a list of values when the header was sent several times: those are
    joined with ", " as RFC 9110 §5.3 combines field lines (so a key repeated in a later line wins, RFC 9651
    §4.2.2). ``bytes`` are read as ASCII. Any other type, or a value that is not a Dictionary, is a Problem.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")  # HTTP field octets (RFC 9110 §5.5); non-ASCII then fails parsing
    elif not isinstance(value, str):
        parts = list(value) if isinstance(value, list | tuple) else None
        if parts is None or not all(isinstance(v, str | bytes) for v in parts):
            return [], [Problem(SIGNAL, where, f"header is {type(value).__name__}, not text or a list of text; "
                                               "ignored — pass the header value(s) as strings")]
        value = ", ".join(v.decode("latin-1") if isinstance(v, bytes) else v for v in parts if v.strip())
    key = (value, where)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _read_header(value, where)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return list(hit[0]), list(hit[1])


def header_findings(
    value: str | Sequence[str], where: str = HEADER_WHERE, problems: list[Problem] | None = None
) -> list[Finding]:
    """The Findings of :func:`header_signal`; its Problems are appended to ``problems`` when given."""
    findings, found = header_signal(value, where)
    if problems is not None:
        problems.extend(found)
    return findings


#: Results per (value, where): a corpus repeats the same few header values, and Findings are immutable.
_CACHE: dict[tuple[str, str], tuple[tuple[Finding, ...], tuple[Problem, ...]]] = {}
_CACHE_MAX: Final = 4096


def _read_header(value: str, where: str) -> tuple[tuple[Finding, ...], tuple[Problem, ...]]:
    if not value.strip():
        return (), ()
    prefs = parse_usage(value)
    if prefs.error is not None:
        return (), (Problem(SIGNAL, where, f"{prefs.error}; preferences treated as unknown — the value must be "
                                           "a Structured Field Dictionary such as 'train-ai=n'"),)
    finding = usage_finding(prefs, where, value.strip())
    return ((finding,) if finding is not None else ()), ()


def usage_finding(
    prefs: UsagePrefs, where: str, evidence: str, agents: tuple[str, ...] = ("*",)
) -> Finding | None:
    """The Finding a parsed statement makes about AI training, or None when training is unknown."""
    t = prefs.training
    if t == "unknown":
        return None
    return Finding(SIGNAL, where, evidence[:MAX_EVIDENCE], t == "disallowed", agents)


# --- RFC 9651 Dictionary parser (§4.2.2), enough to tell Tokens from every other kind of value -------------

_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
_KEY_FIRST = _LCALPHA | {"*"}
_KEY_REST = _KEY_FIRST | frozenset("0123456789_-.")
_ALPHA = _LCALPHA | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGIT = frozenset("0123456789")
_TCHAR = _ALPHA | _DIGIT | frozenset("!#$%&'*+-.^_`|~")
_TOKEN_REST = _TCHAR | {":", "/"}
_B64 = _ALPHA | _DIGIT | frozenset("+/=")
_OWS = " \t"


class _Cursor:
    __slots__ = ("s", "i")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def fail(self, what: str) -> _SFError:
        near = self.s[self.i : self.i + 12]
        return _SFError(f"not a Structured Field Dictionary: {what} at character {self.i + 1}"
                        + (f" ({near!r})" if near else " (end of value)"))


def _parse_dictionary(s: str) -> dict[str, str | None]:
    """Key -> the Token value (a str) or None for any other kind of value (RFC 9651 §4.2.2)."""
    if not s.isascii():
        raise _SFError("not a Structured Field Dictionary: contains non-ASCII characters")
    c = _Cursor(s.strip(" "))  # §4.2 step 2 discards leading and trailing SP
    out: dict[str, str | None] = {}
    if not c.s:
        return out
    while True:
        key = _parse_key(c)
        if c.peek() == "=":
            c.i += 1
            if c.peek() == "(":
                _parse_inner_list(c)
                value: str | None = None
            else:
                value = _parse_bare_item(c)
                _parse_parameters(c)
        else:
            value = None  # Boolean true (§4.2.2 step 2.4)
            _parse_parameters(c)
        out.pop(key, None)
        out[key] = value  # a repeated key keeps its last value
        while c.peek() in _OWS and c.peek():
            c.i += 1
        if not c.peek():
            return out
        if c.peek() != ",":
            raise c.fail("expected ',' between members")
        c.i += 1
        while c.peek() in _OWS and c.peek():
            c.i += 1
        if not c.peek():
            raise c.fail("trailing ','")


def _parse_key(c: _Cursor) -> str:
    if c.peek() not in _KEY_FIRST or not c.peek():
        raise c.fail("a key must start with a lower-case letter or '*'")
    start = c.i
    while c.peek() and c.peek() in _KEY_REST:
        c.i += 1
    return c.s[start : c.i]


def _parse_parameters(c: _Cursor) -> None:
    while c.peek() == ";":
        c.i += 1
        while c.peek() == " ":
            c.i += 1
        _parse_key(c)
        if c.peek() == "=":
            c.i += 1
            _parse_bare_item(c)


def _parse_inner_list(c: _Cursor) -> None:
    c.i += 1  # "("
    while True:
        while c.peek() == " ":
            c.i += 1
        if c.peek() == ")":
            c.i += 1
            _parse_parameters(c)
            return
        if not c.peek():
            raise c.fail("unterminated inner list")
        _parse_bare_item(c)
        _parse_parameters(c)
        if c.peek() not in (" ", ")") or not c.peek():
            raise c.fail("expected ' ' or ')' in inner list")


def _parse_bare_item(c: _Cursor) -> str | None:
    """Consume one bare item; return its text when it is a Token, else None."""
    ch = c.peek()
    if ch == "-" or (ch and ch in _DIGIT):
        _parse_number(c)
        return None
    if ch == '"':
        _parse_string(c)
        return None
    if ch and (ch in _ALPHA or ch == "*"):
        start = c.i
        c.i += 1
        while c.peek() and c.peek() in _TOKEN_REST:
            c.i += 1
        return c.s[start : c.i]
    if ch == ":":
        end = c.s.find(":", c.i + 1)
        if end < 0 or any(x not in _B64 for x in c.s[c.i + 1 : end]):
            raise c.fail("bad byte sequence")
        c.i = end + 1
        return None
    if ch == "?":
        if c.s[c.i + 1 : c.i + 2] not in ("0", "1") or c.i + 1 >= len(c.s):
            raise c.fail("bad boolean")
        c.i += 2
        return None
    if ch == "@":
        c.i += 1
        _parse_number(c, integer_only=True)
        return None
    if ch == "%":
        if c.s[c.i + 1 : c.i + 2] != '"':
            raise c.fail("bad display string")
        c.i += 1
        _parse_string(c)
        return None
    raise c.fail("expected a value")


def _parse_number(c: _Cursor, integer_only: bool = False) -> None:
    if c.peek() == "-":
        c.i += 1
    digits = c.i
    while c.peek() and c.peek() in _DIGIT:
        c.i += 1
    if c.i == digits:
        raise c.fail("expected a digit")
    if c.peek() == "." and not integer_only:
        if c.i - digits > 12:
            raise c.fail("decimal with more than 12 integer digits")
        c.i += 1
        frac = c.i
        while c.peek() and c.peek() in _DIGIT:
            c.i += 1
        if not 1 <= c.i - frac <= 3:
            raise c.fail("decimal needs 1 to 3 fractional digits")
    elif c.i - digits > 15:
        raise c.fail("integer with more than 15 digits")


def _parse_string(c: _Cursor) -> None:
    c.i += 1  # opening quote
    while True:
        ch = c.peek()
        if not ch:
            raise c.fail("unterminated string")
        c.i += 1
        if ch == "\\":
            if c.peek() not in ('"', "\\") or not c.peek():
                raise c.fail("bad escape in string")
            c.i += 1
        elif ch == '"':
            return
        elif not (" " <= ch <= "~"):
            raise c.fail("control character in string")
