"""The live index (issue 12, point 1): add and remove documents without a rebuild, generations, compaction.

Real text throughout: the bundled demo corpus (four public-domain novels and Chinese classics) is the index as
built; the documents added are the Gutenberg excerpts of tests/data/similar/pairs.jsonl (Dracula, Frankenstein,
Moby-Dick ... not in the demo corpus) and the same-topic originals written for them; the queries are that set's
excerpts and paraphrases and the demo's sample output (which copies passages of Persuasion and other demo books).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import multiprocessing as mp
import pytest
from click.testing import CliRunner

from conftest import REPO, SAMPLE, TESTDATA
from ipscope.cli import main
from ipscope.errors import InputError, IpscopeError
from ipscope.index import Index
from ipscope.index import live
from ipscope.searcher import Searcher
from ipscope.similar import SimilarOptions, similar
from ipscope.trace import TraceOptions, trace

PAIRS = [json.loads(line) for line in (TESTDATA / "similar" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
SRC = REPO / "src"


def _excerpts(rows: list[dict]) -> list[dict]:
    return [{"id": r["id"], "text": r["source"], "meta": {"title": r["book"]}} for r in rows]


def _originals(rows: list[dict]) -> list[dict]:
    return [{"id": f"{r['id']}-original", "text": r["original"]} for r in rows if r.get("original")]


@pytest.fixture()
def idx(demo_index: Path, tmp_path: Path) -> Path:
    """A copy of the demo index (built once per session) that a test may change."""
    out = tmp_path / "live.idx"
    shutil.copytree(demo_index, out)
    return out


def _plain(report) -> dict:
    """A report without what differs between runs and generations: time taken and made, the index's hash and
    generation (provenance says which generation answered; the answer itself must not change)."""
    d = report.to_dict()
    d.pop("elapsed_ms")
    d["provenance"].pop("created")
    for k in ("content_hash", "generation", "layers_hash"):
        d["provenance"]["index"].pop(k)
    return d


def _answers(index: Index, queries: list[str]) -> list[dict]:
    out = []
    for q in queries:
        out.append(_plain(trace(index, q)))
        out.append(_plain(trace(index, q, opts=TraceOptions(min_tokens=8, excerpts=30))))
        out.append(_plain(similar(index, q, opts=SimilarOptions(semantic=False))))
    return out


QUERIES = [r["paraphrase"] for r in PAIRS[:6]] + [r["source"] for r in PAIRS[::5]] + [
    "\n\n".join(r["source"] for r in PAIRS[:12]), SAMPLE.read_text(encoding="utf-8")]


# ------------------------------------------------------------------------------------------ generations


def test_an_index_built_before_generations_opens_as_generation_0(idx: Path) -> None:
    m = json.loads((idx / "manifest.json").read_text(encoding="utf-8"))
    assert m["generation"] == 0  # a build writes generation 0
    del m["generation"]  # as main's build wrote it before this change
    (idx / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    index = Index.open(idx)
    assert index.generation == 0 and index.tombstones == {}
    assert trace(index, SAMPLE.read_text(encoding="utf-8")).provenance["index"]["generation"] == 0
    change = index.add(_excerpts(PAIRS[:2]))
    assert change.generation == 1 and index.refresh().generation == 1


def test_added_documents_are_found_after_refresh_and_the_reader_keeps_its_generation(idx: Path) -> None:
    old = Index.open(idx)
    n = len(old)
    q = PAIRS[0]["source"]
    assert trace(old, q).spans == ()  # Dracula is not in the demo corpus
    change = old.add(_excerpts(PAIRS[:10]))
    assert change.generation == 1 and change.added == tuple(r["id"] for r in PAIRS[:10])
    assert all(name.startswith("g000001-") for name in change.shards)
    assert trace(old, q).spans == () and len(old) == n and old.generation == 0  # the reader's generation
    new = old.refresh()
    assert new is not old and new.refresh() is new
    rep = trace(new, q)
    assert [d.doc_id for d in rep.documents] == [PAIRS[0]["id"]]
    assert rep.spans[0].sources[0].meta == {"title": PAIRS[0]["book"]}
    assert rep.provenance["index"]["generation"] == 1 and rep.provenance["index"]["documents"] == n + 10
    # the passage layers follow: similar finds the added excerpt as a copy, and names the layers it used
    opts = SimilarOptions(semantic=False)
    sim = similar(new, q, opts=opts)
    assert (sim.results[0].doc_id, sim.results[0].label) == (PAIRS[0]["id"], "copy")
    assert PAIRS[0]["id"] not in {m.doc_id for m in similar(old, q, opts=opts).results}
    assert sim.provenance["index"]["layers_hash"] != similar(old, q, opts=opts).provenance["index"]["layers_hash"]
    assert len(Searcher(new).passage_layers()) == len(new.shards) == len(old.shards) + len(change.shards)
    # the change's account
    lines = [json.loads(x) for x in (idx / "changes" / "000001.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["doc_id"] for x in lines] == list(change.added) and {x["status"] for x in lines} == {"indexed"}


def test_removed_documents_never_appear_and_leave_the_statistics_at_compaction(idx: Path) -> None:
    sample = SAMPLE.read_text(encoding="utf-8")
    index = Index.open(idx)
    before = trace(index, sample)
    found = [d.doc_id for d in before.documents]
    assert len(found) >= 2, found  # the sample copies passages of several demo documents
    gone = found[0]
    index.add(_excerpts(PAIRS[:3]))
    index = index.refresh()
    change = index.remove([gone, PAIRS[1]["id"]])
    assert change.removed == (gone, PAIRS[1]["id"]) and change.generation == 2
    after = index.refresh()
    assert len(after) == len(index) - 2 and after.manifest["counts"]["removed"] == 2
    assert sum(len(t) for t in after.tombstones.values()) >= 2

    def ids(i: Index) -> set[str]:
        out = {d.doc_id for d in trace(i, sample).documents}
        out |= {d.doc_id for d in trace(i, PAIRS[1]["source"]).documents}
        for q in (sample, PAIRS[1]["paraphrase"], PAIRS[1]["source"]):
            out |= {m.doc_id for m in similar(i, q, opts=SimilarOptions(semantic=False, top=50)).results}
        return out

    assert gone in ids(index) and PAIRS[1]["id"] in ids(index)
    seen = ids(after)
    assert gone not in seen and PAIRS[1]["id"] not in seen and set(found[1:]) <= seen
    # the other spans stay, and the occurrences no longer count the removed document
    assert {s.sources[0].doc_id for s in trace(after, sample).spans} == set(found[1:])
    # the removed documents' passages no longer count in similar's statistics (they are still in the files)
    stored = sum(int(ly.bounds.shape[0]) for ly in Searcher(after).passage_layers())
    counted = sum(ly.live_passages for ly in Searcher(after).passage_layers())
    assert stored == sum(ly.live_passages for ly in Searcher(index).passage_layers()) > counted
    compacted = after.compact()
    assert compacted is not None
    last = after.refresh()
    assert last.tombstones == {} and last.manifest["counts"]["removed"] == 0 and len(last) == len(after)
    # compaction drops them from the files: the same statistics, so the same answers
    assert sum(int(ly.bounds.shape[0]) for ly in Searcher(last).passage_layers()) == counted
    assert ids(last) == seen
    assert last.manifest["counts"]["tokens"] == sum(
        int(s.doc_tok[-1]) - len(s.docs["ids"]) for s in last.shards) - sum(
        int(s.doc_tok[d + 1] - s.doc_tok[d] - 1) for s in last.shards for d in s.excluded)


# ------------------------------------------------------------------------------------------ compaction


def _grow(idx: Path) -> Index:
    """The demo index after four changes: three batches of excerpts and originals, one shard each."""
    index = Index.open(idx)
    index.add(_excerpts(PAIRS[:14]))
    index.add(_excerpts(PAIRS[14:28]) + _originals(PAIRS[:10]))
    index.add(_excerpts(PAIRS[28:]))
    return index.refresh()


def test_compaction_changes_no_answer(idx: Path) -> None:
    index = _grow(idx)
    assert len(index.shards) == 4
    before = _answers(index, QUERIES)
    change = live.compact(idx)
    assert change is not None and change.generation == 4 and len(change.retired) == 4
    after_index = index.refresh()
    assert len(after_index.shards) == 1 and after_index.generation == 4 and len(after_index) == len(index)
    assert _answers(after_index, QUERIES) == before
    assert _answers(index, QUERIES) == before  # the old reader still reads the retired shards
    assert live.compact(idx) is None  # nothing left to merge


def test_compaction_with_removals_and_replacements_changes_no_answer(idx: Path) -> None:
    index = _grow(idx)
    index.remove([PAIRS[3]["id"], PAIRS[20]["id"]])
    index.add([{"id": PAIRS[5]["id"], "text": PAIRS[5]["original"]}], replace=True)
    index = index.refresh()
    before = _answers(index, QUERIES)
    assert index.compact() is not None
    after = index.refresh()
    assert after.tombstones == {} and len(after.shards) == 1
    assert _answers(after, QUERIES) == before
    removed = {PAIRS[3]["id"], PAIRS[20]["id"]}
    assert not removed & {m["doc_id"] for r in before if "results" in r for m in r["results"]}


def test_compaction_runs_in_another_process_while_a_reader_searches(idx: Path) -> None:
    index = _grow(idx)
    want = _plain(trace(index, QUERIES[-2]))
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        fut = pool.submit(live.compact, str(idx))
        while not fut.done():
            assert _plain(trace(index, QUERIES[-2])) == want  # readers are never blocked
        change = fut.result()
    assert change is not None and change.generation == 4
    assert _plain(trace(index.refresh(), QUERIES[-2])) == want


def test_adds_and_removals_go_on_while_a_compaction_writes_its_shards(idx: Path) -> None:
    index = _grow(idx)
    ready, go = idx.parent / "ready", idx.parent / "go"
    # the compaction (another process) stops after writing its merged shards, before it publishes, until "go"
    proc = _child(f"""
        import pathlib, time
        import ipscope.index.live as L
        real = L.writer_lock
        def waiting(*a, **k):
            pathlib.Path({str(ready)!r}).touch()
            while not pathlib.Path({str(go)!r}).exists():
                time.sleep(0.01)
            return real(*a, **k)
        L.writer_lock = waiting
        print(L.compact({str(idx)!r}).generation)
    """)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # meanwhile: an add, a removal from a shard being merged, a replacement (all published at once)
        index.add([{"id": "late", "text": PAIRS[7]["original"]}], lock_timeout=5)
        index.remove([PAIRS[2]["id"], PAIRS[30]["id"]], lock_timeout=5)
        index.add([{"id": PAIRS[9]["id"], "text": PAIRS[9]["original"]}], replace=True, lock_timeout=5)
        before = index.refresh()
        assert before.generation == 6
        want = _answers(before, QUERIES + [PAIRS[7]["original"], PAIRS[9]["original"]])
    finally:
        go.touch()
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.strip() == "7"
    after = before.refresh()
    assert after.generation == 7 and len(after) == len(before)
    # the merged shard carries the removals made while it was written; the shards added meanwhile follow it
    names = [s.name for s in after.shards]
    assert names[0].startswith("c000003-") and names[1:] == ["g000004-0", "g000006-0"]
    assert sum(len(t) for t in after.tombstones.values()) == 3 and after.manifest["counts"]["removed"] == 3
    assert _answers(after, QUERIES + [PAIRS[7]["original"], PAIRS[9]["original"]]) == want
    gone = {PAIRS[2]["id"], PAIRS[30]["id"]}
    assert not gone & {d.doc_id for q in QUERIES for d in trace(after, q).documents}
    last = after.compact()
    assert last is not None and Index.open(idx).tombstones == {}


def test_compact_cli(idx: Path) -> None:
    Index.open(idx).add(_excerpts(PAIRS[:3]))
    r = CliRunner().invoke(main, ["compact", str(idx)])
    assert r.exit_code == 0, r.output
    assert "generation 2: 2 shard(s) merged into 1" in r.output
    r = CliRunner().invoke(main, ["compact", str(idx)])
    assert r.exit_code == 0 and "nothing to compact" in r.output
    r = CliRunner().invoke(main, ["compact", str(idx / "nowhere")])
    assert r.exit_code != 0 and "fix:" in r.output and "Traceback" not in r.output


def test_shards_retired_by_a_compaction_go_at_the_next(idx: Path) -> None:
    index = _grow(idx)
    first = index.compact()
    assert first is not None and all((idx / "shards" / n).is_dir() for n in first.retired)
    index.refresh().add(_excerpts(PAIRS[:1]) and [{"id": "extra", "text": PAIRS[0]["original"]}])
    second = live.compact(idx)
    assert second is not None
    assert not any((idx / "shards" / n).exists() for n in first.retired)
    assert all((idx / "shards" / n).is_dir() for n in second.retired)


# ------------------------------------------------------------------------------------------ bad input


def test_an_id_the_index_holds_is_an_error_naming_the_fix(idx: Path) -> None:
    index = Index.open(idx)
    index.add(_excerpts(PAIRS[:2]))
    with pytest.raises(InputError) as e:
        index.add(_excerpts(PAIRS[1:3]))
    assert PAIRS[1]["id"] in str(e.value) and "replace=True" in e.value.fix and "remove" in e.value.fix
    book = Index.open(idx).shards[0].doc_id(0)
    with pytest.raises(InputError):  # a document of the build, too
        index.add([{"id": book, "text": "another text with words"}])
    assert Index.open(idx).generation == 1  # nothing published
    change = index.add([{"id": PAIRS[1]["id"], "text": PAIRS[1]["original"]}], replace=True)
    assert change.removed == (PAIRS[1]["id"],)
    new = index.refresh()
    assert [d.doc_id for d in trace(new, PAIRS[1]["original"]).documents] == [PAIRS[1]["id"]]
    assert trace(new, PAIRS[1]["source"]).documents == ()


@pytest.mark.parametrize("batch, message", [
    ([], "nothing to add"),
    ([{"id": "a", "text": "some words"}, {"id": "a", "text": "more words"}], "twice in the batch"),
    ([{"id": "a", "text": "some words"}, {"id": "b", "text": " ... !!! "}], "no words to index"),
    ([{"text": "no id"}], "no id"),
    ([{"id": "a", "text": 3}], "no text"),
])
def test_a_bad_batch_changes_nothing(idx: Path, batch: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Index.open(idx).add(batch)
    assert Index.open(idx).generation == 0 and not (idx / "shards" / "g000001-0").exists()


def test_removing_an_id_the_index_does_not_hold_removes_nothing(idx: Path) -> None:
    index = Index.open(idx)
    book = index.shards[0].doc_id(0)
    with pytest.raises(InputError, match="holds no document 'no-such-id'"):
        index.remove([book, "no-such-id"])
    assert Index.open(idx).generation == 0
    index.remove([book])
    with pytest.raises(InputError, match="a removed document is gone already"):
        index.remove([book])


# ------------------------------------------------------------------------------------------ concurrency


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)))


def test_one_writer_at_a_time_and_readers_are_not_blocked(idx: Path) -> None:
    holder = _child(f"""
        import sys, time
        from pathlib import Path
        from ipscope.index.live import writer_lock
        with writer_lock(Path({str(idx)!r})):
            print("locked", flush=True)
            time.sleep(120)
    """)
    try:
        assert holder.stdout.readline().strip() == "locked"
        index = Index.open(idx)  # a reader opens and searches while the writer holds the lock
        assert trace(index, SAMPLE.read_text(encoding="utf-8")).spans
        t0 = time.monotonic()
        with pytest.raises(IpscopeError) as e:
            index.add(_excerpts(PAIRS[:1]), lock_timeout=0.5)
        assert time.monotonic() - t0 >= 0.5
        assert "another writer" in str(e.value) and "wait" in e.value.fix
    finally:
        holder.kill()
        holder.wait()
    assert index.add(_excerpts(PAIRS[:1]), lock_timeout=5).generation == 1  # a killed writer's lock is free


def _kill_when(idx: Path, code: str, ready) -> None:
    proc = _child(code)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


ADD_ALL = """
    import json
    from ipscope.index import Index
    rows = [json.loads(l) for l in open({pairs!r}, encoding="utf-8")]
    docs = [{{"id": f"{{r['id']}}-{{k}}", "text": r["source"] * 3}} for k in range(12) for r in rows]
    {patch}
    Index.open({idx!r}).add(docs)
