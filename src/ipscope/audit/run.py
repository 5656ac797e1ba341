"""``ipscope audit``: read every rights signal of every record, decide, write the outputs.

One pass over the corpus, streaming (memory grows with the number of distinct sites, not of
records). Per record: check its fields (or reject it), look up its site's files (parsed once per
site and cached), collect the findings of every signal, let the policy decide, classify its
licence, note what could not be consulted: that is :meth:`Auditor.verdict`, an
:class:`~ipscope.types.AuditRecord` (the path :meth:`Auditor.decide` gives data pipelines). Then
:func:`audit_records` writes its manifest line plus the record itself to ``allowed``/``reserved``/
``rejected`` and counts it. With ``--fetch`` records are taken in batches so each batch's new sites are
fetched concurrently. With ``--jobs N`` the corpus is cut into pieces that N processes audit at once
(``jobs.py``); the outputs are the same bytes.

Outputs are written to ``DIR.partial`` and renamed to ``DIR`` at the end, so a DIR that exists is
always a finished audit.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from ..errors import InputError, MissingExtraError
from ..messages import Message, error
from ..types import AuditRecord, AuditResult, Decision, NotChecked
from . import licences
from .page import PageMeta, scan_html
from .policy import Policy, PolicyName
from .records import Record, RawRecord, check, discover, read_raw
from .signals import content_usage, noai, tdmrep
from .signals.base import Finding, Problem

if TYPE_CHECKING:
    from ..index.executor import Executor

OUTPUTS = ("manifest.jsonl", "allowed.jsonl", "reserved.jsonl", "rejected.jsonl", "summary.json", "summary.md")
EVIDENCE_CHARS = 300
# a page needs scanning only if it may hold one of the tags the signals read (plain substring tests on the
# lower-cased page: several times faster than one case-insensitive regular expression). "tdm-" covers
# tdm-reservation and tdm-policy; "licen" rel="license" links (RSL ones too), JSON-LD "license" and inline RSL
# licences (a usable one holds a <license> element, RSL-SPEC-1.0 §3.3; one without is invalid, so skipping it
# loses only its problem report: no extra "rsl+xml" scan, which would cost as much as another hint);
# "noimageai" (which does not contain "noai") is looked for only in an image record's page, the only kind it
# reserves. Property tests check that a page skipped this way yields no finding.
_HTML_HINTS = ("noai", "tdm-", "licen")
_IMAGE_HINTS = _HTML_HINTS + ("noimageai",)


def _may_hold_signals(html: str, image: bool = False) -> bool:
    low = html.lower()
    return any(h in low for h in (_IMAGE_HINTS if image else _HTML_HINTS))


_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".svg")


def _is_image(media_path: str | None) -> bool:
    return bool(media_path) and media_path.lower().endswith(_IMAGE_EXT)  # type: ignore[union-attr]


@dataclass(frozen=True)
class AuditOptions:
    sites: Path | str | None = None  # snapshot directory (DIR/<host>/robots.txt ...)
    fetch: bool = False  # fetch site files live (needs ipscope[fetch])
    agents: tuple[str, ...] = ()
    policy: PolicyName = "any-ai-agent"
    allow_private: bool = False
    cache_dir: Path | None = None  # --fetch cache (default ~/.cache/ipscope/sites)
    ttl_s: float = 86400.0
    force: bool = False
    batch: int = 5000  # records per fetch batch
    source_kind: str | None = None  # the template section of records without a source_kind field (--source-kind)
    sme: bool = False  # the template's SME rules (--sme)
    exclude_domains: tuple[Path, ...] = ()  # lists of domains whose records are reserved (--exclude-domains)
    jobs: int = 1  # processes (--jobs)
    # RSL terms that depend on the user class or region are judged for these (docs/audit/rsl.md): the user class
    # of the entity that will train (RSL-SPEC-1.0 §3.4.1.2) and its ISO 3166-1 alpha-2 region or EU (§3.5;
    # None: not declared, which satisfies no geo permit and is not shown to be outside a geo prohibition)
    rsl_user: str = "commercial"
    region: str | None = None


@dataclass
class _Site:
    """A site's files, parsed once."""

    robots: Any  # signals.robots.RobotsFile
    ai_txt: Any | None  # signals.aitxt.AiTxtFile
    tdmrep: Any | None  # signals.tdmrep.TdmrepFile
    problems: list[Problem]
    not_checked: tuple[NotChecked, ...] = ()  # the site's signals that could not be consulted (set by Auditor)


