"""Benchmark issue 14's targets (ipscope beyond one machine) and measure the per-shard figures of the scale model
in docs/scale.md, in one run. Parts (each skipped with ``--skip NAME``):

* build: ``ipscope index`` of the synthetic corpus of bench_trace.py / bench_similar.py (``--tokens``, 100M by
  default: random sentences of the Gutenberg novels, with the passage layers) with the local executor (``--jobs``
  processes) and with ``--executor ray`` on a Ray instance that is already running (started by this bench before
  any timing, ``ray.init(num_cpus=JOBS)`` in a process of its own that holds it; its start-up time is reported
  apart). Runs alternate (local first in even rounds, Ray first in odd ones), ``--repeat`` of each; the medians,
  their ratio (target: Ray within 15% of local, ``ray_over_local`` <= 1.15) and whether every Ray index equals the
  local one: the same ``content_hash``, byte-identical shard files and ``account.jsonl``, and a manifest equal apart
  from ``created`` and ``build_seconds``. The build command runs the same ``--jobs`` on both (the plan of shards
  follows it).
* audit: ``ipscope audit`` of the 400k-record corpus of bench_audit.py (``--records``) against its site snapshot,
  one process vs ``--executor ray`` on the running instance, alternating: outputs byte-identical (bench_audit's
  check), speedup (target >= 1.7x), and the machine's parallel capacity measured between the runs
  (bench_audit.py's ``_capacity``: ``jobs * alone / together`` of a CPU-bound loop), efficiency = speedup /
  capacity. On a machine other agents share, capacity says what the two cores could give at that moment.
* route: the 100M-token index served by 4 shard servers (``ipscope serve --corpus big=IDX --shards A-B``) behind a
  router (``ipscope serve --route URL ...``), against one ``ipscope serve --corpus big=IDX`` over the same index:
  the same answers to ``/v1/trace`` and ``/v1/similar`` (timing fields aside), p50 of each (target: router <= 1.5x
  one process), then one shard server killed (``kill -9``) mid-run: every later answer must say ``"partial":
  true`` and name the killed server's shards in ``missing_shards``, and every finding it holds must be in the full
  answer (trace: a span's query offsets with one of its sources; similar: a result's document and label). Beside
  that strict count (``wrong_findings``), two looser ones say what kind of difference it is: ``uncovered_findings``
  (no span of the full answer over the same query and source characters of that document; similar: the document
  not in the full answer at all) and ``spans_not_in_full`` (a passage of the query said to be in the corpus where
  the full answer has no span), with a few ``examples``. Before the kill, ``hung``: the first shard server held
  with SIGSTOP for half the queries (trace): the first answer's time (the router's deadline, ``--shard-timeout``),
  the later ones' (the server suspended: answered without waiting), whether each said ``partial`` with its shards,
  and how long after SIGCONT answers were whole again (the router's probe). Skipped with a message while
  ``ipscope serve --help`` has no ``--route``; ``--src`` points it at another checkout (e.g. the router's branch)
  meanwhile.
* model: the per-shard inputs of the scale model: one shard's build on one core (a corpus of one shard's tokens,
  ``--jobs 1``), index bytes per token and per shard (from the build part's index), trace and similar latency and
  the peak RSS of a process querying one shard and all shards (default options: trace's 300 MB budget), and the
  time to embed one passage (as ``index/vectors.py`` does, model warm, ``--vector-passages`` of them) times the
  passages of a shard.

Every part records the machine's load (``os.getloadavg``) before and after it: the machine is shared.

    python benchmarks/bench_scale.py                                  # everything, 100M tokens, 400k records
    python benchmarks/bench_scale.py --tokens 1e7 --records 20000 --repeat 1 --skip route,model   # quick
    python benchmarks/bench_scale.py --skip audit,route,model --repeat 3                          # build only

Prints one JSON line and appends it to benchmarks/results/bench_scale.jsonl. The corpora are made in ``--work``
(benchmarks/work) when missing, as bench_trace.py and bench_audit.py make them (same seeds, same files).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import bench_audit as ba  # noqa: E402  (audit corpus, snapshot, one-process audit run, machine capacity)
import bench_trace as bt  # noqa: E402  (the token corpus)
from _results import record  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PY = sys.executable
# the tree measured is this one, whatever is installed; a driver joining the bench's Ray instance needs its token
# (Ray >= 2.59 turns token authentication on for local instances and keeps the token in ~/.ray/auth_token)
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"), RAY_AUTH_MODE="token")
PARTS = ("build", "audit", "route", "model")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def med(xs: list[float]) -> float:
    return round(statistics.median(xs), 2)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))], 2)


def timed(cmd: list[str]) -> dict:
    """Run ``cmd`` (this tree's ipscope), its wall time, peak RSS and CPU seconds (of it and the processes it
    waited for: not those of Ray's workers, which are the Ray instance's)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M CPU %U %S", *cmd], capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr[-3000:]}")
    line = next((x.split() for x in p.stderr.splitlines() if x.startswith("MAXRSS")), None)
    return {"seconds": wall, "peak_rss_mb": int(line[1]) / 1024 if line else None,
            "cpu_s": float(line[3]) + float(line[4]) if line else None}


