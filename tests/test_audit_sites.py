"""site_key and the snapshot reader: real files on disk, the real robots.txt set when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.sites import MAX_BYTES, SiteFile, SiteFiles, SnapshotSites, _site_key_slow, site_key, split_key
from ipscope.errors import InputError

SNAPSHOT = Path(__file__).resolve().parent / "data" / "sites" / "snapshot"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# ----------------------------------------------------------------------------- site_key


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Example.COM/path?q=1#f", "example.com"),
        ("HTTPS://EXAMPLE.com", "example.com"),
        ("http://example.com:80/", "example.com"),  # default port dropped
        ("https://example.com:443/", "example.com"),
        ("http://example.com:443/", "example.com:443"),  # 443 is not http's default
        ("https://example.com:80/", "example.com:80"),
        ("https://example.com:8080/x", "example.com:8080"),
        ("http://user:pw@Example.com:8080/", "example.com:8080"),  # userinfo is not part of the site
        ("https://example.com:/", "example.com"),  # empty port = default (RFC 3986 §3.2.3)
        ("https://bücher.de/", "xn--bcher-kva.de"),  # IDNA
        ("https://faß.de/", "xn--fa-hia.de"),  # UTS 46 non-transitional, as browsers (IDNA 2003 gave fass.de)
        ("https://BÜCHER.de/", "xn--bcher-kva.de"),  # mapped to lower case first
        ("https://BÜCHER.de/", "xn--bcher-kva.de"),
        ("https://例え.テスト/", "xn--r8jz45g.xn--zckzah"),
        ("https://example.com./", "example.com"),  # the root label's dot
        ("https://my_host.example.com/", "my_host.example.com"),
        ("http://[2001:DB8:0:0::1]:8443/", "[2001:db8::1]:8443"),
        ("http://[::1]/", "[::1]"),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000"),
        (" https://example.com/", "example.com"),  # leading space stripped as WHATWG URL parsing does
    ],
)
def test_site_key(url: str, key: str) -> None:
    assert site_key(url) == key
    assert split_key(key) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://a..b/",  # an empty label
        "ftp://example.com/",
        "file:///etc/passwd",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "example.com/path",  # no scheme
        "//example.com/",
        "http:///path",
        "http://",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:abc/",
        "http://example.com:0/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",  # a zone id names an interface of this machine
        "http://[not-ipv6]/",
        "http://a..b/",
        "http://" + "a" * 64 + ".com/",  # a label longer than 63 octets
        "http://" + "a." * 127 + "com/",  # a name longer than 253 octets
        "https://*.example.com/",
        "http://ex%41mple.com/",
        "",
    ],
)
def test_site_key_none(url: str) -> None:
    assert site_key(url) is None


@given(st.text())
@settings(max_examples=400)
def test_site_key_never_raises_on_arbitrary_text(text: str) -> None:
    key = site_key(text)
    assert key is None or split_key(key) is not None


_host_text = st.text(
    alphabet=st.sampled_from([*"abcXYZ019-._:[]%@/?#é例ß ", "\t", "\n", "\\", "\uff0f"]) | st.characters(), max_size=30
)


@given(
    st.sampled_from(["http", "https", "HTTP", "hTTps", "ftp", ""]),
    _host_text,
    st.none() | st.integers(-5, 70000).map(str) | st.text(max_size=4),
)
@settings(max_examples=600)
def test_site_key_url_shaped_inputs(scheme: str, host: str, port: str | None) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + "/p"
    key = site_key(url)
    if key is not None:
        _hostpart, keyport = split_key(key)  # type: ignore[misc]
        assert key == key.lower() and key.isascii() and "/" not in key and "\\" not in key
        assert key not in (".", "..") and not any(c.isspace() for c in key)
        # a key is already canonical: making a URL of it gives it back (with the record's scheme)
        assert site_key(f"{scheme.lower()}://{key}/") == key
        assert keyport is None or 0 < keyport < 65536


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "https:/", "http:\\\\", " https://", "\thttp://"]),
    _host_text,
    st.sampled_from(["", "/", "/p?q", "?q", "#f", "\\x", " /p", "\t/", "\n"]),
)
@settings(max_examples=800)
def test_site_key_fast_path_agrees_with_urlsplit(prefix: str, netloc: str, tail: str) -> None:
    url = prefix + netloc + tail
    assert site_key(url) == _site_key_slow(url)


@given(st.text())
def test_site_key_fast_path_agrees_on_any_text(text: str) -> None:
    assert site_key(text) == _site_key_slow(text)
    assert site_key("https://" + text) == _site_key_slow("https://" + text)


def test_site_key_on_the_real_robots_hosts() -> None:
    robots = SHARED / "robots"
    if not robots.is_dir():
        pytest.skip(f"needs the shared data set {robots} (present in CI, absent from a plain clone)")
    names = sorted(p.name for p in robots.iterdir())
    assert len(names) > 4000
    for name in names:  # files are named by host, "host_443" for an explicit port
        host, _, port = name.partition("_")
        url = f"https://{host}:{port}/robots.txt" if port else f"https://{host}/robots.txt"
        assert site_key(url) == host, name


# ----------------------------------------------------------------------------- snapshot


def test_snapshot_layout_and_missing_files() -> None:
    snap = SnapshotSites(SNAPSHOT)
    got = snap.get("10minutemail.com")
    assert isinstance(got, SiteFiles) and got.key == "10minutemail.com"
    assert got.robots.status == 200
    assert got.robots.body == (SNAPSHOT / "10minutemail.com" / "robots.txt").read_bytes()
    assert got.robots.body.startswith(b"User-agent: *\nDisallow:")  # type: ignore[union-attr]
    assert got.robots.url == str(SNAPSHOT / "10minutemail.com" / "robots.txt")
    # W3C TDMRep, "TDM File on the Origin Server", first example: opt-out for every file on the server
    assert got.tdmrep.status == 200 and b'"tdm-reservation": 1' in got.tdmrep.body  # type: ignore[operator]
    assert got.ai_txt == SiteFile(url=str(SNAPSHOT / "10minutemail.com" / "ai.txt"), status=404, body=None)
    # a port key is a directory named host:port; its missing files are 404s
    port = snap.get(site_key("http://Example.org:8080/page") or "")
    assert port.key == "example.org:8080"
    assert port.ai_txt.status == 200 and port.ai_txt.body.endswith(b"Disallow: /\n")  # type: ignore[union-attr]
    assert (port.robots.status, port.robots.body, port.robots.error) == (404, None, None)
    assert port.tdmrep.status == 404
    # a site with no directory at all answered 404 for everything
    none = snap.get("absent.example")
    assert [f.status for f in (none.robots, none.ai_txt, none.tdmrep)] == [404, 404, 404]
    assert none.get("robots") is none.robots and none.get("tdmrep") is none.tdmrep


def test_snapshot_unreadable_file_is_status_none(tmp_path: Path) -> None:
    (tmp_path / "a.example" / "robots.txt").mkdir(parents=True)  # a directory where the file should be
    (tmp_path / "b.example").write_text("a file where the site directory should be")
    snap = SnapshotSites(tmp_path)
    got = snap.get("a.example").robots
    assert got.status is None and got.body is None
    assert "cannot read" in (got.error or "") and "robots.txt" in (got.error or "")
    assert snap.get("b.example").robots.status == 404


def test_snapshot_size_cap(tmp_path: Path) -> None:
    (tmp_path / "big.example").mkdir()
    (tmp_path / "big.example" / "robots.txt").write_bytes(b"#" * (MAX_BYTES + 10))
    (tmp_path / "big.example" / "ai.txt").write_bytes(b"a" * MAX_BYTES)
    got = SnapshotSites(tmp_path).get("big.example")
    assert got.robots.status == 200 and len(got.robots.body or b"") == MAX_BYTES == 500 * 1024
    assert "truncated" in (got.robots.error or "") and "RFC 9309" in (got.robots.error or "")
    assert len(got.ai_txt.body or b"") == MAX_BYTES and got.ai_txt.error is None  # exactly the cap: whole
    small = SnapshotSites(tmp_path, max_bytes=100).get("big.example")
    assert len(small.robots.body or b"") == 100


def test_snapshot_size_cap_on_the_largest_real_robots_txt(tmp_path: Path) -> None:
    src = SHARED / "robots" / "www.hermes.com"
    if not src.is_file():
        pytest.skip(f"needs the shared data set {src.parent} (present in CI, absent from a plain clone)")
    (tmp_path / "www.hermes.com").mkdir()
    os.symlink(src, tmp_path / "www.hermes.com" / "robots.txt")
    got = SnapshotSites(tmp_path).get("www.hermes.com").robots
    assert src.stat().st_size > MAX_BYTES
    assert got.body == src.read_bytes()[:MAX_BYTES] and "truncated" in (got.error or "")


def test_snapshot_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        SnapshotSites(tmp_path / "nope")
    assert "--fetch" in str(err.value)


@pytest.mark.parametrize("key", ["../outside", "..", ".", "", "a/b", "EXAMPLE.com", "x:0", "x:99999", "[::1", "/etc"])
def test_snapshot_rejects_keys_that_are_not_keys(tmp_path: Path, key: str) -> None:
    root = tmp_path / "snap"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    got = SnapshotSites(root).get(key)
    assert got.robots.status is None and "not a site key" in (got.robots.error or "")


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_snapshot_arbitrary_keys_never_raise_or_escape(key: str) -> None:
    got = SnapshotSites(SNAPSHOT).get(key)
    for f in (got.robots, got.ai_txt, got.tdmrep):
        if f.status is not None:
            assert Path(f.url).resolve().is_relative_to(SNAPSHOT.resolve())