_NO_SITE = _Site(None, None, None, [])

# What each site file carries, as (signal, path on the site): a file not read leaves all of them unconsulted.
_ROBOTS_SIGNALS = (("robots.txt", "/robots.txt"), ("content-signal", "/robots.txt"), ("content-usage", "/robots.txt"))
_AI_TXT_SIGNALS = (("ai.txt", "/ai.txt"),)
_TDMREP_SIGNALS = (("tdmrep", "/.well-known/tdmrep.json"),)
# RSL licences are documents named by URL (robots.txt License: lines, Link headers, rel=license links): read only
# with a source of site files
_RSL_SIGNALS = (("rsl", Message("audit.not_checked.rsl_documents")),)
NO_SITE_FILES = Message("audit.not_checked.no_site_files")
#: what a run without a source of site files could not consult, for every record
_NO_FILES = tuple(NotChecked(sig, path, NO_SITE_FILES)
                  for sig, path in _ROBOTS_SIGNALS + _AI_TXT_SIGNALS + _TDMREP_SIGNALS + _RSL_SIGNALS)
C2PA_MISSING = Message("audit.not_checked.c2pa_missing")
MEDIA_UNREADABLE = Message("audit.not_checked.media_unreadable")


def _unread_why(f: Any, how: str) -> Message | None:
    """Why a site file (``sites.SiteFile``) could not be consulted, or None when it was: a 2xx was read, a 4xx
    says the site has no such file (RFC 9309 §2.3.1.3; ai.txt and TDMRep likewise), both are answers. ``how``
    names the source (``fetch``, ``snapshot``)."""
    st = f.status
    if st is not None and (200 <= st < 300 or 400 <= st < 500):
        return None
    if st is None:
        return Message("audit.not_checked.fetch_failed" if how == "fetch" else "audit.not_checked.snapshot_unreadable")
    return Message("audit.not_checked.http", status=st)


def _site_not_checked(files: Any, how: str) -> tuple[NotChecked, ...]:
    """The signals of one site that its files did not let the audit consult. An unreachable robots.txt or a 5xx
    is a complete disallow (RFC 9309 §2.3.1.4): robots.txt then decides (it is not listed), but the
    Content-Signal and Content-Usage lines it would hold were not read."""
    out: list[NotChecked] = []
    why = _unread_why(files.robots, how)
    if why is not None:
        st = files.robots.status
        disallow = st is None or st >= 500
        out += [NotChecked(sig, path, why) for sig, path in _ROBOTS_SIGNALS if not (disallow and sig == "robots.txt")]
    for f, sigs in ((files.ai_txt, _AI_TXT_SIGNALS), (files.tdmrep, _TDMREP_SIGNALS)):
        why = _unread_why(f, how)
        if why is not None:
            out += [NotChecked(sig, path, why) for sig, path in sigs]
    return tuple(out)


@lru_cache(maxsize=1)
def _c2pa_usable() -> bool:
    from .signals import c2pa

    try:
        c2pa._c2pa()
    except MissingExtraError:
        return False
    return True


def _media_not_checked(path: str) -> tuple[NotChecked, ...]:
    """The media signals of a record's ``media_path`` that could not be consulted: EPUB and PDF carry TDMRep
    metadata, other media C2PA manifests (which need the c2pa extra)."""
    low = path.lower()
    sig = "tdmrep" if low.endswith((".epub", ".pdf")) else "c2pa"
    if not Path(path).is_file():
        return (NotChecked(sig, "media_path", MEDIA_UNREADABLE),)
    if sig == "c2pa" and not _c2pa_usable():
        return (NotChecked("c2pa", "media_path", C2PA_MISSING),)
    return ()


