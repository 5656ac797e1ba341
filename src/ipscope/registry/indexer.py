"""The indexer: the one process that keeps the works index (``DATA/works.idx``) in step with the registry.

``ipscope serve`` starts it in a process of its own (request-serving processes only read the index)::

    stop = multiprocessing.Event()
    p = multiprocessing.Process(target=run, args=(data_dir, db_url, stop))
    p.start(); ...; stop.set(); p.join()

It loops: ``WorksIndex.sync`` (every log leaf after the index's position, one generation a batch), then waits
``interval`` seconds when it has caught up. Now and then it compacts the small shards the syncs made
(``ipscope.index.live.compact``) in a worker process, so the merge (the heavy part) never runs in a process that
serves requests, and syncs go on meanwhile (a compaction holds the writer lock only to publish). Compaction is
tiered: the shards a few syncs made are merged among themselves first; larger shards are merged only when
enough of them gather, so a document is rewritten about once per tier rather than at every compaction.
A database error (a restart, a lost connection) is logged and retried with a growing pause, never fatal;
the index stays at the last position it published and catches up when the database is back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import IpscopeError
from ..index import live
from .works_index import MAX_BATCH, WorksIndex

log = logging.getLogger("ipscope.indexer")

COMPACT_SHARDS = 8  # compact when this many shards under a tier's size have gathered ...
COMPACT_INTERVAL = 30.0  # ... or when there is anything to compact and this many seconds have passed
TIER_TOKENS = 1 << 19  # the first tier: shards of under 524,288 tokens (about 250 works of 10 KB of English)
MAX_PAUSE = 5.0  # the longest wait between retries after an error


def _small_counts(manifest: dict, tiers: tuple[int, ...]) -> tuple[list[int], bool]:
    """How many shards are in each tier (under its size, and not under the tier before's), and whether any
    shard has removals."""
    shards = manifest.get("shards", [])
    bands = list(zip((0, *tiers[:-1]), tiers))
    return ([sum(1 for s in shards if lo <= int(s["tokens"]) < hi) for lo, hi in bands],
            any(s.get("tombstones") for s in shards))


def tiers_of(manifest: dict, small_tokens: int | None) -> tuple[int, ...]:
    """The shard sizes compaction merges below, smallest first: ``TIER_TOKENS`` (what a few syncs made), then the
    index's own small size (a quarter of its largest shard size), or only ``small_tokens`` when given. Merging
    the few-sync shards on their own keeps a compaction from rewriting a larger shard every time a few syncs
    have run (each document is rewritten about once per tier, not once per compaction)."""
    if small_tokens is not None:
        return (small_tokens,)
    big = int(manifest["params"]["max_shard_tokens"]) // live.SMALL_FRACTION
    return (TIER_TOKENS, big) if TIER_TOKENS < big else (big,)


def _serve_compactions() -> None:
    """The compaction worker's loop: one JSON job a line on stdin (``{"root", "small_tokens"}``), one JSON
    answer a line on stdout; it ends when stdin is closed."""
    import json

    for line in sys.stdin:
        job = json.loads(line)
        try:
            change = live.compact(job["root"], small_tokens=job["small_tokens"])
            out: dict[str, Any] = {"ok": True, "change": None if change is None else {
                "generation": change.generation, "retired": len(change.retired), "shards": len(change.shards),
                "seconds": round(change.seconds, 3)}}
        except Exception as e:  # noqa: BLE001 — reported to the indexer, which logs it and goes on
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


class _Compactor:
    """One compaction at a time, in a worker process of its own (a fresh interpreter started once: the merge
    takes neither this process's time nor its GIL, and nothing is forked); a failed compaction is logged and the
    next one tried later; a worker that died is started again."""

    def __init__(self, root: Path, small_tokens: int | None) -> None:
        self.root, self.small_tokens = root, small_tokens
        self.proc: subprocess.Popen[str] | None = None
        self.pending = False
        self.started = 0.0
        self.last = time.monotonic()
        self.runs = 0

    def _worker(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            import ipscope

            env = dict(os.environ)  # the worker imports this ipscope, wherever it was imported from
            src = str(Path(ipscope.__file__).resolve().parents[1])
            env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from ipscope.registry.indexer import _serve_compactions as s; s()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        return self.proc

    def busy(self) -> bool:
        """Whether a compaction is running; reads (and logs) the answer of one that ended."""
        if not self.pending:
            return False
        import json
        import select

        proc = self.proc
        assert proc is not None and proc.stdout is not None
        if proc.poll() is None and not select.select([proc.stdout], [], [], 0)[0]:
            return True
        line = proc.stdout.readline()  # a whole line: the worker flushes each answer at once
        self.pending = False
        try:
            out = json.loads(line)
        except ValueError:
            log.warning("the compaction worker ended (exit %s) during a compaction of %s", proc.poll(), self.root)
            return False
        if not out["ok"]:
            log.warning("compaction of %s failed: %s", self.root, out["error"])
        elif out["change"] is not None:
            self.runs += 1
            c = out["change"]
            log.info("compacted %d shards into %d (generation %d, %.2f s)", c["retired"], c["shards"],
                     c["generation"], c["seconds"])
        return False

    def maybe(self, manifest: dict, min_shards: int, interval: float) -> None:
        if self.busy():
            return
        tiers = tiers_of(manifest, self.small_tokens)
        counts, removals = _small_counts(manifest, tiers)
        due = time.monotonic() - self.last >= interval and (counts[0] > 1 or removals)
        tier = next((t for t, n in zip(tiers, counts) if n >= min_shards), tiers[0] if due else None)
        if tier is None:
            return
        import json

        self.last = self.started = time.monotonic()
        proc = self._worker()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps({"root": str(self.root), "small_tokens": tier}) + "\n")
            proc.stdin.flush()
            self.pending = True
        except OSError as e:  # the worker died: the next call starts another
            log.warning("cannot reach the compaction worker (%s)", e)

    def stop(self, timeout: float = 30.0) -> None:
        """Let a running compaction finish (up to ``timeout`` s), else end it: a compaction stopped before it
        publishes leaves the index as it was (the next change tidies its shards away)."""
        if self.proc is None:
            return
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(30)
        self.busy()


def run(data_dir: str | Path, db_url: str | None, stop_event: Any, interval: float = 0.1, *,
        max_batch: int = MAX_BATCH, compact_shards: int = COMPACT_SHARDS,
        compact_interval: float = COMPACT_INTERVAL, small_tokens: int | None = None) -> None:
    """Keep ``DATA/works.idx`` in step with the registry at ``db_url`` (``None``: the SQLite file in
    ``data_dir``) until ``stop_event`` (a ``threading.Event`` or ``multiprocessing.Event``) is set.
    ``compact_shards``/``compact_interval``: when to compact (see the module doc); ``small_tokens``: merge only
    shards under this many tokens (one tier; default: the tiers of :func:`tiers_of`)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from .service import Registry

    reg = None
    wi: WorksIndex | None = None
    compactor: _Compactor | None = None
    failures = 0
    try:
        while not stop_event.is_set():
            try:
                if reg is None:
                    reg = Registry.open(db_url) if db_url else Registry.open_data(data_dir)
                if wi is None:
                    wi = WorksIndex.open(data_dir)
                    compactor = _Compactor(wi.root, small_tokens)
                    log.info("works index %s at log position %d", wi.root, wi.synced_to())
                n = wi.sync(reg, max_batch)
                if failures:
                    log.info("the registry is reachable again; works index at log position %d", wi.synced_to())
                failures = 0
            except (OperationalError, DBAPIError, IpscopeError, OSError) as e:
                failures += 1
                pause = min(MAX_PAUSE, interval * 2 ** min(failures, 10))
                log.warning("works index sync failed (%s); retrying in %.1f s", str(e).splitlines()[0], pause)
                stop_event.wait(pause)
                continue
            if compactor is not None and wi is not None:
                wi.refresh()
                compactor.maybe(wi.index.manifest, compact_shards, compact_interval)
            if n < max_batch:
                stop_event.wait(interval)
    finally:
        if compactor is not None:
            compactor.stop()
        if reg is not None:
            reg.close()


__all__ = ["run", "tiers_of"]
