"""Site-level rights files: which site a record belongs to, and the bytes of its three files.

Three files live at the root of a site and speak for every page on it: ``/robots.txt`` (RFC 9309),
Spawning's ``/ai.txt`` and W3C TDMRep's ``/.well-known/tdmrep.json``. This module names the site of a record
URL (:func:`site_key`) and reads the files from a snapshot directory (:class:`SnapshotSites`); the live
fetcher is :class:`ipscope.audit.fetch.Fetcher`. Both return :class:`SiteFiles`: bytes and a status, never
parsed — the signal modules parse, and they decide what a status means (RFC 9309 §2.3.1: 4xx "unavailable",
5xx or unreachable "unreachable").

Snapshot layout (the ``--sites DIR`` of ``ipscope audit``)::

    DIR/<key>/robots.txt
    DIR/<key>/ai.txt
    DIR/<key>/.well-known/tdmrep.json

where ``<key>`` is :func:`site_key` of the record URL (``example.com``, ``xn--bcher-kva.de``,
``example.com:8080``, ``[2001:db8::1]``). A missing file means the site answered 404.

Any other file a signal names by URL (an RSL licence: ``License: https://example.com/license.xml``) is read
at its URL path under its own host's directory (:meth:`SnapshotSites.get_url`):
``DIR/example.com/license.xml``; a licence on another host from that host's directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

from ipscope.errors import InputError
from ipscope.messages import error

FileKind = Literal["robots", "ai_txt", "tdmrep"]

#: The path of each file on the site (and under ``DIR/<key>`` in a snapshot).
PATHS: Final[dict[FileKind, str]] = {
    "robots": "/robots.txt",
    "ai_txt": "/ai.txt",
    "tdmrep": "/.well-known/tdmrep.json",
}

#: 500 KiB. RFC 9309 §2.5 ("Limits"): "crawlers SHOULD impose a parsing limit ... The parsing limit MUST be at
#: least 500 kibibytes (KiB)". ai.txt is a robots.txt-like format and tdmrep.json a short list of rules, and
#: neither specification sets a limit, so the same cap applies to them: a legitimate file is far smaller, and
#: the cap keeps a hostile site from making the audit read gigabytes.
MAX_BYTES: Final[int] = 500 * 1024

_DEFAULT_PORT: Final[dict[str, int]] = {"http": 80, "https": 443}
# One DNS label after IDNA encoding. Underscores are not valid in host names (RFC 952) but are common in real
# ones and harmless in a directory name, so they are accepted.
_HOST = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")


@dataclass(frozen=True, slots=True)
class SiteFile:
    """One site file as the site (or the snapshot) gave it.

    ``url``    where the bytes came from: the last URL requested (after redirects) for a live fetch, the file
               path for a snapshot.
    ``status`` the HTTP status (404 for a file missing from a snapshot), or ``None`` when nothing was received:
               DNS failure, connection refused, timeout, refused by the private-address guard, unreadable file.
    ``body``   the bytes (at most the size cap), or ``None`` when there is no body to parse.
    ``error``  why ``status`` is ``None``; for a received response, a note the parser should pass on
               (``truncated at ...``, ``more than 5 redirects``); ``None`` when all went well.
    """

    url: str
    status: int | None
    body: bytes | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SiteFiles:
    """The three site-level files of one site, keyed by :func:`site_key`."""

    key: str
    robots: SiteFile
    ai_txt: SiteFile
    tdmrep: SiteFile

    def get(self, kind: FileKind) -> SiteFile:
        return self.robots if kind == "robots" else self.ai_txt if kind == "ai_txt" else self.tdmrep


def site_key(url: str) -> str | None:
    """The site a record URL belongs to: ``host`` or ``host:port``, or ``None`` when it has none.

    Only ``http``/``https`` URLs have a key. The host is lower-cased and IDNA-encoded (UTS #46
    non-transitional, as browsers do; see ``_to_ascii``), one trailing dot is dropped, IPv6 literals are
    compressed and bracketed (``[2001:db8::1]``), IPv4 literals kept as written when canonical. The scheme's
    default port is dropped, any other port kept (``example.com:8080``). Never raises: anything unparseable
    gives ``None``.
    """
    # Called once per corpus record: the common shape (lower-case scheme, plain authority) skips urlsplit,
    # which costs ~3 us on a new URL. The pattern only accepts an authority urlsplit would cut at the same
    # place (it ends at / ? # or the end and holds no whitespace or backslash), so both paths agree; a
    # property test checks that.
    if type(url) is str:
        m = _FAST.match(url)
        if m is not None:
            return _netloc_key(m[1], m[2])
    return _site_key_slow(url)


_FAST = re.compile(r"(https?)://([^/?#\\\s]*)(?=[/?#]|\Z)")


def _site_key_slow(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme != "http" and scheme != "https":
            return None
        return _netloc_key(scheme, parts.netloc)
    except (ValueError, TypeError, AttributeError):
        return None


@lru_cache(maxsize=1 << 16)
def _netloc_key(scheme: str, netloc: str) -> str | None:
    # Cached per (scheme, netloc): a corpus has far fewer sites than records, and this keeps the per-record
    # cost at one urlsplit and one dict lookup.
    try:
        parts = urlsplit(f"{scheme}://{netloc}/")
        host = parts.hostname
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if not host:
        return None
    if port == 0:
        return None
    name = _host_name(host)
    if name is None:
        return None
    if port is None or port == _DEFAULT_PORT[scheme]:
        return name
    return f"{name}:{port}"


def _to_ascii(host: str) -> str | None:
    """An internationalised host in ASCII as browsers resolve it: UTS #46 non-transitional processing
    (IDNA 2008; ``faß.de`` is ``xn--fa-hia.de``, not ``fass.de``) with the ``idna`` package, and Python's IDNA
    2003 codec for the few names IDNA 2008 refuses (emoji, some symbols) that older resolvers still accept."""
    try:
        import idna

        return idna.encode(host, uts46=True, transitional=False).decode("ascii").lower()
    except ImportError:
        pass
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        pass
    try:
        return host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return None


def _host_name(host: str) -> str | None:
    """The canonical key form of a host as :func:`urlsplit` gives it (lower-cased, brackets removed)."""
    if ":" in host:  # only an IPv6 literal has a colon here
        if "%" in host:  # a zone id ("fe80::1%eth0") names an interface of this machine, not a site
            return None
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    host = host.removesuffix(".")
    ascii_host: str | None
    if host.isascii():
        ascii_host = host.lower()
    else:
        ascii_host = _to_ascii(host)
        if ascii_host is None:
            return None
    if not ascii_host:
        return None
    if len(ascii_host) > 253 or not _HOST.fullmatch(ascii_host):
        return None
    return ascii_host


def split_key(key: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a valid key (host without IPv6 brackets), else ``None``.

    Used to refuse keys that did not come from :func:`site_key` before they become paths or URLs
    (``../etc`` must not escape the snapshot directory).
    """
    if not isinstance(key, str) or not key or len(key) > 300:
        return None
    port: int | None = None
    if key.startswith("["):
        close = key.find("]")
        if close < 0:
            return None
        host, rest = key[1:close], key[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port = _port(rest[1:])
            if port is None:
                return None
        if _host_name(host) != f"[{host}]":
            return None
        return host, port
    host, sep, p = key.partition(":")
    if sep:
        port = _port(p)
        if port is None:
            return None
    if _host_name(host) != host:
        return None
    return host, port


def _port(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    n = int(text)
    return n if 0 < n < 65536 else None


def _bad_key(key: str, where: str) -> SiteFiles:
    msg = f"{key!r} is not a site key (host or host:port, as ipscope.audit.sites.site_key makes); not read"
    f = SiteFile(url=where, status=None, body=None, error=msg)
    return SiteFiles(key=key, robots=f, ai_txt=f, tdmrep=f)


class SnapshotSites:
    """Site files read from a snapshot directory laid out as ``root/<key>/<path>`` (see the module doc).

    A missing file (or a missing ``root/<key>`` directory) is a 404, as the issue specifies: the snapshot
    recorded that the site had no such file. A file that exists but cannot be read (a directory in its place,
    an I/O error) is ``status=None`` with the error, which RFC 9309 treats as unreachable. At most
    ``max_bytes`` are read; a larger file is cut there and ``error`` says so.
    """

    def __init__(self, root: Path | str, *, max_bytes: int = MAX_BYTES) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise error(InputError, "audit.snapshot.not_dir", path=str(self.root))
        self.max_bytes = max_bytes

    def misnamed(self, limit: int = 10) -> tuple[int, list[str]]:
        """(how many, the first ``limit``) of the snapshot's directories that are not site keys, such as
        ``Example.com`` or ``bücher.de`` (keys are lower-case ASCII: ``xn--bcher-kva.de``): their files are
        never read, so their sites count as having none."""
        bad = []
        for entry in os.scandir(self.root):
            if not entry.is_dir():
                continue
            name = entry.name
            if site_key(f"http://{name}/") != name and site_key(f"https://{name}/") != name:
                bad.append(name)
        bad.sort()
        return len(bad), bad[:limit]

    def get(self, key: str) -> SiteFiles:
        if split_key(key) is None:
            return _bad_key(key, str(self.root / "?"))
        base = self.root / key
        return SiteFiles(
            key=key,
            robots=self._read(base / "robots.txt"),
            ai_txt=self._read(base / "ai.txt"),
            tdmrep=self._read(base / ".well-known" / "tdmrep.json"),
        )

    def get_url(self, url: str, max_bytes: int) -> SiteFile:
        """The file an absolute http(s) URL names: ``DIR/<site key>/<URL path>`` (percent-escapes decoded, the
        query and fragment ignored), at most ``max_bytes`` (a larger file is cut there and ``error`` says so).
        A path that ends in ``/``, has empty, ``.`` or ``..`` segments or leaves ``DIR`` is not read."""
        key = site_key(url) if isinstance(url, str) else None
        if key is None:
            return SiteFile(url=str(url), status=None, body=None,
                            error="not an http(s) URL with a valid host; not read")
        try:
            path = urlsplit(url).path
        except ValueError:
            return SiteFile(url=url, status=None, body=None, error="unparseable URL; not read")
        segs = [unquote(x) for x in path.split("/")[1:]]
        if not segs or path.endswith("/"):
            return SiteFile(url=url, status=None, body=None, error=f"{url} names a directory (its path ends in '/'); "
                            "a snapshot holds a file at the URL path, so the URL must name a file")
        if any(x in ("", ".", "..") or "/" in x or "\\" in x or "\x00" in x for x in segs):
            return SiteFile(url=url, status=None, body=None, error=f"{url}: a path with empty, '.' or '..' segments "
                            "cannot be looked up in the snapshot; not read")
        base = self.root / key
        target = base.joinpath(*segs)
        try:
            target.resolve().relative_to(self.root.resolve())
        except (ValueError, OSError):
            return SiteFile(url=str(target), status=None, body=None, error=f"{target} leaves the snapshot; not read")
        return self._read(target, max_bytes)

    def _read(self, path: Path, cap: int | None = None) -> SiteFile:
        where = str(path)
        cap = self.max_bytes if cap is None else cap
        try:
            with open(path, "rb") as fh:
                body = fh.read(cap + 1)
        except FileNotFoundError:
            return SiteFile(url=where, status=404, body=None)
        except NotADirectoryError:  # root/<key> is a file: nothing under it exists
            return SiteFile(url=where, status=404, body=None)
        except OSError as e:
            reason = e.strerror or type(e).__name__
            return SiteFile(url=where, status=None, body=None, error=f"cannot read {where}: {reason}")
        if len(body) > cap:
            return SiteFile(url=where, status=200, body=body[:cap], error=truncated_note(cap))
        return SiteFile(url=where, status=200, body=body)


def truncated_note(cap: int) -> str:
    return f"truncated: larger than {cap} bytes, only the first {cap} bytes kept (RFC 9309 §2.5 parsing limit)"