def _parse_site(files: Any) -> _Site:
    from .signals import aitxt, robots, tdmrep

    problems: list[Problem] = []
    for name, f in (("robots.txt", files.robots), ("ai.txt", files.ai_txt), ("tdmrep", files.tdmrep)):
        if f.error:  # unreachable, refused, truncated, too many redirects: said once, by the reader
            problems.append(Problem(name, f.url, f.error))
    r = files.robots
    rob = robots.robots_for_status(r.status, r.body, r.url)
    problems.extend(rob.problems)
    a = files.ai_txt
    ai = None
    if a.status is not None and 200 <= a.status < 300 and a.body is not None:
        ai = aitxt.parse_ai_txt(a.body, a.url)
        problems.extend(ai.problems)
    t = files.tdmrep
    tdm = None
    if t.status is not None and 200 <= t.status < 300 and t.body is not None:
        tdm = tdmrep.parse_tdmrep_json(t.body, t.url)
        problems.extend(tdm.problems)
    return _Site(rob, ai, tdm, problems)


def _path_of(url: str) -> str:
    """Path and query of a URL (no fragment), as robots.txt rules and TDMRep locations match them.
    The URL has passed ``site_key``, so it is ``http(s)://authority`` followed by ``/``, ``?``, ``#`` or
    nothing; cut by hand (urlsplit costs ~10 us a record)."""
    start = url.find("://") + 3
    end = len(url)
    for ch in "/?#":
        k = url.find(ch, start, end)
        if k != -1:
            end = k
    rest = url[end:]
    frag = rest.find("#")
    if frag != -1:
        rest = rest[:frag]
    # an empty query ("/a?") is kept: it is part of the URL, and robots.txt rules match it as Google's parser
    # and protego do ("Disallow: /a?" disallows "/a?", not "/a")
    if not rest.startswith("/"):
        rest = "/" + rest
    return rest


def _host_of(key: str) -> str:
    """The host of a site key (``host[:port]``, ``[v6][:port]``): the summary counts domains, not ports."""
    if key.startswith("["):
        return key[: key.find("]") + 1]
    return key.rsplit(":", 1)[0]


def _inside(p: Path, d: Path) -> bool:
    try:
        p.resolve().relative_to(d.resolve())
        return True
    except ValueError:
        return False


def _honoured(source: Any) -> list[str]:
    """The opt-out protocols a run reads: those of the records always, those of site files only with a source
    of site files, C2PA only with its extra (the summary must not claim what was not checked)."""
    out = ["tdmrep", "noai", "content-usage"]
    if source is not None:
        out[:0] = ["robots.txt", "content-signal"]
        out.append("ai.txt")
    if _c2pa_installed():
        out.append("c2pa")
    if source is not None:  # RSL licences are documents by URL: read only with a source of site files
        out.append("rsl")
    return out


def _not_read(source: Any) -> dict[str, str]:
    """The opt-out protocols a run cannot read at all, with why (the summary names them as not checked)."""
    out = {}
    if source is None:
        out.update(dict.fromkeys(("robots.txt", "content-signal", "ai.txt", "rsl"), NO_SITE_FILES))
    if not _c2pa_installed():
        out["c2pa"] = C2PA_MISSING
    return out


def _c2pa_installed() -> bool:
    """Whether the c2pa extra is installed, without importing it (~70 ms) in a run that may have no media."""
    import importlib.util

    return importlib.util.find_spec("c2pa") is not None


def _cap(f: Finding) -> Finding:
    """The finding as the manifest states it: its evidence cut at ``EVIDENCE_CHARS``."""
    if len(f.evidence) > EVIDENCE_CHARS:
        return replace(f, evidence=f.evidence[:EVIDENCE_CHARS] + "…")
    return f


_FROM_OPTIONS: Any = object()  # Auditor's default source: the one the options name


