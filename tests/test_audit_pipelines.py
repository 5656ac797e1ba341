"""The audit's per-record API (``Auditor.decide``/``allows``) and its pipeline uses: the same records through
``ipscope audit``, ``decide``, a real ``datasets.Dataset.filter`` and a real datatrove ``LocalPipelineExecutor``
give the same decisions; and every manifest line says which signals could not be consulted (``not_checked``).

The site files are real: ``tests/data/sites/snapshot`` (10minutemail.com's robots.txt from the protego suite, the
first tdmrep.json example of the W3C TDMRep report), ``tests/data/robots/icon-icons.com`` (a real robots.txt that
disallows CCBot) and ``tests/data/audit-pipeline/ai.robots.txt`` (the robots.txt the ai.robots.txt project
publishes, disallowing GPTBot and every other AI crawler of its list). The records carry the examples of the
specifications each signal comes from; each says which.
"""

from __future__ import annotations

import dataclasses
import http.server
import importlib
import json
import pickle
import shutil
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO
from ipscope.audit import AuditOptions, Auditor, AuditRecord
from ipscope.audit import run as audit_run
from ipscope.cli import main
from ipscope.errors import InputError, MissingExtraError

DATA = REPO / "tests" / "data"
NO_SITE_FILES = "no site files given (--sites or --fetch)"


def make_snapshot(root: Path) -> Path:
    snap = root / "snap"
    shutil.copytree(DATA / "sites" / "snapshot", snap)
    (snap / "icon-icons.com").mkdir()
    shutil.copyfile(DATA / "robots" / "icon-icons.com", snap / "icon-icons.com" / "robots.txt")
    (snap / "ai-robots.example").mkdir()
    shutil.copyfile(DATA / "audit-pipeline" / "ai.robots.txt", snap / "ai-robots.example" / "robots.txt")
    return snap