"""


@pytest.mark.parametrize("where", ["writing a shard", "before the manifest's rename"])
def test_a_crash_mid_add_leaves_the_previous_generation_intact(idx: Path, where: str) -> None:
    sample = SAMPLE.read_text(encoding="utf-8")
    want = _plain(trace(Index.open(idx), sample))
    pairs = str(TESTDATA / "similar" / "pairs.jsonl")
    if where == "writing a shard":
        # killed as soon as the new shard's directory appears (about 1.6 MB of text are being written into it)
        code = ADD_ALL.format(pairs=pairs, idx=str(idx), patch="")
        ready = (lambda: (idx / "shards" / "g000001-0").exists())
    else:
        # killed at the last step: the shards and the change's account are written, the manifest is not
        mark = idx.parent / "ready"
        patch = (f"import ipscope.index.live as L, time, pathlib; real = L._publish; L._publish = lambda *a: "
                 f"(pathlib.Path({str(mark)!r}).touch(), time.sleep(120), real(*a))")
        code = ADD_ALL.format(pairs=pairs, idx=str(idx), patch=patch)
        ready = mark.exists
    _kill_when(idx, code, ready)
    assert (idx / "shards" / "g000001-0").exists()  # the crashed change left its shard behind
    index = Index.open(idx)
    assert index.generation == 0 and [s.name for s in index.shards] == ["00000-0"]
    assert _plain(trace(index, sample)) == want
    change = index.add(_excerpts(PAIRS[:2]))  # the next change tidies up and publishes generation 1
    assert change.generation == 1 and change.shards == ("g000001-0",)
    new = index.refresh()
    assert len(new) == len(index) + 2
    assert json.loads((idx / "shards" / "g000001-0" / "docs.json").read_text(encoding="utf-8"))["ids"] == \
        [PAIRS[0]["id"], PAIRS[1]["id"]]
