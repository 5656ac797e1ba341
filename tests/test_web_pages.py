"""The workbench's pages in a real browser (Debian's Chromium under Playwright) against a real ``ipscope serve``:
each flow end to end in English and in Chinese (the language from Accept-Language, as a reader's browser sends
it), zero console errors, screenshots kept in build/screenshots/<test>/; hostile text shown as text; a stale
CSRF token refused; no page in Chinese shows a string that was never translated.

The works registered are real text: Jane Austen's *Persuasion* (demo/corpus/books/105.txt, Project Gutenberg,
public domain) and the Analects (论语, ../shared/data/chinese via tests/data/web/)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from conftest import DEMO, TESTDATA
from service_helpers import Server
from web_helpers import go, sign_up

pytestmark = pytest.mark.browser

BOOK = (DEMO / "books" / "105.txt").read_text(encoding="utf-8")
HOSTILE_TITLE = '<img src=x onerror="window.pwned=1">Persuasion'
HOSTILE_TEXT = "<script>window.pwned=1</script> "
SNAPSHOT = TESTDATA / "sites" / "snapshot"  # 10minutemail.com's files (protego suite; the TDMRep report's example)
LANGS = {"en": "en-GB,en;q=0.9", "zh_Hans": "zh-CN,zh;q=0.9,en;q=0.5"}
LOCALES = {"en": "en-GB", "zh_Hans": "zh-CN"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_index):
    d = tmp_path_factory.mktemp("workbench")
    s = Server(["--data", str(d / "data"), "--rate-limit", "0", "--signup-limit", "0", "--sites", f"snap={SNAPSHOT}",
                "--corpus", f"demo={demo_index}"], d / "serve.log")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def lpage(browser, request):
    """Like conftest's ``page`` (console errors in ``.errors``, ``.shot(name)``), in a browser whose language is
    the test's ``lang`` parameter (Chromium then sends its Accept-Language)."""
    from conftest import PageErrors, screenshot_dir

    lang = request.node.callspec.params.get("lang", "en") if hasattr(request.node, "callspec") else "en"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[lang],
                              extra_http_headers={"Accept-Language": LANGS[lang]})
    pg = ctx.new_page()
    errors = PageErrors()
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    pg.errors = errors

    def shot(name: str) -> Path:
        out = screenshot_dir(request.node) / f"{name}.png"
        pg.screenshot(path=str(out), full_page=True)
        return out

    pg.shot = shot
    try:
        yield pg
    finally:
        ctx.close()


def in_lang(page, lang: str):
    return page


