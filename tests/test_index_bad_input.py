"""Bad input for ``ipscope index`` and ``ipscope trace``: every case gets a clear message
naming the file (and line) and the fix, the valid rest is still indexed, and every input
record has exactly one line in INDEX/account.jsonl."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DEMO
from ipscope.cli import main
from ipscope.corpus.readers import ReadOptions
from ipscope.errors import IndexFormatError
from ipscope.index import BuildOptions, Index, build_index
from ipscope.text import tokenize
from ipscope.trace import TraceOptions, trace

BOOKS = sorted((DEMO / "books").glob("*.txt"))


def read(path: Path) -> str:
    """A file's text exactly as the indexer sees it (no newline translation: 105.txt has CRLF)."""
    return path.read_bytes().decode("utf-8")


BOOK = read(BOOKS[0])


def passage(i: int, chars: int = 400) -> str:
    """A distinct passage of real prose (different for every i)."""
    start = 20_000 + i * 1_000
    return f"record {i}: " + " ".join(BOOK[start : start + chars].split())


def cli(*args: object, input: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def write_jsonl(path: Path, lines: list[object]) -> Path:
    """Each item: a dict (dumped), or a str written verbatim as the line."""
    with open(path, "w", encoding="utf-8") as f:
        for item in lines:
            f.write((item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)) + "\n")
    return path


def account(idx: Path) -> list[dict]:
    return [json.loads(line) for line in (idx / "account.jsonl").read_text(encoding="utf-8").splitlines()]


def by_where(idx: Path) -> dict[str, dict]:
    lines = account(idx)
    out: dict[str, dict] = {}
    for line in lines:
        assert line["where"] not in out, f"two account lines for {line['where']}"
        out[line["where"]] = line
    return out


def check_accounted(idx: Path, expected: dict[str, str]) -> dict[str, dict]:
    """``expected``: where -> "indexed" or the skip code. Checks one line per record, no
    others, and manifest counts equal to the account."""
    lines = account(idx)
    got = by_where(idx)
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for where, want in expected.items():
        line = got[where]
        assert line["status"] in ("indexed", "skipped")
        if want == "indexed":
            assert line["status"] == "indexed", line
        else:
            assert line["status"] == "skipped" and line["code"] == want, line
            assert line["reason"]
    counts = json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["counts"]
    n_indexed = sum(1 for v in expected.values() if v == "indexed")
    assert counts["records"] == len(lines) == len(expected)
    assert counts["documents_indexed"] == n_indexed
    assert counts["skipped"] == len(expected) - n_indexed
    reasons: dict[str, int] = {}
    for v in expected.values():
        if v != "indexed":
            reasons[v] = reasons.get(v, 0) + 1
    assert counts["skipped_by_reason"] == reasons
    return got


def found_docs(idx: Path, text: str, min_tokens: int = 12) -> set[str]:
    rep = trace(Index.open(idx), text, "q", TraceOptions(min_tokens=min_tokens))
    return {src.doc_id for span in rep.spans for src in span.sources}


# ------------------------------------------------------------------ text files


def test_invalid_utf8_is_skipped_with_file_byte_and_fix_then_replace_indexes_it(tmp_path: Path) -> None:
    # a UTF-8 file with one stray Latin-1 byte (a pasted \xa3): the rest is UTF-8, so it is not
    # re-read in another encoding; the default skips it naming the byte, replace indexes it
    src = tmp_path / "in"
    src.mkdir()
    text = "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve r\u00e9sum\u00e9 " + passage(1)
    (src / "mixed.txt").write_bytes(b"\xa3" + text.encode("utf-8"))
    (src / "good.txt").write_text(passage(2), encoding="utf-8")
    out = tmp_path / "x.idx"

    r = cli("index", src, "--out", out)
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {str(src / "mixed.txt"): "invalid-utf8", str(src / "good.txt"): "indexed"})
    reason = acc[str(src / "mixed.txt")]["reason"]
    assert "byte 0" in reason
    assert "mixed.txt" in reason and "--encoding-errors replace" in reason and "UTF-8" in reason
    assert "skipped 1 record" in r.stderr and "invalid-utf8: 1" in r.stderr and "account.jsonl" in r.stderr
    assert found_docs(out, passage(2)) == {"good.txt"}

    r = cli("index", src, "--out", out, "--force", "--encoding-errors", "replace")
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {str(src / "mixed.txt"): "indexed", str(src / "good.txt"): "indexed"})
    assert acc[str(src / "mixed.txt")]["replacements"] == 1
    assert acc[str(src / "mixed.txt")]["encoding"] == "utf-8"
    assert found_docs(out, passage(1)) == {"mixed.txt"}
    shard = Index.open(out).shards[0]
    texts = {shard.doc_id(d): shard.doc_text(d) for d in range(len(shard.docs["ids"]))}
    assert texts["mixed.txt"] == "\ufffd" + text


