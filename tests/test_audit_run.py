"""``ipscope audit`` end to end: decisions with evidence, nothing lost, bad input, live fetching."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipscope.audit.policy import Policy, known_agents
from ipscope.audit.run import AuditOptions, audit
from ipscope.cli import main

ROBOTS = b"User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: OAI-SearchBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
TDMREP = b'[{"location": "/books/*", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy.json"}]'


def _snapshot(root: Path) -> Path:
    snap = root / "snap"
    (snap / "example.com" / ".well-known").mkdir(parents=True)
    (snap / "example.com" / "robots.txt").write_bytes(ROBOTS)
    (snap / "example.com" / ".well-known" / "tdmrep.json").write_bytes(TDMREP)
    (snap / "news.test").mkdir()
    (snap / "news.test" / "robots.txt").write_bytes(b"User-agent: *\nDisallow: /\n")
    (snap / "images.test").mkdir()
    (snap / "images.test" / "ai.txt").write_bytes(b"User-Agent: *\nDisallow: *.jpg\n")
    (snap / "broken.test" / ".well-known").mkdir(parents=True)
    (snap / "broken.test" / "robots.txt").write_bytes(b"\x00\xff\xfe" * 1000 + b"\nUser-agent: *\nDisallow: /x\n")
    (snap / "broken.test" / ".well-known" / "tdmrep.json").write_bytes(b'{"location": 5}')
    (snap / "huge.test").mkdir()
    (snap / "huge.test" / "robots.txt").write_bytes(b"# pad\n" * 120_000 + b"User-agent: *\nDisallow: /\n")
    return snap


RECORDS: list[tuple[dict | bytes, str, str | None]] = [
    # (record or raw line, expected decision, expected deciding signal)
    ({"id": "gpt", "url": "https://example.com/private/a.html", "text": "t"}, "reserved", "robots.txt"),
    ({"id": "search-only", "url": "https://example.com/open/a.html", "text": "t"}, "allowed", None),
    ({"id": "book", "url": "https://example.com/books/b.html", "text": "t", "license": "CC-BY-NC-4.0"},
     "reserved", "tdmrep"),
    ({"id": "book-0", "url": "https://example.com/books/c.html", "text": "t", "headers": {"TDM-Reservation": "0"}},
     "allowed", None),
    ({"id": "noai", "url": "https://example.com/open/c", "text": "t", "headers": {"X-Robots-Tag": "noai"}},
     "reserved", "noai"),
    ({"id": "noimageai-text", "url": "https://example.com/open/d", "text": "t",
      "headers": {"X-Robots-Tag": "noimageai"}}, "allowed", None),
    ({"id": "meta", "url": "https://example.com/open/e", "text": "t",
      "html": '<head><meta name="tdm-reservation" content="1"></head>'}, "reserved", "tdmrep"),
    ({"id": "cu", "url": "https://example.com/open/f", "text": "t", "headers": [["Content-Usage", "train-ai=n"]]},
     "reserved", "content-usage"),
    ({"id": 42, "url": "https://news.test/x", "text": "t"}, "reserved", "robots.txt"),
    ({"id": "jpg", "url": "https://images.test/a.jpg", "text": "t"}, "reserved", "ai.txt"),
    ({"id": "html-page", "url": "https://images.test/a.html", "text": "t"}, "allowed", None),
    ({"id": "broken", "url": "https://broken.test/x/1", "text": "t"}, "reserved", "robots.txt"),
    ({"id": "broken-ok", "url": "https://broken.test/y", "text": "t"}, "allowed", None),
    ({"id": "huge", "url": "https://huge.test/y", "text": "t"}, "allowed", None),  # rule past the 500 KiB cut
    ({"id": "nosite", "url": "https://other.org/", "text": "t"}, "allowed", None),
    ({"id": "ftp", "url": "ftp://x/y", "text": "t"}, "rejected", None),
    (b"not json at all", "rejected", None),
    (b'{"id": "bad-utf8", "url": "https://other.org/", "text": "\xff\xfe"}', "rejected", None),
    ({"url": "https://other.org/", "text": "no id"}, "allowed", None),  # an id is assigned: c.jsonl#19
    ({"id": "no-text", "url": "https://other.org/"}, "rejected", None),
    ({"id": "no-url", "text": "t"}, "rejected", None),
    (b"[1, 2, 3]", "rejected", None),
]


def _write_corpus(path: Path, records=RECORDS) -> list[bytes]:
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r, _, _ in records]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def _read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]


def test_every_record_decided_with_evidence_and_nothing_lost(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    lines = _write_corpus(tmp_path / "c.jsonl")
    res = audit([str(tmp_path / "c.jsonl")], tmp_path / "out", AuditOptions(sites=snap))
    man = _read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert len(man) == len(RECORDS) == res.total
    for m, (rec, decision, signal) in zip(man, RECORDS):
        assert m["decision"] == decision, (rec, m)
        if signal:
            assert [r["signal"] for r in m["reasons"]] == [signal], m
            assert all(r["where"] and r["evidence"] for r in m["reasons"])
        if decision == "rejected":
            assert m["error"] and m["line"] >= 1
    assert [m["line"] for m in man] == list(range(1, len(RECORDS) + 1))  # input order
    # every record in exactly one output file, byte for byte
    out = {d: (tmp_path / "out" / f"{d}.jsonl").read_bytes().splitlines() for d in ("allowed", "reserved", "rejected")}
    for line, (_, decision, _) in zip(lines, RECORDS):
        assert line in out[decision]
    assert sum(len(v) for v in out.values()) == len(lines)
    by_id = {m["id"]: m for m in man if m["id"] is not None}
    assert by_id["42"]["decision"] == "reserved"  # integer ids are accepted, written as strings
    assert by_id["book"]["license"] == {"raw": "CC-BY-NC-4.0", "spdx": "CC-BY-NC-4.0", "category": "non-commercial"}
    assert "tdm-policy" in by_id["book"]["reasons"][0]["evidence"]
    assert "invalid UTF-8" in man[17]["error"]
    # a record without an id gets its file's name and line, and says so; the others keep theirs
    assert man[18]["id"] == "c.jsonl#19" and man[18]["id_assigned"] is True
    assert all("id_assigned" not in m for i, m in enumerate(man) if i != 18)
    # bad site files are reported, not fatal
    assert any(p["signal"] == "tdmrep" for p in by_id["broken-ok"]["problems"])
    assert any("truncated" in p["message"] for p in by_id["huge"]["problems"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary and (tmp_path / "out" / "summary.md").read_text().startswith("#")
    assert res.counts == Counter(d for _, d, _ in RECORDS)


def test_policy_agent_honours_only_the_named_agents(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    _write_corpus(tmp_path / "c.jsonl", RECORDS[:2])
    audit([str(tmp_path / "c.jsonl")], tmp_path / "a", AuditOptions(sites=snap, policy="agent", agents=("MyBot",)))
    assert [m["decision"] for m in _read_jsonl(tmp_path / "a" / "manifest.jsonl")] == ["allowed", "allowed"]
    audit([str(tmp_path / "c.jsonl")], tmp_path / "b",
          AuditOptions(sites=snap, policy="agent", agents=("OAI-SearchBot",)))
    # a search bot named explicitly counts, though it is not a training agent (Disallow: / for it)
    assert [m["decision"] for m in _read_jsonl(tmp_path / "b" / "manifest.jsonl")] == ["reserved", "reserved"]
    audit([str(tmp_path / "c.jsonl")], tmp_path / "c", AuditOptions(sites=snap))
    # by default the search-only bot's rule does not count, GPTBot's does
    assert [m["decision"] for m in _read_jsonl(tmp_path / "c" / "manifest.jsonl")] == ["reserved", "allowed"]


def test_training_agents_exclude_search_and_user_agents() -> None:
    agents = {a.name: a.training for a in known_agents()}
    assert agents["GPTBot"] and agents["CCBot"] and agents["Google-Extended"] and agents["ClaudeBot"]
    assert not agents["OAI-SearchBot"] and not agents["ChatGPT-User"] and not agents["Claude-SearchBot"]
    assert "googlebot" not in Policy.make("any-ai-agent").agent_set


def test_gzip_and_parquet_corpora(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    snap = _snapshot(tmp_path)
    good = [r for r, _, _ in RECORDS[:3]]
    with gzip.open(tmp_path / "c.jsonl.gz", "wb") as f:
        f.write(b"\n".join(json.dumps(r).encode() for r in good) + b"\n")
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "url": r["url"], "text": r["text"]} for r in good]),
                   tmp_path / "c.parquet")
    res = audit([str(tmp_path / "c.jsonl.gz"), str(tmp_path / "c.parquet")], tmp_path / "o", AuditOptions(sites=snap))
    man = _read_jsonl(tmp_path / "o" / "manifest.jsonl")
    assert [m["decision"] for m in man] == ["reserved", "allowed", "reserved"] * 2
    assert res.total == 6


def test_cli_exit_codes_and_refusals(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path)
    _write_corpus(tmp_path / "c.jsonl")
    run = CliRunner().invoke
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--sites", str(snap), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "reserved" in r.output and "manifest" in r.output
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--sites", str(snap), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "--force" in r.output
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--sites", str(snap), "--out", str(tmp_path / "o"), "--force",
                   "-q"])
    assert r.exit_code == 0
    (tmp_path / "notaudit").mkdir()
    (tmp_path / "notaudit" / "precious.txt").write_text("keep me")
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "notaudit"), "--force"])
    assert r.exit_code == 1 and (tmp_path / "notaudit" / "precious.txt").exists()
    # a file or another directory at --out: refused with the same words with --force or without (it said "pass
    # --force to replace it", then refused with --force)
    (tmp_path / "notes.txt").write_text("keep me")
    for target in ("notes.txt", "notaudit"):
        said = [run(main, ["audit", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / target), *extra]).output
                for extra in ([], ["--force"])]
        assert said[0] == said[1] and "not an ipscope audit" in said[0] and "pass --force" not in said[0]
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    r = run(main, ["audit", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "no such file" in r.output and "Traceback" not in r.output
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "y"), "--policy", "agent"])
    assert r.exit_code == 1 and "--agent" in r.output
    r = run(main, ["audit", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "y"), "--sites", str(snap), "--fetch"])
    assert r.exit_code == 1 and "together" in r.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["id", "url", "text", "headers", "html", "license", "media_path"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=40), st.lists(st.text(max_size=10)),
                              st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)),
                    max_size=7).map(lambda d: json.dumps(d).encode()),
), max_size=25))
def test_arbitrary_lines_never_crash_and_counts_in_equal_counts_out(tmp_path: Path, lines: list[bytes]) -> None:
    lines = [x.replace(b"\n", b" ").replace(b"\r", b" ") for x in lines]
    corpus = tmp_path / "h.jsonl"
    corpus.write_bytes(b"\n".join(lines) + b"\n")
    res = audit([str(corpus)], tmp_path / "h.out", AuditOptions(force=True))
    bom = b"\xef\xbb\xbf"  # skipped at the start of a file: a first line of only a BOM is an empty line
    n_in = sum(1 for k, x in enumerate(lines) if (x[3:] if k == 0 and x.startswith(bom) else x).strip())
    assert res.total == n_in
    n_out = sum(len((tmp_path / "h.out" / f"{d}.jsonl").read_bytes().splitlines())
                for d in ("allowed", "reserved", "rejected"))
    assert n_out == n_in == len((tmp_path / "h.out" / "manifest.jsonl").read_bytes().splitlines())


class _Site(http.server.BaseHTTPRequestHandler):
    files = {"/robots.txt": (200, b"User-agent: *\nDisallow: /members/\n"), "/ai.txt": (404, b""),
             "/.well-known/tdmrep.json": (503, b"")}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        status, body = self.files.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:
        pass


@pytest.fixture
def site_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Site.hits = []
    yield srv.server_address[1]
    srv.shutdown()


def test_fetch_from_a_real_server_on_loopback(tmp_path: Path, site_server: int) -> None:
    pytest.importorskip("aiohttp")
    base = f"http://127.0.0.1:{site_server}"
    recs = [{"id": "1", "url": f"{base}/members/a", "text": "t"}, {"id": "2", "url": f"{base}/open/b", "text": "t"}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    cache = tmp_path / "cache"
    opts = AuditOptions(fetch=True, allow_private=True, cache_dir=cache)
    audit([str(tmp_path / "c.jsonl")], tmp_path / "o", opts)
    man = _read_jsonl(tmp_path / "o" / "manifest.jsonl")
    assert [m["decision"] for m in man] == ["reserved", "allowed"]
    assert man[0]["reasons"][0]["where"].startswith(f"{base}/robots.txt")
    assert sorted(set(_Site.hits)) == ["/.well-known/tdmrep.json", "/ai.txt", "/robots.txt"]
    n = len(_Site.hits)
    audit([str(tmp_path / "c.jsonl")], tmp_path / "o", AuditOptions(fetch=True, allow_private=True, cache_dir=cache,
                                                                   force=True))
    assert len(_Site.hits) == n, "a second run within the TTL must come from the cache"
    # without --allow-private nothing is fetched; the site is unreachable, which RFC 9309 treats as disallow
    audit([str(tmp_path / "c.jsonl")], tmp_path / "p", AuditOptions(fetch=True, cache_dir=tmp_path / "cache2"))
    assert len(_Site.hits) == n
    man = _read_jsonl(tmp_path / "p" / "manifest.jsonl")
    assert [m["decision"] for m in man] == ["reserved", "reserved"]
    assert any("--allow-private" in p["message"] for p in man[0].get("problems", []))


def test_agent_policy_uses_the_agents_own_group_before_the_star_group(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    for host, robots in (("own.test", b"User-agent: *\nDisallow: /\n\nUser-agent: GPTBot\nAllow: /\n"),
                         ("star.test", b"User-agent: *\nDisallow: /\n")):
        (snap / host).mkdir(parents=True)
        (snap / host / "robots.txt").write_bytes(robots)
    recs = [{"id": "own", "url": "https://own.test/a", "text": "t"}, {"id": "star", "url": "https://star.test/a", "text": "t"}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    audit([str(tmp_path / "c.jsonl")], tmp_path / "o", AuditOptions(sites=snap, policy="agent", agents=("GPTBot",)))
    man = _read_jsonl(tmp_path / "o" / "manifest.jsonl")
    assert [m["decision"] for m in man] == ["allowed", "reserved"]
    assert man[1]["reasons"][0]["evidence"] == "Disallow: /"
    # under any-ai-agent the "*" group's rule counts for own.test too (AI agents without a group of their own)
    audit([str(tmp_path / "c.jsonl")], tmp_path / "p", AuditOptions(sites=snap))
    assert [m["decision"] for m in _read_jsonl(tmp_path / "p" / "manifest.jsonl")] == ["reserved", "reserved"]


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"https?://[a-z0-9.]{1,12}(:[0-9]{1,4})?([/?#][ -~]{0,30})?", fullmatch=True))
def test_path_of_agrees_with_urlsplit(url: str) -> None:
    from urllib.parse import urlsplit

    from ipscope.audit.run import _path_of
    from ipscope.audit.sites import site_key

    if site_key(url) is None:
        return
    p = urlsplit(url)
    has_query = "?" in url.split("#", 1)[0].split("://", 1)[1]  # an empty query ("/a?") is kept
    assert _path_of(url) == (p.path or "/") + (f"?{p.query}" if has_query else "")


def test_an_empty_query_is_matched_as_protego_does() -> None:
    from protego import Protego

    from ipscope.audit.run import _path_of
    from ipscope.audit.signals.robots import parse_robots

    text = "User-agent: *\nDisallow: /a?\n"
    mine, theirs = parse_robots(text.encode(), "t"), Protego.parse(text)
    for url in ("http://e.com/a?", "http://e.com/a", "http://e.com/a?b", "http://e.com/a?#f"):
        assert mine.allowed(_path_of(url)) == theirs.can_fetch(url, "x"), url


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=12), st.integers(), st.lists(st.text(max_size=5))),
                       max_size=8))
def test_headers_object_and_pair_list_read_the_same(headers: dict) -> None:
    from ipscope.audit.records import _headers

    a_notes: list[str] = []
    b_notes: list[str] = []
    assert _headers(headers, a_notes) == _headers([[k, v] for k, v in headers.items()], b_notes)
    assert a_notes == b_notes


_SIGNAL_TAGS = (
    '<meta name="robots" content="noai">', '<meta name="robots" content="noimageai">',
    '<meta name="GPTBot" content="noindex, noimageai">', '<meta http-equiv="X-Robots-Tag" content="noai">',
    '<meta name="tdm-reservation" content="1">', '<meta name="tdm-policy" content="https://e.example/p.json">',
    '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">',
    '<a rel="nofollow license" href="/terms">terms</a>',
    '<script type="application/ld+json">{"@type": "Article", "license": "CC-BY-4.0"}</script>',
)
_FILLER = ('<p>plain text</p>', '<meta name="description" content="a page">', '<a href="/x">x</a>', ' ', '\n')


def _mixed_case(draw_bits: list[bool], s: str) -> str:
    return "".join(c.upper() if (draw_bits[i % len(draw_bits)] and c.isalpha()) else c for i, c in enumerate(s))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(_SIGNAL_TAGS + _FILLER), st.lists(st.booleans(), min_size=1,
                                                                                    max_size=7)), max_size=6),
       image=st.booleans())
def test_a_page_is_skipped_only_when_scanning_it_would_find_nothing(parts: list[tuple[str, list[bool]]],
                                                                    image: bool) -> None:
    """The substring pre-test (_may_hold_signals) must never skip a page whose scan yields a finding that
    counts for the record (noimageai counts for images only) or a licence source, whatever the letter case."""
    from ipscope.audit import licences
    from ipscope.audit.page import scan_html
    from ipscope.audit.run import _may_hold_signals
    from ipscope.audit.signals import noai, tdmrep

    page = "<html><head>" + "".join(_mixed_case(bits, tag) for tag, bits in parts) + "</head></html>"
    if _may_hold_signals(page, image):
        return
    scanned = scan_html(page)
    assert [f for f in noai.html_findings(scanned) if image or f.signal != "noimageai"] == []
    assert tdmrep.read_html(scanned) == ([], [])
    assert licences.classify(None, scanned).category == "unspecified"
    assert licences.classify(None, scanned).raw is None


def test_noimageai_alone_in_a_page_reserves_an_image_record(tmp_path: Path) -> None:
    """Regression: the page pre-test looked for "noai", which "noimageai" does not contain."""
    img = tmp_path / "cat.jpg"
    img.write_bytes(b"\xff\xd8\xff\xd9")
    rec = {"id": "img", "url": "https://img.example/cat.jpg", "text": "a cat", "media_path": str(img),
           "html": '<html><head><meta name="robots" content="noimageai"></head></html>'}
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps(rec) + "\n")
    res = audit([str(corpus)], tmp_path / "out", AuditOptions())
    line = _read_jsonl(tmp_path / "out" / "manifest.jsonl")[0]
    assert res.counts["reserved"] == 1, line
    assert [r["signal"] for r in line["reasons"]] == ["noimageai"]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n")), chunk=st.integers(1, 40))
def test_lines_reader_splits_like_bytes_split_at_any_chunk_size(data: bytes, chunk: int) -> None:
    import io

    from ipscope.corpus.records import chunks as _chunks, lines as _lines

    want = data.split(b"\n")
    if want and want[-1] == b"":  # a final newline ends the last line; it does not start an empty one
        want.pop()
    assert list(_lines(_chunks(io.BytesIO(data), chunk))) == want
