"""Spawning ai.txt: the files Spawning's generator writes, the RFC 9309 examples whose rules ai.txt borrows, a
brute-force reference for the indexed matcher, parity with protego on 4,231 real robots.txt files, bad input."""

from __future__ import annotations

import json
import os
import re
import time
import timeit
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.signals.aitxt import MAX_BYTES, AiTxtFile, parse_ai_txt

SRC = "https://example.com/ai.txt"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def verdicts(f: AiTxtFile, path: str, agents: tuple[str, ...] = ("*",)) -> dict[str, bool]:
    """agent -> reserved, for the agents some rule decides (absent: nothing said)."""
    return {a: x.reserved for x in f.check(path, agents) for a in x.agents}


def reserved(f: AiTxtFile, path: str, agent: str = "*") -> bool:
    return verdicts(f, path, (agent,)).get(agent.lower(), False)


# ------------------------------------------------------------------ Spawning's generator
# Spawning's WordPress plugin (Spawning-Inc/spawning-wp-plugin, spawning_ai/config/ai_txt_options.json and
# includes/form-handler.php, Apache-2.0) builds the file from a header "# Spawning AI", a "User-agent: *" line and,
# per media type, "Allow: <ext>" or "Disallow: <ext>" lines, e.g. images "*.bmp, *.gif, *.ico, *.jpeg, *.jpg,
# *.png, …", text "*.txt, *.pdf, *.doc, …, *.html, *.htm, *.md, …"; allowing text also writes "Allow: /",
# otherwise "Disallow: /" closes the file; blocking everything writes "Disallow: *" and "Disallow: /".
# The block-everything file as published by users of site.spawning.ai/spawning-ai-txt:
SPAWNING_ALL_BLOCKED = b"""# Spawning AI
# Prevent datasets from using the following file types

User-Agent: *
Disallow: /
Disallow: *
"""

# Images blocked, text allowed (the generator's output with the "Text" box ticked), shortened lists.
SPAWNING_IMAGES_BLOCKED = b"""# Spawning AI
# Prevent datasets from using the following file types

User-Agent: *
Disallow: *.bmp
Disallow: *.gif
Disallow: *.jpeg
Disallow: *.jpg
Disallow: *.png
Allow: *.txt
Allow: *.pdf
Allow: *.html
Allow: *.htm
Disallow: *.mp3
Disallow: *.mp4
Allow: /
"""

# Everything blocked but images (text unticked so the file ends with "Disallow: /").
SPAWNING_ONLY_IMAGES_ALLOWED = b"""# Spawning AI
User-Agent: *
Allow: *.jpg
Allow: *.png
Disallow: *.txt
Disallow: *.html
Disallow: /
"""


def test_spawning_block_everything() -> None:
    f = parse_ai_txt(SPAWNING_ALL_BLOCKED, SRC)
    assert f.problems == []
    for path in ("/", "/index.html", "/art/cat.jpg", "/a.txt?x=1"):
        found = f.check(path, ("*", "gptbot"))
        assert len(found) == 1 and found[0].reserved and found[0].agents == ("*", "gptbot")
    # "Disallow: /" and "Disallow: *" are equally long: the earlier line is reported, with its line number
    assert f.check("/x", ("*",))[0].where == f"{SRC} line 5"
    assert f.check("/x", ("*",))[0].evidence == "Disallow: /"


def test_spawning_file_type_patterns_beat_the_catch_all_by_length() -> None:
    f = parse_ai_txt(SPAWNING_IMAGES_BLOCKED, SRC)
    assert f.problems == []
    assert reserved(f, "/gallery/2023/cat.jpg") and reserved(f, "/a/b.png") and reserved(f, "/song.mp3")
    assert not reserved(f, "/essay.txt") and not reserved(f, "/about.html") and not reserved(f, "/about")
    x = f.check("/gallery/cat.jpg", ("*",))[0]
    assert (x.where, x.evidence, x.reserved) == (f"{SRC} line 8", "Disallow: *.jpg", True)
    x = f.check("/about", ("*",))[0]
    assert (x.evidence, x.reserved) == ("Allow: /", False)  # an explicit permission is reported as such
    # "*.jpg" has no "$": it matches ".jpg" anywhere, as robots.txt patterns do (RFC 9309 §2.2.3)
    assert reserved(f, "/cat.jpg.html") is False  # ".html" (6 octets) beats ".jpg" (5)
    assert reserved(f, "/cat.jpgx")