def test_only_invalid_input_fails_with_account_path(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_bytes("na\u00efve caf\u00e9 r\u00e9sum\u00e9 d\u00e9j\u00e0 ".encode("utf-8") + b"\xff")
    out = tmp_path / "x.idx"
    r = cli("index", bad, "--out", out)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert "nothing to index" in r.stderr and "invalid-utf8" in r.stderr and "fix:" in r.stderr
    assert not out.exists()  # atomic: no half index
    m = re.search(r"see (\S+account\.jsonl)", r.stderr)
    assert m, r.stderr
    lines = [json.loads(x) for x in Path(m.group(1)).read_text(encoding="utf-8").splitlines()]
    assert [(x["where"], x["code"]) for x in lines] == [(str(bad), "invalid-utf8")]


def test_binary_file_named_txt(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (src / "utf16.txt").write_text(passage(3), encoding="utf-16")
    (src / "good.txt").write_text(passage(4), encoding="utf-8")
    out = tmp_path / "x.idx"
    r = cli("index", src, "--out", out)
    assert r.exit_code == 0, r.output
    # UTF-16 has NUL bytes too, but in its pattern: it is text (tests/test_encoding.py)
    acc = check_accounted(out, {str(src / "image.txt"): "binary", str(src / "utf16.txt"): "indexed",
                                str(src / "good.txt"): "indexed"})
    assert "NUL" in acc[str(src / "image.txt")]["reason"]
    assert "binary: 1" in r.stderr


def test_empty_documents(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "empty.txt").write_bytes(b"")
    (src / "blank.md").write_text("  \n\t\n\u3000 \n", encoding="utf-8")
    (src / "punct.txt").write_text("... --- !!! “” — * * *\n", encoding="utf-8")
    (src / "good.txt").write_text(passage(5), encoding="utf-8")
    jl = write_jsonl(src / "recs.jsonl", [
        {"id": "e", "text": ""}, {"id": "w", "text": "   \n "}, {"id": "p", "text": "?!…"}, {"id": "ok", "text": passage(6)},
    ])
    out = tmp_path / "x.idx"
    r = cli("index", src, "--out", out)
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {
        str(src / "empty.txt"): "empty", str(src / "blank.md"): "empty", str(src / "punct.txt"): "no-tokens",
        str(src / "good.txt"): "indexed", f"{jl}:1": "empty", f"{jl}:2": "empty", f"{jl}:3": "no-tokens",
        f"{jl}:4": "indexed",
    })
    assert acc[f"{jl}:3"]["doc_id"] == "p"
    assert found_docs(out, passage(6)) == {"ok"}


# ------------------------------------------------------------------ JSONL records


def test_malformed_jsonl_lines_are_reported_by_line_and_the_rest_indexed(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "recs.jsonl", [
        {"id": "one", "text": passage(7)},
        '{"id": "two", "text": "unterminated',
        '["an", "array"]',
        "",
        "   ",
        '"just a string"',
        {"id": "six", "text": passage(8)},
        "{'id': 'single-quoted'}",
    ])
    out = tmp_path / "x.idx"
    r = cli("index", jl, "--out", out)
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "malformed-json", f"{jl}:3": "malformed-json",
                                f"{jl}:6": "malformed-json", f"{jl}:7": "indexed", f"{jl}:8": "malformed-json"})
    assert "fix or remove the line" in acc[f"{jl}:2"]["reason"]
    assert "expected a JSON object, got list" in acc[f"{jl}:3"]["reason"]
    assert "got str" in acc[f"{jl}:6"]["reason"]
    assert "malformed-json: 4" in r.stderr
    assert found_docs(out, passage(8)) == {"six"}


def test_malformed_json_column_points_into_the_line(tmp_path: Path) -> None:
    bad = '{"id": "two", "text": "unterminated"'
    jl = write_jsonl(tmp_path / "recs.jsonl", [{"id": "one", "text": passage(9)}, bad])
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    reason = by_where(out)[f"{jl}:2"]["reason"]
    assert f"column {len(bad) + 1}" in reason, reason


