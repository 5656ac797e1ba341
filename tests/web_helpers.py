"""Steps the real-browser tests of the web workbench share (test_web_pages.py, test_web_check.py)."""

from __future__ import annotations


def go(page, target) -> None:
    """Click a link or a form's button and wait for the page it leads to (assertions then read the new page,
    never the old one)."""
    with page.expect_navigation():
        target.click()


def sign_up(page, server, name: str) -> str:
    """Sign up as ``name`` on the Register page; the API key the page shows."""
    page.goto(f"{server.url}/register")
    page.fill("#name", name)
    go(page, page.locator("form[action='/signup'] button"))
    key = page.inner_text("code.key")
    assert key.startswith("ipk_")
    return key