def records() -> list[tuple[dict, str, str | None]]:
    """(record, decision, the signal that decides it) — ``ipscope audit --sites`` over ``make_snapshot``."""
    return [
        # the W3C TDMRep example file of 10minutemail.com's snapshot: location "/", tdm-reservation 1
        ({"id": "tdm-file", "url": "https://10minutemail.com/", "text": "inbox"}, "reserved", "tdmrep"),
        # TDMRep: a tdm-reservation header of 0 (the spec's header technique) overrides the well-known file
        ({"id": "tdm-header-0", "url": "https://10minutemail.com/faq", "text": "faq",
          "headers": {"tdm-reservation": "0"}}, "allowed", "tdmrep"),
        # the snapshot's ai.txt (User-Agent: * / Disallow: /)
        ({"id": "ai-txt", "url": "http://example.org:8080/img/a.jpg", "text": "a picture"}, "reserved", "ai.txt"),
        # icon-icons.com's real robots.txt: "User-agent: CCBot ... Disallow: /"
        ({"id": "ccbot", "url": "https://icon-icons.com/icon/home/1", "text": "icon"}, "reserved", "robots.txt"),
        # the ai.robots.txt project's robots.txt: GPTBot (and the rest of its list) "Disallow: /"
        ({"id": "gptbot", "url": "https://ai-robots.example/post/1", "text": "post"}, "reserved", "robots.txt"),
        # a site with no file in the snapshot (404s): nothing reserves, and nothing is left unread
        ({"id": "open", "url": "https://www.gutenberg.org/ebooks/1342", "text": "It is a truth universally "
          "acknowledged", "license": "CC0-1.0"}, "allowed", None),
        # DeviantArt's header directive "X-Robots-Tag: noai"
        ({"id": "noai", "url": "https://www.gutenberg.org/ebooks/84", "text": "Frankenstein",
          "headers": {"X-Robots-Tag": "noai"}}, "reserved", "noai"),
        # draft-ietf-aipref-attach: "Content-Usage: train-ai=n"
        ({"id": "aipref", "url": "https://www.gutenberg.org/ebooks/11", "text": "Alice",
          "headers": {"Content-Usage": "train-ai=n"}}, "reserved", "content-usage"),
        # the W3C TDMRep report's second header example (tdm-reservation 1 with a tdm-policy)
        ({"id": "tdm-headers", "url": "https://www.gutenberg.org/ebooks/2701", "text": "Moby Dick",
          "headers": {"tdm-reservation": "1", "tdm-policy": "https://provider.com/policies/policy.json"}},
         "reserved", "tdmrep"),
        # the W3C TDMRep report's HTML example: <meta name="tdm-reservation" content="1">
        ({"id": "tdm-meta", "url": "https://www.gutenberg.org/ebooks/98", "text": "A Tale of Two Cities",
          "html": '<html><head><meta name="tdm-reservation" content="1"><meta name="tdm-policy" '
                  'content="https://provider.com/policies/policy.json"></head><body></body></html>'},
         "reserved", "tdmrep"),
        # the EPUB 3 fixture carrying the TDMRep report's EPUB metadata example (tdm:reservation 1)
        ({"id": "epub", "url": "https://www.gutenberg.org/ebooks/1661.epub3", "text": "Sherlock Holmes",
          "media_path": str(DATA / "tdmrep" / "reserved-epub3.epub")}, "reserved", "tdmrep"),
        # the C2PA fixtures: c2pa.ai_training notAllowed, and every cawg. entry allowed
        ({"id": "c2pa-no", "url": "https://www.gutenberg.org/files/x.png", "text": "figure",
          "media_path": str(DATA / "c2pa" / "c2pa-not-allowed.png")}, "reserved", "c2pa"),
        ({"id": "c2pa-yes", "url": "https://www.gutenberg.org/files/y.jpg", "text": "figure",
          "media_path": str(DATA / "c2pa" / "all-allowed.jpg")}, "allowed", None),
        # records that cannot be judged (docs/audit/index.md, "Bad input")
        ({"id": "ftp", "url": "ftp://ftp.gutenberg.org/pub/1342.txt", "text": "t"}, "rejected", None),
        ({"id": "no-url", "url": None, "text": "t"}, "rejected", None),
        ({"id": "bad-url", "url": "https://[::1/x", "text": "t"}, "rejected", None),
    ]


def write_corpus(path: Path, recs: list[dict]) -> list[dict]:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return recs


def cli_audit(corpus: Path, out: Path, *extra: str) -> tuple[list[dict], str]:
    r = CliRunner().invoke(main, ["audit", str(corpus), "--out", str(out), *extra])
    assert r.exit_code == 0, r.output
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()], r.output


def _step_stats(logs: Path) -> dict[str, int]:
    """The audit step's counters from datatrove's stats.json (a counter is a number, or {"total": n, ...})."""
    step = json.loads((logs / "stats.json").read_text())[1]["stats"]
    return {k: v["total"] if isinstance(v, dict) else v for k, v in step.items()}


@pytest.fixture
def c2pa_cache():
    audit_run._c2pa_usable.cache_clear()
    yield
    audit_run._c2pa_usable.cache_clear()


# ------------------------------------------------------------------------------- one decision, four ways


