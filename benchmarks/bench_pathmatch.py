"""Path matching of robots.txt, ai.txt and TDMRep (ipscope.audit.pathmatch), against another source tree in one run.

Workloads, each timed (CPU time of the process, less disturbed by other load than wall time; after a full garbage
collection, so that where the collector's next full pass falls does not decide a short timing) in a fresh process
of the tree under test, the trees alternated, the median of ``--repeats``:

* ``robots_parity_s``: parse every file of ../shared/data/robots (4,231 real robots.txt) and answer agent ``*``
  for the URL set of tests/test_audit_robots.py (~396,000 checks): what the protego comparison does;
* ``robots_site_build_us``: the first ``RobotsFile.check`` of each of 1,000 of those files with the ~160 agents of
  ../shared/data/ai-agents (the agents' groups found, their matchers built), µs per site;
* ``robots_agents_us``: then ``RobotsFile.check`` as the audit calls it, with those agents, on 9 paths of each
  file, µs per check;
* ``aitxt_us``: ``AiTxtFile.check`` with those agents on a Spawning generator file (every media type's
  extensions, images and audio blocked), µs per check;
* ``tdmrep_us``: ``TdmrepFile.match`` on the 50-entry file of tests/test_audit_tdmrep.py, µs per match;
* ``audit`` (with ``--audit-records N``): ``ipscope audit --sites`` of each tree on benchmarks/bench_audit.py's
  corpus of N records over the 4,231 hosts (its snapshot: every robots.txt, some ai.txt and tdmrep.json),
  records per CPU second and per wall second, peak RSS, and whether both trees put every record in the same place;
* ``instructions`` (with ``--instructions``, needs valgrind): instructions per unit of the robots (a site's first
  check with the 160 agents; then each check), ai.txt and TDMRep work above, counted by callgrind on 200 files —
  deterministic, where CPU times on a shared machine move by 10-20% from run to run.

    python benchmarks/bench_pathmatch.py --baseline /path/to/other/checkout/src   # e.g. main's src
    python benchmarks/bench_pathmatch.py --baseline ../main/src --repeats 3 --audit-records 100000 --instructions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _results import record  # noqa: E402

_WORK = r"""
import gc, json, random, sys, time, zlib
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # tests/ of the benchmark's tree: the URL set of the parity test
import test_audit_robots as tr
from ipscope.audit.signals.aitxt import parse_ai_txt
from ipscope.audit.signals.robots import decode_robots, parse_robots
from ipscope.audit.signals.tdmrep import parse_tdmrep_json

shared = Path(sys.argv[2])
files = sorted(p for p in (shared / "robots").iterdir() if p.is_file())
out = {}
gc.collect()  # each timing starts from the same collector state
t = time.process_time()
for f in files:
    data = f.read_bytes()
    r = parse_robots(data, f.name)
    for u in tr.url_set(f.name, decode_robots(data)):
        r.allowed(u, "*")
out["robots_parity_s"] = time.process_time() - t

names = json.loads((shared / "ai-agents" / "robots.json").read_text())
agents = tuple(dict.fromkeys(["*"] + [a.lower() for a in names]))
rnd = random.Random(7)
paths = ["/", "/news/2024/05/story-{}.html", "/blog/{}", "/search?q={}", "/wp-admin/{}", "/images/{}.jpg",
         "/products/{}?ref=home", "/a/b/c/{}/", "/%7Euser/caf%C3%A9-{}"]
parsed = [parse_robots(f.read_bytes(), f.name) for f in files[::4][:1000]]
todo = [(r, p.format(rnd.randrange(10**6))) for r in parsed for p in paths]
gc.collect()  # each timing starts from the same collector state
t = time.process_time()
for r in parsed:
    r.check("/", agents)  # the site's agent plan and matchers are built (the audit reuses them for every record)
out["robots_site_build_us"] = (time.process_time() - t) / len(parsed) * 1e6
gc.collect()  # each timing starts from the same collector state
t = time.process_time()
for r, p in todo:
    r.check(p, agents)
out["robots_agents_us"] = (time.process_time() - t) / len(todo) * 1e6

ext = {False: ["*.txt", "*.pdf", "*.doc", "*.docx", "*.odt", "*.rtf", "*.tex", "*.html", "*.htm", "*.md", "*.epub"],
       True: ["*.bmp", "*.gif", "*.ico", "*.jpeg", "*.jpg", "*.png", "*.svg", "*.tif", "*.tiff", "*.webp", "*.mp3",
              "*.wav", "*.aac", "*.flac", "*.ogg", "*.m4a", "*.wma", "*.aiff", "*.mid", "*.midi"]}
