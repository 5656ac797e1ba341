"""The check page's evidence by meaning, in a real browser against a real ``ipscope serve`` (issue 13): the first
findings (trace's spans, similar's lexical ranking) come in the first response; the evidence by meaning (similar
with the embedder) arrives after, in a second request made by the page's one script (static/check.js, served from
the server: the Content-Security-Policy stays without inline script); without JavaScript, a button reloads the
page with that evidence included. For a corpus (``--corpus``) and for the registered works, in English and Chinese.

The texts are real: the American Standard Version of Ruth, Jonah and Esther (one document a chapter) is the
corpus, and the Bible in Basic English's rewording of Ruth 1:1-12 is the text checked (both public domain,
../shared/data/bible/verses.jsonl): the same verses in other words, which similar aligns by meaning."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import PageErrors, need_shared, screenshot_dir
from service_helpers import Server
from web_helpers import go, sign_up

pytestmark = pytest.mark.browser

LANGS = {"en": ("en-GB", "en-GB,en;q=0.9"), "zh_Hans": ("zh-CN", "zh-CN,zh;q=0.9,en;q=0.5")}
BOOKS = ("Ruth", "Jonah", "Esther")


def _bible() -> tuple[list[dict], str, str]:
    """The ASV chapters of Ruth, Jonah and Esther as records, Ruth 1:1-12 in the BBE (the text checked) and
    Ruth 1 in the ASV (its source)."""
    rows = [json.loads(line) for line in (need_shared("bible") / "verses.jsonl").open(encoding="utf-8")]
    chapters: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        if r["book"] in BOOKS:
            chapters.setdefault((r["book"], r["chapter"]), []).append(r)
    records = [{"id": f"asv/{b}-{c}", "title": f"{b} {c} (ASV)", "text": " ".join(v["ASV"] for v in vs)}
               for (b, c), vs in chapters.items()]
    ruth1 = chapters[("Ruth", 1)]
    return records, " ".join(v["BBE"] for v in ruth1[:12]), " ".join(v["ASV"] for v in ruth1)


@pytest.fixture(scope="module")
def bible(tmp_path_factory):
    from ipscope.index import BuildOptions, build_index

    records, query, source = _bible()
    d = tmp_path_factory.mktemp("bible")
    (d / "asv.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    build_index([d / "asv.jsonl"], d / "asv.idx", BuildOptions(jobs=1))
    return d / "asv.idx", query, source


@pytest.fixture(scope="module")
def server(tmp_path_factory, bible):
    d = tmp_path_factory.mktemp("check-server")
    s = Server(["--data", str(d / "data"), "--rate-limit", "0", "--signup-limit", "0", "--corpus",
                f"bible={bible[0]}"], d / "serve.log")
    try:
        yield s
    finally:
        s.stop()


def new_page(browser, request, lang: str, js: bool = True):
    locale, accept = LANGS[lang]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale, java_script_enabled=js,
                              extra_http_headers={"Accept-Language": accept})
    pg = ctx.new_page()
    pg.errors = PageErrors()
    pg.on("console", lambda m: pg.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"uncaught: {e}"))
    pg.shot = lambda name: pg.screenshot(path=str(screenshot_dir(request.node) / f"{name}.png"), full_page=True)
    return ctx, pg


HEAD = {"en": ("Similar documents, by words", "Evidence by meaning"), "zh_Hans": ("按字词相似的文档", "语义证据")}


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_corpus_check_first_findings_then_meaning_by_script(browser, request, server, bible, lang):
    """The first page has the trace and similar's lexical ranking and a slot; the script fetches
    /check/semantic and puts the evidence by meaning in its place: Ruth 1 (ASV) beside the BBE's words."""
    _idx, query, source = bible
    ctx, page = new_page(browser, request, lang)
    try:
        sign_up(page, server, f"examiner {uuid.uuid4().hex[:6]}")
        page.goto(f"{server.url}/check")
        page.fill("#text", query)
        page.select_option("#where", "corpus:bible")
        with page.expect_response(lambda r: r.url.endswith("/check/semantic")) as second:
            with page.expect_response(lambda r: r.url.endswith("/check") and r.request.method == "POST") as first:
                go(page, page.locator("form[action='/check'] button[value=html]"))
        # the first response is the whole page with the fast findings, and says so in its timing
        timing = first.value.headers["server-timing"]
        assert timing.startswith("first;dur=") and "meaning" not in timing
        assert HEAD[lang][0] in first.value.text() and 'id="semantic-slot"' in first.value.text()
        assert "Ruth 1 (ASV)" in page.locator("section.similar").inner_text()
        # the second arrives and replaces the slot
        assert second.value.status == 200 and second.value.headers["server-timing"].startswith("meaning;dur=")
        page.wait_for_selector("#semantic .pair")
        assert page.locator("#semantic-slot").count() == 0
        assert page.inner_text("#by-meaning") == HEAD[lang][1]
        sem = page.locator("#semantic")
        assert "Ruth 1 (ASV)" in sem.locator("article.meaning h4").first.inner_text()
        pair = sem.locator(".pair").first
        quoted = pair.locator("blockquote").all_inner_texts()
        assert quoted[0] in query and " ".join(quoted[1].split()) in " ".join(source.split())
        page.shot("1-meaning-arrived")
        if lang == "zh_Hans":  # no English the catalogue missed, in the first findings or in the fragment
            from test_web_pages import latin_words

            records, _q, _s = _bible()
            quoted = page.locator("blockquote, .passage, .mono, code").all_inner_texts()
            user = quoted + [query, "bible"] + [r["title"] for r in records] + [r["id"] for r in records]
            assert latin_words(page.inner_text("main"), user) == set()
        assert page.errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_corpus_check_without_javascript(browser, request, server, bible, lang):
    """Without JavaScript the slot shows a button; it sends the form again with semantic=1 and the page comes
    back with the evidence by meaning in it."""
    _idx, query, _source = bible
    ctx, page = new_page(browser, request, lang, js=False)
    try:
        sign_up(page, server, f"no-script {uuid.uuid4().hex[:6]}")
        page.goto(f"{server.url}/check")
        page.fill("#text", query)
        page.select_option("#where", "corpus:bible")
        go(page, page.locator("form[action='/check'] button[value=html]"))
        button = page.locator("#semantic-slot .nojs button")
        assert button.is_visible()
        assert page.locator("#semantic").count() == 0
        with page.expect_response(lambda r: r.url.endswith("/check") and r.request.method == "POST") as full:
            go(page, button)
        assert "meaning;dur=" in full.value.headers["server-timing"]
        assert page.locator("#semantic-slot").count() == 0
        assert page.inner_text("#by-meaning") == HEAD[lang][1]
        assert page.locator("#semantic .pair").count() >= 1
        assert page.input_value("#text") == query  # the form still holds the text
        page.shot("1-meaning-in-the-page")
        assert page.errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_registry_check_meaning_arrives(browser, request, server, bible, lang):
    """The registered works: the owner of Ruth 1 (ASV) checks the BBE's rewording; the fragment names the work,
    and, the reader owning it, shows the work's own words beside the text's."""
    _idx, query, source = bible
    ctx, page = new_page(browser, request, lang)
    try:
        sign_up(page, server, f"Naomi {uuid.uuid4().hex[:6]}")
        title = f"Ruth 1 {uuid.uuid4().hex[:4]}"
        page.fill("#title", title)
        page.fill("#text", source)
        go(page, page.locator("form.work button[type=submit]"))
        for _ in range(40):  # the indexer publishes the work within a second or so
            page.goto(f"{server.url}/check")
            page.fill("#text", query)
            go(page, page.locator("form[action='/check'] button[value=html]"))
            page.wait_for_selector("#semantic")
            if page.locator("#semantic h4", has_text=title).count():
                break
            page.wait_for_timeout(250)
        art = page.locator("#semantic article.meaning", has=page.locator("h4", has_text=title))
        assert art.count() == 1
        quoted = art.locator(".pair").first.locator("blockquote").all_inner_texts()
        assert quoted[0] in query and quoted[1] in source
        page.shot("1-registry-meaning")
        assert page.errors == []
    finally:
        ctx.close()


