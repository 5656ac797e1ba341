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
* ``tdmrep_us``: ``TdmrepFile.match`` on the 50-entry file of tests/test_audit_tdmrep.py, µs per match.

    python benchmarks/bench_pathmatch.py --baseline /path/to/other/checkout/src   # e.g. main's src
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


def _run(src: Path, shared: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    p = subprocess.run([sys.executable, "-c", _WORK, str(src.parent / "tests"), str(shared)], env=env,
                       capture_output=True, text=True, check=True)
    line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="src/ directory of the tree to compare with (its tests/ beside it)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--results", default=str(HERE / "results" / "bench_pathmatch.jsonl"))
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
    record(row, args.results)


if __name__ == "__main__":
    main()