def test_record_field_errors(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "recs.jsonl", [
        {"id": "a", "text": passage(10)},
        {"text": "no id at all " + passage(11)},
        {"id": None, "text": "null id"},
        {"id": "c"},
        {"id": "d", "text": 5},
        {"id": "e", "text": ["a", "list"]},
        {"id": "f", "text": None},
        {"id": [1, 2], "text": "list id"},
        {"id": 1.5, "text": "float id"},
        {"id": True, "text": "bool id"},
        {"id": {"k": 1}, "text": "object id"},
        {"id": "  ", "text": "blank id"},
        {"id": 42, "text": passage(12)},
    ])
    out = tmp_path / "x.idx"
    r = cli("index", jl, "--out", out)
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {
        f"{jl}:1": "indexed", f"{jl}:2": "indexed", f"{jl}:3": "indexed", f"{jl}:4": "missing-text",
        f"{jl}:5": "bad-text", f"{jl}:6": "bad-text", f"{jl}:7": "missing-text", f"{jl}:8": "bad-id",
        f"{jl}:9": "bad-id", f"{jl}:10": "bad-id", f"{jl}:11": "bad-id", f"{jl}:12": "bad-id",
        f"{jl}:13": "indexed",
    })
    # no id field (or a null one): the id is the file's name and the line, and the account says it was assigned
    assert acc[f"{jl}:2"]["doc_id"] == "recs.jsonl#2" and acc[f"{jl}:2"]["id_assigned"] is True
    assert acc[f"{jl}:3"]["doc_id"] == "recs.jsonl#3" and acc[f"{jl}:3"]["id_assigned"] is True
    assert "id_assigned" not in acc[f"{jl}:1"]
    assert "--text-field" in acc[f"{jl}:4"]["reason"]
    assert acc[f"{jl}:4"]["doc_id"] == "c" and acc[f"{jl}:5"]["doc_id"] == "d"
    assert "must be a string" in acc[f"{jl}:5"]["reason"] and "int" in acc[f"{jl}:5"]["reason"]
    assert "string or an integer" in acc[f"{jl}:8"]["reason"] and "list" in acc[f"{jl}:8"]["reason"]
    assert "float" in acc[f"{jl}:9"]["reason"] and "bool" in acc[f"{jl}:10"]["reason"]
    assert acc[f"{jl}:13"]["doc_id"] == "42"  # integer ids become strings
    assert found_docs(out, passage(12)) == {"42"}
    assert found_docs(out, passage(11)) == {"recs.jsonl#2"}


def test_id_and_text_field_renaming(tmp_path: Path) -> None:
    jl = write_jsonl(tmp_path / "recs.jsonl", [
        {"doc": "x1", "body": passage(13), "id": "decoy", "text": "decoy text"},
        {"doc": "x2", "body": passage(14)},
    ])
    out = tmp_path / "x.idx"
    # default fields: the second record lacks them (no id: one is assigned; no text: skipped)
    r = cli("index", jl, "--out", out)
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "missing-text"})
    assert acc[f"{jl}:2"]["doc_id"] == "recs.jsonl#2"
    assert found_docs(out, passage(13)) == set()

    r = cli("index", jl, "--out", out, "--force", "--id-field", "doc", "--text-field", "body")
    assert r.exit_code == 0, r.output
    acc = check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "indexed"})
    assert acc[f"{jl}:1"]["doc_id"] == "x1"
    assert found_docs(out, passage(13)) == {"x1"} and found_docs(out, passage(14)) == {"x2"}
    params = Index.open(out).manifest["params"]
    assert params["id_field"] == "doc" and params["text_field"] == "body"


def test_invalid_utf8_jsonl_line(tmp_path: Path) -> None:
    jl = tmp_path / "recs.jsonl"
    good = json.dumps({"id": "g", "text": passage(15)}).encode()
    bad = '{"id": "b", "text": "caf\u00e9 '.encode("latin-1") + json.dumps(passage(16))[1:].encode() + b"}"
    jl.write_bytes(good + b"\n" + bad + b"\n")
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    acc = check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "invalid-utf8"})
    assert "--encoding-errors replace" in acc[f"{jl}:2"]["reason"]
    build_index([jl], out, BuildOptions(jobs=1, force=True, read=ReadOptions(encoding_errors="replace")))
    check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "indexed"})
    assert found_docs(out, passage(16)) == {"b"}


