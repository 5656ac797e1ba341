"""An interrupted build resumes: finished tasks are kept, the rest is built, and the result
equals a fresh build. Changed inputs or options are not mistaken for finished work."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEMO
from ipscope.cli import main
from ipscope.errors import IndexFormatError
from ipscope.index import BuildOptions, Index, build_index
from ipscope.index import build as build_mod
from ipscope.index import packer as packer_mod
from ipscope.trace import trace

OPTS = BuildOptions(jobs=1, task_bytes=300_000)  # the demo corpus makes 5 tasks


class Crash(Exception):
    """Stands in for a killed process."""


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(DEMO, dst)
    for p in dst.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def partial_of(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def interrupt(monkeypatch: pytest.MonkeyPatch, sources: list[Path], out: Path, opts: BuildOptions = OPTS,
              stop_at: int = 1, before_crash=None) -> None:
    """Run a build that dies when it reaches task ``stop_at``."""
    real = build_mod.run_task

    def dying(task, root, opts):
        if task.number >= stop_at:
            if before_crash:
                before_crash(task, root)
            raise Crash(f"killed at task {task.number}")
        return real(task, root, opts)

    with monkeypatch.context() as m:
        m.setattr(build_mod, "run_task", dying)
        with pytest.raises(Crash):
            build_index(sources, out, opts)


def stamps(root: Path, prefix: str) -> dict[str, tuple[int, int]]:
    """(mtime_ns, inode) of every file of the shards whose names start with ``prefix``."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for d in (root / "shards").glob(prefix + "*") for p in sorted(d.iterdir())}


def comparable(manifest: dict) -> dict:
    m = dict(manifest)
    for k in ("created", "build_seconds"):
        m.pop(k)
    return m


def test_plan_has_several_tasks(corpus: Path) -> None:
    from ipscope.corpus.readers import plan_units

    tasks = build_mod.plan_tasks(plan_units([corpus], OPTS.task_bytes), OPTS.task_bytes)
    assert len(tasks) >= 4


def test_interrupted_build_resumes_and_equals_a_fresh_build(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=2)
    partial = partial_of(out)
    assert not out.exists()  # atomic: nothing at --out until the build is complete
    assert (partial / "tasks" / "00000.json").is_file() and (partial / "tasks" / "00001.json").is_file()
    assert not (partial / "tasks" / "00002.json").exists()
    kept = stamps(partial, "00000-") | stamps(partial, "00001-")
    assert len(kept) >= 2 * 13

    written: list[str] = []
    real_write = packer_mod.write_shard  # (the build's shard packer, index/packer.py, writes the shards)

    def spy(path, parts, *args):
        written.append(path.name)
        return real_write(path, parts, *args)

    monkeypatch.setattr(packer_mod, "write_shard", spy)
    res = build_index([corpus], out, OPTS)
    monkeypatch.undo()
    assert written and not [n for n in written if n.startswith(("00000-", "00001-"))]
    assert stamps(out, "00000-") | stamps(out, "00001-") == kept  # the finished tasks were not redone
    assert not partial.exists()

    fresh = tmp_path / "fresh.idx"
    ref = build_index([corpus], fresh, OPTS)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"]
    assert comparable(res.manifest) == comparable(ref.manifest)
    assert (out / "account.jsonl").read_text(encoding="utf-8") == (fresh / "account.jsonl").read_text(encoding="utf-8")
    assert len(Index.open(out)) == len(Index.open(fresh)) > 4


def test_resume_with_a_process_pool(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=1)
    kept = stamps(partial_of(out), "00000-")
    assert kept
    # jobs (and when to start workers) are not part of the plan; parallel_min_bytes=0 makes this
    # small corpus really go through the process pool
    opts2 = BuildOptions(jobs=2, task_bytes=OPTS.task_bytes, parallel_min_bytes=0)
    res = build_index([corpus], out, opts2)
    assert stamps(out, "00000-") == kept
    ref = build_index([corpus], tmp_path / "fresh.idx", OPTS)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"]


def test_resume_with_other_jobs_keeps_finished_tasks_of_a_larger_corpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "big"
    src.mkdir()
    books = sorted((DEMO / "books").glob("*.txt"))
    for copy in range(7):  # about 10 MB: above the size under which tasks are not rebalanced
        for b in books:
            (src / f"{copy}-{b.name}").write_bytes(b.read_bytes())
    opts = BuildOptions(jobs=1, task_bytes=6 << 20)  # with 2 jobs, tasks of ~5.2 MB would balance better
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [src], out, opts, stop_at=1)
    kept = stamps(partial_of(out), "00000-")
    assert kept
    # with workers, 2 jobs would size tasks differently; the resumed build keeps the old tasks
    build_index([src], out, BuildOptions(jobs=2, task_bytes=opts.task_bytes, parallel_min_bytes=0))
    assert stamps(out, "00000-") == kept