class Auditor:
    """Judges records one by one: the Python API behind ``ipscope audit``, for data pipelines too.

    ``Auditor(opts)`` opens the site files the options name (``sites``: a snapshot directory; ``fetch``: live,
    cached) and reads each site's files once, when its first record comes. ``decide(record, where)`` gives the
    :class:`~ipscope.types.AuditRecord` whose ``to_dict()`` is the manifest line ``ipscope audit`` writes for
    the record; ``allows(record)`` is its decision as a bool (for ``datasets.Dataset.filter``). An Auditor
    pickles as its options (a worker process opens its own site files). ``source`` replaces the site files
    of the options (an object with ``get(key) -> sites.SiteFiles``; None: no site files)."""

    def __init__(self, opts: AuditOptions | None = None, source: Any = _FROM_OPTIONS) -> None:
        opts = opts or AuditOptions()
        if isinstance(opts.sites, str):  # AuditOptions(sites="snapshot/") from Python
            opts = replace(opts, sites=Path(opts.sites))
        self.opts = opts
        if opts.policy == "agent" and not opts.agents:
            raise error(InputError, "audit.policy.no_agents")
        self.policy = Policy.make(opts.policy, opts.agents)
        self._own_source = source is _FROM_OPTIONS
        self.source = _sites_source(opts) if self._own_source else source
        self._how = "fetch" if hasattr(self.source, "get_many") else "snapshot"
        self.sites: dict[str, _Site] = {}
        from .rsl_docs import RslDocs
        from .signals.rsl import Judged

        self.rsl_docs = RslDocs(self.source)
        self.rsl_who = Judged(check_rsl_user(opts.rsl_user), check_region(opts.region))  # type: ignore[arg-type]
        self.excluded = None
        if opts.exclude_domains:
            from .exclude import load

            self.excluded = load(opts.exclude_domains)

    def _excluded(self, key: str) -> Finding | None:
        """The finding of the exclusion list entry that covers the site ``key``, if any."""
        e = self.excluded.match(_host_of(key)) if self.excluded is not None else None
        return None if e is None else e.finding()

    def __reduce__(self) -> tuple[Any, ...]:
        return (Auditor, (self.opts,) if self._own_source else (self.opts, self.source))

    def _load(self, files: Any) -> _Site:
        s = _parse_site(files)
        s.not_checked = _site_not_checked(files, self._how)
        return s

    def site(self, key: str) -> _Site:
        s = self.sites.get(key)
        if s is None:
            s = self._load(self.source.get(key)) if self.source is not None else _NO_SITE
            self.sites[key] = s
        return s

    def prefetch(self, keys: Iterable[str]) -> None:
        """Fetch (concurrently) the sites among ``keys`` not seen yet."""
        new = [k for k in dict.fromkeys(keys) if k not in self.sites and self._excluded(k) is None]
        if new and self.source is not None and hasattr(self.source, "get_many"):
            from .rsl_docs import site_urls

            urls: list[str] = []
            for k, files in self.source.get_many(new).items():
                self.sites[k] = site = self._load(files)
                urls += site_urls(site.robots, f"https://{k}/robots.txt")
            self.rsl_docs.prefetch(urls)  # the sites' RSL licences, fetched together

    def decide(self, record: Mapping[str, Any], where: Mapping[str, Any] | None = None) -> AuditRecord:
        """The verdict on one record (the fields of docs/audit/index.md, "Input"), as ``ipscope audit`` gives it.

        ``where`` says where the record was read, ``{"source": file, "line": n}`` (and ``"name"``, the file's
        name that an id assigned to a record without one starts with; default the last part of ``source``):
        it fills the manifest line's ``source`` and ``line``. Without it they are null, and a record without an
        ``id`` keeps a null id. A record that cannot be judged comes back ``rejected`` with the ``error``."""
        if where is None:
            source, line, name = "", 0, ""
        else:
            source = str(where.get("source") or "")
            line = where.get("line") or 0
            name = str(where.get("name") or source.replace("\\", "/").rsplit("/", 1)[-1])
        if isinstance(record, Mapping):
            r = RawRecord(source, line, b"", record, None, None, name)  # type: ignore[arg-type]
        else:
            r = RawRecord(source, line, b"", None, Message("audit.rejected.not_mapping", type=type(record).__name__),
                          "malformed-json", name)
        return self.verdict(r, check(r))

    def allows(self, record: Mapping[str, Any]) -> bool:
        """True when the record may be used (``decide(record).decision == "allowed"``)."""
        return self.decide(record).decision == "allowed"

    def verdict(self, r: RawRecord, c: Record | str) -> AuditRecord:
        """The AuditRecord of the read record ``r`` and what :func:`records.check` made of it: the one path of
        ``decide`` and of ``ipscope audit``."""
        source = r.source or None
        line = r.line or None
        if isinstance(c, str):  # a reason (a Message, a str subclass), not a Record
            obj = r.obj or {}
            rid, url = obj.get("id"), obj.get("url")
            return AuditRecord(str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None,
                               url if isinstance(url, str) else None, "rejected", source=source, line=line, error=c)
        key = c.key
        decision, deciding, lic, problems = self.judge(c, key)
        if self.source is None:
            not_checked = _NO_FILES
        else:  # judge read the site's files, unless its domain is excluded (then none are read, none needed)
            site = self.sites.get(key)
            not_checked = site.not_checked if site is not None else ()
        media = c.media_path
        if media:
            not_checked += _media_not_checked(media)
        rid: str | None = c.id
        assigned = c.id_assigned
        if assigned and not r.name:  # no id, and no place to name the record by
            rid, assigned = None, False
        return AuditRecord(rid, c.url, decision, tuple(map(_cap, deciding)) if deciding else (), lic, source, line,
                           None, tuple(problems) if problems else (), tuple(c.notes) if c.notes else (), assigned,
                           not_checked, key, len(c.text), "image" if media and _is_image(media) else "text")

    def judge(self, rec: Record, key: str) -> tuple[Decision, list[Finding], Any, list[Problem]]:
        """(decision, deciding findings, licence, problems) for one record."""
        # an excluded domain's site files are neither read nor fetched
        excluded = self._excluded(key) if self.excluded is not None else None
        site = self.site(key) if excluded is None else _NO_SITE
        path = _path_of(rec.url)
        agents = self.policy.site_agents
        findings: list[Finding] = []
        problems: list[Problem] = list(site.problems)
        if site.robots is not None:
            findings.extend(site.robots.check(path, agents))
        if site.ai_txt is not None:
            findings.extend(site.ai_txt.check(path, agents))
        h = rec.headers
        image = _is_image(rec.media_path)
        page: PageMeta | None = None
        if rec.html and _may_hold_signals(rec.html, image):
            page = scan_html(rec.html)
        media_tdm: list[Finding] = []
        if rec.media_path:
            fs, ps, media_tdm = self._media(rec.media_path)
            findings.extend(fs)
            problems.extend(ps)
        # TDMRep: the well-known file < headers < HTML meta < EPUB/PDF metadata (the higher decides)
        tdm_file = site.tdmrep.match(path) if site.tdmrep is not None else None
        tdm_head: list[Finding] = []
        if "tdm-reservation" in h or "tdm-policy" in h:
            tdm_head, ps = tdmrep.read_headers(h)
            problems.extend(ps)
        tdm_html: list[Finding] = []
        if page is not None:
            tdm_html, ps = tdmrep.read_html(page)
            problems.extend(ps)
        decided = tdmrep.decide(tdm_file, tdm_head, tdm_html, media_tdm)
        if decided is not None:
            findings.append(decided)
        if "x-robots-tag" in h:
            fs, ps = noai.header_findings(h["x-robots-tag"])
            findings.extend(fs)
            problems.extend(ps)
        if page is not None:
            findings.extend(noai.html_findings(page))
        if "content-usage" in h:
            findings.extend(content_usage.header_findings(h["content-usage"], problems=problems))
        if ((site.robots is not None and site.robots.has_licenses) or "link" in h
                or (page is not None and (page.rsl_links or page.rsl_inline))):  # RSL (docs/audit/rsl.md)
            from .rsl_docs import record_findings

            fs, ps = record_findings(self.rsl_docs, rec.url, key, path, h, page, site.robots, agents, self.rsl_who)
            findings.extend(fs)
            problems.extend(ps)
        if not image:  # noimageai reserves images only
            findings = [f for f in findings if f.signal != "noimageai"]
        reserved, deciding = self.policy.decide(findings)
        if excluded is not None:
            reserved, deciding = True, [excluded]
        lic = licences.classify(rec.license, page)
        return ("reserved" if reserved else "allowed"), deciding, lic, problems

    @staticmethod
    def _media(path: str) -> tuple[list[Finding], list[Problem], list[Finding]]:
        """(findings, problems, TDMRep findings) of a record's media file: EPUB and PDF carry TDMRep
        metadata, other media C2PA/CAWG manifests."""
        from .signals import c2pa, tdmrep

        p = Path(path)
        if not p.is_file():
            return [], [Problem("media", path, "media_path does not name a readable file; its metadata was not read")], []
        low = p.name.lower()
        if low.endswith(".epub"):
            fs, ps = tdmrep.epub_findings(p)
            return [], ps, fs
        if low.endswith(".pdf"):
            fs, ps = tdmrep.pdf_findings(p)
            return [], ps, fs
        try:
            fs, ps = c2pa.media_findings(p)
        except MissingExtraError:  # said in the record's not_checked (_media_not_checked)
            return [], [], []
        return fs, ps, []


