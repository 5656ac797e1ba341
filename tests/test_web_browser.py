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
