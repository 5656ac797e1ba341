"""W3C TDM Reservation Protocol (TDMRep): ``/.well-known/tdmrep.json``, headers, HTML ``<meta>``, EPUB, PDF.

Spec: "TDM Reservation Protocol (TDMRep)", W3C Community Group Final Report (copy in
../shared/data/tdmrep/spec/index.html). Section names below are that document's headings.

* ``tdm-reservation`` is 1 (TDM rights reserved) or 0 (not reserved); "Other values are considered protocol
  errors. In such a case the TDM Agents MUST consider that ``tdm-reservation`` is unset" (§ tdm-reservation).
  Such values become a :class:`Problem` and no finding.
* ``tdm-policy`` is a URL; it is recorded in the evidence, never fetched.
* Precedence (§ Processing priority): the well-known file, then the HTTP headers ("supercede any value inferred
  from a TDM file"), then HTML ``<meta>`` ("supercede previous values"), then EPUB/PDF metadata; "the absence of
  ``tdm-reservation`` and ``tdm-policy`` MUST not reset current values". See :func:`decide`.

Nothing here raises on bad input: every reader returns its findings and a list of :class:`Problem`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from ipscope.audit.page import PageMeta
from ipscope.audit.pathmatch import KEEP_RESERVED, FirstMatch, Pattern, compile_pattern
from ipscope.audit.signals.base import Finding, Problem
from ipscope.messages import Message

SIGNAL: Final = "tdmrep"

#: 500 KiB, the cap ``ipscope.audit.sites`` applies to every site file (RFC 9309 §2.5's parsing limit; TDMRep
#: sets none). Bytes past it are not read; the entries complete before it are still used.
MAX_BYTES: Final[int] = 500 * 1024
#: Rules past this many are ignored (with a Problem): ``match`` is linear in the number of rules.
MAX_ENTRIES: Final[int] = 10_000
#: A longer ``location`` is not a path pattern anyone wrote by hand; it is ignored (with a Problem).
MAX_LOCATION: Final[int] = 2048
#: Largest EPUB package document / PDF metadata stream (decoded) that is read.
MAX_XML: Final[int] = 8 * 1024 * 1024

#: The namespace IRIs of the TDMRep vocabulary. The spec's EPUB 3 section and tdmrep.jsonld use
#: ``http://www.w3.org/ns/tdmrep#``, its PDF section ``http://www.w3.org/ns/tdmrep/``; both are accepted anywhere.
TDM_NAMESPACES: Final = frozenset({"http://www.w3.org/ns/tdmrep#", "http://www.w3.org/ns/tdmrep/"})

# --------------------------------------------------------------------------------------------- the file


@dataclass(frozen=True, slots=True)
class Rule:
    """One valid entry of tdmrep.json: ``index`` is its position in the JSON array (0 = first, as jq ``.[0]``)."""

    index: int
    location: str
    reserved: bool
    policy: str | None
    finding: Finding


@dataclass(frozen=True, slots=True)
class TdmrepFile:
    """A parsed ``/.well-known/tdmrep.json``: the valid rules in file order, the problems, one compiled matcher."""

    source: str
    rules: tuple[Rule, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    #: FirstMatch(...).regex of the locations, in order (the first alternative that matches names the rule)
    _rx: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def match(self, path: str) -> Finding | None:
        """The finding of the FIRST rule whose ``location`` matches ``path``, or ``None`` (reservation unset).

        ``path`` is the request target: the URL path with its query string (``/a/b.html?x=1``), the form
        Google's robots.txt matching (which the spec defers to) compares against; a full ``http(s)://`` URL
        is accepted too. § TDM File on the Origin Server: "The most specific match is the first in sequence."
        """
        rx = self._rx
        if rx is None:
            return None
        if path[:1] != "/":
            path = request_target(path)
        m = rx.match(_normalize(path))
        if m is None:
            return None
        return self.rules[m.lastindex - 1].finding  # type: ignore[operator]  # (FirstMatch.regex)


def request_target(url: str) -> str:
    """``/path?query`` of a URL (the fragment is not part of it); ``"/"`` for an empty path."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def parse_tdmrep_json(data: bytes, source: str) -> TdmrepFile:
    """Parse tdmrep.json bytes fetched from ``source`` (its URL or snapshot path). Never raises.

    Bad input gives ``problems`` (each naming the entry and the fix); the valid entries are still used.
    """
    problems: list[Problem] = []
    if len(data) > MAX_BYTES:
        problems.append(_p(source, f"the file is {len(data):,} bytes, over the {MAX_BYTES // 1024} KiB limit; "
                                   "only the entries complete within the limit were read — keep tdmrep.json short"))
        data = data[:MAX_BYTES]
    if b"\x00" in data:
        problems.append(_p(source, "binary data (NUL bytes), not a JSON file; treated as absent"))
        return TdmrepFile(source, (), problems)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        problems.append(_p(source, f"not UTF-8 (byte {e.start}); bad bytes replaced by U+FFFD — save it as UTF-8"))
        text = data.decode("utf-8-sig", errors="replace")
    items = _load(text, source, problems)
    rules: list[Rule] = []
    patterns: list[Pattern] = []
    for i, entry in enumerate(items):
        if len(rules) >= MAX_ENTRIES:
            problems.append(_p(source, f"more than {MAX_ENTRIES:,} rules; entries from {i} on were ignored"))
            break
        rule = _rule(entry, i, source, problems)
        if rule is not None:
            rules.append(rule[0])
            patterns.append(rule[1])
    rx = None
    if patterns:
        try:
            rx = FirstMatch(patterns).regex
        except (re.error, RecursionError, OverflowError) as e:  # not expected: every literal is escaped
            problems.append(_p(source, f"the location patterns could not be compiled ({e}); file treated as absent"))
            return TdmrepFile(source, (), problems)
    return TdmrepFile(source, tuple(rules), problems, rx)