def check_rsl_user(user: str) -> str:
    """The --rsl-user value, or InputError naming the choices (RSL-SPEC-1.0 §3.4.1.2)."""
    from .signals.rsl import USER_CLASSES

    if user not in USER_CLASSES:
        raise error(InputError, "audit.rsl_user.unknown", user=user, choices=", ".join(USER_CLASSES))
    return user


def check_region(region: str | None) -> str | None:
    """The --region value upper-cased (ISO 3166-1 alpha-2 or EU, RSL-SPEC-1.0 §3.5), or InputError."""
    if region is None:
        return None
    r = region.strip().upper()
    if not (len(r) == 2 and r.isascii() and r.isalpha()):
        raise error(InputError, "audit.region.invalid", region=region)
    return r


def _prepare(out: Path, force: bool) -> Path:
    if out.exists():
        # what may not be replaced is refused with the same words with --force or without (it said "pass
        # --force" for a file, then refused it with --force)
        if not out.is_dir() or not (out / "manifest.jsonl").is_file():
            raise error(InputError, "audit.out.not_audit", out=str(out))
        if not force:
            raise error(InputError, "audit.out.exists", out=str(out))
    tmp = out.with_name(out.name + ".partial")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    except OSError as e:
        raise error(InputError, "audit.out.cannot_create", out=str(out), error=str(e.strerror or e)) from e
    return tmp


