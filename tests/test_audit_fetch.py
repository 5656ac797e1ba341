"""Fetcher against a real HTTP server on loopback serving many virtual hosts (by the Host header).

Names like ``h7.test`` reach the server through ``pinned_hosts`` (the operator's name → address map, like
``curl --resolve``); everything else goes through real DNS and the real private-address guard. Nothing is
mocked: requests cross the loopback interface and the server counts what it saw.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("aiohttp", reason="the fetcher needs the ipscope[fetch] extra (aiohttp)")
from aiohttp import web

from ipscope.audit.fetch import MAX_REDIRECTS, USER_AGENT, Fetcher, is_public_address
from ipscope.errors import MissingExtraError

PINNED = {f"h{i}.test": "127.0.0.1" for i in range(64)}


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class VirtualHosts:
    """aiohttp.web on 127.0.0.1 in its own thread; routes by (host name, path); counts everything it serves."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        self.all_inflight = 0
        self.max_all_inflight = 0
        self.agents: set[str] = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10), "test server did not start"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host).lower()
        path = request.path
        self.counts[(host, path)] += 1
        self.agents.add(request.headers.get("User-Agent", ""))
        self.inflight[host] += 1
        self.all_inflight += 1
        self.max_inflight[host] = max(self.max_inflight[host], self.inflight[host])
        self.max_all_inflight = max(self.max_all_inflight, self.all_inflight)
        try:
            route = self.routes.get((host, path), Route(404, b"not here"))
            if route.delay:
                await asyncio.sleep(route.delay)
            return web.Response(status=route.status, body=route.body, headers=route.headers)
        finally:
            self.inflight[host] -= 1
            self.all_inflight -= 1

    def key(self, host: str) -> str:
        return f"{host}:{self.port}"

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server():
    s = VirtualHosts()
    yield s
    s.stop()


@pytest.fixture
def srv(server: VirtualHosts) -> VirtualHosts:
    deadline = time.monotonic() + 5
    while server.all_inflight and time.monotonic() < deadline:  # e.g. a slow reply the client gave up on
        time.sleep(0.05)
    server.routes.clear()
    server.counts.clear()
    server.max_inflight.clear()
    server.max_all_inflight = 0
    return server


def fetcher(tmp_path: Path, **kw) -> Fetcher:
    opts = {"schemes": ("http",), "pinned_hosts": PINNED, "allow_private": True, "timeout_s": 5.0}
    opts.update(kw)
    return Fetcher(tmp_path / "cache", **opts)  # type: ignore[arg-type]


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: nothing listens there


# ----------------------------------------------------------------------------- statuses


