"""The pages' CSRF tokens and session cookies (ipscope.service.web.security), without a browser."""

from __future__ import annotations

import os
import stat

from ipscope.service.web.security import Secrets


def test_csrf_token_is_bound_to_its_cookie_and_expires(tmp_path):
    sec = Secrets.for_data(tmp_path, csrf_ttl=3600)
    cookie = sec.new_csrf_cookie()
    tok = sec.csrf_token(cookie, now=1_000_000)
    assert sec.csrf_ok(cookie, tok, now=1_000_000 + 10)
    assert not sec.csrf_ok(cookie, tok, now=1_000_000 + 3601)  # stale
    assert not sec.csrf_ok(sec.new_csrf_cookie(), tok, now=1_000_010)  # made for another cookie
    issued, mac = tok.split(".")
    assert not sec.csrf_ok(cookie, f"{int(issued) + 3000}.{mac}", now=1_000_010)  # a moved time breaks the MAC
    assert not sec.csrf_ok(cookie, None) and not sec.csrf_ok(None, tok) and not sec.csrf_ok(cookie, "x")


def test_session_cookie_signed_expiring_and_secret_private(tmp_path):
    sec = Secrets.for_data(tmp_path, session_ttl=60)
    c = sec.session_cookie("ipk_abc_secret", now=1_000)
    assert sec.session_key(c, now=1_030) == "ipk_abc_secret"
    assert sec.session_key(c, now=1_061) is None
    k, exp, mac = c.split(".")
    assert sec.session_key(f"{k}.{int(exp) + 999}.{mac}", now=1_030) is None
    assert Secrets.for_data(tmp_path).session_key(c, now=1_030) == "ipk_abc_secret"  # same data dir, same secret
    assert Secrets(b"another secret").session_key(c, now=1_030) is None
    assert stat.S_IMODE(os.stat(tmp_path / "web.secret").st_mode) == 0o600


def test_pages_refuse_a_form_over_their_cap_and_send_the_policy(tmp_path):
    """Upload caps: a receipt form over its cap (1 MB + 64 KB) is refused with 413 and a page in the reader's
    language, before the receipt is read; every page carries the Content-Security-Policy without inline script."""
    import re

    from fastapi.testclient import TestClient

    from ipscope.service import ServiceConfig, create_app
    from ipscope.service.web.pages import PAGE_LIMITS
    from ipscope.service.web.security import CSP

    with TestClient(create_app(ServiceConfig(data=tmp_path))) as c:
        r = c.get("/log", headers={"Accept-Language": "zh-CN"})
        assert r.headers["content-security-policy"] == CSP and "script-src 'self'" in CSP
        assert "unsafe-inline" not in CSP and "<script" not in r.text
        token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        big = b"{" + b" " * (PAGE_LIMITS["receipt"] + PAGE_LIMITS["small"]) + b"}"
        r = c.post("/log", data={"csrf": token}, files={"receipt": ("r.json", big, "application/json")},
                   headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 413
        assert "表单超过了本页面接受的大小" in r.text
        r = c.post("/log", data={"csrf": token}, files={"receipt": ("r.json", b"{}", "application/json")})
        assert r.status_code == 422  # under the cap: read, and refused by verify's own checks (a field missing)