def _sites_source(opts: AuditOptions) -> Any:
    if opts.sites is not None and opts.fetch:
        raise error(InputError, "audit.sites.with_fetch")
    if opts.sites is not None:
        from .sites import SnapshotSites

        if not Path(opts.sites).is_dir():
            raise error(InputError, "audit.sites.not_dir", path=str(opts.sites))
        return SnapshotSites(Path(opts.sites))
    if opts.fetch:
        from .fetch import Fetcher

        cache = opts.cache_dir or Path.home() / ".cache" / "ipscope" / "sites"
        return Fetcher(cache, ttl_s=opts.ttl_s, allow_private=opts.allow_private)
    return None


def _batches(it: Iterator[RawRecord], n: int) -> Iterator[list[RawRecord]]:
    batch: list[RawRecord] = []
    for r in it:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Tally:
    """What auditing some records counted (one per ``--jobs`` piece, merged in input order)."""

    counts: Counter[str] = field(default_factory=Counter)  # decision -> records
    reserved_by: Counter[str] = field(default_factory=Counter)  # signal -> reserved records it reserved
    problems: Counter[str] = field(default_factory=Counter)  # signal -> records with a problem reading it
    summary: Any = None  # summary.SummaryBuilder
    records: int = 0
    bytes: int = 0  # bytes of input lines read

    @property
    def not_checked(self) -> Counter[str]:
        """Signal -> records it could not be consulted for (the summary counts them)."""
        return Counter(self.summary.not_checked_by_signal())

    def to_json(self) -> bytes:
        import orjson

        return orjson.dumps({"counts": self.counts, "reserved_by": self.reserved_by, "problems": self.problems,
                             "records": self.records, "bytes": self.bytes,
                             "summary": self.summary.state()})

    @classmethod
    def from_json(cls, data: bytes) -> Tally:
        import orjson

        from .summary import SummaryBuilder

        d = orjson.loads(data)
        return cls(Counter(d["counts"]), Counter(d["reserved_by"]), Counter(d["problems"]),
                   SummaryBuilder.from_state(d["summary"]), d["records"], d["bytes"])

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.reserved_by.update(other.reserved_by)
        self.problems.update(other.problems)
        self.summary.merge(other.summary)
        self.records += other.records
        self.bytes += other.bytes


