"""RSL licences of a record: found (RSL-SPEC-1.0 §4), read once per URL, judged (:mod:`.signals.rsl`).

Associations read, all of them for every record (§4.2: clients check every available association point):

- site level: the robots.txt ``License:`` lines of the agent's group, else the global ones (§4.4);
- page level: the record's HTTP ``Link`` headers (§4.5), the page's ``<link rel="license"
  type="application/rsl+xml">`` (§4.6.1) and inline ``<script type="application/rsl+xml">`` (§4.6.2).

Precedence (§4.9): page-level licences that say something about the record beat the site-level ones; within
a level every document counts and the most restrictive verdict wins. A licence URL is read from the
``--sites`` snapshot (``DIR/<its host>/<its path>``) or fetched (``--fetch``: the fetcher's cache, caps and
private-address guard); a relative one is resolved against the page (or robots.txt) URL; only http(s) URLs
are read. A licence that cannot be read or used is a problem and counts as absent (§4.3: the asset is then
unlicensed for RSL, as if the site published none). A ``server`` attribute is never contacted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

from .page import PageMeta
from .signals import rsl
from .signals.base import ANY_AGENT, Finding, Problem
from .signals.rsl_links import link_header_licenses

_Loaded = tuple["rsl.RslDocument | None", tuple[Problem, ...]]
MAX_DOCS = 4096  # distinct licence URLs kept parsed (a corpus has few; bounded so memory stays flat)


class RslDocs:
    """Licence documents by URL from a source of site files (snapshot or fetcher; None: none can be read)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.docs: dict[str, _Loaded] = {}

    def prefetch(self, urls: Iterable[str]) -> None:
        """Read (with --fetch: fetch concurrently) the licences among ``urls`` not read yet."""
        new = [u for u in dict.fromkeys(urls) if u not in self.docs]
        if new and self.source is not None and hasattr(self.source, "get_urls"):
            files = self.source.get_urls([u for u in new if _http(u)], rsl.MAX_BYTES)
            for u in new:
                self._keep(u, self._load(u, files.get(u)))

    def get(self, url: str) -> _Loaded:
        got = self.docs.get(url)
        if got is None:
            got = self._keep(url, self._load(url, None))
        return got

    def _keep(self, url: str, got: _Loaded) -> _Loaded:
        if len(self.docs) >= MAX_DOCS:
            self.docs.clear()
        self.docs[url] = got
        return got

    def _load(self, url: str, f: Any) -> _Loaded:
        def absent(why: str) -> _Loaded:
            return None, (Problem(rsl.SIGNAL, url, f"{why}; the licence counts as absent (RSL-SPEC-1.0 §4.3: the "
                                                   "records it covers are unlicensed for RSL)"),)

        if not _http(url):
            scheme = url.split(":", 1)[0] + ":" if ":" in url else "a relative reference"
            return absent(f"refused: a licence URL must be http(s) (RSL-SPEC-1.0 §4.4, §8), not {scheme}")
        if self.source is None:
            return None, (Problem(rsl.SIGNAL, url, "RSL licence not read: no site files were given; pass --sites DIR "
                                                   "(the licence at DIR/<host>/<path>) or --fetch"),)
        if f is None:
            if hasattr(self.source, "get_url"):
                f = self.source.get_url(url, rsl.MAX_BYTES)
            elif hasattr(self.source, "get_urls"):
                f = self.source.get_urls([url], rsl.MAX_BYTES)[url]
            else:
                return absent("this source of site files cannot read licences")
        if f.status is None:
            return absent(f"could not be read: {f.error}")
        if not 200 <= f.status < 300 or f.body is None:
            return absent(f"HTTP {f.status}" + (f" ({f.error})" if f.error else ""))
        if f.error and f.error.startswith("truncated"):
            return absent(f"longer than {rsl.MAX_BYTES:,} bytes (1 MiB, the audit's limit for an RSL document); "
                          "refused unread")
        doc = rsl.parse_rsl(f.body, url)
        return doc, doc.problems


def _http(url: str) -> bool:
    return url.startswith(("http://", "https://")) or url[:8].lower().startswith(("http://", "https://"))


def site_urls(robots: Any, base: str) -> list[str]:
    """Every licence URL a site's robots.txt names (for prefetching), resolved against ``base``."""
    if robots is None or not robots.has_licenses:
        return []
    refs = list(robots._licenses) + [r for g in robots._group_licenses.values() for r in g]
    return list(dict.fromkeys(_resolve(base, r.url) for r in refs))


def _resolve(base: str, ref: str) -> str:
    try:
        return urljoin(base, ref.strip())
    except ValueError:
        return ref


def _verdicts(docs: RslDocs, urls: Iterable[str], url: str, key: str, path: str, who: rsl.Judged,
              problems: list[Problem]) -> list[rsl.Verdict]:
    out = []
    for u in urls:
        doc, ps = docs.get(u)
        problems.extend(ps)
        if doc is not None:
            out.append(rsl.evaluate(doc, url, who, key=key, path=path))
    return out


def record_findings(docs: RslDocs, url: str, key: str, path: str, headers: Mapping[str, str],
                    page: PageMeta | None, robots: Any, agents: tuple[str, ...], who: rsl.Judged
                    ) -> tuple[list[Finding], list[Problem]]:
    """The RSL findings and problems of one record (see the module doc for the order of precedence)."""
    problems: list[Problem] = []
    page_level: list[rsl.Verdict] = []
    link = headers.get("link")
    if link and "rsl" in link.lower():  # §4.5
        page_level += _verdicts(docs, link_header_licenses(link, url), url, key, path, who, problems)
    if page is not None:
        if page.rsl_links:  # §4.6.1
            links = [_resolve(url, h) for h in page.rsl_links]
            page_level += _verdicts(docs, dict.fromkeys(links), url, key, path, who, problems)
        for i, text in enumerate(page.rsl_inline, 1):  # §4.6.2: the licence is in the page
            doc = rsl.parse_rsl(text.encode("utf-8", "surrogatepass"),
                                f'{url} html <script type="application/rsl+xml"> #{i}')
            problems.extend(doc.problems)
            if len(doc.contents) > 1:
                problems.append(Problem(rsl.SIGNAL, doc.source, "an inline licence holds exactly one <content> "
                                                               "(§4.6.2); every one is read"))
            page_level.append(rsl.evaluate(doc, url, who, key=key, path=path))
    verdict = rsl.combine(page_level)
    if verdict.state != "none":  # §4.9: the most specific association decides
        return verdict.findings((ANY_AGENT,)), problems
    findings: list[Finding] = []
    if robots is not None and robots.has_licenses:  # §4.4
        base = urljoin(url, "/robots.txt")
        for refs, for_agents in robots.licenses(agents):
            urls = dict.fromkeys(_resolve(base, r.url) for r in refs)
            findings += rsl.combine(_verdicts(docs, urls, url, key, path, who, problems)).findings(for_agents)
    return findings, problems
