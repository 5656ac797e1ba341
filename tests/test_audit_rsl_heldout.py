"""RSL 1.0: held-out cases built from the specification, written before the implementation was tuned.

These cases were written first and are not adjusted to the code: a failure here means the code or its
documented choice is wrong, not the case. Each names the text it comes from (RSL-SPEC-1.0 section, a guide or
a template of rslstandard.org). The tuned cases are in test_audit_rsl.py.
"""

from __future__ import annotations

import pytest

from ipscope.audit.signals import rsl
from ipscope.audit.signals.robots import parse_robots

NS = 'xmlns="https://rslstandard.org/rsl"'


def judge(xml: str, url: str, user: str = "commercial", region: str | None = None) -> rsl.Verdict:
    doc = rsl.parse_rsl(xml.encode(), "https://example.com/license.xml")
    return rsl.evaluate(doc, url, rsl.Judged(user=user, region=region))  # type: ignore[arg-type]


class TestHeldOut:
    def test_spec_3_1_2_specific_path_prohibits_training(self) -> None:
        # §3.1.2: site-wide permits all, /articles/ prohibits ai-train
        xml = f"""<rsl {NS}>
          <content url="/"><license><permits type="usage">all</permits></license></content>
          <content url="/articles/"><license><prohibits type="usage">ai-train</prohibits></license></content>
        </rsl>"""
        assert judge(xml, "https://example.com/articles/2025/story").reserved is True
        assert judge(xml, "https://example.com/about").reserved is False

    def test_spec_3_4_1_ai_all_includes_training(self) -> None:
        # §3.4.1.1: ai-all covers ai-train; the spec's "search only, no AI use" pattern (§1.1)
        xml = f'<rsl {NS}><content url="/"><license><prohibits type="usage">ai-all</prohibits></license></content></rsl>'
        v = judge(xml, "https://example.com/x")
        assert v.reserved is True and v.state == "prohibited"

    def test_spec_3_5_permits_is_a_closed_list(self) -> None:
        # §3.5: with <permits type="usage">search</permits> only search is allowed: training is not licensed
        xml = f'<rsl {NS}><content url="/"><license><permits type="usage">search</permits></license></content></rsl>'
        assert judge(xml, "https://example.com/x").reserved is True

    def test_spec_3_3_server_means_licence_required_even_free(self) -> None:
        # §3.3 server: clients must obtain a license for this asset, even if the license is free
        xml = (f'<rsl {NS}><content url="/" server="https://api.rslcollective.org"><license>'
               '<permits type="usage">ai-train</permits><payment type="free"/></license></content></rsl>')
        v = judge(xml, "https://example.com/x")
        assert v.reserved is True and v.state == "conditional"

    def test_spec_3_7_crawl_payment_is_a_condition(self) -> None:
        # §1.1/§3.7 pay-per-crawl pattern with <standard> and <amount>
        xml = (f'<rsl {NS}><content url="/"><license><permits type="usage">ai-all</permits>'
               '<payment type="crawl"><standard>https://example.com/pay-per-crawl</standard>'
               '<amount currency="USD">0.015</amount></payment></license></content></rsl>')
        assert judge(xml, "https://example.com/x").reserved is True

    def test_spec_3_7_attribution_cc_by_is_allowed(self) -> None:
        # §1.1 attribution under CC BY 4.0: no money, no server
        xml = (f'<rsl {NS}><content url="/"><license><permits type="usage">all</permits>'
               '<payment type="attribution"><standard>https://creativecommons.org/licenses/by/4.0/</standard>'
               '</payment></license></content></rsl>')
        v = judge(xml, "https://example.com/x")
        assert v.reserved is False and v.state == "allowed"

    def test_spec_3_1_1_permitted_and_prohibited_is_not_licensed(self) -> None:
        # §3.1.1: a usage both permitted and prohibited in the effective scope is not licensed
        xml = (f'<rsl {NS}><content url="/"><license><permits type="usage">ai-train search</permits>'
               '<prohibits type="usage">ai-train</prohibits></license></content></rsl>')
        assert judge(xml, "https://example.com/x").reserved is True

    def test_spec_3_5_user_class(self) -> None:
        # §3.4.1.2 user vocabulary: a licence for non-commercial and education users only
        xml = (f'<rsl {NS}><content url="/"><license><permits type="usage">ai-train</permits>'
               '<permits type="user">non-commercial education</permits></license></content></rsl>')
        assert judge(xml, "https://example.com/x", user="commercial").reserved is True
        assert judge(xml, "https://example.com/x", user="education").reserved is False

    def test_spec_3_5_geo_eu(self) -> None:
        # §3.5 geo: ISO 3166-1 alpha-2 codes or EU
        xml = (f'<rsl {NS}><content url="/"><license><permits type="usage">ai-train</permits>'
               '<permits type="geo">US EU</permits></license></content></rsl>')
        assert judge(xml, "https://example.com/x", region="FR").reserved is False
        assert judge(xml, "https://example.com/x", region="JP").reserved is True

    def test_spec_3_3_rfc9309_wildcards(self) -> None:
        # §3.3 url: RFC 9309 matching with * and $
        xml = (f'<rsl {NS}><content url="/*.pdf$"><license><prohibits type="usage">ai-train</prohibits>'
               '</license></content></rsl>')
        assert judge(xml, "https://example.com/papers/a.pdf").reserved is True
        assert judge(xml, "https://example.com/papers/a.pdf?download=1").state == "none"
        assert judge(xml, "https://example.com/papers/a.html").state == "none"

    def test_spec_4_4_group_license_beats_global(self) -> None:
        # §4.4.2/§4.4.3 example: per-bot licensing
        robots = parse_robots(b"User-agent: ExampleBot\nAllow: /\nLicense: https://example.com/examplebot-license.xml\n\n"
                              b"User-agent: *\nAllow: /\nLicense: https://example.com/default-license.xml\n",
                              "https://example.com/robots.txt")
        got = {a: [ref.url for ref in refs] for refs, agents in robots.licenses(("examplebot", "otherbot"))
               for a in agents}
        assert got == {"examplebot": ["https://example.com/examplebot-license.xml"],
                       "otherbot": ["https://example.com/default-license.xml"]}

    def test_spec_4_5_link_header(self) -> None:
        # §4.5 and the HTTP guide's example
        got = rsl.link_header_licenses('<https://example.com/license.xml>; rel="license"; type="application/rsl+xml"',
                                       "https://example.com/page")
        assert got == ["https://example.com/license.xml"]