def run_kind(opts: AuditOptions) -> Any:
    """The run's ``--source-kind``, canonical; InputError naming the allowed values for any other."""
    from .summary import kinds_help, source_kind

    if opts.source_kind is None:
        return None
    k = source_kind(opts.source_kind)
    if k is None:
        raise error(InputError, "audit.source_kind.unknown", kind=opts.source_kind, choices=kinds_help())
    return k


def audit_records(records: Iterable[RawRecord], auditor: Auditor, fh: dict[str, Any], tally: Tally,
                  on_progress: Callable[[int, int], None] | None = None) -> Tally:
    """Judge ``records`` (each through :meth:`Auditor.verdict`, the path of ``decide``) and write each to ``fh``
    (open files ``manifest``, ``allowed``, ``reserved``, ``rejected``), counting into ``tally``;
    ``on_progress(records, bytes)`` after each batch."""
    import orjson

    from .records import record_kind
    from .summary import DEFAULT_SOURCE_KIND, SOURCE_KINDS

    opts = auditor.opts
    default_kind = run_kind(opts)
    default_origin = "run" if default_kind is not None else "default"
    default_kind = default_kind or DEFAULT_SOURCE_KIND
    kinds = frozenset(SOURCE_KINDS)
    done = tally.records
    read = tally.bytes
    manifest = fh["manifest"]
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    for batch in _batches(iter(records), opts.batch):
        checked = [(r, check(r)) for r in batch]
        if opts.fetch:
            auditor.prefetch(c.key for _, c in checked if type(c) is Record)
        for r, c in checked:
            read += len(r.raw) + 1
            rec = auditor.verdict(r, c)
            out_f = fh[rec.decision]
            out_f.write(r.raw)
            out_f.write(b"\n")
            manifest.write(dumps(rec.to_dict(), option=newline))
            if type(c) is not Record:  # a reason (a Message, a str subclass): rejected
                obj = r.obj or {}
                kind = record_kind(obj) if "source_kind" in obj else None
                own = kind in kinds
            else:
                kind = c.source_kind
                own = bool(kind)
            _count(rec, tally, kind if own else default_kind, "record" if own else default_origin)
            done += 1
        if on_progress is not None:
            on_progress(done, read)
    tally.records, tally.bytes = done, read
    return tally


def _count(rec: AuditRecord, tally: Tally, source_kind: str, kind_origin: str) -> None:
    """Count one record's verdict into the run's figures and the summary."""
    tally.counts[rec.decision] += 1
    summary = tally.summary
    if rec.decision == "rejected":
        summary.add(url=None, host=None, text_chars=0, modality="text", decision="rejected", signals=(),
                    licence_category="unspecified", source_kind=source_kind, kind_origin=kind_origin)
        return
    sigs = rec.reserved_by
    for s in sigs:
        tally.reserved_by[s] += 1
    if rec.problems:
        for s in {p.signal for p in rec.problems}:
            tally.problems[s] += 1
    if rec.not_checked:
        summary.add_not_checked(rec.not_checked)
    summary.add(url=rec.url, host=_host_of(rec.site), text_chars=rec.text_chars,  # type: ignore[arg-type]
                modality=rec.modality, decision=rec.decision, signals=sigs, licence_category=rec.license.category,
                source_kind=source_kind, kind_origin=kind_origin)


