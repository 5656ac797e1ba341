"""RSL 1.0 (Really Simple Licensing): the document, its evaluation, discovery, the sources, the audit end to end.

Cases come from the specification (RSL-SPEC-1.0, section named in each test), the guides and templates of
rslstandard.org and rslcollective.org (page named), and the bad inputs of issue 11. The cases written before
the code was tuned are in test_audit_rsl_heldout.py.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipscope.audit.page import scan_html
from ipscope.audit.records import Record
from ipscope.audit.rsl_docs import RslDocs, record_findings
from ipscope.audit.run import AuditOptions, Auditor, audit
from ipscope.audit.signals import rsl
from ipscope.audit.signals.robots import parse_robots
from ipscope.audit.sites import SnapshotSites
from ipscope.cli import main
from ipscope.errors import InputError

NS = 'xmlns="https://rslstandard.org/rsl"'
SRC = "https://example.com/license.xml"


def doc(body: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f"<rsl {NS}{extra}>{body}</rsl>"


def parse(xml: str | bytes, source: str = SRC) -> rsl.RslDocument:
    return rsl.parse_rsl(xml.encode() if isinstance(xml, str) else xml, source)


def judge(xml: str, url: str = "https://example.com/page", user: str = "commercial",
          region: str | None = None) -> rsl.Verdict:
    return rsl.evaluate(parse(xml), url, rsl.Judged(user=user, region=region))  # type: ignore[arg-type]


def messages(d: rsl.RslDocument) -> str:
    return " | ".join(p.message for p in d.problems)


# --- cases from the specification and its guides -------------------------------------------------------------


class TestSpecification:
    def test_conformant_document_has_no_problems(self) -> None:
        # every element of §3 in one conformant document (§3.2 max-age, §3.3 server/lastmod, §3.12 reporting,
        # §3.13 legal, §3.14-§3.17 asset metadata): nothing to report, and training is prohibited
        xml = doc('<content url="/" server="https://licensing.example.com" lastmod="2026-10-01T00:00:00Z">'
                  '<license><permits type="usage">search ai-input</permits>'
                  '<prohibits type="usage">ai-train</prohibits><payment type="attribution"/>'
                  '<reporting type="telemetry" profile="https://profiles.example/telemetry"/>'
                  '<legal type="warranty">ownership authority</legal></license>'
                  '<alternate type="text/markdown">/index.md</alternate><schema>/metadata/site.jsonld</schema>'
                  '<copyright type="organization" contactUrl="https://example.com/contact">Example Media</copyright>'
                  '<terms>https://example.com/legal/ai-terms</terms></content>', max_age="30")
        d = parse(xml)
        assert d.valid and d.problems == ()
        v = rsl.evaluate(d, "https://example.com/a", rsl.Judged())
        assert v.state == "prohibited"
        assert v.evidence[0].where == f'{SRC} <content url="/"> line 1'
        assert '<prohibits type="usage">ai-train</prohibits>' in v.evidence[0].text

    def test_search_only_no_ai(self) -> None:
        # §3.4.1.1: search excludes AI uses; prohibiting search alone leaves training licensed
        assert judge(doc('<content url="/"><license><prohibits type="usage">search</prohibits></license>'
                         '</content>')).state == "allowed"

    @pytest.mark.parametrize("token", ["ai-input", "ai-index"])
    def test_prohibiting_other_ai_uses_leaves_training(self, token: str) -> None:
        # §3.4.1.1: ai-input and ai-index are not training
        v = judge(doc(f'<content url="/"><license><permits type="usage">all</permits>'
                      f'<prohibits type="usage">{token}</prohibits></license></content>'))
        assert v.state == "allowed"

    @pytest.mark.parametrize("token", ["all", "ai-all", "ai-train"])
    def test_each_training_token_prohibits(self, token: str) -> None:
        # §3.4.1.1: all and ai-all include ai-train
        assert judge(doc(f'<content url="/"><license><prohibits type="usage">{token}</prohibits></license>'
                         '</content>')).state == "prohibited"

    def test_custom_licence_pattern(self) -> None:
        # §1.1 pattern "AI use under a custom license": <payment><custom> without a type
        v = judge(doc('<content url="/"><license><permits type="usage">ai-all</permits><payment>'
                      '<custom>https://example.com/ai-license-request</custom></payment></license></content>'))
        assert v.state == "conditional" and "<custom>" in v.evidence[0].text

    @pytest.mark.parametrize("ptype", ["purchase", "subscription", "training", "crawl", "use", "contribution"])
    def test_every_payment_type_is_a_condition(self, ptype: str) -> None:
        # §3.7: each of these asks money or support before the use
        v = judge(doc(f'<content url="/"><license><permits type="usage">ai-train</permits>'
                      f'<payment type="{ptype}"/></license></content>'))
        assert v.state == "conditional" and f'type="{ptype}"' in v.evidence[0].text

    def test_free_payment_schema_org_guide(self) -> None:
        # /guide/schema-org: a full-URL <content> with <payment type="free"/>
        xml = doc('<content url="https://gutenberg.org/2701/pg2701-h.zip"><schema>https://gutenberg.org/ebooks/2701'
                  '</schema><license><payment type="free"/></license></content>')
        assert judge(xml, "https://gutenberg.org/2701/pg2701-h.zip").state == "allowed"
        assert judge(xml, "https://gutenberg.org/ebooks/2701").state == "none"
        assert judge(xml, "https://mirror.example/2701/pg2701-h.zip").state == "none"  # another site

    def test_reporting_is_a_condition(self) -> None:
        # §3.12: a client that cannot comply with the reporting profile treats the use as not licensed
        v = judge(doc('<content url="/"><license><permits type="usage">ai-train</permits>'
                      '<reporting type="audit" profile="https://profiles.example/audit"/></license></content>'))
        assert v.state == "conditional" and "reporting" in v.evidence[0].text

    def test_encrypted_content(self) -> None:
        # §3.3 encrypted="true" requires a server: a licence (and key) is needed
        v = judge(doc('<content url="/book.epub.enc" encrypted="true" server="https://api.example.com">'
                      '<license><permits type="usage">ai-train</permits></license></content>'),
                  "https://example.com/book.epub.enc")
        assert v.state == "conditional" and "https://api.example.com" in v.evidence[0].text

    def test_licences_are_alternative_offers(self) -> None:
        # §3.4: several <license> are distinct term sets; a free one for non-commercial users suffices for them
        xml = doc('<content url="/"><license><permits type="usage">ai-train</permits><permits type="user">'
                  'non-commercial</permits></license><license><permits type="usage">ai-train</permits>'
                  '<permits type="user">commercial</permits><payment type="subscription"/></license></content>')
        assert judge(xml, user="non-commercial").state == "allowed"
        assert judge(xml, user="commercial").state == "conditional"

    def test_user_prohibition(self) -> None:
        # §3.6 with §3.4.1.2: a licence that excludes commercial users
        xml = doc('<content url="/"><license><permits type="usage">ai-train</permits>'
                  '<prohibits type="user">commercial</prohibits></license></content>')
        assert judge(xml, user="commercial").reserved is True
        assert judge(xml, user="personal").state == "allowed"

    def test_geo_prohibition_and_undeclared_region(self) -> None:
        # §3.6 geo: an undeclared region may be the prohibited one (docs/audit/rsl.md)
        xml = doc('<content url="/"><license><permits type="usage">ai-train</permits>'
                  '<prohibits type="geo">CN</prohibits></license></content>')
        assert judge(xml, region=None).reserved is True
        assert judge(xml, region="US").state == "allowed"
        assert judge(xml, region="CN").reserved is True

    def test_region_eu_is_not_a_member_state(self) -> None:
        # §3.5: EU names the Union; a run declared only as EU is not shown to be in DE
        xml = doc('<content url="/"><license><permits type="usage">ai-train</permits>'
                  '<permits type="geo">DE</permits></license></content>')
        assert judge(xml, region="EU").reserved is True
        assert judge(xml, region="DE").state == "allowed"

    def test_specific_permission_beats_site_prohibition(self) -> None:
        # §3.1.1: the narrower scope takes precedence over the broader, in either direction
        xml = doc('<content url="/"><license><prohibits type="usage">ai-all</prohibits></license></content>'
                  '<content url="/open/"><license><permits type="usage">all</permits></license></content>')
        assert judge(xml, "https://example.com/open/a").state == "allowed"
        assert judge(xml, "https://example.com/closed/a").state == "prohibited"

    def test_document_order_does_not_matter(self) -> None:
        # §3.1.1: order must not affect interpretation
        a = '<content url="/a/"><license><prohibits type="usage">ai-train</prohibits></license></content>'
        b = '<content url="/"><license><permits type="usage">all</permits></license></content>'
        for xml in (doc(a + b), doc(b + a)):
            assert judge(xml, "https://example.com/a/x").state == "prohibited"
            assert judge(xml, "https://example.com/b").state == "allowed"

    def test_full_url_content_and_percent_encoding(self) -> None:
        # §3.3: a full URL's path matches with RFC 9309 rules (percent-encoding normalised, §2.2.2 of RFC 9309)
        xml = doc('<content url="https://example.com/articles/caf%C3%A9*"><license><prohibits type="usage">ai-train'
                  '</prohibits></license></content>')
        assert judge(xml, "https://example.com/articles/café-1").state == "prohibited"
        assert judge(xml, "http://EXAMPLE.com/articles/caf%c3%a9-2").state == "prohibited"
        assert judge(xml, "https://example.com/other").state == "none"

    def test_empty_url_is_the_association_scope(self) -> None:
        # §4.6.1: the linked document may use <content url=""> for "the scope of this association"
        assert judge(doc('<content url=""><license><prohibits type="usage">ai-train</prohibits></license>'
                         '</content>')).state == "prohibited"

    def test_extension_tokens_are_not_interpreted(self) -> None:
        # §3.4.1: extension tokens are QNames of another namespace; not interpreted unless recognised
        xml = (f'<rsl {NS} xmlns:x="https://example.org/ext"><content url="/"><license>'
               '<prohibits type="usage">x:summarise</prohibits></license></content></rsl>')
        d = parse(xml)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "allowed"
        assert "unknown" not in messages(d)

    def test_foreign_elements_are_ignored(self) -> None:
        # §1.2: elements of other namespaces are extensions, ignored
        xml = (f'<rsl {NS} xmlns:x="https://example.org/ext"><x:meta>hello</x:meta><content url="/"><license>'
               '<x:note>n</x:note><permits type="usage">all</permits></license></content></rsl>')
        d = parse(xml)
        assert d.problems == () and rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "allowed"

    def test_unknown_rsl_element_in_a_licence(self) -> None:
        # §3: an unknown RSL-namespace element makes the document non-conformant; a misspelt <permit> may have
        # restricted the use, so that licence grants nothing (§3.1.1: never expand rights)
        d = parse(doc('<content url="/"><license><permit type="usage">search</permit></license></content>'))
        assert "unknown element <permit>" in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "not-licensed"

    def test_comma_lists_of_the_0_9_draft(self) -> None:
        # §3.5: 1.0 lists are space-separated; the 0.9 draft's commas are read with a problem
        d = parse(doc('<content url="/"><license><permits type="usage">ai-input,search</permits></license></content>'))
        assert "comma-separated" in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "not-licensed"

    def test_rss_feed_items(self) -> None:
        # §4.7 and /guide/file-format: a feed declares xmlns:rsl and uses <rsl:content> in items
        xml = ('<rss xmlns:rsl="https://rslstandard.org/rsl" version="2.0"><channel><title>t</title><item>'
               '<link>https://example.com/p/1</link><rsl:content url="https://example.com/p/1"><rsl:license>'
               '<rsl:prohibits type="usage">ai-train</rsl:prohibits></rsl:license></rsl:content></item></channel>'
               '</rss>')
        d = parse(xml, "https://example.com/feed.xml")
        assert d.valid and d.problems == ()
        assert rsl.evaluate(d, "https://example.com/p/1", rsl.Judged()).state == "prohibited"
        assert rsl.evaluate(d, "https://example.com/p/2", rsl.Judged()).state == "none"

    def test_epub_embedding_guide(self) -> None:
        # /guide/file-embedding: <rsl:rsl> in an EPUB's OPF <metadata>, with a server and the train-ai token
        xml = ('<package version="3.0" xmlns="http://www.idpf.org/2007/opf" xmlns:dc="http://purl.org/dc/elements/'
               '1.1/" xmlns:rsl="https://rslstandard.org/rsl" unique-identifier="BookID"><metadata><dc:title>Scaling '
               'People</dc:title><rsl:rsl><rsl:content url="https://press.stripe.com/scaling-people.aes" server='
               '"https://rslcollective.org/api"><rsl:license><rsl:permits type="usage">train-ai</rsl:permits>'
               '<rsl:payment type="royalty"><rsl:standard>https://rslcollective.org/license</rsl:standard>'
               '</rsl:payment></rsl:license></rsl:content></rsl:rsl></metadata></package>')
        d = parse(xml, "book.opf")
        v = rsl.evaluate(d, "https://press.stripe.com/scaling-people.aes", rsl.Judged())
        assert v.state == "conditional" and "rslcollective.org/api" in v.evidence[0].text


class TestTemplates:
    """rslstandard.org/guide/getting-started and rslcollective.org/license (older drafts: train-ai, royalty)."""

    def test_prohibit_ai_training(self) -> None:
        d = parse(doc('<content url="/"><license><prohibits type="usage">train-ai</prohibits></license></content>'))
        assert "read as 'ai-train'" in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "prohibited"

    def test_allow_ai_training(self) -> None:
        d = parse(doc('<content url="/"><license><permits type="usage">train-ai</permits></license></content>'))
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "allowed"

    def test_template_as_rendered_is_not_xml(self) -> None:
        # the stored getting-started page renders url=”/” with typographic quotes: not XML if copied as is
        d = parse(f'<rsl {NS}>\n<content url=”/”>\n<license>\n<prohibits type="usage">train-ai</prohibits>\n'
                  '</license>\n</content>\n</rsl>')
        assert not d.valid and "not well-formed XML 1.0 (line 2" in messages(d)

    def test_usage_reporting_and_attribution(self) -> None:
        v = judge(doc('<content url="/" server="https://rslcollective.org/api"><license><permits type="usage">'
                      'train-ai</permits><payment type="attribution"/></license></content>'))
        assert v.state == "conditional"

    def test_ai_preferences_guide(self) -> None:
        # /guide/ai-preferences: train-ai licensed against a subscription through a contact form
        v = judge(doc('<content url="/"><license><permits type="usage">train-ai</permits><payment type="subscription">'
                      '<custom>https://your-website.com/contact-form.html</custom></payment></license></content>'))
        assert v.state == "conditional"

    def test_collective_royalty_licence(self) -> None:
        # rslcollective.org/license "Paid AI Training License": royalty (0.9 wording) with a server
        d = parse(doc('<content url="/" server="https://rslcollective.org/api"><license><permits type="usage">'
                      'train-ai</permits><payment type="royalty"><standard>https://rslcollective.org/license'
                      '</standard></payment></license></content>'))
        assert 'type="royalty">: not an RSL 1.0 payment type' in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "conditional"

    def test_cc_by_attribution_social_example(self) -> None:
        # the published example "allowing LLM learning on CC-BY attribution basis"
        assert judge(doc('<content url="/"><license><permits type="usage">all</permits><payment type="attribution">'
                         '<standard>https://creativecommons.org/licenses/by/4.0/</standard></payment></license>'
                         '</content>')).state == "allowed"


# --- bad input ------------------------------------------------------------------------------------------------


class TestBadInput:
    def test_not_xml(self) -> None:
        d = parse(b"<!doctype html><html><body>License</body></html>")
        assert not d.valid and rsl.evaluate(d, "https://example.com/", rsl.Judged()).state == "none"
        assert "not well-formed XML 1.0 (line 1 column 0" in messages(d)  # "<!doctype" is HTML, not XML
        d = parse(b"User-agent: *\nDisallow: /\n")
        assert not d.valid and "not well-formed XML" in messages(d) and "§4.3" in messages(d)

    @pytest.mark.parametrize("root,found", [
        ('<rsl xmlns="http://rslstandard.org/rsl">', "'http://rslstandard.org/rsl'"), ("<rsl>", "no namespace")])
    def test_wrong_namespace(self, root: str, found: str) -> None:
        d = parse(f'{root}<content url="/"><license><prohibits type="usage">ai-train</prohibits></license>'
                  "</content></rsl>")
        assert not d.valid and found in messages(d) and "https://rslstandard.org/rsl" in messages(d)

    def test_unknown_usage_token(self) -> None:
        d = parse(doc('<content url="/"><license><prohibits type="usage">ai-summarize</prohibits></license>'
                      '</content>'))
        assert "unknown usage token 'ai-summarize'" in messages(d)
        v = rsl.evaluate(d, "https://example.com/a", rsl.Judged())
        assert v.state == "not-licensed" and "does not understand" in v.evidence[0].text
        d = parse(doc('<content url="/"><license><permits type="usage">ai-summarize</permits></license></content>'))
        assert "it grants nothing" in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "not-licensed"

    def test_ten_megabytes(self) -> None:
        body = doc('<content url="/"><license><permits type="usage">all</permits></license></content>'
                   + "<!-- padding -->" * (10 * 1024 * 1024 // 16))
        t = time.perf_counter()
        d = parse(body)
        assert time.perf_counter() - t < 1.0
        assert not d.valid and "longer than the 1,048,576-byte limit" in messages(d)

    def test_entity_expansion_is_refused(self) -> None:
        # the "billion laughs": refused at the DOCTYPE, nothing expanded
        lol = ('<?xml version="1.0"?><!DOCTYPE rsl [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
               '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + doc('<content url="/">&c;</content>'))
        d = parse(lol)
        assert not d.valid and "document type declaration" in messages(d)

    def test_external_entity_is_refused(self, tmp_path: Path) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET")
        d = parse(f'<!DOCTYPE rsl [<!ENTITY x SYSTEM "file://{secret}">]>' + doc('<content url="&x;"/>'))
        assert not d.valid and "TOP-SECRET" not in repr(d)

    def test_deep_nesting(self) -> None:
        d = parse(doc("<x:a xmlns:x='urn:x'>" * 200 + "</x:a>" * 200))
        assert not d.valid and "nested deeper" in messages(d)

    @pytest.mark.parametrize("body", [b"", b"   ", b"\xff\xfe\x00", b"<rsl", "<rsl>\u0000</rsl>".encode()])
    def test_garbage_never_raises(self, body: bytes) -> None:
        assert not parse(body).valid

    def test_no_content_and_missing_url(self) -> None:
        assert "no <content>" in messages(parse(doc("")))
        d = parse(doc('<content url="/"/><content url="/a/"><terms>https://e.com/t</terms></content>'))
        assert not d.valid and "no <license> element" in messages(d)
        d = parse(doc('<content><license><prohibits type="usage">ai-train</prohibits></license></content>'))
        assert "without the required url" in messages(d)
        assert rsl.evaluate(d, "https://example.com/a", rsl.Judged()).state == "none"

    def test_link_header_with_several_links_and_odd_quoting(self) -> None:
        # RFC 8288 §3: several links, quoted strings holding ",", ";" and an escaped quote, upper-case names,
        # spaces around "=", single quotes, a media type with parameters; a plain CC licence link is not RSL
        value = ('</style.css>; rel=preload; as=style, <https://creativecommons.org/licenses/by/4.0/>; rel="license", '
                 '<  /licenses/rsl.xml >; title="A, b; \\"c\\""; REL = "License Alternate" ; '
                 'type = \'application/rsl+xml\','
                 '<https://cdn.example.net/l,1.xml>;rel=license;type="APPLICATION/RSL+XML; charset=utf-8",'
                 ' garbage; rel=license, <https://example.com/licenses/rsl.xml>; rel=license; type=application/rsl+xml')
        assert rsl.link_header_licenses(value, "https://example.com/a/page") == [
            "https://example.com/licenses/rsl.xml", "https://cdn.example.net/l,1.xml"]
        assert rsl.link_header_licenses('<x>; rel="license; type="application/rsl+xml"', "https://e.com/") == []
        assert rsl.link_header_licenses("<https://e.com/l.xml", "https://e.com/") == []


# --- discovery -----------------------------------------------------------------------------------------------


class TestDiscovery:
    def test_robots_license_lines_do_not_disturb_groups(self) -> None:
        # §4.4: License never changes Allow/Disallow, and (RFC 9309 §2.2.4) neither ends nor starts a group
        body = (b"License: https://example.com/site.xml\nUser-agent: GPTBot\nLicense: https://example.com/gpt.xml\n"
                b"User-agent: CCBot\nDisallow: /private\n\nUser-agent: *\nAllow: /\n")
        r = parse_robots(body, "https://example.com/robots.txt")
        assert not r.allowed("/private/x", "ccbot") and not r.allowed("/private/x", "gptbot")
        assert r.allowed("/private/x", "otherbot")
        got = {a: [x.url for x in refs] for refs, agents in r.licenses(("gptbot", "ccbot", "otherbot")) for a in agents}
        assert got == {"gptbot": ["https://example.com/gpt.xml"], "ccbot": ["https://example.com/gpt.xml"],
                       "otherbot": ["https://example.com/site.xml"]}
        assert r.problems == []

    def test_robots_license_only_file_and_relative_url(self) -> None:
        r = parse_robots(b"License: /license.xml\n", "https://example.com/robots.txt")
        assert [p.message for p in r.problems if "no robots.txt records" in p.message] == []
        assert "not an absolute URL" in r.problems[0].message and r.problems[0].where.endswith("line 1")
        assert [x.url for refs, _ in r.licenses(("*",)) for x in refs] == ["/license.xml"]

    def test_html_link_and_inline_script(self) -> None:
        page = scan_html('<html><head><link rel="license" href="https://creativecommons.org/licenses/by/4.0/">'
                         '<link rel="license" type="application/rsl+xml" href="/rsl/license.xml"></head><body>'
                         f'<script type="application/rsl+xml"><rsl {NS}><content url=""><license><prohibits '
                         'type="usage">ai-train</prohibits></license></content></rsl></script></body></html>')
        assert page.rsl_links == ["/rsl/license.xml"]
        assert page.license_links == ["https://creativecommons.org/licenses/by/4.0/"]
        assert len(page.rsl_inline) == 1
        fs, ps = record_findings(RslDocs(None), "https://example.com/a/b", "example.com", "/a/b", {}, page, None,
                                 ("*",), rsl.Judged())
        assert [f.reserved for f in fs] == [True]
        assert fs[0].where.startswith('https://example.com/a/b html <script type="application/rsl+xml"> #1')
        # the linked licence is resolved against the page and, with no site files, named as not read
        assert [p.where for p in ps] == ["https://example.com/rsl/license.xml"]
        assert "--sites" in ps[0].message

    def test_snapshot_reads_a_licence_at_its_url_path(self, tmp_path: Path) -> None:
        (tmp_path / "example.com" / "rsl").mkdir(parents=True)
        (tmp_path / "example.com" / "rsl" / "l icence.xml").write_bytes(b"<x/>")
        (tmp_path / "cdn.example.net").mkdir()
        (tmp_path / "cdn.example.net" / "license.xml").write_bytes(b"<y/>")
        snap = SnapshotSites(tmp_path)
        assert snap.get_url("https://example.com/rsl/l%20icence.xml?v=2", 100).body == b"<x/>"
        assert snap.get_url("https://CDN.example.net/license.xml", 100).body == b"<y/>"
        assert snap.get_url("https://example.com/missing.xml", 100).status == 404
        for bad in ("https://example.com/rsl/", "https://example.com/rsl/../../x", "https://example.com/%2e%2e/x",
                    "https://example.com/a%2Fb", "ftp://example.com/license.xml"):
            f = snap.get_url(bad, 100)
            assert f.status is None and f.body is None, bad

    def test_page_licence_beats_robots_licence(self, tmp_path: Path) -> None:
        # §4.9: the most specific licence (page) beats the site-level one; at one level the most restrictive wins
        site = tmp_path / "example.com"
        site.mkdir()
        (site / "robots.txt").write_text("License: https://example.com/site.xml\n")
        (site / "site.xml").write_text(doc('<content url="/"><license><prohibits type="usage">all</prohibits>'
                                           '</license></content>'))
        (site / "page.xml").write_text(doc('<content url="/"><license><permits type="usage">all</permits>'
                                           '</license></content>'))
        (site / "other.xml").write_text(doc('<content url="/x/"><license><prohibits type="usage">ai-train'
                                            '</prohibits></license></content>'))
        auditor = Auditor(AuditOptions(sites=tmp_path), SnapshotSites(tmp_path))

        def decide(url: str, link: str) -> tuple[str, list[str]]:
            rec = Record("c", 1, b"", "1", url, "t", "example.com", headers={"link": link})
            d, fs, _lic, _ps = auditor.judge(rec, "example.com")
            return d, [f.where.split(" ")[0] for f in fs]

        page = '<https://example.com/page.xml>; rel="license"; type="application/rsl+xml"'
        other = '<https://example.com/other.xml>; rel="license"; type="application/rsl+xml"'
        assert decide("https://example.com/a", "") == ("reserved", ["https://example.com/site.xml"])
        assert decide("https://example.com/a", page) == ("allowed", ["https://example.com/page.xml"])
        assert decide("https://example.com/x/1", f"{page}, {other}") == ("reserved", ["https://example.com/other.xml"])
        assert decide("https://example.com/y", other)[1] == ["https://example.com/site.xml"]  # other.xml: not /y


# --- the audit, end to end ---------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A real HTTP server on loopback that serves ``routes`` and records every request it gets."""

    routes: dict[str, bytes] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/rsl+xml" if self.path.endswith(".xml") else "text/plain")
        self.end_headers()
        self.wfile.write(body or b"")

    do_POST = do_GET  # an OLP token request would be a POST: recorded the same way

    def log_message(self, *_a: object) -> None:
        pass


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    handler = type("H", (_Recorder,), {"routes": {}, "seen": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv, handler
    finally:
        srv.shutdown()
        srv.server_close()


def _corpus(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _manifest(out: Path) -> dict[str, dict[str, object]]:
    return {d["id"]: d for d in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


class TestAudit:
    def test_sites_snapshot_end_to_end(self, tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
        srv, handler = server
        olp = f"http://127.0.0.1:{srv.server_port}/olp"
        snap = tmp_path / "snap"
        (snap / "example.com").mkdir(parents=True)
        (snap / "licenses.example.org").mkdir(parents=True)
        (snap / "example.com" / "robots.txt").write_text(
            "User-agent: *\nAllow: /\nLicense: https://licenses.example.org/example.xml\n")
        (snap / "licenses.example.org" / "example.xml").write_text(doc(
            '<content url="/"><license><permits type="usage">all</permits></license></content>'
            '<content url="/articles/"><license><prohibits type="usage">ai-train</prohibits></license></content>'
            f'<content url="/premium/" server="{olp}"><license><permits type="usage">ai-train</permits>'
            '<payment type="free"/></license></content>'
            '<content url="/nc/"><license><permits type="usage">ai-train</permits><permits type="user">non-commercial'
            '</permits></license></content>'))
        (snap / "bad.example").mkdir()
        (snap / "bad.example" / "robots.txt").write_text("License: https://bad.example/l.xml\n"
                                                         "License: ftp://bad.example/l.xml\n")
        (snap / "bad.example" / "l.xml").write_bytes(b"<rsl>" + b" " * (10 * 1024 * 1024) + b"</rsl>")
        corpus = _corpus(tmp_path / "c.jsonl", [
            {"id": "home", "url": "https://example.com/", "text": "a"},
            {"id": "article", "url": "https://example.com/articles/1", "text": "b"},
            {"id": "premium", "url": "https://example.com/premium/1", "text": "c"},
            {"id": "nc", "url": "https://example.com/nc/1", "text": "d"},
            {"id": "bad", "url": "https://bad.example/x", "text": "e"},
            {"id": "link", "url": "https://other.example/p", "text": "f",
             "headers": {"Link": ['</s.css>; rel=preload', '<https://licenses.example.org/example.xml>; '
                                  'rel="license"; type="application/rsl+xml"']}},
        ])
        out = tmp_path / "out"
        r = CliRunner().invoke(main, ["audit", str(corpus), "--sites", str(snap), "--out", str(out), "-q"])
        assert r.exit_code == 0, r.output
        m = _manifest(out)
        assert {k: v["decision"] for k, v in m.items()} == {
            "home": "allowed", "article": "reserved", "premium": "reserved", "nc": "reserved", "bad": "allowed",
            "link": "allowed"}
        reason = m["article"]["reasons"][0]
        assert reason["signal"] == "rsl" and reason["agents"] == ["*"]
        assert reason["where"] == 'https://licenses.example.org/example.xml <content url="/articles/"> line 1'
        assert reason["evidence"].startswith('<prohibits type="usage">ai-train</prohibits>')
        premium = m["premium"]["reasons"][0]["evidence"]
        assert olp in premium and "never contacted" in premium
        assert "'commercial'" in m["nc"]["reasons"][0]["evidence"]
        said = " | ".join(p["message"] for p in m["bad"]["problems"])
        assert "longer than 1,048,576 bytes" in said and "refused: a licence URL must be http(s)" in said
        assert m["link"]["reasons"][0]["where"].endswith('<content url="/"> line 1')  # other.example: the "/" path
        assert handler.seen == []  # the licence server was never contacted
        summary = json.loads((out / "summary.json").read_text())
        assert "rsl" in json.dumps(summary)
        # the same corpus for a non-commercial user
        r = CliRunner().invoke(main, ["audit", str(corpus), "--sites", str(snap), "--out", str(tmp_path / "o2"),
                                      "-q", "--rsl-user", "non-commercial", "--region", "de"])
        assert r.exit_code == 0, r.output
        assert _manifest(tmp_path / "o2")["nc"]["decision"] == "allowed"

    def test_relative_license_line_resolves_against_robots_url(self, tmp_path: Path) -> None:
        # §4.4 requires an absolute URL; a relative one is a problem, read against the robots.txt URL
        (tmp_path / "s" / "example.com" / "rsl").mkdir(parents=True)
        (tmp_path / "s" / "example.com" / "robots.txt").write_text("License: rsl/terms.xml\n")
        (tmp_path / "s" / "example.com" / "rsl" / "terms.xml").write_text(
            doc('<content url="/"><license><prohibits type="usage">ai-all</prohibits></license></content>'))
        corpus = _corpus(tmp_path / "c.jsonl", [{"id": "1", "url": "https://example.com/a/b", "text": "x"}])
        audit([str(corpus)], tmp_path / "o", AuditOptions(sites=tmp_path / "s"))
        m = _manifest(tmp_path / "o")["1"]
        assert m["decision"] == "reserved"
        assert m["reasons"][0]["where"].startswith("https://example.com/rsl/terms.xml <content")
        assert "not an absolute URL" in m["problems"][0]["message"]

    def test_bad_options(self, tmp_path: Path) -> None:
        corpus = _corpus(tmp_path / "c.jsonl", [{"id": "1", "url": "https://e.com/", "text": "x"}])
        r = CliRunner().invoke(main, ["audit", str(corpus), "--out", str(tmp_path / "o"), "--region", "Europe"])
        assert r.exit_code != 0 and "ISO 3166-1" in r.output
        r = CliRunner().invoke(main, ["audit", str(corpus), "--out", str(tmp_path / "o"), "--rsl-user", "bots"])
        assert r.exit_code != 0
        with pytest.raises(InputError):
            audit([str(corpus)], tmp_path / "o3", AuditOptions(rsl_user="robots"))

    def test_no_site_files_rsl_not_in_protocols(self, tmp_path: Path) -> None:
        corpus = _corpus(tmp_path / "c.jsonl", [{"id": "1", "url": "https://e.com/", "text": "x", "headers": {
            "link": '<https://e.com/l.xml>; rel=license; type="application/rsl+xml"'}}])
        audit([str(corpus)], tmp_path / "o", AuditOptions())
        m = _manifest(tmp_path / "o")["1"]
        assert m["decision"] == "allowed" and "--sites" in m["problems"][0]["message"]
        tdm = json.loads((tmp_path / "o" / "summary.json").read_text())["data_processing"]["tdm_reservations"]
        # not read, so not among the protocols honoured; named among those not checked (issue 11, point 4)
        assert "rsl" not in {r["signal"] for r in tdm["opt_out_protocols_honoured"]}
        assert "rsl" in {r["signal"] for r in tdm["opt_out_protocols_not_checked"]}
        assert {"signal": "rsl", "input": "licence documents", "why": "no site files given (--sites or --fetch)"} \
            in m["not_checked"]

    def test_fetch_licence_server_never_contacted(self, tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
        pytest.importorskip("aiohttp")
        srv, handler = server
        base = f"http://127.0.0.1:{srv.server_port}"
        handler.routes.update({
            "/robots.txt": f"User-agent: *\nAllow: /\nLicense: {base}/license.xml\n".encode(),
            "/license.xml": doc(f'<content url="/" server="{base}/olp"><license><permits type="usage">ai-all'
                                '</permits><payment type="use"/></license></content>').encode()})
        corpus = _corpus(tmp_path / "c.jsonl", [{"id": "1", "url": f"{base}/article", "text": "x"}])
        r = CliRunner().invoke(main, ["audit", str(corpus), "--fetch", "--allow-private", "--cache-dir",
                                      str(tmp_path / "cache"), "--out", str(tmp_path / "o"), "-q"])
        assert r.exit_code == 0, r.output
        m = _manifest(tmp_path / "o")["1"]
        assert m["decision"] == "reserved" and f"{base}/olp" in m["reasons"][0]["evidence"]
        assert "/robots.txt" in handler.seen and "/license.xml" in handler.seen
        assert [p for p in handler.seen if p.startswith("/olp")] == []
        # a second run reads the licence from the cache: no request at all
        handler.seen.clear()
        r = CliRunner().invoke(main, ["audit", str(corpus), "--fetch", "--allow-private", "--cache-dir",
                                      str(tmp_path / "cache"), "--out", str(tmp_path / "o"), "-q", "--force"])
        assert r.exit_code == 0 and handler.seen == []

    def test_fetch_refuses_ftp_and_private_licence_urls(self, tmp_path: Path,
                                                        server) -> None:  # type: ignore[no-untyped-def]
        pytest.importorskip("aiohttp")
        from ipscope.audit.fetch import Fetcher

        srv, handler = server
        key = f"site.test:{srv.server_port}"
        handler.routes.update({
            "/robots.txt": (f"License: ftp://site.test/license.xml\nLicense: http://127.0.0.1:{srv.server_port}"
                            "/license.xml\nLicense: http://10.1.2.3/license.xml\n").encode(),
            "/license.xml": doc('<content url="/"><license><prohibits type="usage">all</prohibits></license>'
                                '</content>').encode()})
        fetcher = Fetcher(tmp_path / "cache", schemes=("http",), pinned_hosts={"site.test": "127.0.0.1"},
                          allow_private=False, timeout_s=5)
        auditor = Auditor(AuditOptions(fetch=True), fetcher)
        auditor.prefetch([key])
        d, fs, _lic, ps = auditor.judge(Record("c", 1, b"", "1", f"http://{key}/a", "t", key), key)
        assert d == "allowed" and fs == []
        said = {p.where: p.message for p in ps if p.signal == "rsl"}
        assert "refused: a licence URL must be http(s)" in said["ftp://site.test/license.xml"]
        assert "non-public address" in said[f"http://127.0.0.1:{srv.server_port}/license.xml"]
        assert "non-public address" in said["http://10.1.2.3/license.xml"]
        # the pinned site's own files only (robots.txt, ai.txt, tdmrep.json): no licence was requested
        assert sorted(handler.seen) == ["/.well-known/tdmrep.json", "/ai.txt", "/robots.txt"]


# --- the page pre-test -------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_RSL_TAGS = ('<link rel="license" type="application/rsl+xml" href="/l.xml">',
             '<LINK REL=license TYPE=application/rsl+xml HREF=/l.xml>',
             f'<script type="application/rsl+xml"><rsl {NS}><content url=""><license><prohibits type="usage">'
             'ai-train</prohibits></license></content></rsl></script>',
             f'<script type="application/rsl+xml"><rsl {NS}><content url=""/><x>all</x></rsl></script>',
             "<script type='application/rsl+xml'></script>")
_FILLER = ('<p>plain text</p>', '<link rel="stylesheet" href="/s.css">', '<script>var a = 1;</script>', ' ')


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(_RSL_TAGS + _FILLER), st.booleans()), max_size=5))
def test_a_page_with_an_rsl_licence_is_never_skipped(parts: list[tuple[str, bool]]) -> None:
    """run._may_hold_signals (the substring pre-test before scanning a page) must not skip a page whose scan
    finds an RSL link or an inline licence that says anything, whatever the letter case."""
    from ipscope.audit.run import _may_hold_signals

    page = "<html><head>" + "".join(t.upper() if up else t for t, up in parts) + "</head></html>"
    if _may_hold_signals(page):
        return
    scanned = scan_html(page)
    assert scanned.rsl_links == []
    fs, _ps = record_findings(RslDocs(None), "https://example.com/p", "example.com", "/p", {}, scanned, None,
                              ("*",), rsl.Judged())
    assert fs == []
