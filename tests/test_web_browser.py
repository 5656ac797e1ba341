"""The browser foundation of the web workbench: Debian's Chromium under Playwright loads pages over a real loopback
HTTP server, reads their text, keeps screenshots (build/screenshots/<test>/) and collects console errors.

The pages are tests/data/web/; the Chinese passage is from the Analects (../shared/data/chinese/classics.jsonl,
lunyu-00000). The server sends the Content-Security-Policy the workbench will send (issue 13: no inline script)."""

from __future__ import annotations

import pytest

from conftest import TESTDATA, StaticServer

pytestmark = pytest.mark.browser

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@pytest.fixture(scope="module")
def site():
    s = StaticServer(TESTDATA / "web", {"Content-Security-Policy": CSP})
    try:
        yield s
    finally:
        s.close()


def test_page_over_loopback_text_screenshot_and_no_console_errors(page, site):
    resp = page.goto(f"{site.url}/foundation.html")
    assert resp is not None and resp.status == 200
    assert resp.headers["content-security-policy"] == CSP
    assert page.title() == "ipscope browser check"
    assert page.inner_text("h1") == "ipscope browser check"
    # the site's own script ran under the policy
    page.wait_for_function("document.getElementById('status').textContent === 'script ran'")
    assert page.inner_text("#zh").startswith("子曰：“学而时习之，不亦说乎？")
    # the stylesheet loaded (the policy allows 'self' styles)
    assert page.eval_on_selector("#zh", "e => getComputedStyle(e).fontSize") == "22px"
    shot = page.shot("foundation")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert page.errors == []


def test_console_errors_are_collected(page, site):
    """The collector is not blind: an inline script under the policy is refused, and the refusal is a console
    error (the workbench's pages must show none)."""
    page.goto(f"{site.url}/inline.html")
    assert page.inner_text("#status") == "inline script blocked"
    assert any("Content Security Policy" in e for e in page.errors), page.errors
    page.evaluate("() => setTimeout(() => { throw new Error('boom from the page') }, 0)")
    page.wait_for_timeout(100)
    assert any("boom from the page" in e for e in page.errors), page.errors


def test_missing_file_is_a_console_error(page, site):
    """A page that loads a missing script (a 404) shows it as a console error."""
    page.goto(f"{site.url}/missing.html")
    assert any("404" in e for e in page.errors), page.errors


# ------------------------------------------------------------------------------------ languages in the browser


@pytest.fixture(scope="module")
def i18n_site():
    """A test-only page server: each request gets its locale from Accept-Language or ?lang= (with a cookie
    remembering the switch), as the workbench's pages will, and the page shows a coded engine error in that
    locale and a hostile query as text."""
    import threading
    from http.cookies import SimpleCookie
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    pytest.importorskip("jinja2")
    from ipscope.messages import Message
    from ipscope.service.web import i18n

    templates = (str(i18n.TEMPLATES_DIR), str(TESTDATA / "web" / "templates"))
    css = (TESTDATA / "web" / "foundation.css").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            u = urlsplit(self.path)
            if u.path == "/foundation.css":
                return self._send(200, "text/css", css)
            chosen = parse_qs(u.query).get("lang", [None])[0]
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            explicit = chosen or (cookie["lang"].value if "lang" in cookie else None)
            loc = i18n.negotiate(self.headers.get("Accept-Language"), explicit)
            env = i18n.environment(loc, templates)
            err = Message("registry.key.revoked")
            body = env.get_template("i18n_page.html").render(
                urls={x: i18n.switch_url(u.path, u.query, x) for x in i18n.LOCALES},
                error=err.render(i18n.translations(loc).pgettext),
                query='<script>document.title="owned"</script><img src=x onerror="document.title=\'owned\'">')
            extra = {"Set-Cookie": f"lang={loc}; Path=/; HttpOnly; SameSite=Lax"} if chosen else {}
            self._send(200, "text/html; charset=utf-8", body.encode("utf-8"), extra)

        def _send(self, status, ctype, data, extra=None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Vary", "Accept-Language, Cookie")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("browser_locale, title, error, switch_to, then_title", [
    ("zh-CN", "语言", "该 API 密钥已被吊销", "English", "Language"),
    ("en-GB", "Language", "the API key was revoked", "简体中文", "语言"),
], ids=["zh-CN", "en-GB"])
def test_languages_in_the_browser(browser, i18n_site, request, browser_locale, title, error, switch_to, then_title):
    """Chromium's own Accept-Language (from its locale) picks the page's language; the switch link changes it and
    the choice sticks (cookie); a hostile query is shown as text and never runs; no console error."""
    from conftest import screenshot_dir

    ctx = browser.new_context(locale=browser_locale, viewport={"width": 900, "height": 600})
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        sent = {}
        page.on("request", lambda r: sent.setdefault("accept-language", r.headers.get("accept-language")))
        page.goto(f"{i18n_site}/check?x=1")
        assert sent["accept-language"].startswith(browser_locale)
        assert page.title() == title and page.inner_text("h1") == title
        assert page.inner_text("#error") == error
        assert page.inner_text("#query").startswith("<script>document.title=")
        assert page.locator("#query img").count() == 0 and page.locator("#query script").count() == 0
        out = screenshot_dir(request.node)
        page.screenshot(path=str(out / "before-switch.png"), full_page=True)
        page.get_by_role("link", name=switch_to).click()
        page.wait_for_load_state()
        assert page.title() == then_title and "x=1" in page.url
        page.goto(f"{i18n_site}/check")  # the cookie keeps the choice over the browser's language
        assert page.title() == then_title
        assert page.get_attribute("html", "lang") == ("zh-Hans" if then_title == "语言" else "en")
        page.screenshot(path=str(out / "after-switch.png"), full_page=True)
        assert page.title() != "owned"
        assert errors == []
    finally:
        ctx.close()