lines = ["# Spawning AI", "User-Agent: *"] + [f"{'Disallow' if bad else 'Allow'}: {e}" for bad in (True, False)
                                            for e in ext[bad]] + ["Allow: /"]
ai = parse_ai_txt("\n".join(lines).encode(), "ai.txt")
ai_paths = ["/gallery/2024/05/cat.jpg", "/essay.txt", "/about", "/a/b/c/d/e/index.html", "/x.webp?w=300", "/"]
n = 3000
gc.collect()  # each timing starts from the same collector state
t = time.process_time()
for _ in range(n):
    for p in ai_paths:
        ai.check(p, agents)
out["aitxt_us"] = (time.process_time() - t) / (n * len(ai_paths)) * 1e6

import test_audit_tdmrep as tt
td = parse_tdmrep_json(tt._fifty(), "tdmrep.json")
td_paths = ["/img/49/cat.jpg", "/archive/46/report.pdf", "/news/2048/x/print", "/blog/post-17?x=1", "/about/",
            "/a/b/private-42/c", "/section-45/index.html", "/caf%C3%A9/menu"]
n = 20000
gc.collect()  # each timing starts from the same collector state
t = time.process_time()
for _ in range(n):
    for p in td_paths:
        td.match(p)
out["tdmrep_us"] = (time.process_time() - t) / (n * len(td_paths)) * 1e6
print("RESULT " + json.dumps(out))
"""

KEYS = ("robots_parity_s", "robots_site_build_us", "robots_agents_us", "aitxt_us", "tdmrep_us")

# --instructions: the same work counted in instructions under valgrind's callgrind (deterministic, so a shared
# machine's load does not move it): a run doing a workload ``n`` times minus one doing the set-up only.
_IR_WORK = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import test_audit_tdmrep as tt
from ipscope.audit.signals.aitxt import parse_ai_txt
from ipscope.audit.signals.robots import parse_robots
from ipscope.audit.signals.tdmrep import parse_tdmrep_json
shared, what, n = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
names = json.loads((shared / "ai-agents" / "robots.json").read_text())
agents = tuple(dict.fromkeys(["*"] + [a.lower() for a in names]))
if what.startswith("robots"):
    rs = [parse_robots(f.read_bytes(), f.name) for f in sorted((shared / "robots").iterdir())[::20][:200]]
    if what == "robots_site_build":
        for r in rs[:n]:
            r.check("/", agents)
    else:
        for r in rs:
            r.check("/", agents)
        paths = ["/", "/news/2024/05/story-1.html", "/blog/x", "/search?q=1", "/wp-admin/x", "/images/1.jpg",
                 "/products/1?ref=home", "/a/b/c/1/", "/%7Euser/caf%C3%A9-1"]
        for _ in range(n):
            for r in rs:
                for p in paths:
                    r.check(p, agents)
elif what == "aitxt":
    exts = ["*.bmp", "*.gif", "*.ico", "*.jpeg", "*.jpg", "*.png", "*.svg", "*.tif", "*.tiff", "*.webp", "*.mp3",
            "*.wav", "*.aac", "*.flac", "*.ogg", "*.m4a", "*.wma", "*.aiff", "*.mid", "*.midi"]
    ok = ["*.txt", "*.pdf", "*.doc", "*.docx", "*.odt", "*.rtf", "*.tex", "*.html", "*.htm", "*.md", "*.epub"]
    text = "User-Agent: *\n" + "".join(f"Disallow: {e}\n" for e in exts) + "".join(f"Allow: {e}\n" for e in ok)
    f = parse_ai_txt((text + "Allow: /\n").encode(), "ai.txt")
    f.check("/", agents)
    for _ in range(n):
        for p in ["/gallery/2024/05/cat.jpg", "/essay.txt", "/about", "/a/b/c/d/e/index.html", "/x.webp?w=300", "/"]:
            f.check(p, agents)
else:
    td = parse_tdmrep_json(tt._fifty(), "tdmrep.json")
    for _ in range(n):
        for p in ["/img/49/cat.jpg", "/archive/46/report.pdf", "/news/2048/x/print", "/blog/post-17?x=1", "/about/",
                  "/a/b/private-42/c", "/section-45/index.html", "/caf%C3%A9/menu"]:
            td.match(p)
"""
#: workload -> (times run, units of work per time, unit)
_IR_LOADS = {"robots_site_build": (200, 1, "site"), "robots_agents": (2, 1800, "check"), "aitxt": (200, 6, "check"),
             "tdmrep": (100, 8, "match")}


