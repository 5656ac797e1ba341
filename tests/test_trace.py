"""trace on the bundled demo corpus and small built corpora: spans, offsets, kinds, formats."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEMO, SAMPLE
from ipscope.cli import main
from ipscope.index import BuildOptions, Index, build_index
from ipscope.searcher import Searcher
from ipscope.text import tokenize
from ipscope.trace import TraceOptions, trace

BOOK = DEMO / "books" / "105.txt"


def book_text(path: Path = BOOK) -> str:
    # the index's offsets count characters of the file decoded as UTF-8, newlines untouched
    return path.read_bytes().decode("utf-8")


def words(src: str, a: int, b: int) -> str:
    """src[a:b] trimmed to whole lines-of-words (no word cut in half at either end)."""
    seg = src[a:b]
    return seg[seg.index(" ") + 1 : seg.rindex(" ")]


def norm_tokens(s: str) -> list[str]:
    return tokenize(s).strings(s)


NOVEL = ("Quantum engineers argued about budgets while the coffee machine in the basement hummed a tune "
         "nobody recognised, and the director declined to comment on the rumours about next spring. ")


@pytest.fixture(scope="module")
def index(demo_index: Path) -> Index:
    return Index.open(demo_index)


def test_verbatim_passage_found_with_exact_offsets_on_both_sides(index: Index) -> None:
    src = book_text()
    passage = words(src, 200_000, 201_200)
    query = NOVEL + passage + " " + NOVEL
    rep = trace(index, query)
    assert len(rep.spans) == 1
    span = rep.spans[0]
    assert span.kind == "verbatim" and span.edits == 0
    s = span.sources[0]
    assert s.doc_id == "books/105.txt"
    # the query span and the source span hold the same tokens; offsets are exact
    assert norm_tokens(query[span.start : span.end]) == norm_tokens(src[s.start : s.end])
    assert query[span.start : span.end] == src[s.start : s.end]
    assert span.start == len(NOVEL) + re.search(r"\w", passage).start()
    assert span.end == len(NOVEL) + max(m.end() for m in re.finditer(r"\w+", passage))
    assert span.total_occurrences == 1
    assert rep.documents[0].doc_id == "books/105.txt"
    assert 0.6 < rep.coverage < 0.9


def test_reformatted_copy_is_verbatim(index: Index) -> None:
    src = book_text()
    passage = words(src, 300_000, 301_000)
    reformatted = " ".join(passage.split()).upper().replace(",", " ,").replace("'", "\u2019")
    rep = trace(index, NOVEL + reformatted)
    assert [sp.kind for sp in rep.spans] == ["verbatim"]
    assert rep.spans[0].sources[0].doc_id == "books/105.txt"
    assert rep.spans[0].tokens == len(norm_tokens(reformatted))


def test_lightly_edited_copy_is_one_near_verbatim_span(index: Index) -> None:
    src = book_text()
    words = src[400_000:402_000].split()[1:-1]
    rnd = random.Random(3)
    edited = []
    for w in words:
        if rnd.random() < 1 / 12:
            edited.append(rnd.choice(["purple", "suddenly", "window"]))  # substitution
        else:
            edited.append(w)
    query = NOVEL + " ".join(edited) + " " + NOVEL
    rep = trace(index, query)
    assert len(rep.spans) == 1
    span = rep.spans[0]
    assert span.kind == "near-verbatim" and span.edits > 0
    assert span.tokens >= 0.95 * len(norm_tokens(" ".join(edited)))
    s = span.sources[0]
    # the source range is the original passage: its tokens are the copy's, bar the edits
    src_tokens = norm_tokens(src[s.start : s.end])
    copy_tokens = norm_tokens(" ".join(edited))
    assert src_tokens[:3] == copy_tokens[:3] and src_tokens[-3:] == copy_tokens[-3:]


def test_chinese_passage_found_per_character(index: Index) -> None:
    with (DEMO / "chinese-classics.jsonl").open(encoding="utf-8") as f:
        rec = next(json.loads(x) for x in f if json.loads(x)["id"] == "mengzi-00000")
    passage = rec["text"][500:560]
    query = "今天下雨了，我们在图书馆里读书。" + passage + "然后大家一起去吃饭，谈论天气和工作。"
    rep = trace(index, query)
    assert len(rep.spans) == 1
    s = rep.spans[0].sources[0]
    assert s.doc_id == "mengzi-00000"
    assert norm_tokens(rec["text"][s.start : s.end]) == norm_tokens(query[rep.spans[0].start : rep.spans[0].end])


def test_novel_text_and_short_matches_are_not_reported(index: Index) -> None:
    src = book_text()
    # an 8-token verbatim snippet is below the default minimum of 12
    words = src[250_000:251_000].split()[5:13]
    rep = trace(index, NOVEL + " ".join(words) + " " + NOVEL)
    assert rep.spans == ()
    assert trace(index, NOVEL + " ".join(words) + " " + NOVEL, opts=TraceOptions(min_tokens=6)).spans


def test_same_passage_in_two_documents_lists_both_sources(tmp_path: Path) -> None:
    text = book_text()[100_000:140_000]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("Preface of edition A.\n" + text, encoding="utf-8")
    (tmp_path / "c" / "b.txt").write_text("Another preface, of edition B, longer.\n" + text, encoding="utf-8")
    build_index([tmp_path / "c"], tmp_path / "idx", BuildOptions(jobs=1))
    rep = trace(Index.open(tmp_path / "idx"), NOVEL + text[5000:6000] + NOVEL)
    assert len(rep.spans) == 1
    assert sorted(s.doc_id for s in rep.spans[0].sources) == ["a.txt", "b.txt"]
    assert rep.spans[0].total_occurrences == 2
    for s in rep.spans[0].sources:
        whole = (tmp_path / "c" / s.doc_id).read_bytes().decode("utf-8")
        assert norm_tokens(whole[s.start : s.end]) == norm_tokens(rep.text[rep.spans[0].start : rep.spans[0].end])


def test_many_small_shards_give_the_same_report_as_one(tmp_path: Path, demo_index: Path) -> None:
    small = tmp_path / "small.idx"
    build_index([DEMO], small, BuildOptions(jobs=2, max_shard_tokens=40_000, task_bytes=300_000))
    many = Index.open(small)
    assert len(many.shards) > 5
    one = Index.open(demo_index)
    query = SAMPLE.read_text(encoding="utf-8")
    a, b = trace(one, query).to_dict(), trace(many, query).to_dict()
    for d in (a, b):
        d.pop("elapsed_ms")
        d.pop("provenance")  # names the index (and the time): the findings must be equal
    assert a == b


def test_seeding_in_chunks_and_reading_with_pread_change_nothing(demo_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipscope.trace as tr

    query = SAMPLE.read_text(encoding="utf-8")
    mapped = Index.open(demo_index)
    whole = trace(mapped, query, opts=TraceOptions(max_rss_mb=None)).to_dict()
    assert all("tok" in s.__dict__ for s in mapped.shards)  # no budget: the arrays are memory-mapped
    monkeypatch.setattr(tr, "SEED_CHUNK", 1)  # one seed per kernel call
    fresh = Index.open(demo_index)
    chunked = trace(fresh, query, opts=TraceOptions(max_rss_mb=100)).to_dict()
    # with a budget the token and suffix arrays are read with pread, never mapped
    assert not any("tok" in s.__dict__ or "sa" in s.__dict__ for s in fresh.shards)
    searcher = Searcher.of(fresh)  # the default searcher trace used: its one block cache holds blocks now
    assert searcher.block_caches == 1 and not any(k.startswith("_block") for k in fresh.__dict__)
    with searcher.block_cache() as cache:
        assert (cache[0] >= 0).any()
    for d in (whole, chunked):
        d.pop("elapsed_ms")
        d.pop("provenance")  # names the options (the memory budget): the findings must be equal
    assert whole == chunked


def test_json_report_matches_the_documented_shape(demo_index: Path) -> None:
    r = CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE), "--format", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert set(rep) >= {"query", "query_chars", "query_tokens", "coverage", "elapsed_ms", "spans", "documents"}
    assert rep["query"] == str(SAMPLE)
    kinds = {s["kind"] for s in rep["spans"]}
    assert kinds == {"verbatim", "near-verbatim"}
    for s in rep["spans"]:
        assert set(s) >= {"start", "end", "tokens", "kind", "total_occurrences", "sources"}
        assert 0 <= s["start"] < s["end"] <= rep["query_chars"]
        for src in s["sources"]:
            assert set(src) == {"doc_id", "start", "end", "meta"}
            assert src["meta"]["title"] if src["doc_id"].startswith("books/") else src["meta"]  # named, not just ids
    assert [d["matched_tokens"] for d in rep["documents"]] == sorted(
        (d["matched_tokens"] for d in rep["documents"]), reverse=True)


def test_jsonl_reads_several_queries_and_stdin(demo_index: Path, tmp_path: Path) -> None:
    other = tmp_path / "q2.txt"
    other.write_text(NOVEL * 3, encoding="utf-8")
    r = CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE), str(other), "-", "-f", "jsonl"],
                           input=SAMPLE.read_text(encoding="utf-8"))
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query"] for x in lines] == [str(SAMPLE), str(other), "<stdin>"]
    assert lines[1]["spans"] == [] and lines[1]["coverage"] == 0
    assert lines[0]["spans"] == lines[2]["spans"]


def test_excerpts_carry_the_source_text(demo_index: Path) -> None:
    r = CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE), "-f", "json", "--excerpts", "40"])
    rep = json.loads(r.stdout)
    first = rep["spans"][0]["sources"][0]
    assert first["text"].startswith("Sir Walter Elliot")
    assert len(first["before"]) == 40 and len(first["after"]) == 40


def test_html_report_links_query_and_sources(demo_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE), "-f", "html", "-o", str(out)])
    assert r.exit_code == 0, r.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<script src" not in page and "<link " not in page
    n = len(json.loads(CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE), "-f", "json"]).stdout)["spans"])
    for i in range(n):
        assert f'id="r0-q{i}" href="#r0-s{i}"' in page and f'id="r0-s{i}"' in page
    assert 'class="edit"' in page  # the edited passage shows its edits
    assert "Kellynch Hall" in page and "学而时习之" in page


def test_text_report_names_sources(demo_index: Path) -> None:
    r = CliRunner().invoke(main, ["trace", str(demo_index), str(SAMPLE)])
    assert r.exit_code == 0
    assert "books/105.txt" in r.stdout and "near-verbatim" in r.stdout and "lunyu-00000" in r.stdout


def test_an_index_file_shrinking_while_open_is_an_error_not_garbage(tmp_path: Path, demo_index: Path) -> None:
    """With pread access, a token file cut short after the index was opened makes trace raise OSError
    (the CLI turns it into an error naming the index and the fix), never returns made-up matches."""
    import shutil

    copy = tmp_path / "copy.idx"
    shutil.copytree(demo_index, copy)
    idx = Index.open(copy)
    query = SAMPLE.read_text(encoding="utf-8")
    opts = TraceOptions(max_rss_mb=300)
    assert trace(idx, query, opts=opts).spans  # the files are open now
    for shard in idx.shards:
        (shard.path / "tokens.u24").write_bytes(b"")
    with pytest.raises(OSError, match="could not read an index file"):
        trace(Searcher(idx), query, opts=opts)  # a new searcher: an empty block cache, nothing served from memory


def test_a_copy_of_an_index_does_not_close_the_original_files(demo_index: Path) -> None:
    """Copies (deepcopy, pickle) open their own files: collecting one must not close the original's
    descriptors (found in review)."""
    import copy
    import gc
    import pickle

    idx = Index.open(demo_index)
    query = SAMPLE.read_text(encoding="utf-8")
    opts = TraceOptions(max_rss_mb=300)
    expected = len(trace(idx, query, opts=opts).spans)
    fds = [s.__dict__["_fds"] for s in idx.shards]
    for dup in (copy.deepcopy(idx), pickle.loads(pickle.dumps(idx))):
        assert all("_fds" not in s.__dict__ for s in dup.shards)
        assert len(trace(dup, query, opts=opts).spans) == expected
        del dup
        gc.collect()
    assert [s.__dict__["_fds"] for s in idx.shards] == fds
    assert len(trace(Searcher(idx), query, opts=opts).spans) == expected  # read from the files again


def test_opening_the_shard_files_leaks_nothing_when_one_is_missing(tmp_path: Path, demo_index: Path) -> None:
    import os
    import shutil

    from ipscope import _kernels

    copy_ = tmp_path / "copy.idx"
    shutil.copytree(demo_index, copy_)
    shard = Index.open(copy_).shards[0]
    (shard.path / "sa.u24").unlink()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(OSError):
            shard.file_arrays(0, _kernels.new_cache(1))
    assert len(os.listdir("/proc/self/fd")) == before