def test_spawning_only_images_allowed() -> None:
    f = parse_ai_txt(SPAWNING_ONLY_IMAGES_ALLOWED, SRC)
    assert not reserved(f, "/cat.jpg") and not reserved(f, "/x/y.png")
    assert reserved(f, "/post.html") and reserved(f, "/notes.txt") and reserved(f, "/") and reserved(f, "/x.gif")


# ------------------------------------------------------------------ RFC 9309 examples
# RFC 9309 §5.1 "Simple Example" (verbatim):
RFC_5_1 = b"""User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot
"""


def test_rfc9309_5_1_star_group() -> None:
    # "It allows access to the URLs with the /publications/ path prefix, and it restricts access to the URLs with
    # the /example/ path prefix and to all URLs with a .gif suffix."
    f = parse_ai_txt(RFC_5_1, SRC)
    assert f.problems == []
    for agent in ("*", "otherbot"):
        assert reserved(f, "/image.gif", agent) and reserved(f, "/a/b/c.gif", agent)
        assert not reserved(f, "/image.gif?size=2", agent)  # "$" anchors the end
        assert reserved(f, "/example/x", agent) and not reserved(f, "/publications/p.html", agent)
        assert verdicts(f, "/about", (agent,)) == {}  # no rule matches: nothing said


def test_rfc9309_5_1_named_groups() -> None:
    f = parse_ai_txt(RFC_5_1, SRC)
    # foobot: "The crawler only has access to two URL path prefixes on the site -- /example/page.html and
    # /example/allowed.gif."
    assert reserved(f, "/", "foobot") and reserved(f, "/publications/", "FooBot")
    assert not reserved(f, "/example/page.html", "foobot") and not reserved(f, "/example/allowed.gif", "foobot")
    # barbot and bazbot: "not allowed to access the URLs with the /example/page.html path prefix but otherwise
    # have unrestricted access"
    for bot in ("barbot", "bazbot"):
        assert reserved(f, "/example/page.html", bot) and not reserved(f, "/image.gif", bot)
    # quxbot: "An empty group at the end of the file. The crawler has unrestricted access" (no fall-back to *)
    assert verdicts(f, "/image.gif", ("quxbot",)) == {}
    # one call, every agent: one Finding per deciding line, listing the agents it decides
    found = f.check("/example/page.html", ("*", "foobot", "barbot", "bazbot", "quxbot", "gptbot"))
    assert {(x.evidence, x.agents, x.reserved) for x in found} == {
        ("Disallow: /example/", ("*", "gptbot"), True),
        ("Allow:/example/page.html", ("foobot",), False),
        ("Disallow: /example/page.html", ("barbot", "bazbot"), True),
    }


def test_rfc9309_5_2_longest_match() -> None:
    # RFC 9309 §5.2: "In the following case, /example/page/disallowed.gif MUST be used for the URI
    # example.com/example/page/disallow.gif."
    f = parse_ai_txt(b"User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n", SRC)
    assert reserved(f, "/example/page/disallowed.gif", "foobot")
    assert not reserved(f, "/example/page/other.gif", "foobot")


def test_rfc9309_2_2_2_allow_wins_a_tie_and_groups_merge() -> None:
    # §2.2.2: "If an "allow" rule and a "disallow" rule are equivalent, then the "allow" rule SHOULD be used."
    f = parse_ai_txt(b"User-agent: *\nDisallow: /a\nAllow: /a\n", SRC)
    assert not reserved(f, "/a/b")
    # §2.2.1: several groups for one product token are combined (case-insensitively)
    f = parse_ai_txt(b"user-agent: ExampleBot\ndisallow: /foo\n\nUser-Agent: examplebot\ndisallow: /baz\n", SRC)
    assert reserved(f, "/foo", "examplebot") and reserved(f, "/baz", "EXAMPLEBOT") and not reserved(f, "/x", "examplebot")
    # §2.2.1: the product token is the name before any version: "GPTBot/1.1" is gptbot
    f = parse_ai_txt(b"User-agent: GPTBot/1.1\nDisallow: /\n", SRC)
    assert f.agents == frozenset({"gptbot"}) and reserved(f, "/", "gptbot") and verdicts(f, "/") == {}


