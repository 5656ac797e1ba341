"""Spawning's ``ai.txt``: a robots.txt-like file at a site's root saying which files AI datasets may use.

Spawning proposed ``/ai.txt`` on 30 May 2023 ("ai.txt: A new way for websites to set permissions for AI");
unlike robots.txt it is meant to be read when a dataset *downloads* a file, not when a crawler visits. There
is no written grammar: the file uses robots.txt's (RFC 9309) ``User-Agent`` groups with ``Allow`` /
``Disallow`` rules, and Spawning's generator (site.spawning.ai/spawning-ai-txt, and its WordPress plugin)
writes file-type patterns, e.g. everything but text blocked::

    # Spawning AI
    # Prevent datasets from using the following file types

    User-Agent: *
    Allow: *.txt
    Disallow: *.jpg
    Disallow: /

so this module reads the file exactly as RFC 9309 reads robots.txt: groups per product token (case-insensitive,
several groups of one agent merged, ``*`` for the rest, §2.2.1); ``*`` matches any run of characters and a
final ``$`` the end of the path (§2.2.3); the longest matching pattern wins, and ``Allow`` wins a tie (§2.2.2).
``*.jpg`` therefore matches every path containing ``.jpg`` and beats ``Disallow: /`` because it is longer.
Spawning's own ``datadiligence`` package does not parse ai.txt (it relays ai.txt through the Spawning API),
so RFC 9309 is the only written rule set to follow.

Paths are matched by :mod:`ipscope.audit.pathmatch`, the one RFC 9309 matcher robots.txt and TDMRep use too, in
its KEEP_RESERVED spelling (printable ASCII compared as written, as Google's parser and this module always did;
robots.txt encodes reserved characters as protego does). Unlike robots.txt, ai.txt has no implicit ``/robots.txt``
allow and no ``index.html`` rule: those are robots.txt crawling conventions.

The file is compiled once per host (:func:`parse_ai_txt`); :meth:`AiTxtFile.check` costs a few microseconds
per record: :class:`~ipscope.audit.pathmatch.RuleMatcher` indexes the rules by kind (prefix, exact, "contains",
suffix, other wildcards) so a check does a handful of dict look-ups instead of testing every rule, and the
agent → group plan is cached per agent list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ipscope.audit.pathmatch import KEEP_RESERVED, Pattern, RuleMatcher, compile_pattern
from ipscope.audit.signals.base import ANY_AGENT, Finding, Problem
from ipscope.messages import Message

SIGNAL = "ai.txt"
#: RFC 9309 §2.5: crawlers SHOULD parse at least 500 KiB; more is cut (bounds memory and compile time).
MAX_BYTES = 500 * 1024
#: Line-level problems reported per file; the rest are counted in one closing Problem.
MAX_LINE_PROBLEMS = 20
_PLAN_CACHE = 256

_USER_AGENT_KEYS = frozenset({"user-agent", "useragent", "user agent", "user_agent"})
_ALLOW_KEYS = frozenset({"allow"})
# Google's robots.txt parser accepts these misspellings of "disallow"; sites copy them into ai.txt too.
_DISALLOW_KEYS = frozenset({"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"})
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")
# "*" alone (or before a space or an undecodable byte) is the catch-all group; "*OrkashBot*" is not (as Google reads it).
_STAR = re.compile(r"\*(?![A-Za-z0-9_.\-*])")
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
_HTML_START = re.compile(rb"\s*<(?:!doctype|html|head|body|\?xml)", re.IGNORECASE)
#: ai.txt paths and patterns are spelled as Google's robots.txt parser spells them (printable ASCII as written; see
#: :class:`~ipscope.audit.pathmatch.Spelling`), which is what this module always did.
_normalize = KEEP_RESERVED.normalize_path


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    line: int
    text: str  # the line as written, the evidence


_Matcher = RuleMatcher[_Rule]


#: per agent list: (matcher, the agents it decides, Findings made so far by line)
_Plan = tuple[tuple[_Matcher, tuple[str, ...], dict[int, Finding]], ...]


class AiTxtFile:
    """One parsed ``ai.txt``. Build it with :func:`parse_ai_txt`; ask it with :meth:`check`."""

    __slots__ = ("_last_key", "_last_plan", "_named", "_plans", "_star", "agents", "problems", "source")

    def __init__(self, source: str, problems: list[Problem], named: dict[str, _Matcher],
                 star: _Matcher | None) -> None:
        self.source = source
        #: what was wrong with the file (never fatal)
        self.problems = problems
        #: lower-cased product tokens that have their own group
        self.agents: frozenset[str] = frozenset(named)
        self._named = named
        self._star = star
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._last_key: tuple[str, ...] | None = None
        self._last_plan: _Plan = ()

    def __repr__(self) -> str:
        return f"AiTxtFile({self.source!r}, agents={sorted(self.agents)}, star={self._star is not None})"

    def _plan(self, agents: tuple[str, ...]) -> _Plan:
        by_matcher: dict[int, tuple[_Matcher, list[str]]] = {}
        for a in agents:
            token = str(a).strip().lower()
            m = self._named.get(token) if token != ANY_AGENT else None
            if m is None:
                m = self._star  # RFC 9309 §2.2.1: no group of its own -> the "*" group
            if m is None or not m:
                continue
            entry = by_matcher.setdefault(id(m), (m, []))
            if token not in entry[1]:
                entry[1].append(token)
        # Each entry carries a cache of its Findings: they are immutable, and the same rule deciding for the same
        # agents gives the same Finding, so a record costs a dict look-up instead of building one.
        plan: _Plan = tuple((m, tuple(names), {}) for m, names in by_matcher.values())
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.clear()
        self._plans[agents] = plan
        return plan

    def check(self, path: str, agents: Sequence[str]) -> list[Finding]:
        """Findings for the file at ``path`` (URL path, plus ``?query`` if any) and each agent in ``agents``.

        One Finding per deciding line: ``reserved`` is True for a ``Disallow`` and False for an ``Allow`` that
        wins; ``agents`` lists the asked-for tokens that line decides (``*`` stands for "an agent without a
        group of its own"). No Finding when no rule matches (nothing said = no reservation)."""
        if agents is self._last_key:
            plan = self._last_plan  # the audit passes the same agent tuple for every record: skip even hashing it
        else:
            key = agents if type(agents) is tuple else tuple(agents)
            cached = self._plans.get(key)
            plan = cached if cached is not None else self._plan(key)
            if type(agents) is tuple:
                self._last_key, self._last_plan = agents, plan
        if not plan:
            return []
        if not path.startswith("/"):
            path = "/" + path
        path = _normalize(path)
        out: list[Finding] = []
        for matcher, names, made in plan:
            rule = matcher.decide(path)
            if rule is not None:
                f = made.get(rule.line)
                if f is None:
                    f = made[rule.line] = Finding(SIGNAL, Message("audit.where.line", source=self.source, line=rule.line), rule.text,
                                                  not rule.allow, names)
                out.append(f)
        return out


def parse_ai_txt(data: bytes, source: str) -> AiTxtFile:
    """Parse the bytes of an ``ai.txt`` served at ``source`` (used in ``where``). Never raises: anything wrong
    is a :class:`Problem` in ``.problems`` and the readable part of the file still counts."""
    problems: list[Problem] = []
    line_problems = 0

    def problem(where: str, message: str) -> None:
        nonlocal line_problems
        line_problems += 1
        if line_problems <= MAX_LINE_PROBLEMS:
            problems.append(Problem(SIGNAL, where, message))

    if not isinstance(data, (bytes, bytearray, memoryview)):
        problems.append(Problem(SIGNAL, source, f"content is {type(data).__name__}, not bytes; treated as absent"))
        return AiTxtFile(source, problems, {}, None)
    data = bytes(data)
    if len(data) > MAX_BYTES:
        problems.append(Problem(SIGNAL, source, f"file is {len(data):,} bytes; only the first {MAX_BYTES:,} were "
                                                "read (RFC 9309 §2.5 limit)"))
        data = data[:MAX_BYTES]
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut > 0:
            data = data[:cut]
    if b"\x00" in data:
        problems.append(Problem(SIGNAL, source, "binary content (NUL bytes), not a text file; treated as absent"))
        return AiTxtFile(source, problems, {}, None)
    if _HTML_START.match(data):
        problems.append(Problem(SIGNAL, source, "an HTML page, not an ai.txt (the site answers every path with a "
                                                "page); treated as absent"))
        return AiTxtFile(source, problems, {}, None)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(Problem(SIGNAL, source, f"not valid UTF-8 (first bad byte at offset {e.start}); "
                                                "undecodable bytes replaced"))
        text = data.decode("utf-8", "replace")

    # Groups as RFC 9309 §2.1 forms them: consecutive user-agent lines, then their rules.
    group_agents: list[list[str]] = []
    group_rules: list[list[tuple[Pattern, bool, _Rule]]] = []
    in_agents = False
    for lineno, raw in enumerate(_LINE_SPLIT.split(text), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, colon, value = line.partition(":")
        where = Message("audit.where.line", source=source, line=lineno)
        if not colon:
            problem(where, f"{raw.strip()[:80]!r} has no ':'; line ignored")
            continue
        key = key.strip().lower()
        value = value.strip()
        if key in _USER_AGENT_KEYS:
            if not in_agents:
                group_agents.append([])
                group_rules.append([])
                in_agents = True
            if _STAR.match(value):
                group_agents[-1].append(ANY_AGENT)
                continue
            m = _TOKEN.match(value)
            if m:
                group_agents[-1].append(m.group(0).lower())
            else:
                # The group still exists (its rules must not fall into the previous group), it names nobody.
                problem(where, f"user-agent {value[:80]!r} is not a product token; its group applies to no agent")
            continue
        allow = key in _ALLOW_KEYS
        if not allow and key not in _DISALLOW_KEYS:
            continue  # sitemap, crawl-delay, content-usage …: not ai.txt rules
        in_agents = False
        if not group_agents:
            problem(where, "rule before any User-Agent line; ignored (RFC 9309 §2.1)")
            continue
        if not value:
            continue  # "Disallow:" with nothing: no restriction, but the group still exists
        if value[0] not in "/*":
            problem(where, f"pattern {value[:80]!r} starts with neither '/' nor '*', so it can never match a "
                           "path (RFC 9309 §2.2.2); ignored")
            continue
        group_rules[-1].append((compile_pattern(value, KEEP_RESERVED), allow, _Rule(allow, lineno, raw.strip())))
    if line_problems > MAX_LINE_PROBLEMS:
        problems.append(Problem(SIGNAL, source, f"{line_problems - MAX_LINE_PROBLEMS} more line problems "
                                                "not listed"))

    # Merge every group naming an agent (RFC 9309 §2.2.1); agents with the same groups share one matcher.
    groups_of: dict[str, list[int]] = {}
    for gi, names in enumerate(group_agents):
        for name in names:
            if gi not in groups_of.setdefault(name, []):
                groups_of[name].append(gi)
    compiled: dict[tuple[int, ...], _Matcher] = {}
    by_agent: dict[str, _Matcher] = {}
    for name, gis in groups_of.items():
        key = tuple(gis)
        if key not in compiled:
            compiled[key] = RuleMatcher([r for gi in gis for r in group_rules[gi]])
        by_agent[name] = compiled[key]
    star = by_agent.pop(ANY_AGENT, None)
    return AiTxtFile(source, problems, by_agent, star)
