"""noai / noimageai in X-Robots-Tag headers and robots <meta> tags, tested against the examples of the two
documents that define them: DeviantArt's announcement of the directives and Google's "Robots meta tag and
X-Robots-Tag HTTP header specifications" whose syntax they ride on."""

from __future__ import annotations

import threading
import timeit
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.page import scan_html
from ipscope.audit.signals.base import Finding, Problem
from ipscope.audit.signals.noai import MAX_VALUE_CHARS, header_findings, html_findings


def pairs(findings: list[Finding]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.signal, f.agents) for f in findings]


# ------------------------------------------------------------------ DeviantArt's own examples
# DeviantArt, "UPDATE: All Deviations Are Opted Out of AI Datasets" (Nov 2022): the page-level directives
#     <meta name="robots" content="noimageai">
#     <meta name="robots" content="noai">
# and, when the image file is downloaded directly,
#     X-Robots-Tag: noimageai
#     X-Robots-Tag: noai


def test_deviantart_meta_examples() -> None:
    page = scan_html('<head><meta name="robots" content="noimageai">\n<meta name="robots" content="noai"></head>')
    found = html_findings(page)
    assert pairs(found) == [("noimageai", ("*",)), ("noai", ("*",))]
    assert [f.where for f in found] == ['html <meta name="robots">'] * 2
    assert [f.evidence for f in found] == ["noimageai", "noai"]
    assert all(f.reserved for f in found)


def test_deviantart_header_examples_as_two_header_lines() -> None:
    found, problems = header_findings(["noimageai", "noai"])
    assert problems == []
    assert pairs(found) == [("noimageai", ("*",)), ("noai", ("*",))]
    assert [f.where for f in found] == ["header X-Robots-Tag (value 1 of 2)", "header X-Robots-Tag (value 2 of 2)"]


def test_noimageai_is_its_own_signal_so_the_policy_can_keep_it_to_images() -> None:
    found, _ = header_findings("noimageai")
    assert [f.signal for f in found] == ["noimageai"]
    found, _ = header_findings("noai")
    assert [f.signal for f in found] == ["noai"]


# ------------------------------------------------------------------ Google's syntax examples
# Google, "Robots meta tag, data-nosnippet, and X-Robots-Tag specifications", section "Using the X-Robots-Tag
# HTTP header": "the following set of X-Robots-Tag HTTP headers can be used to conditionally allow showing of a
# page in search results for different search engines:
#     X-Robots-Tag: googlebot: nofollow
#     X-Robots-Tag: otherbot: noindex, nofollow"
# and "Multiple X-Robots-Tag headers can be combined within the HTTP response, or you can specify a
# comma-separated list of rules":
#     X-Robots-Tag: noimageindex
#     X-Robots-Tag: unavailable_after: 25 Jun 2010 15:00:00 PST


def test_google_agent_example_gives_every_directive_after_the_token_to_that_agent() -> None:
    found, problems = header_findings(["googlebot: nofollow", "otherbot: noindex, nofollow"])
    assert found == [] and problems == []  # search directives are not AI reservations
    found, problems = header_findings(["googlebot: nofollow", "otherbot: noindex, noai"])
    assert pairs(found) == [("noai", ("otherbot",))]
    assert found[0].evidence == "otherbot: noindex, noai"
    assert found[0].where == "header X-Robots-Tag (value 2 of 2)"


def test_google_valued_directives_are_not_agents() -> None:
    found, problems = header_findings(["noimageindex", "unavailable_after: 25 Jun 2010 15:00:00 PST"])
    assert found == [] and problems == []
    # combined into one comma-separated value, as a proxy folding the two lines would send it
    found, problems = header_findings("noarchive, unavailable_after: 25 Jun 2010 15:00:00 PST, noai")
    assert pairs(found) == [("noai", ("*",))] and problems == []
    # an RFC 850 date has its own comma: its second half is not mistaken for an agent or a directive
    found, problems = header_findings("unavailable_after: Wednesday, 25-Jun-10 15:00:00 PST, noai, max-snippet: 20")
    assert pairs(found) == [("noai", ("*",))] and problems == []


def test_google_meta_for_one_crawler_and_case_insensitivity() -> None:
    # Google: <meta name="googlebot" content="noindex"> addresses Googlebot only; "Both the name and the content
    # attributes are case-insensitive."
    page = scan_html('<meta name="GoogleBot" content="NOINDEX, NoAI"><meta name="googlebot-news" content="noimageai">')
    assert pairs(html_findings(page)) == [("noai", ("googlebot",)), ("noimageai", ("googlebot-news",))]
    found, _ = header_findings("GPTBot: NOAI")
    assert pairs(found) == [("noai", ("gptbot",))]


def test_folded_header_keeps_global_directives_global_and_switches_agents() -> None:
    found, problems = header_findings("noai, googlebot: nofollow, ccbot: noimageai, noai")
    assert problems == []
    assert pairs(found) == [("noai", ("*",)), ("noimageai", ("ccbot",)), ("noai", ("ccbot",))]


def test_http_equiv_meta_is_read_with_header_syntax() -> None:
    page = scan_html('<meta http-equiv="X-Robots-Tag" content="ccbot: noai">')
    found = html_findings(page)
    assert pairs(found) == [("noai", ("ccbot",))]
    assert found[0].where == 'html <meta http-equiv="X-Robots-Tag">'


