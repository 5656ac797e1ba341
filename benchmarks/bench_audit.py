"""Benchmark ``ipscope audit`` from a site snapshot, beside Spawning's datadiligence, in one run.

Corpus: synthetic web records (id, url, HTTP headers, a ~6 KB HTML page, ~2 KB of text, sometimes a licence)
over the real hosts of ../shared/data/robots, whose real robots.txt files make the snapshot (every 10th host
also gets an ai.txt, every 7th a tdmrep.json). Some pages carry noai / tdm-reservation meta tags or headers,
as crawls do. Figures, one JSON line:

* ipscope: records/s of one ``ipscope audit`` process (the audit is one process, so this is per core), wall
  time, peak RSS at two corpus sizes (memory must stay flat: streaming), decisions;
* peer: datadiligence 0.1.7's header evaluator (``PostprocessEvaluator``: X-Robots-Tag and TDMRep headers,
  what it can check without the network) over the same records' headers, records/s — it reads neither
  robots.txt, ai.txt, tdmrep.json nor HTML, so it does less work per record than ipscope;
* parity: ipscope's robots.txt decision for ``*`` against protego's ``can_fetch`` on every file of
  ../shared/data/robots for the fixed URL set of tests/test_audit_robots.py (agreement, and the files that
  differ with the RFC 9309 rule that explains each; an unexplained difference fails the run);
* fetch: the JSON line of ``benchmarks/bench_fetch.py`` (live fetching from a local server, cold and warm);
* jobs: the same audit with ``--jobs N`` (default 2), its wall time against one job's in the same run, and a
  check that its outputs are the same bytes;
* capacity: what the machine gives N processes at that moment: a fixed CPU-bound Python loop run alone, then N
  copies at once, interleaved with the audits; ``N * alone / together`` (2.0 on two idle cores, less when other
  work shares them). ``jobs.efficiency`` is the speedup divided by it: how much of what the machine could give
  the N jobs turned into speed;
* baseline: with ``--baseline TREE``, one-job runs of another source tree (e.g. ``git archive main``) in the same
  run, interleaved with ours, so both see the same machine.

Each audit runs ``--repeat`` times (interleaved: baseline, one job, N jobs) and the median is reported with
every run's time. The audits run ``python -m ipscope`` with ``PYTHONPATH=<tree>/src``, so the tree measured is
the one named, whatever is installed.

    python benchmarks/bench_audit.py                  # 100,000 and 400,000 records
    python benchmarks/bench_audit.py --records 20000  # quicker
    python benchmarks/bench_audit.py --records 20000 --repeat 3 --only-audit --baseline /tmp/main-tree

The peer runs in benchmarks/work/peer-venv (``benchmarks/setup_peer.sh`` installs it); it is skipped with a
note when that environment has no datadiligence.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import record  # noqa: E402
REPO = HERE.parent
SHARED_ROBOTS = REPO.parent / "shared" / "data" / "robots"
SAMPLE_ROBOTS = REPO / "tests" / "data" / "robots"
PY = sys.executable
PEER_PY = Path(os.environ.get("PEER_PYTHON", HERE / "work" / "peer-venv" / "bin" / "python"))

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there one all we their been has when who will more no if out so said what up "
         "its about into than them can only other new some could time these two may then do first any my now "
         "such like our over man me even most made after also did many before must through years where much").split()


def _robots_files() -> list[Path]:
    src = SHARED_ROBOTS if SHARED_ROBOTS.is_dir() else SAMPLE_ROBOTS
    return sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith(("LICENSE", "NOTICE", "README")))


def make_snapshot(work: Path) -> tuple[Path, list[str]]:
    snap = work / "audit-snapshot"
    files = _robots_files()
    if snap.is_dir() and len(list(snap.iterdir())) == len(files):
        return snap, sorted(p.name for p in snap.iterdir())
    shutil.rmtree(snap, ignore_errors=True)
    hosts = []
    for i, f in enumerate(files):
        host = f.name.lower()
        d = snap / host
        d.mkdir(parents=True)
        shutil.copyfile(f, d / "robots.txt")
        if i % 10 == 3:
            (d / "ai.txt").write_text("User-Agent: *\nDisallow: *.jpg\nDisallow: /gallery/\nAllow: /\n")
        if i % 7 == 5:
            (d / ".well-known").mkdir()
            (d / ".well-known" / "tdmrep.json").write_text(
                '[{"location": "/news/*", "tdm-reservation": 1, "tdm-policy": "https://%s/tdm-policy.json"},'
                ' {"location": "/*", "tdm-reservation": 0}]' % host)
        hosts.append(host)
    return snap, hosts


def _page(rng: random.Random, meta: str, lic: str) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(900))
    return ("<!doctype html><html><head><meta charset=utf-8><title>%s</title>"
            '<meta name="viewport" content="width=device-width"><meta name="description" content="%s">%s'
            '<link rel="stylesheet" href="/s.css"><script>var x = 1;</script></head><body><nav>home news about'
            "</nav><article><p>%s</p></article><footer>%s</footer></body></html>"
            % (body[:40], body[40:120], meta, body, lic))


def make_corpus(path: Path, n: int, hosts: list[str], seed: int) -> int:
    """Write ``n`` records; returns the bytes written."""
    import orjson

    rng = random.Random(seed)
    paths = ["/", "/news/{}.html", "/blog/{}", "/private/{}", "/search?q={}", "/gallery/{}.jpg", "/about",
             "/wp-admin/{}", "/products/{}?ref=home"]
    licences = [None] * 8 + ["CC-BY-4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/", "MIT",
                             "All rights reserved"]
    written = 0
    with open(path, "wb") as f:
        for i in range(n):
            host = hosts[rng.randrange(len(hosts))]
            url = f"https://{host}{rng.choice(paths).format(rng.randrange(10**6))}"
            headers = {"Content-Type": "text/html; charset=utf-8", "Server": "nginx", "Cache-Control": "max-age=600",
                       "Date": "Tue, 24 Nov 2026 10:00:00 GMT", "Vary": "Accept-Encoding",
                       "Content-Length": "6210", "Connection": "keep-alive", "X-Frame-Options": "SAMEORIGIN"}
            r = rng.random()
            meta = ""
            lic = ""
            if r < 0.03:
                headers["X-Robots-Tag"] = "noai, noimageai"
            elif r < 0.05:
                headers["TDM-Reservation"] = "1"
            elif r < 0.07:
                meta = '<meta name="robots" content="noai">'
            elif r < 0.09:
                meta = '<meta name="tdm-reservation" content="1">'
            elif r < 0.12:
                lic = '<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">CC BY</a>'
            html = _page(rng, meta, lic)
            rec = {"id": f"doc-{i}", "url": url, "text": html[-2400:-200], "headers": headers, "html": html}
            lc = rng.choice(licences)
            if lc:
                rec["license"] = lc
            line = orjson.dumps(rec) + b"\n"
            f.write(line)
            written += len(line)
    return written


def _measured(cmd: list[str]) -> dict:
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = next((int(x.split()[1]) / 1024 for x in p.stderr.splitlines() if x.startswith("MAXRSS")), None)
    return {"returncode": p.returncode, "seconds": wall, "peak_rss_mb": rss, "stdout": p.stdout, "stderr": p.stderr}


def _audit_run(tree: Path, corpus: Path, snap: Path, out: Path, jobs: int = 1) -> dict:
    cmd = [PY, "-m", "ipscope", "audit", str(corpus), "--sites", str(snap), "--out", str(out), "--force", "--quiet"]
    if jobs > 1:
        cmd += ["--jobs", str(jobs)]
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M CPU %U %S", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{tree}: {p.stderr[-3000:]}")
    line = next((x.split() for x in p.stderr.splitlines() if x.startswith("MAXRSS")), None)
    # CPU seconds of the process and of the workers it waited for: what the run cost whatever else ran
    return {"seconds": wall, "peak_rss_mb": int(line[1]) / 1024 if line else None,
            "cpu_s": float(line[3]) + float(line[4]) if line else None}


_SPIN = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(12_000_000):\n    s += i\nprint(time.perf_counter() - t)"


def _capacity(jobs: int) -> float:
    """``jobs`` copies of a CPU-bound loop at once against one alone: the parallel speed the machine has now."""
    alone = float(subprocess.run([PY, "-c", _SPIN], capture_output=True, text=True, check=True).stdout)
    procs = [subprocess.Popen([PY, "-c", _SPIN], stdout=subprocess.PIPE, text=True) for _ in range(jobs)]
    together = max(float(p.communicate()[0]) for p in procs)
    return jobs * alone / together


def _same_outputs(a: Path, b: Path) -> bool:
    for name in ("manifest.jsonl", "allowed.jsonl", "reserved.jsonl", "rejected.jsonl"):
        if (a / name).read_bytes() != (b / name).read_bytes():
            return False
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    sa.pop("generated_at"), sb.pop("generated_at")
    return sa == sb


def bench_ipscope(corpus: Path, n: int, snap: Path, work: Path, jobs: int = 1, repeat: int = 1,
                  baseline: Path | None = None) -> dict:
    """Median wall time of ``repeat`` runs of one job (and of ``jobs`` jobs, and of the baseline tree's one job),
    interleaved so that each sees the same machine."""
    import statistics

    out, out_jobs, out_base = work / "audit-out", work / "audit-out-jobs", work / "audit-out-baseline"
    runs: dict[str, list[dict]] = {"one": [], "jobs": [], "baseline": []}
    capacity: list[float] = []
    for _ in range(repeat):
        if baseline is not None:
            runs["baseline"].append(_audit_run(baseline, corpus, snap, out_base))
        runs["one"].append(_audit_run(REPO, corpus, snap, out))
        if jobs > 1:
            capacity.append(_capacity(jobs))
            runs["jobs"].append(_audit_run(REPO, corpus, snap, out_jobs, jobs))
    counts = {d: sum(1 for _ in open(out / f"{d}.jsonl", "rb")) for d in ("allowed", "reserved", "rejected")}
    assert sum(counts.values()) == n, counts

    def fig(rs: list[dict]) -> dict:
        sec = statistics.median(r["seconds"] for r in rs)
        return {"seconds": round(sec, 2), "records_per_s": round(n / sec),
                "peak_rss_mb": round(max(r["peak_rss_mb"] or 0 for r in rs), 1),
                "runs_s": [round(r["seconds"], 2) for r in rs],
                "cpu_s": round(statistics.median(r["cpu_s"] or 0 for r in rs), 2)}

    res = {"records": n, **fig(runs["one"]), "decisions": counts}
    if jobs > 1:
        res["jobs"] = {"jobs": jobs, **fig(runs["jobs"]), "same_outputs_as_one_job": _same_outputs(out, out_jobs)}
        res["jobs"]["speedup"] = round(res["seconds"] / res["jobs"]["seconds"], 2)
        res["jobs"]["machine_capacity"] = round(statistics.median(capacity), 2)
        res["jobs"]["capacity_runs"] = [round(c, 2) for c in capacity]
        res["jobs"]["efficiency"] = round(res["jobs"]["speedup"] / res["jobs"]["machine_capacity"], 2)
        res["jobs"]["cpu_ratio"] = round(res["jobs"]["cpu_s"] / max(res["cpu_s"], 1e-9), 2)
    if baseline is not None:
        res["baseline"] = {"tree": str(baseline), **fig(runs["baseline"])}
        res["baseline"]["ours_vs_baseline"] = round(res["baseline"]["seconds"] / res["seconds"], 3)
    return res


_PEER = r"""
import json, sys, time
import datadiligence as dd
ev = dd.PostprocessEvaluator()
n = allowed = 0
t = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for line in f:
        rec = json.loads(line)
        n += 1
        allowed += bool(ev.is_allowed(headers=rec["headers"]))
dt = time.perf_counter() - t
print("RESULT " + json.dumps({"records": n, "seconds": dt, "allowed": allowed}))
"""


def bench_peer(corpus: Path) -> dict:
    if not PEER_PY.is_file():
        return {"skipped": f"no peer environment at {PEER_PY}: run benchmarks/setup_peer.sh"}
    r = _measured([str(PEER_PY), "-c", _PEER, str(corpus)])
    line = next((x for x in r["stdout"].splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {"skipped": "datadiligence failed: " + r["stderr"][-500:]}
    res = json.loads(line[7:])
    return {"tool": "datadiligence 0.1.7 PostprocessEvaluator (headers only)", "records": res["records"],
            "records_per_s": round(res["records"] / res["seconds"]), "allowed": res["allowed"],
            "peak_rss_mb": round(r["peak_rss_mb"] or 0, 1)}


def bench_parity() -> dict:
    """ipscope vs protego for agent "*" on every robots.txt file, with the URL set and the explained deviations of
    tests/test_audit_robots.py (the slow parity test): agreement, the files that differ and why, and the time
    each parser takes to parse the files and answer every URL."""
    from protego import Protego

    from ipscope.audit.signals.robots import decode_robots, parse_robots

    sys.path.insert(0, str(REPO / "tests"))
    import test_audit_robots as tr  # the parity rules live with the test that enforces them

    files = _robots_files()
    t_ips = t_pro = 0.0
    for f in files:
        data = f.read_bytes()
        text = decode_robots(data)
        urls = tr.url_set(f.name, text)
        t = time.perf_counter()
        ours = parse_robots(data, f.name)
        for u in urls:
            ours.allowed(u, "*")
        t_ips += time.perf_counter() - t
        t = time.perf_counter()
        theirs = Protego.parse(text)
        for u in urls:
            theirs.can_fetch("https://example.com" + u, "*")
        t_pro += time.perf_counter() - t
    checked, differ = tr.parity(files)  # raises if a difference is not explained by RFC 9309
    n_differ = sum(map(len, differ.values()))
    return {"files": len(files), "urls": checked, "agreement": round(1 - n_differ / max(checked, 1), 5),
            "differing_files": {name: tr.DEVIATIONS.get(name, "?") for name in sorted(differ)},
            "ipscope_s": round(t_ips, 2), "protego_s": round(t_pro, 2)}


def bench_fetch(hosts: int) -> dict:
    p = subprocess.run([PY, str(HERE / "bench_fetch.py"), "--hosts", str(hosts), "--runs", "1"],
                       capture_output=True, text=True)
    line = next((x for x in reversed(p.stdout.splitlines()) if x.startswith("{")), None)
    return json.loads(line) if line else {"error": p.stderr[-1000:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000, help="records in the small corpus (the large has 4x)")
    ap.add_argument("--fetch-hosts", type=int, default=2000)
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--results", default=str(HERE / "results" / "bench_audit.jsonl"))
    ap.add_argument("--jobs", type=int, default=2, help="also audit with --jobs N (1: not)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each audit; the median is reported")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a source tree (holding src/ipscope) whose one-job audit runs in the same run")
    ap.add_argument("--only-audit", action="store_true", help="skip the peer, the parity check and the fetch bench")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    snap, hosts = make_snapshot(work)
    row: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": f"{os.cpu_count()} cores",
                 "bench": "audit", "hosts": len(hosts)}
    sizes = []
    for n in (args.records, 4 * args.records):
        corpus = work / f"audit-corpus-{n}.jsonl"
        if not corpus.is_file():
            make_corpus(corpus, n, hosts, seed=n)
        res = bench_ipscope(corpus, n, snap, work, args.jobs, args.repeat, args.baseline)
        res["corpus_mb"] = round(corpus.stat().st_size / 1e6, 1)
        sizes.append(res)
    row["ipscope"] = sizes
    row["repeat"] = args.repeat
    if args.only_audit:
        record(row, args.results)
        return
    row["peer"] = bench_peer(work / f"audit-corpus-{args.records}.jsonl")
    if "records_per_s" in row["peer"]:
        row["ratio_records_per_s"] = round(sizes[0]["records_per_s"] / row["peer"]["records_per_s"], 2)
    row["parity_robots_star"] = bench_parity()
    row["fetch"] = bench_fetch(args.fetch_hosts)
    record(row, args.results)


if __name__ == "__main__":
    main()
