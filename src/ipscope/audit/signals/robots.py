"""robots.txt (RFC 9309), with the aipref ``Content-Usage`` rule and Cloudflare's ``Content-Signal`` line.

One :class:`RobotsFile` per site: parsed once (:func:`parse_robots`, :func:`robots_for_status`), each agent
group compiled on first use, then asked per record with :meth:`RobotsFile.check`. RFC 9309 decides the
grammar (§2.2), the longest-match rule (§2.2.2), ``*``/``$`` (§2.2.3), the 500 KiB limit (§2.5) and the
fetch-status rules (§2.3.1); agent names match as protego matches them, so the two agree. Paths are matched by
:mod:`ipscope.audit.pathmatch` (the one RFC 9309 matcher, in its ENCODE_RESERVED spelling); what stays here is
robots.txt's own: the implicit ``/robots.txt`` allow and the ``index.html`` rule. Every rule, and the few places
where ipscope and protego differ (with the RFC text that decides), is in docs/audit/robots.md.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final, Literal

from ipscope.audit.pathmatch import ENCODE_RESERVED, Pattern, RuleMatcher, compile_pattern
from ipscope.audit.pathmatch import glob_match as _glob  # noqa: F401 (re-exported)
from ipscope.audit.pathmatch import glob_parts as _glob_parts  # noqa: F401 (re-exported)
from ipscope.audit.pathmatch import normalize_path, normalize_pattern  # noqa: F401 (re-exported)
from ipscope.audit.signals.base import ANY_AGENT, Finding, Problem
from ipscope.messages import Message
from ipscope.audit.signals.content_usage import MAX_EVIDENCE, UsagePrefs, parse_content_signal, parse_usage

SIGNAL: Final = "robots.txt"
USAGE_SIGNAL: Final = "content-usage"
CONTENT_SIGNAL: Final = "content-signal"
#: RFC 9309 §2.5: a parser must read at least 500 kibibytes; we stop there.
MAX_BYTES: Final = 500 * 1024
#: Problems kept per file; the rest are counted in one last Problem.
MAX_PROBLEMS: Final = 20

Kind = Literal["allow", "disallow", "content-usage", "content-signal"]

_USER_AGENT: Final = frozenset({"user-agent", "useragent", "user agent"})
# Misspellings Google's parser and protego accept (RFC 9309 §2.2.4 allows leniency).
_DISALLOW: Final = frozenset({"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"})
_KINDS: Final[dict[str, Kind]] = {
    **{k: "disallow" for k in _DISALLOW},
    "allow": "allow",
    "content-usage": "content-usage",
    "content-signal": "content-signal",
}
# Records recognised only so that "<record> <value>" without a colon is read as that record (then ignored).
_OTHER: Final = frozenset({"sitemap", "sitemaps", "site-map", "crawl-delay", "crawl delay", "request-rate",
                           "request rate", "visit-time", "visit time", "host", "license"})
_KNOWN: Final = _USER_AGENT | frozenset(_KINDS) | _OTHER
_EOL: Final = re.compile(r"\r\n|\r|\n")
_PRODUCT_TOKEN: Final = re.compile(r"([a-z_-]+)/")  # a product token with a version: "gptbot/1.0"
_INDEX_PAGE: Final = re.compile(r"/index\.html\Z")


# Paths and patterns are compared in pathmatch's ENCODE_RESERVED spelling (RFC 9309 §2.2.2 Figure 4, as protego
# spells them): normalize_path / normalize_pattern are re-exported from there, _glob / _glob_parts too (the
# property test of tests/test_audit_robots.py checks the wildcard matcher through them).
_normalize: Final = ENCODE_RESERVED.normalize_path
_normalize_pattern: Final = ENCODE_RESERVED.normalize_pattern


# --- parsed structure --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One group member line: an allow/disallow rule or a usage line, with where it was written."""

    kind: Kind
    pattern: str  # normalised; "/" for a path-less usage line
    line: int
    text: str  # the line as written (stripped), for evidence
    prefs: UsagePrefs | None = None  # content-usage: the parsed preference
    train: bool | None = None  # content-signal: ai-train yes (True) / no (False) / absent (None)