def test_other_meta_tags_and_commented_out_tags_do_not_count() -> None:
    page = scan_html(
        '<meta name="description" content="why we say noai"><meta property="og:title" content="noai">'
        '<!-- <meta name="robots" content="noai"> --><meta name="robots" content="noindex">'
    )
    # "description" is a plain word, so it is read as a (harmless) agent name; its content is not a directive
    assert html_findings(page) == []


def test_no_mention_is_no_finding() -> None:
    assert header_findings("noindex, nofollow") == ([], [])
    assert header_findings([]) == ([], [])
    assert html_findings(scan_html("<p>hello</p>")) == []


# ------------------------------------------------------------------ a real HTTP response on loopback


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("X-Robots-Tag", "googlebot: nofollow")
        self.send_header("X-Robots-Tag", "otherbot: noindex, noimageai")
        self.send_header("X-Robots-Tag", "NOAI")
        self.end_headers()
        self.wfile.write(b"\x89PNG")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/a.png"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_repeated_headers_from_a_real_server(server: str) -> None:
    with urllib.request.urlopen(server, timeout=10) as resp:
        values = resp.headers.get_all("X-Robots-Tag")
    assert values == ["googlebot: nofollow", "otherbot: noindex, noimageai", "NOAI"]
    found, problems = header_findings(values)
    assert problems == []
    assert pairs(found) == [("noimageai", ("otherbot",)), ("noai", ("*",))]
    assert found[1].where == "header X-Robots-Tag (value 3 of 3)" and found[1].evidence == "NOAI"


# ------------------------------------------------------------------ bad input


def test_values_that_are_not_text_are_problems_and_the_rest_still_counts() -> None:
    found, problems = header_findings([None, 7, "noai"])  # type: ignore[list-item]
    assert pairs(found) == [("noai", ("*",))]
    assert [p.where for p in problems] == ["header X-Robots-Tag (value 1 of 3)", "header X-Robots-Tag (value 2 of 3)"]
    assert "not text" in problems[0].message
    found, problems = header_findings(42)  # type: ignore[arg-type]
    assert found == [] and len(problems) == 1 and "not text" in problems[0].message


def test_bytes_are_read_as_http_field_octets() -> None:
    found, problems = header_findings(b"noindex, noai\xa0")
    assert pairs(found) == [("noai", ("*",))] and problems == []


def test_wrong_separators_are_read_and_reported() -> None:
    found, problems = header_findings("noai noimageai")
    assert pairs(found) == [("noai", ("*",)), ("noimageai", ("*",))]
    assert len(problems) == 1 and "not comma-separated" in problems[0].message
    found, problems = header_findings("noai;noimageai")
    assert pairs(found) == [("noai", ("*",)), ("noimageai", ("*",))] and len(problems) == 1


def test_unreadable_tokens_mentioning_noai_are_reported_not_silently_dropped() -> None:
    found, problems = header_findings("no bot here: noai")
    assert found == []
    assert len(problems) == 1 and "neither a directive nor 'agent: directive'" in problems[0].message
    found, problems = header_findings("noaiplease")
    assert found == [] and "not a known directive" in problems[0].message


def test_huge_value_is_cut_and_reported() -> None:
    found, problems = header_findings("noai, " + "x" * (MAX_VALUE_CHARS * 2))
    assert pairs(found) == [("noai", ("*",))]
    assert len(problems) == 1 and "only the first" in problems[0].message


_text = st.lists(st.sampled_from(list("noaimgeNOAI ,:;-_\t*xyz") + ["noai", "noimageai", "gptbot: ", ", "])).map("".join)


@given(st.one_of(_text, st.text(), st.lists(st.one_of(_text, st.text(), st.none(), st.integers(), st.binary()))))
@settings(max_examples=400, deadline=None)
def test_arbitrary_values_never_raise(value: object) -> None:
    found, problems = header_findings(value)  # type: ignore[arg-type]
    for f in found:
        assert f.signal in ("noai", "noimageai") and f.reserved
        assert len(f.agents) == 1 and f.agents[0] == f.agents[0].lower()
        assert f.signal in f.evidence.lower()
    assert all(isinstance(p, Problem) for p in problems)


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_arbitrary_html_never_raises(html: str) -> None:
    for f in html_findings(scan_html(html)):
        assert f.reserved and f.signal in ("noai", "noimageai")


@given(st.text(alphabet=st.characters(blacklist_characters="nN")))
@settings(max_examples=200, deadline=None)
def test_no_reservation_without_the_word(value: str) -> None:
    assert header_findings(value)[0] == []


# ------------------------------------------------------------------ speed (a loose bound: the measured figure is
# ~0.4 µs for a value without the directives, about 1 µs with them; see docs/audit/noai.md)


def test_header_parsing_is_microseconds() -> None:
    n = 20_000
    plain = min(timeit.repeat(lambda: header_findings("noindex, nofollow, max-snippet: 20"), number=n, repeat=3)) / n
    hit = min(timeit.repeat(lambda: header_findings("googlebot: nofollow, otherbot: noindex, noai"),
                            number=n, repeat=3)) / n
    assert plain < 20e-6 and hit < 60e-6, (plain, hit)