def audit(corpus: list[str], out: str | Path, opts: AuditOptions | None = None,
          on_progress: Callable[[int, int], None] | None = None, executor: Executor | None = None) -> AuditResult:
    """Audit the corpus files/directories ``corpus`` and write the outputs to ``out``.

    ``on_progress(records_done, bytes_read)`` is called every few thousand records (with ``jobs`` > 1, a few
    times a second, from this thread). ``executor`` (``index/executor.py``, e.g. a ``RayExecutor``) audits the
    pieces of the corpus (``jobs.py``), cut for ``opts.jobs`` when above 1, else for the executor's ``jobs``; it
    is used and left open. Without one, ``opts.jobs`` > 1 makes a local process pool. The outputs are the same
    bytes either way; with an executor other than a local one, ``out`` must be on storage every worker sees at the
    same path (docs/scale.md)."""
    import orjson

    from .summary import SummaryBuilder

    opts = opts or AuditOptions()
    if opts.jobs < 1:
        raise error(InputError, "audit.jobs.too_few", jobs=opts.jobs)
    kind = run_kind(opts)
    t0 = time.perf_counter()
    auditor = Auditor(opts)  # checks the options and opens the site files before anything is written
    source = auditor.source
    out = Path(out)
    # outputs of an earlier audit inside a corpus directory are not corpus (a re-run would read them again)
    inputs = [i for i in discover(corpus)
              if not (_inside(i[0], out) or _inside(i[0], out.with_name(out.name + ".partial")))]
    paths = [p for p, _kind, _name in inputs]
    tmp = _prepare(out, opts.force)
    tally = Tally(summary=SummaryBuilder())
    try:
        if opts.jobs > 1 or executor is not None:
            from .jobs import audit_in_jobs

            audit_in_jobs(inputs, tmp, auditor, tally, on_progress, executor)
        else:
            fh = {name: open(tmp / f"{name}.jsonl", "wb", buffering=1 << 20)
                  for name in ("manifest", "allowed", "reserved", "rejected")}
            try:
                audit_records(read_raw(inputs), auditor, fh, tally, on_progress)
            finally:
                for f in fh.values():
                    f.close()
    except BaseException:  # the audit could not run to its end (unreadable input, interrupted): no half output
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    from .summary import to_markdown

    summ = tally.summary.to_dict(agents=list(auditor.policy.agents), policy=opts.policy,
                                 inputs=[str(p) for p in paths], generated_at=generated,
                                 protocols=_honoured(source), not_read=_not_read(source), sme=opts.sme,
                                 default_source_kind=kind,
                                 exclude_lists=auditor.excluded.describe() if auditor.excluded is not None else ())
    (tmp / "summary.json").write_bytes(orjson.dumps(summ, option=orjson.OPT_INDENT_2))
    (tmp / "summary.md").write_text(to_markdown(summ), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    warnings = []
    if source is None:
        warnings.append(f"{NO_SITE_FILES}: no record's robots.txt, ai.txt, /.well-known/tdmrep.json or "
                        "Content-Signal was read, so a site that reserves training in them is not seen (each "
                        "manifest line lists them under not_checked); to read them, pass --sites DIR (a snapshot, "
                        "see docs/audit/sites.md) or --fetch")
    if tally.not_checked.get("c2pa"):
        n = tally.not_checked["c2pa"]
        warnings.append(f"the C2PA manifests in the media files of {n:,} record{'s' if n != 1 else ''} were not read "
                        "(the c2pa extra is missing, or the file could not be read: see not_checked in the "
                        "manifest); install the extra with pip install 'ipscope[c2pa]', or fix the media_path")
    if hasattr(source, "misnamed"):
        n, names = source.misnamed()
        if n:
            warnings.append(f"{n:,} director{'y' if n == 1 else 'ies'} of the site snapshot {opts.sites} "
                            f"{'is' if n == 1 else 'are'} not named by a site key, so {'its' if n == 1 else 'their'} "
                            f"files were not read: {', '.join(names)}{' ...' if n > len(names) else ''}; rename them "
                            "to the lower-case ASCII host (IDNA, e.g. xn--bcher-kva.de), with :port for a non-default "
                            "port")
    return AuditResult(out, tally.counts, tally.reserved_by, tally.problems, [str(p) for p in paths],
                       time.perf_counter() - t0, summ, warnings, tally.not_checked)
