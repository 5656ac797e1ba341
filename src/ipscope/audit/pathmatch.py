"""One RFC 9309 path matcher for every signal that matches URL paths against patterns.

robots.txt (:mod:`~ipscope.audit.signals.robots`), ai.txt (:mod:`~ipscope.audit.signals.aitxt`), TDMRep
``location`` (:mod:`~ipscope.audit.signals.tdmrep`) and RSL ``<content url>`` patterns are all RFC 9309 path
patterns (§2.2.2 and §2.2.3):

* a pattern matches the **request target** (the URL path with its query, ``/a/b.php?x=1``; never the fragment)
  **from its first octet**: "the match evaluates positively if and only if the end of the path from the rule is
  reached before a difference in octets is encountered". Matching is case-sensitive;
* ``*`` matches any run of characters, ``/`` included; a **final** ``$`` anchors the end of the path, any other
  ``$`` is an ordinary character; ``%2A`` / ``%24`` in a pattern match a literal ``*`` / ``$`` in the path (§2.2.3
  Figure 6). A pattern that starts with neither ``/`` nor ``*`` (the empty pattern included) matches nothing;
* path and pattern are compared in one percent-encoded spelling (§2.2.2); see :class:`Spelling`;
* the **priority** of a pattern is its length in octets in that spelling (§2.2.2 "the most specific match ... is
  the match that has the most octets").

The API::

    from ipscope.audit.pathmatch import FirstMatch, RuleMatcher, compile_pattern, normalize_path

    p = compile_pattern("/news/*.html$")          # spelling=ENCODE_RESERVED unless given
    p.matches("/news/2025/a.html")                # True  (normalises the path itself)
    p.matches("/news/a.html?x=1")                 # False ("$": the query is part of the path)
    p.priority                                    # 13
    npath = normalize_path("/caf\u00e9?q=1")      # "/caf%C3%A9%3Fq=1": normalise once per record ...
    p.matches_normalized(npath)                   # ... then match it against many patterns

    # robots.txt / ai.txt: the longest matching pattern decides, allow wins a tie, then the earlier rule
    rules = RuleMatcher([(compile_pattern("/"), False, "line 2"), (compile_pattern("/pub/"), True, "line 3")])
    rules.decide(normalize_path("/pub/x"))        # "line 3"; None when no pattern matches
    # TDMRep: the first matching pattern in file order decides
    FirstMatch([compile_pattern("/a/"), compile_pattern("/")]).first(normalize_path("/a/b"))  # 0

Where the standards differ is a parameter (the :class:`Spelling`) or lives in the signal's module: robots.txt's
implicit ``/robots.txt`` allow and its ``index.html`` rule, TDMRep's repairs of a ``location`` (a full URL, a
missing leading ``/``) and its first-match rule (:class:`FirstMatch`), ai.txt's and TDMRep's spelling. Patterns
are paths: for one written as a full URL (``https://example.com/news/*``) the caller compares scheme and host
itself and compiles the path (``/news/*``); a record's URL is likewise reduced to its path and query first.

Speed: normalising a plain path is one regex ``fullmatch`` (a few ``str`` scans in KEEP_RESERVED);
:class:`RuleMatcher` indexes its rules by kind (plain prefixes probed longest first, exact, ``*lit$`` suffixes,
``*lit`` contains, other wildcards by their literal head) so a check costs a few dict probes however many rules a
site lists, and a wildcard is matched by string searches, each part at its leftmost place, which is exact for these
globs and linear however many stars a hostile ``/*a*a*a*a$`` has. :class:`FirstMatch` compiles all patterns into
one regex (atomic groups, so the same hostile patterns stay linear).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Generic, TypeVar

__all__ = ["ENCODE_RESERVED", "KEEP_RESERVED", "FirstMatch", "Pattern", "RuleMatcher", "Spelling", "compile_pattern",
           "glob_match", "glob_parts", "normalize_path", "normalize_pattern"]

T = TypeVar("T")

_UNRESERVED: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PRINTABLE: Final = bytes(range(0x21, 0x7F))
_ESCAPE: Final = re.compile(rb"%[0-9A-Fa-f]{2}")
_STRAY_PERCENT: Final = re.compile(rb"%(?![0-9A-Fa-f]{2})")


# --- spelling: percent-encoding normalisation (RFC 9309 §2.2.2) ----------------------------------------------


def _translate_table(verbatim: bytes) -> list[str]:
    """``str.translate`` table over the latin-1 reading of UTF-8 bytes: a byte in ``verbatim`` stays, any other
    becomes %XX (upper-case hex). One C call escapes a whole path."""
    keep = frozenset(verbatim)
    return [chr(c) if c in keep else f"%{c:02X}" for c in range(256)]


def _unescape_table(decode: bytes) -> dict[bytes, bytes]:
    """Every spelling of an escape (``%7e``, ``%7E``) -> the byte it stands for when that byte is in ``decode``,
    else the escape with upper-case hex."""
    out: dict[bytes, bytes] = {}
    for c in range(256):
        hi, lo = f"{c:02X}"
        rep = bytes((c,)) if c in decode else b"%%%02X" % c
        for h in {hi, hi.lower()}:
            for lo_ in {lo, lo.lower()}:
                out[f"%{h}{lo_}".encode()] = rep
    return out


class _Way:
    """How one part (path, query, a pattern's path, a pattern's query) is spelled."""

    __slots__ = ("table", "unescape")

    def __init__(self, decode: bytes, verbatim: bytes) -> None:
        table = _unescape_table(decode)
        self.unescape: Callable[[re.Match[bytes]], bytes] = lambda m: table[m.group()]
        self.table = _translate_table(verbatim + b"%")  # "%" stays: the escapes that remain start with it

    def __call__(self, b: bytes) -> str:
        if b"%" in b:
            # a "%" not followed by two hex digits is a literal percent sign (%25); done first, so a decoded
            # escape can never combine with a stray "%" into a new escape ("%%341" is "%2541", not "%41")
            b = _STRAY_PERCENT.sub(b"%25", b)
            b = _ESCAPE.sub(self.unescape, b)
        return b.decode("latin-1").translate(self.table)


class Spelling:
    """The one percent-encoded spelling in which paths and patterns are compared (RFC 9309 §2.2.2).

    Both spellings percent-encode non-ASCII octets as UTF-8 (``ツ`` -> ``%E3%83%84``), control characters and the
    space; decode escapes of unreserved characters (``%62%61%7A`` -> ``baz``, ``%7e`` -> ``~``); upper-case the
    hex of the escapes they keep (``%2f`` -> ``%2F``, never ``/``); spell a stray ``%`` as ``%25``; drop a
    fragment (``#...``) from a path; and make a path's ``*`` / ``$`` one with ``%2A`` / ``%24``, so that a
    pattern's ``%2A`` / ``%24`` matches either (§2.2.3 Figure 6). They differ in the other reserved characters:

    * :data:`ENCODE_RESERVED` (robots.txt; the default): every octet outside the unreserved set, ``/`` and ``=``
      is percent-encoded, as RFC 9309 §2.2.2 requires of "those in the reserved range" and as protego does, so
      ``:`` and ``%3A`` are one spelling; in the query ``/`` is data and is encoded too (the RFC's Figure 4:
      ``/foo/bar?baz=https://foo.bar`` is matched as ``/foo/bar?baz=https%3A%2F%2Ffoo.bar``). ``?`` is ``%3F``,
      a path's ``$`` and ``*`` are ``%24`` and ``%2A``; ``=`` stays and ``%3D`` is read as ``=`` (as protego).
    * :data:`KEEP_RESERVED` (ai.txt, TDMRep): printable ASCII is compared as written, as Google's robots.txt
      parser compares it and as TDMRep's spec (which defers to Google's "URL matching based on path values")
      reads it: ``:`` and ``%3A`` differ, and so do ``/`` and ``%2F`` in the query. A path's ``%24`` and ``%2A``
      are read as the characters ``$`` and ``*`` (one octet each, so a pattern ``*4`` does not match inside
      them), and a pattern's ``%24`` / ``%2A`` match those characters.

    A pattern's priority counts its octets in its spelling: ``/a:b`` is 6 octets in ENCODE_RESERVED
    (``/a%3Ab``) and 4 in KEEP_RESERVED; a ``$`` that is not last counts 3 (``%24``) and 1 respectively.
    """

    __slots__ = ("name", "normalize_path", "normalize_pattern", "_literal_chars")

    def __init__(self, name: str, *, decode: bytes, path: bytes, query: bytes | None, fast_path: str | None,
                 fast_pattern: str, literal_chars: bool) -> None:
        # decode: escapes decoded; path / query: octets kept as written in a path's path / query part (None: no
        # separate query part); fast_path / fast_pattern: regexes of text already in this spelling (fast_path
        # None: printable ASCII but " ", "%" and "#", tested with str methods)
        self.name = name
        #: Figure 6 the KEEP_RESERVED way: a path's %24 / %2A are the characters "$" / "*" (otherwise a path's
        #: "$" / "*" are the escapes %24 / %2A, which the pattern keeps as written)
        self._literal_chars = literal_chars
        star_dollar = b"$*" if literal_chars else b""
        q = None if query is None else query + star_dollar
        self.normalize_path = _path_normalizer(
            None if fast_path is None else re.compile(fast_path).fullmatch,
            _Way(decode + star_dollar, path + star_dollar), None if q is None else _Way(decode + star_dollar, q))
        # a pattern: "*" is the wildcard; its %2A and %24 are kept (literals; Pattern.parts decodes them)
        self.normalize_pattern = _pattern_normalizer(
            re.compile(fast_pattern).fullmatch, _Way(decode, path + b"*" + star_dollar),
            None if q is None else _Way(decode, q + b"*"))

    def __repr__(self) -> str:
        return self.name

    # normalize_path / normalize_pattern are closures made in __init__ (a closure's variables are read faster than
    # attributes: this is on every record's path), documented here
    normalize_path: Callable[[str], str]
    """``normalize_path(path)``: the request target ``path`` (path + query; a leading ``/`` added if missing, a
    fragment dropped) as patterns are compared with it."""
    normalize_pattern: Callable[[str], str]
    """``normalize_pattern(pattern)``: a pattern in this spelling: ``*`` and a final ``$`` kept; nothing added or
    removed (a pattern that does not start with ``/`` or ``*`` stays so, and matches nothing)."""


def _path_normalizer(fast: Callable[[str], object] | None, path_way: _Way, query_way: _Way | None
                     ) -> Callable[[str], str]:
    if fast is None:  # printable ASCII but " ", "%" and "#" is its own spelling
        def normalize_keep(path: str) -> str:
            # five C-speed scans beat a regex fullmatch on this, the commonest case
            if path.isascii() and path.isprintable() and path[:1] == "/" and " " not in path and "%" not in path \
                    and "#" not in path:
                return path
            return slow(path)
        normalize = normalize_keep
    else:
        def normalize_encode(path: str) -> str:
            return path if fast(path) else slow(path)
        normalize = normalize_encode

    def slow(path: str) -> str:
        if "#" in path:
            path = path.partition("#")[0]
        if not path.startswith("/"):
            path = "/" + path
        b = path.encode("utf-8", "surrogatepass")
        if query_way is not None:
            p, q, query = b.partition(b"?")
            return path_way(p) + ("%3F" + query_way(query) if q else "")
        return path_way(b)
    return normalize


def _pattern_normalizer(fast: Callable[[str], object], path_way: _Way, query_way: _Way | None) -> Callable[[str], str]:
    def normalize_pattern(pattern: str) -> str:
        if fast(pattern):
            return pattern
        anchor = ""
        if pattern.endswith("$"):
            pattern, anchor = pattern[:-1], "$"
        b = pattern.encode("utf-8", "surrogatepass")
        if query_way is not None:
            p, q, query = b.partition(b"?")
            return path_way(p) + ("%3F" + query_way(query) if q else "") + anchor
        return path_way(b) + anchor
    return normalize_pattern


_UNRESERVED_RE: Final = r"A-Za-z0-9_.~"  # and "-", last in each class below
#: robots.txt's spelling: RFC 9309 Figure 4 read literally, as protego reads it (see :class:`Spelling`).
ENCODE_RESERVED: Final = Spelling(
    "ENCODE_RESERVED", decode=_UNRESERVED + b"=", path=_UNRESERVED + b"=/", query=_UNRESERVED + b"=",
    fast_path=rf"/[{_UNRESERVED_RE}/=-]*", fast_pattern=rf"[/*][{_UNRESERVED_RE}/=*-]*\$?", literal_chars=False)
#: ai.txt's and TDMRep's spelling: printable ASCII compared as written, as Google's parser does (see :class:`Spelling`).
KEEP_RESERVED: Final = Spelling(
    "KEEP_RESERVED", decode=_UNRESERVED, path=bytes(c for c in _PRINTABLE if c not in b"#$*"), query=None,
    # printable ASCII but "#" (a fragment; %23 in a pattern) and "%" (an escape, or %25)
    fast_path=None, fast_pattern=r"[/*][!\"$&-~]*", literal_chars=True)


def normalize_path(path: str, spelling: Spelling = ENCODE_RESERVED) -> str:
    """The request target ``path`` in ``spelling`` (see :meth:`Spelling.normalize_path`)."""
    return spelling.normalize_path(path)


def normalize_pattern(pattern: str, spelling: Spelling = ENCODE_RESERVED) -> str:
    """``pattern`` in ``spelling`` (see :meth:`Spelling.normalize_pattern`)."""
    return spelling.normalize_pattern(pattern)


# --- one pattern -------------------------------------------------------------------------------------------

#: (text before the first ``*``, the non-empty texts between stars, the text after the last star or None when
#: there is no star, anchored by a final ``$``). Canonical: a pattern ending in ``*`` or ``*$`` ends anywhere, so
#: it is unanchored and its last non-empty part is ``last``; ``last == ""`` only for ``head*``.
GlobParts = tuple[str, tuple[str, ...], "str | None", bool]

_NEVER: Final[GlobParts] = ("", (), None, True)  # matches only "", and a normalised path is never empty


def glob_parts(pattern: str) -> GlobParts:
    """The parts of ``pattern`` as written (no normalisation): see :data:`GlobParts`."""
    anchored = pattern.endswith("$")
    head, *rest = (pattern[:-1] if anchored else pattern).split("*")
    if not rest:
        return head, (), None, anchored
    last = rest.pop()
    mids = tuple(filter(None, rest))
    if not last:  # "...*" or "...*$": matches wherever the text before the star is found
        anchored = False
        if mids:
            last, mids = mids[-1], mids[:-1]
    return head, mids, last, anchored


def glob_match(parts: GlobParts, path: str) -> bool:
    """True when the pattern of ``parts`` matches ``path`` from its start (RFC 9309 §2.2.3).

    Each part between stars is taken at its leftmost place after the previous one: a later place never lets
    more of the pattern match, so this is exact, and linear however many stars a hostile pattern has."""
    head, mids, last, anchored = parts
    if last is None:  # no star
        return path == head if anchored else path.startswith(head)
    if not path.startswith(head):
        return False
    pos = len(head)
    for part in mids:
        i = path.find(part, pos)
        if i < 0:
            return False
        pos = i + len(part)
    if anchored:
        return len(path) - len(last) >= pos and path.endswith(last)
    return not last or path.find(last, pos) >= 0


class Pattern:
    """A compiled RFC 9309 path pattern; build it with :func:`compile_pattern`. Immutable."""

    __slots__ = ("text", "priority", "parts", "spelling")

    def __init__(self, text: str, spelling: Spelling) -> None:
        #: the pattern in its spelling (``*`` and a final ``$`` kept)
        self.text = text
        #: octets of ``text``: the more, the more specific (RFC 9309 §2.2.2)
        self.priority = len(text)
        self.spelling = spelling
        #: :data:`GlobParts` of the pattern, in the spelling of a normalised path
        self.parts = _parts(text, spelling)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r}, {self.spelling!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and (self.text, self.spelling) == (other.text, other.spelling)

    def __hash__(self) -> int:
        return hash((self.text, self.spelling.name))

    @property
    def can_match(self) -> bool:
        """False for a pattern that starts with neither ``/`` nor ``*``: it matches no path."""
        return self.parts is not _NEVER

    def matches(self, path: str) -> bool:
        """True when the pattern matches the request target ``path`` (normalised here, in the pattern's spelling)."""
        return glob_match(self.parts, self.spelling.normalize_path(path))

    def matches_normalized(self, npath: str) -> bool:
        """:meth:`matches` for a path already normalised with :meth:`Spelling.normalize_path` (hot loops)."""
        return glob_match(self.parts, npath)

    def regex(self) -> str:
        """Regular-expression source that matches a normalised path from its start when the pattern does.

        Each ``*`` followed by text is an atomic group ``(?>.*?text)``: the leftmost place is always the best one
        (as in :func:`glob_match`), and committing to it keeps hostile patterns linear."""
        head, mids, last, anchored = self.parts
        out = re.escape(head)
        if last is None:
            return out + (r"\Z" if anchored else "")
        out += "".join(f"(?>.*?{re.escape(m)})" for m in mids)
        if anchored:
            return out + f".*{re.escape(last)}\\Z"
        return out + (f"(?>.*?{re.escape(last)})" if last else "")


def _parts(text: str, spelling: Spelling) -> GlobParts:
    """:data:`GlobParts` of the pattern ``text`` (in ``spelling``), in the spelling of a normalised path."""
    if text[:1] not in ("/", "*"):
        return _NEVER
    parts: GlobParts
    if "*" not in text:  # most rules: a plain prefix, or an exact path
        parts = (text[:-1], (), None, True) if text[-1] == "$" else (text, (), None, False)
    else:
        parts = glob_parts(text)
    if spelling._literal_chars and "%2" in text and ("%24" in text or "%2A" in text):
        head, mids, last, anchored = parts  # a KEEP_RESERVED path reads them as "$" / "*"
        parts = (_chars(head), tuple(_chars(m) for m in mids), None if last is None else _chars(last), anchored)
    return parts


def _chars(part: str) -> str:
    # every "%" of a spelled pattern starts an escape, so "%24" / "%2A" here are always those escapes
    return part.replace("%24", "$").replace("%2A", "*")


def compile_pattern(pattern: str, spelling: Spelling = ENCODE_RESERVED, *, normalized: bool = False) -> Pattern:
    """Compile an RFC 9309 path pattern (``/news/*``, ``*.pdf$``) in ``spelling``.

    ``normalized=True`` when ``pattern`` is already :func:`normalize_pattern`'s output in that spelling."""
    return Pattern(pattern if normalized else spelling.normalize_pattern(pattern), spelling)


# --- rule sets -----------------------------------------------------------------------------------------------

# A rule's key: (priority << 21) | (allow << 20) | (_ORDER - order). Below 2**30 (patterns under 512 octets) it
# is a one-digit int, which CPython compares and combines fastest.
_ORDER: Final = 0xFFFFF  # rules a RuleMatcher takes, less one (a robots.txt of 500 KiB has fewer lines)
_ALLOW: Final = 1 << 20
#: "*lit" / "*lit$" rules are indexed by their literal from this many on (below, tried like other wildcards)
_LIT_INDEX: Final = 8


class RuleMatcher(Generic[T]):
    """Allow/disallow rules decided as RFC 9309 §2.2.2 decides them: of the patterns that match, the one with the
    most octets (:attr:`Pattern.priority`); an allow rule wins a tie ("If an allow rule and a disallow rule are
    equivalent, then the allow rule SHOULD be used"); on a full tie the earlier rule (the order given), so the
    evidence never depends on the indexing.

    ``rules`` are ``(pattern, allow, value)``; :meth:`decide` returns the winning rule's ``value``, or None when no
    pattern matches. A ``pattern`` is a :class:`Pattern` or the text of one already in ``spelling`` (what
    :func:`normalize_pattern` returns; robots.txt passes those, so that a site's thousands of rules are not
    each wrapped in an object). Building is linear in the rules; a check is a few dict probes (see the module
    docstring). At most 1,048,576 rules (ValueError beyond; a 500 KiB robots.txt has fewer lines).
    """

    __slots__ = ("_allows", "_contains", "_exact", "_general", "_general_lengths", "_more", "_plain",
                 "_plain_lengths", "_suffix", "_suffix_key", "_values", "size")

    def __init__(self, rules: Iterable[tuple[Pattern | str, bool, T]], spelling: Spelling = ENCODE_RESERVED) -> None:
        # A rule's key, (priority << 21) | (allow << 20) | (_ORDER - order), compares rules as §2.2.2 does. The
        # wildcard indexes hold keys; plain and exact ones (most rules) hold the rule's position, and the key is
        # computed for the one that matches (a site keeps its matchers: positions below 257 are shared ints).
        plain: dict[str, int] = {}
        exact: dict[str, int] = {}
        allows = bytearray()
        suffix: dict[int, dict[str, int]] = {}
        contains: dict[str, dict[int, dict[str, int]]] = {}
        general: dict[str, list[tuple[int, GlobParts]]] = {}  # by the text before the first star
        lits: list[tuple[int, GlobParts]] = []  # "*lit" and "*lit$"
        values: list[T] = []
        table: dict[str, int]
        literal_chars = spelling._literal_chars
        for pattern, allow, value in rules:
            if type(pattern) is str:
                if (pattern[:1] == "/" and "*" not in pattern and pattern[-1] != "$"
                        and not (literal_chars and "%2" in pattern)):
                    # the commonest rule, a plain prefix given as text: straight into its index
                    i = len(values)
                    values.append(value)
                    allows.append(1 if allow else 0)
                    old = plain.get(pattern)  # the same pattern twice: allow wins, else the earlier one stays
                    if old is None or (allow and not allows[old]):
                        plain[pattern] = i
                    continue
                priority = len(pattern)
                parts = _parts(pattern, spelling)
            else:
                priority, parts = pattern.priority, pattern.parts  # type: ignore[union-attr]
            if parts is _NEVER:
                continue
            i = len(values)
            key = (priority << 21) | (_ORDER - i)
            values.append(value)
            allows.append(1 if allow else 0)
            if allow:
                key |= _ALLOW
            head, mids, last, anchored = parts
            if last is None:
                if priority == len(head) + anchored:  # a KEEP_RESERVED "%24" inside makes them differ
                    table = exact if anchored else plain  # plain: probed longest first, the first hit is the best
                    old = table.get(head)
                    if old is None or key > self._key(old, len(head) + anchored, allows):
                        table[head] = i  # the same pattern twice: the better rule stays
                else:  # decided by key like a wildcard
                    general.setdefault(head, []).append((key, parts))
                continue
            # "*lit$" / "*lit" (and "/*lit..." when lit does not start with "/": a path starts with "/", so both
            # mean "the path ends with / contains lit")
            if not mids and last and (head == "" or (head == "/" and last[0] != "/")):
                lits.append((key, parts))
            else:
                general.setdefault(head, []).append((key, parts))
        if len(lits) < _LIT_INDEX:  # a few: tried like other wildcards (less memory, as fast)
            for key, parts in lits:
                general.setdefault(parts[0], []).append((key, parts))
        else:  # many (Spawning's ai.txt lists every file type): look-ups at the literal's places
            for key, (_, _, last, anchored) in lits:
                assert last is not None
                if anchored:
                    table = suffix.setdefault(len(last), {})
                else:
                    table = contains.setdefault(last[0], {}).setdefault(len(last), {})
                if key > table.get(last, -1):  # the same pattern twice: the better rule stays
                    table[last] = key
        if len(values) > _ORDER + 1:
            raise ValueError(f"{len(values):,} rules; a RuleMatcher takes at most {_ORDER + 1:,}")
        self.size = len(values)
        self._values = values
        self._allows = bytes(allows)
        self._plain = plain
        self._plain_lengths = tuple(sorted({len(k) for k in plain}, reverse=True))
        self._exact = exact
        self._suffix = tuple(sorted(suffix.items()))
        self._suffix_key = max((x for t in suffix.values() for x in t.values()), default=-1)
        self._contains = tuple(
            (first, max(x for t in by_len.values() for x in t.values()), tuple(sorted(by_len.items())))
            for first, by_len in contains.items())
        self._general = {h: tuple(sorted(lst, key=lambda x: x[0], reverse=True)) for h, lst in general.items()}
        self._general_lengths = tuple(sorted({len(h) for h in general}))
        self._more = bool(exact or suffix or contains or general)  # rules other than plain prefixes

    def __len__(self) -> int:
        """Rules that can match (patterns starting with ``/`` or ``*``)."""
        return self.size

    @staticmethod
    def _key(i: int, priority: int, allows: bytes | bytearray) -> int:
        return (priority << 21) | (_ALLOW if allows[i] else 0) | (_ORDER - i)

    def decide(self, npath: str) -> T | None:
        """The value of the rule that decides the normalised path ``npath``, or None when no pattern matches."""
        n = len(npath)
        key = -1
        plain = self._plain
        if plain:
            for length in self._plain_lengths:
                if length <= n:
                    i = plain.get(npath[:length])
                    if i is not None:
                        if not self._more:
                            return self._values[i]  # no other kind of rule: the longest plain one decides
                        key = (length << 21) | (self._allows[i] << 20) | (0xFFFFF - i)  # 0xFFFFF: _ORDER
                        break
        if not self._more:
            return None
        if self._exact:
            i = self._exact.get(npath)
            if i is not None:
                k = ((n + 1) << 21) | (self._allows[i] << 20) | (0xFFFFF - i)
                if k > key:
                    key = k
        if self._suffix_key > key:
            for length, table in self._suffix:
                if length > n:
                    break
                k = table.get(npath[n - length:], -1)
                if k > key:
                    key = k
        for first, top, tables in self._contains:
            if top <= key:
                continue
            pos = npath.find(first)
            while pos != -1:
                for length, table in tables:
                    if pos + length > n:
                        break
                    k = table.get(npath[pos:pos + length], -1)
                    if k > key:
                        key = k
                pos = npath.find(first, pos + 1)
        for length in self._general_lengths:
            if length > n:
                break
            group = self._general.get(npath[:length])
            if group is not None:
                for k, parts in group:
                    if k <= key:
                        break  # sorted: nothing further in this group can win
                    if glob_match(parts, npath):
                        key = k
                        break
        return None if key < 0 else self._values[0xFFFFF - (key & 0xFFFFF)]


class FirstMatch:
    """The first of ``patterns`` (in the order given) that matches a path: TDMRep's "The most specific match is
    the first in sequence". All patterns are one regular expression, one alternative each in order, each ending
    in an empty group, so one C-level ``match`` tries them in order and ``lastindex`` names the winner.

    Raises ``re.error`` / ``RecursionError`` / ``OverflowError`` only for absurdly many patterns (every literal
    is escaped)."""

    __slots__ = ("regex", "size")

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.size = len(patterns)
        #: the compiled alternation, None without patterns; for a hot loop: ``m = regex.match(npath)``, and the
        #: first matching pattern is ``m.lastindex - 1`` (what :meth:`first` does, without the call)
        self.regex: re.Pattern[str] | None = (
            re.compile("(?:" + "|".join(p.regex() + "()" for p in patterns) + ")", re.DOTALL) if patterns else None)

    def __len__(self) -> int:
        return self.size

    def first(self, npath: str) -> int | None:
        """Index of the first pattern that matches the normalised path ``npath``, or None."""
        if self.regex is None:
            return None
        m = self.regex.match(npath)
        return None if m is None else m.lastindex - 1  # type: ignore[operator]  # every alternative ends in ()