def _p(where: str, message: str) -> Problem:
    return Problem(SIGNAL, where, message)


_WS = re.compile(r"[ \t\n\r]*")


def _load(text: str, source: str, problems: list[Problem]) -> list[object]:
    """The JSON array's items; salvages the entries before a syntax error (or the size cut)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        items = _salvage(text)
        where = (f" at line {e.lineno} column {e.colno}: {e.msg}" if isinstance(e, json.JSONDecodeError)
                 else " (nested too deeply)")
        hint = " — it looks like an HTML page (a soft 404?)" if text.lstrip()[:1] == "<" else ""
        done = (f"the {len(items)} entries before the error were used" if items
                else "treated as absent (no TDMRep file)")
        problems.append(_p(source, f"not valid JSON{where}{hint}; {done} — fix the file or report it to the site"))
        return items
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "location" in doc:
        problems.append(_p(source, "a JSON object, not an array; read as one rule — § TDM File on the Origin "
                                   "Server: the brackets \"are mandatory even if you express only one rule\""))
        return [doc]
    problems.append(_p(source, f"the top level is a JSON {_jtype(doc)}, not an array of rules; treated as absent"))
    return []


def _salvage(text: str) -> list[object]:
    dec = json.JSONDecoder()
    i = _WS.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", i):
        return []
    out: list[object] = []
    i += 1
    while True:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        try:
            obj, i = dec.raw_decode(text, i)
        except (ValueError, RecursionError):
            return out
        out.append(obj)
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if not text.startswith(",", i):
            return out
        i += 1


def _jtype(v: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number")


def _rule(entry: object, i: int, source: str, problems: list[Problem]) -> tuple[Rule, Pattern] | None:
    where = Message("audit.where.entry", source=source, i=i)
    if not isinstance(entry, dict):
        problems.append(_p(where, f"a JSON {_jtype(entry)}, not an object with location and tdm-reservation; "
                                  "ignored"))
        return None
    loc = entry.get("location")
    if not isinstance(loc, str):
        what = "missing" if loc is None and "location" not in entry else f"a {_jtype(loc)}, not a string"
        problems.append(_p(where, f"\"location\" is {what}; entry ignored — each rule needs a path pattern "
                                  "such as \"/\""))
        return None
    res = entry.get("tdm-reservation")
    if isinstance(res, bool) or not isinstance(res, (int, float)) or res not in (0, 1):
        what = "missing" if "tdm-reservation" not in entry else f"{json.dumps(res)[:40]}"
        problems.append(_p(where, f"\"tdm-reservation\" is {what}, not the number 0 or 1: a protocol error, so the "
                                  "reservation is unset (§ tdm-reservation); entry ignored — write 1 or 0 unquoted"))
        return None
    pol = entry.get("tdm-policy")
    if pol is not None and _bad_url(pol):
        problems.append(_p(where, f"\"tdm-policy\" {json.dumps(pol)[:80]} is not an http(s) URL; the rule is used, "
                                  "the policy is only shown as evidence — point it at the policy document"))
    pattern = _normalise_location(loc, where, problems)
    if pattern is None:
        return None
    evidence = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    finding = Finding(SIGNAL, where, evidence, reserved=res == 1)
    rule = Rule(i, loc, res == 1, pol if isinstance(pol, str) else None, finding)
    return rule, pattern


def _bad_url(v: object) -> bool:
    if not isinstance(v, str):
        return True
    try:
        parts = urlsplit(v.strip())
    except ValueError:
        return True
    return parts.scheme not in ("http", "https") or not parts.netloc


def _normalise_location(loc: str, where: str, problems: list[Problem]) -> Pattern | None:
    loc = loc.strip()
    if not loc:
        problems.append(_p(where, "\"location\" is empty; entry ignored (an empty robots.txt path matches nothing) "
                                  "— use \"/\" for the whole site"))
        return None
    if len(loc) > MAX_LOCATION:
        problems.append(_p(where, f"\"location\" is {len(loc):,} characters (limit {MAX_LOCATION}); entry ignored"))
        return None
    if loc.startswith(("http://", "https://")):
        path = request_target(loc)
        problems.append(_p(where, f"\"location\" is a full URL; its path {path!r} was used — write the path only"))
        loc = path
    elif not loc.startswith(("/", "*")):
        # Google's "URL matching based on path values" (which the spec says to follow): "fish/" is "equivalent
        # to /fish/".
        problems.append(_p(where, f"\"location\" {loc[:60]!r} does not start with \"/\"; read as \"/{loc[:60]}\""))
        loc = "/" + loc
    return compile_pattern(loc, KEEP_RESERVED)


# --- path matching -------------------------------------------------------------------------------------
# § Use of regular expressions: "*" is "0 or more instances of any character", "$" at the end "designates the
# end of the match pattern"; a match is a prefix match ("the end of the path from the rule is reached before a
# difference in octets is encountered"), case-sensitive. Percent-encoded unreserved characters are decoded
# before comparison, other escapes are kept (hex upper-cased), so "%7E" equals "~" but "%2F" is not "/".
# Special characters matched verbatim are written "%24" / "%2A" in patterns and match "$" / "*" in the URL.
# That is RFC 9309 matching in ipscope.audit.pathmatch's KEEP_RESERVED spelling (the spec defers to Google's
# "URL matching based on path values", which compares reserved characters as written); what is TDMRep's own
# stays here: the first matching entry wins (pathmatch.FirstMatch), and a location is repaired as
# _normalise_location says.
_normalize: Final = KEEP_RESERVED.normalize_path


# -------------------------------------------------------------------------------- headers, HTML, levels


def header_findings(headers: Mapping[str, str]) -> list[Finding]:
    """``tdm-reservation`` / ``tdm-policy`` response headers (§ TDM Header Field in HTTP Responses).

    ``headers`` must have LOWER-CASED keys (HTTP field names are case-insensitive; the caller lower-cases
    them once per record). Returns [] or one finding. See :func:`read_headers` for the problems.
    """
    if "tdm-reservation" not in headers:
        return []
    return read_headers(headers)[0]


def read_headers(headers: object) -> tuple[list[Finding], list[Problem]]:
    """:func:`header_findings` with its problems; accepts anything (a list of pairs, non-string values)."""
    if not isinstance(headers, Mapping):
        return [], [_p("headers", f"headers are a {type(headers).__name__}, not a mapping; ignored")]
    problems: list[Problem] = []
    res = _header_text(headers.get("tdm-reservation"), "tdm-reservation", problems)
    pol = _header_text(headers.get("tdm-policy"), "tdm-policy", problems)
    if res is None:
        return [], problems
    # Repeated header lines arrive joined by "," (RFC 9110 §5.3).
    values = res.split(",")
    evidence = f"tdm-reservation: {res}" + (f"; tdm-policy: {pol}" if pol is not None else "")
    hw = Message("audit.where.header", name="tdm-reservation")
    f = _level(hw, hw, values, [pol] if pol else [], evidence,
               problems)
    return ([f] if f else []), problems


def _header_text(v: object, name: str, problems: list[Problem]) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return ", ".join(v)
    problems.append(_p(Message("audit.where.header", name=name), f"value is a {type(v).__name__}, not text; ignored"))
    return None


def html_findings(page: PageMeta) -> list[Finding]:
    """``<meta name="tdm-reservation">`` / ``<meta name="tdm-policy">`` (§ TDM Metadata in HTML Content)."""
    return read_html(page)[0]


def read_html(page: PageMeta) -> tuple[list[Finding], list[Problem]]:
    """:func:`html_findings` with its problems."""
    res = page.meta("tdm-reservation")
    if not res:
        return [], []
    pol = page.meta("tdm-policy")
    problems: list[Problem] = []
    evidence = " ".join([f'<meta name="tdm-reservation" content="{v}">' for v in res]
                        + [f'<meta name="tdm-policy" content="{v}">' for v in pol])
    where = Message("audit.where.meta", name="tdm-reservation")
    f = _level(where, where, res, pol, evidence, problems)
    return ([f] if f else []), problems


def _level(where: str, label: str, values: Sequence[str], policies: Sequence[str], evidence: str,
           problems: list[Problem]) -> Finding | None:
    """One technique's finding: reserved if any valid value is 1, allowed if all valid values are 0."""
    valid = set()
    for v in values:
        s = v.strip()
        if s == "0" or s == "1":
            valid.add(s)
        else:
            problems.append(_p(label, f"value {v[:60]!r} is not 0 or 1: a protocol error, so this reservation is "
                                      "unset (§ tdm-reservation); ignored — use 1 (reserved) or 0"))
    for v in policies:
        if _bad_url(v):
            problems.append(_p(label, f"tdm-policy {v[:80]!r} is not an http(s) URL; kept as evidence only"))
    if not valid:
        return None
    if len(valid) > 1:
        problems.append(_p(label, "both 0 and 1 given; the reservation (1) is kept — give one value"))
    return Finding(SIGNAL, where, evidence, reserved="1" in valid)


