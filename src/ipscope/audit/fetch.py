"""Fetch the site-level files live (``ipscope audit --fetch``): concurrent, polite, cached, SSRF-guarded.

:class:`Fetcher` gets ``/robots.txt``, ``/ai.txt`` and ``/.well-known/tdmrep.json`` of many sites at once and
returns the same :class:`~ipscope.audit.sites.SiteFiles` as a snapshot does. It records what the site said
(status, capped body, or why nothing came back) and leaves the meaning of a status to the signal parsers.

* **Concurrency.** One asyncio loop (aiohttp, the ``ipscope[fetch]`` extra) with at most ``concurrency``
  requests in flight and at most ``per_host`` to one host:port, checked on every request including redirect
  hops, so no site sees more than ``per_host`` parallel requests from us.
* **Cache.** One file per site and path under ``cache_dir/<key>/`` (a JSON line with status, URL, error,
  content type and fetch time, then the body), replaced atomically. A cached answer younger than ``ttl_s``
  is used instead of a request — within a call, across calls and across runs. Failures are cached too
  (nothing is fetched twice within the TTL); refusals by the address guard are not (they send nothing and
  depend on ``allow_private``).
* **Redirects.** At most 5 (RFC 9309 §2.3.1.2: "crawlers SHOULD follow at least five consecutive redirects,
  even across authorities"); more gives the last 3xx status, no body, and an error saying so (the same
  section lets a crawler then "assume that the robots.txt file is unavailable"). Cross-host redirects are
  followed for all three files: RFC 9309 allows them for robots.txt, TDMRep ("TDM File on the Origin Server")
  allows "a sequence of redirects", and ai.txt is modelled on robots.txt. Only http(s) targets are followed.
* **Scheme.** A key has no scheme, so each file is tried on ``schemes`` in order (default https, then http),
  moving on only when the first could not connect (refused, TLS failure) — not on a timeout, a DNS failure,
  a refusal by the guard or any HTTP status.
* **Other files by URL.** :meth:`Fetcher.get_urls` fetches files a signal names by absolute URL (RSL
  licence documents, RSL-SPEC-1.0 §4) with the same guard, limits, redirects and cache (keyed by the URL),
  under a size cap of the caller's; only http(s) URLs are fetched, anything else is refused unsent.
* **Private addresses (SSRF).** Every host, on every hop, is resolved once per call by this module and
  refused when none of its addresses is public (loopback, private, link-local, multicast, reserved,
  unspecified, shared, IPv4 embedded in IPv6 included), unless ``allow_private``. aiohttp is given a resolver
  that returns exactly the checked addresses, so the connection goes to an address that was checked and no
  second DNS answer can differ. ``pinned_hosts`` (name → IP, like ``curl --resolve``) are the operator's own
  choice and bypass DNS and the guard; tests use them to serve many virtual hosts from one loopback server.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from ipscope import __version__
from ipscope.audit.sites import MAX_BYTES, PATHS, FileKind, SiteFile, SiteFiles, split_key, truncated_note
from ipscope.errors import InputError, MissingExtraError
from ipscope.messages import error

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

T = TypeVar("T")

#: Says who we are and what we read (RFC 9309 §2.2.1: crawlers send a product token); a deployment with a
#: public page about its crawler should pass ``user_agent`` with that page's address.
USER_AGENT: Final = f"ipscope/{__version__} (rights-signal audit: robots.txt, ai.txt, tdmrep.json only)"
MAX_REDIRECTS: Final = 5
_REDIRECT_STATUS: Final = frozenset({301, 302, 303, 307, 308})
_KINDS: Final[tuple[FileKind, ...]] = ("robots", "ai_txt", "tdmrep")
_CACHE_NAME: Final[dict[str, str]] = {"robots": "robots.txt", "ai_txt": "ai.txt", "tdmrep": "tdmrep.json",
                                      "url": "by-url"}
_URL: Final = "url"  # the kind of a file fetched by URL (get_urls); its key is the URL
_CACHE_VERSION: Final = 1
_WRITE_BATCH: Final = 32  # cache entries handed to a writer thread at once
# NAT64 (RFC 6052 §2.1) carries an IPv4 address in the low 32 bits; judge that address, not the prefix.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class FetchStats:
    """Counters since the :class:`Fetcher` was made (all calls)."""

    requests: int  # HTTP requests sent, redirect hops included
    cache_hits: int  # files answered from the on-disk cache
    refused: int  # hosts (per hop) refused by the private-address guard


class _Refused(OSError):
    """A host whose addresses are all non-public (an OSError so aiohttp's resolver path accepts it)."""


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``ip`` is a globally routable unicast address a crawler may connect to.

    Refused: loopback, private (RFC 1918, ULA), link-local (incl. 169.254.169.254 cloud metadata), multicast,
    reserved, unspecified, shared address space (100.64/10); an IPv6 address that embeds IPv4 (mapped,
    6to4, Teredo, NAT64) is judged by the IPv4 address it carries.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.teredo is not None and not all(is_public_address(a) for a in ip.teredo):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


class _Guard:
    """Resolves each host once per fetch run and keeps only the addresses it may connect to."""

    def __init__(self, allow_private: bool, pinned: Mapping[str, str], timeout_s: float) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.pinned = {k.lower(): ipaddress.ip_address(v) for k, v in pinned.items()}
        self._done: dict[str, list[ipaddress.IPv4Address | ipaddress.IPv6Address] | OSError] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}

    async def addresses(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The checked addresses of ``host``; raises :class:`_Refused` or another OSError (DNS failure)."""
        while True:
            got = self._done.get(host)
            if got is not None:
                if isinstance(got, OSError):
                    raise got
                return got
            pending = self._pending.get(host)
            if pending is None:
                break
            await asyncio.shield(pending)  # someone else is resolving it: share their answer
        fut = asyncio.get_running_loop().create_future()
        self._pending[host] = fut
        try:
            self._done[host] = await self._resolve(host)
        except OSError as e:
            self._done[host] = e
        finally:
            del self._pending[host]
            fut.set_result(None)
        return await self.addresses(host)

    async def _resolve(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        pinned = self.pinned.get(host)
        if pinned is not None:
            return [pinned]
        try:
            addrs = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                async with asyncio.timeout(self.timeout_s):
                    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except TimeoutError:
                raise OSError(f"no answer within {self.timeout_s:g} s") from None
            addrs = []
            for _family, _type, _proto, _name, sockaddr in infos:
                ip = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
                if ip not in addrs:
                    addrs.append(ip)
            if not addrs:
                raise OSError(f"no address for {host}")
        if self.allow_private:
            return addrs
        public = [a for a in addrs if is_public_address(a)]
        if not public:
            shown = ", ".join(str(a) for a in addrs[:4])
            raise _Refused(
                f"refused: {host} resolves to a non-public address ({shown}); ipscope does not fetch from "
                "loopback/private/link-local/reserved addresses unless you pass --allow-private "
                "(Fetcher(allow_private=True))"
            )
        return public


def _resolver(guard: _Guard) -> Any:
    """An aiohttp resolver that answers only with what ``guard`` checked (made here: aiohttp is optional)."""
    from aiohttp.abc import AbstractResolver, ResolveResult

    class GuardedResolver(AbstractResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            out: list[ResolveResult] = []
            for ip in await guard.addresses(host):
                fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
                if family in (socket.AF_UNSPEC, fam):
                    out.append(
                        {
                            "hostname": host,
                            "host": str(ip),
                            "port": port,
                            "family": fam,
                            "proto": 0,
                            "flags": socket.AI_NUMERICHOST,
                        }
                    )
            if not out:
                raise OSError(f"no address of the requested family for {host}")
            return out

        async def close(self) -> None:
            return None

    return GuardedResolver()


class Fetcher:
    """Live fetcher of site files with an on-disk cache (see the module doc for every rule).

    ``get_many`` is synchronous (it runs its own event loop, or a worker thread when called from inside one)
    and never raises for a site's behaviour: every outcome is a :class:`SiteFile`.
    """

    def __init__(
        self,
        cache_dir: Path | str,
        *,
        ttl_s: float = 86400,
        per_host: int = 2,
        concurrency: int = 64,
        timeout_s: float = 10,
        max_bytes: int = MAX_BYTES,
        allow_private: bool = False,
        user_agent: str = USER_AGENT,
        schemes: tuple[str, ...] = ("https", "http"),
        pinned_hosts: Mapping[str, str] | None = None,
    ) -> None:
        try:
            import aiohttp  # noqa: F401  (fail here, before any work, when the extra is missing)
        except ImportError as e:
            raise MissingExtraError("fetch", "aiohttp") from e
        if per_host < 1 or concurrency < 1 or max_bytes < 0 or timeout_s <= 0:
            raise ValueError("per_host and concurrency must be >= 1, timeout_s > 0, max_bytes >= 0")
        if not schemes or any(s not in ("http", "https") for s in schemes):
            raise ValueError(f"schemes must be 'http'/'https', got {schemes!r}")
        self.cache_dir = Path(cache_dir)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for name in _CACHE_NAME.values():  # one directory per kind of file, made once (not one per site)
                (self.cache_dir / name).mkdir(exist_ok=True)
        except OSError as e:
            raise error(InputError, "audit.fetch.cache_dir", path=str(self.cache_dir),
                        error=str(e.strerror or e)) from e
        self.ttl_s = ttl_s
        self.per_host = per_host
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.user_agent = user_agent
        self.schemes = tuple(schemes)
        self.pinned_hosts = dict(pinned_hosts or {})
        self._requests = 0
        self._hits = 0
        self._refused = 0

    @property
    def stats(self) -> FetchStats:
        return FetchStats(requests=self._requests, cache_hits=self._hits, refused=self._refused)

    def get(self, key: str) -> SiteFiles:
        return self.get_many([key])[key]

    def get_urls(self, urls: Iterable[str], max_bytes: int) -> dict[str, SiteFile]:
        """Files named by absolute URLs (in the order given, duplicates once): cache first, then the network,
        with the guard, limits and redirects of :meth:`get_many` and at most ``max_bytes`` of each body.
        A URL that is not http(s) with a host is refused without a request (``status`` None, ``error``)."""
        from yarl import URL

        now = time.time()
        out: dict[str, SiteFile] = {}
        misses: list[tuple[str, str]] = []
        for url in urls:
            if url in out or (url, _URL) in misses:
                continue
            try:
                u = URL(url)
                ok = u.scheme in ("http", "https") and bool(u.raw_host)
            except (ValueError, TypeError):
                ok = False
            if not ok:
                scheme = url.split(":", 1)[0] + ":" if ":" in url else "no scheme"
                out[url] = SiteFile(url=url, status=None, body=None,
                                    error=f"refused: only http(s) URLs are fetched, not {scheme} ({url[:200]})")
                continue
            hit = self._cache_read(url, _URL, now, max_bytes)
            if hit is None:
                misses.append((url, _URL))
            else:
                self._hits += 1
                out[url] = hit
        if misses:
            for (url, _kind), f in zip(misses, _run_sync(self._fetch_all(misses, max_bytes))):  # type: ignore[arg-type]
                out[url] = f
        return {u: out[u] for u in dict.fromkeys(urls)}

    def get_many(self, keys: Iterable[str]) -> dict[str, SiteFiles]:
        """The three files of every key, in the order given (duplicates once); cache first, then the network."""
        now = time.time()
        found: dict[str, dict[FileKind, SiteFile]] = {}
        bad: dict[str, SiteFiles] = {}
        misses: list[tuple[str, FileKind]] = []
        order: list[str] = []
        for key in keys:
            if key in found or key in bad:
                continue
            order.append(key)
            if split_key(key) is None:
                msg = f"{key!r} is not a site key (host or host:port, as ipscope.audit.sites.site_key makes)"
                f = SiteFile(url=str(key), status=None, body=None, error=msg + "; not fetched")
                bad[key] = SiteFiles(key=key, robots=f, ai_txt=f, tdmrep=f)
                continue
            got = found[key] = {}
            for kind in _KINDS:
                hit = self._cache_read(key, kind, now)
                if hit is None:
                    misses.append((key, kind))
                else:
                    self._hits += 1
                    got[kind] = hit
        if misses:
            for (key, kind), f in zip(misses, _run_sync(self._fetch_all(misses))):
                found[key][kind] = f
        out: dict[str, SiteFiles] = {}
        for key in order:
            if key in bad:
                out[key] = bad[key]
            else:
                g = found[key]
                out[key] = SiteFiles(key=key, robots=g["robots"], ai_txt=g["ai_txt"], tdmrep=g["tdmrep"])
        return out

    # ------------------------------------------------------------------ cache

    def _cache_path(self, key: str, kind: str) -> str:
        # a str, not a Path: built for every file fetched or looked up, in threads that share the GIL with the loop
        if kind == _URL:  # a URL is no file name: its SHA-256
            return os.path.join(self.cache_dir, _CACHE_NAME[kind], hashlib.sha256(key.encode()).hexdigest() + ".cache")
        return os.path.join(self.cache_dir, _CACHE_NAME[kind], key + ".cache")

    def _cache_read(self, key: str, kind: str, now: float, max_bytes: int | None = None) -> SiteFile | None:
        try:
            with open(self._cache_path(key, kind), "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        nl = data.find(b"\n")
        try:
            meta = orjson.loads(data[:nl]) if nl > 0 else None
        except orjson.JSONDecodeError:
            return None
        # Anything unexpected (old version, hand-edited, cut short) is a miss, never an error: refetch.
        if not isinstance(meta, dict) or meta.get("v") != _CACHE_VERSION:
            return None
        at, url, status, error, size = (meta.get(k) for k in ("at", "url", "status", "error", "len"))
        if not isinstance(at, (int, float)) or not (0 <= now - at < self.ttl_s):
            return None
        if not isinstance(url, str) or not (status is None or type(status) is int):
            return None
        if not (error is None or isinstance(error, str)):
            return None
        body = data[nl + 1 :]
        if size is None:
            return SiteFile(url=url, status=status, body=None, error=error) if not body else None
        if size != len(body):
            return None
        if max_bytes is not None and size > max_bytes:  # cached under a larger cap: cut as a fetch would
            return SiteFile(url=url, status=status, body=body[:max_bytes], error=truncated_note(max_bytes))
        return SiteFile(url=url, status=status, body=body, error=error)

    def _cache_write_many(self, batch: list[tuple[str, str, SiteFile, str | None]]) -> None:
        for key, kind, f, ctype in batch:
            self._cache_write(key, kind, f, ctype)

    def _cache_write(self, key: str, kind: str, f: SiteFile, content_type: str | None) -> None:
        meta = {
            "v": _CACHE_VERSION,
            "at": time.time(),
            "url": f.url,
            "status": f.status,
            "error": f.error,
            "len": None if f.body is None else len(f.body),
            "content_type": content_type,
        }
        # plain os calls on str paths: this runs for every file fetched, in writer threads that share the GIL
        # with the event loop, so as little Python-level work as possible
        path = self._cache_path(key, kind)
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{threading.get_ident():x}.tmp")
        data = orjson.dumps(meta) + b"\n" + (f.body or b"")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        try:
            try:
                fd = os.open(tmp, flags, 0o644)
            except FileNotFoundError:  # the directory was removed while we ran
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, flags, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)  # atomic: a reader sees the old entry or the new one, never half of one
        except OSError:
            # A cache that cannot be written costs a refetch next time; it must not fail the audit.
            try:
                os.unlink(tmp)
            except OSError:
                pass

    # ------------------------------------------------------------------ network

    async def _fetch_all(self, misses: list[tuple[str, FileKind]], max_bytes: int | None = None) -> list[SiteFile]:
        import aiohttp

        guard = _Guard(self.allow_private, self.pinned_hosts, self.timeout_s)
        loop = asyncio.get_running_loop()
        # getaddrinfo runs in the loop's default executor; its default size (cpu + 4 threads) would make DNS
        # the bottleneck of a wide crawl. This loop is ours (see _run_sync), so sizing it affects no one else.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=min(64, self.concurrency)))
        connector = aiohttp.TCPConnector(
            resolver=_resolver(guard),
            use_dns_cache=False,  # the guard caches; a second cache could only hold what it returned
            limit=self.concurrency,
            limit_per_host=self.per_host,
            keepalive_timeout=5,
        )
        # Cache files are written by worker threads: file creation can take milliseconds on a busy disk,
        # and doing it on the event loop would stall every request in flight. They are handed over in batches to
        # one thread: a hand-over per file (a future, a wake-up of the loop) and several threads taking the GIL
        # from the loop cost more than the writing (bench_fetch cold, 2,000 hosts, same minutes: 4 threads one
        # file at a time 454-483 hosts/s, inline on the loop 560-568, one thread in batches of 32 633-677).
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipscope-cache")
        pending: list[tuple[str, str, SiteFile, str | None]] = []
        writes: list[asyncio.Future[None]] = []

        def flush() -> None:
            if pending:
                batch = pending[:]
                pending.clear()
                writes.append(loop.run_in_executor(writer, self._cache_write_many, batch))
        async with aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),  # _Run applies timeout_s per request, after queueing
        ) as session:
            run = _Run(self, session, guard, self.max_bytes if max_bytes is None else max_bytes)
            results: list[SiteFile | None] = [None] * len(misses)
            # A bounded window of tasks, not one per file, so memory stays flat in the number of sites; 3x the
            # concurrency keeps the network busy while some tasks wait for their host's turn.
            window = asyncio.Semaphore(self.concurrency * 3)

            async def one(i: int, key: str, kind: FileKind) -> None:
                try:
                    f, ctype, cache = await run.file(key, kind)
                    results[i] = f
                    if cache:
                        pending.append((key, kind, f, ctype))
                        if len(pending) >= _WRITE_BATCH:
                            flush()
                finally:
                    window.release()

            tasks: set[asyncio.Task[None]] = set()
            try:
                for i, (key, kind) in enumerate(misses):
                    await window.acquire()
                    t = asyncio.create_task(one(i, key, kind))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                flush()  # what was fetched is cached, also when the run is cut short
                writer.shutdown(wait=True)
                for w in writes:
                    if w.done() and not w.cancelled():
                        w.exception()  # _cache_write never raises; retrieve anyway so nothing is logged
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


class _Run:
    """State of one ``get_many`` network pass: the session, the guard and the per-host semaphores."""

    def __init__(self, fetcher: Fetcher, session: aiohttp.ClientSession, guard: _Guard, cap: int) -> None:
        self.f = fetcher
        self.cap = cap
        self.session = session
        self.guard = guard
        self.global_sem = asyncio.Semaphore(fetcher.concurrency)
        self.host_sems: dict[str, asyncio.Semaphore] = {}

    async def file(self, key: str, kind: FileKind) -> tuple[SiteFile, str | None, bool]:
        """``(file, content type, cache it?)`` for one file of one site, trying each scheme in turn."""
        from yarl import URL

        failures: list[str] = []
        if kind == _URL:  # a file named by its URL (get_urls): that URL only, no other scheme
            try:
                f, ctype, outcome = await self._follow(URL(key))
            except Exception as e:  # noqa: BLE001 — as below
                return SiteFile(url=key, status=None, body=None, error=_describe(e)), None, False
            return f, ctype, outcome != "refused"
        try:
            for i, scheme in enumerate(self.f.schemes):
                f, ctype, outcome = await self._follow(URL(f"{scheme}://{key}{PATHS[kind]}"))
                if outcome == "connect" and i + 1 < len(self.f.schemes):
                    failures.append(f"{f.url}: {f.error}")
                    continue
                if failures and f.status is None:
                    f = replace(f, error="; ".join([*failures, f"{f.url}: {f.error}"]))
                return f, ctype, outcome != "refused"
        except Exception as e:  # noqa: BLE001 — a site must never crash the audit; record what happened
            # not cached: an internal failure should be retried on the next run, not remembered for a day
            return SiteFile(url=f"{key}{PATHS[kind]}", status=None, body=None, error=_describe(e)), None, False
        raise AssertionError("unreachable: schemes is not empty")

    async def _follow(self, start: URL) -> tuple[SiteFile, str | None, str]:
        """Request ``start`` and follow up to MAX_REDIRECTS redirects.

        Returns ``(file, content type, outcome)`` with outcome ``ok`` (a response was recorded), ``connect``
        (no connection at the first hop: the next scheme may be tried), ``refused`` (the guard said no) or
        ``failed`` (anything else).
        """
        import aiohttp
        from yarl import URL

        url = start
        status = 0
        for hop in range(MAX_REDIRECTS + 1):
            host = url.raw_host or ""
            try:
                await self.guard.addresses(host)
            except _Refused as e:
                self.f._refused += 1
                return SiteFile(url=str(url), status=None, body=None, error=str(e)), None, "refused"
            except OSError as e:
                return _fail(url, f"DNS lookup of {host} failed: {e.strerror or e}"), None, "failed"
            sem = self.host_sems.get(f"{host}:{url.port}")
            if sem is None:
                sem = self.host_sems[f"{host}:{url.port}"] = asyncio.Semaphore(self.f.per_host)
            async with sem, self.global_sem:
                self.f._requests += 1
                try:
                    async with asyncio.timeout(self.f.timeout_s):
                        async with self.session.get(url, allow_redirects=False) as resp:
                            status = resp.status
                            location = resp.headers.get("Location") if status in _REDIRECT_STATUS else None
                            if location is None:
                                body, cut = await _read_capped(resp, self.cap)
                                note = truncated_note(self.cap) if cut else None
                                f = SiteFile(url=str(url), status=status, body=body, error=note)
                                return f, resp.headers.get("Content-Type"), "ok"
                            # Drain a short redirect body so the connection can be reused; a long one is cut
                            # (aiohttp then closes the connection instead).
                            await resp.content.read(65536)
                except TimeoutError:
                    return _fail(url, f"timed out after {self.f.timeout_s:g} s"), None, "failed"
                except aiohttp.ClientError as e:
                    return _fail(url, _describe(e)), None, "connect" if hop == 0 else "failed"
            try:
                nxt = url.join(URL(location))
            except (ValueError, TypeError) as e:
                bad = f"redirect ({status}) with an unusable Location {location!r} ({e}); not followed"
                return SiteFile(url=str(url), status=status, body=None, error=bad), None, "ok"
            if nxt.scheme not in ("http", "https") or not nxt.raw_host:
                bad = f"redirect ({status}) to {location!r} not followed: only http(s) URLs are fetched"
                return SiteFile(url=str(url), status=status, body=None, error=bad), None, "ok"
            if hop == MAX_REDIRECTS:
                msg = (
                    f"more than {MAX_REDIRECTS} redirects from {start}; stopped before {nxt} "
                    "(RFC 9309 §2.3.1.2 lets a crawler treat the file as unavailable)"
                )
                return SiteFile(url=str(url), status=status, body=None, error=msg), None, "ok"
            url = nxt.with_fragment(None)
        raise AssertionError("unreachable: the loop returns on its last hop")


def _fail(url: URL, error: str) -> SiteFile:
    return SiteFile(url=str(url), status=None, body=None, error=error)


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the (decompressed) body, and whether there was more."""
    chunks: list[bytes] = []
    n = 0
    while n <= cap:
        chunk = await resp.content.read(min(1 << 16, cap + 1 - n))
        if not chunk:
            break
        chunks.append(chunk)
        n += len(chunk)
    body = b"".join(chunks)
    if len(body) > cap:
        return body[:cap], True
    return body, False


def _describe(e: BaseException) -> str:
    """A one-line reason for a failed request, without aiohttp's internals."""
    import aiohttp

    if isinstance(e, aiohttp.ClientConnectorError):
        os_err = e.os_error
        reason = os_err.strerror or str(os_err) or type(os_err).__name__
        return f"cannot connect to {e.host}:{e.port}: {reason}"
    text = str(e) or type(e).__name__
    return f"{type(e).__name__}: {text}"


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:  # e.g. called from a notebook or an async service
        return pool.submit(asyncio.run, coro).result()


__all__ = ["MAX_REDIRECTS", "USER_AGENT", "FetchStats", "Fetcher", "is_public_address"]
