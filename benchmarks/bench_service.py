"""Benchmark ``ipscope serve`` (issue 12's targets) beside the in-process Python API, in one run.

Everything runs on this machine: the server (``ipscope serve`` in its own processes, uvicorn on loopback), the
load generator (this process: asyncio with aiohttp, its CPU seconds reported, since it shares the cores) and the
in-process figures (fresh processes calling ``ipscope.trace.trace`` on the same index and queries).

* trace: ~1,000-token planted queries (benchmarks/planted.py, as bench_trace.py makes them) on the 100M-token
  index of bench_trace/bench_similar. In-process: one thread's p50/p99, and the throughput of ``--workers``
  processes and of ``--clients`` threads in one process (the better of the two is the baseline). Over HTTP:
  one client's p50/p99, and ``--clients`` concurrent clients' throughput against a server with ``--workers``.
* works: ``POST /v1/works`` of 10 KB texts from ``--writers`` concurrent clients for ``--seconds``; the rate,
  and for every 25th work acknowledged, the time until ``POST /v1/check`` with a 300-word excerpt names it
  (polled every 0.1 s: the probes are check requests that load the server too). Then the same at a steady
  ``--rate`` (100 a second, the target's rate: the delay to searchable at the load the target names, not at
  the server's limit).
* memory: peak RSS (VmHWM) of each server process after the trace load and /v1/check, then after one
  ``/v1/similar`` with semantic evidence (the vectors and the embedding model loaded).
* page: the web workbench's Check page (issue 13) with each ~1,000-token planted query against the index (``where``
  the corpus): the first findings (``POST /check``: trace's spans and similar's lexical ranking, the whole HTML
  page) and the evidence by meaning after it (``POST /check/semantic``, the fragment the page's script loads:
  similar with the embedder), one client, each query ``--page-rounds`` times; and the page without JavaScript
  (``POST /check`` with ``semantic=1``: both in one page). Client latency beside the server's own (the page's
  ``Server-Timing`` header: ``total`` is the handler from its start to the rendered page). Targets: first ≤ 300 ms
  p95, complete ≤ 2.5 s p95, server side.
* kill: ``kill -9`` of every server process during a burst of registrations, a restart on the same data; every
  acknowledged work must be in the database (GET /v1/works/ID), the log (its receipt's leaf below the log
  size and its inclusion proof served) and the index (found by /v1/check), and ``ipscope registry check`` clean.

    python benchmarks/bench_service.py                       # all, on WORK/similar-100000000.idx
    python benchmarks/bench_service.py --index some.idx --queries 10 --seconds 5   # quicker

Prints one JSON line and appends it to benchmarks/results/bench_service.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import record  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


# ------------------------------------------------------------------------------------------- queries and works


def make_queries(n: int, index: Path) -> list[str]:
    """~1,000-token texts: planted passages (verbatim and lightly edited) of the index's corpus in held-out text."""
    import planted

    meta = index.parent / (index.name.replace("similar-", "corpus-").removesuffix(".idx") + ".json")
    if not meta.is_file():
        sys.exit(f"needs {meta} (bench_trace.py / bench_similar.py write it with the corpus)")
    sample = json.loads(meta.read_text())["sample"]
    novel = [planted.body(planted._read_book(SHARED / "gutenberg" / b)) for b in planted.HELD_OUT_BOOKS]
    qs = (planted.make_queries(sample, novel, "verbatim", n // 2, seed=7, query_words=850)
          + planted.make_queries(sample, novel, "edited", n - n // 2, seed=8, query_words=850))
    return [q.text for q in qs]


def make_works(n: int, seed: int) -> list[str]:
    """``n`` distinct ~10 KB texts of shuffled sentences of the shared books (each one differs from the others)."""
    import re

    sents: list[str] = []
    for p in sorted((SHARED / "gutenberg").glob("*.txt"))[:40]:
        text = p.read_text(encoding="utf-8", errors="replace")
        sents += [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 40 < len(s) < 400]
    rnd = random.Random(seed)
    works = []
    for i in range(n):
        parts, size = [f"Work {seed}-{i}."], 0
        while size < 10_000:
            s = rnd.choice(sents)
            parts.append(s)
            size += len(s) + 1
        works.append(" ".join(parts))
    return works


# ------------------------------------------------------------------------------------------- in-process trace

_CHILD = r"""
import json, sys, time, threading
from ipscope.searcher import Searcher
from ipscope.trace import trace
cfg = json.load(open(sys.argv[1]))
s = Searcher(cfg["index"])
qs = cfg["queries"]
for q in qs:  # warm: one pass over every query (the HTTP client does the same)
    trace(s, q)
out = {}
if cfg["mode"] == "latency":
    lat = []
    for _ in range(cfg["rounds"]):
        for q in qs:
            t = time.perf_counter(); trace(s, q); lat.append((time.perf_counter() - t) * 1000)
    out["lat"] = lat
else:  # throughput of cfg["threads"] threads for cfg["seconds"]
    stop = time.perf_counter() + cfg["seconds"]
    done = [0] * cfg["threads"]
    def work(k):
        i = k
        while time.perf_counter() < stop:
            trace(s, qs[i % len(qs)]); done[k] += 1; i += 1
    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(cfg["threads"])]
    for t in ts: t.start()
    for t in ts: t.join()
    out["done"] = sum(done); out["seconds"] = time.perf_counter() - t0
print("RESULT " + json.dumps(out))
"""


def _child(cfg: dict) -> subprocess.Popen:
    fh = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(cfg, fh)
    fh.close()
    return subprocess.Popen([PY, "-c", _CHILD, fh.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def _result(p: subprocess.Popen) -> dict:
    out, err = p.communicate()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(err[-3000:])
    return json.loads(line[7:])


def in_process(index: Path, queries: list[str], rounds: int, procs: int, threads: int, seconds: float) -> dict:
    lat = _result(_child({"index": str(index), "queries": queries, "mode": "latency", "rounds": rounds}))["lat"]
    ps = [_child({"index": str(index), "queries": queries[k::procs] or queries, "mode": "rate", "threads": 1,
                  "seconds": seconds}) for k in range(procs)]
    rs = [_result(p) for p in ps]
    by_procs = sum(r["done"] for r in rs) / max(r["seconds"] for r in rs)
    r = _result(_child({"index": str(index), "queries": queries, "mode": "rate", "threads": threads,
                        "seconds": seconds}))
    by_threads = r["done"] / r["seconds"]
    return {"p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2), "requests": len(lat),
            f"rps_{procs}_processes": round(by_procs, 1), f"rps_{threads}_threads": round(by_threads, 1),
            "rps_best": round(max(by_procs, by_threads), 1)}


# ------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data: Path, index: Path | None, workers: int) -> None:
        self.data, self.index, self.workers = data, index, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> float:
        cmd = [PY, "-m", "ipscope", "serve", "--data", str(self.data), "--port", str(self.port), "--workers",
               str(self.workers), "--rate-limit", "0", "--signup-limit", "0", "--log-level", "warning"]
        if self.index is not None:
            cmd += ["--corpus", f"big={self.index}"]
        t = time.perf_counter()
        self.log = open(self.data / "serve.log", "ab")
        self.proc = subprocess.Popen(cmd, env=ENV, stdout=self.log, stderr=self.log, start_new_session=True)
        self.sid = self.proc.pid  # a new session: its id is the server's pid, also once that process is gone
        import httpx

        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("ipscope serve exited: " + (self.data / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(self.url + "/v1", timeout=1).status_code == 200:
                    return time.perf_counter() - t
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("ipscope serve did not answer in time")

    def pids(self) -> list[int]:
        """The server's processes (its session: supervisor, workers, indexer)."""
        sid = self.sid
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getsid(int(d.name)) == sid:
                        out.append(int(d.name))
                except OSError:
                    pass
        return sorted(out)

    def rss(self) -> list[dict]:
        rows = []
        for pid in self.pids():
            try:
                st = (Path("/proc") / str(pid) / "status").read_text()
                cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
            except OSError:
                continue
            f = dict(line.split(":", 1) for line in st.splitlines() if ":" in line)
            rows.append({"pid": pid, "cmd": cmd, "rss_mb": round(int(f["VmRSS"].split()[0]) / 1024, 1),
                         "peak_mb": round(int(f["VmHWM"].split()[0]) / 1024, 1)})
        return rows

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.sid, signal.SIGKILL)
        self.proc.wait()
        for pid in self.pids():  # an indexer started with spawn is in the session too
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def sign_up(url: str) -> str:
    import httpx

    r = httpx.post(url + "/v1/owners", json={"name": f"bench-{random.randrange(10**9)}"}, timeout=30)
    r.raise_for_status()
    return r.json()["key"]


# ------------------------------------------------------------------------------------------- HTTP load


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _session(url: str, key: str, connections: int):
    """The load generator's HTTP client: aiohttp, which took a sixth of httpx's CPU a request on this machine
    (0.35 ms against 2.1 ms, 3,000 POSTs of 10 KB to a bare Starlette route, 8 connections; 2026-12-06) and so
    leaves more of the two shared cores to the server measured."""
    import aiohttp

    return aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"},
                                 connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=120))


async def _post(c, path: str, body: dict) -> tuple[int, dict]:
    async with c.post(path, json=body) as r:
        return r.status, await r.json(content_type=None)


async def http_trace(url: str, key: str, queries: list[str], clients: int, seconds: float | None,
                     rounds: int = 1) -> dict:
    """One client: ``rounds`` passes over the queries, latency each. Several: as many requests as they can for
    ``seconds``."""
    async with _session(url, key, clients) as c:
        for q in queries if clients == 1 else queries[:2]:  # warm as in-process: one pass (one connection, so
            status, _ = await _post(c, "/v1/trace", {"text": q, "corpus": "big"})  # one worker)
            assert status == 200, status
        lat: list[float] = []
        engine: list[float] = []  # the server's own trace time (the report's elapsed_ms)
        done = 0
        cpu0, t0 = _cpu(), time.perf_counter()
        stop = t0 + (seconds or 0)

        async def one(k: int) -> None:
            nonlocal done
            i = k
            while True:
                if seconds is None and i >= len(queries) * rounds:
                    return
                if seconds is not None and time.perf_counter() >= stop:
                    return
                t = time.perf_counter()
                status, j = await _post(c, "/v1/trace", {"text": queries[i % len(queries)], "corpus": "big"})
                assert status == 200, (status, j)
                lat.append((time.perf_counter() - t) * 1000)
                engine.append(j["elapsed_ms"])
                done += 1
                i += clients

        await asyncio.gather(*(one(k) for k in range(clients)))
        wall = time.perf_counter() - t0
        cpu = _cpu() - cpu0
    return {"clients": clients, "requests": done, "rps": round(done / wall, 1), "p50_ms": round(pct(lat, 50), 2),
            "p99_ms": round(pct(lat, 99), 2), "server_trace_p50_ms": round(pct(engine, 50), 2),
            "load_generator_cpu_s": round(cpu, 2),
            "load_generator_cores": round(cpu / wall, 2)}


async def registrations(url: str, key: str, works: list[str], writers: int, seconds: float,
                        probe_every: int = 25, rate: float | None = None) -> dict:
    """``writers`` clients registering 10 KB works for ``seconds``, as fast as the server takes them or, with
    ``rate``, paced to that many a second in all (each registration starts at its slot, or at once when the
    server is behind); every 25th acknowledged work is looked for with /v1/check (a 300-word excerpt) until it
    is found: the delay from its acknowledgement."""
    acked: list[str] = []
    visible: list[float] = []
    missing = 0
    async with _session(url, key, writers + 8) as c:
        cpu0, t0 = _cpu(), time.perf_counter()
        stop = t0 + seconds
        it = iter(range(len(works)))
        watchers: list[asyncio.Task] = []

        async def watch(text: str, wid: str, since: float) -> None:
            nonlocal missing
            words = text.split()
            at = len(words) // 3
            excerpt = " ".join(words[at:at + 300])
            while time.perf_counter() - since < 10:
                status, j = await _post(c, "/v1/check", {"text": excerpt})
                if status == 200 and any(m["work_id"] == wid for m in j["matches"]):
                    visible.append((time.perf_counter() - since) * 1000)
                    return
                await asyncio.sleep(0.1)
            missing += 1

        async def writer() -> None:
            while time.perf_counter() < stop:
                i = next(it, None)
                if i is None:
                    return
                if rate:
                    await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                status, j = await _post(c, "/v1/works", {"title": f"bench work {i}", "text": works[i],
                                                         "reservations": {"train-ai": "n"}})
                assert status == 201, (status, j)
                wid = j["id"]
                acked.append(wid)
                if probe_every and len(acked) % probe_every == 0:  # a sample: each probe loads the server too
                    watchers.append(asyncio.create_task(watch(works[i], wid, time.perf_counter())))

        await asyncio.gather(*(writer() for _ in range(writers)))
        wall = time.perf_counter() - t0
        await asyncio.gather(*watchers)
        cpu = _cpu() - cpu0
    return {"writers": writers, "rate": rate, "registered": len(acked), "seconds": round(wall, 2),
            "load_generator_cores": round(cpu / (time.perf_counter() - t0), 2),
            "per_s": round(len(acked) / wall, 1), "checked": len(visible) + missing,
            "visible_p50_ms": round(pct(visible, 50), 1) if visible else None,
            "visible_p95_ms": round(pct(visible, 95), 1) if visible else None, "not_visible_in_10s": missing}


async def burst(url: str, key: str, works: list[str], writers: int, acked: list[dict]) -> None:
    """Register until the server goes away; every acknowledged work (id, receipt leaf) into ``acked``."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as c:
        it = iter(range(len(works)))

        async def writer() -> None:
            while (i := next(it, None)) is not None:
                try:
                    r = await c.post("/v1/works", json={"title": f"burst {i}", "text": works[i]})
                except httpx.HTTPError:
                    return  # the server is gone: this one was not acknowledged
                if r.status_code == 201:
                    j = r.json()
                    acked.append({"id": j["id"], "leaf": j["receipt"]["leaf_index"], "text": works[i]})

        await asyncio.gather(*(writer() for _ in range(writers)))


def kill_test(data: Path, works: list[str], writers: int, after: float) -> dict:
    import httpx

    srv = Server(data, None, 1)
    srv.start()
    key = sign_up(srv.url)
    acked: list[dict] = []

    async def run() -> None:
        task = asyncio.create_task(burst(srv.url, key, works, writers, acked))
        await asyncio.sleep(after)
        srv.kill9()
        await task

    asyncio.run(run())
    srv2 = Server(data, None, 1)
    srv2.port, srv2.url = srv.port, srv.url
    restart_s = srv2.start()
    try:
        h = {"Authorization": f"Bearer {key}"}
        size = httpx.get(srv.url + "/v1/log/checkpoint", timeout=30).text.splitlines()[1]
        in_db = in_log = in_index = 0
        deadline = time.perf_counter() + 60
        for a in acked:
            in_db += httpx.get(f"{srv.url}/v1/works/{a['id']}", timeout=30).status_code == 200
            in_log += (a["leaf"] < int(size)
                       and httpx.get(f"{srv.url}/v1/log/proof/{a['leaf']}", timeout=30).status_code == 200)
            words = a["text"].split()
            excerpt = " ".join(words[100:400])
            while True:
                r = httpx.post(srv.url + "/v1/check", json={"text": excerpt}, headers=h, timeout=60)
                if r.status_code == 200 and any(m["work_id"] == a["id"] for m in r.json()["matches"]):
                    in_index += 1
                    break
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.1)
        check = subprocess.run([PY, "-m", "ipscope", "registry", "check", "--data", str(data)], env=ENV,
                               capture_output=True, text=True)
    finally:
        srv2.stop()
    n = len(acked)
    return {"acknowledged": n, "missing_from_db": n - in_db, "missing_from_log": n - in_log,
            "missing_from_index": n - in_index, "registry_check_exit": check.returncode,
            "registry_check": check.stdout.strip().splitlines()[-1:] if check.stdout.strip() else check.stderr[-300:],
            "restart_s": round(restart_s, 1)}


# ------------------------------------------------------------------------------------------- the Check page


def _server_timing(header: str) -> dict[str, float]:
    """``name;dur=ms, ...`` (W3C Server Timing) as {name: ms}."""
    out = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        for p in rest.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "dur":
                out[name] = float(v)
    return out


def _summary(xs: list[float]) -> dict:
    return {"p50_ms": round(pct(xs, 50), 1), "p95_ms": round(pct(xs, 95), 1), "max_ms": round(max(xs), 1)}


def page_check(url: str, key: str, queries: list[str], rounds: int, nojs_rounds: int = 1) -> dict:
    """The Check page as a browser drives it (one client, a session cookie after signing in with the key, the
    CSRF token of the page's form): per query, the first response and the second request of the page's script
    (complete = both), then the page without JavaScript. Server side: each response's Server-Timing total."""
    import httpx

    with httpx.Client(base_url=url, timeout=300) as c:
        c.post("/signin", data={"csrf": _csrf(c.get("/register").text), "key": key}).raise_for_status()
        csrf = _csrf(c.get("/check").text)

        def form(q: str, **extra: str) -> dict:
            return {"csrf": csrf, "text": q, "where": "corpus:big", **extra}

        def post(path: str, data: dict) -> tuple[float, dict[str, float], str]:
            t = time.perf_counter()
            r = c.post(path, data=data)
            ms = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            return ms, _server_timing(r.headers.get("server-timing", "")), r.text

        for q in queries[:2]:  # warm: the embedding model is loaded by the first semantic request of a worker
            post("/check", form(q, format="html"))
            post("/check/semantic", form(q))
        first_c, first_s, first_e, second_c, second_s, done_c, done_s, nojs_c, nojs_s = ([] for _ in range(9))
        embedded = 0
        load0 = os.getloadavg()[0]
        for _ in range(rounds):
            for q in queries:
                ms1, st1, html = post("/check", form(q, format="html"))
                if 'id="semantic-slot"' not in html or "<h2 id=\"found\">" not in html:
                    raise RuntimeError("the check page did not show its findings and the slot")
                ms2, st2, frag = post("/check/semantic", form(q))
                if 'id="by-meaning"' not in frag:
                    raise RuntimeError("the fragment has no evidence by meaning: " + frag[:500])
                embedded += "no semantic evidence computed" not in frag
                first_c.append(ms1), first_s.append(st1["total"]), first_e.append(st1["first"])
                second_c.append(ms2), second_s.append(st2["total"])
                done_c.append(ms1 + ms2), done_s.append(st1["total"] + st2["total"])
        for _ in range(nojs_rounds):
            for q in queries:
                ms, st, html = post("/check", form(q, format="html", semantic="1"))
                if 'id="by-meaning"' not in html:
                    raise RuntimeError("the page without JavaScript has no evidence by meaning")
                nojs_c.append(ms), nojs_s.append(st["total"])
    n = len(first_c)
    # the machine's load (other jobs share its cores): the figures depend on it
    return {"queries": len(queries), "requests": n, "embedded": embedded,
            "load_average_1min": [round(load0, 1), round(os.getloadavg()[0], 1)],
            "first_findings": {"server": _summary(first_s), "client": _summary(first_c),
                               "engine_trace_and_similar": _summary(first_e)},
            "meaning_request": {"server": _summary(second_s), "client": _summary(second_c)},
            "complete_first_plus_meaning": {"server": _summary(done_s), "client": _summary(done_c)},
            "complete_without_javascript": {"server": _summary(nojs_s), "client": _summary(nojs_c)},
            "targets": {"first_p95_le_300_ms": pct(first_s, 95) <= 300,
                        "complete_p95_le_2500_ms": pct(done_s, 95) <= 2500}}


_EMBED_CHILD = r"""
import json, sys, time
from ipscope.embed import E5Embedder
qs = json.load(open(sys.argv[1]))
e = E5Embedder()
words = qs[0].split() * 2  # a query has ~850 words; chunks past its end wrap to its start
chunks = [" ".join(words[i:i + 40]) for i in range(0, 30 * 40, 40)]
e.embed(chunks[:2], "query")
ms = []
for _ in range(3):
    t = time.perf_counter(); e.embed(chunks, "query"); ms.append((time.perf_counter() - t) * 1000)
print("RESULT " + json.dumps({"ms": sorted(ms)[1]}))
"""


def embed_baseline(queries: list[str]) -> float:
    """The machine's speed at this moment, beside the page's figures: embedding 30 chunks of a query (40 words
    each, as similar cuts a 1,000-token text) in a fresh process, the median of 3 (the issue puts it at ~1.3 s on
    2 idle cores; other jobs on the machine slow it, and the page's evidence by meaning with it)."""
    fh = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(queries[:1], fh)
    fh.close()
    p = subprocess.Popen([PY, "-c", _EMBED_CHILD, fh.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    return round(_result(p)["ms"], 1)


def _csrf(html: str) -> str:
    import re

    m = re.search(r'name="csrf" value="([^"]+)"', html)
    if m is None:
        raise RuntimeError("no CSRF token in the page")
    return m.group(1)


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=HERE / "work" / "similar-100000000.idx")
    ap.add_argument("--queries", type=int, default=20, help="planted ~1,000-token trace queries")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries for the one-client latencies")
    ap.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (and in-process threads)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (and in-process processes)")
    ap.add_argument("--seconds", type=float, default=20, help="length of each throughput run")
    ap.add_argument("--writers", type=int, default=8, help="concurrent clients registering works")
    ap.add_argument("--works", type=int, default=4000, help="10 KB works made for the registration runs")
    ap.add_argument("--probe-every", type=int, default=25,
                    help="look for every Nth registered work with /v1/check (0: none, the registration rate alone)")
    ap.add_argument("--rate", type=float, default=100,
                    help="then register paced at this many works a second (the target's rate; 0: skip that run)")
    ap.add_argument("--page-rounds", type=int, default=1, help="passes over the queries on the Check page")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: trace,works,memory,page,kill")
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the source tree measured (holding ipscope/)")
    ap.add_argument("--results", default=str(HERE / "results" / "bench_service.jsonl"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    ENV["PYTHONPATH"] = str(args.src.resolve())
    if not SHARED.is_dir():
        sys.exit(f"needs the shared data at {SHARED}")
    if not (args.index / "manifest.json").is_file():
        sys.exit(f"no index at {args.index}: run benchmarks/bench_similar.py (or bench_trace.py) first")
    row: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": f"{os.cpu_count()} cores",
                 "bench": "service", "index": str(args.index),
                 "corpus_tokens": sum(s["tokens"] for s in
                                      json.loads((args.index / "manifest.json").read_text())["shards"])}
    queries = make_queries(args.queries, args.index)
    works = make_works(args.works, seed=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    try:
        srv = Server(tmp / "data", args.index, args.workers)
        (tmp / "data").mkdir()
        row["server_start_s"] = round(srv.start(), 1)
        try:
            key = sign_up(srv.url)
            if "trace" not in skip:
                row["trace_in_process"] = in_process(args.index, queries, args.rounds, args.workers, args.clients,
                                                     args.seconds)
                one = asyncio.run(http_trace(srv.url, key, queries, 1, None, args.rounds))
                many = asyncio.run(http_trace(srv.url, key, queries, args.clients, args.seconds))
                ip = row["trace_in_process"]
                row["trace_http"] = {"one_client": one, "concurrent": many,
                                     "p50_over_in_process_ms": round(one["p50_ms"] - ip["p50_ms"], 2),
                                     "throughput_vs_in_process": round(many["rps"] / ip["rps_best"], 3)}
            if "works" not in skip:
                row["works"] = asyncio.run(registrations(srv.url, key, works, args.writers, args.seconds,
                                                         args.probe_every))
                if args.rate:  # the target's own load: a steady rate, and how soon each work is found at it
                    row["works_paced"] = asyncio.run(registrations(
                        srv.url, key, make_works(args.works, seed=3), args.writers, args.seconds, args.probe_every,
                        args.rate))
            if "memory" not in skip:
                import httpx

                row["rss_after_trace_and_check"] = srv.rss()
                r = httpx.post(srv.url + "/v1/similar", json={"text": queries[0], "corpus": "big", "semantic": True},
                               headers={"Authorization": f"Bearer {key}"}, timeout=300)
                row["similar_semantic_status"] = r.status_code
                row["rss_with_semantic"] = srv.rss()
            # last: its evidence by meaning loads the embedding model, which the memory figures must not hold
            if "page" not in skip:
                layers = json.loads((args.index / "manifest.json").read_text()).get("layers", {})
                row["page"] = {"index_vectors": "vectors" in layers,
                               "embed_30_query_chunks_ms_baseline": embed_baseline(queries),
                               **page_check(srv.url, key, queries, args.page_rounds)}
        finally:
            srv.stop()
        if "kill" not in skip:
            (tmp / "kill").mkdir()
            row["kill9"] = kill_test(tmp / "kill", make_works(600, seed=2), args.writers, after=3.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    record(row, args.results)


if __name__ == "__main__":
    main()
