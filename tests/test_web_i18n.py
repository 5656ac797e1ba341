"""The workbench's languages (ipscope.service.web.i18n): the choice of locale from Accept-Language and the switch,
the catalogues (every string marked in the code or a template is in both; every entry has its Chinese), and the
Jinja2 environments. Header cases follow RFC 9110 §12.5.4 and the headers Chromium sends for its UI languages."""

from __future__ import annotations

import string

import pytest

pytest.importorskip("babel")
pytest.importorskip("jinja2")

from ipscope.service.web import i18n  # noqa: E402


@pytest.mark.parametrize("header, want", [
    (None, "en"),
    ("", "en"),
    ("*", "en"),
    # RFC 9110 §12.5.4's example: Danish first, then British and other English
    ("da, en-gb;q=0.8, en;q=0.7", "en"),
    # what Chromium sends with its UI in Simplified Chinese (zh-CN) and in Singapore Chinese
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
    ("zh-SG,zh;q=0.9,en;q=0.8", "zh_Hans"),
    ("zh", "zh_Hans"),
    ("zh-Hans", "zh_Hans"),
    ("zh-Hans-HK", "zh_Hans"),  # the script decides, not the region
    ("ZH_hans", "zh_Hans"),  # case and underscore as some clients write it
    # Traditional Chinese has no catalogue: English, also when Chromium adds a bare zh after zh-TW
    ("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "en"),
    ("zh-Hant", "en"),
    ("zh-HK", "en"),
    ("zh-TW, zh-CN;q=0.5", "zh_Hans"),  # Simplified named explicitly after Traditional is accepted
    # q-values, not the order, rank the ranges
    ("en;q=0.5, zh-Hans;q=0.9", "zh_Hans"),
    ("zh;q=0.4, en-US;q=0.6", "en"),
    ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "en"),  # MDN's example: the first we have is English
    ("fr, zh;q=0.2", "zh_Hans"),
    ("fr, *;q=0.1", "en"),
    ("zh;q=0, *", "en"),  # q=0 says "not this": the wildcard does not bring it back
    ("en;q=0, zh;q=0.1", "zh_Hans"),
    # malformed weights and tags are skipped, never an error
    ("zh;q=abc, en", "en"),
    ("zh;q=1.5, en;q=0.1", "en"),
    ("<script>, zh-CN", "zh_Hans"),
])
def test_accept_language(header, want):
    assert i18n.negotiate(header) == want


@pytest.mark.parametrize("explicit, header, want", [
    ("zh_Hans", "en-GB,en;q=0.9", "zh_Hans"),
    ("zh", "en", "zh_Hans"),
    ("en", "zh-CN,zh;q=0.9", "en"),
    ("fr", "zh-CN", "zh_Hans"),  # a choice the workbench does not have: the header decides
    ("", "zh-CN", "zh_Hans"),
    ("zh-TW", "zh-CN", "zh_Hans"),
])
def test_explicit_choice_overrides_the_header(explicit, header, want):
    assert i18n.negotiate(header, explicit) == want


def test_parse_keeps_order_for_equal_weights():
    assert i18n.parse_accept_language("en, zh-CN, fr;q=0.5, de") == [("en", 1.0), ("zh-CN", 1.0), ("de", 1.0),
                                                                     ("fr", 0.5)]


def test_switch_url_keeps_other_parameters():
    assert i18n.switch_url("/check", "index=demo&lang=en", "zh_Hans") == "/check?index=demo&lang=zh_Hans"
    assert i18n.switch_url("/", "", "en") == "/?lang=en"


# --------------------------------------------------------------------------------------------- the catalogues


@pytest.fixture(scope="module")
def extracted():
    return i18n.extract()


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_no_untranslated_string(locale, extracted):
    """Every string the code or a template marks is in the catalogue, and every zh_Hans entry has a translation
    (docs/web.md: run `python -m ipscope.service.web.i18n extract`, then translate the new entries)."""
    assert i18n.untranslated(locale, extracted) == []


def test_the_check_finds_what_is_missing(extracted):
    """The check is not blind: a string marked but not in the catalogue, an entry without a translation and a
    fuzzy one are each reported."""
    from babel.messages.catalog import Catalog

    more = Catalog(locale="zh_Hans")
    for m in extracted:
        if m.id:
            more.add(m.id, context=m.context, locations=m.locations)
    more.add("A page title no catalogue has", locations=[("src/ipscope/service/web/templates/x.html", 3)])
    got = i18n.untranslated("zh_Hans", more)
    assert len(got) == 1 and "A page title no catalogue has" in got[0] and "x.html" in got[0]

    cat = i18n.read_catalog("zh_Hans")
    cat.get("the API key is not valid", context="registry.key.invalid").string = ""
    cat.get("title", context="registry.field.title").flags.add("fuzzy")
    got = i18n.untranslated("zh_Hans", extracted, cat)
    assert len(got) == 2
    assert any("registry.key.invalid" in g for g in got) and any("(fuzzy)" in g and "registry.field.title" in g
                                                                  for g in got)


def _fields(template: str) -> list[tuple[str, str, str]]:
    return sorted((name, spec or "", conv or "") for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None)


def test_translations_keep_every_placeholder():
    """A translation uses the same named fields with the same format spec and conversion as the English
    ({n:,} stays {n:,}), and doubles its literal braces: a mistake would raise or drop a value at run time."""
    cat = i18n.read_catalog("zh_Hans")
    checked = 0
    for m in cat:
        if not m.id or not m.context:
            continue
        assert _fields(m.string) == _fields(m.id), (m.context, m.string)
        checked += 1
    assert checked > 200


def test_catalogue_is_read_from_po_at_run_time():
    t = i18n.translations("zh_Hans")
    assert t.pgettext("registry.key.revoked", "the API key was revoked") == "该 API 密钥已被吊销"
    assert t.gettext("Language") == "语言"
    # English is the source language: its catalogue gives the msgid back
    assert i18n.translations("en").gettext("Language") == "Language"
    # no compiled catalogue is kept: the .po is the only file
    assert not list(i18n.LOCALE_DIR.rglob("*.mo"))


# --------------------------------------------------------------------------------------------- templates


def test_environment_translates_and_escapes(tmp_path):
    (tmp_path / "t.html").write_text('<p title="{{ _(\'Language\') }}">{{ query }}</p>', encoding="utf-8")
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    zh = i18n.environment("zh_Hans", str(tmp_path)).get_template("t.html").render(query=hostile)
    en = i18n.environment("en", str(tmp_path)).get_template("t.html").render(query=hostile)
    assert zh.startswith('<p title="语言">') and en.startswith('<p title="Language">')
    assert "<script>" not in zh and "&lt;script&gt;" in zh and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in zh


@pytest.mark.parametrize("locale, current, other", [("en", "English", "简体中文"),
                                                    ("zh_Hans", "简体中文", "English")])
def test_language_switch(locale, current, other):
    env = i18n.environment(locale)
    urls = {loc: i18n.switch_url("/check", "x=1", loc) for loc in i18n.LOCALES}
    html = env.from_string('{% from "_language.html" import language_switch %}{{ language_switch(urls) }}').render(
        urls=urls)
    label = "Language" if locale == "en" else "语言"
    assert f'aria-label="{label}"' in html
    assert f'aria-current="true" lang="{i18n.HTML_LANG[locale]}">{current}</span>' in html
    other_loc = next(loc for loc in i18n.LOCALES if loc != locale)
    assert f'<a href="/check?x=1&amp;lang={other_loc}" hreflang="{i18n.HTML_LANG[other_loc]}"' in html
    assert f">{other}</a>" in html
