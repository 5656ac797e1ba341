"""The one RFC 9309 path matcher (ipscope.audit.pathmatch) used by robots.txt, ai.txt, TDMRep and RSL.

Checked three ways: the RFC's own examples (RFC 9309 §2.2.2 Figure 4, §2.2.3 Figures 5 and 6, §5.1, §5.2) and
the table of Google's "URL matching based on path values" (developers.google.com/search/docs/crawling-indexing/
robots/robots_txt, which TDMRep's spec defers to); a small reference written here — a character-by-character
spelling of RFC 9309 §2.2.2 and a regular-expression translation of §2.2.3 — against which random patterns, paths
and rule sets must decide the same; and the cases where the two spellings differ on purpose.
(The signal modules keep their own tests: tests/test_audit_robots.py, test_audit_aitxt.py, test_audit_tdmrep.py.)
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.pathmatch import (
    ENCODE_RESERVED,
    KEEP_RESERVED,
    FirstMatch,
    RuleMatcher,
    Spelling,
    compile_pattern,
    normalize_path,
    normalize_pattern,
)
from test_audit_tdmrep import GOOGLE

SPELLINGS = [ENCODE_RESERVED, KEEP_RESERVED]

# --- the reference ---------------------------------------------------------------------------------------------

_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = set("0123456789abcdefABCDEF")


def ref_spell(s: str, spelling: Spelling, pattern: bool) -> str:
    """RFC 9309 §2.2.2, one octet at a time: a path (fragment dropped, "/" added) or a pattern in ``spelling``."""
    encode = spelling is ENCODE_RESERVED
    anchor = ""
    if pattern and s.endswith("$"):
        s, anchor = s[:-1], "$"
    if not pattern:
        s = s.split("#", 1)[0]
        if not s.startswith("/"):
            s = "/" + s
    data = s.encode("utf-8", "surrogatepass")
    out: list[str] = []
    query = False
    i = 0
    while i < len(data):
        ch = chr(data[i])
        if ch == "%" and len(data) >= i + 3 and chr(data[i + 1]) in _HEX and chr(data[i + 2]) in _HEX:
            v = chr(int(data[i + 1:i + 3], 16))
            decoded = v in _UNRESERVED or (encode and v == "=") or (not encode and not pattern and v in "$*")
            out.append(v if decoded else f"%{ord(v):02X}")
            i += 3
            continue
        i += 1
        if encode and ch == "?" and not query:  # the query starts: "/" is data from here on (Figure 4)
            query = True
            out.append("%3F")
            continue
        if encode:
            verbatim = ch in _UNRESERVED or ch == "=" or (ch == "/" and not query) or (ch == "*" and pattern)
        else:  # printable ASCII as written; "#" and "%" never (a stray "%" is %25)
            verbatim = "!" <= ch <= "~" and ch not in "#%"
        out.append(ch if verbatim else f"%{ord(ch):02X}")
    return "".join(out) + anchor


def ref_regex(pattern: str, spelling: Spelling) -> str:
    """RFC 9309 §2.2.3 as a regular expression: "*" is ".*", a final "$" is the end; literal %24 / %2A are the
    characters "$" / "*" in KEEP_RESERVED paths (Figure 6)."""
    p = ref_spell(pattern, spelling, True)
    anchored = p.endswith("$")
    parts = (p[:-1] if anchored else p).split("*")
    if spelling is KEEP_RESERVED:
        parts = [x.replace("%24", "$").replace("%2A", "*") for x in parts]
    return ".*".join(re.escape(x) for x in parts) + (r"\Z" if anchored else "")


def ref_matches(pattern: str, path: str, spelling: Spelling) -> bool:
    if ref_spell(pattern, spelling, True)[:1] not in ("/", "*"):
        return False  # §2.2.2: a path pattern starts with "/" ("*" for a wildcard); anything else matches nothing
    return re.match(ref_regex(pattern, spelling), ref_spell(path, spelling, False), re.DOTALL) is not None


def ref_decide(rules: list[tuple[str, bool]], path: str, spelling: Spelling) -> int | None:
    """§2.2.2 read literally: every rule tested; the most octets win, allow on a tie, then the earlier rule."""
    best: tuple[int, bool, int] | None = None
    for i, (pattern, allow) in enumerate(rules):
        if ref_matches(pattern, path, spelling):
            key = (len(ref_spell(pattern, spelling, True)), allow, -i)
            if best is None or key > best:
                best = key
    return None if best is None else -best[2]


TOKENS = ["/", "a", "b", "ab", ".", "*", "$", "%24", "%2A", "%2a", "%7E", "%7e", "~", "?", "%3F", "%2F", "%2f", "=",
          "%3D", ":", "%3A", "é", "%C3%A9", "ツ", "%", "%4", "1", "4", "A", " ", "&", "+", "#", "%23", "\x00"]
# a small alphabet too, where overlapping wildcard parts ("/a*a$" against "/a") are found quickly
patterns = (st.lists(st.sampled_from(TOKENS), max_size=7).map(lambda t: "/" + "".join(t))
            | st.lists(st.sampled_from(TOKENS), min_size=1, max_size=7).map(lambda t: "*" + "".join(t))
            | st.text(alphabet="ab/*$", max_size=8).map(lambda t: "/" + t)
            | st.text(max_size=12))
paths = (st.lists(st.sampled_from(TOKENS), max_size=10).map(lambda t: "/" + "".join(t))
         | st.text(alphabet="ab/$", max_size=8).map(lambda t: "/" + t) | st.text(max_size=16))
spellings = st.sampled_from(SPELLINGS)


@settings(max_examples=1500, deadline=None)
@given(paths | patterns, spellings)
def test_spelling_agrees_with_the_reference(s: str, spelling: Spelling) -> None:
    assert normalize_path(s, spelling) == ref_spell(s, spelling, False)
    assert normalize_pattern(s, spelling) == ref_spell(s, spelling, True)
    # and it is a normal form: spelling it again changes nothing
    assert normalize_path(normalize_path(s, spelling), spelling) == normalize_path(s, spelling)
    assert normalize_pattern(normalize_pattern(s, spelling), spelling) == normalize_pattern(s, spelling)


@settings(max_examples=1500, deadline=None)
@given(patterns, paths, spellings)
def test_pattern_agrees_with_the_reference(pattern: str, path: str, spelling: Spelling) -> None:
    p = compile_pattern(pattern, spelling)
    assert p.matches(path) == ref_matches(pattern, path, spelling), (pattern, path)
    assert p.priority == len(ref_spell(pattern, spelling, True))
    assert compile_pattern(p.text, spelling, normalized=True).parts == p.parts
    # the regex form (FirstMatch) decides as the string-search form (RuleMatcher, Pattern.matches)
    npath = normalize_path(path, spelling)
    assert (re.match(p.regex(), npath, re.DOTALL) is not None) == p.matches_normalized(npath)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(patterns, st.booleans()), min_size=1, max_size=10), paths, spellings)
def test_rule_matcher_agrees_with_the_reference(rules: list[tuple[str, bool]], path: str, spelling: Spelling) -> None:
    m = RuleMatcher((compile_pattern(p, spelling), allow, i) for i, (p, allow) in enumerate(rules))
    expect = ref_decide(rules, path, spelling)
    assert m.decide(normalize_path(path, spelling)) == expect, (rules, path)
    # the same rules given as normalised texts (robots.txt's way) decide the same
    texts = RuleMatcher(((normalize_pattern(p, spelling), allow, i) for i, (p, allow) in enumerate(rules)), spelling)
    assert texts.decide(normalize_path(path, spelling)) == expect


# "*lit" / "*lit$" rules are looked up by their literal once a rule set has 8 of them (Spawning's ai.txt lists
# every file type): rule sets with many, among other rules
LIT_TOKENS = ["a", "b", ".", "/", "$", "%24", "é", "?", "x.jpg"]
lit_patterns = st.lists(st.sampled_from(LIT_TOKENS), min_size=1, max_size=3).map(lambda t: "".join(t)).flatmap(
    lambda lit: st.sampled_from(["*" + lit, "*" + lit + "$", "/*" + lit, "/*" + lit + "$"]))


@pytest.mark.slow  # about 30 s: CI runs it (make test's local run leaves it out)
@settings(max_examples=800, deadline=None)
@given(st.lists(st.tuples(lit_patterns, st.booleans()), min_size=8, max_size=20),
       st.lists(st.tuples(patterns, st.booleans()), max_size=5), paths, spellings)
def test_many_literal_wildcards_agree_with_the_reference(lits: list[tuple[str, bool]],
                                                         others: list[tuple[str, bool]], path: str,
                                                         spelling: Spelling) -> None:
    rules = lits + others
    m = RuleMatcher((compile_pattern(p, spelling), allow, i) for i, (p, allow) in enumerate(rules))
    assert m.decide(normalize_path(path, spelling)) == ref_decide(rules, path, spelling), (rules, path)


@settings(max_examples=800, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=8), paths, spellings)
def test_first_match_agrees_with_the_reference(pats: list[str], path: str, spelling: Spelling) -> None:
    first = FirstMatch([compile_pattern(p, spelling) for p in pats])
    expect = next((i for i, p in enumerate(pats) if ref_matches(p, path, spelling)), None)
    assert first.first(normalize_path(path, spelling)) == expect


# --- the specifications' examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "to_match"), [  # RFC 9309 §2.2.2 Figure 4 (U+30C4 is printed "U+E38384" there)
    ("/foo/bar?baz=quz", "/foo/bar?baz=quz"),
    ("/foo/bar?baz=https://foo.bar", "/foo/bar?baz=https%3A%2F%2Ffoo.bar"),
    ("/foo/bar/\u30c4", "/foo/bar/%E3%83%84"),
    ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84"),
    ("/foo/bar/%62%61%7A", "/foo/bar/baz"),
])
def test_rfc9309_figure_4(path: str, to_match: str) -> None:
    assert normalize_path(path) == normalize_path(to_match)
    assert compile_pattern(path).matches(to_match) and compile_pattern(to_match).matches(path)
    # KEEP_RESERVED agrees on every row but the second, where it keeps ":" and "/" of the query as written
    same = normalize_path(path, KEEP_RESERVED) == normalize_path(to_match, KEEP_RESERVED)
    assert same == ("https://" not in path)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_rfc9309_figures_5_and_6_special_characters(spelling: Spelling) -> None:
    def m(pattern: str, path: str) -> bool:
        return compile_pattern(pattern, spelling).matches(path)

    # Figure 5: "$" designates the end of the match pattern; "*" 0 or more instances of any character
    assert m("/this/path/exactly$", "/this/path/exactly") and not m("/this/path/exactly$", "/this/path/exactly/x")
    assert m("/this/*/exactly", "/this/a/b/exactly") and not m("/this/*/exactly", "/this/exactly")
    # Figure 6: a "$" or "*" meant verbatim is written %24 / %2A, and matches the character in the URI
    assert m("/path/file-with-a-%2A.html", "/path/file-with-a-*.html")
    assert m("/path/file-with-a-%2A.html", "/path/file-with-a-%2a.html")
    assert not m("/path/file-with-a-%2A.html", "/path/file-with-a-x.html")
    assert m("/path/foo-%24", "/path/foo-$") and m("/path/foo-%24", "/path/foo-%24")
    assert not m("/path/foo-%24", "/path/foo-")
    # a "$" that is not last is an ordinary character
    assert m("/a$b", "/a$b/c") and not m("/a$b", "/ab")


RFC_5_1 = [("*.gif$", False), ("/example/", False), ("/publications/", True)]  # the "*" group of §5.1


@pytest.mark.parametrize(("path", "expected"), [
    ("/a.gif", 0), ("/example/page.html", 1), ("/publications/x.gif", 2), ("/x.gif?size=2", None), ("/about", None)])
def test_rfc9309_5_1_and_5_2_longest_match(path: str, expected: int | None) -> None:
    m = RuleMatcher((compile_pattern(p), allow, i) for i, (p, allow) in enumerate(RFC_5_1))
    assert m.decide(normalize_path(path)) == expected
    # §5.2: "/example/page/disallowed.gif MUST be used for the URI example.com/example/page/disallow.gif"
    m2 = RuleMatcher([(compile_pattern("/example/page/"), True, "allow"),
                      (compile_pattern("/example/page/disallowed.gif"), False, "disallow")])
    assert m2.decide(normalize_path("/example/page/disallowed.gif")) == "disallow"
    assert m2.decide(normalize_path("/example/page/other.gif")) == "allow"


def test_allow_wins_a_tie_then_the_earlier_rule() -> None:
    # §2.2.2: "If an allow rule and a disallow rule are equivalent, then the allow rule SHOULD be used."
    for rules in ([("/page", False, "d"), ("/page", True, "a")], [("/page", True, "a"), ("/page", False, "d")]):
        assert RuleMatcher((compile_pattern(p), a, v) for p, a, v in rules).decide("/page") == "a"
    # equal length and kind, different kinds of index (wildcard, plain): the earlier rule, whatever the index
    m = RuleMatcher([(compile_pattern("/*x"), False, "first"), (compile_pattern("/ax"), False, "second")])
    assert m.decide("/ax") == "first"


# Google's "URL matching based on path values" table (what TDMRep's spec asks agents to follow): GOOGLE,
# kept once in test_audit_tdmrep


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize(("pattern", "yes", "no"), GOOGLE, ids=[g[0] for g in GOOGLE])
def test_google_path_matching_table(pattern: str, yes: list[str], no: list[str], spelling: Spelling) -> None:
    p = compile_pattern(pattern, spelling)
    assert [x for x in yes if not p.matches(x)] == [] and [x for x in no if p.matches(x)] == []
    assert FirstMatch([p]).first(normalize_path(yes[0], spelling)) == 0


# --- the spellings differ on purpose ---------------------------------------------------------------------------


def test_the_two_spellings() -> None:
    # ENCODE_RESERVED (robots.txt, as protego): reserved characters and their escapes are one spelling
    assert compile_pattern("/a:b").matches("/a%3Ab") and compile_pattern("/a%3ab").matches("/a:b")
    assert compile_pattern("/q?u=/x").matches("/q?u=%2Fx")  # in the query "/" is data (Figure 4)
    assert compile_pattern("/a:b").priority == 6 and compile_pattern("/a$b").priority == 6
    # KEEP_RESERVED (ai.txt, TDMRep; as Google's parser): as written, so ":" is not "%3A"
    assert not compile_pattern("/a:b", KEEP_RESERVED).matches("/a%3Ab")
    assert not compile_pattern("/q?u=/x", KEEP_RESERVED).matches("/q?u=%2Fx")
    assert compile_pattern("/a:b", KEEP_RESERVED).priority == 4 and compile_pattern("/a$b", KEEP_RESERVED).priority == 4
    # both: "%2F" is never "/", escapes of unreserved characters are decoded, hex case does not matter
    for s in SPELLINGS:
        assert not compile_pattern("/a/b", s).matches("/a%2Fb") and compile_pattern("/a%2fb", s).matches("/a%2Fb")
        assert compile_pattern("/%7Euser/", s).matches("/~user/x")
        assert compile_pattern("/caf\u00e9", s).matches("/caf%c3%a9")
        assert compile_pattern("/100%", s).matches("/100%25") and compile_pattern("/100%25", s).matches("/100%")
        assert compile_pattern("/a$", s).matches("/a#top")  # the fragment is not part of the request target


def test_keep_reserved_reads_escaped_star_and_dollar_as_one_character() -> None:
    # a wildcard must not match inside the escape of a "$": "*4" does not match "/$" nor "/%24"
    p = compile_pattern("*4", KEEP_RESERVED)
    assert not p.matches("/$") and not p.matches("/%24") and p.matches("/%34")


def test_patterns_that_match_nothing() -> None:
    for s in SPELLINGS:
        for pattern in ("", "fish/", "$", "?x"):
            p = compile_pattern(pattern, s)
            assert not p.can_match and not p.matches("/") and not p.matches("/fish/")
        assert len(RuleMatcher([(compile_pattern("", s), False, 1), (compile_pattern("/", s), False, 2)])) == 1
        assert compile_pattern("*", s).matches("/") and compile_pattern("*$", s).matches("/x")


def test_module_docstring_example() -> None:
    p = compile_pattern("/news/*.html$")
    assert p.matches("/news/2025/a.html") and not p.matches("/news/a.html?x=1") and p.priority == 13
    assert normalize_path("/caf\u00e9?q=1") == "/caf%C3%A9%3Fq=1"
    rules = RuleMatcher([(compile_pattern("/"), False, "line 2"), (compile_pattern("/pub/"), True, "line 3")])
    assert rules.decide(normalize_path("/pub/x")) == "line 3" and RuleMatcher([]).decide("/") is None
    assert FirstMatch([compile_pattern("/a/"), compile_pattern("/")]).first(normalize_path("/a/b")) == 0
    assert FirstMatch([]).first("/") is None


# --- speed and hostile input -----------------------------------------------------------------------------------


def test_hostile_wildcards_stay_linear() -> None:
    p = compile_pattern("/" + "*a" * 300 + "*b$")
    rules = RuleMatcher([(p, False, 1)])
    first = FirstMatch([p])
    path = "/" + "a" * 20_000
    t = time.perf_counter()
    assert not p.matches(path) and rules.decide(path) is None and first.first(path) is None
    assert time.perf_counter() - t < 0.5


def test_twenty_thousand_rules_of_every_kind_check_in_microseconds() -> None:
    kinds = ["/p{i}/", "/e{i}$", "*.x{i}", "*.s{i}$", "/g{i}*/y", "/a*{i}b"]
    rules = [(compile_pattern(k.format(i=i)), i % 2 == 0, i) for i in range(3400) for k in kinds[i % 6:i % 6 + 1]]
    m = RuleMatcher(rules)
    paths = [f"/p{i}/z" for i in range(0, 3400, 6)] + [f"/q/w.s{i}" for i in range(3, 3400, 6)] + ["/nothing"] * 50
    t = time.perf_counter()
    for path in paths:
        m.decide(path)
    per = (time.perf_counter() - t) / len(paths)
    assert m.decide("/p0/z") == 0 and m.decide("/q/w.s3") == 3 and m.decide("/nothing") is None
    assert per < 2e-4, per  # a few µs measured; loose against an O(rules) regression


def test_rule_count_limit() -> None:
    # keys hold a rule's position in 20 bits: more rules would wrap silently, so they are refused
    n = (1 << 20) + 1
    with pytest.raises(ValueError, match="at most 1,048,576"):
        RuleMatcher(("/" + str(i), False, i) for i in range(n))
    m = RuleMatcher(("/" + str(i), i % 2 == 0, i) for i in range(n - 1))
    assert m.decide("/1048575") == 1048575 and m.decide("/12x") == 12
