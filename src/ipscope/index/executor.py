"""Executors run a build's independent tasks: each task takes paths, writes its files and its done marker, so
an executor only has to run them and report completions (DESIGN.md, "Shards are the unit of work").

``LocalExecutor`` is a process pool on this machine (or inline with one job). ``ipscope audit --jobs`` runs its
pieces on it too, with its own warm-up and message for a worker that died.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, TypeVar

from ..errors import IpscopeError

T = TypeVar("T")
R = TypeVar("R")


def _warm_worker() -> None:
    """Load what a task needs (modules, and the kernels' machine code from numba's cache) in a new worker,
    so it happens while the main process is still planning rather than in the first task."""
    import tempfile

    from ..text import tokenize
    from .shard import PartEntry, write_shard

    text = "warm up the worker"
    toks = tokenize(text)
    with tempfile.TemporaryDirectory() as d:
        write_shard(Path(d) / "s", [PartEntry("w", "w", 0, text, toks.hashes, toks.starts)])


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it ends the workers), not each worker's."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """Runs tasks in a process pool (or inline with one job); results in task order.

    ``start()`` spawns the workers early and warms them up; ``map()`` starts them if that was not done;
    ``close()`` (also at the end of ``map``) shuts the pool down. ``warm`` is what each new worker runs first
    (default: the index's modules and kernels), ``broken`` the error raised when a worker dies (default: the
    index build's)."""

    def __init__(self, jobs: int, warm: Callable[[], None] | None = None, broken: IpscopeError | None = None) -> None:
        self.jobs = jobs
        self.warm = warm or _warm_worker
        self.broken = broken
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.jobs <= 1 or self._pool is not None:
            return
        import multiprocessing as mp

        # spawn, not fork: libdivsufsort runs OpenMP threads, and a process forked after
        # OpenMP has started can hang in its first parallel region
        # each worker is one core's worth: keep libdivsufsort's OpenMP (and numpy's BLAS, whose idle
        # threads spin) to one thread in it
        saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        os.environ.update({name: "1" for name in saved})
        try:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                             initializer=_ignore_sigint)
            for _ in range(self.jobs):  # each submit starts a worker while fewer than jobs run: all start here
                self._pool.submit(self.warm)
        finally:  # this process keeps its own settings
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def close(self) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def map(self, fn: Callable[[T], R], tasks: list[T], on_done: Callable[[T], None],
            on_wait: Callable[[], None] | None = None, wait_s: float = 0.2) -> list[R]:
        """``fn`` of every task, in task order. ``on_done(task)`` is called as each task ends (in a pool thread);
        ``on_wait()`` every ``wait_s`` seconds in this thread while tasks run (e.g. to show progress)."""
        if self.jobs <= 1 or len(tasks) <= 1:
            self.close()
            out = []
            for t in tasks:
                out.append(fn(t))
                on_done(t)
            return out
        from concurrent.futures.process import BrokenProcessPool

        self.start()
        assert self._pool is not None
        try:
            futures: list[Future[R]] = []
            for t in tasks:
                fut = self._pool.submit(fn, t)
                fut.add_done_callback(lambda _f, t=t: on_done(t))
                futures.append(fut)
            if on_wait is not None:
                while True:
                    finished, running = wait(futures, timeout=wait_s, return_when=FIRST_EXCEPTION)
                    if not running or any(f.exception() is not None for f in finished):
                        break
                    on_wait()
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            # Ctrl-C: stop now rather than wait for the running tasks. The workers ignore SIGINT (else each
            # prints a traceback), so end them here; a task cut short has no marker and is redone on resume
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.terminate()
            raise
        except BrokenProcessPool as e:
            if self.broken is not None:
                raise self.broken from e
            raise IpscopeError(
                "an index worker process died before finishing its task (out of memory, killed, or it "
                "could not start because the calling script builds the index at import time)",
                "rerun the same command to resume; from a Python script, call build_index under "
                "`if __name__ == \"__main__\":` or pass BuildOptions(jobs=1)",
            ) from e
        finally:
            self.close()