def register_work(page, title: str, text: str, reserve: dict[str, str]) -> None:
    page.fill("#title", title)
    page.fill("#text", text)
    for term, value in reserve.items():
        page.select_option(f"#res-{term}", value)
    go(page, page.locator("form.work button[type=submit]"))


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_register_then_verify_the_receipt_on_the_log_page(lpage, server, lang, tmp_path):
    page = lpage
    words = {"en": ("Register a work", "Your API key", "Registered: ", "Verified: every check holds"),
             "zh_Hans": ("登记作品", "您的 API 密钥", "已登记：", "已验证：每项检查均通过")}[lang]
    page.goto(f"{server.url}/register")
    assert page.inner_text("h1") == words[0]
    assert page.get_attribute("html", "lang") == {"en": "en", "zh_Hans": "zh-Hans"}[lang]
    page.shot("1-sign-up")
    sign_up(page, server, f"Anne Elliot {lang} {uuid.uuid4().hex[:6]}")
    assert words[1] in page.inner_text("main")
    page.shot("2-key-shown-once")
    # a passage of Persuasion, chapter 3 (the work registered; hostile HTML around it)
    text = HOSTILE_TEXT + BOOK[20_000:24_000]
    register_work(page, HOSTILE_TITLE, text, {"train-ai": "n", "search": "y"})
    h1 = page.inner_text("h1")
    assert h1 == words[2] + HOSTILE_TITLE  # shown as text, never as an element
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.pwned") is None
    assert "train-ai=n" in page.inner_text("main") and "search=y" in page.inner_text("main")
    page.shot("3-receipt")
    # the exports are one click away
    hrefs = page.eval_on_selector_all("ul.exports a", "els => els.map(e => e.getAttribute('href'))")
    assert [h.rsplit("/", 1)[1] for h in hrefs] == ["tdmrep", "rsl", "robots", "cawg"]
    robots = page.request.get(server.url + hrefs[2]).text()
    assert "train-ai=n" in robots
    # the receipt downloads, and the log page verifies it with the same code as `ipscope verify`
    with page.expect_download() as dl:
        page.click("a[href^='/receipts/']")
    receipt_file = tmp_path / "receipt.json"
    dl.value.save_as(receipt_file)
    receipt = json.loads(receipt_file.read_text())
    assert receipt["statement"]["reservations"] == {"train-ai": "n", "search": "y"}
    go(page, page.locator("nav.main-nav a[href='/log']"))
    page.set_input_files("#receipt", str(receipt_file))
    go(page, page.locator("form[action='/log'] button"))
    assert page.inner_text("#verdict") == words[3]
    assert page.locator("tr.bad").count() == 0 and page.locator("tr.ok").count() == 3
    page.shot("4-receipt-verified")
    # a tampered receipt does not verify: the page says which check failed
    receipt["statement"]["reservations"] = {"train-ai": "y"}
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(receipt))
    page.set_input_files("#receipt", str(bad))
    go(page, page.locator("form[action='/log'] button"))
    assert page.locator("section.result.bad").count() == 1
    assert page.locator("tr.bad").count() >= 1
    page.shot("5-tampered-receipt")
    assert page.evaluate("window.pwned") is None
    assert page.errors == []


def test_language_switch_is_remembered(page, server):
    in_lang(page, "en")
    page.goto(f"{server.url}/log")
    assert page.inner_text("h1") == "The registry log"
    go(page, page.locator("nav.language-switch a[hreflang='zh-Hans']"))
    assert page.inner_text("h1") == "登记日志"
    go(page, page.locator("nav.main-nav a[href='/register']"))  # the choice is kept in a cookie
    assert page.inner_text("h1") == "登记作品"
    assert page.errors == []


def test_stale_csrf_token_is_refused(page, server):
    """A form whose token was made for another CSRF cookie (the cookie renewed at sign-in and sign-out, or
    cleared) is refused with 403, and nothing is done."""
    in_lang(page, "en")
    page.goto(f"{server.url}/register")
    page.fill("#name", f"Stale {uuid.uuid4().hex[:6]}")
    page.context.clear_cookies()  # the form's token now belongs to a cookie the browser no longer has
    assert page.request.get(f"{server.url}/log").ok  # a new cookie is issued; the form on screen keeps its old token
    with page.expect_response(lambda r: r.url.endswith("/signup")) as resp:
        page.click("form[action='/signup'] button")
    assert resp.value.status == 403
    assert "This form has expired" in page.inner_text("[role=alert]")
    assert page.locator("code.key").count() == 0
    page.shot("stale-form-refused")
    assert page.errors == [] or all("403" in e for e in page.errors)


def test_phone_width(browser, server, request):
    from conftest import screenshot_dir

    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
    try:
        pg = ctx.new_page()
        pg.goto(f"{server.url}/register")
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        pg.screenshot(path=str(screenshot_dir(request.node) / "register-390px.png"), full_page=True)
    finally:
        ctx.close()


# ----------------------------------------------------------------------------------- no untranslated string

#: Latin-script words a Chinese page may show: names and formats that are not translated
ALLOWED_LATIN = {"ipscope", "HTTP", "API", "JSON", "SHA", "ISCC", "English", "ipk", "tdmrep", "json", "license",
                 "xml", "robots", "txt", "CAWG", "train", "genai", "use", "search", "verify", "keys", "create",
                 "owner", "NAME", "aipref", "IETF", "markdown", "URL", "http", "https", "JSONL", "manifest",
                 "jsonl", "GPTBot", "CCBot", "url", "text",
                 "snap", "demo"}  # the names of the site snapshot and the corpus this server was given


