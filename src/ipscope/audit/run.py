"""``ipscope audit``: read every rights signal of every record, decide, write the outputs.

One pass over the corpus, streaming (memory grows with the number of distinct sites, not of
records). Per record: check its fields (or reject it), look up its site's files (parsed once per
site and cached), collect the findings of every signal, let the policy decide, classify its
licence, and write one manifest line plus the record itself to ``allowed``/``reserved``/``rejected``.
With ``--fetch`` records are taken in batches so each batch's new sites are fetched concurrently.

Outputs are written to ``DIR.partial`` and renamed to ``DIR`` at the end, so a DIR that exists is
always a finished audit.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from ..errors import InputError, MissingExtraError
from ..types import AuditResult  # noqa: F401  (the result type lives with the others; kept importable here)
from . import licences
from .page import PageMeta, scan_html
from .policy import Policy, PolicyName
from .records import Record, RawRecord, check, discover, read_raw
from .signals import content_usage, noai, tdmrep
from .signals.base import Finding, Problem

OUTPUTS = ("manifest.jsonl", "allowed.jsonl", "reserved.jsonl", "rejected.jsonl", "summary.json", "summary.md")
EVIDENCE_CHARS = 300
Decision = Literal["allowed", "reserved", "rejected"]
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
    sites: Path | None = None  # snapshot directory (DIR/<host>/robots.txt ...)
    fetch: bool = False  # fetch site files live (needs ipscope[fetch])
    agents: tuple[str, ...] = ()
    policy: PolicyName = "any-ai-agent"
    allow_private: bool = False
    cache_dir: Path | None = None  # --fetch cache (default ~/.cache/ipscope/sites)
    ttl_s: float = 86400.0
    force: bool = False
    batch: int = 5000  # records per fetch batch
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


_NO_SITE = _Site(None, None, None, [])


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
    import importlib.util

    if importlib.util.find_spec("c2pa") is not None:
        out.append("c2pa")
    if source is not None:  # RSL licences are documents by URL: read only with a source of site files
        out.append("rsl")
    return out


def _cap(f: Finding) -> dict[str, str]:
    d = f.to_dict()
    ev = str(d.get("evidence", ""))
    if len(ev) > EVIDENCE_CHARS:
        d["evidence"] = ev[:EVIDENCE_CHARS] + "…"
    return d  # type: ignore[return-value]


class Auditor:
    """Judges records one by one (the Python API behind ``ipscope audit``)."""

    def __init__(self, opts: AuditOptions, sites_source: Any = None) -> None:
        self.opts = opts
        self.policy = Policy.make(opts.policy, opts.agents)
        self.source = sites_source
        self.sites: dict[str, _Site] = {}
        from .rsl_docs import RslDocs
        from .signals.rsl import Judged

        self.rsl_docs = RslDocs(sites_source)
        self.rsl_who = Judged(check_rsl_user(opts.rsl_user), check_region(opts.region))  # type: ignore[arg-type]

    def site(self, key: str) -> _Site:
        s = self.sites.get(key)
        if s is None:
            s = _parse_site(self.source.get(key)) if self.source is not None else _NO_SITE
            self.sites[key] = s
        return s

    def prefetch(self, keys: Iterable[str]) -> None:
        """Fetch (concurrently) the sites among ``keys`` not seen yet."""
        new = [k for k in dict.fromkeys(keys) if k not in self.sites]
        if new and self.source is not None and hasattr(self.source, "get_many"):
            from .rsl_docs import site_urls

            urls: list[str] = []
            for k, files in self.source.get_many(new).items():
                self.sites[k] = site = _parse_site(files)
                urls += site_urls(site.robots, f"https://{k}/robots.txt")
            self.rsl_docs.prefetch(urls)  # the sites' RSL licences, fetched together

    def judge(self, rec: Record, key: str) -> tuple[Decision, list[Finding], Any, list[Problem]]:
        """(decision, deciding findings, licence, problems) for one record."""
        site = self.site(key)
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
        except MissingExtraError as e:
            return [], [Problem("c2pa", path, f"C2PA manifests not read: {e.message}; fix: {e.fix}")], []
        return fs, ps, []


def check_rsl_user(user: str) -> str:
    """The --rsl-user value, or InputError naming the choices (RSL-SPEC-1.0 §3.4.1.2)."""
    from .signals.rsl import USER_CLASSES

    if user not in USER_CLASSES:
        raise InputError(f"--rsl-user {user!r} is not an RSL user class", "give one of " + ", ".join(USER_CLASSES))
    return user


def check_region(region: str | None) -> str | None:
    """The --region value upper-cased (ISO 3166-1 alpha-2 or EU, RSL-SPEC-1.0 §3.5), or InputError."""
    if region is None:
        return None
    r = region.strip().upper()
    if not (len(r) == 2 and r.isascii() and r.isalpha()):
        raise InputError(f"--region {region!r} is not an ISO 3166-1 alpha-2 code or EU",
                         "give a two-letter country code such as DE, US, JP, or EU")
    return r


def _prepare(out: Path, force: bool) -> Path:
    if out.exists():
        # what may not be replaced is refused with the same words with --force or without (it said "pass
        # --force" for a file, then refused it with --force)
        if not out.is_dir() or not (out / "manifest.jsonl").is_file():
            raise InputError(f"{out} exists and is not an ipscope audit directory; refusing to replace it (with "
                             "--force or without)", "choose another --out (a new path, or an earlier audit's "
                             "directory with --force)")
        if not force:
            raise InputError(f"{out} already exists (an ipscope audit)", "pass --force to replace it, or choose "
                             "another --out")
    tmp = out.with_name(out.name + ".partial")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot be created ({e.strerror or e})",
                         "choose an --out in a writable directory (not below a file)") from e
    return tmp


def _sites_source(opts: AuditOptions) -> Any:
    if opts.sites is not None and opts.fetch:
        raise InputError("--sites and --fetch cannot be used together", "choose one source of site files")
    if opts.sites is not None:
        from .sites import SnapshotSites

        if not opts.sites.is_dir():
            raise InputError(f"--sites {opts.sites}: not a directory",
                             "give a snapshot laid out as DIR/<host>/robots.txt, DIR/<host>/ai.txt, "
                             "DIR/<host>/.well-known/tdmrep.json")
        return SnapshotSites(opts.sites)
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


def audit(corpus: list[str], out: str | Path, opts: AuditOptions | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> AuditResult:
    """Audit the corpus files/directories ``corpus`` and write the outputs to ``out``.

    ``on_progress(records_done, bytes_read)`` is called every few thousand records."""
    import orjson

    from .summary import SummaryBuilder

    opts = opts or AuditOptions()
    if opts.policy == "agent" and not opts.agents:
        raise InputError("--policy agent needs at least one --agent", "name the agents, e.g. --agent GPTBot")
    check_rsl_user(opts.rsl_user)
    check_region(opts.region)
    t0 = time.perf_counter()
    out = Path(out)
    # outputs of an earlier audit inside a corpus directory are not corpus (a re-run would read them again)
    inputs = [i for i in discover(corpus)
              if not (_inside(i[0], out) or _inside(i[0], out.with_name(out.name + ".partial")))]
    paths = [p for p, _kind, _name in inputs]
    source = _sites_source(opts)
    tmp = _prepare(out, opts.force)
    auditor = Auditor(opts, source)
    summary = SummaryBuilder()
    counts: Counter[str] = Counter()
    reserved_by: Counter[str] = Counter()
    problem_count: Counter[str] = Counter()
    done = 0
    read = 0
    fh = {name: open(tmp / f"{name}.jsonl", "wb", buffering=1 << 20)
          for name in ("manifest", "allowed", "reserved", "rejected")}
    try:
        manifest = fh["manifest"]
        for batch in _batches(read_raw(inputs), opts.batch):
            checked = [(r, check(r)) for r in batch]
            if opts.fetch:
                auditor.prefetch(c.key for _, c in checked if type(c) is Record)
            for r, c in checked:
                read += len(r.raw) + 1
                where = {"source": r.source, "line": r.line}
                if isinstance(c, str):
                    obj = r.obj or {}
                    rid, url = obj.get("id"), obj.get("url")
                    line = {"id": str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None,
                            "url": url if isinstance(url, str) else None, "decision": "rejected", "reasons": [],
                            "license": None, **where, "error": c}
                    fh["rejected"].write(r.raw)
                    fh["rejected"].write(b"\n")
                    counts["rejected"] += 1
                    summary.add(url=None, host=None, text_chars=0, modality="text", decision="rejected", signals=(),
                                licence_category="unspecified", source_kind="crawled")
                else:
                    key = c.key
                    decision, deciding, lic, problems = auditor.judge(c, key)
                    line = {"id": c.id, "url": c.url, "decision": decision, "reasons": [_cap(f) for f in deciding],
                            "license": lic.to_dict(), **where}
                    if c.id_assigned:
                        line["id_assigned"] = True
                    if problems:
                        line["problems"] = [p.to_dict() for p in problems]
                        for s in {p.signal for p in problems}:
                            problem_count[s] += 1
                    if c.notes:
                        line["notes"] = c.notes
                    out_f = fh[decision]
                    out_f.write(c.raw)
                    out_f.write(b"\n")
                    counts[decision] += 1
                    sigs = list(dict.fromkeys(f.signal for f in deciding if f.reserved))
                    for s in sigs:
                        reserved_by[s] += 1
                    image = _is_image(c.media_path)
                    summary.add(url=c.url, host=_host_of(key),
                                text_chars=len(c.text), modality="image" if image else "text", decision=decision,
                                signals=sigs, licence_category=lic.category, source_kind="crawled")
                manifest.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
                done += 1
            if on_progress is not None:
                on_progress(done, read)
    except BaseException:  # the audit could not run to its end (unreadable input, interrupted): no half output
        for f in fh.values():
            f.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for f in fh.values():
            f.close()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    from .summary import to_markdown

    summ = summary.to_dict(agents=list(auditor.policy.agents), policy=opts.policy,
                           inputs=[str(p) for p in paths], generated_at=generated, protocols=_honoured(source))
    (tmp / "summary.json").write_bytes(orjson.dumps(summ, option=orjson.OPT_INDENT_2))
    (tmp / "summary.md").write_text(to_markdown(summ), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    warnings = []
    if hasattr(source, "misnamed"):
        n, names = source.misnamed()
        if n:
            warnings.append(f"{n:,} director{'y' if n == 1 else 'ies'} of the site snapshot {opts.sites} "
                            f"{'is' if n == 1 else 'are'} not named by a site key, so {'its' if n == 1 else 'their'} "
                            f"files were not read: {', '.join(names)}{' ...' if n > len(names) else ''}; rename them "
                            "to the lower-case ASCII host (IDNA, e.g. xn--bcher-kva.de), with :port for a non-default "
                            "port")
    return AuditResult(out, counts, reserved_by, problem_count, [str(p) for p in paths],
                       time.perf_counter() - t0, summ, warnings)
