"""What the rights signals need from a raw HTML page, read once per page.

The audit must handle tens of thousands of records a second, so it does not build a DOM: it scans the page
for the kinds of tags the signals read (``<meta>``, ``<link>``/``<a>`` with ``rel``, JSON-LD ``<script>``
blocks and RSL ``<script type="application/rsl+xml">`` licences) with one regular expression each, after
dropping comments. Attribute values are HTML-unescaped. Tags inside ``<script>``/``<style>`` text other than
JSON-LD and RSL are not signals and are skipped.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_RAWTEXT = re.compile(r"<(script|style)\b([^>]*)>(.*?)(?:</\1\s*>|\Z)", re.S | re.I)
_TAG = re.compile(r"<(meta|link|a)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_JSONLD_TYPE = re.compile(r"""type\s*=\s*["']?application/ld\+json""", re.I)
_RSL_TYPE = re.compile(r"""type\s*=\s*["']?application/rsl\+xml""", re.I)  # RSL-SPEC-1.0 §4.6.2


@dataclass(slots=True)
class PageMeta:
    """Signal-bearing tags of one page, in document order."""

    #: ``(name or http-equiv, lower-cased; content)`` of every ``<meta>`` with a ``content``.
    metas: list[tuple[str, str]] = field(default_factory=list)
    #: ``href`` of every ``<link>``/``<a>`` whose ``rel`` contains ``license`` (but for RSL documents, below).
    license_links: list[str] = field(default_factory=list)
    #: raw text of every ``<script type="application/ld+json">`` block.
    jsonld: list[str] = field(default_factory=list)
    #: ``href`` of every ``<link rel="license" type="application/rsl+xml">`` (RSL-SPEC-1.0 §4.6.1), as written.
    rsl_links: list[str] = field(default_factory=list)
    #: raw text of every ``<script type="application/rsl+xml">`` block: an inline RSL licence (§4.6.2).
    rsl_inline: list[str] = field(default_factory=list)

    def meta(self, name: str) -> list[str]:
        """Contents of the ``<meta>`` tags called ``name`` (case-insensitive), in order."""
        name = name.lower()
        return [c for n, c in self.metas if n == name]


def _attrs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        key = m.group(1).lower()
        if key not in out:
            val = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
            out[key] = _html.unescape(val or "")
    return out


def scan_html(page: str) -> PageMeta:
    """Collect the meta tags, licence links and JSON-LD blocks of ``page``."""
    out = PageMeta()
    if "<!--" in page:
        page = _COMMENT.sub(" ", page)
    low = page.lower()
    if "<script" in low or "<style" in low:
        parts: list[str] = []
        last = 0
        for m in _RAWTEXT.finditer(page):
            parts.append(page[last : m.start()])
            last = m.end()
            if m.group(1).lower() == "script":
                if _JSONLD_TYPE.search(m.group(2)):
                    out.jsonld.append(m.group(3).strip())
                elif _RSL_TYPE.search(m.group(2)):
                    out.rsl_inline.append(m.group(3).strip())
        parts.append(page[last:])
        page = " ".join(parts)
    for m in _TAG.finditer(page):
        tag = m.group(1).lower()
        a = _attrs(m.group(2))
        if tag == "meta":
            name = a.get("name") or a.get("http-equiv") or a.get("property")
            if name is not None and "content" in a:
                out.metas.append((name.strip().lower(), a["content"]))
        elif "license" in a.get("rel", "").lower().split() and a.get("href"):
            # an RSL licence document is read by the RSL signal, not classified as a licence name
            if tag == "link" and a.get("type", "").split(";")[0].strip().lower() == "application/rsl+xml":
                out.rsl_links.append(a["href"].strip())
            else:
                out.license_links.append(a["href"].strip())
    return out