def latin_words(text: str, user_data: list[str]) -> set[str]:
    for s in sorted((s for s in user_data if s.strip()), key=len, reverse=True):
        text = text.replace(s, " ")
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ALLOWED_LATIN}


@pytest.mark.parametrize("lang", ["zh_Hans"])
def test_no_page_in_chinese_shows_an_untranslated_string(lpage, server, lang):
    page = lpage
    name = f"Wentworth {uuid.uuid4().hex[:6]}"
    seen = {}
    for path in ("/", "/register", "/log", "/check", "/works", "/audit"):
        page.goto(server.url + path)
        seen[path] = latin_words(page.inner_text("body"), page.locator("pre.note").all_inner_texts())
    page.goto(server.url + "/register")
    sign_up(page, server, name)
    key = page.inner_text("code.key")
    seen["/register (signed in)"] = latin_words(page.inner_text("body"), [name, key])
    register_work(page, "Persuasion", BOOK[30_000:31_000], {"train-ai": "n"})
    body = page.inner_text("body")
    seen["/register (receipt)"] = latin_words(body, [name, "Persuasion"] + re.findall(r"[0-9a-f]{16,}|ISCC:\w+", body))
    page.goto(server.url + "/log")
    cp = page.inner_text("pre.note")
    seen["/log (checkpoint)"] = latin_words(page.inner_text("body"), [cp, name])

    def quoted() -> list[str]:  # what the page quotes as written: codes, ids, URLs, evidence
        return page.locator("code, .mono, pre").all_inner_texts() + [name, "Persuasion"]

    page.goto(server.url + "/works")
    seen["/works (a work)"] = latin_words(page.inner_text("body"), quoted())
    page.goto(server.url + "/audit")
    page.fill("#record", "\n".join(json.dumps(r) for r in AUDIT_RECORDS))
    page.select_option("#sites", "snap")
    go(page, page.locator("form[action='/audit'] button[value=html]"))
    seen["/audit (decisions)"] = latin_words(page.inner_text("body"),
                                             quoted() + [r["url"] for r in AUDIT_RECORDS] + [str(SNAPSHOT)])
    page.goto(server.url + "/check")
    page.fill("#text", "A new text with nothing registered in it at all, written today.")
    go(page, page.locator("form[action='/check'] button[value=html]"))
    seen["/check (result)"] = latin_words(page.inner_text("body"), quoted() + [page.input_value("#text")])
    assert {p: w for p, w in seen.items() if w} == {}
    assert page.errors == []


# ----------------------------------------------------------------------------------------------------- check

