"""Sharded serving (issue 14, point 3) in one process: trace and similar in phases over every split of the shards,
their payload checks, and what a query leaves behind. Material and fixtures: sharded_data.py; over HTTP (shard
servers and routers on loopback): test_sharded_http.py.
"""

from __future__ import annotations

import json
import os
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sharded_data import PERSUASION, _hostile, _plain

from ipscope.index import Index
from ipscope.similar import SimilarOptions, similar, similar_rounds
from ipscope.similar_shards import shard_call as similar_call
from ipscope.trace import TraceOptions, drive, trace, trace_rounds
from ipscope.trace import shard_call as trace_call


def _partitions(items: list[int]):
    """Every partition of ``items`` into non-empty groups (52 for 5 shards)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in _partitions(rest):
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1 :]
        yield [[first]] + p


def _over(searcher, groups, call):
    """An ``answer`` for ``drive`` that runs each phase on each group of shards apart, through JSON (as a shard
    server and a router exchange them)."""
    def answer(phase, payload):
        payload = orjson.loads(orjson.dumps(payload))
        return [orjson.loads(orjson.dumps(call(searcher, phase, payload, g))) for g in groups]

    return answer


# ------------------------------------------------------------------------------------------- in one process


def test_phases_over_every_split_of_the_shards_equal_one_process(shard_index, queries) -> None:
    from ipscope import provenance
    from ipscope.searcher import Searcher

    idx = Index.open(shard_index)
    s = Searcher(idx)
    topts = TraceOptions(excerpts=15, max_sources=3)
    sopts = SimilarOptions(semantic=False)
    splits = list(_partitions(list(range(5))))
    assert len(splits) == 52
    found = 0
    for name, q in queries.items():
        want_t = _plain(trace(idx, q, name, topts).to_dict())
        want_s = _plain(similar(idx, q, name, sopts).to_dict())
        found += bool(want_t["spans"])
        for groups in splits:
            rep = drive(trace_rounds(q, name, topts), _over(s, groups, trace_call))
            got = _plain(provenance.attach(rep, idx, provenance.as_query(q, name), topts).to_dict())
            assert got == want_t, (name, groups)
            rep = drive(similar_rounds(q, name, sopts, None, [], None), _over(s, groups, similar_call))
            got = _plain(provenance.attach(rep, idx, provenance.as_query(q, name), sopts, layers=True).to_dict())
            assert got == want_s, (name, groups)
    assert found == len(queries) - 1  # every query but "none" has findings: the comparison is not of empties
    assert {sp["kind"] for sp in _plain(trace(idx, queries["edited"], "e").to_dict())["spans"]} >= {"near-verbatim"}


class WordsEmbedder:
    """A deterministic stand-in for the embedding model (the real one costs seconds a query here): each text as
    its words hashed into 64 dimensions, normalised. Enough to drive similar's semantic path (the documents
    compared by meaning, their passages read from the shards) through the phases."""

    model = "test-words-64"

    def embed(self, texts, kind):
        import numpy as np

        from ipscope.text import tokenize

        out = np.zeros((len(texts), 64), np.float32)
        for i, t in enumerate(texts):
            for h in tokenize(t).hashes.tolist():
                out[i, h % 64] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n > 0, n, 1.0)


def test_semantic_evidence_through_the_phases_equals_one_process(shard_index, queries) -> None:
    from ipscope import provenance
    from ipscope.searcher import Searcher

    idx = Index.open(shard_index)
    s = Searcher(idx)
    emb = WordsEmbedder()
    opts = SimilarOptions(semantic=True)
    splits = [[[0], [1], [2], [3], [4]], [[0, 2, 4], [1, 3]], [[4, 1], [0], [2, 3]]]
    semantic = 0
    for name in ("persuasion+dorian", "none", "lunyu"):
        q = queries[name]
        want = similar(idx, q, name, opts, embedder=emb)
        semantic += any(r.evidence["mean_best_similarity"] > 0 for r in want.results)
        for groups in splits:
            rep = drive(similar_rounds(q, name, opts, emb, [], None), _over(s, groups, similar_call))
            got = provenance.attach(rep, idx, provenance.as_query(q, name), opts, layers=True)
            assert _plain(got.to_dict()) == _plain(want.to_dict()), (name, groups)
            assert [p.text for r in got.results for p in r.passages] == \
                [p.text for r in want.results for p in r.passages]  # (the passages' text, kept for HTML)
    assert semantic >= 2  # documents were compared by meaning: the path was taken


def test_collect_on_a_shard_subset_reads_only_its_shards(shard_index, queries) -> None:
    """A shard server opens only its shards (Index.open(shards=)): the others may be absent from its machine."""
    import shutil

    from ipscope.similar_shards import similar_stats
    from ipscope.trace import trace_collect

    part = shard_index.parent / "only34.idx"
    shutil.copytree(shard_index, part)
    for name in ("00000-0", "00000-1", "00000-2"):
        shutil.rmtree(part / "shards" / name)
    with pytest.raises(Exception, match="00000-0"):
        Index.open(part)
    idx = Index.open(part, shards=[3, 4])
    got = trace_collect(idx, queries["lunyu"], TraceOptions(), [3, 4])
    assert got["shards"] == [3, 4] and got["alignments"] and {a[2] for a in got["alignments"]} <= {3, 4}
    stats = similar_stats(idx, queries["lunyu"], [3, 4])
    assert [p["shard"] for p in stats["per_shard"]] == [3, 4] and sum(stats["df"]) > 0


def test_shard_numbers_are_checked() -> None:
    from ipscope.errors import InputError
    from ipscope.service.config import parse_shards

    assert parse_shards("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_shards(" 5 , 1-2") == [1, 2, 5]
    for bad, words in [("3-1", "from low to high"), ("0-2,2", "given twice"), ("a", "not a shard number"),
                       ("0-9", "does not exist"), ("-1", "not a")]:
        with pytest.raises(InputError, match=words):
            parse_shards(bad, 5)
    # a typo's range is refused before any list is made, with or without the manifest's count
    for n in (5, None):
        with pytest.raises(InputError, match="does not exist|past the"):
            parse_shards("0-1000000000000", n)


@settings(max_examples=300, deadline=None)
@given(st.sets(st.integers(0, 300), min_size=1), st.integers(1, 400))
def test_shard_ranges_round_trip(shards: set[int], n: int) -> None:
    """What the router writes for a set of shards (``_ranges``: in its messages' fixes, "start a shard server with
    --shards 12-15") is what --shards reads back, and a number past the manifest's count is refused naming it."""
    from ipscope.errors import InputError
    from ipscope.service.config import parse_shards
    from ipscope.service.router import _ranges

    spec = _ranges(sorted(shards))
    assert parse_shards(spec) == sorted(shards)
    if max(shards) < n:
        assert parse_shards(spec, n) == sorted(shards)
    else:
        with pytest.raises(InputError, match=f"does not exist: the index has {n} shard"):
            parse_shards(spec, n)


def test_renderers_say_an_answer_is_partial(shard_index, queries) -> None:
    import dataclasses
    import io

    from rich.console import Console

    from ipscope.report import render_html
    from ipscope.report.terminal import render, similar_text

    idx = Index.open(shard_index)
    t = dataclasses.replace(trace(idx, queries["boundary"], "q"), missing_shards=(2, 3))
    s = dataclasses.replace(similar(idx, queries["boundary"], "q", SimilarOptions(semantic=False)),
                            missing_shards=(2, 3))
    assert t.to_dict()["partial"] is True and t.to_dict()["missing_shards"] == [2, 3]
    assert "partial" not in trace(idx, queries["boundary"], "q").to_dict()
    out = io.StringIO()
    Console(file=out, width=200).print(render(t))
    assert "PARTIAL: shard(s) 2, 3 missing" in out.getvalue()
    assert "PARTIAL: shard(s) 2, 3 missing" in similar_text(s)
    for rep in (t, s):
        assert "partial: shard(s) 2, 3 missing" in render_html([rep])


def test_shard_phases_refuse_what_no_router_asks(shard_index, queries) -> None:
    """Each phase's payload is checked before any work (docs/service.md, "Shard servers"): hostile payloads are
    422 problems naming the field, while every payload the router's rounds send passes (the answers equal one
    process's, through two shard servers' checks)."""
    from ipscope import provenance
    from ipscope.errors import InputError
    from ipscope.service.shard_payload import PayloadError
    from ipscope.service.shards import ShardCorpus

    idx = Index.open(shard_index)
    a, b = ShardCorpus("demo", shard_index, "0-1"), ShardCorpus("demo", shard_index, "2-4")
    n_pass = a.searcher.passage_layers([0])[0].bounds.shape[0]
    for phase, payload, words in _hostile(a.searcher, n_pass, idx.manifest["content_hash"]):
        with pytest.raises(PayloadError, match=words.replace("[", r"\[").replace("]", r"\]")):
            a.call(phase, payload)

    def answer(phase, payload):
        payload = orjson.loads(orjson.dumps({**payload, "protocol": 1, "content_hash": idx.manifest["content_hash"]}))
        return [orjson.loads(orjson.dumps(c.call(phase, {**payload, "shards": c.shards}))) for c in (a, b)]

    for name, q in queries.items():
        for topts in (TraceOptions(), TraceOptions(excerpts=30, max_sources=2, min_tokens=8)):
            rep = drive(trace_rounds(q, name, topts), answer)
            got = _plain(provenance.attach(rep, idx, provenance.as_query(q, name), topts).to_dict())
            assert got == _plain(trace(idx, q, name, topts).to_dict()), name
        sopts = SimilarOptions(semantic=False, top=100)
        rep = drive(similar_rounds(q, name, sopts, None, [], None), answer)
        got = _plain(provenance.attach(rep, idx, provenance.as_query(q, name), sopts, layers=True).to_dict())
        assert got == _plain(similar(idx, q, name, sopts).to_dict()), name
    assert issubclass(PayloadError, InputError)


def test_nothing_of_a_query_outlives_it(shard_index) -> None:
    """The phases of one query in one process share its tokens and token ids through a state the driver makes
    (``QueryState``), not module globals: once trace() and similar() return, no Tokens of the query is alive
    (a global kept the last query's, ~50 MB for a 1M-character query, and threads overwrote each other's)."""
    import gc

    from ipscope import text as text_mod
    from ipscope.text import Tokens, tokenize

    idx = Index.open(shard_index)
    q = PERSUASION[60_000:61_777] + " and something unusual"  # its token count is this query's alone
    n = len(tokenize(q))

    def alive() -> list:
        gc.collect()
        return [o for o in gc.get_objects() if isinstance(o, Tokens) and len(o) == n]

    assert trace(idx, q, "q").spans and not alive()
    assert similar(idx, q, "q", SimilarOptions(semantic=False)).results and not alive()
    assert not [k for k, v in vars(text_mod).items() if isinstance(v, tuple) and any(x is q for x in v)]


def test_index_open_keeps_to_its_shards_while_generations_change(shard_index, tmp_path) -> None:
    """``Index.open(path, shards=)`` retries while a writer publishes new generations; its last try, too, checks
    only the shards asked for. A shard server's machine with shard 4 alone, one of its files gone, while the
    manifest is published again and again (a thread replacing it): the error names shard 4's file, not shards 0-3
    that are not on this machine (the last try opened every shard)."""
    import shutil
    import threading

    from ipscope.errors import IpscopeError

    copy = tmp_path / "only4.idx"
    shutil.copytree(shard_index, copy)
    names = [s["name"] for s in json.loads((copy / "manifest.json").read_text())["shards"]]
    for name in names[:4]:
        shutil.rmtree(copy / "shards" / name)
    (copy / "shards" / names[4] / "doc_tok.npy").unlink()
    # a large manifest (its generation's notes, say) takes long enough to read that the writer publishes during
    # each try: about one open in twelve here reaches its last try
    m = json.loads((copy / "manifest.json").read_text())
    m["padding"] = "x" * 2_000_000
    manifest = json.dumps(m).encode()
    (copy / "manifest.json").write_bytes(manifest)
    stop = threading.Event()

    def publish() -> None:  # a new manifest file (a new inode) over and over, as a writer's renames
        while not stop.is_set():
            (copy / "manifest.tmp").write_bytes(manifest)
            os.replace(copy / "manifest.tmp", copy / "manifest.json")

    t = threading.Thread(target=publish)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns often: the manifest changes during each try
    t.start()
    try:
        for _ in range(100):
            with pytest.raises(IpscopeError) as e:
                Index.open(copy, shards=[4])
            assert names[4] in str(e.value) and not any(n in str(e.value) for n in names[:4]), str(e.value)
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(interval)


def test_collect_answers_the_k_best_of_its_shards_and_reads_in_process_stay_arrays(shard_index, queries) -> None:
    """similar's COLLECT answers, per query window, the k best passages over the shards it serves (those over all
    shards are among each server's: the router's merge takes the k best of them), so documents are looked up for
    those alone, not for every shard's k; in one process (a ``QueryState``) READ hands its token arrays over
    as they are, not packed in base64 (the merged answers equal one process's: the first test)."""
    import numpy as np

    from ipscope.similar_shards import similar_collect, similar_stats, sum_stats
    from ipscope.text import QueryState

    idx = Index.open(shard_index)
    q = queries["persuasion+dorian"]
    stats = sum_stats([similar_stats(idx, q)])
    got = similar_collect(idx, q, 10, stats)
    assert got["bm25"] and all(len(w) == 10 for w in got["bm25"])  # 5 shards, 10 each: the 10 best
    per_shard = [similar_collect(idx, q, 10, stats, shards=[si])["bm25"] for si in range(5)]
    for w, best in enumerate(got["bm25"]):
        assert best == sorted((e for shard in per_shard for e in shard[w]), reverse=True)[:10]
    wants = {"runs": [[0, 0, 1]]}
    assert "b64" in similar_call(idx, "similar/read", {"query_tokens": 300, "wants": wants})["runs"]["0,0,1"]["tokens"]
    run = similar_call(idx, "similar/read", {"query_tokens": 300, "wants": wants}, None, QueryState())["runs"]["0,0,1"]
    assert isinstance(run["tokens"], np.ndarray)
    assert run["tokens"].shape[0] == int(run["bounds"][-1][1] - run["bounds"][0][0])

