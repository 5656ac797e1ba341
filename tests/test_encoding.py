"""Text files and queries in any encoding (corpus/encoding.py): decoding, indexing, tracing, the bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TESTDATA, need_shared
from ipscope.cli import main
from ipscope.corpus.encoding import BinaryInputError, UndecodableError, check_encoding, decode
from ipscope.corpus.query import decode_query, read_query
from ipscope.corpus.readers import ReadOptions, Unit, read_unit
from ipscope.errors import InputError
from ipscope.index import BuildOptions, Index, build_index
from ipscope.text import tokenize
from ipscope.trace import TraceOptions, trace
from ipscope.types import Document

ENC = TESTDATA / "encodings"

# legacy file -> (codec it must be read in, what decides it, its UTF-8 twin, whether the text starts with a BOM)
FIXTURES = {
    "study-in-scarlet.cp1252.txt": ("cp1252", "detected", "study-in-scarlet.utf8.txt", False),
    "study-in-scarlet-2.utf-16.txt": ("utf-16-le", "bom", "study-in-scarlet-2.utf8.txt", True),
    "study-in-scarlet-2.utf-16-be.txt": ("utf-16-be", "detected", "study-in-scarlet-2.utf8.txt", False),
    "lunyu.gb18030.txt": ("gb18030", "detected", "lunyu.utf8.txt", False),
    "lunyu.utf-16-le.txt": ("utf-16-le", "detected", "lunyu.utf8.txt", False),
    "genesis.big5.txt": ("big5", "detected", "genesis.utf8.txt", False),
    "rust-by-example-ja.cp932.txt": ("cp932", "detected", "rust-by-example-ja.utf8.txt", False),
}


def twin(name: str) -> str:
    _enc, _how, utf8, bom = FIXTURES[name]
    return ("\ufeff" if bom else "") + (ENC / utf8).read_text(encoding="utf-8")


def cli(*args: object, input: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def account(idx: Path) -> dict[str, dict]:
    lines = [json.loads(x) for x in (idx / "account.jsonl").read_text(encoding="utf-8").splitlines()]
    return {Path(x["where"]).name: x for x in lines}


def words(s: str) -> list[str]:
    return tokenize(s).strings(s)


# ------------------------------------------------------------------------------ decode


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_decodes_to_its_text(name: str) -> None:
    enc, how, _utf8, _bom = FIXTURES[name]
    d = decode((ENC / name).read_bytes())
    assert (d.encoding, d.how, d.replacements) == (enc, how, 0)
    assert d.text == twin(name)


def test_real_latin1_file_keeps_its_pound_sign() -> None:
    data = (ENC / "mansfield-park.latin-1.txt").read_bytes()
    d = decode(data)
    assert (d.encoding, d.how) == ("iso8859-1", "detected")
    assert "\u00a320,000" in d.text and d.text == data.decode("latin-1")


def test_cp1252_quotes_are_not_read_as_latin1_control_codes() -> None:
    d = decode((ENC / "study-in-scarlet.cp1252.txt").read_bytes())
    assert "\u201cGregson" in d.text and not any("\x80" <= c <= "\x9f" for c in d.text)


def test_given_encoding_overrides_detection() -> None:
    data = (ENC / "study-in-scarlet.cp1252.txt").read_bytes()
    d = decode(data, "latin-1")
    assert (d.encoding, d.how) == ("iso8859-1", "given")
    assert "\x93" in d.text  # what Latin-1 makes of a curly quote: the user asked for it


def test_utf8_stays_utf8_and_bom_is_kept() -> None:
    d = decode("\ufeffcaf\u00e9".encode("utf-8"))
    assert (d.text, d.encoding, d.how) == ("\ufeffcaf\u00e9", "utf-8", "bom")
    assert decode(b"plain ascii").how == "utf-8"


def test_unknown_encoding_names_the_fix() -> None:
    with pytest.raises(InputError) as e:
        check_encoding("no-such-codec")
    assert "no-such-codec" in e.value.message and "cp1252" in (e.value.fix or "")
    with pytest.raises(InputError):
        check_encoding("base64")  # a codec, but bytes-to-bytes: not a text encoding


def test_binary_data_is_binary() -> None:
    with pytest.raises(BinaryInputError):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([None, "utf-8", "cp1252", "utf-16", "gb18030", "big5", "cp932"]),
       st.sampled_from(["strict", "replace"]))
def test_decode_returns_text_or_raises_input_error(data: bytes, encoding: str | None, errors: str) -> None:
    try:
        d = decode(data, encoding, errors)  # type: ignore[arg-type]
    except InputError:
        assert errors == "strict" or encoding is None  # replace raises only for binary data
        return
    assert isinstance(d.text, str) and d.replacements >= 0
    assert d.how in ("bom", "utf-8", "detected", "given")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ \u00e9\u00e8\u00fc\u00df\u2019\u201c\u201d.,;\n\u5b66\u800c",
               min_size=4, max_size=400),
       st.sampled_from(["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]))
def test_utf16_and_utf32_without_bom_round_trip(text: str, codec: str) -> None:
    # mostly-Latin text without a byte-order mark: recognised by its zero bytes, decoded exactly
    if sum(c < "\x80" for c in text) * 2 < len(text):
        return  # the zero pattern needs ASCII characters; mostly-CJK UTF-16 is tested with the fixtures
    d = decode(text.encode(codec))
    assert (d.text, d.encoding, d.how) == (text, codec, "detected")


# ------------------------------------------------------------------------ bad inputs


def _stray(name: str, at: tuple[int, int], byte: bytes) -> tuple[bytes, str]:
    """The fixture ``name`` with ``byte`` inserted before characters ``at`` (its codec cannot read it),
    and the text decoding with replacement must give."""
    enc = FIXTURES[name][0]
    t = twin(name)
    a, b = at
    data = t[:a].encode(enc) + byte + t[a:b].encode(enc) + byte + t[b:].encode(enc)
    return data, t[:a] + "\ufffd" + t[a:b] + "\ufffd" + t[b:]


@pytest.mark.parametrize(("name", "byte"), [("lunyu.gb18030.txt", b"\xff"), ("genesis.big5.txt", b"\xff"),
                                           ("study-in-scarlet.cp1252.txt", b"\x81"),
                                           ("rust-by-example-ja.cp932.txt", b"\x85")])
def test_legacy_text_with_a_few_stray_bytes(name: str, byte: bytes) -> None:
    # 99% one legacy encoding: the encoding is still found, the stray bytes are errors (strict) or
    # counted U+FFFD (replace), and nothing else of the text changes
    n = len(twin(name))
    data, want = _stray(name, (n // 3, 2 * n // 3), byte)
    with pytest.raises(UndecodableError) as e:
        decode(data)
    assert e.value.encoding == FIXTURES[name][0] and "--encoding-errors replace" in (e.value.fix or "")
    d = decode(data, errors="replace")
    assert (d.encoding, d.replacements, d.text) == (FIXTURES[name][0], 2, want)


def test_stray_bytes_in_a_file_skip_it_or_are_counted(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    n = len(twin("lunyu.gb18030.txt"))
    data, want = _stray("lunyu.gb18030.txt", (n // 3, 2 * n // 3), b"\xff")
    (src / "lunyu.txt").write_bytes(data)
    (src / "good.txt").write_bytes((ENC / "genesis.big5.txt").read_bytes())
    out = tmp_path / "x.idx"
    r = cli("index", src, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    acc = account(out)
    assert acc["lunyu.txt"]["code"] == "undecodable"
    assert "gb18030" in acc["lunyu.txt"]["reason"] and "--encoding-errors replace" in acc["lunyu.txt"]["reason"]
    assert acc["good.txt"]["status"] == "indexed"
    r = cli("index", src, "--out", out, "-q", "--force", "--encoding-errors", "replace")
    assert r.exit_code == 0, r.output
    acc = account(out)
    assert acc["lunyu.txt"]["status"] == "indexed"
    assert (acc["lunyu.txt"]["encoding"], acc["lunyu.txt"]["replacements"]) == ("gb18030", 2)
    assert "replacements" not in acc["good.txt"]
    shard = Index.open(out).shards[0]
    texts = {shard.doc_id(d): shard.doc_text(d) for d in range(len(shard.docs["ids"]))}
    assert texts["lunyu.txt"] == want


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])
def test_empty_file_with_a_bom(tmp_path: Path, bom: bytes) -> None:
    (tmp_path / "empty.txt").write_bytes(bom)
    (tmp_path / "good.txt").write_bytes((ENC / "lunyu.gb18030.txt").read_bytes())
    out = tmp_path / "x.idx"
    r = cli("index", tmp_path / "empty.txt", tmp_path / "good.txt", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert account(out)["empty.txt"]["code"] == "empty"
    q = decode_query(bom, "empty.txt")
    assert q.text == "\ufeff" and q.how == "bom"
    r = cli("trace", out, tmp_path / "empty.txt")
    assert r.exit_code == 1 and "empty" in r.stderr and "Traceback" not in r.output


def test_utf16_without_bom_is_text_not_binary(tmp_path: Path) -> None:
    for name in ("study-in-scarlet-2.utf-16-be.txt", "lunyu.utf-16-le.txt"):
        shutil.copy(ENC / name, tmp_path / name)
    out = tmp_path / "x.idx"
    build_index([tmp_path], out, BuildOptions(jobs=1, passages=False))
    acc = account(out)
    assert acc["study-in-scarlet-2.utf-16-be.txt"]["encoding"] == "utf-16-be"
    assert acc["lunyu.utf-16-le.txt"]["encoding"] == "utf-16-le"
    assert {a["encoding_how"] for a in acc.values()} == {"detected"}


def test_bad_encoding_name_is_a_usage_error(tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text("some words", encoding="utf-8")
    for args in (("trace", tmp_path / "none.idx", q), ("similar", tmp_path / "none.idx", q),
                 ("index", q, "--out", tmp_path / "x.idx")):
        r = cli(*args, "--encoding", "klingon")
        assert r.exit_code == 2, (args, r.output)
        assert "unknown text encoding 'klingon'" in r.output and "cp1252" in r.output


# ------------------------------------------------------------- indexing and tracing


@pytest.fixture(scope="module")
def legacy_index(tmp_path_factory) -> Path:
    """The legacy fixtures indexed with the defaults (passage layers included)."""
    d = tmp_path_factory.mktemp("legacy")
    src = d / "in"
    src.mkdir()
    for name in FIXTURES:
        shutil.copy(ENC / name, src / name)
    shutil.copy(ENC / "mansfield-park.latin-1.txt", src / "mansfield-park.latin-1.txt")
    out = d / "legacy.idx"
    build_index([src], out, BuildOptions(jobs=1))
    return out


@pytest.fixture(scope="module")
def utf8_index(tmp_path_factory) -> Path:
    """The UTF-8 twins indexed: the corpus the legacy queries come from."""
    d = tmp_path_factory.mktemp("twins")
    src = d / "in"
    src.mkdir()
    for name in {v[2] for v in FIXTURES.values()}:
        shutil.copy(ENC / name, src / name)
    out = d / "twins.idx"
    build_index([src], out, BuildOptions(jobs=1))
    return out


def test_legacy_files_are_indexed_intact(legacy_index: Path) -> None:
    acc = account(legacy_index)
    for name, (enc, how, _utf8, _bom) in FIXTURES.items():
        assert acc[name]["status"] == "indexed", acc[name]
        assert (acc[name]["encoding"], acc[name]["encoding_how"]) == (enc, how)
        assert "replacements" not in acc[name]
    assert acc["mansfield-park.latin-1.txt"]["encoding"] == "iso8859-1"
    idx = Index.open(legacy_index)
    texts = {s.doc_id(d): s.doc_text(d) for s in idx.shards for d in range(len(s.docs["ids"]))}
    for name in FIXTURES:
        assert texts[name] == twin(name)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_trace_offsets_point_at_the_decoded_characters(legacy_index: Path, name: str) -> None:
    # the query: a stretch of the document's text in UTF-8; every source offset must cut the same words
    # out of the decoded document (not out of its bytes)
    text = twin(name)
    query = text[len(text) // 4: len(text) // 4 + 400]
    rep = trace(Index.open(legacy_index), query, "q", TraceOptions(min_tokens=6))
    assert rep.coverage > 0.9
    for span in rep.spans:
        src = [s for s in span.sources if s.doc_id == name]
        assert src, span
        assert words(text[src[0].start:src[0].end]) == words(query[span.start:span.end])


def test_legacy_queries_trace_and_similar_to_their_source(utf8_index: Path) -> None:
    names = sorted(FIXTURES)
    r = cli("trace", utf8_index, *[ENC / n for n in names], "-f", "jsonl", "-n", "6")
    assert r.exit_code == 0, r.output
    reps = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(reps) == len(names)
    for name, rep in zip(names, reps):
        assert rep["coverage"] > 0.9, (name, rep["coverage"])
        assert rep["documents"][0]["doc_id"] == FIXTURES[name][2]
    r = cli("similar", utf8_index, *[ENC / n for n in names], "-f", "jsonl", "--no-semantic")
    assert r.exit_code == 0, r.output
    reps = [json.loads(x) for x in r.stdout.splitlines()]
    for name, rep in zip(names, reps):
        assert rep["results"][0]["doc_id"] == FIXTURES[name][2], name
        assert rep["results"][0]["label"] in ("copy", "near-copy")


def test_query_text_says_how_it_was_read() -> None:
    q = read_query(ENC / "genesis.big5.txt")
    assert (q.encoding, q.how, q.detected) == ("big5", "detected", True)
    assert q.text == twin("genesis.big5.txt") and q.source_sha256 is not None
    q = read_query(ENC / "genesis.utf8.txt")
    assert (q.encoding, q.how, q.source_sha256) == ("utf-8", "utf-8", None)
    q = read_query(ENC / "genesis.big5.txt", "big5")
    assert (q.how, q.detected) == ("given", False)


def test_query_detection_gets_wrong_and_encoding_fixes_it(utf8_index: Path, tmp_path: Path) -> None:
    # six characters of Genesis 1:6 in Big5 are also valid Korean (Johab), and read so; --encoding big5
    # reads them right, and the query says which encoding it was read in
    text = "神說：「諸水"
    q = tmp_path / "short.txt"
    q.write_bytes(text.encode("big5"))
    wrong = read_query(q)
    assert wrong.text != text and wrong.how == "detected" and wrong.encoding != "big5"
    right = read_query(q, "big5")
    assert (right.text, right.encoding, right.how) == (text, "big5", "given")
    r = cli("trace", utf8_index, q, "-f", "json", "-n", "4")
    assert r.exit_code == 0 and json.loads(r.stdout)["coverage"] == 0.0
    r = cli("trace", utf8_index, q, "-f", "json", "-n", "4", "--encoding", "big5")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["coverage"] == 1.0 and rep["documents"][0]["doc_id"] == "genesis.utf8.txt"


# ------------------------------------------------------------------ large files


@pytest.mark.parametrize("name", ["lunyu.gb18030.txt", "study-in-scarlet.cp1252.txt", "genesis.big5.txt",
                                  "study-in-scarlet-2.utf-16.txt", "lunyu.utf-16-le.txt"])
def test_large_file_path_detects_on_a_sample_and_decodes_in_parts(name: str) -> None:
    # the segmented path (files larger than segment_chars): the same encoding, the same text
    path = ENC / name
    unit = Unit("text", str(path), path.stat().st_size, doc_id=name)
    parts = list(read_unit(unit, ReadOptions(segment_chars=700)))
    assert len(parts) > 1 and all(isinstance(p, Document) for p in parts)
    assert "".join(p.text for p in parts) == twin(name)  # type: ignore[union-attr]
    assert parts[0].account["encoding"] == FIXTURES[name][0]  # type: ignore[union-attr]
    assert all(p.offset == sum(len(q.text) for q in parts[:i]) for i, p in enumerate(parts))  # type: ignore


def test_large_file_with_stray_bytes(tmp_path: Path) -> None:
    n = len(twin("lunyu.gb18030.txt"))
    data, want = _stray("lunyu.gb18030.txt", (n // 3, 2 * n // 3), b"\xff")
    p = tmp_path / "big.txt"
    p.write_bytes(data)
    unit = Unit("text", str(p), len(data), doc_id="big.txt")
    (skipped,) = list(read_unit(unit, ReadOptions(segment_chars=700)))
    assert skipped.code == "undecodable" and "gb18030" in skipped.reason  # type: ignore[union-attr]
    parts = list(read_unit(unit, ReadOptions(segment_chars=700, encoding_errors="replace")))
    assert "".join(p.text for p in parts) == want  # type: ignore[union-attr]
    assert sum(p.account.get("replacements", 0) for p in parts) == 2  # type: ignore[union-attr]


def test_large_file_given_encoding(tmp_path: Path) -> None:
    path = ENC / "study-in-scarlet.cp1252.txt"
    unit = Unit("text", str(path), path.stat().st_size, doc_id="s")
    parts = list(read_unit(unit, ReadOptions(segment_chars=700, encoding="cp1252")))
    assert parts[0].account == {"encoding": "cp1252", "encoding_how": "given", "segmented": True}  # type: ignore[union-attr]


# ------------------------------------------------------------------ shared data


def test_mansfield_park_is_indexed_whole(tmp_path: Path) -> None:
    # the real Gutenberg file that is Latin-1 for one £ at byte 891,181: indexed, not skipped
    book = need_shared("gutenberg/141.txt")
    out = tmp_path / "mp.idx"
    build_index([book], out, BuildOptions(jobs=1, passages=False))
    acc = account(out)["141.txt"]
    assert (acc["status"], acc["encoding"], acc["encoding_how"]) == ("indexed", "iso8859-1", "detected")
    text = book.read_bytes().decode("latin-1")
    at = text.index("\u00a320,000")
    rep = trace(Index.open(out), text[at - 300: at + 300], "q")
    assert rep.coverage > 0.95
    src = rep.spans[0].sources[0]
    assert words(text[src.start:src.end]) == words(text[at - 300: at + 300][rep.spans[0].start:rep.spans[0].end])