def _analects() -> str:
    """学而篇 of the Analects (论语), from ../shared/data/chinese/classics.jsonl (lunyu-00000)."""
    from conftest import need_shared

    with (need_shared("chinese") / "classics.jsonl").open(encoding="utf-8") as f:
        return json.loads(f.readline())["text"]


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_check_marks_the_copied_passage_beside_the_work(lpage, server, lang, tmp_path):
    """A creator registers a work; an examiner (another owner) checks a text that copies a passage of it. The
    page names the work, its owner and reservations, and marks the copied passage in the text, linked to the
    work's side. In Chinese the checked text is uploaded as a GB18030 file (the readers' decoder takes it)."""
    page = lpage
    if lang == "en":
        work_title, work = "Persuasion, chapter 3", BOOK[20_000:30_000]
        copied = BOOK[22_000:22_900]
        query = "An essay a model wrote. <script>window.pwned=1</script> It begins its own way, then: " + copied \
            + " And it ends in words of its own."
    else:
        work_title, work = "论语·学而篇", _analects()
        copied = work[:300]
        query = "某模型写道：<img src=x onerror=\"window.pwned=1\">" + copied + "以上为引文。"
    owner = f"{'Anne' if lang == 'en' else '孔门'} {uuid.uuid4().hex[:6]}"
    sign_up(page, server, owner)
    register_work(page, work_title, work, {"train-ai": "n", "train-genai": "n"})
    go(page, page.locator("form.inline button"))  # sign out: the examiner is someone else
    sign_up(page, server, f"examiner {uuid.uuid4().hex[:6]}")
    go(page, page.locator("nav.main-nav a[href='/check']"))
    if lang == "en":
        page.fill("#text", query)
    else:
        f = tmp_path / "申请.txt"
        f.write_bytes(query.encode("gb18030"))
        page.set_input_files("#file", str(f))
    # the indexer publishes the new work within a second or so: check again until it is named
    for _ in range(40):
        if lang == "en":
            page.fill("#text", query)
        else:
            page.set_input_files("#file", str(tmp_path / "申请.txt"))
        go(page, page.locator("form[action='/check'] button[value=html]"))
        if page.locator("article.match h3", has_text=work_title).count():
            break
        page.wait_for_timeout(250)
    assert page.locator("article.match h3", has_text=work_title).count() == 1
    art = page.locator("article.match", has=page.locator("h3", has_text=work_title))
    assert owner in art.inner_text()
    assert "train-ai=n" in art.inner_text() and "train-genai=n" in art.inner_text()
    # the copied passage is marked in the text, and the marks cover exactly it
    marked = "".join(page.locator(".compare > div:first-child mark").all_inner_texts())
    assert copied[50:250] in marked  # (a span starts and ends on whole tokens: the cut ends may be left out)
    assert "window.pwned" not in marked
    # the hostile markup of the query is shown as text, never run
    assert "window.pwned=1" in page.inner_text(".compare .passage")
    assert page.evaluate("window.pwned") is None
    page.shot("1-check-result")
    # a mark links to the work's passage, and back
    first = page.locator(".compare > div:first-child mark a").first
    target = first.get_attribute("href")
    first.click()
    assert page.evaluate("location.hash") == target
    assert page.locator(target).is_visible()
    # download the JSON: the same body as POST /v1/check
    if lang == "en":
        page.fill("#text", query)
    else:
        page.set_input_files("#file", str(tmp_path / "申请.txt"))
    with page.expect_download() as dl:
        page.click("form[action='/check'] button[value=json]")
    out = tmp_path / "check.json"
    dl.value.save_as(out)
    body = json.loads(out.read_text(encoding="utf-8"))
    m = next(m for m in body["matches"] if m["title"] == work_title)
    s = m["spans"][0]
    assert query[s["query_start"]:s["query_end"]] == work[s["work_start"]:s["work_end"]]
    assert page.errors == []


# ------------------------------------------------------------------------------------------------- my works

@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_my_works_search_change_reservations_and_withdraw(lpage, server, lang):
    page = lpage
    words = {"en": ("Reservations changed: ", "Withdrawn: ", "You have not registered a work yet."),
             "zh_Hans": ("保留权利已修改：", "已撤回：", "您尚未登记作品。")}[lang]
    sign_up(page, server, f"Elliot {lang} {uuid.uuid4().hex[:6]}")
    register_work(page, "Persuasion, chapter 4", BOOK[30_000:34_000], {"train-ai": "n"})
    page.goto(f"{server.url}/register")
    register_work(page, HOSTILE_TITLE, BOOK[40_000:43_000], {})
    go(page, page.locator("nav.main-nav a[href='/works']"))
    assert page.locator("article.work-item").count() == 2
    assert page.locator("article.work-item h2").all_inner_texts() == ["Persuasion, chapter 4", HOSTILE_TITLE]
    page.shot("1-my-works")
    page.fill("#q", "chapter")
    go(page, page.locator("form.search button"))
    assert page.locator("article.work-item").count() == 1
    item = page.locator("article.work-item").first
    item.locator("details").first.locator("summary").click()
    item.locator("select[name='res-train-ai']").select_option("y")
    item.locator("select[name='res-search']").select_option("n")
    page.shot("2-edit-reservations")
    go(page, item.locator("form[action$='/reservations'] button"))
    assert page.inner_text("h1") == words[0] + "Persuasion, chapter 4"
    main = page.inner_text("main")
    assert "train-ai=y" in main and "search=n" in main
    assert page.locator("a[href^='/receipts/']").count() == 1  # the new receipt, downloadable
    page.shot("3-new-receipt")
    # withdraw both: the page asks for the box to be ticked first
    for title in ("Persuasion, chapter 4", HOSTILE_TITLE):
        page.goto(f"{server.url}/works")
        item = page.locator("article.work-item", has=page.locator("h2", has_text=title))
        item.locator("details").nth(1).locator("summary").click()
        item.locator("input[name=confirm]").check()
        go(page, item.locator("form[action$='/delete'] button"))
        assert page.inner_text("h1") == words[1] + title
    page.goto(f"{server.url}/works")
    assert page.locator("article.work-item").count() == 0
    assert words[2] in page.inner_text("main")
    assert page.evaluate("window.pwned") is None
    assert page.errors == []