def test_duplicate_id_second_skipped_and_never_traced(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(a, [{"id": "dup", "text": passage(17)}, {"id": "u1", "text": passage(18)}])
    write_jsonl(b, [{"id": "u2", "text": passage(19)}, {"id": "dup", "text": passage(20)}])
    (tmp_path / "dup").write_text(passage(21), encoding="utf-8")  # a text file whose id is "dup" too
    out = tmp_path / "x.idx"
    # small tasks: the duplicates land in other tasks (and shards) than the first
    build_index([a, b, tmp_path / "dup"], out, BuildOptions(jobs=1, task_bytes=1))
    acc = check_accounted(out, {f"{a}:1": "indexed", f"{a}:2": "indexed", f"{b}:1": "indexed",
                                f"{b}:2": "duplicate-id", str(tmp_path / "dup"): "duplicate-id"})
    for where in (f"{b}:2", str(tmp_path / "dup")):
        assert f"first at {a}:1" in acc[where]["reason"]
        assert "unique id" in acc[where]["reason"]
    assert found_docs(out, passage(17)) == {"dup"}
    for i in (20, 21):
        assert found_docs(out, passage(i)) == set()
        assert found_docs(out, passage(i), min_tokens=3) == set()
    assert len(Index.open(out)) == 3


def test_exact_duplicate_record_is_not_counted_as_an_occurrence(tmp_path: Path) -> None:
    rec = {"id": "same", "text": passage(22)}
    jl = write_jsonl(tmp_path / "recs.jsonl", [rec, rec, {"id": "other", "text": passage(23)}])
    out = tmp_path / "x.idx"
    build_index([jl], out, BuildOptions(jobs=1))
    check_accounted(out, {f"{jl}:1": "indexed", f"{jl}:2": "duplicate-id", f"{jl}:3": "indexed"})
    rep = trace(Index.open(out), passage(22))
    assert len(rep.spans) == 1
    assert [s.doc_id for s in rep.spans[0].sources] == ["same"]
    assert rep.spans[0].total_occurrences == 1


# ------------------------------------------------------------------ compressed and columnar


def test_gzip_jsonl(tmp_path: Path) -> None:
    gz = tmp_path / "recs.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        for i in range(30, 40):
            f.write(json.dumps({"id": f"gz-{i}", "text": passage(i)}) + "\n")
        f.write("not json\n")
    out = tmp_path / "x.idx"
    r = cli("index", tmp_path, "--out", out)  # found in a directory by its suffix
    assert r.exit_code == 0, r.output
    expected = {f"{gz}:{i - 29}": "indexed" for i in range(30, 40)} | {f"{gz}:11": "malformed-json"}
    acc = check_accounted(out, expected)
    assert acc[f"{gz}:4"]["doc_id"] == "gz-33"
    assert found_docs(out, passage(35)) == {"gz-35"}


def test_truncated_gzip_keeps_records_before_the_damage(tmp_path: Path) -> None:
    import zlib

    rng = random.Random(7)
    words = BOOK.split()
    lines = [json.dumps({"id": f"t{i}", "text": " ".join(rng.choice(words) for _ in range(40))}) for i in range(300)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = whole[: len(whole) // 2]
    gz = tmp_path / "recs.jsonl.gz"
    gz.write_bytes(cut)
    intact = zlib.decompressobj(31).decompress(cut).count(b"\n")  # lines fully recoverable
    assert 50 < intact < 290
    out = tmp_path / "x.idx"
    r = cli("index", gz, "--out", out)
    assert r.exit_code == 0, r.output
    expected = {f"{gz}:{i + 1}": "indexed" for i in range(intact)} | {f"{gz}:{intact + 1}": "unreadable"}
    acc = check_accounted(out, expected)
    reason = acc[f"{gz}:{intact + 1}"]["reason"]
    assert f"after line {intact}" in reason and "re-create" in reason
    assert acc[f"{gz}:{intact}"]["doc_id"] == f"t{intact - 1}"
    q = json.loads(lines[intact - 1])["text"]
    assert f"t{intact - 1}" in found_docs(out, q, min_tokens=30)


def test_parquet_ids_from_the_id_field_and_row_numbers(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    ids = [f"pq-{i}" for i in range(12)]
    texts: list[object] = [passage(50 + i) for i in range(12)]
    texts[4] = None  # a null text is a skipped record, not a crash
    table = pa.table({"title": [f"t{i}" for i in range(12)], "key": ids, "body": texts})
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path, row_group_size=5)  # 3 row groups
    out = tmp_path / "x.idx"
    # row groups become separate units and tasks
    build_index([path], out, BuildOptions(jobs=1, task_bytes=1,
                                          read=ReadOptions(id_field="key", text_field="body")))
    expected = {f"{path}:row {i + 1}": "indexed" for i in range(12)} | {f"{path}:row 5": "missing-text"}
    acc = check_accounted(out, expected)
    for i in (0, 5, 11):
        assert acc[f"{path}:row {i + 1}"]["doc_id"] == f"pq-{i}"
    assert found_docs(out, passage(50 + 7)) == {"pq-7"}
    assert found_docs(out, passage(50 + 11)) == {"pq-11"}

    # without the field names the file is reported with the columns it has
    r = cli("index", path, "--out", tmp_path / "y.idx")
    assert r.exit_code == 1
    assert "missing-text" in r.stderr


def test_a_damaged_parquet_file_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    # a Parquet file cut short (its footer lost, as in an interrupted download) or not Parquet at all is one
    # skipped record with the reason and the fix, as the audit and a damaged .gz have it; it stopped the whole build
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = tmp_path / "export"
    d.mkdir()
    pq.write_table(pa.table({"text": [passage(70), passage(71)]}), d / "a.parquet")
    (d / "b.parquet").write_bytes((d / "a.parquet").read_bytes()[:300])
    (d / "c.parquet").write_text("not parquet", encoding="utf-8")
    out = tmp_path / "x.idx"
    r = cli("index", d, "--out", out)
    assert r.exit_code == 0, r.stderr
    acc = check_accounted(out, {f"{d / 'a.parquet'}:row 1": "indexed", f"{d / 'a.parquet'}:row 2": "indexed",
                                str(d / "b.parquet"): "unreadable", str(d / "c.parquet"): "unreadable"})
    assert "not a readable Parquet file" in acc[str(d / "b.parquet")]["reason"]
    assert "fix: check the file, or convert it to JSONL" in acc[str(d / "c.parquet")]["reason"]
    assert found_docs(out, passage(71)) == {"a.parquet#2"}


# ------------------------------------------------------------------ paths and index directories


def test_nonexistent_source(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text(passage(60), encoding="utf-8")
    out = tmp_path / "x.idx"
    r = cli("index", good, tmp_path / "missing.txt", "--out", out)
    assert r.exit_code == 1
    assert "missing.txt" in r.stderr and "no such file or directory" in r.stderr and "fix:" in r.stderr
    assert "Traceback" not in r.output
    assert not out.exists()


def test_directory_without_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "data.csv").write_text("id,text\n1,hello\n", encoding="utf-8")
    (src / "sub" / "paper.pdf").write_bytes(b"%PDF-1.4")
    r = cli("index", src, "--out", tmp_path / "x.idx")
    assert r.exit_code == 1
    assert str(src) in r.stderr and "no input files found" in r.stderr and "*.jsonl" in r.stderr
    assert "fix:" in r.stderr


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text(passage(61), encoding="utf-8")
    out = tmp_path / "x.idx"
    assert cli("index", src, "--out", out).exit_code == 0
    before = (out / "manifest.json").read_bytes()
    src.write_text(passage(62), encoding="utf-8")
    r = cli("index", src, "--out", out)
    assert r.exit_code == 1
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert (out / "manifest.json").read_bytes() == before
    assert found_docs(out, passage(61)) == {"a.txt"}

    r = cli("index", src, "--out", out, "--force")
    assert r.exit_code == 0, r.output
    assert found_docs(out, passage(62)) == {"a.txt"} and found_docs(out, passage(61)) == set()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.idx")]  # no leftovers


def test_refuses_to_replace_a_non_index_directory_even_with_force(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text(passage(63), encoding="utf-8")
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious", encoding="utf-8")
    for extra in ([], ["--force"]):
        r = cli("index", src, "--out", out, *extra)
        assert r.exit_code == 1
        assert "fix:" in r.stderr
    assert "not an ipscope index" in r.stderr and "with --force or without" in r.stderr
    assert (out / "chapter1.tex").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["chapter1.tex"]
    # a regular file in the way is not replaced either
    f = tmp_path / "file.idx"
    f.write_text("keep", encoding="utf-8")
    assert cli("index", src, "--out", f, "--force").exit_code == 1
    assert f.read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize("kind", ["missing", "empty-dir", "random-files", "bad-json", "other-format", "version"])
def test_trace_on_something_that_is_not_an_index(tmp_path: Path, kind: str) -> None:
    idx = tmp_path / "thing"
    if kind != "missing":
        idx.mkdir()
    if kind == "random-files":
        (idx / "notes.txt").write_text("hello", encoding="utf-8")
        (idx / "sub").mkdir()
    elif kind == "bad-json":
        (idx / "manifest.json").write_text("{not json", encoding="utf-8")
    elif kind == "other-format":
        (idx / "manifest.json").write_text(json.dumps({"format": "faiss", "version": 1}), encoding="utf-8")
    elif kind == "version":
        (idx / "manifest.json").write_text(json.dumps({"format": "ipscope-index", "version": 99, "shards": []}),
                                           encoding="utf-8")
    q = tmp_path / "q.txt"
    q.write_text(passage(64), encoding="utf-8")
    r = cli("trace", idx, q)
    assert r.exit_code == 1
    assert "Traceback" not in r.output and r.stdout == ""
    assert str(idx) in r.stderr and "fix:" in r.stderr
    assert "ipscope index" in r.stderr
    if kind == "version":
        assert "version 99" in r.stderr and "--force" in r.stderr and "rebuild" in r.stderr
    with pytest.raises(IndexFormatError):
        Index.open(idx)


# ------------------------------------------------------------------ queries


@pytest.fixture()
def query_dir(tmp_path: Path) -> Path:
    d = tmp_path / "q"
    d.mkdir()
    (d / "empty.txt").write_bytes(b"")
    (d / "punct.txt").write_text("... -- !!! “” ?\n", encoding="utf-8")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 10)
    (d / "latin1.txt").write_bytes("r\u00e9sum\u00e9 of the case".encode("latin-1"))
    (d / "good.txt").write_text(BOOK[5_000:6_500], encoding="utf-8")
    return d


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.txt", ["empty", "fix:"]),
        ("punct.txt", ["empty", "fix:"]),
        ("binary.txt", ["binary", "NUL", "UTF-8"]),
        ("missing.txt", ["no such file", "fix:"]),
    ],
)
def test_bad_query(demo_index: Path, query_dir: Path, name: str, words: list[str]) -> None:
    q = query_dir / name
    r = cli("trace", demo_index, q)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert str(q) in r.stderr or name in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_bad_query_does_not_stop_the_good_ones(demo_index: Path, query_dir: Path) -> None:
    r = cli("trace", demo_index, query_dir / "punct.txt", query_dir / "good.txt", query_dir / "binary.txt", "-f", "jsonl")
    assert r.exit_code == 3  # some answered, some not
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query"] for x in lines] == [str(query_dir / n) for n in ("punct.txt", "good.txt", "binary.txt")]
    assert lines[1]["coverage"] > 0.9 and "error" not in lines[1]
    for bad, word in ((lines[0], "empty"), (lines[2], "binary")):
        assert set(bad) == {"query", "error"} and word in bad["error"]["message"] and bad["error"]["fix"]
    assert "punct.txt" in r.stderr and "binary.txt" in r.stderr and "2 of 3 queries" in r.stderr


def test_bad_query_from_stdin(demo_index: Path) -> None:
    r = cli("trace", demo_index, "-", input=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR bad bytes")
    assert r.exit_code == 1 and "<stdin>" in r.stderr and "binary" in r.stderr


def test_format_json_with_two_queries(demo_index: Path, query_dir: Path) -> None:
    r = cli("trace", demo_index, query_dir / "good.txt", query_dir / "good.txt", "--format", "json")
    assert r.exit_code == 2  # wrong usage, as docs/cli.md says
    assert "jsonl" in r.stderr and "2 queries" in r.stderr and "Usage:" in r.stderr
    assert r.stdout == ""


def test_ten_megabyte_query(demo_index: Path, tmp_path: Path) -> None:
    rng = random.Random(3)
    texts = [read(p) for p in BOOKS]
    chunks, size = [], 0
    while size < 10_000_000:  # passages of the books in a random order, with words of its own between
        t = rng.choice(texts)
        a = rng.randrange(0, len(t) - 3_000)
        piece = t[a : a + rng.randrange(500, 3_000)] + f"\n\nunrelated interlude number {rng.random()}\n\n"
        chunks.append(piece)
        size += len(piece)
    big = "".join(chunks)
    q = tmp_path / "big.txt"
    q.write_bytes(big.encode("utf-8"))
    t0 = time.perf_counter()
    r = cli("trace", demo_index, q, "-f", "json")
    elapsed = time.perf_counter() - t0
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["query_chars"] == len(big)
    assert rep["coverage"] > 0.8
    assert len(rep["spans"]) > 1000
    assert elapsed < 60
    books = {f"books/{p.name}": read(p) for p in BOOKS}
    for s in rep["spans"][:: max(1, len(rep["spans"]) // 50)]:
        src = s["sources"][0]
        q_tok = tokenize(big[s["start"] : s["end"]]).strings(big[s["start"] : s["end"]])
        doc = books[src["doc_id"]]
        s_tok = tokenize(doc[src["start"] : src["end"]]).strings(doc[src["start"] : src["end"]])
        if s["kind"] == "verbatim":
            assert q_tok == s_tok
        assert q_tok[0] == s_tok[0] and q_tok[-1] == s_tok[-1]


# ------------------------------------------------------------------ one large document


def test_large_document_split_across_parts_and_shards(tmp_path: Path) -> None:
    # CRLF, a BOM and a few non-ASCII characters; no trailing newline (see the test after this one)
    text = "\r\n\r\n".join(read(p) for p in BOOKS[:3]).rstrip()
    doc = tmp_path / "big.txt"
    doc.write_bytes(text.encode("utf-8"))
    small = tmp_path / "small.txt"
    small.write_text(passage(70), encoding="utf-8")
    out = tmp_path / "x.idx"
    # segments of 150,000 bytes (about 27,000 tokens) in shards of 20,000 tokens: split both ways
    opts = BuildOptions(jobs=1, max_shard_tokens=20_000, read=ReadOptions(segment_chars=150_000))
    res = build_index([doc, small], out, opts)
    lines = account(out)
    assert len(lines) == 2
    big_lines = [x for x in lines if x["doc_id"] == "big.txt"]
    assert len(big_lines) == 1
    line = big_lines[0]
    assert line["status"] == "indexed" and line["where"] == str(doc)
    assert line["chars"] == len(text)
    assert line["tokens"] == len(tokenize(text))
    counts = res.manifest["counts"]
    assert counts["records"] == 2 and counts["documents_indexed"] == 2 and counts["skipped"] == 0
    assert counts["chars"] == len(text) + len(passage(70))

    # the parts tile the document exactly, over several shards
    idx = Index.open(out)
    parts = sorted((int(sh.doc_offset[d]), sh.doc_text(d), sh.name) for sh in idx.shards
                   for d, i in enumerate(sh.docs["ids"]) if i == "big.txt")
    assert len(parts) > 12 and len({p[2] for p in parts}) >= 10
    assert set(line["shards"]) == {p[2] for p in parts}
    assert "".join(p[1] for p in parts) == text
    pos = 0
    for off, part_text, _ in parts:
        assert off == pos
        pos += len(part_text)

    # a passage inside one part: one verbatim span, offsets into the original file
    def check(a: int, b: int) -> None:
        pre = "xqzv wvkp jjrr. "  # words found nowhere in the corpus
        q = pre + text[a:b] + " kqqz vvxw."
        qt = tokenize(text[a:b])
        rep = trace(idx, q, "q")
        assert len(rep.spans) == 1, (a, b, rep.spans)
        span = rep.spans[0]
        assert span.kind == "verbatim" and span.tokens == len(qt)
        assert (span.start, span.end) == (len(pre) + int(qt.starts[0]), len(pre) + int(qt.ends[-1]))
        here = ("big.txt", a + int(qt.starts[0]), a + int(qt.ends[-1]))
        assert here in [(s.doc_id, s.start, s.end) for s in span.sources]
        assert text[here[1] : here[2]] == q[span.start : span.end]
        for s in span.sources:  # the licence text recurs in each book: all copies are exact
            assert tokenize(text[s.start : s.end]).hashes.tolist() == qt.hashes.tolist()
        assert span.total_occurrences == len(span.sources)

    long_parts = [p for p in parts if len(p[1]) > 5_000]
    for k in (0, len(long_parts) // 3, len(long_parts) // 2, len(long_parts) - 2, len(long_parts) - 1):
        off, part_text, _ = long_parts[k]
        a = off + part_text.index(" ", len(part_text) // 2) + 1
        b = a + part_text[a - off :].index(" ", 400)
        check(a, b)
    # a passage crossing a part boundary is found on both sides, with exact offsets
    cut = parts[len(parts) // 2][0]
    a, b = text.index(" ", cut - 600) + 1, text.index(" ", cut + 600)
    rep = trace(idx, text[a:b], "q")
    assert rep.coverage > 0.9
    for span in rep.spans:
        for s in span.sources:
            assert s.doc_id == "big.txt"
            assert tokenize(text[s.start : s.end]).strings(text[s.start : s.end]) == \
                tokenize(text[a:b][span.start : span.end]).strings(text[a:b][span.start : span.end])
            assert (s.start, s.end) == (a + span.start, a + span.end)  # the same place
    assert found_docs(out, passage(70)) == {"small.txt"}


def _split_build(tmp_path: Path, text: str) -> tuple[Path, Path]:
    doc = tmp_path / "big.txt"
    doc.write_bytes(text.encode("utf-8"))
    out = tmp_path / "x.idx"
    build_index([doc], out, BuildOptions(jobs=1, max_shard_tokens=40_000, read=ReadOptions(segment_chars=150_000)))
    return doc, out


def test_large_document_ending_with_a_newline_has_one_account_line(tmp_path: Path) -> None:
    text = "\n\n".join(read(p).replace("\r\n", "\n") for p in BOOKS[:2])
    assert text.endswith("\n")
    doc, out = _split_build(tmp_path, text)
    assert [(x["doc_id"], x["status"]) for x in account(out)] == [("big.txt", "indexed")]
    counts = Index.open(out).manifest["counts"]
    assert (counts["records"], counts["skipped"]) == (1, 0)


def test_account_lists_each_shard_once(tmp_path: Path) -> None:
    text = "\r\n\r\n".join(read(p) for p in BOOKS[:3]).rstrip()
    doc, out = _split_build(tmp_path, text)
    (line,) = account(out)
    assert len(line["shards"]) == len(set(line["shards"])) > 1


# ------------------------------------------------------------------ 1 GB (slow)


def _write_gigabyte(path: Path, target: int, rng: random.Random) -> tuple[str, int]:
    """Shuffled sentences of the demo books with random numbers between them, written in
    chunks. Returns a unique needle passage and its character offset."""
    sentences = [" ".join(s.split()) for t in (read(p) for p in BOOKS)
                 for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) >= 4 and s.isascii()]
    needle = " ".join(f"zq{rng.randrange(10**9)}" for _ in range(40))
    needle_at = None
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            parts = []
            for s in rng.choices(sentences, k=20_000):
                parts.append(s)
                parts.append(f" {rng.randrange(1_000_000)} ")
            chunk = "".join(parts) + "\n"
            if needle_at is None and written > target * 0.9:
                chunk = chunk + needle + "\n"
                needle_at = written + len(chunk) - len(needle) - 1
            f.write(chunk)
            written += len(chunk)
    assert needle_at is not None
    return needle, needle_at


@pytest.mark.slow
def test_one_gigabyte_single_document(tmp_path: Path) -> None:
    doc = tmp_path / "huge.txt"
    needle, needle_at = _write_gigabyte(doc, 1 << 30, random.Random(11))
    size = doc.stat().st_size
    assert size >= 1 << 30
    out = tmp_path / "huge.idx"
    cmd = [sys.executable, "-m", "ipscope", "index", str(doc), "--out", str(out), "-q", "-j", "2"]
    timev = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    t0 = time.perf_counter()
    if timev:
        p = subprocess.run([timev, "-v", *cmd], capture_output=True, text=True)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        peak = int(m.group(1)) * 1024 if m else None
    else:  # pragma: no cover - platforms without GNU time
        import resource

        p = subprocess.run(cmd, capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    seconds = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    assert peak is not None
    print(f"\n1 GB single document: {size / 1e9:.2f} GB in {seconds:.1f} s, peak RSS {peak / 1e9:.2f} GB")
    assert peak < 6e9

    lines = account(out)
    assert len(lines) == 1 and lines[0]["status"] == "indexed" and lines[0]["doc_id"] == "huge.txt"
    idx = Index.open(out)
    assert idx.manifest["counts"]["parts"] > 1 and idx.manifest["counts"]["shards"] > 1
    rep = trace(idx, "before it " + needle + " after it", "needle")
    assert len(rep.spans) == 1
    src = rep.spans[0].sources
    assert [(s.doc_id, s.start, s.end) for s in src] == [("huge.txt", needle_at, needle_at + len(needle))]
    with open(doc, encoding="utf-8") as f:
        f.seek(needle_at)  # the generated text is ASCII: char offset == byte offset
        assert f.read(len(needle)) == needle