def test_leftovers_of_the_interrupted_task_are_discarded(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_written(task, root):
        junk = root / "shards" / f"{task.number:05d}-0"  # (again on each of the executor's retries)
        junk.mkdir(parents=True, exist_ok=True)
        (junk / "tokens.u24").write_bytes(b"\x01\x02\x03" * 1000)  # no done.json: unfinished
        (root / "shards" / f"{task.number:05d}-9").mkdir(exist_ok=True)

    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=3, before_crash=half_written)
    assert (partial_of(out) / "shards" / "00003-9").is_dir()
    res = build_index([corpus], out, OPTS)
    assert not (out / "shards" / "00003-9").exists()
    on_disk = sorted(p.name for p in (out / "shards").iterdir())
    assert on_disk == sorted(s["name"] for s in res.manifest["shards"])
    ref = build_index([corpus], tmp_path / "fresh.idx", OPTS)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"]
    Index.open(out)  # every shard is complete


def test_input_changed_after_the_interruption_is_rebuilt(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    original = build_index([corpus], tmp_path / "original.idx", OPTS).manifest["content_hash"]
    interrupt(monkeypatch, [corpus], out, stop_at=1)
    # the first task's file changes without changing its size (so the plan looks the same)
    first = sorted((corpus / "books").glob("*.txt"))[0]
    data = first.read_bytes()
    needle = b"Sir Walter Elliot, of Kellynch Hall"
    assert needle in data
    changed = data.replace(needle, b"Sir Wolter Ellaot, of Kallench Holl", 1)
    assert len(changed) == len(data)
    first.write_bytes(changed)

    res = build_index([corpus], out, OPTS)
    ref = build_index([corpus], tmp_path / "fresh.idx", OPTS)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"] != original
    text = changed.decode("utf-8")
    a = text.index("Sir Wolter")
    rep = trace(Index.open(out), text[a : a + 300])
    assert rep.spans and rep.spans[0].kind == "verbatim" and rep.spans[0].sources[0].start == a


def test_changed_options_discard_the_partial_build(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=2)
    other = BuildOptions(jobs=1, task_bytes=OPTS.task_bytes, max_shard_tokens=50_000)
    res = build_index([corpus], out, other)
    assert res.manifest["params"]["max_shard_tokens"] == 50_000
    ref = build_index([corpus], tmp_path / "fresh.idx", other)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"]
    assert all(s["tokens"] + s["docs"] <= 50_000 for s in res.manifest["shards"])


def test_a_partial_directory_of_unknown_origin_is_not_trusted(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.idx"
    partial = partial_of(out)
    (partial / "shards" / "00000-0").mkdir(parents=True)
    (partial / "shards" / "00000-0" / "done.json").write_text("{}", encoding="utf-8")
    (partial / "tasks").mkdir()
    (partial / "tasks" / "00000.json").write_text(json.dumps({"task": 0, "key": "x", "shards": []}), encoding="utf-8")
    (partial / "stray.bin").write_bytes(b"\x00" * 10)
    res = build_index([corpus], out, OPTS)
    assert not (out / "stray.bin").exists()
    ref = build_index([corpus], tmp_path / "fresh.idx", OPTS)
    assert res.manifest["content_hash"] == ref.manifest["content_hash"]


def test_rerunning_a_finished_build_needs_force_and_gives_the_same_index(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.idx"
    first = build_index([corpus], out, OPTS).manifest["content_hash"]
    with pytest.raises(IndexFormatError, match="already exists"):
        build_index([corpus], out, OPTS)
    again = build_index([corpus], out, BuildOptions(jobs=1, task_bytes=OPTS.task_bytes, force=True))
    assert again.manifest["content_hash"] == first


# ------------------------------------------------------------------ opening an unfinished index


def test_open_existing_directory_without_manifest_during_build_gives_the_hint(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=1)
    out.mkdir()  # e.g. created by hand or by another tool before the build
    with pytest.raises(IndexFormatError) as e:
        Index.open(out)
    assert "interrupted build" in str(e.value) and "rerun the same ipscope index command" in str(e.value)
    shutil.rmtree(partial_of(out))
    with pytest.raises(IndexFormatError) as e:
        Index.open(out)
    assert "interrupted" not in str(e.value)


def test_open_after_an_interrupted_build_gives_the_hint(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    interrupt(monkeypatch, [corpus], out, stop_at=1)
    assert partial_of(out).is_dir() and not out.exists()
    q = tmp_path / "q.txt"
    q.write_text("It is a truth universally acknowledged", encoding="utf-8")
    r = CliRunner().invoke(main, ["trace", str(out), str(q)])
    assert r.exit_code == 1
    assert "interrupted build" in r.stderr and "rerun the same ipscope index command" in r.stderr