def test_rfc9309_2_2_2_percent_encoding() -> None:
    # §2.2.2: octets outside ASCII MUST be percent-encoded before comparison; an encoded unreserved character is
    # decoded ("/foo/bar/%62%61%7A" matches "/foo/bar/baz"); "/foo/bar/ツ" is "/foo/bar/%E3%83%84".
    f = parse_ai_txt("User-agent: *\nDisallow: /foo/bar/ツ\nDisallow: /foo/bar/baz\n".encode(), SRC)
    assert reserved(f, "/foo/bar/%E3%83%84") and reserved(f, "/foo/bar/%e3%83%84") and reserved(f, "/foo/bar/ツ")
    assert reserved(f, "/foo/bar/%62%61%7A")
    assert not reserved(f, "/foo/bar/qux")
    # reserved characters stay encoded (so "%2F" is not "/"); hex case and stray "%" are normalised
    f = parse_ai_txt(b"User-agent: *\nDisallow: /a%2fb\nDisallow: /100%\n", SRC)
    assert reserved(f, "/a%2Fb") and not reserved(f, "/a/b") and reserved(f, "/100%25") and reserved(f, "/100%")


def test_rfc9309_2_2_3_special_characters() -> None:
    # §2.2.3: "#" starts a comment, "$" ends the pattern, "*" is any number of characters
    f = parse_ai_txt(b"User-agent: *\nDisallow: /this/path/exactly$ # comment in line\n", SRC)
    assert reserved(f, "/this/path/exactly") and not reserved(f, "/this/path/exactly/not")
    assert f.check("/this/path/exactly", ("*",))[0].evidence == "Disallow: /this/path/exactly$ # comment in line"
    f = parse_ai_txt(b"User-agent: *\nDisallow: /this/*/exactly\n", SRC)
    assert reserved(f, "/this/path/exactly") and reserved(f, "/this/a/b/exactly/too")
    assert not reserved(f, "/this/exactly") and not reserved(f, "/that/path/exactly")


def test_rules_outside_groups_and_other_records() -> None:
    # §2.2.2: rules before the first user-agent line are ignored; §2.2.4: a Sitemap (or any other record) does not
    # end a group, so "*" and "008" below share "Disallow: /" (Google reads it so; protego does not)
    f = parse_ai_txt(b"Disallow: /\nUser-agent: *\nCrawl-delay: 120\n\nUser-agent: 008\nDisallow: /\n", SRC)
    assert [p.where for p in f.problems] == [f"{SRC} line 1"]
    assert reserved(f, "/x") and reserved(f, "/x", "008")


def test_check_takes_any_sequence_and_caches_the_plan() -> None:
    f = parse_ai_txt(RFC_5_1, SRC)
    assert f.check("/image.gif", ["*", "foobot"]) == f.check("/image.gif", ("*", "foobot"))
    assert f.check("example/x", ("*",))[0].reserved  # a path without its leading "/" still works
    assert f.check("/x", ()) == []


# ------------------------------------------------------------------ bad input


def test_html_page_instead_of_ai_txt_is_absent_with_a_problem() -> None:
    # The common failure: a single-page app answers /ai.txt with its HTML shell and status 200.
    f = parse_ai_txt(b"<!DOCTYPE html><html><head><title>Shop</title></head><body>Disallow: /</body></html>", SRC)
    assert f.check("/", ("*",)) == [] and "HTML page" in f.problems[0].message


def test_binary_and_non_bytes_are_absent_with_a_problem() -> None:
    f = parse_ai_txt(b"\x89PNG\r\n\x1a\n\x00\x00User-agent: *\nDisallow: /", SRC)
    assert f.check("/", ("*",)) == [] and "binary" in f.problems[0].message
    f = parse_ai_txt("User-agent: *", SRC)  # type: ignore[arg-type]
    assert f.check("/", ("*",)) == [] and "not bytes" in f.problems[0].message


def test_invalid_utf8_is_replaced_and_the_rules_still_count() -> None:
    f = parse_ai_txt(b"User-agent: *\xa0\r\nDisallow: /caf\xe9\r\nDisallow: /private\r\n", SRC)
    assert "not valid UTF-8" in f.problems[0].message
    assert reserved(f, "/private/x")  # "*" followed by an undecodable byte is still the catch-all


def test_bom_is_skipped() -> None:
    f = parse_ai_txt(b"\xef\xbb\xbfUser-Agent: *\nDisallow: /x\n", SRC)
    assert f.problems == [] and reserved(f, "/x")


