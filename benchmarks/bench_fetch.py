"""Benchmark ``ipscope audit --fetch``: site files of N hosts from a real local HTTP server, cold then warm.

A separate process runs an aiohttp.web server on 127.0.0.1 that answers for any virtual host (by the Host
header): ``/robots.txt`` 200, ``/ai.txt`` 404, ``/.well-known/tdmrep.json`` 200 on even hosts and 404 on odd
ones. The Fetcher reaches ``site<i>.test`` through ``pinned_hosts`` (no DNS), then:

* cold: a new cache directory, all three files of every host fetched (per_host=2, concurrency=64);
* warm: a new Fetcher on the same cache directory (as a second run would be), TTL not expired — it must make
  0 requests;
* peer: what a crawler without a cache does (datadiligence-style: one blocking ``urllib`` request per file,
  one after another), on the first ``--peer-hosts`` hosts, scaled to hosts/s.

Each of ``--runs`` runs uses a fresh cache; the JSON line gives the median of the runs (and every run).

    python benchmarks/bench_fetch.py                 # 1,500 hosts, 3 runs (under a minute)
    python benchmarks/bench_fetch.py --hosts 500 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from ipscope.audit.fetch import Fetcher


def serve() -> None:
    """The server process: print the port, then serve until killed."""
    import asyncio

    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        host = request.host.rsplit(":", 1)[0]
        n = int(host[4:].split(".", 1)[0]) if host.startswith("site") else 1
        if request.path == "/robots.txt":
            return web.Response(text=f"User-agent: *\nDisallow: /private/{n}/\n\nUser-agent: GPTBot\nDisallow: /\n")
        if request.path == "/.well-known/tdmrep.json" and n % 2 == 0:
            return web.Response(text='[{"location": "/", "tdm-reservation": 1}]', content_type="application/json")
        return web.Response(status=404, text="not found")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def peer(port: int, hosts: list[str]) -> float:
    """hosts/s of sequential, uncached urllib fetches of the three files (what a cacheless checker does)."""
    t0 = time.perf_counter()
    for h in hosts:
        for path in ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{h}:{port}"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
            except urllib.error.HTTPError as e:
                e.read()
    return len(hosts) / (time.perf_counter() - t0)


def fs_create_ms(base: str | None) -> float:
    """Median wall ms to create one small file where the cache lives: the cold pass writes three per host,
    so on a slow file system this, not the network, sets the cold rate."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-fs-", dir=base) as tmp:
        for i in range(200):
            t0 = time.perf_counter()
            with open(os.path.join(tmp, f"f{i}"), "wb") as fh:
                fh.write(b"x" * 200)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def one_run(port: int, n: int, base: str | None) -> dict[str, float]:
    names = [f"site{i}.test" for i in range(n)]
    keys = [f"{h}:{port}" for h in names]
    pinned = {h: "127.0.0.1" for h in names}
    opts = {"schemes": ("http",), "pinned_hosts": pinned, "allow_private": True, "per_host": 2, "concurrency": 64}
    with tempfile.TemporaryDirectory(prefix="bench-fetch-", dir=base) as tmp:
        cold = Fetcher(Path(tmp), **opts)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        got = cold.get_many(keys)
        t_cold = time.perf_counter() - t0
        bad = [k for k, s in got.items() if s.robots.status != 200 or s.ai_txt.status != 404]
        assert not bad, f"{len(bad)} hosts not fetched as served, e.g. {got[bad[0]]}"
        warm = Fetcher(Path(tmp), **opts)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        again = warm.get_many(keys)
        t_warm = time.perf_counter() - t0
        assert again == got, "the warm pass differs from the cold one"
    return {
        "cold_hosts_per_s": n / t_cold,
        "warm_hosts_per_s": n / t_warm,
        "cold_requests": cold.stats.requests,
        "warm_requests": warm.stats.requests,
        "warm_cache_hits": warm.stats.cache_hits,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer-hosts", type=int, default=200)
    ap.add_argument("--cache-base", default=None, help="where the cache directories go (default: the temp dir)")
    ap.add_argument("--save", action="store_true", help="also append the line to benchmarks/results/bench_fetch.jsonl")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        t_all = time.perf_counter()
        runs = [one_run(port, args.hosts, args.cache_base) for _ in range(args.runs)]
        fs_ms = fs_create_ms(args.cache_base)
        peer_rate = peer(port, [f"site{i}.test" for i in range(args.peer_hosts)])
        wall = time.perf_counter() - t_all
    finally:
        server.terminate()
        server.wait(10)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    line = {
        "bench": "fetch",
        "hosts": args.hosts,
        "runs": args.runs,
        "cold_hosts_per_s": round(med["cold_hosts_per_s"], 1),
        "warm_hosts_per_s": round(med["warm_hosts_per_s"], 1),
        "warm_requests": int(max(r["warm_requests"] for r in runs)),  # must be 0
        "cold_requests": int(med["cold_requests"]),
        "peer_uncached_sequential_hosts_per_s": round(peer_rate, 1),
        "fs_create_file_ms": round(fs_ms, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "per_run": [{k: round(v, 1) for k, v in r.items()} for r in runs],
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    text = json.dumps(line)
    print(text)
    if args.save:
        with open(HERE / "results" / "bench_fetch.jsonl", "a") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