def _instructions(src: Path, shared: Path, what: str, n: int) -> int:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0")  # the same dict layouts in every run
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                        _IR_WORK, str(src.parent / "tests"), str(shared), what, str(n)], env=env, capture_output=True,
                       text=True, check=True)
    return int(next(x for x in p.stderr.splitlines() if "Collected" in x).split()[-1])


def bench_instructions(trees: dict[str, Path], shared: Path) -> dict:
    out: dict = {}
    for what, (n, units, unit) in _IR_LOADS.items():
        out[f"{what}_per_{unit}"] = {
            name: round((_instructions(src, shared, what, n) - _instructions(src, shared, what, 0)) / (n * units))
            for name, src in trees.items()}
    return out


def _run(src: Path, shared: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    p = subprocess.run([sys.executable, "-c", _WORK, str(src.parent / "tests"), str(shared)], env=env,
                       capture_output=True, text=True, check=True)
    line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


def _audit(src: Path, corpus: Path, snap: Path, out: Path) -> dict:
    import bench_audit as ba

    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [ba.IPSCOPE, "audit", str(corpus), "--sites", str(snap), "--out", str(out), "--force", "--quiet"]
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M", *cmd], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    wall, user, sys_, rss = map(float, next(x for x in p.stderr.splitlines() if x.startswith("TIME")).split()[1:])
    counts = {d: sum(1 for _ in open(out / f"{d}.jsonl", "rb")) for d in ("allowed", "reserved", "rejected")}
    return {"wall": wall, "cpu": user + sys_, "rss_mb": rss / 1024, "decisions": counts}


def bench_audit(trees: dict[str, Path], n: int, repeats: int) -> dict:
    import bench_audit as ba

    work = HERE / "work"
    work.mkdir(parents=True, exist_ok=True)
    snap, hosts = ba.make_snapshot(work)
    corpus = work / f"audit-corpus-{n}.jsonl"
    if not corpus.is_file():
        ba.make_corpus(corpus, n, hosts, seed=n)
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(repeats):
        for name, src in trees.items():
            runs[name].append(_audit(src, corpus, snap, work / f"pathmatch-audit-out-{name}"))
    row: dict = {"records": n}
    for name, rs in runs.items():
        row[name] = {"records_per_cpu_s": round(n / statistics.median(r["cpu"] for r in rs)),
                     "records_per_s": round(n / statistics.median(r["wall"] for r in rs)),
                     "peak_rss_mb": round(statistics.median(r["rss_mb"] for r in rs), 1),
                     "decisions": rs[0]["decisions"]}
    row["same_decisions"] = len({json.dumps(r["decisions"]) for rs in runs.values() for r in rs}) == 1
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="src/ directory of the tree to compare with (its tests/ beside it)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--results", default=str(HERE / "results" / "bench_pathmatch.jsonl"))
    ap.add_argument("--audit-records", type=int, default=0, help="also time ipscope audit on this many records")
    ap.add_argument("--instructions", action="store_true", help="also count instructions (valgrind callgrind)")
    args = ap.parse_args()
    trees = {"this": REPO / "src"}
    if args.baseline:
        trees["baseline"] = Path(args.baseline).resolve()
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    for _ in range(args.repeats):
        for name, src in trees.items():  # alternated, so both see the same machine load
            runs[name].append(_run(src, Path(args.shared)))
    row: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "bench": "pathmatch",
                 "machine": f"{os.cpu_count()} cores", "repeats": args.repeats}
    for name, rs in runs.items():
        row[name] = {k: round(statistics.median(r[k] for r in rs), 3) for k in KEYS}
    if "baseline" in row:
        row["baseline_src"] = str(trees["baseline"])
        row["ratio_this_to_baseline"] = {k: round(row["this"][k] / row["baseline"][k], 3) for k in KEYS}
    if args.audit_records:
        row["audit"] = bench_audit(trees, args.audit_records, args.repeats)
    if args.instructions:
        row["instructions"] = bench_instructions(trees, Path(args.shared))
    record(row, args.results)


if __name__ == "__main__":
    main()