def test_huge_file_is_cut_at_the_limit_with_a_problem() -> None:
    body = b"User-agent: *\nDisallow: /first\n" + b"Disallow: /filler-rule-line\n" * (MAX_BYTES // 25)
    f = parse_ai_txt(body + b"Disallow: /last\n", SRC)
    assert "only the first" in f.problems[0].message
    assert reserved(f, "/first") and not reserved(f, "/last")


def test_garbage_lines_are_reported_and_capped() -> None:
    lines = [b"User-agent: *", b"Disallow: /ok"] + [b"this line has no colon %d" % i for i in range(50)]
    lines += [b"Disallow: images/", b"User-agent: *Orkash*", b"Disallow: /"]
    f = parse_ai_txt(b"\n".join(lines), SRC)
    assert reserved(f, "/ok") and not reserved(f, "/images/x")
    msgs = [p.message for p in f.problems]
    assert len(msgs) == 21 and msgs[-1] == "32 more line problems not listed"
    # the "*Orkash*" group names nobody, but its "Disallow: /" does not leak into the "*" group
    assert not reserved(f, "/other")


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    f = parse_ai_txt(data, SRC)
    for path in ("/", "/a.jpg", "/%zz", "/\u00e9"):
        f.check(path, ("*", "gptbot"))


_line = st.sampled_from(["User-agent: *", "User-agent: GPTBot", "Disallow: /", "Allow: /a", "Disallow: *.jpg",
                         "Disallow: /a*b$", "Allow: *", "Disallow:", "#", "", "Sitemap: x", "garbage", "Allow: /%E9"])


@given(st.lists(st.one_of(_line, st.text(max_size=30)), max_size=30), st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_files_and_paths_never_raise(lines: list[str], path: str) -> None:
    f = parse_ai_txt("\n".join(lines).encode("utf-8", "surrogatepass"), SRC)
    for x in f.check(path, ("*", "gptbot", "ccbot")):
        assert x.signal == "ai.txt" and x.where.startswith(f"{SRC} line ")


# ------------------------------------------------------------------ the indexed matcher equals brute force

_pattern = st.lists(st.sampled_from(["/", "a", "b", ".", "*", "**", "x.jpg", "/a/", "$"]), min_size=1, max_size=6).map(
    lambda parts: ("/" if parts[0] not in ("/", "*", "**") else "") + "".join(parts)
)


def _naive(rules: list[tuple[bool, str]], path: str) -> tuple[int, bool] | None:
    """Every rule tested, the longest match kept (allow on a tie): RFC 9309 §2.2.2 read literally."""
    best: tuple[int, bool] | None = None
    for allow, pattern in rules:
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        rx = ".*".join(re.escape(p) for p in body.split("*")) + (r"\Z" if anchored else "")
        if re.match(rx, path, re.DOTALL) and (best is None or (len(pattern), allow) > best):
            best = (len(pattern), allow)
    return best


@given(st.lists(st.tuples(st.booleans(), _pattern), min_size=1, max_size=12),
       st.lists(st.sampled_from(["/", "a", "b", ".", "x.jpg", "/a/", "$", "*"]), max_size=8).map(lambda p: "/" + "".join(p)))
@settings(max_examples=600, deadline=None)
def test_indexed_matcher_agrees_with_brute_force(rules: list[tuple[bool, str]], path: str) -> None:
    text = "User-agent: *\n" + "\n".join(f"{'Allow' if a else 'Disallow'}: {p}" for a, p in rules)
    f = parse_ai_txt(text.encode(), SRC)
    found = f.check(path, ("*",))
    expect = _naive(rules, path)
    if expect is None:
        assert found == []
    else:
        assert len(found) == 1
        got = found[0]
        assert got.reserved == (not expect[1])
        allow_word, _, pattern = got.evidence.partition(": ")
        assert len(pattern) == expect[0]
        assert _naive([(allow_word == "Allow", pattern)], path) is not None  # the reported line does match


# ------------------------------------------------------------------ parity with protego on real robots.txt files
# ai.txt borrows robots.txt's rules, so on the 4,231 real files of ../shared/data/robots our "*" verdict must equal
# protego's can_fetch, except where protego departs from RFC 9309 (each file below, checked by hand):
KNOWN_DIFFERENCES = {
    # §2.2.4: a Crawl-delay between two user-agent lines does not end the group; protego ends it there
    "bitbucket.org": "other record inside a group",
    "www.congress.gov": "other record inside a group",
    "www.khaleejtimes.com": "other record inside a group",
    "www.monstersandcritics.com": "other record inside a group",
    # protego reads "Allow: /dir/index.html" as also allowing "/dir/"
    "www.telstra.com.au": "protego index.html heuristic",
    "www.toyoko-inn.com": "protego index.html heuristic",
    # "User-Agent: *\xa0" (Latin-1 no-break space in a UTF-8 file): we keep it as "*", protego drops the group
    "www.turktelekom.com.tr": "invalid UTF-8 after '*'",
}
FIXED_PATHS = ["/", "/index.html", "/search?q=1", "/admin/", "/wp-admin/admin-ajax.php", "/images/a.jpg",
               "/a/b/c.gif", "/private", "/cgi-bin/x", "/page.php?id=1", "/%7Euser/", "/caf%C3%A9", "/?s=x"]
_RULE = re.compile(r"^\s*(?:dis)?allow\s*:\s*(/[^#\s]*)", re.IGNORECASE | re.MULTILINE)


@pytest.mark.slow
def test_parity_with_protego_on_real_robots_files() -> None:
    protego = pytest.importorskip("protego")
    robots = SHARED / "robots"
    if not robots.is_dir():
        pytest.skip(f"needs the shared data set {robots} (present in CI, absent from a plain clone)")
    differing: set[str] = set()
    pairs = 0
    for name in sorted(os.listdir(robots)):
        data = (robots / name).read_bytes()
        ours = parse_ai_txt(data, name)
        text = data.decode("utf-8", "replace").lstrip("\ufeff")
        theirs = protego.Protego.parse(text)
        paths = list(FIXED_PATHS)
        for m in list(_RULE.finditer(text))[:15]:  # a path each rule matches, and one it does not quite
            paths += [m.group(1).replace("*", "x").rstrip("$"), m.group(1).replace("*", "").rstrip("$") + "zz"]
        for path in paths:
            if path.startswith("/robots.txt"):
                continue  # RFC 9309 §2.2.2: /robots.txt is implicitly allowed, which protego applies; not ai.txt's
            pairs += 1
            if reserved(ours, path) == theirs.can_fetch("https://example.com" + path, "*"):
                differing.add(name)
    assert pairs > 100_000
    assert differing == set(KNOWN_DIFFERENCES), sorted(differing ^ set(KNOWN_DIFFERENCES))


# ------------------------------------------------------------------ speed: compiled once, microseconds per check


def _agents() -> tuple[str, ...]:
    p = SHARED / "ai-agents" / "robots.json"
    names = list(json.loads(p.read_text(encoding="utf-8"))) if p.exists() else []
    unique = list(dict.fromkeys(n.lower() for n in names))[:159]
    return ("*", *unique, *(f"bot{i}" for i in range(159 - len(unique))))


def test_a_file_of_thousands_of_wildcard_rules_stays_cheap() -> None:
    # 20,000 "/<n>*x<i>/y" rules (~500 KiB): wildcard rules are indexed by their literal head and compiled on
    # first use, so parsing is one pass and a record only tries the rules whose head its path starts with
    lines = ["User-agent: *"] + [f"Disallow: /{i * 7919 % 10**6}*x{i}/y" for i in range(20_000)]
    t0 = time.perf_counter()
    f = parse_ai_txt("\n".join(lines).encode(), SRC)
    parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(200):
        f.check(f"/abc/{i}/zzz", ("*",))
    per_check = (time.perf_counter() - t0) / 200
    assert reserved(f, "/7919/ax1/y/z") and not reserved(f, "/7919/ax2/y")
    assert parse < 10 and per_check < 1e-3, (parse, per_check)


def test_check_with_160_agents_is_microseconds() -> None:
    text = SPAWNING_IMAGES_BLOCKED + b"\nUser-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n"
    f = parse_ai_txt(text, SRC)
    agents = _agents()
    assert len(agents) == 160
    found = f.check("/gallery/2024/05/cat.jpg", agents)
    assert sum(len(x.agents) for x in found) == 160
    n = 20_000
    per_call = min(timeit.repeat(lambda: f.check("/gallery/2024/05/cat.jpg", agents), number=n, repeat=3)) / n
    assert per_call < 50e-6, per_call  # measured ~2-3 µs; a loose bound against an O(agents x rules) regression