def _has_policy(f: Finding) -> bool:
    ev = f.evidence
    return "tdm-policy" in ev or "tdm:policy" in ev or ":policy>" in ev


def decide(file: Finding | None, headers: Sequence[Finding], html: Sequence[Finding],
           media: Sequence[Finding] = ()) -> Finding | None:
    """The TDMRep verdict for one document (§ Processing priority).

    Precedence, low to high: the well-known file, the HTTP headers, HTML ``<meta>``, EPUB/PDF metadata (``media``).
    The highest technique that gives a valid ``tdm-reservation`` decides; a technique without one does not reset
    a lower one. When the deciding value contradicts a lower technique (``0`` over ``1`` or ``1`` over ``0``) the
    returned finding's evidence says what it overrides; a reservation without a policy names a lower technique's
    ``tdm-policy`` (policies are inherited the same way). Within one technique a 1 wins over a 0.
    """
    top: Finding | None = None
    lower: list[Finding] = []
    for level in (media, html, headers, (file,) if file is not None else ()):
        if not level:
            continue
        f = next((x for x in level if x.reserved), level[0])
        if top is None:
            top = f
        else:
            lower.append(f)
    if top is None or not lower:
        return top
    notes = []
    contrary = [f for f in lower if f.reserved != top.reserved]
    if contrary:
        notes.append("overrides " + "; ".join(f"{f.where}: {f.evidence}" for f in contrary))
    if top.reserved and not _has_policy(top):
        inherited = next((f for f in lower if _has_policy(f)), None)
        if inherited is not None:
            notes.append(f"tdm-policy from {inherited.where}: {inherited.evidence}")
    if not notes:
        return top
    return Finding(SIGNAL, top.where, f"{top.evidence} ({'; '.join(notes)})", top.reserved, top.agents)


# ------------------------------------------------------------------------------------------------- EPUB
# § TDM Metadata in EPUB 2 files: <meta name="tdm:reservation" content="1" /> in the package metadata.
# § TDM Metadata in EPUB 3 files: <meta property="tdm:reservation">1</meta>, prefix "tdm: http://www.w3.org/
# ns/tdmrep#" declared on <package>. Both forms are read in any EPUB version (EPUB 3 files often carry both).


def epub_findings(path: Path) -> tuple[list[Finding], list[Problem]]:
    """TDMRep metadata of an EPUB's package document (see :mod:`ipscope.audit.signals.tdmrep_media`)."""
    from ipscope.audit.signals.tdmrep_media import epub_findings as read

    return read(path)


def pdf_findings(path: Path) -> tuple[list[Finding], list[Problem]]:
    """TDMRep XMP metadata of a PDF (see :mod:`ipscope.audit.signals.tdmrep_media`)."""
    from ipscope.audit.signals.tdmrep_media import pdf_findings as read

    return read(path)