class _Matcher(RuleMatcher[Rule]):
    """The compiled rules of one agent's merged groups (:class:`~ipscope.audit.pathmatch.RuleMatcher`: the longest
    matching pattern decides, allow wins a tie, then the earlier line), with its usage lines. Built on first use,
    linear in its rules, so a corpus with a few records on each of many sites stays fast."""

    __slots__ = ("usage", "signals")

    def __init__(self, rules: list[Rule], usage: list[Rule]) -> None:
        super().__init__([(r.pattern, r.kind == "allow", r) for r in rules], ENCODE_RESERVED)
        # content-usage and content-signal lines (site-wide ones included), longest pattern first
        self.usage = _by_length(r for r in usage if r.kind == "content-usage") if usage else []
        self.signals = _by_length(r for r in usage if r.kind == "content-signal") if usage else []


class _Entry:
    """The agents (of one asked list) that fall to one matcher, with the Findings already made for them."""

    __slots__ = ("matcher", "agents", "findings")

    def __init__(self, matcher: _Matcher, agents: tuple[str, ...]) -> None:
        self.matcher = matcher
        self.agents = agents
        self.findings: dict[tuple[int, str, bool], Finding] = {}


_Usage = list[tuple[int, Pattern, Rule]]


def _by_length(rules: Iterable[Rule]) -> _Usage:
    return sorted(((len(r.pattern), compile_pattern(r.pattern, normalized=True), r) for r in rules),
                  key=lambda t: -t[0])


def _longest(rules: _Usage, path: str) -> list[Rule]:
    """The usage lines with the longest pattern matching ``path`` (attach §3.1: as for Allow/Disallow)."""
    best: list[Rule] = []
    best_len = 0
    for length, pattern, r in rules:
        if length < best_len:
            break
        if pattern.matches_normalized(path):
            best_len = length
            best.append(r)
    return best


@dataclass(frozen=True, slots=True)
class LicenseRef:
    """One RSL ``License:`` line (RSL-SPEC-1.0 §4.4): the URL as written, its line, the line's text."""

    url: str
    line: int
    text: str


