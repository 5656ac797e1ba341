"""The material of the sharded-serving tests (test_sharded.py: the phases in one process; test_sharded_http.py:
shard servers and routers on loopback): the bundled demo corpus (Project Gutenberg: Austen's *Persuasion* 105,
Wilde's *The Picture of Dorian Gray* 174, 244 and 2097; the Chinese classics 论语 and 孟子 of
demo/corpus/chinese-classics.jsonl), indexed with small shards (``max_shard_tokens``) so that a novel spans several
shards and a query straddles a shard boundary. Queries: passages of those texts as they are, two passages of
different books joined, a lightly edited copy (words changed by hand below), Chinese passages, and a sentence
written for this test that the corpus does not hold. Their fixtures ``shard_index`` and ``queries``
(conftest.py) are the session's: one build for both modules.
"""

from __future__ import annotations

import json
from pathlib import Path

from service_helpers import REPO  # noqa: E402

from ipscope.index import BuildOptions, Index, build_index

DEMO = REPO / "demo" / "corpus"
BOOKS = DEMO / "books"
PERSUASION = (BOOKS / "105.txt").read_text(encoding="utf-8")
DORIAN = (BOOKS / "pg174.txt").read_text(encoding="utf-8")
CLASSICS = [json.loads(line) for line in (DEMO / "chinese-classics.jsonl").read_text(encoding="utf-8").splitlines()]


def _boundary_query(idx: Path) -> str:
    """1,400 characters of Persuasion around the end of its first part, as the index holds it (the first shard is
    full: shard 1 holds the rest), so the verbatim span crosses a shard boundary."""
    index = Index.open(idx)
    first, second = index.shards[0], index.shards[1]
    assert first.doc_id(len(first.docs["ids"]) - 1) == second.doc_id(0) == "books/105.txt"
    return first.doc_text(len(first.docs["ids"]) - 1)[-700:] + second.doc_text(0)[:700]


EDITED = PERSUASION[30_000:31_200].replace(" the ", " a ").replace("Elliot", "Eliot")  # edits by hand
QUERIES = {
    "persuasion+dorian": PERSUASION[50_000:50_500] + " and then, quite unrelated, " + DORIAN[120_000:120_700],
    "edited": EDITED,
    "lunyu": CLASSICS[1]["text"][:300],
    "mengzi": next(c for c in CLASSICS if c["id"].startswith("mengzi"))["text"][:200],
    # written for this test: not in the corpus
    "none": "Quantum lattice vendors reconciled their ledgers beside the frozen hydroelectric turbines at dawn.",
}


def build_shard_index(out: Path) -> Path:
    """The demo corpus in 5 shards of at most 70,000 tokens (Persuasion spans shards 0-1, Dorian Gray 1-3)."""
    build_index([DEMO], out, BuildOptions(jobs=1, max_shard_tokens=70_000))
    assert len(Index.open(out).shards) == 5
    return out


def shard_queries(idx: Path) -> dict[str, str]:
    return {"boundary": _boundary_query(idx), **QUERIES}


def _plain(d: dict) -> dict:
    """A report's JSON without what differs from run to run (the time it took, the time it was made)."""
    d = dict(d)
    d.pop("elapsed_ms")
    d["provenance"] = {k: v for k, v in d["provenance"].items() if k != "created"}
    return d


def _findings(rep: dict) -> set[tuple]:
    """A trace report's findings: each span's query characters and kind with each source's document and
    characters."""
    return {(sp["start"], sp["end"], sp["kind"], src["doc_id"], src["start"], src["end"])
            for sp in rep["spans"] for src in sp["sources"]}


def _matches(idx: Index, q: str) -> set[tuple]:
    """Every match the full search finds (each COLLECT alignment, before trace chooses the spans it reports), as
    findings: query characters, kind, source document and characters."""
    from ipscope.text import tokenize
    from ipscope.trace import trace_collect

    toks = tokenize(q)
    out = set()
    for qs, qe, si, part, ss, se, matched, edits in trace_collect(idx, q)["alignments"]:
        shard = idx.shards[si]
        start, end = shard.span_chars(part, ss, se)
        kind = "verbatim" if edits == 0 and matched == qe - qs else "near-verbatim"
        out.add((int(toks.starts[qs]), int(toks.ends[qe - 1]), kind, shard.doc_id(part), start, end))
    return out



def _hostile(s, n_pass: int, content_hash: str) -> list[tuple[str, dict, str]]:
    """Payloads no router sends (the reviewer's scratch scripts dos.py and mem.py, and their kin): (phase,
    payload, words of the 422's detail)."""
    text = "the of and to a in " * 200
    base = {"protocol": 1, "content_hash": content_hash, "shards": [0, 1]}
    stats = {"n_passages": 10, "length": 2000.0, "df": [1] * 6}
    return [
        # a 520-byte request for 35 MB: every run as long as the shard
        ("similar/read", {**base, "query_tokens": 100, "wants": {"runs": [[0, 0, n_pass - 1 - i] for i in range(50)]}},
         "wants.runs[0] last"),
        ("similar/read", {**base, "wants": {"runs": [[0, 0, 0]]}}, "query_tokens"),
        ("similar/read", {**base, "query_tokens": 1_000, "wants": {"runs": [[0, 0, 0]] * 1000}}, "wants.runs has"),
        ("similar/read", {**base, "query_tokens": 50, "wants": {"spans": [[0, 0, 5_000]]}}, "wants.spans[0] end"),
        ("similar/read", {**base, "query_tokens": 50, "wants": {"passages": [[0, -1]]}}, "wants.passages[0] passage"),
        ("similar/read", {**base, "query_tokens": 50, "wants": {"passage_meta": [[9, 0]]}}, "shard"),
        # trace options a router never sends: 5 s of CPU, the memory budget off
        ("trace/collect", {**base, "text": text, "options": {"min_tokens": 1, "seed_len": 1, "stride": 1,
                                                             "max_occurrences": 10**9, "max_rss_mb": None}},
         "a router sends its default"),
        ("trace/collect", {**base, "text": text, "options": {"min_tokens": 0}}, "options.min_tokens"),
        ("trace/collect", {**base, "text": text, "options": {"max_occurrences": 10**9}}, "options.max_occurrences"),
        ("trace/collect", {**base, "text": text, "options": {"max_rss_mb": None}}, "options.max_rss_mb"),
        ("trace/collect", {**base, "text": text, "options": {"excerpts": 10**7}}, "options.excerpts"),
        ("trace/collect", {**base, "text": "x" * 1_000_001, "options": {}}, "over this server's limit"),
        ("trace/resolve", {**base, "text": text, "options": {"excerpts": 10},
                           "spans": [{"key": [0, 20, False], "members": [[0, 20, 0, 0, 0, 5_000, 20, 0]]}]},
         "members[0] end"),
        ("trace/resolve", {**base, "text": text, "options": {},
                           "spans": [{"key": [0, 10**6, True], "members": []}]}, "spans[0].key[1]"),
        ("similar/collect", {**base, "text": text, "k": 10**6, "stats": stats}, "k is"),
        ("similar/collect", {**base, "text": text, "k": 10, "stats": {**stats, "df": [1] * 10**4}}, "stats.df"),
        ("similar/collect", {**base, "text": text, "k": 10, "stats": stats,
                             "lsh_keys": {"dtype": "<u4", "shape": [32, 10**6], "b64": ""}}, "lsh_keys.shape"),
        ("similar/stats", {**base, "text": ["not", "text"]}, "not a string"),
    ]


