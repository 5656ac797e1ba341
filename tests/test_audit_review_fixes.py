"""Regressions from a review of ``ipscope audit`` (2026-11-27): each test failed before its fix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipscope.audit.run import AuditOptions, audit
from ipscope.cli import main


def _run(tmp_path: Path, records: list, name: str = "c.jsonl", **opts) -> list[dict]:
    src = tmp_path / name
    src.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records))
    out = tmp_path / "out"
    audit([str(src)], out, AuditOptions(force=True, **opts))
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("headers", [
    {"X-Robots-Tag": ["googlebot: noindex", "noai"]},
    [["X-Robots-Tag", "googlebot: noindex"], ["X-Robots-Tag", "noai"]],
    ["X-Robots-Tag: googlebot: noindex", "X-Robots-Tag: noai"],
    {"X-Robots-Tag": "googlebot: noindex", "x-robots-tag": "noai"},
])
def test_noai_on_its_own_x_robots_tag_line_is_for_every_crawler(tmp_path: Path, headers) -> None:
    man = _run(tmp_path, [{"id": "a", "url": "https://e.test/a", "text": "t", "headers": headers}])
    assert man[0]["decision"] == "reserved", man[0]
    assert man[0]["reasons"][0]["signal"] == "noai"


def test_noai_in_the_same_line_as_an_agent_stays_that_agents(tmp_path: Path) -> None:
    man = _run(tmp_path, [{"id": "a", "url": "https://e.test/a", "text": "t",
                           "headers": {"X-Robots-Tag": "googlebot: noindex, noai"}}])
    assert man[0]["decision"] == "allowed"  # googlebot is not an AI-training agent


def test_null_header_values_are_missing_headers_not_the_text_none(tmp_path: Path) -> None:
    man = _run(tmp_path, [{"id": "a", "url": "https://e.test/a", "text": "t",
                           "headers": {"TDM-Reservation": None, "Content-Usage": None, "X-Robots-Tag": "noai"}}])
    assert man[0]["decision"] == "reserved"
    assert "problems" not in man[0], man[0]


def _records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "url": f"https://e.test/{i}", "text": "t" * 50 + str(i)} for i in range(n)]


def test_truncated_gzip_keeps_every_complete_line_and_says_how_far_it_got(tmp_path: Path) -> None:
    import random

    lines = [json.dumps(r).encode() for r in _records(20_000)]
    random.Random(1).shuffle(lines)  # less compressible, so the file is long
    blob = gzip.compress(b"\n".join(lines) + b"\n")
    cut = blob[: int(len(blob) * 0.9)]
    src = tmp_path / "c.jsonl.gz"
    src.write_bytes(cut)
    audit([str(src)], tmp_path / "out", AuditOptions())
    man = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    # every line the damaged file still holds whole (all but the last partial one) was audited
    import zlib

    whole = zlib.decompressobj(31).decompress(cut).split(b"\n")[:-1]
    judged = [m for m in man if m["decision"] != "rejected"]
    assert len(judged) == len(whole) > 15_000
    assert man[-1]["line"] == -1 and "before the damage" in man[-1]["error"]


def test_a_bom_at_the_start_of_a_file_is_not_an_error(tmp_path: Path) -> None:
    man = _run(tmp_path, [b"\xef\xbb\xbf" + json.dumps(_records(1)[0]).encode(), *_records(2)[1:]])
    assert [m["decision"] for m in man] == ["allowed", "allowed"]


def test_rejected_integer_ids_are_written_as_strings(tmp_path: Path) -> None:
    man = _run(tmp_path, [{"id": 5, "url": "ftp://x/", "text": "t"}])
    assert man[0]["decision"] == "rejected" and man[0]["id"] == "5"


def test_summary_lists_only_the_protocols_the_run_read(tmp_path: Path) -> None:
    _run(tmp_path, _records(2))  # no --sites, no --fetch: no site file was read
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = summ["data_processing"]["tdm_reservations"]["opt_out_protocols_honoured"]
    names = {r["signal"] for r in rows}
    assert {"tdmrep", "noai", "content-usage"} <= names
    assert not names & {"robots.txt", "ai.txt", "content-signal", "license"}
    snap = tmp_path / "snap"
    snap.mkdir()
    _run(tmp_path, _records(2), sites=snap)
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    names = {r["signal"] for r in summ["data_processing"]["tdm_reservations"]["opt_out_protocols_honoured"]}
    assert {"robots.txt", "ai.txt", "content-signal"} <= names


def test_summary_counts_an_ipv6_host_once_whatever_its_port(tmp_path: Path) -> None:
    recs = [{"id": "a", "url": "https://[2001:db8::1]:8080/a", "text": "t"},
            {"id": "b", "url": "https://[2001:db8::1]/b", "text": "t"},
            {"id": "c", "url": "https://example.com:8080/c", "text": "t"},
            {"id": "d", "url": "https://example.com/d", "text": "t"}]
    _run(tmp_path, recs)
    text = (tmp_path / "out" / "summary.json").read_text()

    def totals(d, out):  # every "domains_total" of the summary (one per kind of source)
        if isinstance(d, dict):
            if "domains_total" in d:
                out.append(d["domains_total"])
            d = list(d.values())
        if isinstance(d, list):
            for v in d:
                totals(v, out)
        return out

    assert sorted(totals(json.loads(text), [])) [-1] == 2  # 3 before: the v6 host with a port counted apart
    assert "[2001:db8::1]:8080" not in text


def test_outputs_inside_the_corpus_directory_are_not_read_again(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records(5)))
    for _ in range(2):
        res = CliRunner().invoke(main, ["audit", str(corpus), "--out", str(corpus / "audit"), "--force", "-q"])
        assert res.exit_code == 0, res.output
        assert len((corpus / "audit" / "manifest.jsonl").read_text().splitlines()) == 5


def test_out_below_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(json.dumps(_records(1)[0]) + "\n")
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "afile" / "sub")])
    assert res.exit_code != 0
    assert "cannot be created" in res.output and "Traceback" not in res.output
    assert not isinstance(res.exception, NotADirectoryError)


def test_damaged_parquet_keeps_the_rows_before_the_damage_and_the_other_files(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in _records(3)))
    pq_path = tmp_path / "c.parquet"
    table = pa.Table.from_pylist(_records(4000))
    pq.write_table(table, pq_path, row_group_size=1000, compression="snappy")
    raw = bytearray(pq_path.read_bytes())
    meta = pq.ParquetFile(pq_path).metadata
    rg = meta.row_group(2).column(2)  # the text column of the third row group: damage its data
    start = rg.data_page_offset + 40
    raw[start : start + 64] = bytes(64)
    pq_path.write_bytes(bytes(raw))
    not_parquet = tmp_path / "z.parquet"
    not_parquet.write_text("not parquet")
    res = CliRunner().invoke(main, ["audit", str(good), str(pq_path), str(not_parquet),
                                    "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 0, res.output
    man = [json.loads(x) for x in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    assert sum(1 for m in man if m["source"] == str(good)) == 3
    from_pq = [m for m in man if m["source"] == str(pq_path)]
    assert len([m for m in from_pq if m["decision"] != "rejected"]) == 3000  # all but the damaged row group
    assert [m["line"] for m in from_pq if m["line"] > 0][-1] == 4000  # rows keep their numbers
    errors = [m for m in man if m["line"] == -1]
    assert any("Parquet" in m["error"] for m in errors)
    assert not (tmp_path / "o.partial").exists()


def test_reasons_say_which_agents_the_rule_was_for(tmp_path: Path) -> None:
    snap = tmp_path / "snap" / "e.test"
    snap.mkdir(parents=True)
    (snap / "robots.txt").write_text("User-agent: GPTBot\nDisallow: /g/\n\nUser-agent: *\nDisallow: /all/\n")
    man = _run(tmp_path, [{"id": "g", "url": "https://e.test/g/1", "text": "t"},
                          {"id": "a", "url": "https://e.test/all/1", "text": "t"}], sites=tmp_path / "snap")
    assert [r["agents"] for r in man[0]["reasons"]] == [["gptbot"]]
    assert [r["agents"] for r in man[1]["reasons"]] == [["*"]]


def test_snapshot_directories_that_are_not_site_keys_are_named_in_a_warning(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    for name in ("Example.com", "bücher.de", "ok.test", "xn--bcher-kva.de", "ok.test:8080"):
        (snap / name).mkdir(parents=True)
        (snap / name / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "a", "url": "https://example.com/x", "text": "t"}) + "\n")
    res = CliRunner().invoke(main, ["audit", str(src), "--sites", str(snap), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 0
    assert "2 directories of the site snapshot" in res.output and "Example.com, bücher.de" in res.output
    assert "ok.test" not in res.output.split("read:")[1]


def test_an_id_that_is_not_an_exact_integer_says_so(tmp_path: Path) -> None:
    man = _run(tmp_path, [b'{"id": 123456789012345678901234567890, "url": "https://e.test/a", "text": "t"}',
                          b'{"id": 1e3, "url": "https://e.test/b", "text": "t"}'])
    assert [m["decision"] for m in man] == ["rejected", "rejected"]
    assert all("as a string" in m["error"] for m in man)