_ABSOLUTE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class RobotsFile:
    """A parsed robots.txt; :meth:`check` answers per record. Never raises on any input."""

    def __init__(self, source: str, status: int | None = 200) -> None:
        self.source = source
        self.status = status
        self.problems: list[Problem] = []
        #: set for a 5xx / unreachable file: every path is disallowed for everyone (RFC 9309 §2.3.1.4)
        self.complete_disallow: str | None = None
        self._groups: list[list[Rule]] = []
        self._key_groups: dict[str, list[int]] = {}  # agent name (lower-case) -> its group ids, file order
        self._sitewide: list[Rule] = []
        self._matchers: dict[tuple[int, ...], _Matcher] = {}
        self._plans: dict[tuple[str, ...], list[_Entry]] = {}
        self._last_agents: object = None
        self._last_plan: list[_Entry] = []
        self._complete: Finding | None = None
        self._dropped_problems = 0
        #: RSL License lines (§4.4): outside any group (global) and per group id
        self._licenses: list[LicenseRef] = []
        self._group_licenses: dict[int, list[LicenseRef]] = {}
        self._license_plans: dict[tuple[str, ...], list[tuple[tuple[LicenseRef, ...], tuple[str, ...]]]] = {}

    # -- building

    def _problem(self, message: str, line: int | None = None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self._dropped_problems += 1
            return
        where = self.source if line is None else Message("audit.where.line", source=self.source, line=line)
        self.problems.append(Problem(SIGNAL, where, message))

    @property
    def agents_named(self) -> list[str]:
        """The agent names the file has groups for (lower-case, file order)."""
        return list(self._key_groups)

    # -- asking

    def _select(self, agents: Sequence[str]) -> list[str | None]:
        """The group name that applies to each agent (lower-case), or None: protego's rule, the longest name
        found in the agent's token at a token start, ``*`` with the lowest score, the first name on a tie.

        The names are searched in all agents at once (one string), so a site costs one ``find`` pass per
        group name, not one per name and agent: the policy asks about ~150 agents on every site."""
        best: list[str | None] = [None] * len(agents)
        score = [0] * len(agents)
        joined = "\n".join(agents)
        starts = list(accumulate((len(a) + 1 for a in agents[:-1]), initial=0))
        for key in self._key_groups:  # file order: on a tie the earlier name stays
            if key == ANY_AGENT:
                for k in range(len(agents)):
                    if score[k] < 1:
                        best[k], score[k] = key, 1
                continue
            if "\n" in key:
                continue
            i = joined.find(key)
            while i != -1:
                k = bisect_right(starts, i) - 1
                at = i - starts[k]
                agent = agents[k]
                if (len(key) > score[k] and at + len(key) <= len(agent)
                        and (at == 0 or not (agent[at - 1].isalnum() or agent[at - 1] in "-_"))):
                    best[k], score[k] = key, len(key)
                i = joined.find(key, i + 1)
        return best

    def _matcher(self, groups: tuple[int, ...]) -> _Matcher:
        m = self._matchers.get(groups)
        if m is None:
            rules: list[Rule] = []
            usage: list[Rule] = list(self._sitewide)
            for g in groups:
                for r in self._groups[g]:
                    (rules if r.kind in ("allow", "disallow") else usage).append(r)
            m = self._matchers[groups] = _Matcher(rules, usage)
        return m

    def _plan(self, agents: Sequence[str]) -> list[_Entry]:
        """Agents grouped by the matcher that decides for them; computed once per agent list (pass the same
        tuple object every call and even the lookup is skipped)."""
        if agents is self._last_agents and type(agents) is tuple:
            return self._last_plan
        key = tuple(agents)
        plan = self._plans.get(key)
        if plan is None:
            by_group: dict[tuple[int, ...], list[str]] = {}
            for a, name in zip(key, self._select([a.strip().lower() for a in key])):
                groups = tuple(self._key_groups[name]) if name is not None else ()
                if groups or self._sitewide:
                    by_group.setdefault(groups, []).append(a)
            plan = [_Entry(self._matcher(g) if g else _Matcher([], list(self._sitewide)), tuple(v))
                    for g, v in by_group.items()]
            if len(self._plans) >= 16:  # a run uses one or two agent lists; bound it anyway
                self._plans.clear()
            self._plans[key] = plan
        self._last_agents, self._last_plan = agents, plan
        return plan

    def check(self, path: str, agents: Sequence[str]) -> list[Finding]:
        """Findings for one request path (+ query) and the agents asked about.

        One ``robots.txt`` Finding per group that disallows ``path`` (listing the agents that fall to it),
        plus ``content-usage`` / ``content-signal`` Findings where those lines state a training preference.
        """
        if self.complete_disallow is not None:
            if agents is not self._last_agents or type(agents) is not tuple:
                self._last_agents = agents
                self._complete = Finding(SIGNAL, self.source, self.complete_disallow, True, tuple(agents))
            return [self._complete]  # type: ignore[list-item]
        plan = self._plan(agents)
        if not plan or path.partition("?")[0] == "/robots.txt":  # §2.2.2: implicitly allowed
            return []
        npath = _normalize(path)
        out: list[Finding] = []
        for e in plan:
            rule = e.matcher.decide(npath)
            crawlable = rule is None or rule.kind == "allow"
            if not crawlable:
                out.append(self._finding(e, rule, SIGNAL, True))  # type: ignore[arg-type]
            if e.matcher.usage or e.matcher.signals:
                self._usage_findings(e, npath, crawlable, out)
        return out

    @property
    def has_licenses(self) -> bool:
        """True when the file has an RSL ``License:`` line."""
        return bool(self._licenses or self._group_licenses)

    def licenses(self, agents: Sequence[str]) -> list[tuple[tuple[LicenseRef, ...], tuple[str, ...]]]:
        """The RSL licences for each asked agent, grouped: ``[(License lines, the agents they apply to)]``.

        RSL-SPEC-1.0 §4.4.2/§4.4.3: an agent's group is selected under RFC 9309 rules (as for Allow/Disallow);
        when that group has License lines they apply and the global ones (outside any group) are ignored,
        otherwise the global ones apply. License never changes what Allow/Disallow decide."""
        if not self.has_licenses:
            return []
        key = tuple(agents)
        plan = self._license_plans.get(key)
        if plan is not None:  # one selection per agent list (a run asks the same list for every record)
            return plan
        by: dict[tuple[LicenseRef, ...], list[str]] = {}
        for a, name in zip(agents, self._select([a.strip().lower() for a in agents])):
            refs: list[LicenseRef] = []
            for g in self._key_groups.get(name, ()) if name is not None else ():
                refs.extend(self._group_licenses.get(g, ()))
            chosen = tuple(dict.fromkeys(refs)) if refs else tuple(self._licenses)
            if chosen:
                by.setdefault(chosen, []).append(a)
        if len(self._license_plans) >= 16:
            self._license_plans.clear()
        plan = self._license_plans[key] = [(refs, tuple(agents_)) for refs, agents_ in by.items()]
        return plan

    def allowed(self, path: str, agent: str = ANY_AGENT) -> bool:
        """True when ``agent`` may crawl ``path`` by the Allow/Disallow rules alone."""
        return not any(f.signal == SIGNAL for f in self.check(path, (agent,)))

    def _finding(self, e: _Entry, rule: Rule, signal: str, reserved: bool) -> Finding:
        key = (rule.line, signal, reserved)
        f = e.findings.get(key)
        if f is None:
            f = e.findings[key] = Finding(signal, Message("audit.where.line", source=self.source, line=rule.line), rule.text, reserved, e.agents)
        return f

    def _usage_findings(self, e: _Entry, npath: str, crawlable: bool, out: list[Finding]) -> None:
        m = e.matcher
        if crawlable:  # attach §3.1: no preferences are implied for resources that may not be crawled
            cu = _longest(m.usage, npath)
            verdicts = [(r, r.prefs.training) for r in cu if r.prefs is not None]
            deny = [r for r, t in verdicts if t == "disallowed"]
            allow = [r for r, t in verdicts if t == "allowed"]
            if deny:  # vocab §5.1: a disallow among equally specific statements wins
                out.append(self._finding(e, deny[0], USAGE_SIGNAL, True))
            elif allow:
                out.append(self._finding(e, allow[0], USAGE_SIGNAL, False))
        cs = [r for r in _longest(m.signals, npath) if r.train is not None]
        no = [r for r in cs if r.train is False]
        if no:
            out.append(self._finding(e, no[0], CONTENT_SIGNAL, True))
        elif cs:
            out.append(self._finding(e, cs[0], CONTENT_SIGNAL, False))


# --- parsing -----------------------------------------------------------------------------------------------


def _split(line: str) -> tuple[str, str] | None:
    """``(record name lower-cased, value)`` of a comment-free, stripped, non-empty line, or None.

    ``name: value`` is the form of RFC 9309 §2.2. Like Google's parser and protego we also read
    ``name value`` when the colon is missing and the name is a record we know, and ``user agent``.
    """
    name, colon, raw = line.partition(":")
    if colon:
        key = name.strip().lower()
        if key in _KNOWN or not raw or raw[0].isspace():
            return key, raw.strip()
    words = line.split()
    for n in (1, 2):
        key = " ".join(words[:n]).lower()
        if key in _KNOWN:
            return key, " ".join(words[n:])
    return (name.strip().lower(), raw.strip()) if colon else None


def _agent_names(value: str) -> list[str]:
    ua = value.strip().lower()
    names = [ua]
    if ua != ANY_AGENT and "*" in ua:
        names.append(ua.replace("*", ""))  # protego: "*" inside a name is dropped ("*bot*" -> "bot")
    token = _PRODUCT_TOKEN.match(ua)
    if token:  # RFC 9309 §2.2.1 / RFC 9110 §10.1.5: "GPTBot/1.0" is the product token "gptbot" + a version
        names.append(token.group(1))
    return [n for n in dict.fromkeys(names) if n]


def _usage_rule(kind: Kind, value: str, n: int, text: str, f: RobotsFile) -> Rule | None:
    """A Content-Usage / Content-Signal line: an optional path, whitespace, then the preferences."""
    pattern = "/"
    prefs_text = value
    if value[:1] in ("/", "*"):
        parts = value.split(None, 1)
        pattern = _normalize_pattern(parts[0])
        prefs_text = parts[1] if len(parts) > 1 else ""
    if not prefs_text.strip():
        f._problem(f"{kind} line has a path but no preferences; ignored", n)
        return None
    if kind == "content-usage":
        prefs = parse_usage(prefs_text)
        if prefs.error is not None:
            f._problem(f"Content-Usage value {prefs.error}; preferences unknown — write e.g. "
                       "'Content-Usage: / train-ai=n'", n)
        return Rule(kind, pattern, n, text, prefs=prefs)
    train, notes = parse_content_signal(prefs_text)
    for note in notes:
        f._problem(note, n)
    return Rule(kind, pattern, n, text, train=train)


def _license_line(f: RobotsFile, value: str, n: int, text: str, group: int | None) -> None:
    """Record an RSL ``License:`` line: global before any user-agent line, else the current group's (§4.4)."""
    url = value.strip()
    if not url:
        f._problem("License line without a URL (RSL-SPEC-1.0 §4.4: License: <absolute URL>); ignored", n)
        return
    if not _ABSOLUTE.match(url):
        f._problem(f"License {url[:80]!r} is not an absolute URL (RSL-SPEC-1.0 §4.4 requires one); resolved against "
                   "this robots.txt's URL", n)
    ref = LicenseRef(url, n, text)
    if group is None:
        f._licenses.append(ref)
    else:
        f._group_licenses.setdefault(group, []).append(ref)


def parse_robots(data: bytes, source: str) -> RobotsFile:
    """Parse a robots.txt body (RFC 9309 §2.2); never raises. ``source`` names it in evidence."""
    f = RobotsFile(source)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    elif not isinstance(data, bytes | bytearray | memoryview):
        f._problem(f"content is {type(data).__name__}, not bytes; treated as an empty file")
        data = b""
    try:
        _parse_into(f, data)
    except Exception as e:  # noqa: BLE001 — a defect here must cost one site, not the audit
        f._groups.clear()
        f._key_groups.clear()
        f._sitewide.clear()
        f._licenses.clear()
        f._group_licenses.clear()
        f._problem(f"could not be parsed ({type(e).__name__}: {e}); treated as no restriction — "
                   "please report this file to ipscope")
    if f._dropped_problems:
        f.problems.append(Problem(SIGNAL, source, f"{f._dropped_problems} more problems not listed"))
    return f


def decode_robots(data: bytes) -> str:
    """The text of a robots.txt body as the parser reads it (before the size cap).

    RFC 9309 §2.1 wants UTF-8: a UTF-8 BOM is skipped, bad bytes become U+FFFD. A file that starts with a
    UTF-16 BOM (a few sites save robots.txt from Windows editors) is decoded as UTF-16 rather than read as
    garbage, so the rules its owner wrote still count — noted as a Problem.
    """
    return _utf8(bytes(data))[0].decode("utf-8", "replace")


def _utf8(raw: bytes) -> tuple[bytes, str | None]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:], None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = raw.decode("utf-16", "replace")
        return text.encode("utf-8"), "UTF-16 (byte order mark), not UTF-8 as RFC 9309 §2.1 requires; decoded as UTF-16"
    return raw, None