# ----------------------------------------------------------------------------------------------- Ray instance

_RAY_HOLDER = r"""
import json, sys, time
t = time.perf_counter()
import ray
ctx = ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, logging_level="WARNING", log_to_driver=False)
ray.get([ray.remote(lambda: 1).remote() for _ in range(int(sys.argv[1]))])  # its workers are up
print(json.dumps({"address": ctx.address_info["gcs_address"], "init_s": time.perf_counter() - t}), flush=True)
sys.stdin.read()  # held until the bench closes this pipe (or dies)
ray.shutdown()
"""


class RayInstance:
    """A Ray instance on this machine, started before any timing by a process of its own that holds it (as a
    ``ray start --head`` would, but stopped by ending that process: ``ray stop`` would stop every Ray instance of
    the machine's user, including other people's)."""

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.proc: subprocess.Popen | None = None
        self.address = ""
        self.start_s = 0.0

    def __enter__(self) -> "RayInstance":
        t = time.perf_counter()
        self.proc = subprocess.Popen([PY, "-c", _RAY_HOLDER, str(self.cpus)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("the Ray instance did not start (is ray installed? pip install 'ipscope[ray]')")
        self.address = json.loads(line)["address"]
        self.start_s = time.perf_counter() - t
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------------------------------ build


def index_cmd(cdir: Path, out: Path, jobs: int, address: str | None, passages: bool) -> list[str]:
    cmd = [PY, "-m", "ipscope", "index", str(cdir), "--out", str(out), "--force", "--quiet", "--jobs", str(jobs)]
    if not passages:
        cmd.append("--no-passages")
    if address is not None:
        cmd += ["--executor", "ray", "--ray-address", address]
    return cmd


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 22):
            h.update(b)
    return h.hexdigest()


def digest(idx: Path) -> dict:
    """What two builds of one corpus must share: the manifest but for its timing fields, every shard file's bytes
    and the account."""
    m = json.loads((idx / "manifest.json").read_text())
    files = {str(p.relative_to(idx)): sha256(p) for p in sorted((idx / "shards").rglob("*")) if p.is_file()}
    return {"manifest": {k: v for k, v in m.items() if k not in ("created", "build_seconds")},
            "files": files, "account": sha256(idx / "account.jsonl")}


def bench_build(args, work: Path, ray: RayInstance) -> dict:
    n = int(float(args.tokens))
    cdir = work / f"corpus-{n}"
    info = bt.make_corpus(bt.sentence_pool(SHARED), n, cdir)  # reuses the corpus bench_trace/bench_similar made
    out = {"local": work / f"scale-local-{n}.idx", "ray": work / f"scale-ray-{n}.idx"}
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    same: list[bool] = []
    ref = None
    row: dict = {"tokens": info["tokens"], "raw_mb": round(info["raw_bytes"] / 1e6, 1), "jobs": args.jobs,
                 "passages": not args.no_passages, "load_before": load()}
    # not timed: a small build with each executor first, so that numba's on-disk cache of this tree's kernels
    # is filled (the first build of a fresh checkout compiles them) and neither executor pays for it
    warm = work / "corpus-100000"
    bt.make_corpus(bt.sentence_pool(SHARED), 100_000, warm)
    for addr in (None, ray.address):
        timed(index_cmd(warm, work / "scale-warm.idx", args.jobs, addr, not args.no_passages))
    for r in range(args.repeat):
        for who in ("local", "ray") if r % 2 == 0 else ("ray", "local"):  # local first in round 0: ``ref``
            addr = ray.address if who == "ray" else None
            run = timed(index_cmd(cdir, out[who], args.jobs, addr, not args.no_passages))
            run["build_seconds"] = json.loads((out[who] / "manifest.json").read_text())["build_seconds"]
            run["load"] = load()
            runs[who].append(run)
            if ref is None:
                ref = digest(out["local"])
            if who == "ray":  # each Ray build against the first local one
                same.append(digest(out["ray"]) == ref)
    m = json.loads((out["local"] / "manifest.json").read_text())
    for who, rs in runs.items():
        row[who] = {"seconds": med([x["seconds"] for x in rs]), "runs_s": [round(x["seconds"], 2) for x in rs],
                    "build_seconds": med([x["build_seconds"] for x in rs]),
                    "driver_peak_rss_mb": round(max(x["peak_rss_mb"] or 0 for x in rs), 1),
                    "loads": [x["load"] for x in rs]}
    row["ray_over_local"] = round(row["ray"]["seconds"] / row["local"]["seconds"], 3)
    row["target_ray_within_15pct"] = row["ray_over_local"] <= 1.15
    row["identical_index"] = bool(same) and all(same)
    row["identical_runs"] = same
    row["content_hash"] = m["content_hash"]
    row["shards"] = len(m["shards"])
    row["index_bytes"] = bt.dir_bytes(out["local"])
    row["shard_bytes"] = sum(p.stat().st_size for p in (out["local"] / "shards").rglob("*") if p.is_file())
    row["load_after"] = load()
    return row


# ------------------------------------------------------------------------------------------------------ audit


def bench_audit(args, work: Path, ray: RayInstance) -> dict:
    snap, hosts = ba.make_snapshot(work)
    n = args.records
    corpus = work / f"audit-corpus-{n}.jsonl"
    if not corpus.is_file():
        ba.make_corpus(corpus, n, hosts, seed=n)  # bench_audit's seed: the same corpus as its runs
    out_one, out_ray = work / "scale-audit-one", work / "scale-audit-ray"
    runs: dict[str, list[dict]] = {"one": [], "ray": []}
    capacity: list[float] = []
    same: list[bool] = []
    row: dict = {"records": n, "corpus_mb": round(corpus.stat().st_size / 1e6, 1), "load_before": load()}
    ray_cmd = [PY, "-m", "ipscope", "audit", str(corpus), "--sites", str(snap), "--out", str(out_ray), "--force",
               "--quiet", "--executor", "ray", "--ray-address", ray.address]
    for r in range(args.repeat):
        for who in ("one", "ray") if r % 2 == 0 else ("ray", "one"):
            if who == "one":
                run = ba._audit_run(Path(ENV["PYTHONPATH"]).parent, corpus, snap, out_one)  # runs TREE/src
            else:
                run = timed(ray_cmd)
            run["load"] = load()
            runs[who].append(run)
            if who == "one":  # between the audits, as bench_audit measures it
                capacity.append(ba._capacity(ray.cpus))
        same.append(ba._same_outputs(out_one, out_ray))
    for who, rs in runs.items():
        row[who] = {"seconds": med([x["seconds"] for x in rs]), "runs_s": [round(x["seconds"], 2) for x in rs],
                    "records_per_s": round(n / statistics.median(x["seconds"] for x in rs)),
                    "loads": [x["load"] for x in rs]}
    row["one"]["cpu_s"] = med([x["cpu_s"] or 0 for x in runs["one"]])
    row["speedup"] = round(row["one"]["seconds"] / row["ray"]["seconds"], 2)
    row["target_speedup_1_7"] = row["speedup"] >= 1.7
    row["machine_capacity"] = med(capacity)
    row["capacity_runs"] = [round(c, 2) for c in capacity]
    row["efficiency"] = round(row["speedup"] / row["machine_capacity"], 2)
    row["identical_outputs"] = all(same)
    row["decisions"] = {d: sum(1 for _ in open(out_one / f"{d}.jsonl", "rb")) for d in ("allowed", "reserved", "rejected")}
    row["load_after"] = load()
    if not args.keep:
        for d in (out_one, out_ray):  # 2.8 GB each at 400k records
            shutil.rmtree(d, ignore_errors=True)
    return row


# ------------------------------------------------------------------------------------------------------ route


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """One ``ipscope serve`` process (in a session of its own, so it and its workers end together), logging to
    ``home/serve.log``. ``registry``: it holds a registry in ``home`` (``--data``); shard servers and routers
    hold none."""

    def __init__(self, home: Path, extra: list[str], registry: bool = False) -> None:
        self.data = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        self.cmd = [PY, "-m", "ipscope", "serve", "--port", str(self.port), "--workers", "1", "--rate-limit", "0",
                    "--log-level", "warning", *extra]
        if registry:
            self.cmd += ["--data", str(home), "--signup-limit", "0"]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> float:
        import httpx

        t = time.perf_counter()
        log = open(self.data / "serve.log", "ab")
        self.proc = subprocess.Popen(self.cmd, env=ENV, stdout=log, stderr=log, start_new_session=True)
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.cmd)} exited: " + (self.data / "serve.log").read_text()[-3000:])
            try:  # any answer: uvicorn listens once the app has started (a shard server may have no /v1)
                httpx.get(self.url + "/v1", timeout=1)
                return time.perf_counter() - t
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{' '.join(self.cmd)} did not answer in {timeout} s")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


