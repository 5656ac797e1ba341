"""Really Simple Licensing (RSL 1.0, RSL-SPEC-1.0, namespace ``https://rslstandard.org/rsl``).

What is read (every rule cites the specification section; the decisions the text leaves open are in
docs/audit/rsl.md):

- the document (§2.2, §3): a safe XML parse (no DTD, no entities, at most :data:`MAX_BYTES`), the ``<rsl>``
  root in the RSL namespace (an RSS feed's or an embedded file's ``rsl:`` elements too, §4.7, §4.8), each
  ``<content url server encrypted>`` (§3.3) with its ``<license>`` term sets (§3.4): ``<permits>`` /
  ``<prohibits>`` of type ``usage``, ``user``, ``geo`` (§3.4.1, §3.5, §3.6), ``<payment>`` (§3.7-§3.11) and
  ``<reporting>`` (§3.12). Parsing never raises: a document that cannot be used is ``valid=False`` with the
  problem (§4.3: the asset is then unlicensed *for RSL*, as if the site published no RSL).
- evaluation (:func:`evaluate`): the ``<content>`` elements whose ``url`` matches a record URL with RFC 9309
  rules (§3.3), the most specific first (§3.1.1), each licence judged for training for the run's user class
  and region; a prohibition beats a permission (§3.1.1), a licence that needs a licence server (§3.3), a
  payment (§3.7) or a reporting duty (§3.12) is a condition the audit has not met.

This module knows nothing of where a document came from; :mod:`ipscope.audit.rsl_docs` finds and reads them.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ipscope.audit.signals.base import ANY_AGENT, Finding, Problem
from ipscope.messages import Message
from ipscope.audit.signals.rsl_links import link_header_licenses  # noqa: F401  (re-exported)
from ipscope.audit.signals.safe_xml import Node as _Node, Refused as _Refused, parse_xml

SIGNAL: Final = "rsl"
#: §2.2: the RSL namespace (also the root element's default namespace).
NS: Final = "https://rslstandard.org/rsl"
#: §2.2: the media type of an RSL document (HTTP Link header and HTML <link>/<script> ``type``).
MEDIA_TYPE: Final = "application/rsl+xml"
#: 1 MiB. The specification sets no limit; a real licence file is a few hundred bytes to a few KB, so 1 MiB is
#: thousands of times what one needs, and a larger body is refused unread (a problem), never parsed.
MAX_BYTES: Final = 1024 * 1024
#: Element nesting deeper than this is refused (an RSL document is 4-5 levels deep; feeds and XMP a few more).
MAX_DEPTH: Final = 64
MAX_PROBLEMS: Final = 20
MAX_TEXT: Final = 200  # characters of an element kept for evidence

UserClass = Literal["commercial", "non-commercial", "education", "government", "personal"]
#: §3.4.1.2 user vocabulary.
USER_CLASSES: Final[tuple[UserClass, ...]] = ("commercial", "non-commercial", "education", "government", "personal")
#: §3.4.1.1 usage vocabulary.
USAGE: Final = frozenset({"all", "ai-all", "ai-train", "ai-input", "ai-index", "search"})
#: §3.4.1.1: the usage tokens that cover AI training (``all`` any automated processing incl. AI training,
#: ``ai-all`` any AI use incl. ai-train, ``ai-train`` itself).
TRAINING: Final = frozenset({"all", "ai-all", "ai-train"})
#: IETF AI Preferences labels that rslstandard.org's guides and templates write in <permits>/<prohibits>
#: (§3.4.1.1: the usage vocabulary MAY absorb AI Preferences terms). Read as the RSL token, with a problem.
ALIASES: Final = {"train-ai": "ai-train", "train-genai": "ai-train", "ai-use": "ai-input"}
#: §3.7 payment types. ``free`` and ``attribution`` ask no money; the rest are payments.
PAYMENT_TYPES: Final = frozenset({"purchase", "subscription", "training", "crawl", "use", "contribution",
                                  "attribution", "free"})
NO_MONEY: Final = frozenset({"free", "attribution"})
#: §3.5 geo tokens: ISO 3166-1 alpha-2 or ``EU``; the EU's member states, for a region inside ``EU``.
EU_MEMBERS: Final = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
TERM_TYPES: Final = ("usage", "user", "geo")
_LICENSE_CHILDREN: Final = frozenset({"permits", "prohibits", "payment", "reporting", "legal"})
_CONTENT_CHILDREN: Final = frozenset({"license", "alternate", "schema", "copyright", "terms"})
_PAYMENT_CHILDREN: Final = frozenset({"standard", "custom", "amount", "accepts"})

State = Literal["none", "prohibited", "not-licensed", "conditional", "allowed"]
#: How restrictive each state is when documents or licences are combined (§3.1.1, §4.9: most restrictive).
_SEVERITY: Final[dict[str, int]] = {"none": 0, "allowed": 1, "conditional": 2, "not-licensed": 3, "prohibited": 4}


# --- the document model -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Terms:
    """One ``<permits>`` or ``<prohibits>`` (§3.5, §3.6): its type, its tokens (usage tokens in their RSL
    spelling), the tokens not understood, and the element as evidence."""

    kind: Literal["permits", "prohibits"]
    type: str  # usage | user | geo, or what the document wrote
    tokens: frozenset[str]
    unknown: tuple[str, ...]
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Payment:
    """``<payment>`` (§3.7): its type (None when absent) and which of its children (§3.8-§3.11) it has."""

    type: str | None
    children: tuple[str, ...]
    amount: str | None
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class License:
    """One ``<license>`` (§3.4): a term set. ``unreadable`` says why part of it could not be understood (an
    unknown element in the RSL namespace, an unknown prohibited token or term type): such a licence grants
    nothing (§3.1.1: never expand rights)."""

    line: int
    permits: tuple[Terms, ...]
    prohibits: tuple[Terms, ...]
    payment: Payment | None
    reporting: tuple[tuple[int, str], ...]  # (line, element) of each <reporting> (§3.12)
    unreadable: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Content:
    """One ``<content>`` (§3.3). ``url`` is None when the attribute is missing (it then matches nothing)."""

    url: str | None
    server: str | None
    encrypted: bool
    licenses: tuple[License, ...]
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class RslDocument:
    """A parsed RSL document. ``valid`` is False when it could not be used at all (not XML, wrong namespace,
    too long, no ``<content>``): §4.3 then makes the asset unlicensed for RSL, as without RSL."""

    source: str
    contents: tuple[Content, ...]
    problems: tuple[Problem, ...]
    valid: bool
    #: RSL-namespace elements under <rsl> the audit does not know (§3: non-conformant): they may hold terms.
    unknown_top: tuple[tuple[int, str], ...] = ()


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.dropped = 0

    def problem(self, message: str, line: int | None = None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        where = self.source if line is None else Message("audit.where.line", source=self.source, line=line)
        self.problems.append(Problem(SIGNAL, where, message))

    def done(self, contents: Sequence[Content], valid: bool, unknown_top: Sequence[tuple[int, str]] = ()
             ) -> RslDocument:
        if self.dropped:
            self.problems.append(Problem(SIGNAL, self.source, f"{self.dropped} more problems not listed"))
        return RslDocument(self.source, tuple(contents), tuple(self.problems), valid, tuple(unknown_top))

    def fail(self, message: str) -> RslDocument:
        self.problem(f"{message}; not used: the records it covers are unlicensed for RSL (RSL-SPEC-1.0 §4.3), "
                     "as if the site published no RSL licence — fix the document or report it to the site")
        return self.done((), False)


def parse_rsl(data: bytes, source: str) -> RslDocument:
    """Parse an RSL document (a licence file, an RSS feed with RSL items, or XML embedding ``rsl:rsl``).

    ``source`` names it in evidence (its URL). Never raises."""
    r = _Reader(source)
    if not isinstance(data, (bytes, bytearray)):
        return r.fail(f"content is {type(data).__name__}, not bytes")
    if len(data) > MAX_BYTES:
        return r.fail(f"{len(data):,} bytes, longer than the {MAX_BYTES:,}-byte limit (1 MiB)")
    if not data.strip():
        return r.fail("empty")
    try:
        root = parse_xml(bytes(data), MAX_DEPTH, MAX_TEXT)
    except _Refused as e:
        return r.fail(str(e))
    except expat.ExpatError as e:
        return r.fail(f"not well-formed XML 1.0 (line {e.lineno} column {e.offset}: "
                      f"{expat.ErrorString(e.code)}); §2.2 requires XML 1.0")
    except (ValueError, RecursionError, MemoryError) as e:
        return r.fail(f"could not be read as XML ({type(e).__name__})")
    try:
        return _document(r, root)
    except Exception as e:  # noqa: BLE001 — a defect here must cost one document, not the audit
        return r.fail(f"could not be read ({type(e).__name__}: {e}); please report this document to ipscope")


def _document(r: _Reader, root: _Node) -> RslDocument:
    if root.ns == NS and root.name == "rsl":
        # §2.2: the RSL namespace is the default namespace of a standalone document (no prefix). The parser
        # does not keep the prefix; a prefixed root is still read (§4.8 embeds one as rsl:rsl).
        return _rsl_root(r, [root])
    if root.name == "rsl":
        found = f"the namespace {root.ns!r}" if root.ns else "no namespace"
        return r.fail(f"root <rsl> is in {found}, not {NS} (§2.2: the RSL namespace must be declared, "
                      f'<rsl xmlns="{NS}">)')
    # §4.7 RSS feeds (<rsl:content> in items) and §4.8 embedded metadata (<rsl:rsl> wrapper)
    wrappers = [n for n in _walk(root) if n.ns == NS and n.name == "rsl"]
    if wrappers:
        return _rsl_root(r, wrappers)
    items = [n for n in _walk(root) if n.ns == NS and n.name == "content"]
    if items:
        return _contents(r, items, [])
    label = f"<{root.name}>" + (f" in namespace {root.ns!r}" if root.ns else "")
    return r.fail(f"not an RSL document: the root is {label}, and no element of the RSL namespace {NS} is in it")


def _walk(node: _Node) -> Iterable[_Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _rsl_root(r: _Reader, roots: list[_Node]) -> RslDocument:
    contents: list[_Node] = []
    unknown: list[tuple[int, str]] = []
    for root in roots:
        if "max-age" in root.attrs:
            v = root.attrs["max-age"].strip()
            if not (v.isascii() and v.isdigit() and int(v) > 0):
                r.problem(f"max-age={v!r} is not a positive number of days (§3.2); the default, 30 days, applies",
                          root.line)
        for c in root.children:
            if c.ns != NS:
                continue  # §1.2: elements of other namespaces are extensions, ignored
            if c.name == "content":
                contents.append(c)
            else:
                unknown.append((c.line, c.start_tag()))
                r.problem(f"unknown element <{c.name}> in the RSL namespace under <rsl> (§3: the document is not "
                          "conformant); it may hold terms the audit cannot read, so a record no <content> covers "
                          "is judged not licensed", c.line)
    return _contents(r, contents, unknown)


def _contents(r: _Reader, nodes: list[_Node], unknown: list[tuple[int, str]]) -> RslDocument:
    if not nodes:
        return r.fail("has no <content> element (§3.1: <rsl> holds one or more)")
    if not any(c.ns == NS and c.name == "license" for n in nodes for c in n.children):
        return r.fail("has no <license> element (§3.3: each <content> holds at least one), so it states no terms")
    return r.done([_content(r, n) for n in nodes], True, unknown)


def _content(r: _Reader, n: _Node) -> Content:
    url = n.attrs.get("url")
    if url is None:
        r.problem("<content> without the required url attribute (§3.3); it matches no record", n.line)
    else:
        url = url.strip()
    server = n.attrs.get("server", "").strip() or None
    enc = n.attrs.get("encrypted")
    encrypted = False
    if enc is not None:
        if enc not in ("true", "false"):
            r.problem(f"encrypted={enc!r}: §3.3 allows only lower-case true or false; read as true (the "
                      "stricter)", n.line)
        encrypted = enc != "false"
        if encrypted and server is None:
            r.problem('encrypted="true" without a server attribute (§3.3 requires one)', n.line)
    licenses = []
    for c in n.children:
        if c.ns != NS:
            continue
        if c.name == "license":
            licenses.append(_license(r, c))
        elif c.name not in _CONTENT_CHILDREN:
            r.problem(f"unknown element <{c.name}> in <content> (§3: not conformant); ignored", c.line)
    if not licenses:
        r.problem("<content> has no <license> (§3.3 requires at least one); nothing is licensed for the URLs it "
                  "covers", n.line)
    return Content(url, server, encrypted, tuple(licenses), n.line, n.start_tag())


def _license(r: _Reader, n: _Node) -> License:
    permits: list[Terms] = []
    prohibits: list[Terms] = []
    payment: Payment | None = None
    reporting: list[tuple[int, str]] = []
    unreadable: list[tuple[int, str]] = []
    for c in n.children:
        if c.ns != NS:
            continue
        if c.name in ("permits", "prohibits"):
            t = _terms(r, c)
            (permits if c.name == "permits" else prohibits).append(t)
            if t.type not in TERM_TYPES:
                unreadable.append((c.line, f"{c.shown()}: a term type the audit cannot judge"))
            elif c.name == "prohibits" and t.unknown and t.type != "geo":
                unreadable.append((c.line, f"{c.shown()}: prohibits {', '.join(t.unknown)}, which the audit does "
                                           "not understand"))
            elif c.name == "prohibits" and t.unknown:
                unreadable.append((c.line, f"{c.shown()}: region codes the audit does not understand"))
        elif c.name == "payment":
            if payment is not None:
                r.problem("a second <payment> in one <license> (§3.7 allows one); both count", c.line)
            p = _payment(r, c)
            payment = p if payment is None else Payment("|".join(filter(None, (payment.type, p.type))) or None,
                                                         payment.children + p.children, payment.amount or p.amount,
                                                         payment.line, payment.text)
        elif c.name == "reporting":
            reporting.append((c.line, c.shown()))
        elif c.name == "legal":
            pass  # §3.13: statements of the publisher; no condition on the use
        else:
            unreadable.append((c.line, f"{c.start_tag()}: an element the audit does not know"))
            r.problem(f"unknown element <{c.name}> in <license> (§3: not conformant); this licence grants "
                      "nothing, as its terms cannot all be read", c.line)
    for kind, terms in (("permits", permits), ("prohibits", prohibits)):
        types = [t.type for t in terms]
        for ty in sorted({t for t in types if types.count(t) > 1}):
            r.problem(f"more than one <{kind} type=\"{ty}\"> in one <license> (§3.5/§3.6 allow one); "
                      + ("only values every one lists count" if kind == "permits" else "all of them count"), n.line)
    return License(n.line, tuple(permits), tuple(prohibits), payment, tuple(reporting), tuple(unreadable))


def _split_tokens(r: _Reader, n: _Node) -> list[str]:
    text = n.text
    if "," in text:
        r.problem(f"comma-separated list {text[:80]!r}: RSL 1.0 lists are space-separated (§3.5; commas were the "
                  "0.9 draft's); read as separate tokens", n.line)
        text = text.replace(",", " ")
    return text.split()


def _terms(r: _Reader, n: _Node) -> Terms:
    kind: Literal["permits", "prohibits"] = "permits" if n.name == "permits" else "prohibits"
    ty = n.attrs.get("type")
    if ty is None:
        r.problem(f"<{kind}> without the required type attribute (§3.5: usage, user or geo); its licence grants "
                  "nothing", n.line)
        ty = ""
    elif ty not in TERM_TYPES:
        r.problem(f'<{kind} type="{ty}">: unknown type (§3.5: usage, user or geo); its licence grants nothing',
                  n.line)
    tokens: set[str] = set()
    unknown: list[str] = []
    for raw in _split_tokens(r, n):
        if ":" in raw:
            continue  # §3.4.1: an extension token (a QName of another namespace), not interpreted
        if ty == "geo":
            tok = raw.upper()
            if len(tok) == 2 and tok.isascii() and tok.isalpha():
                if tok != raw:
                    r.problem(f"geo {raw!r}: codes are upper case (§3.5, ISO 3166-1 alpha-2); read as {tok}", n.line)
                tokens.add(tok)
            else:
                unknown.append(raw)
                r.problem(f"geo {raw!r} is not an ISO 3166-1 alpha-2 code or EU (§3.5)", n.line)
            continue
        tok = raw.lower()
        if tok != raw and tok in (USAGE if ty == "usage" else USER_CLASSES):
            r.problem(f"{raw!r}: RSL tokens are lower case (§3.4.1); read as {tok!r}", n.line)
        if ty == "usage" and tok in ALIASES:
            r.problem(f"usage {raw!r} is not an RSL 1.0 token (§3.4.1.1: all, ai-all, ai-train, ai-input, ai-index, "
                      f"search); read as {ALIASES[tok]!r}, the IETF AI Preferences term rslstandard.org's guides use",
                      n.line)
            tok = ALIASES[tok]
        vocab = USAGE if ty == "usage" else frozenset(USER_CLASSES) if ty == "user" else None
        if vocab is not None and tok not in vocab:
            unknown.append(raw)
            which = "§3.4.1.1: all, ai-all, ai-train, ai-input, ai-index, search" if ty == "usage" else \
                "§3.4.1.2: commercial, non-commercial, education, government, personal"
            r.problem(f"unknown {ty} token {raw!r} ({which}); " + (
                "it grants nothing" if kind == "permits" else "its licence grants nothing, as what it "
                                                              "prohibits is unknown"), n.line)
            continue
        tokens.add(tok)
    if not tokens and not unknown:
        r.problem(f"<{kind}> lists no token", n.line)
    return Terms(kind, ty, frozenset(tokens), tuple(unknown), n.line, n.shown())


def _payment(r: _Reader, n: _Node) -> Payment:
    ty = n.attrs.get("type")
    if ty is not None and ty not in PAYMENT_TYPES:
        r.problem(f'<payment type="{ty}">: not an RSL 1.0 payment type (§3.7: purchase, subscription, training, '
                  "crawl, use, contribution, attribution, free); read as a payment", n.line)
    children = tuple(c.name for c in n.children if c.ns == NS and c.name in _PAYMENT_CHILDREN)
    amount = next((c.text for c in n.children if c.ns == NS and c.name == "amount"), None)
    for c in n.children:
        if c.ns == NS and c.name not in _PAYMENT_CHILDREN:
            r.problem(f"unknown element <{c.name}> in <payment> (§3: not conformant); ignored", c.line)
        if c.ns == NS and c.name == "amount" and not c.attrs.get("currency"):
            r.problem("<amount> without its required currency (§3.10, ISO 4217)", c.line)
    return Payment(ty, children, amount, n.line, n.shown() if not n.children else
                   n.start_tag() + "".join(c.shown() for c in n.children if c.ns == NS) + "</payment>")


# --- evaluation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judged:
    """Who the audit judges terms for: the user class (§3.4.1.2) and region (§3.5) of the run."""

    user: UserClass = "commercial"
    region: str | None = None  # ISO 3166-1 alpha-2 or EU; None: not declared


@dataclass(frozen=True, slots=True)
class Evidence:
    where: str  # the document, the <content> and the element's line
    text: str  # the element, and what it means for training


@dataclass(frozen=True, slots=True)
class Verdict:
    """What RSL says about training one record. ``state`` ``none``: no ``<content>`` covers it."""

    state: State
    evidence: tuple[Evidence, ...] = ()

    @property
    def reserved(self) -> bool | None:
        return None if self.state == "none" else self.state != "allowed"

    def findings(self, agents: tuple[str, ...] = (ANY_AGENT,)) -> list[Finding]:
        if self.state == "none":
            return []
        return [Finding(SIGNAL, e.where, e.text, self.state != "allowed", agents) for e in self.evidence]


NONE: Final = Verdict("none")


def _rfc9309_match(pattern: str, path: str) -> int | None:
    """The specificity (octets of the normalised pattern) when ``pattern`` matches ``path``, else None.

    The one place RSL calls an RFC 9309 matcher (§3.3: ``url`` follows the Robots Exclusion Protocol's
    URL-matching rules, ``*`` and ``$``): the shared one of :mod:`ipscope.audit.pathmatch`, in robots.txt's
    spelling."""
    from ipscope.audit.pathmatch import compile_pattern

    p = compile_pattern(pattern)
    return p.priority if p.matches(path) else None


def _match(c: Content, key: str, path: str) -> int | None:
    """§3.3: a full URL (its site must be the record's, then its path matches) or a server path; ``""`` is the
    association's own scope (§4.6: the page or element it is placed on; see docs/audit/rsl.md for robots.txt)."""
    url = c.url
    if url is None:
        return None
    if url == "":
        return 0
    if url[0] in "/*":
        return _rfc9309_match(url, path)
    from ipscope.audit.sites import site_key

    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    rest = url[scheme_end + 3:]
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    if site_key(url[: scheme_end + 3] + rest[:cut] + "/") != key:
        return None
    return _rfc9309_match(rest[cut:] or "/", path)


def _region_in(region: str, codes: frozenset[str]) -> bool:
    return region in codes or ("EU" in codes and region in EU_MEMBERS)


def _judge_license(lic: License, c: Content, who: Judged) -> tuple[State | Literal["n/a"], list[tuple[int, str]]]:
    """(state of training under this licence, the (line, evidence) that decide it)."""
    for t in lic.permits:
        if t.type == "user" and who.user not in t.tokens:
            return "n/a", [(t.line, f"{t.text}: for other user classes than the run's {who.user!r} (--rsl-user)")]
        if t.type == "geo" and (who.region is None or not _region_in(who.region, t.tokens)):
            reason = "the run declares no region (--region)" if who.region is None else \
                f"not the run's region {who.region}"
            return "n/a", [(t.line, f"{t.text}: only for these regions, {reason}")]
    for t in lic.prohibits:
        if t.type == "user" and who.user in t.tokens:
            return "n/a", [(t.line, f"{t.text}: excludes the run's user class {who.user!r} (--rsl-user)")]
        if t.type == "geo" and (who.region is None or _region_in(who.region, t.tokens)
                                or (who.region == "EU" and t.tokens & EU_MEMBERS)):
            reason = "the run declares no region (--region), so it may be one of them" if who.region is None else \
                f"includes the run's region {who.region}"
            return "n/a", [(t.line, f"{t.text}: excludes these regions; {reason}")]
    prohibits = [t for t in lic.prohibits if t.type == "usage" and t.tokens & TRAINING]
    if prohibits:  # §3.1.1 / §3.6: a prohibition beats any permission of the same use
        return "prohibited", [(t.line, f"{t.text}: AI training prohibited") for t in prohibits]
    if lic.unreadable:
        return "not-licensed", [(ln, f"{why}; this licence grants nothing") for ln, why in lic.unreadable]
    usage = [t for t in lic.permits if t.type == "usage"]
    if usage and not all(t.tokens & TRAINING for t in usage):  # §3.5: a closed list
        return "not-licensed", [(t.line, f"{t.text}: permits only these uses, not AI training") for t in usage]
    conds: list[tuple[int, str]] = []
    if c.server is not None:  # §3.3: a licence must be obtained from the server, even a free one
        conds.append((c.line, f"{c.text}: a licence must be obtained from the licence server {c.server} "
                              "(never contacted by the audit), which the audit does not hold"))
    elif c.encrypted:
        conds.append((c.line, f"{c.text}: encrypted content; a licence and key are needed"))
    p = lic.payment
    if p is not None and (p.type not in NO_MONEY if p.type is not None else bool(p.children)):
        kind = (f"a {p.type} payment" if p.type else "the terms of " + ", ".join(f"<{x}>" for x in p.children)
                if p.type or p.children else "a payment of an unknown type")
        conds.append((p.line, f"{p.text}: AI training is licensed only against {kind}, which the audit has not made"))
    elif p is not None and p.type in NO_MONEY and p.amount and _nonzero(p.amount):
        conds.append((p.line, f"{p.text}: type {p.type} with a price; read as a payment"))
    for line, text in lic.reporting:  # §3.12: a client that cannot comply treats the use as not licensed
        conds.append((line, f"{text}: a reporting duty the audit cannot fulfil"))
    if conds:
        return "conditional", conds
    granted = usage or list(lic.permits)
    if granted:
        return "allowed", [(t.line, f"{t.text}: AI training licensed" + (f", {p.type}" if p and p.type else ""))
                           for t in granted]
    return "allowed", [(lic.line, "<license> without a usage restriction" + (f", {p.type}" if p and p.type else
                                                                               " or payment (free, §3.7)"))]


def _nonzero(amount: str) -> bool:
    try:
        return float(amount) != 0
    except ValueError:
        return True


def evaluate(doc: RslDocument, url: str, who: Judged, *, key: str | None = None, path: str | None = None
             ) -> Verdict:
    """What ``doc`` says about AI training of the record at ``url`` for ``who``.

    ``key``/``path`` (the record's site key and path+query) may be passed when the caller has them."""
    if not doc.valid:
        return NONE
    if key is None or path is None:
        from ipscope.audit.sites import site_key

        key = site_key(url) or ""
        start = url.find("://") + 3
        cut = min((i for i in (url.find("/", start), url.find("?", start)) if i >= 0), default=len(url))
        path = url[cut:].partition("#")[0] or "/"
        if not path.startswith("/"):
            path = "/" + path
    best: int | None = None
    chosen: list[Content] = []
    for c in doc.contents:
        spec = _match(c, key, path)
        if spec is None:
            continue
        if best is None or spec > best:  # §3.1.1: the narrower scope takes precedence
            best, chosen = spec, [c]
        elif spec == best:  # equally specific: evaluated together (§3.1.1)
            chosen.append(c)
    if not chosen:
        if doc.unknown_top:
            return Verdict("not-licensed", tuple(
                Evidence(Message("audit.where.line", source=doc.source, line=ln), f"{text}: an element the audit cannot read, which may hold "
                                                   "terms for this URL") for ln, text in doc.unknown_top))
        return NONE
    per: dict[str, list[Evidence]] = {}
    for c in chosen:
        where = Message("audit.where.rsl_content", source=doc.source, url=c.url)
        if not c.licenses:
            per.setdefault("not-licensed", []).append(Evidence(Message("audit.where.line", source=where, line=c.line),
                                                               f"{c.text}: no <license>, nothing is licensed"))
        for lic in c.licenses:
            state, ev = _judge_license(lic, c, who)
            per.setdefault("not-licensed" if state == "n/a" else state, []).extend(
                Evidence(Message("audit.where.line", source=where, line=ln), text) for ln, text in ev)
    # §3.1.1: a prohibition in the effective scope wins; otherwise licences are alternative offers: one that
    # grants training freely is enough, then one that grants it on conditions, else nothing is licensed
    for state in ("prohibited", "allowed", "conditional", "not-licensed"):
        if state in per:
            return Verdict(state, tuple(per[state]))  # type: ignore[arg-type]
    return NONE


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Several documents for one record at the same level of precedence: the most restrictive (§4.9)."""
    said = [v for v in verdicts if v.state != "none"]
    if not said:
        return NONE
    worst = max(_SEVERITY[v.state] for v in said)
    state = next(v.state for v in said if _SEVERITY[v.state] == worst)
    keep = [e for v in said if (v.state != "allowed") == (state != "allowed") for e in v.evidence]
    return Verdict(state, tuple(dict.fromkeys(keep)))