def _parse_into(f: RobotsFile, data: bytes | bytearray | memoryview) -> None:
    raw, note = _utf8(bytes(data))
    if note:
        f._problem(note)
    if len(raw) > MAX_BYTES:
        cut = max(raw.rfind(b"\n", 0, MAX_BYTES + 1), raw.rfind(b"\r", 0, MAX_BYTES + 1))
        f._problem(f"{len(raw)} bytes; only the first {MAX_BYTES} (500 KiB, RFC 9309 §2.5) are read and the "
                   "line cut there is dropped")
        raw = raw[: cut + 1] if cut >= 0 else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", "replace")
        f._problem(f"not valid UTF-8 (first bad byte at offset {e.start}; RFC 9309 §2.1 requires UTF-8); "
                   "bad bytes were replaced with U+FFFD")
    if "\x00" in text:
        f._problem("contains NUL bytes (binary data?); read as text anyway")

    current: list[str] = []  # agent names of the group being read
    in_agents = False  # the last group-relevant line was a user-agent line
    group = -1
    records = content = 0
    for n, written in enumerate(_EOL.split(text), 1):
        hash_at = written.find("#")
        line = (written[:hash_at] if hash_at >= 0 else written).strip()
        if not line:
            continue
        content += 1
        kv = _split(line)
        if kv is None:
            continue
        key, value = kv
        text_n = line if hash_at < 0 else written.strip()  # evidence: the line as written, comment included
        if key in _USER_AGENT:
            records += 1
            if not in_agents:  # a user-agent line after rules starts a new group (§2.2.1)
                in_agents, current = True, []
                group += 1
                f._groups.append([])
            for name in _agent_names(value):
                if name not in current:
                    current.append(name)
                    ids = f._key_groups.setdefault(name, [])
                    if not ids or ids[-1] != group:
                        ids.append(group)
            continue
        if key == "license":  # RSL-SPEC-1.0 §4.4; like any other record, it neither ends nor starts a group
            records += 1
            _license_line(f, value, n, text_n[:MAX_EVIDENCE], group if current else None)
            continue
        kind = _KINDS.get(key)
        if kind is None:
            continue  # §2.2.4: other records must not interfere with groups
        records += 1
        in_agents = False
        if not value:
            continue  # "Disallow:" with nothing after it: no rule (§2.2.2)
        if kind in ("allow", "disallow"):
            if not current:
                f._problem(f"{kind} rule outside any group (no named user-agent line before it); ignored "
                           "(RFC 9309 §2.2)", n)
                continue
            if value[0] not in "/*":
                f._problem(f"path {value[:80]!r} does not start with '/' or '*', so it never matches; "
                           "write the path from its first '/'", n)
            rule = Rule(kind, _normalize_pattern(value), n, text_n[:MAX_EVIDENCE])
            if kind == "allow" and _INDEX_PAGE.search(rule.pattern):
                # Google's parser and protego: allowing ".../index.html" allows the directory URL ".../" too,
                # which serves that page. An exact-match rule, so it never widens beyond that one URL.
                directory = rule.pattern[: rule.pattern.rindex("/") + 1] + "$"
                f._groups[group].append(Rule("allow", directory, n, rule.text))
        else:
            usage = _usage_rule(kind, value, n, text_n[:MAX_EVIDENCE], f)
            if usage is None:
                continue
            if not current:  # before any user-agent line: honoured for every agent (docs/audit/robots.md)
                f._sitewide.append(usage)
                continue
            rule = usage
        f._groups[group].append(rule)
    if records == 0 and content:
        looks = "an HTML page" if text.lstrip()[:1] == "<" else "some other kind of file"
        f._problem(f"no robots.txt records found (looks like {looks}); no rules apply — the site should "
                   "serve a plain-text robots.txt or a 404")


