"""``ipscope audit --jobs N``: the corpus cut into pieces that N processes audit at once, the same bytes out.

* **Pieces.** The inputs are cut as the index cuts them (``corpus.readers.units_of``): a JSONL file into byte
  ranges ending at a line end, each knowing the number of its first line; a Parquet file into groups of row
  groups; a ``.gz`` file whole (a gzip stream cannot be entered in the middle). Consecutive small units are
  grouped, so a piece is about 1/(4N) of the corpus (at least ``MIN_PIECE_BYTES``): more pieces than processes,
  so a process that gets less of the machine (or harder records) does fewer of them.
* **Workers.** Each piece is a task on ``index.executor.LocalExecutor``'s process pool (spawned processes that
  leave Ctrl-C to this one), or on the executor the caller gives (``RayExecutor``: one Ray task per piece; the
  pieces' directory ``DIR.partial/.pieces`` must then be on storage every node sees). A piece that fails is
  retried as the executor retries (``index/executor.py``): it rewrites its files from the start. A worker keeps
  one ``Auditor`` for all its pieces, so a site's files are read and parsed once per worker (a site met by two
  workers is parsed by both). It writes the piece's four record files and its counts and summary counters
  (``run.Tally``, as JSON) under ``DIR.partial/.pieces/`` and hands back only their place: a result that small
  crosses the pipe in one atomic write, so ending a worker on Ctrl-C never leaves this process waiting for the
  rest of a result (which a Tally sent whole could, and did, in testing).
* **Merge.** As soon as the first pieces are done, in input order, their files are appended to the outputs (the
  first piece's renamed, the others copied by ``os.copy_file_range``, in the kernel); the tallies are added up and
  the summary written once from them. Records keep the file, line and id they have when one process reads the
  whole file, the manifest is in input order, and the summary's counters do not depend on order: every output is
  byte for byte what one job writes (``generated_at`` apart).
* **Progress.** Each worker writes how far it got (records, bytes) into a 16-byte file beside its piece; this
  process sums them a few times a second for ``on_progress``.
* **Ctrl-C or an error** in any worker ends the others and removes ``DIR.partial`` with the pieces: no partial
  output, as with one job.
* **--fetch.** Each worker has its own fetcher on the shared on-disk cache (entries are replaced atomically, so
  processes never read half an entry). A site first met by one worker is fetched by it and cached; another worker
  that meets it later reads the cache; two workers that meet it at the same moment may both fetch it (a site can
  then see up to N times the per-host concurrency). Outputs equal one job's as long as a site answers alike when
  it is asked twice (which only happens when two workers meet a site not yet cached at the same moment).
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..corpus.readers import Unit, units_of
from ..errors import IpscopeError
from ..messages import error
from .records import Input, read_units
from .run import AuditOptions, Auditor, Tally, audit_records

if TYPE_CHECKING:
    from ..index.executor import Executor

#: Pieces per process: enough for a slow process to fall behind without making the run wait for it.
PIECES_PER_JOB = 4
#: The smallest piece worth a task (smaller corpora are cut into fewer pieces; one piece runs in this process).
MIN_PIECE_BYTES = 4 << 20
OUTPUTS = ("manifest", "allowed", "reserved", "rejected")
_PROGRESS = struct.Struct("<QQ")  # records, bytes


@dataclass(frozen=True, slots=True)
class Piece:
    """One task: consecutive units of the inputs, audited by one worker into ``dir``."""

    index: int
    units: tuple[Unit, ...]
    dir: str  # where the piece's files go (DIR.partial/.pieces)
    opts: AuditOptions

    def path(self, name: str) -> str:
        return os.path.join(self.dir, f"{self.index:05d}.{name}")


def _total(inputs: list[Input]) -> int:
    total = 0
    for p, _kind, _name in inputs:
        try:
            total += p.stat().st_size
        except OSError:  # reported when read
            pass
    return total


def plan(inputs: list[Input], jobs: int) -> list[tuple[Unit, ...]]:
    """The units of each piece, in input order."""
    target = max(_total(inputs) // (jobs * PIECES_PER_JOB), MIN_PIECE_BYTES)
    pieces: list[tuple[Unit, ...]] = []
    group: list[Unit] = []
    size = 0
    for u in units_of(inputs, target):
        group.append(u)
        size += u.size
        if size >= target:
            pieces.append(tuple(group))
            group, size = [], 0
    if group:
        pieces.append(tuple(group))
    return pieces


def _warm() -> None:
    """A new worker loads the audit's modules while this process plans (not the index's kernels)."""
    from . import licences, page, policy, summary  # noqa: F401
    from .signals import aitxt, content_usage, noai, robots, tdmrep  # noqa: F401


_AUDITOR: dict[AuditOptions, Auditor] = {}  # this worker's auditor (its parsed sites), for all its pieces


def _auditor(opts: AuditOptions) -> Auditor:
    a = _AUDITOR.get(opts)
    if a is None:
        _AUDITOR.clear()
        a = _AUDITOR[opts] = Auditor(opts)
    return a


def run_piece(piece: Piece) -> str:
    """Audit one piece into its files (in a worker process); the path of its tally (counts and summary counters,
    JSON)."""
    from .summary import SummaryBuilder

    try:
        auditor = _auditor(piece.opts)
        fd = os.open(piece.path("progress"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            def progress(records: int, read: int) -> None:
                os.pwrite(fd, _PROGRESS.pack(records, read), 0)

            fh = {name: open(piece.path(f"{name}.jsonl"), "wb", buffering=1 << 20) for name in OUTPUTS}
            try:
                tally = audit_records(read_units(piece.units), auditor, fh, Tally(summary=SummaryBuilder()), progress)
            finally:
                for f in fh.values():
                    f.close()
            progress(tally.records, tally.bytes)
        finally:
            os.close(fd)
        with open(piece.path("tally.json"), "wb") as f:
            f.write(tally.to_json())
    except IpscopeError as e:  # as a plain IpscopeError: some subclasses cannot be sent back between processes
        raise IpscopeError(e.message, e.fix, code=e.code, params=e.params) from None
    return piece.path("tally.json")


def _append(src: str, dst: str) -> None:
    """Append the file ``src`` to ``dst`` (in the kernel where it can)."""
    with open(src, "rb", buffering=0) as s, open(dst, "r+b", buffering=0) as d:  # copy_file_range refuses O_APPEND
        d.seek(0, os.SEEK_END)
        left = os.fstat(s.fileno()).st_size
        try:
            while left > 0:
                k = os.copy_file_range(s.fileno(), d.fileno(), left)
                if k == 0:
                    break
                left -= k
        except (AttributeError, OSError):  # not Linux, or a file system that cannot: on from where it stopped
            while chunk := s.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[d.write(view):]


class _Merger:
    """Appends finished pieces to the outputs in input order and reports progress."""

    def __init__(self, pieces: list[Piece], out: Path, on_progress: Callable[[int, int], None] | None) -> None:
        self.pieces = pieces
        self.out = out
        self.on_progress = on_progress
        self.finished: set[int] = set()  # added to from the pool's thread; read here
        self.next = 0  # the first piece not yet appended

    def done(self, piece: Piece) -> None:
        self.finished.add(piece.index)

    def tick(self) -> None:
        while self.next in self.finished:
            self._append(self.pieces[self.next])
            self.next += 1
        if self.on_progress is not None:
            records = read = 0
            for p in self.pieces:
                try:
                    with open(p.path("progress"), "rb") as f:
                        got = f.read(_PROGRESS.size)
                except OSError:  # not started yet
                    continue
                if len(got) == _PROGRESS.size:
                    r, b = _PROGRESS.unpack(got)
                    records += r
                    read += b
            self.on_progress(records, read)

    def finish(self) -> None:
        for p in self.pieces[self.next:]:
            self._append(p)
        self.next = len(self.pieces)

    def _append(self, p: Piece) -> None:
        for name in OUTPUTS:
            src, dst = p.path(f"{name}.jsonl"), str(self.out / f"{name}.jsonl")
            if p.index == 0:
                os.replace(src, dst)
            else:
                _append(src, dst)
                os.unlink(src)


def audit_in_jobs(inputs: list[Input], tmp: Path, auditor: Auditor, tally: Tally,
                  on_progress: Callable[[int, int], None] | None = None, executor: Executor | None = None) -> Tally:
    """Audit ``inputs`` in ``auditor.opts.jobs`` processes (or on ``executor``, which is left open) into the output
    files under ``tmp``, counting into ``tally``. A corpus of one piece is audited here, by ``auditor``."""
    from ..index.executor import LocalExecutor

    opts = auditor.opts
    own = executor is None
    if executor is None:
        broken = error(IpscopeError, "audit.worker.died")
        executor = LocalExecutor(opts.jobs, warm=_warm, broken=broken)
    jobs = opts.jobs if opts.jobs > 1 or own else executor.jobs
    if _total(inputs) > MIN_PIECE_BYTES:
        executor.start()  # the workers start (and load their modules) while the inputs are cut
    try:
        units = plan(inputs, jobs)
    except BaseException:
        if own:
            executor.close()
        raise
    if len(units) <= 1:
        if own:
            executor.close()
        fh: dict[str, Any] = {name: open(tmp / f"{name}.jsonl", "wb", buffering=1 << 20) for name in OUTPUTS}
        try:
            return audit_records(read_units(units[0] if units else ()), auditor, fh, tally, on_progress)
        finally:
            for f in fh.values():
                f.close()
    work = tmp / ".pieces"
    work.mkdir()
    pieces = [Piece(i, u, str(work), opts) for i, u in enumerate(units)]
    merger = _Merger(pieces, tmp, on_progress)
    results = executor.map(run_piece, pieces, merger.done, merger.tick)
    merger.finish()
    for r in results:
        with open(r, "rb") as f:
            tally.merge(Tally.from_json(f.read()))
    shutil.rmtree(work)
    if on_progress is not None:
        on_progress(tally.records, tally.bytes)
    return tally
