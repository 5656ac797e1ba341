"""``ipscope audit --exclude-domains FILE`` (src/ipscope/audit/exclude.py).

Cases: the issue's bad input ("an exclude list with blank lines, comments, upper case, IDN domains and a
wildcard"), each a test; malformed lines, each an error naming file:line and the fix. Host names are real ones
from ../shared/data/robots (the snapshot uses their real robots.txt files); the IDN examples are those of UTS #46
and the IDNA documentation that sites.site_key follows (bücher.de = xn--bcher-kva.de; faß.de = xn--fa-hia.de
under non-transitional processing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipscope.audit.exclude import SIGNAL, load
from ipscope.audit.run import AuditOptions, audit
from ipscope.audit.summary import MEASURES, PROTOCOLS
from ipscope.cli import main
from ipscope.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SHARED_ROBOTS = REPO.parent / "shared" / "data" / "robots"
REAL = ["bitbucket.org", "www.congress.gov", "docs.oracle.com"]  # named by the robots.txt parity notes


def _list(tmp_path: Path, text: str, name: str = "excluded.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _audit(tmp_path: Path, urls: list[str], lists: list[Path], **opts) -> list[dict]:
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "url": u, "text": "t"}) + "\n" for i, u in enumerate(urls)),
                   encoding="utf-8")
    audit([str(src)], tmp_path / "out", AuditOptions(force=True, exclude_domains=tuple(lists), **opts))
    return [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _excluded(m: dict) -> bool:
    return m["decision"] == "reserved" and [r["signal"] for r in m["reasons"]] == [SIGNAL]


def test_blank_lines_and_comments_are_skipped_and_lines_counted(tmp_path: Path) -> None:
    p = _list(tmp_path, "# sites recognised as infringing\n\n   \nbitbucket.org   # by a court, 2024\n\n"
                        "\t# indented comment\nwww.congress.gov\n")
    ex = load([p])
    assert len(ex) == 2 and ex.describe() == [{"list": str(p), "domains": 2}]
    assert ex.match("bitbucket.org").line == 4 and ex.match("www.congress.gov").line == 7
    man = _audit(tmp_path, ["https://bitbucket.org/a", "https://www.congress.gov/bill", "https://docs.oracle.com/"],
                 [p])
    assert [_excluded(m) for m in man] == [True, True, False]
    assert man[0]["reasons"] == [{"signal": "excluded-domain", "where": f"{p} line 4",
                                  "evidence": "excluded domain: bitbucket.org", "agents": ["*"]}]


def test_upper_case_in_the_list_and_in_the_url(tmp_path: Path) -> None:
    p = _list(tmp_path, "BitBucket.ORG\nwww.Congress.GOV.\n")  # a trailing dot too
    man = _audit(tmp_path, ["https://bitbucket.org/x", "https://BITBUCKET.org/y", "https://www.congress.gov./z"], [p])
    assert all(_excluded(m) for m in man)
    assert man[0]["reasons"][0]["evidence"] == "excluded domain: BitBucket.ORG"  # the line as written


@pytest.mark.parametrize(("listed", "url"), [
    ("bücher.de", "https://xn--bcher-kva.de/buch"),  # Unicode in the list, ASCII form in the URL
    ("xn--bcher-kva.de", "https://bücher.de/buch"),  # and the other way round
    ("BÜCHER.de", "https://www.bücher.de/"),  # upper case Unicode, a subdomain
    ("faß.de", "https://xn--fa-hia.de/"),  # UTS #46 non-transitional: faß.de is not fass.de
])
def test_idn_domains_in_unicode_or_punycode(tmp_path: Path, listed: str, url: str) -> None:
    man = _audit(tmp_path, [url, "https://fass.de/", "https://example.de/"], [_list(tmp_path, listed + "\n")])
    assert [_excluded(m) for m in man] == [True, False, False]


def test_a_leading_wildcard_means_the_domain_and_its_subdomains(tmp_path: Path) -> None:
    p = _list(tmp_path, "*.congress.gov\n")
    man = _audit(tmp_path, ["https://congress.gov/", "https://www.congress.gov/a", "https://a.b.congress.gov/",
                            "https://notcongress.gov/", "https://congress.gov.example/"], [p])
    assert [_excluded(m) for m in man] == [True, True, True, False, False]
    assert man[1]["reasons"][0]["evidence"] == "excluded domain: *.congress.gov"


def test_subdomains_ports_and_addresses(tmp_path: Path) -> None:
    p = _list(tmp_path, "oracle.com\n192.0.2.7\n2001:db8::1\n")
    man = _audit(tmp_path, ["https://docs.oracle.com:8443/x", "http://oracle.com/", "https://myoracle.com/",
                            "http://192.0.2.7/a", "http://10.192.0.2.7/", "http://[2001:db8:0::1]:8080/"], [p])
    assert [_excluded(m) for m in man] == [True, True, False, True, False, True]


def test_several_lists_each_named_in_the_evidence(tmp_path: Path) -> None:
    a = _list(tmp_path, "bitbucket.org\n", "court-a.txt")
    b = _list(tmp_path, "# duplicate of court-a\nbitbucket.org\nwww.congress.gov\n", "court-b.txt")
    man = _audit(tmp_path, ["https://bitbucket.org/", "https://www.congress.gov/"], [a, b])
    assert man[0]["reasons"][0]["where"] == f"{a} line 1"  # the first list that names it
    assert man[1]["reasons"][0]["where"] == f"{b} line 3"
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    exc = summ["data_processing"]["tdm_reservations"]["excluded_domains"]
    assert exc["lists"] == [{"list": str(a), "domains": 1}, {"list": str(b), "domains": 2}]
    assert exc["documents_reserved"] == 2


@pytest.mark.skipif(not SHARED_ROBOTS.is_dir(), reason="../shared/data/robots is absent")
def test_an_excluded_sites_files_are_not_read_and_the_exclusion_is_the_only_reason(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    for host in REAL:
        (snap / host).mkdir(parents=True)
        (snap / host / "robots.txt").write_bytes((SHARED_ROBOTS / host).read_bytes())
    (snap / "www.congress.gov" / "robots.txt").write_bytes(b"User-agent: *\nDisallow: /\n")
    p = _list(tmp_path, "www.congress.gov\n")
    man = _audit(tmp_path, ["https://www.congress.gov/", "https://bitbucket.org/"], [p], sites=snap)
    assert man[0]["reasons"] == [{"signal": "excluded-domain", "where": f"{p} line 1",
                                  "evidence": "excluded domain: www.congress.gov", "agents": ["*"]}]
    assert "problems" not in man[0]
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    rows = summ["data_processing"]["tdm_reservations"]["opt_out_protocols_honoured"]
    assert SIGNAL not in {r["signal"] for r in rows}  # the provider's measure, not an opt-out protocol
    assert "exclusion list" in summ["data_processing"]["tdm_reservations"]["measures_description"]
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "**Excluded domains**" in md and "1 document(s) excluded" in md
    assert SIGNAL in MEASURES and SIGNAL not in PROTOCOLS


@pytest.mark.parametrize(("text", "line", "says", "fix"), [
    ("ok.example\nhttps://bitbucket.org/some/page\n", 2, "is a URL", "write the domain only (bitbucket.org)"),
    ("bitbucket.org:443\n", 1, "has a port", "without a port"),
    ("www.*.congress.gov\n", 1, "only as a leading '*.'", "*.example.com"),
    ("*congress.gov\n", 1, "only as a leading '*.'", "*.example.com"),
    ("*\n", 1, "only as a leading '*.'", "*.example.com"),
    ("*.\n", 1, "is not a domain name", "write a host name"),
    ("bitbucket.org www.congress.gov\n", 1, "more than one name", "one domain a line"),
    ("exa mple.com\n", 1, "more than one name", "one domain a line"),
    ("bad_chars!.com\n", 1, "is not a domain name", "write a host name"),
    ("a..b.com\n", 1, "is not a domain name", "write a host name"),
    ("1.2.3\n", 1, "neither a domain name nor an IPv4 address", "192.0.2.1"),
    ("*.192.0.2.1\n", 1, "cannot apply to an IP address", "the address alone"),
])
def test_malformed_lines_name_the_file_line_and_fix(tmp_path: Path, text: str, line: int, says: str, fix: str) -> None:
    p = _list(tmp_path, text)
    with pytest.raises(InputError) as e:
        load([p])
    assert e.value.message.startswith(f"{p}:{line}: ") and says in e.value.message
    assert fix in e.value.fix


def test_unreadable_lists(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ok.example\nb\xfccher.de\n")
    with pytest.raises(InputError, match=r"latin1.txt:2: invalid UTF-8"):
        load([bad])
    binary = tmp_path / "list.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
    with pytest.raises(InputError, match="binary file"):
        load([binary])
    with pytest.raises(InputError, match="cannot be read"):
        load([tmp_path / "missing.txt"])
    with pytest.raises(InputError, match="a directory"):
        load([tmp_path])
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfbitbucket.org\r\n")  # a Windows editor's list: BOM and CRLF
    assert load([bom]).match("bitbucket.org").line == 1


def test_cli_error_leaves_no_output_and_the_option_works(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "1", "url": "https://www.congress.gov/", "text": "t"}) + "\n")
    bad = _list(tmp_path, "# list\nwww.congress.gov/bills\n", "bad.txt")
    r = CliRunner().invoke(main, ["audit", str(src), "--out", str(tmp_path / "o"), "--exclude-domains", str(bad)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{bad}:2: 'www.congress.gov/bills' is a URL" in r.output and "fix: write the domain only" in r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()
    good = _list(tmp_path, "congress.gov\n", "good.txt")
    r = CliRunner().invoke(main, ["audit", str(src), "--out", str(tmp_path / "o"), "--exclude-domains", str(good)])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "o" / "manifest.jsonl").read_text())
    assert _excluded(m)


def test_with_fetch_an_excluded_site_is_not_contacted(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    import http.server
    import threading

    hits: list[str] = []

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/page"
        man = _audit(tmp_path, [url], [_list(tmp_path, "127.0.0.1\n")], fetch=True, allow_private=True,
                     cache_dir=tmp_path / "cache")
        assert _excluded(man[0]) and hits == []
        _audit(tmp_path, [url], [], fetch=True, allow_private=True, cache_dir=tmp_path / "cache")
        assert hits  # the same site, not excluded, is fetched
    finally:
        srv.shutdown()
