"""RSL licence links in an HTTP ``Link`` header (RSL-SPEC-1.0 §4.5, RFC 8288 §3).

``Link: <https://example.com/license.xml>; rel="license"; type="application/rsl+xml"`` associates the RSL
licence at that URL with the response. A header may hold several links (``, ``-separated, and repeated
headers are joined that way by the record reader), parameters may be quoted or not, quoted strings may hold
commas, semicolons and escaped quotes, and a URL may hold commas: the parser below walks the value once,
character by character, and skips what it cannot read up to the next link instead of giving up.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urljoin

_MEDIA_TYPE: Final = "application/rsl+xml"
MAX_VALUE: Final = 64 * 1024  # longer Link values are read up to here (a real one is well under 1 KB)


def _skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def _to_next_link(s: str, i: int) -> int:
    """Index after the next top-level comma (outside <...> and quoted strings), or len(s)."""
    n = len(s)
    quoted = False
    while i < n:
        ch = s[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ",":
            return i + 1
        i += 1
    return n


def _quoted(s: str, i: int) -> tuple[str, int]:
    """A quoted-string starting at ``s[i] == '"'`` (RFC 9110 §5.6.4): its value and the index after it."""
    out = []
    i += 1
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            out.append(s[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), n  # unterminated: what there is


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``(target, {parameter: value})`` of a Link header value; parameter names lower-cased, the first
    occurrence of a name kept (RFC 8288 §3.3: "rel" MUST NOT appear more than once; later ones are ignored)."""
    s = value[:MAX_VALUE]
    out: list[tuple[str, dict[str, str]]] = []
    i = 0
    n = len(s)
    while i < n:
        i = _skip_ws(s, i)
        if i >= n:
            break
        if s[i] != "<":
            i = _to_next_link(s, i)
            continue
        close = s.find(">", i + 1)
        if close < 0:
            break
        target = s[i + 1:close].strip()
        i = close + 1
        params: dict[str, str] = {}
        while True:
            i = _skip_ws(s, i)
            if i >= n:
                break
            if s[i] == ",":
                i += 1
                break
            if s[i] != ";":  # junk after the target or a parameter: skip to the next link
                i = _to_next_link(s, i)
                break
            i = _skip_ws(s, i + 1)
            start = i
            while i < n and s[i] not in "=;, \t":
                i += 1
            name = s[start:i].strip().lower()
            i = _skip_ws(s, i)
            val = ""
            if i < n and s[i] == "=":
                i = _skip_ws(s, i + 1)
                if i < n and s[i] == '"':
                    val, i = _quoted(s, i)
                elif i < n and s[i] == "'":  # not RFC 8288, but written in the wild: read leniently
                    end = s.find("'", i + 1)
                    end = n if end < 0 else end
                    val, i = s[i + 1:end], min(end + 1, n)
                else:
                    start = i
                    while i < n and s[i] not in ";,":
                        i += 1
                    val = s[start:i].strip()
            if name.endswith("*"):  # RFC 8187 extended value: charset'lang'value
                name = name[:-1]
                val = val.split("'", 2)[-1]
            if name and name not in params:
                params[name] = val
        out.append((target, params))
    return out


def link_header_licenses(value: str, base: str) -> list[str]:
    """The RSL licence URLs a Link header names (§4.5: ``rel`` includes ``license`` and ``type`` is
    ``application/rsl+xml``), resolved against ``base`` (the record URL) when relative, in order, once each."""
    urls: list[str] = []
    for target, params in parse_link_header(value):
        rels = params.get("rel", "").lower().split()
        mtype = params.get("type", "").split(";")[0].strip().lower()
        if "license" in rels and mtype == _MEDIA_TYPE and target:
            try:
                url = urljoin(base, target)
            except ValueError:
                continue
            if url not in urls:
                urls.append(url)
    return urls
