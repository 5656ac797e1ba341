"""Chinese script folding: a simplified copy of a traditional text (and the reverse) is found verbatim,
with offsets in each text's own characters; the manifest says which fold the index was built with.

The copies were made with OpenCC's phrase-level converters, as a user would (tests/data/chinese/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import TESTDATA, need_shared
from ipscope.errors import IndexFormatError
from ipscope.index import VERSION, BuildOptions, Index, build_index
from ipscope.index import build as build_mod
from ipscope.index.executor import RETRIES
from ipscope.text import SCRIPT_FOLDING, TOKENIZER, normalize, tokenize
from ipscope.trace import trace

DATA = TESTDATA / "chinese"
HAN = re.compile(r"[\u3400-\u9fff\U00020000-\U000323af]")


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


TRAD = {r["id"]: r["text"] for r in _rows("traditional.jsonl")}
SIMP = {r["id"]: r["text"] for r in _rows("simplified.jsonl")}
COPIES = _rows("copies.jsonl")


def _first_last_han(text: str) -> tuple[int, int]:
    hits = [m.start() for m in HAN.finditer(text)]
    return hits[0], hits[-1] + 1


def _first_last_token(text: str) -> tuple[int, int]:
    t = tokenize(text)
    return int(t.starts[0]), int(t.ends[-1])


# 甦醒 -> 苏醒 in Psalm 23 is a conversion of the phrase: 甦 alone stays 甦 (see the test below)
WHOLE = [c for c in COPIES if c["of"] != "Psalms 23"]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Index]:
    root = tmp_path_factory.mktemp("fold")
    out = {}
    for name in ("traditional", "simplified"):
        build_index([DATA / f"{name}.jsonl"], root / f"{name}.idx", BuildOptions(jobs=1))
        out[name] = Index.open(root / f"{name}.idx")
    return out


def test_fixture_copies_really_differ_in_script() -> None:
    # the copies are not trivially equal to their originals: a fifth or more of their characters changed
    for c in COPIES:
        orig = TRAD.get(c["of"]) or SIMP[c["of"]]
        changed = sum(a != b for a, b in zip(orig, c["text"]))
        assert len(orig) == len(c["text"]) and changed >= 0.15 * len(HAN.findall(orig)), c["of"]


@pytest.mark.parametrize("copy", WHOLE, ids=[f"{c['of']}<-{c['opencc']}" for c in WHOLE])
def test_a_script_converted_copy_is_one_verbatim_span(indexes: dict[str, Index], copy: dict) -> None:
    traditional = copy["of"] in TRAD
    index = indexes["traditional" if traditional else "simplified"]
    doc = (TRAD if traditional else SIMP)[copy["of"]]
    query = copy["text"]
    rep = trace(index, query)
    assert len(rep.spans) == 1, [(s.kind, s.start, s.end, s.edits) for s in rep.spans]
    span = rep.spans[0]
    assert span.kind == "verbatim" and span.edits == 0 and span.tokens == rep.query_tokens
    src = span.sources[0]
    assert src.doc_id == copy["of"] and len(span.sources) == 1
    # offsets in the original characters on both sides: the query's in the copy, the source's in the document
    assert (span.start, span.end) == _first_last_han(query)
    assert (src.start, src.end) == _first_last_han(doc)
    q, s = query[span.start : span.end], doc[src.start : src.end]
    assert q != s  # the two scripts differ ...
    assert tokenize(q).strings(q) == tokenize(s).strings(s)  # ... and normalise to the same tokens


def test_a_conversion_that_depends_on_the_phrase_stays_one_edit(indexes: dict[str, Index]) -> None:
    # OpenCC converts 甦醒 to 苏醒 as a phrase but leaves 甦 alone as a character, so 甦 and 苏 are not
    # folded together (docs/trace.md, Limits): the copy is one near-verbatim span with that one edit
    copy = next(c for c in COPIES if c["of"] == "Psalms 23")
    doc, query = TRAD["Psalms 23"], copy["text"]
    diff = [i for i, (a, b) in enumerate(zip(doc, query)) if normalize(a) != normalize(b)]
    assert [doc[i] + query[i] for i in diff] == ["甦苏"]
    rep = trace(indexes["traditional"], query)
    assert len(rep.spans) == 1
    span = rep.spans[0]
    assert span.kind == "near-verbatim" and span.edits == 1 and span.matched_tokens == span.tokens - 1
    assert (span.start, span.end) == _first_last_han(query)
    assert (span.sources[0].start, span.sources[0].end) == _first_last_han(doc)


def test_a_copied_passage_inside_other_text_has_exact_offsets_on_both_sides(indexes: dict[str, Index]) -> None:
    # verses 3-10 of Genesis 1, converted to simplified, between two sayings of the Analects (not in the index)
    verses = TRAD["Genesis 1"].split("\n")
    copy = next(c["text"] for c in COPIES if c["of"] == "Genesis 1" and c["opencc"] == "t2s").split("\n")
    before, after = SIMP["lunyu-00000"][:120], SIMP["lunyu-00001"][:120]
    passage = "\n".join(copy[2:10])
    query = before + "\n" + passage + "\n" + after
    rep = trace(indexes["traditional"], query)
    assert len(rep.spans) == 1
    span = rep.spans[0]
    assert span.kind == "verbatim" and span.sources[0].doc_id == "Genesis 1"
    q0 = len(before) + 1
    assert (span.start, span.end) == (q0 + _first_last_han(passage)[0], q0 + _first_last_han(passage)[1])
    s0 = len("\n".join(verses[:2])) + 1
    original = "\n".join(verses[2:10])
    src = span.sources[0]
    assert (src.start, src.end) == (s0 + _first_last_han(original)[0], s0 + _first_last_han(original)[1])
    assert TRAD["Genesis 1"][src.start : src.end] == original[slice(*_first_last_han(original))]
    assert query[span.start : span.end] == passage[slice(*_first_last_han(passage))]


def test_manifest_records_the_folding(indexes: dict[str, Index]) -> None:
    params = indexes["traditional"].manifest["params"]
    assert params["tokenizer"] == TOKENIZER == "ipscope-words-cjk-v2"
    assert params["script_folding"] == SCRIPT_FOLDING
    assert SCRIPT_FOLDING.startswith("opencc-1.4.2 ")
    assert indexes["traditional"].manifest["version"] == VERSION == 4


def test_an_index_of_the_tokenizer_before_folding_must_be_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "old.idx"
    build_index([DATA / "simplified.jsonl"], out, BuildOptions(jobs=1, passages=False))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = 3
    manifest["params"]["tokenizer"] = "ipscope-words-cjk-v1"
    del manifest["params"]["script_folding"]
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexFormatError) as e:
        Index.open(out)
    assert "format version 3" in str(e.value) and "reads version 4" in str(e.value)
    assert "--force" in e.value.fix and str(out) in e.value.fix


class _Crash(Exception):
    pass


def test_an_interrupted_build_resumed_by_another_tokenizer_starts_afresh(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.idx"
    opts = BuildOptions(jobs=1, task_bytes=4000, passages=False)  # one task a file
    ran: list[int] = []
    real = build_mod.run_task

    def counting(task, root, opts):
        ran.append(task.number)
        if task.number >= 1 and crash:
            raise _Crash()
        return real(task, root, opts)

    monkeypatch.setattr(build_mod, "run_task", counting)
    crash = True
    with pytest.raises(_Crash):
        build_index([DATA / "traditional.jsonl", DATA / "simplified.jsonl"], out, opts)
    assert ran == [0] + [1] * (RETRIES + 1)  # task 1 crashed on its first attempt and on each retry
    partial = out.parent / f".{out.name}.partial"
    assert (partial / "tasks" / "00000.json").exists()
    crash = False
    monkeypatch.setattr(build_mod, "TOKENIZER", "ipscope-words-cjk-v3")  # as if ipscope changed in between
    ran.clear()
    build_index([DATA / "traditional.jsonl", DATA / "simplified.jsonl"], out, opts)
    # every task ran again (a resume by the same tokenizer would reuse task 0: test_resume.py)
    assert ran == [0, 1] and not partial.exists()
    assert Index.open(out).manifest["params"]["tokenizer"] == "ipscope-words-cjk-v3"


# --------------------------------------------------------------- the shared data set, bigger


def test_simplified_copies_of_the_union_version_are_found_verbatim(tmp_path: Path) -> None:
    """All 929 chapters of the Chinese Union Version's Old Testament (traditional), indexed; their t2s
    copies traced: each is found in its own chapter, nearly all as one verbatim span."""
    opencc = pytest.importorskip("opencc")
    verses = need_shared("bible/verses.jsonl")
    chapters: dict[str, list[str]] = {}
    with open(verses, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("ChiUn"):
                chapters.setdefault(f"{r['book']} {r['chapter']}", []).append(r["ChiUn"])
    src = tmp_path / "cuv.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": "\n".join(v)}, ensure_ascii=False) + "\n"
                           for k, v in chapters.items()), encoding="utf-8")
    build_index([src], tmp_path / "cuv.idx", BuildOptions(jobs=1, passages=False))
    index = Index.open(tmp_path / "cuv.idx")
    conv = opencc.OpenCC("t2s")
    whole = tokens = verbatim = 0
    for k, v in chapters.items():
        text = "\n".join(v)
        copy = conv.convert(text)
        rep = trace(index, copy)
        assert rep.spans and all(s.sources[0].doc_id == k for s in rep.spans), k
        tokens += rep.query_tokens
        verbatim += sum(s.tokens for s in rep.spans if s.kind == "verbatim")
        if len(rep.spans) == 1 and rep.spans[0].kind == "verbatim":
            whole += 1
            s = rep.spans[0].sources[0]
            assert (s.start, s.end) == _first_last_token(text)
            assert (rep.spans[0].start, rep.spans[0].end) == _first_last_token(copy)
    # without the fold about 0.3% of the tokens were in verbatim spans (benchmarks/bench_script_folding.py);
    # what stays near-verbatim are phrase-dependent conversions (彷彿 -> 仿佛, 鍊 -> 链 in some words)
    assert whole >= 0.8 * len(chapters)
    assert verbatim >= 0.85 * tokens


def test_traditional_copies_of_the_simplified_classics_are_found_verbatim(tmp_path: Path) -> None:
    """The reverse direction: the simplified classics (论语, 诗经, 幽梦影) indexed, their s2t copies traced."""
    opencc = pytest.importorskip("opencc")
    classics = need_shared("chinese/classics.jsonl")
    docs = []
    with open(classics, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["id"].rsplit("-", 1)[0] in ("lunyu", "shijing", "youmengying"):
                docs.append((r["id"], r["text"]))
    src = tmp_path / "simp.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in docs),
                   encoding="utf-8")
    build_index([src], tmp_path / "simp.idx", BuildOptions(jobs=1, passages=False))
    index = Index.open(tmp_path / "simp.idx")
    conv = opencc.OpenCC("s2t")
    found = verbatim = 0
    for doc_id, text in docs:
        copy = conv.convert(text)
        rep = trace(index, copy)
        if rep.query_tokens < 12:
            continue  # shorter than trace's shortest span
        found += 1
        spans = rep.spans
        assert spans and spans[0].sources[0].doc_id == doc_id or any(
            s.doc_id == doc_id for sp in spans for s in sp.sources), doc_id
        if len(spans) == 1 and spans[0].kind == "verbatim" and spans[0].tokens == rep.query_tokens:
            verbatim += 1
    assert verbatim >= 0.9 * found