def test_cli_decide_dataset_filter_and_datatrove_agree(tmp_path: Path) -> None:
    from datasets import Dataset
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    from ipscope.audit.datatrove import AuditFilter

    snap = make_snapshot(tmp_path)
    cases = records()
    recs = [r for r, _, _ in cases]
    corpus = tmp_path / "in" / "part-0.jsonl"
    corpus.parent.mkdir()
    write_corpus(corpus, recs[:9])
    write_corpus(tmp_path / "in" / "part-1.jsonl", recs[9:])
    opts = AuditOptions(sites=snap)

    # 1. the CLI, and what the cases say it decides
    manifest, _ = cli_audit(tmp_path / "in", tmp_path / "out", "--sites", str(snap))
    assert [m["id"] for m in manifest] == [r["id"] for r in recs]
    for m, (rec, decision, signal) in zip(manifest, cases):
        assert m["decision"] == decision, m
        assert "not_checked" not in m, m  # every site file was read (a 404 is an answer)
        if signal is not None:
            assert signal in {x["signal"] for x in m["reasons"]}, m
    decisions = {m["id"]: m["decision"] for m in manifest}
    assert Counter(decisions.values()) == {"reserved": 10, "allowed": 3, "rejected": 3}

    # 2. decide(): the manifest line itself, key for key
    auditor = Auditor(opts)
    for m in manifest:
        src = Path(m["source"])
        line = src.read_text(encoding="utf-8").splitlines()[m["line"] - 1]
        got = auditor.decide(json.loads(line), {"source": m["source"], "line": m["line"]})
        assert isinstance(got, AuditRecord)
        assert got.to_dict() == m
        assert auditor.allows(json.loads(line)) is (m["decision"] == "allowed")

    # 3. a real datasets.Dataset.filter. Every row has every column (from_list takes its columns from the first
    # row); Arrow gives a field a row lacks, and a header name another row has, as null
    fields = ("id", "url", "text", "headers", "html", "license", "media_path")
    ds = Dataset.from_list([{k: r.get(k) for k in fields} for r in recs])
    assert ds[8]["headers"]["X-Robots-Tag"] is None and ds[8]["html"] is None  # the nulls are there
    kept = ds.filter(Auditor(opts).allows)
    assert kept["id"] == [i for i, d in decisions.items() if d == "allowed"]
    verdicts = ds.map(lambda row: {"decision": auditor.decide(row).decision})
    assert dict(zip(verdicts["id"], verdicts["decision"])) == decisions

    # 4. a real datatrove pipeline, two tasks in two worker processes (the filter is pickled to each)
    ex = LocalPipelineExecutor(
        pipeline=[JsonlReader(str(tmp_path / "in")),
                  AuditFilter(opts, exclusion_writer=JsonlWriter(str(tmp_path / "dt-dropped"))),
                  JsonlWriter(str(tmp_path / "dt-kept"))],
        tasks=2, workers=2, logging_dir=str(tmp_path / "dt-logs"))
    stats = ex.run()

    def docs(d: str) -> list[dict]:
        import gzip

        return [json.loads(x) for f in sorted((tmp_path / d).glob("*.jsonl.gz"))
                for x in gzip.open(f, "rt", encoding="utf-8")]

    kept_docs, dropped_docs = docs("dt-kept"), docs("dt-dropped")
    assert sorted(d["id"] for d in kept_docs) == sorted(i for i, d in decisions.items() if d == "allowed")
    assert sorted(d["id"] for d in dropped_docs) == sorted(i for i, d in decisions.items() if d != "allowed")
    by_id = {m["id"]: m for m in manifest}
    for d in kept_docs + dropped_docs:
        line = d["metadata"]["ipscope_audit"]
        want = dict(by_id[d["id"]])
        # datatrove tells the step the file (metadata file_path), not the line
        assert line.pop("source") == want.pop("source") and line.pop("line") is None
        want.pop("line")
        assert line == want
        if d in dropped_docs:
            assert d["metadata"]["filter_reason"] == want["decision"]
    step = _step_stats(tmp_path / "dt-logs")
    assert step["dropped_reserved"] == 10 and step["dropped_rejected"] == 3
    reserved_by = Counter(s for m in manifest if m["decision"] == "reserved"
                          for s in dict.fromkeys(r["signal"] for r in m["reasons"]))
    assert {k.removeprefix("reserved_by_"): v for k, v in step.items() if k.startswith("reserved_by_")} \
        == dict(reserved_by)
    assert not any(k.startswith("not_checked_") for k in step)
    assert stats is not None


