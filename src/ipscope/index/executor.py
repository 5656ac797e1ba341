"""Executors run a build's independent tasks: each task takes paths, writes its files and its done marker, so
an executor only has to run them, retry the ones that fail and report completions (DESIGN.md, "Shards are the
unit of work").

``Executor`` is the seam: ``start()``, ``map(fn, tasks, on_done, on_wait)`` (``fn`` of every task, results in task
order, ``on_done(task)`` in the calling thread as each ends) and ``close()``. Two implement it:

* ``LocalExecutor``: a process pool on this machine (or inline with one job). ``ipscope audit --jobs`` runs its
  pieces on it too, with its own warm-up and message for a worker that died.
* ``RayExecutor`` (``ipscope[ray]``): one Ray task per task, on a running Ray cluster (``address``) or on a Ray
  instance started for the run. Tasks get paths, not arrays (arrays from Ray's object store are read-only), and
  write to storage every node sees (docs/scale.md).

**Retries.** A task that fails is run again, up to ``RETRIES`` more times, before the run fails with its error:
an exception in the task, a worker process that died (local: the pool is started afresh; every task that was
running in it counts an attempt), a Ray worker or node lost. An ``IpscopeError`` is not retried: it is a finding
about the input (an unreadable file, a bad option), and the same input gives it again. Tasks are idempotent (a
task's done marker is written last, and a task that finds its marker returns its record; one that finds
leftovers of an interrupted attempt removes them), so a retry or a rerun never duplicates work or output.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, TypeVar

from ..errors import InputError, IpscopeError, MissingExtraError

T = TypeVar("T")
R = TypeVar("R")

#: How many times a failed task is run again before the run fails with its error.
RETRIES = 3

ExecutorName = Literal["local", "ray"]


class Executor(Protocol):
    """What a build or an audit needs of an executor."""

    @property
    def jobs(self) -> int:
        """Tasks it runs at once (plans cut the work for it)."""
        ...

    def start(self) -> None:
        """Get ready (start workers, join a cluster) while the caller plans; ``map`` does it when not done."""

    def map(self, fn: Callable[[T], R], tasks: list[T], on_done: Callable[[T], None],
            on_wait: Callable[[], None] | None = None, wait_s: float = 0.2) -> list[R]:
        """``fn`` of every task, in task order, each failed task retried ``RETRIES`` times. ``on_done(task)`` is
        called in this thread as each task ends, ``on_wait()`` every ``wait_s`` seconds while tasks run."""
        ...

    def close(self) -> None:
        """Release the workers (or leave the cluster); ``map`` may be called again after (it starts anew)."""


def retryable(e: BaseException) -> bool:
    """Whether a task that raised ``e`` is run again: not on Ctrl-C or exit, nor on an ``IpscopeError`` (a finding
    about the input, which the same input gives again)."""
    return isinstance(e, Exception) and not isinstance(e, IpscopeError)


def _run_inline(fn: Callable[[T], R], task: T) -> R:
    """``fn(task)`` in this process, retried as the executors retry."""
    for attempt in range(RETRIES + 1):
        try:
            return fn(task)
        except Exception as e:
            if not retryable(e) or attempt == RETRIES:
                raise
    raise AssertionError("unreachable")


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
        """``fn`` of every task, in task order (each failed task retried ``RETRIES`` times). ``on_done(task)`` is
        called in this thread as each task ends; ``on_wait()`` every ``wait_s`` seconds while tasks run (e.g. to
        show progress)."""
        if self.jobs <= 1 or len(tasks) <= 1:
            self.close()
            out = []
            for t in tasks:
                out.append(_run_inline(fn, t))
                on_done(t)
            return out
        from concurrent.futures.process import BrokenProcessPool

        self.start()
        assert self._pool is not None
        results: dict[int, R] = {}
        attempts = [0] * len(tasks)
        pending: dict[Future[R], int] = {}
        try:
            for i, t in enumerate(tasks):
                pending[self._pool.submit(fn, t)] = i
            while pending:
                finished, _running = wait(pending, timeout=wait_s if on_wait is not None else None,
                                          return_when=FIRST_COMPLETED)
                broken: BrokenProcessPool | None = None
                for f in finished:
                    i = pending.pop(f)
                    e = f.exception()
                    if e is None:
                        results[i] = f.result()
                        on_done(tasks[i])
                    elif isinstance(e, BrokenProcessPool):
                        broken = e
                        pending[f] = i  # resubmitted with the others below
                    elif not retryable(e) or attempts[i] >= RETRIES:
                        raise e
                    else:
                        attempts[i] += 1
                        pending[self._pool.submit(fn, tasks[i])] = i
                if broken is not None:
                    # a worker died and took the pool with it: every task still in it failed. Each counts an
                    # attempt (which one killed its worker is not known); the rest run in a new pool
                    lost = sorted(pending.values())
                    pending.clear()
                    if any(attempts[i] >= RETRIES for i in lost):
                        raise broken
                    self.close()
                    self.start()
                    assert self._pool is not None
                    for i in lost:
                        attempts[i] += 1
                        pending[self._pool.submit(fn, tasks[i])] = i
                if on_wait is not None and pending:
                    on_wait()
            return [results[i] for i in range(len(tasks))]
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
                "an index worker process died before finishing its task, on each of its attempts (out of "
                "memory, killed, or it could not start because the calling script builds the index at import time)",
                "rerun the same command to resume; from a Python script, call build_index under "
                "`if __name__ == \"__main__\":` or pass BuildOptions(jobs=1)",
            ) from e
        finally:
            self.close()


# ------------------------------------------------------------------------------------------------------ Ray


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MissingExtraError("ray", "ray") from e
    return ray


def _call(fn: Callable[[T], R], task: T) -> R:
    """What a Ray task runs: ``fn(task)``, with an ``IpscopeError`` handed back as a plain one (a subclass with
    other constructor arguments could not be rebuilt on the driver)."""
    try:
        return fn(task)
    except IpscopeError as e:
        raise IpscopeError(e.message, e.fix, code=e.code, params=e.params) from None


def _export_import_path() -> None:
    """Workers of a Ray instance this process starts inherit its environment: put the directory ipscope was
    imported from on their PYTHONPATH, so a source checkout (not installed) runs there too."""
    import ipscope

    here = str(Path(ipscope.__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in [str(Path(p).resolve()) for p in paths]:
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *paths])


class RayExecutor:
    """Runs each task as one Ray task (one CPU each) on the cluster at ``address`` (``"auto"``: the one ``ray
    start`` runs on this machine; ``ray://host:10001``: Ray Client), or on a Ray instance started for the run
    when ``address`` is None and this process has not joined one yet. ``close()`` leaves the cluster (and stops
    the instance it started); an instance this process had already joined is left as it was.

    Ray's own retries are off (``max_retries=0``): a failed task, whether it raised or its worker or node was
    lost, is resubmitted here, ``RETRIES`` times, so both executors retry alike. ``jobs`` is the cluster's CPUs
    (or ``jobs`` when given)."""

    def __init__(self, address: str | None = None, jobs: int = 0, init_kwargs: dict | None = None) -> None:
        self._ray = _ray()  # the missing extra is named when the executor is made, before any work
        self.address = address
        self._jobs = jobs
        self.init_kwargs = init_kwargs or {}
        self._joined = False  # whether start() called ray.init (so close() calls ray.shutdown)
        self._remote: Any = None

    @property
    def jobs(self) -> int:
        if self._jobs:
            return self._jobs
        self.start()
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def start(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            kw: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
            if self.address is None:  # a new instance on this machine: no dashboard (its processes cost CPU)
                kw["include_dashboard"] = False
                _export_import_path()
            try:
                ray.init(address=self.address, **(kw | self.init_kwargs))
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise InputError(f"--ray-address {self.address}: cannot join the Ray cluster ({e})",
                                 "start it with `ray start --head` (docs/scale.md), or check the address "
                                 "(host:6379, ray://host:10001 or auto)") from e
            self._joined = True
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=0, retry_exceptions=False)(_call)

    def close(self) -> None:
        if self._joined:
            self._ray.shutdown()
            self._joined = False
        self._remote = None

    def map(self, fn: Callable[[T], R], tasks: list[T], on_done: Callable[[T], None],
            on_wait: Callable[[], None] | None = None, wait_s: float = 0.2) -> list[R]:
        """``fn`` of every task, one Ray task each, in task order (see ``Executor.map``)."""
        ray = self._ray
        if not tasks:
            return []
        self.start()
        fn_ref = ray.put(fn)  # sent once, not with every task
        results: dict[int, R] = {}
        attempts = [0] * len(tasks)
        pending: dict[Any, int] = {self._remote.remote(fn_ref, t): i for i, t in enumerate(tasks)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=wait_s, fetch_local=True)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        results[i] = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:  # the task raised
                        cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else e
                        if not retryable(cause) or attempts[i] >= RETRIES:
                            raise cause from None
                        attempts[i] += 1
                        pending[self._remote.remote(fn_ref, tasks[i])] = i
                        continue
                    except ray.exceptions.RayError as e:  # its worker or node was lost, or Ray could not run it
                        if attempts[i] >= RETRIES:
                            raise IpscopeError(
                                f"task {i} of {len(tasks)} failed on the Ray cluster {RETRIES + 1} times, the last "
                                f"time with {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                                "rerun the same command: finished tasks are kept; check the cluster's nodes "
                                "(`ray status`) and their memory") from e
                        attempts[i] += 1
                        pending[self._remote.remote(fn_ref, tasks[i])] = i
                        continue
                    on_done(tasks[i])
                if on_wait is not None and pending:
                    on_wait()
            return [results[i] for i in range(len(tasks))]
        except BaseException:
            for ref in pending:  # the run fails: the tasks still running are not waited for
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or its node is gone
                    pass
            raise


def make_executor(name: ExecutorName, jobs: int = 0, address: str | None = None, **kw: Any) -> Executor | None:
    """The executor ``--executor NAME`` names: None for ``local`` (a build or an audit makes its own process pool,
    sized to the work), a ``RayExecutor`` for ``ray``."""
    if name == "local":
        if address is not None:
            raise InputError("--ray-address is given with --executor local",
                             "add --executor ray, or drop --ray-address")
        return None
    if name == "ray":
        return RayExecutor(address, jobs, **kw)
    raise InputError(f"unknown executor {name!r}", "give --executor local or --executor ray")
