"""``noai`` / ``noimageai`` directives in ``X-Robots-Tag`` headers and robots ``<meta>`` tags.

DeviantArt introduced the two directives in November 2022 ("UPDATE: All Deviations Are Opted Out of AI
Datasets"): ``<meta name="robots" content="noai">`` / ``X-Robots-Tag: noai`` reserve every use of the
content for AI datasets, ``noimageai`` reserves the images only. They ride on the syntax of Google's "Robots
meta tag and X-Robots-Tag HTTP header specifications", which this module follows:

* directives are comma-separated and case-insensitive (``noindex, NOAI``);
* a header may be sent several times; each value is read on its own;
* a value may address one crawler with a product token and a colon: ``X-Robots-Tag: otherbot: noindex,
  nofollow`` — the token applies to every directive after it in that value (Google's example gives both
  ``noindex`` and ``nofollow`` to ``otherbot``) until the next ``agent:``; directives before any token apply to
  every crawler;
* ``unavailable_after: <date>``, ``max-snippet: <n>``, ``max-image-preview: <v>``, ``max-video-preview: <n>``
  are directives with a value, not agents;
* ``<meta name="robots">`` addresses every crawler, ``<meta name="<agent>">`` one crawler.

``noai`` is returned as signal ``noai`` and ``noimageai`` as signal ``noimageai``: ``noimageai`` reserves
images only, so the policy must apply it to image records only and can tell the two apart by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ipscope.audit.page import PageMeta
from ipscope.audit.signals.base import ANY_AGENT, Finding, Problem
from ipscope.messages import Message

NOAI = "noai"
NOIMAGEAI = "noimageai"
_DIRECTIVES = {NOAI: NOAI, NOIMAGEAI: NOIMAGEAI}

#: Google directives whose value follows a colon: ``name: value`` is a directive, not ``agent: directive``.
_VALUED = frozenset({"unavailable_after", "unavailable-after", "max-snippet", "max-image-preview", "max-video-preview"})
#: Robots directives without a value (Google's list plus the two AI ones), to recognise a badly separated list.
_ROBOTS_WORDS = frozenset({"all", "none", "index", "noindex", "follow", "nofollow", "noarchive", "nocache",
                           "nosnippet", "notranslate", "noimageindex", "noodp", "noydir", "indexifembedded",
                           NOAI, NOIMAGEAI})
#: A product token (RFC 9309 §2.2.1 allows letters, "-" and "_"; real crawler names also carry digits and dots).
_AGENT = re.compile(r"[a-z0-9][a-z0-9_.\-]*\Z")
#: Separators people use by mistake between directives ("noai noimageai", "noai;noimageai").
_LOOSE_SEP = re.compile(r"[\s;]+")
#: A header value longer than this is cut (real ones are tens of characters; this bounds the work per record).
MAX_VALUE_CHARS = 16_384

_HEADER_WHERE = Message("audit.where.header", name="X-Robots-Tag")


def _mentions(low: str) -> bool:
    # "noimageai" does not contain "noai", so both are tested.
    return NOAI in low or NOIMAGEAI in low


def _scan(low: str, default_agent: str, notes: list[str]) -> list[tuple[str, str]]:
    """``(signal, agent)`` pairs in one lower-cased directive list, in order, without repeats."""
    found: list[tuple[str, str]] = []
    agent = default_agent
    for raw in low.split(","):
        tok = raw.strip()
        if not tok:
            continue
        name, colon, rest = tok.partition(":")
        if colon:
            name = name.strip()
            if name in _VALUED:
                continue
            if _AGENT.match(name):
                agent = name
                tok = rest.strip()
                if not tok or tok.partition(":")[0].strip() in _VALUED:
                    continue
            else:
                if _mentions(tok):
                    notes.append(f"{raw.strip()!r} is neither a directive nor 'agent: directive'; ignored")
                continue
        sig = _DIRECTIVES.get(tok)
        if sig is not None:
            if (sig, agent) not in found:
                found.append((sig, agent))
            continue
        if _mentions(tok):
            # "noai noimageai" or "noai;noimageai": the intent is plain, so read it, and say so.
            # Only when every word is a robots directive: "why we say noai" in prose is not a reservation.
            parts = [p for p in _LOOSE_SEP.split(tok) if p]
            hits = [p for p in parts if p in _DIRECTIVES]
            if hits and all(p in _ROBOTS_WORDS for p in parts):
                notes.append(f"{tok!r} is not comma-separated; read as {', '.join(parts)!r}")
                for p in hits:
                    if (p, agent) not in found:
                        found.append((p, agent))
            else:
                notes.append(f"{tok!r} is not a known directive; ignored")
    return found


def header_findings(
    value: str | Sequence[str], where: str = _HEADER_WHERE
) -> tuple[list[Finding], list[Problem]]:
    """Findings for the ``X-Robots-Tag`` header value(s) ``value`` (one string, or one per header line; a
    string holding newlines is one header line per line of it).

    Each header line is read on its own (Google's rule): in ``googlebot: noindex`` followed by a line ``noai``,
    the ``noai`` is for every crawler, while the single line ``googlebot: noindex, noai`` gives both to googlebot.

    Every ``noai``/``noimageai`` gives one reserving :class:`Finding` per addressed agent; ``evidence`` is the
    header value. Never raises: a value that is not text, or a directive that cannot be read, is a Problem.
    """
    values: Sequence[object]
    if isinstance(value, str) and "\n" in value:  # several header lines, as records._headers keeps them
        values = tuple(value.split("\n"))
    elif isinstance(value, (str, bytes)):
        values = (value,)
    else:
        try:
            values = tuple(value)
        except TypeError:
            return [], [Problem(NOAI, where, f"header is {type(value).__name__}, not text or a list of text; "
                                             "ignored — pass the header value(s) as strings")]
    findings: list[Finding] = []
    problems: list[Problem] = []
    n = len(values)
    for i, v in enumerate(values):
        w = where if n == 1 else Message("audit.where.value_of", where=where, i=i + 1, n=n)
        if isinstance(v, bytes):
            v = v.decode("latin-1")  # HTTP field octets (RFC 9110 §5.5): every byte maps to one character
        elif not isinstance(v, str):
            problems.append(Problem(NOAI, w, f"header value is {type(v).__name__}, not text; ignored — "
                                             "pass header values as strings"))
            continue
        low = v.lower()
        if not _mentions(low):
            continue  # the common case: no work beyond two substring tests
        got = _read_value(v, low, w)
        findings.extend(got[0])
        problems.extend(got[1])
    return findings, problems


#: Results per (value, where): a corpus repeats the same few header values (one per site configuration) and
#: Findings are immutable, so a repeat costs a dict look-up. Bounded; cleared when full.
_CACHE: dict[tuple[str, str], tuple[tuple[Finding, ...], tuple[Problem, ...]]] = {}
_CACHE_MAX = 4096


def _read_value(v: str, low: str, w: str) -> tuple[tuple[Finding, ...], tuple[Problem, ...]]:
    key = (v, w)
    got = _CACHE.get(key)
    if got is not None:
        return got
    problems: list[Problem] = []
    if len(v) > MAX_VALUE_CHARS:
        problems.append(Problem(NOAI, w, f"header value is {len(v):,} characters; only the first "
                                         f"{MAX_VALUE_CHARS:,} were read"))
        v, low = v[:MAX_VALUE_CHARS], low[:MAX_VALUE_CHARS]
    notes: list[str] = []
    evidence = v.strip()
    findings = tuple(Finding(sig, w, evidence, True, (agent,)) for sig, agent in _scan(low, ANY_AGENT, notes))
    problems.extend(Problem(NOAI, w, note) for note in notes)
    got = (findings, tuple(problems))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = got
    return got


def html_findings(page: PageMeta) -> list[Finding]:
    """Findings for ``<meta name="robots">``, ``<meta name="<agent>">`` and ``<meta http-equiv="X-Robots-Tag">``
    of a page scanned by :func:`ipscope.audit.page.scan_html`."""
    out: list[Finding] = []
    for name, content in page.metas:
        low = content.lower()
        if not _mentions(low):
            continue
        if name == "x-robots-tag":
            found, _ = header_findings(content, 'html <meta http-equiv="X-Robots-Tag">')
            out.extend(found)
            continue
        if name == "robots":
            agent = ANY_AGENT
        elif _AGENT.match(name):
            agent = name
        else:
            continue  # "og:title", "twitter:card" …: not a crawler name
        where = Message("audit.where.meta", name=name)
        evidence = content.strip()
        for sig, a in _scan(low[:MAX_VALUE_CHARS], agent, []):
            out.append(Finding(sig, where, evidence, True, (a,)))
    return out