def test_datatrove_step_counts_what_was_not_checked(tmp_path: Path) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader

    from ipscope.audit.datatrove import AuditFilter

    (tmp_path / "in").mkdir()
    write_corpus(tmp_path / "in" / "c.jsonl", [r for r, _, _ in records()][:6])
    LocalPipelineExecutor(pipeline=[JsonlReader(str(tmp_path / "in")), AuditFilter(AuditOptions())],
                          tasks=1, workers=1, logging_dir=str(tmp_path / "logs")).run()
    step = _step_stats(tmp_path / "logs")
    # no site files: robots.txt, ai.txt, the TDMRep file and the robots.txt lines of Content-Signal and
    # Content-Usage were consulted for none of the 6 records
    for sig in ("robots.txt", "ai.txt", "tdmrep", "content-signal", "content-usage"):
        assert step[f"not_checked_{sig}"] == 6, sig


def test_the_datatrove_step_without_its_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "datatrove" or m.startswith("datatrove.")] or ["datatrove"]:
        monkeypatch.setitem(sys.modules, name, None)  # what an environment without datatrove gives
    monkeypatch.delitem(sys.modules, "ipscope.audit.datatrove", raising=False)
    with pytest.raises(MissingExtraError) as e:
        importlib.import_module("ipscope.audit.datatrove")
    assert "ipscope[datatrove]" in e.value.fix


# ------------------------------------------------------------------------------------------- decide()