def has_backoff() -> bool:
    return "--shard-backoff" in serve_help()


def bench_hung(victim: "Serve", shards: list[int], queries: list[str], ask, deadline: float) -> dict:
    """SIGSTOP ``victim`` for ``len(queries) // 2`` trace requests, then SIGCONT: each request's time and whether
    it said ``partial`` with the right shards, and how long after SIGCONT the first whole answer came."""
    assert victim.proc is not None
    n = max(2, len(queries) // 2)
    ms, right = [], 0
    os.killpg(victim.proc.pid, signal.SIGSTOP)
    try:
        for q in queries[:n]:
            ans, t = ask("router", "trace", q)
            ms.append(round(t, 1))
            right += ans.get("partial") is True and ans.get("missing_shards") == shards
    finally:
        os.killpg(victim.proc.pid, signal.SIGCONT)
    t0 = time.perf_counter()
    back = None
    while time.perf_counter() - t0 < 120:
        ans, _ = ask("router", "trace", queries[0])
        if not ans.get("partial"):
            back = round(time.perf_counter() - t0, 2)
            break
        time.sleep(0.1)
    return {"server": f"{shards[0]}-{shards[-1]}", "deadline_s": deadline, "answers": n, "partial_right": right,
            "first_ms": ms[0], "later_ms_p50": pct(ms[1:], 50), "later_ms_max": max(ms[1:]),
            "whole_again_after_s": back}


@functools.cache
def serve_help() -> str:
    """``ipscope serve --help`` of the tree benchmarked (what it can do)."""
    return subprocess.run([PY, "-m", "ipscope", "serve", "--help"], capture_output=True, text=True, env=ENV).stdout


def has_router() -> bool:
    return "--route" in serve_help()


_TIMING = ("elapsed_ms", "provenance")


def comparable_answer(d: dict) -> dict:
    """An answer without what differs between two runs of one query (its timing, its provenance) and without the
    router's flags when it is whole."""
    d = {k: v for k, v in d.items() if k not in _TIMING}
    if d.get("partial") is False:
        d.pop("partial")
    if not d.get("missing_shards"):
        d.pop("missing_shards", None)
    return d


def findings(kind: str, d: dict) -> set[tuple]:
    """The findings of an answer, each one a thing a reader acts on: a trace span's place in the query with one of
    its sources; a similar result's document and label."""
    if kind == "trace":
        return {(s["start"], s["end"], s["kind"], src["doc_id"], src["start"], src["end"])
                for s in d["spans"] for src in s["sources"]}
    return {(r["doc_id"], r["label"]) for r in d["results"]}


def bench_route(args, work: Path) -> dict:
    if not has_router():
        return {"skipped": "`ipscope serve --help` has no --route: the router (issue 14, point 3) is not in this tree"}
    import httpx

    n = int(float(args.tokens))
    idx = Path(args.index) if args.index else next(
        (p for p in (work / f"scale-local-{n}.idx", work / f"similar-{n}.idx") if (p / "manifest.json").is_file()),
        work / f"scale-local-{n}.idx")
    if not (idx / "manifest.json").is_file():
        return {"skipped": f"no index at {idx}: run the build part first (or give --index)"}
    names = [sh["name"] for sh in json.loads((idx / "manifest.json").read_text())["shards"]]
    shards = len(names)
    k = args.shard_servers
    cuts = [round(i * shards / k) for i in range(k + 1)]
    root = work / "scale-route"
    shutil.rmtree(root, ignore_errors=True)
    one = Serve(root / "one", ["--corpus", f"big={idx}"], registry=True)
    parts = [Serve(root / f"shard{i}", ["--corpus", f"big={idx}", "--shards", f"{cuts[i]}-{cuts[i + 1] - 1}"])
             for i in range(k)]
    row: dict = {"index": str(idx), "shards": shards, "shard_servers": [f"{cuts[i]}-{cuts[i + 1] - 1}" for i in range(k)],
                 "load_before": load()}
    queries = route_queries(work / f"corpus-{n}.json", args.queries)
    servers = [one, *parts]
    try:
        row["start_s"] = {"one": round(one.start(), 1), "shard_servers": [round(s.start(), 1) for s in parts]}
        router = Serve(root / "router", [x for s in parts for x in ("--route", s.url)]
                       + ["--shard-timeout", str(args.shard_timeout)])
        servers.append(router)
        row["start_s"]["router"] = round(router.start(), 1)

        def client(url: str) -> httpx.Client:
            c = httpx.Client(base_url=url, timeout=300)
            if c.post("/v1/trace", json={"text": "probe", "corpus": "big"}).status_code == 401:
                key = c.post("/v1/owners", json={"name": "bench-scale"}).raise_for_status().json()["key"]
                c.headers["Authorization"] = f"Bearer {key}"
            return c

        cs = {"one": client(one.url), "router": client(router.url)}

        def ask(who: str, kind: str, q: str) -> tuple[dict, float]:
            body = {"text": q, "corpus": "big"} | ({"semantic": False} if kind == "similar" else {})
            t = time.perf_counter()
            r = cs[who].post(f"/v1/{kind}", json=body)
            ms = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            return r.json(), ms

        full: dict[tuple[str, int], dict] = {}
        lat: dict[str, dict[str, list[float]]] = {w: {"trace": [], "similar": []} for w in cs}
        differ: list[dict] = []
        for kind in ("trace", "similar"):
            for w in cs:  # warm both: compiled kernels, the first pages
                ask(w, kind, queries[0])
            for i, q in enumerate(queries):
                for w in ("one", "router") if i % 2 == 0 else ("router", "one"):
                    ans, ms = ask(w, kind, q)
                    lat[w][kind].append(ms)
                    if w == "one":
                        full[(kind, i)] = ans
                    else:
                        full[("router-" + kind, i)] = ans
                a, b = comparable_answer(full[(kind, i)]), comparable_answer(full[("router-" + kind, i)])
                if a != b:
                    differ.append({"kind": kind, "query": i})
        row["identical_answers"] = not differ
        row["differing"] = differ[:10]
        for kind in ("trace", "similar"):
            one_p50, rt_p50 = pct(lat["one"][kind], 50), pct(lat["router"][kind], 50)
            row[kind] = {"queries": len(queries), "one_p50_ms": one_p50, "one_p95_ms": pct(lat["one"][kind], 95),
                         "router_p50_ms": rt_p50, "router_p95_ms": pct(lat["router"][kind], 95),
                         "router_over_one_p50": round(rt_p50 / one_p50, 3)}
            row[kind]["target_p50_1_5x"] = row[kind]["router_over_one_p50"] <= 1.5

        # one shard server hung (SIGSTOP): the first answer waits the deadline, later ones leave the suspended
        # server out at once; after SIGCONT the router's probe brings it back
        if has_backoff():
            row["hung"] = bench_hung(parts[0], list(range(cuts[0], cuts[1])), queries, ask, args.shard_timeout)

        # one shard server killed mid-run: every later answer partial, naming its shards, holding nothing new
        victim = parts[-1]
        missing = list(range(cuts[-2], cuts[-1]))
        killed = {"server": row["shard_servers"][-1], "answers": 0, "partial": 0, "missing_right": 0,
                  "wrong_findings": 0, "uncovered_findings": 0, "spans_not_in_full": 0, "before_kill_whole": 0,
                  "examples": []}
        half = len(queries) // 2
        for i, q in enumerate(queries):
            if i == half:
                victim.kill9()
            for kind in ("trace", "similar"):
                ans, _ = ask("router", kind, q)
                if i < half:
                    killed["before_kill_whole"] += not ans.get("partial")
                    continue
                killed["answers"] += 1
                killed["partial"] += ans.get("partial") is True
                said = sorted(ans.get("missing_shards") or [], key=str)  # shard numbers (or their names)
                killed["missing_right"] += said in (missing, sorted(names[i] for i in missing))
                whole = findings(kind, full[(kind, i)])
                wrong = findings(kind, ans) - whole
                killed["wrong_findings"] += len(wrong)
                uncovered = [f for f in wrong if not covered(kind, f, whole)]
                killed["uncovered_findings"] += len(uncovered)
                if kind == "trace":  # a passage of the query said to be in the corpus where the full answer has none
                    spans = {(sp["start"], sp["end"]) for sp in full[(kind, i)]["spans"]}
                    killed["spans_not_in_full"] += sum(not any(a < e and s < b for a, b in spans)
                                                       for s, e in {(sp["start"], sp["end"]) for sp in ans["spans"]})
                for f in sorted(wrong)[:1]:  # what the router's author needs to see
                    if len(killed["examples"]) < 6:
                        near = sorted(g for g in whole if covered(kind, f, {g}) or (kind == "similar" and g[0] == f[0]))
                        killed["examples"].append({"kind": kind, "query": i, "partial": f, "full_near": near[:3]})
        killed["every_answer_partial"] = killed["partial"] == killed["answers"]
        killed["none_wrong"] = killed["wrong_findings"] == 0
        row["killed"] = killed
        for c in cs.values():
            c.close()
    finally:
        for s in servers:
            s.stop()
    row["load_after"] = load()
    return row


# ------------------------------------------------------------------------------------------------------ model

_QUERY_CHILD = r"""
import json, sys, time
def status():  # MB: resident, peak resident, resident anonymous (the rest is file pages the kernel can drop)
    f = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
    return tuple(int(f[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM", "RssAnon"))
from ipscope.index import Index
from ipscope.similar import SimilarOptions, similar
from ipscope.trace import TraceOptions, trace, warm_up
cfg = json.load(open(sys.argv[1]))
opts = TraceOptions()
warm_up(opts)
base = status()[0]
idx = Index.open(cfg["index"])
opened = status()[0]
sopts = SimilarOptions(semantic=False)
qs = cfg["queries"]
for q in qs[:2]:
    trace(idx, q, opts=opts); similar(idx, " ".join(q.split()[:300]), opts=sopts)
tr = [trace(idx, q, opts=opts).elapsed_ms for q in qs]
si = [similar(idx, " ".join(q.split()[:300]), opts=sopts).elapsed_ms for q in qs]
rss, hwm, anon = status()
print("RESULT " + json.dumps({"trace": tr, "similar": si, "base_rss_mb": base, "opened_rss_mb": opened, "rss_mb": rss,
                             "peak_rss_mb": hwm, "anon_rss_mb": anon}))
"""


# the embedding of passages as ``index/vectors.py`` does it (batches of BATCH), after a warm-up batch
_VECTOR_CHILD = r"""
import json, sys, time
from ipscope.embed import E5Embedder
from ipscope.index import Index
from ipscope.index.passages import PassageLayer, passage_text
from ipscope.index.vectors import BATCH
idx = Index.open(sys.argv[1])
shard = idx.shards[0]
layer = PassageLayer(shard.path)
n = min(int(sys.argv[2]), layer.bounds.shape[0] - BATCH)
texts = [passage_text(shard, layer, p)[2] for p in range(n + BATCH)]
emb = E5Embedder()
emb.embed(texts[:BATCH], "passage")
t = time.perf_counter()
for a in range(BATCH, n + BATCH, BATCH):
    emb.embed(texts[a : a + BATCH], "passage")
print("RESULT " + json.dumps({"passages": n, "seconds": time.perf_counter() - t}))
"""


def query_figures(idx: Path, queries: list[str]) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump({"index": str(idx), "queries": queries}, fh)
    try:
        p = subprocess.run([PY, "-c", _QUERY_CHILD, fh.name], capture_output=True, text=True, env=ENV)
    finally:
        os.unlink(fh.name)
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(p.stderr[-3000:])
    r = json.loads(line[7:])
    return {"queries": len(queries), "trace_p50_ms": pct(r["trace"], 50), "trace_p95_ms": pct(r["trace"], 95),
            "similar_p50_ms": pct(r["similar"], 50), "similar_p95_ms": pct(r["similar"], 95),
            "base_rss_mb": round(r["base_rss_mb"], 1), "opened_rss_mb": round(r["opened_rss_mb"], 1),
            "rss_mb": round(r["rss_mb"], 1), "anon_rss_mb": round(r["anon_rss_mb"], 1),
            "peak_rss_mb": round(r["peak_rss_mb"], 1)}


def covered(kind: str, f: tuple, full: set[tuple]) -> bool:
    """Whether finding ``f`` of a partial answer has a counterpart in the full answer when exact extents are not
    asked: trace, a span of the full answer over some of the same query characters from the same document and
    some of the same source characters; similar, the same document (whatever its label)."""
    if kind == "trace":
        s, e, _, doc, ds, de = f
        return any(g[3] == doc and g[0] < e and s < g[1] and g[4] < de and ds < g[5] for g in full)
    return any(g[0] == f[0] for g in full)


def route_queries(meta: Path, n: int) -> list[str]:
    """The queries of bench_service.py: ~1,000-token texts planting passages of the corpus (``meta``: the sample
    documents bench_trace's make_corpus keeps beside it) in held-out novel text."""
    return planted_queries(json.loads(meta.read_text()), n)


def planted_queries(info: dict, n: int) -> list[str]:
    import planted

    novel = [planted.body(planted._read_book(SHARED / "gutenberg" / b)) for b in planted.HELD_OUT_BOOKS]
    qs = (planted.make_queries(info["sample"], novel, "verbatim", n // 2, seed=7, query_words=850)
          + planted.make_queries(info["sample"], novel, "edited", n - n // 2, seed=8, query_words=850))
    return [q.text for q in qs]


def passages_of(idx: Path) -> list[int]:
    import numpy as np

    return [int(np.load(p, mmap_mode="r").shape[0]) for p in sorted((idx / "shards").glob("*/passages.npy"))]


def bench_model(args, work: Path, build_row: dict | None) -> dict:
    pool = bt.sentence_pool(SHARED)
    n = int(float(args.tokens))
    big = work / f"scale-local-{n}.idx"
    if not (big / "manifest.json").is_file():
        return {"skipped": f"needs the build part's local index {big}"}
    m = json.loads((big / "manifest.json").read_text())
    row: dict = {"load_before": load(), "index": str(big), "tokens": m["counts"]["tokens"], "shards": len(m["shards"])}
    total = bt.dir_bytes(big)
    row["index_bytes"] = total
    row["index_bytes_per_token"] = round(total / m["counts"]["tokens"], 2)
    row["index_bytes_per_shard"] = round(total / len(m["shards"]))
    row["tokens_per_shard"] = round(m["counts"]["tokens"] / len(m["shards"]))
    row["passages_per_shard"] = round(statistics.mean(passages_of(big)))
    if build_row and "local" in build_row:
        row["build_s_per_100m_tokens_2_cores"] = round(build_row["local"]["seconds"] * 1e8 / m["counts"]["tokens"], 1)

    # one shard's build on one core: a corpus of one shard's tokens, --jobs 1
    one_n = row["tokens_per_shard"]
    one_info = bt.make_corpus(pool, one_n, work / f"corpus-{one_n}", seed=2)
    one_idx = work / f"scale-oneshard-{one_n}.idx"
    builds = [timed(index_cmd(work / f"corpus-{one_n}", one_idx, 1, None, True))["seconds"]
              for _ in range(args.repeat)]
    om = json.loads((one_idx / "manifest.json").read_text())
    row["one_shard"] = {"tokens": om["counts"]["tokens"], "shards": len(om["shards"]),
                        "build_s_one_core": med(builds), "build_runs_s": [round(b, 2) for b in builds],
                        "index_bytes": bt.dir_bytes(one_idx)}

    # queries: one shard, and all shards of the big index, each with queries planted from its own corpus
    row["one_shard"]["query"] = query_figures(one_idx, planted_queries(one_info, args.queries))
    big_info = json.loads((work / f"corpus-{n}.json").read_text())
    row["all_shards_query"] = query_figures(big, planted_queries(big_info, args.queries))
    a, o, k = row["all_shards_query"], row["one_shard"]["query"], max(1, row["shards"] - 1)
    # what each shard beyond the first adds to a query's time and to the process's memory (the scale model's input)
    row["per_extra_shard"] = {f: round((a[f] - o[f]) / k, 2)
                              for f in ("trace_p50_ms", "similar_p50_ms", "opened_rss_mb", "rss_mb", "anon_rss_mb")}

    # vectors: the marginal time to embed a passage (the model loaded and warm), times a shard's passages
    p = subprocess.run([PY, "-c", _VECTOR_CHILD, str(one_idx), str(args.vector_passages)], capture_output=True,
                       text=True, env=ENV)
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        row["vectors"] = {"error": p.stderr[-2000:]}
    else:
        v = json.loads(line[7:])
        per = v["seconds"] / v["passages"]
        row["vectors"] = {"passages": v["passages"], "seconds": round(v["seconds"], 1), "s_per_passage": round(per, 4),
                          "s_per_shard_est": round(per * row["passages_per_shard"])}
    row["load_after"] = load()
    return row


# ------------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="1e8", help="tokens of the build corpus (1e8: the run that counts)")
    ap.add_argument("--records", type=int, default=400_000, help="records of the audit corpus")
    ap.add_argument("--jobs", type=int, default=2, help="local processes, and CPUs of the Ray instance")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each build and audit (alternating); medians")
    ap.add_argument("--no-passages", action="store_true", help="build the trace index alone")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to skip: {', '.join(PARTS)}")
    ap.add_argument("--index", default=None,
                    help="route: the index to serve (default: the build part's WORK/scale-local-TOKENS.idx)")
    ap.add_argument("--shard-servers", type=int, default=4, help="route: shard servers the index is split over")
    ap.add_argument("--queries", type=int, default=20, help="route and model: queries of each kind")
    ap.add_argument("--shard-timeout", type=float, default=3.0,
                    help="route: the router's --shard-timeout (what a hung shard server's first request waits)")
    ap.add_argument("--vector-passages", type=int, default=96, help="model: passages embedded to time it")
    ap.add_argument("--keep", action="store_true", help="keep the audit outputs (2.8 GB each at 400k records)")
    ap.add_argument("--src", type=Path, default=REPO / "src",
                    help="the src/ directory of the tree measured (its ipscope runs every command), e.g. another "
                         "checkout's")
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--results", default=str(HERE / "results" / "bench_scale.jsonl"))
    args = ap.parse_args()
    ENV["PYTHONPATH"] = str(args.src.resolve())
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(PARTS):
        ap.error(f"--skip: unknown parts {sorted(skip - set(PARTS))}; the parts are {', '.join(PARTS)}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    row: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "bench": "scale",
                 "machine": f"{os.cpu_count()} cores", "src": ENV["PYTHONPATH"], "repeat": args.repeat,
                 "load_start": load()}
    if not {"build", "audit"} <= skip:
        import ray

        row["ray_version"] = ray.__version__
        with RayInstance(args.jobs) as inst:
            row["ray_start_s"] = round(inst.start_s, 2)  # started before any timing; not in the runs' times
            if "build" not in skip:
                row["build"] = bench_build(args, work, inst)
            if "audit" not in skip:
                row["audit"] = bench_audit(args, work, inst)
    if "route" not in skip:
        row["route"] = bench_route(args, work)
    if "model" not in skip:
        row["model"] = bench_model(args, work, row.get("build"))
    row["load_end"] = load()
    record(row, args.results)


if __name__ == "__main__":
    main()
