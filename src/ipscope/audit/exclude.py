"""Excluded domains (``ipscope audit --exclude-domains FILE``): records from listed domains are ``reserved``.

The copyright chapter of the GPAI Code of Practice asks providers to keep their crawling away from websites
recognised as persistently infringing copyright; such lists are lists of domains. A list file holds one domain a
line and speaks for the domain and every subdomain of it:

* ``#`` starts a comment (a whole line, or the rest of a line after the domain); blank lines are skipped;
* letter case does not matter; a trailing dot is dropped;
* an internationalised domain may be written in Unicode (``bücher.example``) or in its ASCII form
  (``xn--bcher-kva.example``): both are turned into the ASCII form with the same IDNA rules that name a record's
  site (``sites.site_key``), so either matches records whose URLs use either;
* a leading ``*.`` (``*.example.com``) is accepted and means what a plain line means, the domain and its
  subdomains (``example.com`` itself included: lists written for DNS or proxy filters use the wildcard that way);
* an IP address (``192.0.2.1``, ``2001:db8::1`` or ``[2001:db8::1]``) matches that address only.

Anything else is an error naming the file, the line and the fix: a URL (``https://x.example/page``), a port, a
wildcard anywhere but at the start, several names on one line, a name that is not a host name, a file that is not
UTF-8. A record matches when its URL's host is a listed domain or ends with ``.`` + a listed domain; the finding
names the file (as given) and the line (signal ``excluded-domain``, reason "excluded domain").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..messages import Message, error
from .signals.base import Finding
from .sites import _host_name

#: The signal name of an exclusion in the manifest's reasons and the summary's counts.
SIGNAL = "excluded-domain"
#: A list larger than this is refused (a list of a few million domains is ~100 MB; anything larger is a mistake).
MAX_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed domain: where it was written and as what."""

    domain: str  # the ASCII form records are matched against
    list: str  # the list file as given
    line: int
    text: str  # the line as written (without its comment), the evidence

    def finding(self) -> Finding:
        return Finding(SIGNAL, Message("audit.where.line", source=self.list, line=self.line), f"excluded domain: {self.text}", True)


class ExcludeList:
    """The domains of one or more list files; ``match(host)`` says whether a host is excluded, and by which line."""

    def __init__(self, entries: Iterable[Entry], lists: dict[str, int]) -> None:
        self.domains: dict[str, Entry] = {}
        for e in entries:
            self.domains.setdefault(e.domain, e)  # the first line that lists a domain is its evidence
        self.lists = lists  # list file -> domains it listed

    def __len__(self) -> int:
        return len(self.domains)

    def match(self, host: str) -> Entry | None:
        """The entry excluding ``host`` (a site key's host: lower-case ASCII, an IPv6 literal in brackets), or
        None. A name is checked, then each of its parent domains; an IP literal only as itself."""
        d = self.domains
        e = d.get(host)
        if e is not None or host.startswith("[") or _is_ipv4(host):
            return e
        i = host.find(".")
        while i != -1:
            e = d.get(host[i + 1:])
            if e is not None:
                return e
            i = host.find(".", i + 1)
        return None

    def describe(self) -> list[dict[str, object]]:
        """``[{"list", "domains"}]`` for the summary."""
        return [{"list": name, "domains": n} for name, n in self.lists.items()]


def _is_ipv4(host: str) -> bool:
    return host[-1:].isdigit() and host.replace(".", "").isdigit()


def load(paths: Iterable[str | Path]) -> ExcludeList:
    """The exclusion list of the files ``paths``; raises InputError naming the file and line of a bad entry."""
    entries: list[Entry] = []
    lists: dict[str, int] = {}
    for path in paths:
        got = list(_read(Path(path), str(path)))
        lists[str(path)] = len({e.domain for e in got})
        entries.extend(got)
    return ExcludeList(entries, lists)


def _read(path: Path, name: str) -> Iterable[Entry]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(InputError, "audit.exclude.too_large", name=name, size=size, mib=MAX_BYTES >> 20)
        data = path.read_bytes()
    except IsADirectoryError as e:
        raise error(InputError, "audit.exclude.directory", name=name) from e
    except OSError as e:
        raise error(InputError, "audit.exclude.unreadable", name=name, error=str(e.strerror or e)) from e
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\0" in data:
        raise error(InputError, "audit.exclude.binary", name=name)
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(InputError, "audit.exclude.not_utf8", name=name, line=n, byte=e.start) from e
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        yield Entry(_domain(text, name, n), name, n, text)


def _domain(text: str, name: str, n: int) -> str:
    """The ASCII domain of one list line, or InputError saying what is wrong and how to write it."""
    where = {"name": name, "line": n, "text": text}
    if any(c.isspace() for c in text):
        raise error(InputError, "audit.exclude.several", **where)
    if "://" in text or "/" in text:
        host = text.split("://", 1)[-1].split("/", 1)[0]
        raise error(InputError, "audit.exclude.url", **where, host=host or "example.com")
    body = text[2:] if text.startswith("*.") else text
    if "*" in body:
        raise error(InputError, "audit.exclude.wildcard", **where)
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    if ":" in body:
        try:
            return f"[{ipaddress.IPv6Address(body).compressed}]"
        except ValueError:
            pass
        raise error(InputError, "audit.exclude.port", **where)
    if body != text and _is_ipv4(body):
        raise error(InputError, "audit.exclude.wildcard_ip", **where)
    host = _host_name(body)
    if host is None or host.startswith(".") or ".." in host:
        raise error(InputError, "audit.exclude.not_domain", **where)
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() and not _is_ipv4_address(host):
        raise error(InputError, "audit.exclude.digits", **where)
    return host


def _is_ipv4_address(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return False