def test_decide_without_where_and_bad_records(tmp_path: Path) -> None:
    auditor = Auditor(AuditOptions(sites=make_snapshot(tmp_path)))
    rec = {"url": "https://ai-robots.example/post/2", "text": "post"}
    got = auditor.decide(rec)
    # a pipeline's record without an id keeps none; source and line are null
    assert got.to_dict()["id"] is None and got.source is None and got.line is None and not got.id_assigned
    assert got.decision == "reserved" and got.reserved_by == ("robots.txt",)
    with_where = auditor.decide(rec, {"source": "crawl/part-3.jsonl", "line": 7})
    assert with_where.id == "part-3.jsonl#7" and with_where.to_dict()["id_assigned"] is True
    assert with_where.to_dict()["source"] == "crawl/part-3.jsonl" and with_where.line == 7
    for bad in (["not", "a", "record"], "https://example.com/", 5):
        r = auditor.decide(bad)  # type: ignore[arg-type]
        assert r.decision == "rejected" and "not a mapping" in (r.error or "") and not auditor.allows(bad)
    assert auditor.decide({"id": 3, "text": "t"}).to_dict() == {
        "id": "3", "url": None, "decision": "rejected", "reasons": [], "license": None, "source": None, "line": None,
        "error": "no url: every record needs a 'url' (the http(s) address the text was collected from)"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.decision = "allowed"  # type: ignore[misc]
    # its hand-written __init__ (one store for all fields) keeps the dataclass's fields, order and defaults
    assert list(vars(got)) == [f.name for f in dataclasses.fields(AuditRecord)]
    assert dataclasses.replace(got, decision="allowed") == AuditRecord(**{**vars(got), "decision": "allowed"})
    assert vars(AuditRecord("i", "u", "allowed")) == {
        f.name: f.default for f in dataclasses.fields(AuditRecord) if f.default is not dataclasses.MISSING} | {
        "id": "i", "url": "u", "decision": "allowed"}


def test_an_auditor_pickles_as_its_options(tmp_path: Path) -> None:
    auditor = Auditor(AuditOptions(sites=make_snapshot(tmp_path), policy="agent", agents=("CCBot",)))
    recs = [r for r, _, _ in records()]
    before = [auditor.decide(r) for r in recs]
    again = pickle.loads(pickle.dumps(auditor))
    assert again.sites == {} and again.opts == auditor.opts
    assert [again.decide(r) for r in recs] == before
    # under --policy agent --agent CCBot: icon-icons.com's CCBot group reserves, and so does the ai.robots.txt
    # file (CCBot is in its list); 10minutemail.com's TDMRep file is for everyone
    by_id = {r["id"]: v.decision for r, v in zip(recs, before)}
    assert (by_id["ccbot"], by_id["gptbot"], by_id["tdm-file"], by_id["open"]) == \
        ("reserved", "reserved", "reserved", "allowed")


def test_auditor_checks_its_options() -> None:
    with pytest.raises(InputError, match="--agent"):
        Auditor(AuditOptions(policy="agent"))
    with pytest.raises(InputError, match="together"):
        Auditor(AuditOptions(sites=Path("."), fetch=True))
    with pytest.raises(InputError, match="not a directory"):
        Auditor(AuditOptions(sites=Path("/nonexistent/snapshot")))


# ------------------------------------------------------------------------------------ what was not read


def test_a_gptbot_disallow_without_site_files_is_allowed_but_says_robots_txt_was_not_read(tmp_path: Path) -> None:
    rec = {"id": "gptbot", "url": "https://ai-robots.example/post/1", "text": "post"}
    write_corpus(tmp_path / "c.jsonl", [rec])
    man, said = cli_audit(tmp_path / "c.jsonl", tmp_path / "no-sites")
    m = man[0]
    assert m["decision"] == "allowed" and m["reasons"] == []
    assert {"signal": "robots.txt", "input": "/robots.txt", "why": NO_SITE_FILES} in m["not_checked"]
    assert {n["signal"] for n in m["not_checked"]} == {"robots.txt", "content-signal", "content-usage", "ai.txt",
                                                       "tdmrep", "rsl"}
    # the terminal says so, with the fix, even with --quiet
    for out in (said, cli_audit(tmp_path / "c.jsonl", tmp_path / "q", "-q")[1]):
        assert "warning: no site files given" in out and "--sites DIR" in out and "--fetch" in out
    assert "signals that could not be consulted" in " ".join(said.split())  # the table (rich wraps its title)
    # with the site files, the same record is reserved by the ai.robots.txt file's GPTBot rule
    man, said = cli_audit(tmp_path / "c.jsonl", tmp_path / "sites", "--sites", str(make_snapshot(tmp_path)))
    assert man[0]["decision"] == "reserved" and [r["signal"] for r in man[0]["reasons"]] == ["robots.txt"]
    assert "not_checked" not in man[0] and "no site files given" not in said
    # decide() gives the same two answers
    assert Auditor(AuditOptions()).decide(rec).not_checked[0].signal == "robots.txt"
    assert not Auditor(AuditOptions()).decide({"url": "ftp://x/", "text": "t"}).not_checked  # rejected: not judged


def test_the_summary_names_only_the_protocols_read(tmp_path: Path) -> None:
    recs = [r for r, _, _ in records()]
    write_corpus(tmp_path / "c.jsonl", recs)
    cli_audit(tmp_path / "c.jsonl", tmp_path / "o")
    summ = json.loads((tmp_path / "o" / "summary.json").read_text())
    tdm = summ["data_processing"]["tdm_reservations"]
    honoured = {r["signal"] for r in tdm["opt_out_protocols_honoured"]}
    assert honoured == {"tdmrep", "noai", "content-usage", "c2pa"}
    judged = sum(1 for _, d, _ in records() if d != "rejected")
    rows = {(r["signal"], r["input"]): r for r in tdm["opt_out_protocols_not_checked"]}
    assert set(rows) == {("robots.txt", "/robots.txt"), ("content-signal", "/robots.txt"),
                         ("content-usage", "/robots.txt"), ("ai.txt", "/ai.txt"),
                         ("tdmrep", "/.well-known/tdmrep.json"), ("rsl", "licence documents")}
    assert all(r["documents"] == judged and r["why"] == NO_SITE_FILES for r in rows.values())
    assert "Not checked: " in tdm["measures_description"] and "robots.txt: no site files given" in \
        tdm["measures_description"]
    md = (tmp_path / "o" / "summary.md").read_text(encoding="utf-8")
    assert "Opt-out protocols **not checked**" in md and "| robots.txt | /robots.txt | no site files given" in md
    # with site files nothing is left unread, and the site protocols are honoured
    cli_audit(tmp_path / "c.jsonl", tmp_path / "s", "--sites", str(make_snapshot(tmp_path)))
    tdm = json.loads((tmp_path / "s" / "summary.json").read_text())["data_processing"]["tdm_reservations"]
    assert tdm["opt_out_protocols_not_checked"] == []
    assert {"robots.txt", "ai.txt", "content-signal"} <= {r["signal"] for r in tdm["opt_out_protocols_honoured"]}
    assert "not checked" not in (tmp_path / "s" / "summary.md").read_text(encoding="utf-8")


def test_a_failed_fetch_is_named(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    # a loopback site is refused by the SSRF guard without --allow-private: nothing is fetched. robots.txt's
    # RFC 9309 rule for an unreachable file (complete disallow) decides, so robots.txt is not "not checked";
    # what its lines would have said (Content-Signal, Content-Usage), ai.txt and tdmrep.json were not read
    rec = {"id": "x", "url": "http://127.0.0.1:9/page", "text": "t"}
    got = Auditor(AuditOptions(fetch=True, cache_dir=tmp_path / "cache")).decide(rec)
    assert got.decision == "reserved" and got.reserved_by == ("robots.txt",)
    assert {(n.signal, n.why) for n in got.not_checked} == {
        ("content-signal", "fetch failed (see problems)"), ("content-usage", "fetch failed (see problems)"),
        ("ai.txt", "fetch failed (see problems)"), ("tdmrep", "fetch failed (see problems)")}
    assert any(p.signal == "ai.txt" for p in got.problems)


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """A site whose robots.txt and tdmrep.json answer 503 (RFC 9309 §2.3.1.4's "unreachable" status) and whose
    ai.txt is missing (404: an answer)."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(404 if self.path == "/ai.txt" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a) -> None:
        pass


def test_a_5xx_is_named(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        rec = {"id": "x", "url": f"http://127.0.0.1:{srv.server_address[1]}/page", "text": "t"}
        got = Auditor(AuditOptions(fetch=True, allow_private=True, cache_dir=tmp_path / "cache")).decide(rec)
    finally:
        srv.shutdown()
    # the 503 robots.txt is a complete disallow (it decides); the Content-Signal / Content-Usage lines it would
    # hold and the 503 tdmrep.json were not read; the 404 ai.txt was (the site has none)
    assert got.reserved_by == ("robots.txt",) and "HTTP 503" in got.reasons[0].evidence
    assert {(n.signal, n.input, n.why) for n in got.not_checked} == {
        ("content-signal", "/robots.txt", "HTTP 503"), ("content-usage", "/robots.txt", "HTTP 503"),
        ("tdmrep", "/.well-known/tdmrep.json", "HTTP 503")}


def test_an_unreadable_snapshot_file_is_named(tmp_path: Path) -> None:
    snap = make_snapshot(tmp_path)
    (snap / "www.gutenberg.org" / "ai.txt").mkdir(parents=True)  # a directory where the file should be
    got = Auditor(AuditOptions(sites=snap)).decide({"id": "o", "url": "https://www.gutenberg.org/", "text": "t"})
    assert got.decision == "allowed"
    assert [n.to_dict() for n in got.not_checked] == [
        {"signal": "ai.txt", "input": "/ai.txt", "why": "snapshot file unreadable (see problems)"}]
    assert any("cannot read" in p.message for p in got.problems)


def test_media_not_read_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, c2pa_cache: None) -> None:
    recs = [{"id": "gone", "url": "https://www.gutenberg.org/a.pdf", "text": "t",
             "media_path": str(tmp_path / "missing.pdf")},
            {"id": "png", "url": "https://www.gutenberg.org/x.png", "text": "t",
             "media_path": str(DATA / "c2pa" / "c2pa-not-allowed.png")}]
    auditor = Auditor(AuditOptions(sites=make_snapshot(tmp_path)))
    gone, png = (auditor.decide(r) for r in recs)
    assert [n.to_dict() for n in gone.not_checked] == [
        {"signal": "tdmrep", "input": "media_path", "why": "the media file could not be read (see problems)"}]
    assert png.decision == "reserved" and not png.not_checked
    # without the c2pa extra (as an environment without c2pa-python imports it): the image's reservation is not
    # seen, and the record says why instead of coming out silently allowed
    monkeypatch.setitem(sys.modules, "c2pa", None)
    audit_run._c2pa_usable.cache_clear()
    png = auditor.decide(recs[1])
    assert png.decision == "allowed"
    assert [n.to_dict() for n in png.not_checked] == [
        {"signal": "c2pa", "input": "media_path", "why": "the c2pa extra is not installed (pip install 'ipscope[c2pa]')"}]
    assert not png.problems
    write_corpus(tmp_path / "c.jsonl", recs)
    _, said = cli_audit(tmp_path / "c.jsonl", tmp_path / "o", "--sites", str(tmp_path / "snap"))
    assert "C2PA manifests in the media files of 1 record were not read" in said and "ipscope[c2pa]" in said
    tdm = json.loads((tmp_path / "o" / "summary.json").read_text())["data_processing"]["tdm_reservations"]
    assert "c2pa" not in {r["signal"] for r in tdm["opt_out_protocols_honoured"]}
    assert {(r["signal"], r["documents"]) for r in tdm["opt_out_protocols_not_checked"]} == {("c2pa", 1),
                                                                                              ("tdmrep", 1)}


def test_not_checked_counts_do_not_depend_on_how_the_entries_are_shared() -> None:
    from ipscope.audit.summary import SummaryBuilder
    from ipscope.types import NotChecked

    # records of one site share one tuple of entries, and the builder counts a run of them at once: the counts
    # must be those of counting every record on its own, whatever the sharing, the order and the merging
    a = tuple(NotChecked(s, p, "no site files given (--sites or --fetch)")
              for s, p in (("robots.txt", "/robots.txt"), ("tdmrep", "/.well-known/tdmrep.json")))
    b = a + (NotChecked("tdmrep", "media_path", "the media file could not be read (see problems)"),)
    seq = [a, a, b, a, b, b, a]
    meta = {"agents": [], "policy": "any-ai-agent", "inputs": [], "generated_at": "t"}

    def built(parts: list[list[tuple]], copy: bool) -> tuple[list, dict]:
        builders = []
        for part in parts:
            sb = SummaryBuilder()
            for t in part:
                sb.add_not_checked(tuple(list(t)) if copy else t)  # a copy is another object with equal entries
            builders.append(sb)
        for other in builders[1:]:
            builders[0].merge(other)
        rows = builders[0].to_dict(**meta)["data_processing"]["tdm_reservations"]["opt_out_protocols_not_checked"]
        return rows, builders[0].not_checked_by_signal()

    want = built([seq], copy=True)
    assert want[1] == {"robots.txt": 7, "tdmrep": 7}  # b names tdmrep twice: one record, counted once
    assert {(r["signal"], r["input"]): r["documents"] for r in want[0]} == {
        ("robots.txt", "/robots.txt"): 7, ("tdmrep", "/.well-known/tdmrep.json"): 7, ("tdmrep", "media_path"): 3}
    assert built([seq], copy=False) == want
    assert built([seq[:3], seq[3:5], seq[5:]], copy=False) == want

    # a worker hands its builder back as state() (JSON) in the middle of a run of shared entries: nothing lost
    import orjson

    sb = SummaryBuilder()
    for t in seq[:2]:
        sb.add_not_checked(t)
    back = SummaryBuilder.from_state(orjson.loads(orjson.dumps(sb.state())))
    rest = SummaryBuilder()
    for t in seq[2:]:
        rest.add_not_checked(t)
    back.merge(rest)
    assert back.not_checked_by_signal() == want[1]
