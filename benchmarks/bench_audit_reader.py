"""In-process speed of ``ipscope.audit.run.audit()`` for this source tree against a baseline tree, in one run.

Written for the change that moved the audit onto the corpus reader stack (``ipscope.corpus``): the audit's
records/s is a tracked figure (benchmarks/bench_audit.py), and a reader change must not lower it. Both trees
audit the same generated corpus (bench_audit.py's ``make_corpus`` and site snapshot) in fresh subprocesses,
alternating, ``--repeats`` times each; the figure is the median.

    python benchmarks/bench_audit_reader.py --baseline-rev adc2219 --records 30000
    python benchmarks/bench_audit_reader.py --baseline-src /path/to/other/src

Prints one JSON line (appended to results/bench_audit_reader.jsonl too): records/s of each tree, by wall
time and by the process's CPU time (median and every repeat), and their ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import record  # noqa: E402
from bench_audit import make_corpus, make_snapshot  # noqa: E402

REPO = HERE.parent

_RUN = r"""
import sys, time, json
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ipscope.audit.run import audit, AuditOptions
t, c = time.perf_counter(), time.process_time()
r = audit([sys.argv[2]], sys.argv[4], AuditOptions(sites=Path(sys.argv[3]), force=True))
dt, dc = time.perf_counter() - t, time.process_time() - c
print("RESULT " + json.dumps({"seconds": dt, "cpu_seconds": dc, "counts": dict(r.counts)}))
"""


def _one(src: Path, corpus: Path, snap: Path, out: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", _RUN, str(src), str(corpus), str(snap), str(out)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=30000)
    ap.add_argument("--repeats", type=int, default=3)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--baseline-src", type=Path, help="a src/ directory holding the baseline ipscope package")
    g.add_argument("--baseline-rev", help="a git revision of this repository (its src/ is extracted)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.baseline_rev:
            subprocess.run(f"git -C {REPO} archive {args.baseline_rev} src | tar -x -C {work}", shell=True, check=True)
            base = work / "src"
        else:
            base = args.baseline_src
        snap, hosts = make_snapshot(work)
        corpus = work / "corpus.jsonl"
        make_corpus(corpus, args.records, hosts, seed=7)
        trees = {"baseline": base, "this": REPO / "src"}
        runs: dict[str, list[dict]] = {k: [] for k in trees}
        _one(trees["this"], corpus, snap, work / "warm")  # page cache and numba/compiled caches warm for both
        for _ in range(args.repeats):
            for name, src in trees.items():
                runs[name].append(_one(src, corpus, snap, work / f"out-{name}"))
        for a, b in zip(runs["baseline"], runs["this"]):
            assert a["counts"] == b["counts"], (a["counts"], b["counts"])
        # wall time, and the process's CPU time (the audit is one process: CPU time is what the reader change
        # costs, and it moves less than wall time when other work shares the cores)
        rate = {k: [round(args.records / r["seconds"]) for r in v] for k, v in runs.items()}
        cpu = {k: [round(args.records / r["cpu_seconds"]) for r in v] for k, v in runs.items()}
        med = {k: statistics.median(v) for k, v in rate.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        record({"bench": "audit_reader", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "records": args.records, "repeats": args.repeats, "baseline": str(args.baseline_rev or base),
                "records_per_s": med, "runs": rate, "records_per_cpu_s": med_cpu, "runs_cpu": cpu,
                "ratio_this_over_baseline": round(med["this"] / med["baseline"], 3),
                "ratio_cpu_this_over_baseline": round(med_cpu["this"] / med_cpu["baseline"], 3),
                "decisions": runs["this"][0]["counts"]}, HERE / "results" / "bench_audit_reader.jsonl")


if __name__ == "__main__":
    main()
