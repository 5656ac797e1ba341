"""The indexer: the one process that keeps the works index (``DATA/works.idx``) in step with the registry.

``ipscope serve`` starts it in a process of its own (request-serving processes only read the index)::

    stop = multiprocessing.Event()
    p = multiprocessing.Process(target=run, args=(data_dir, db_url, stop))
    p.start(); ...; stop.set(); p.join()

It loops: ``WorksIndex.sync`` (every log leaf after the index's position, one generation a batch), then waits
``interval`` seconds when it has caught up. Now and then it compacts the small shards the syncs made
(``ipscope compact``, ``ipscope.index.live.compact``) in a child process, so the merge (the heavy part) never
runs in a process that serves requests, and syncs go on meanwhile (a compaction holds the writer lock only to
publish).
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

COMPACT_SHARDS = 8  # compact when this many small shards (or any removals) have gathered ...
COMPACT_INTERVAL = 30.0  # ... or when there is anything to compact and this many seconds have passed
MAX_PAUSE = 5.0  # the longest wait between retries after an error


def _small_shards(index_manifest: dict, small_tokens: int | None) -> tuple[int, bool]:
    """How many shards are small (under the compaction's size), and whether any has removals."""
    max_tokens = int(index_manifest["params"]["max_shard_tokens"])
    small = max_tokens // live.SMALL_FRACTION if small_tokens is None else small_tokens
    shards = index_manifest.get("shards", [])
    return sum(1 for s in shards if int(s["tokens"]) < small), any(s.get("tombstones") for s in shards)


class _Compactor:
    """One compaction at a time, in a child process (``ipscope compact``: a fresh interpreter, so the merge takes
    neither this process's GIL nor anything a fork would copy); its failure is logged and the next one tried
    later."""

    def __init__(self, root: Path, small_tokens: int | None) -> None:
        self.root, self.small_tokens = root, small_tokens
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.last = time.monotonic()
        self.runs = 0

    def busy(self) -> bool:
        if self.proc is None:
            return False
        rc = self.proc.poll()
        if rc is None:
            return True
        err = self.proc.stderr.read().decode("utf-8", "replace").strip() if self.proc.stderr else ""
        if rc == 0:
            self.runs += 1
            log.info("%s (%.1f s)", err.splitlines()[-1] if err else "compacted", time.monotonic() - self.started)
        else:
            log.warning("compaction of %s failed (exit %d): %s", self.root, rc, err[-1000:])
        self.proc = None
        return False

    def maybe(self, manifest: dict, min_shards: int, interval: float) -> None:
        if self.busy():
            return
        small, removals = _small_shards(manifest, self.small_tokens)
        due = time.monotonic() - self.last >= interval and (small > 1 or removals)
        if small >= min_shards or due:
            self.last = self.started = time.monotonic()
            import ipscope

            env = dict(os.environ)  # the child imports this ipscope, wherever it was imported from
            src = str(Path(ipscope.__file__).resolve().parents[1])
            env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            cmd = [sys.executable, "-m", "ipscope", "compact", str(self.root)]
            if self.small_tokens is not None:
                cmd += ["--small-tokens", str(self.small_tokens)]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, env=env)

    def stop(self, timeout: float = 30.0) -> None:
        """Let a running compaction finish (up to ``timeout`` s), else end it: a compaction stopped before it
        publishes leaves the index as it was (the next change tidies its shards away)."""
        if self.proc is None:
            return
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
    ``compact_shards``/``compact_interval``: when to compact (see the module doc); ``small_tokens``: the shard
    size below which a shard is merged (the index's default: a quarter of its largest shard size)."""
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


__all__ = ["run"]