# ---------------------------------------------------------------------------------------------------- audit

# the W3C TDMRep report's header example (§3.2), the snapshot's 10minutemail.com (the report's first
# tdmrep.json example), a record without any signal, and one whose URL is not http(s)
AUDIT_RECORDS = [
    {"id": "a", "url": "https://news.example/article.html", "text": "An article.", "headers": {"tdm-reservation": "1"}},
    {"id": "b", "url": "https://10minutemail.com/about", "text": "About us."},
    {"id": "c", "url": "https://quiet.example/page", "text": "<script>window.pwned=1</script>No signal."},
    {"url": "ftp://x.example/", "text": "no http URL"},
]


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_audit_a_jsonl_against_a_site_snapshot(lpage, server, lang, tmp_path):
    page = lpage
    words = {"en": ("0 allowed", "1 allowed, 2 reserved, 1 rejected", "reserved", "allowed", "rejected"),
             "zh_Hans": ("", "允许 1 条，保留 2 条，拒收 1 条", "保留", "允许", "拒收")}[lang]
    sign_up(page, server, f"auditor {uuid.uuid4().hex[:6]}")
    go(page, page.locator("nav.main-nav a[href='/audit']"))
    f = tmp_path / "records.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in AUDIT_RECORDS), encoding="utf-8")
    page.set_input_files("#file", str(f))
    page.select_option("#sites", "snap")
    go(page, page.locator("form[action='/audit'] button[value=html]"))
    assert page.inner_text("#decisions") == words[1]
    decisions = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert decisions == [words[2], words[2], words[3], words[4]]
    rows = page.locator("tbody tr").all_inner_texts()
    assert "tdm-reservation: 1" in rows[0]
    assert '{"location":"/","tdm-reservation":1}' in rows[1]  # evidence quoted as written
    page.shot("1-audit-decisions")
    # one pasted record, and the manifest to download
    page.fill("#record", json.dumps(AUDIT_RECORDS[0], indent=2))
    page.set_input_files("#file", [])
    with page.expect_download() as dl:
        page.click("form[action='/audit'] button[value=json]")
    out = tmp_path / "manifest.jsonl"
    dl.value.save_as(out)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [d["decision"] for d in lines] == ["reserved"] and lines[0]["reasons"][0]["signal"] == "tdmrep"
    assert page.evaluate("window.pwned") is None
    assert page.errors == []


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_check_page_traces_a_text_in_a_corpus(lpage, server, lang):
    """The same page traces a text in a corpus the server was given (the demo corpus: Persuasion is
    books/105.txt there): the copied passage marked, the book named beside its own characters."""
    page = lpage
    heading = {"en": "Trace a text in the corpus demo", "zh_Hans": "在语料库 demo 中溯源文本"}[lang]
    sign_up(page, server, f"tracer {uuid.uuid4().hex[:6]}")
    go(page, page.locator("nav.main-nav a[href='/check']"))
    copied = BOOK[50_000:51_000]
    page.fill("#text", "A chatbot answered: " + copied)
    page.select_option("#where", "corpus:demo")
    go(page, page.locator("form[action='/check'] button[value=html]"))
    assert page.inner_text("h1") == heading
    assert page.locator("article.match").count() >= 1
    art = page.locator("article.match").first
    assert "books/105.txt" in art.inner_text()
    marked = "".join(page.locator(".compare > div:first-child mark").all_inner_texts())
    assert copied[50:900] in marked
    side = "".join(art.locator("blockquote mark").all_inner_texts())
    assert copied[50:900] in side  # the book's own characters, from the index
    page.shot("1-trace-result")
    assert page.errors == []