def test_statuses_are_recorded_as_served(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h1.test", "/robots.txt")] = Route(200, b"User-agent: *\nDisallow: /\n")
    srv.routes[("h1.test", "/.well-known/tdmrep.json")] = Route(500, b"oops")
    srv.routes[("h2.test", "/robots.txt")] = Route(503, b"later", {"Retry-After": "5"})
    srv.routes[("h2.test", "/ai.txt")] = Route(403, b"")
    srv.routes[("h2.test", "/.well-known/tdmrep.json")] = Route(200, b'[{"location":"/","tdm-reservation":1}]')
    f = fetcher(tmp_path)
    got = f.get_many([srv.key("h1.test"), srv.key("h2.test")])
    assert list(got) == [srv.key("h1.test"), srv.key("h2.test")]
    a, b = got[srv.key("h1.test")], got[srv.key("h2.test")]
    assert (a.robots.status, a.robots.body, a.robots.error) == (200, b"User-agent: *\nDisallow: /\n", None)
    assert a.robots.url == srv.url("h1.test", "/robots.txt")
    assert (a.ai_txt.status, a.ai_txt.body) == (404, b"not here")
    assert (a.tdmrep.status, a.tdmrep.body) == (500, b"oops")
    assert (b.robots.status, b.robots.body) == (503, b"later")
    assert b.ai_txt.status == 403
    assert b.tdmrep.body == b'[{"location":"/","tdm-reservation":1}]'
    assert f.stats.requests == 6 and sum(srv.counts.values()) == 6
    assert srv.agents == {USER_AGENT}


def test_unreachable_port_is_status_none_with_reason(tmp_path: Path) -> None:
    key = f"h3.test:{dead_port()}"
    got = fetcher(tmp_path).get(key)
    for sf in (got.robots, got.ai_txt, got.tdmrep):
        assert sf.status is None and sf.body is None
        assert "cannot connect" in (sf.error or "")


def test_timeout_is_status_none(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h4.test", "/robots.txt")] = Route(200, b"late", delay=3.0)
    t0 = time.monotonic()
    got = fetcher(tmp_path, timeout_s=0.5).get(srv.key("h4.test"))
    assert time.monotonic() - t0 < 2.5
    assert got.robots.status is None and "timed out after 0.5 s" in (got.robots.error or "")
    assert got.ai_txt.status == 404  # the other files of the site are unaffected


def test_dns_failure_is_status_none(tmp_path: Path) -> None:
    # RFC 2606 §2: ".invalid" never resolves.
    got = fetcher(tmp_path, timeout_s=3.0).get("no-such-host.invalid")
    assert got.robots.status is None and "DNS lookup of no-such-host.invalid failed" in (got.robots.error or "")


def test_bad_key_is_not_fetched(srv: VirtualHosts, tmp_path: Path) -> None:
    f = fetcher(tmp_path)
    got = f.get_many(["../etc", "h1.test:1", "http://h1.test/", "h1.test:1", "EXAMPLE.com"])
    assert list(got) == ["../etc", "h1.test:1", "http://h1.test/", "EXAMPLE.com"]  # input order, once each
    assert got["../etc"].robots.status is None and "not a site key" in (got["../etc"].robots.error or "")
    assert got["h1.test:1"].robots.status is None  # valid key, nothing listens on port 1
    assert "not a site key" in (got["EXAMPLE.com"].robots.error or "")
    assert f.stats.requests == 3 and not (tmp_path / "etc").exists()


# ----------------------------------------------------------------------------- redirects


def chain(srv: VirtualHosts, host: str, n: int, final_host: str) -> None:
    """``host/robots.txt`` redirects ``n`` times; the last hop goes to another host (RFC 9309 allows it)."""
    hops = ["/robots.txt"] + [f"/hop{i}" for i in range(1, n)]
    for i, path in enumerate(hops):
        target = hops[i + 1] if i + 1 < n else srv.url(final_host, "/robots.txt")
        srv.routes[(host, path)] = Route(301 if i % 2 else 302, b"", {"Location": target})
    srv.routes[(final_host, "/robots.txt")] = Route(200, b"User-agent: *\nAllow: /\n")


def test_five_redirects_are_followed_across_hosts(srv: VirtualHosts, tmp_path: Path) -> None:
    # RFC 9309 §2.3.1.2: "crawlers SHOULD follow at least five consecutive redirects, even across authorities"
    assert MAX_REDIRECTS == 5
    chain(srv, "h5.test", 5, "h6.test")
    got = fetcher(tmp_path).get(srv.key("h5.test")).robots
    assert (got.status, got.body, got.error) == (200, b"User-agent: *\nAllow: /\n", None)
    assert got.url == srv.url("h6.test", "/robots.txt")
    assert sum(c for (h, _), c in srv.counts.items() if h == "h5.test" and _ != "/ai.txt" and "tdm" not in _) == 5


def test_six_redirects_fail(srv: VirtualHosts, tmp_path: Path) -> None:
    # RFC 9309 §2.3.1.2: "If there are more than five consecutive redirects, crawlers MAY assume that the
    # robots.txt file is unavailable."
    chain(srv, "h7.test", 6, "h8.test")
    got = fetcher(tmp_path).get(srv.key("h7.test")).robots
    assert got.status in (301, 302) and got.body is None
    assert "more than 5 redirects" in (got.error or "")
    assert srv.counts[("h8.test", "/robots.txt")] == 0


def test_relative_redirect_and_non_http_target(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h9.test", "/robots.txt")] = Route(308, b"", {"Location": "robots-new.txt"})
    srv.routes[("h9.test", "/robots-new.txt")] = Route(200, b"ok")
    srv.routes[("h9.test", "/ai.txt")] = Route(302, b"", {"Location": "file:///etc/passwd"})
    got = fetcher(tmp_path).get(srv.key("h9.test"))
    assert (got.robots.status, got.robots.body) == (200, b"ok")
    assert got.ai_txt.status == 302 and got.ai_txt.body is None
    assert "only http(s) URLs are fetched" in (got.ai_txt.error or "")


def test_redirect_to_private_address_is_refused(srv: VirtualHosts, tmp_path: Path) -> None:
    # h10.test is pinned by the operator (trusted); its redirects point at loopback by IP and by name.
    srv.routes[("h10.test", "/robots.txt")] = Route(302, b"", {"Location": srv.url("127.0.0.1", "/robots.txt")})
    srv.routes[("h10.test", "/ai.txt")] = Route(302, b"", {"Location": srv.url("localhost", "/ai.txt")})
    srv.routes[("h10.test", "/.well-known/tdmrep.json")] = Route(
        302, b"", {"Location": f"http://[::ffff:127.0.0.1]:{srv.port}/x"}
    )
    srv.routes[("127.0.0.1", "/robots.txt")] = Route(200, b"secret")
    srv.routes[("localhost", "/ai.txt")] = Route(200, b"secret")
    f = fetcher(tmp_path, allow_private=False)
    got = f.get(srv.key("h10.test"))
    for sf in (got.robots, got.ai_txt, got.tdmrep):
        assert sf.status is None and sf.body is None
        assert "--allow-private" in (sf.error or "")
    assert srv.counts[("127.0.0.1", "/robots.txt")] == 0 and srv.counts[("localhost", "/ai.txt")] == 0
    assert f.stats.refused == 3 and f.stats.requests == 3  # the three first hops only
    # the same redirects are followed when private addresses are allowed: the refusal was the guard's doing
    got = fetcher(tmp_path / "2", allow_private=True).get(srv.key("h10.test"))
    assert (got.robots.status, got.robots.body) == (200, b"secret")
    assert (got.ai_txt.status, got.ai_txt.body) == (200, b"secret")


def test_private_key_refused_and_not_cached(srv: VirtualHosts, tmp_path: Path) -> None:
    f = fetcher(tmp_path, allow_private=False, pinned_hosts={})
    for key in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", f"[::1]:{srv.port}"):
        got = f.get(key)
        assert got.robots.status is None and "--allow-private" in (got.robots.error or "")
    f.get(f"127.0.0.1:{srv.port}")  # asked again: refused again (a refusal is not cached)
    assert f.stats.requests == 0 and f.stats.refused == 12 and sum(srv.counts.values()) == 0
    # with the flag the IP literal is fetched over the real network path
    srv.routes[("127.0.0.1", "/robots.txt")] = Route(200, b"User-agent: *\n")
    got = fetcher(tmp_path / "2", pinned_hosts={}).get(f"127.0.0.1:{srv.port}")
    assert (got.robots.status, got.robots.body) == (200, b"User-agent: *\n")


def test_connection_goes_to_the_checked_address(srv: VirtualHosts, tmp_path: Path) -> None:
    # The address the guard settled on is the one connected to: aiohttp does no DNS lookup of its own.
    # "localhost" resolves to 127.0.0.1 where the server listens; pinned to 127.0.0.2 (also loopback, but no
    # server bound there) the request must fail, which it could not if aiohttp looked the name up again.
    srv.routes[("localhost", "/robots.txt")] = Route(200, b"via dns")
    via_dns = fetcher(tmp_path, pinned_hosts={}).get(f"localhost:{srv.port}").robots
    assert (via_dns.status, via_dns.body) == (200, b"via dns")
    pinned = fetcher(tmp_path / "2", pinned_hosts={"localhost": "127.0.0.2"}).get(f"localhost:{srv.port}").robots
    assert pinned.status is None and "127.0.0.2" in (pinned.error or "")


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "fec0::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(addr: str) -> None:
    assert not is_public_address(ipaddress.ip_address(addr))


@pytest.mark.parametrize(
    "addr",
    ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses(addr: str) -> None:
    assert is_public_address(ipaddress.ip_address(addr))


# ----------------------------------------------------------------------------- size cap


def test_body_size_cap(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h11.test", "/robots.txt")] = Route(200, b"x" * 5000)
    srv.routes[("h11.test", "/ai.txt")] = Route(200, b"y" * 1000)
    got = fetcher(tmp_path, max_bytes=1000).get(srv.key("h11.test"))
    assert got.robots.body == b"x" * 1000 and "truncated" in (got.robots.error or "")
    assert got.ai_txt.body == b"y" * 1000 and got.ai_txt.error is None  # exactly the cap: whole file


def test_size_cap_applies_to_the_decompressed_body(srv: VirtualHosts, tmp_path: Path) -> None:
    import gzip

    bomb = gzip.compress(b"\0" * (64 << 20), 9)  # 64 MiB of zeros in ~64 KiB on the wire
    srv.routes[("h17.test", "/robots.txt")] = Route(200, bomb, {"Content-Encoding": "gzip"})
    t0 = time.monotonic()
    got = fetcher(tmp_path, max_bytes=1000).get(srv.key("h17.test")).robots
    assert got.status == 200 and got.body == b"\0" * 1000 and "truncated" in (got.error or "")
    assert time.monotonic() - t0 < 5


# ----------------------------------------------------------------------------- cache


def test_cache_hit_within_ttl_across_calls_and_runs(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h12.test", "/robots.txt")] = Route(200, b"Disallow: /x\n")
    keys = [srv.key("h12.test"), srv.key("h13.test"), f"h14.test:{dead_port()}"]
    f = fetcher(tmp_path)
    first = f.get_many(keys)
    served = sum(srv.counts.values())
    assert served == 6 and f.stats.requests == 9  # 3 attempts on the dead port were made; it served nothing
    assert f.get_many(keys) == first  # same Fetcher, second call
    f2 = fetcher(tmp_path)  # a new run on the same cache directory
    assert f2.get_many(keys) == first
    assert sum(srv.counts.values()) == served, "something was fetched twice within the TTL"
    assert f2.stats == type(f2.stats)(requests=0, cache_hits=9, refused=0)
    assert f.stats.requests == 9  # all on the first call, none on the second (failures are cached too)


def test_ttl_expiry_refetches(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h15.test", "/robots.txt")] = Route(200, b"v1")
    f = fetcher(tmp_path, ttl_s=0.4)
    assert f.get(srv.key("h15.test")).robots.body == b"v1"
    srv.routes[("h15.test", "/robots.txt")] = Route(200, b"v2")
    assert f.get(srv.key("h15.test")).robots.body == b"v1"  # still fresh
    time.sleep(0.5)
    assert f.get(srv.key("h15.test")).robots.body == b"v2"
    assert srv.counts[("h15.test", "/robots.txt")] == 2


def test_corrupt_cache_entry_is_a_miss(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h16.test", "/robots.txt")] = Route(200, b"fresh")
    f = fetcher(tmp_path)
    f.get(srv.key("h16.test"))
    entry = tmp_path / "cache" / "robots.txt" / (srv.key("h16.test") + ".cache")
    entry.write_bytes(entry.read_bytes()[:-2])  # cut short: the recorded length no longer matches
    assert f.get(srv.key("h16.test")).robots.body == b"fresh"
    assert srv.counts[("h16.test", "/robots.txt")] == 2
    entry.write_bytes(b"\xff\xfe not json\n")
    assert f.get(srv.key("h16.test")).robots.body == b"fresh"
    assert not list(entry.parent.glob("*.tmp"))  # atomic writes leave no temporary files
    shutil.rmtree(entry.parent)  # the cache directory of the site vanished between calls
    assert f.get(srv.key("h16.test")).robots.body == b"fresh"
    assert entry.is_file() and srv.counts[("h16.test", "/robots.txt")] == 4


@pytest.mark.parametrize("body", [b"", b"\n", b"\n\n{}\n", b"\x00\xff\xfe\r\n", bytes(range(256)) * 3])
def test_any_body_survives_the_cache_byte_for_byte(srv: VirtualHosts, tmp_path: Path, body: bytes) -> None:
    srv.routes[("h18.test", "/ai.txt")] = Route(200, body, {"Content-Type": "application/octet-stream"})
    first = fetcher(tmp_path).get(srv.key("h18.test")).ai_txt
    again = fetcher(tmp_path).get(srv.key("h18.test")).ai_txt
    assert first.body == again.body == body and again == first
    assert srv.counts[("h18.test", "/ai.txt")] == 1


# ----------------------------------------------------------------------------- concurrency


def test_per_host_limit_is_honoured(srv: VirtualHosts, tmp_path: Path) -> None:
    hosts = [f"h{i}.test" for i in range(20, 26)]
    for h in hosts:
        for p in ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"):
            srv.routes[(h, p)] = Route(200, b"ok", delay=0.3)
    fetcher(tmp_path, per_host=2).get_many([srv.key(h) for h in hosts])
    assert max(srv.max_inflight[h] for h in hosts) == 2  # never more, and the limit was reached
    assert srv.max_all_inflight > 2  # hosts were fetched in parallel

    srv.max_inflight.clear()
    srv.max_all_inflight = 0
    fetcher(tmp_path / "b", per_host=1, concurrency=3).get_many([srv.key(h) for h in hosts])
    assert max(srv.max_inflight[h] for h in hosts) == 1
    assert srv.max_all_inflight == 3


# ----------------------------------------------------------------------------- misc


def test_https_falls_back_to_http_when_tls_fails(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h30.test", "/robots.txt")] = Route(200, b"plain")
    got = fetcher(tmp_path, schemes=("https", "http")).get(srv.key("h30.test"))
    assert (got.robots.status, got.robots.body) == (200, b"plain")
    assert got.robots.url == srv.url("h30.test", "/robots.txt")


def test_get_many_inside_a_running_loop(srv: VirtualHosts, tmp_path: Path) -> None:
    srv.routes[("h31.test", "/robots.txt")] = Route(200, b"loop")

    async def main() -> bytes | None:
        return fetcher(tmp_path).get(srv.key("h31.test")).robots.body

    assert asyncio.run(main()) == b"loop"


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # makes `import aiohttp` fail as if not installed
    with pytest.raises(MissingExtraError) as err:
        Fetcher(tmp_path)
    assert "pip install 'ipscope[fetch]'" in str(err.value)