def robots_for_status(status: int | None, data: bytes | None, source: str) -> RobotsFile:
    """The RobotsFile a fetch result stands for (RFC 9309 §2.3.1).

    2xx: the body is parsed. 4xx (a file missing from a snapshot included): no restriction (§2.3.1.3).
    5xx or unreachable (``status`` None): complete disallow for every agent (§2.3.1.4). A 3xx here means
    the redirects were not followed to the end (over five hops): treated as unavailable (§2.3.1.2).
    """
    if status is not None and 200 <= status < 300:
        f = parse_robots(data or b"", source)
        f.status = status
        return f
    f = RobotsFile(source, status)
    if status is not None and 300 <= status < 500:
        if status < 400:
            f._problem(f"HTTP {status}: redirect not followed to the end; treated as unavailable, no "
                       "restriction (RFC 9309 §2.3.1.2)")
        return f
    if status is None:
        f.complete_disallow = "unreachable: RFC 9309 §2.3.1.4 complete disallow"
    elif 500 <= status < 600:
        f.complete_disallow = f"HTTP {status}: RFC 9309 §2.3.1.4 complete disallow"
    else:
        f.complete_disallow = f"HTTP {status} (not a valid status): treated as unreachable, RFC 9309 §2.3.1.4 " \
                              "complete disallow"
        f._problem(f"HTTP status {status} is not a valid status code; treated as unreachable")
    return f