def test_a_passage_two_registered_works_hold_shows_both(browser, request, server, bible):
    """Ruth 1 (ASV) registered whole, and an anthology that reprints its first verses: a text that copies those
    verses is marked for the first work, with a numbered link to the second beside the mark (before, only the
    first work's mark showed)."""
    _idx, _query, source = bible
    ctx, page = new_page(browser, request, "en")
    try:
        sign_up(page, server, f"Boaz {uuid.uuid4().hex[:6]}")
        tag = uuid.uuid4().hex[:4]
        verses = source[: source.index("Naomi") + 400]  # Ruth 1:1-3 and on: the verses both works hold
        for title, text in ((f"Ruth 1 whole {tag}", source),
                            (f"Anthology {tag}", "Readings for the harvest festival.\n\n" + verses +
                             "\n\nThe end of the first reading.")):
            page.goto(f"{server.url}/register")
            page.fill("#title", title)
            page.fill("#text", text)
            go(page, page.locator("form.work button[type=submit]"))
        checked = "A student copied the opening verses: " + verses + " That is all."
        for _ in range(40):
            page.goto(f"{server.url}/check")
            page.fill("#text", checked)
            go(page, page.locator("form[action='/check'] button[value=html]"))
            if page.locator("article.match h3", has_text=tag).count() == 2:
                break
            page.wait_for_timeout(250)
        assert page.locator("article.match h3", has_text=tag).count() == 2
        also = page.locator(".compare > div:first-child a.also")
        assert also.count() >= 1
        target = also.first.get_attribute("href")
        also.first.click()
        assert page.evaluate("location.hash") == target and page.locator(target).is_visible()
        page.shot("1-two-works-one-passage")
        assert page.errors == []
    finally:
        ctx.close()
