"""The pages' security: a server secret, CSRF tokens, the signed session cookie, the response headers.

- **Secret**: 32 random bytes in ``DATA/web.secret`` (made on first start, mode 0600), so every worker of one
  server (they share the data directory) signs and checks alike, and sessions survive a restart.
- **CSRF**: a random value in the cookie ``ipscope_csrf`` (HttpOnly, SameSite=Strict) and, in every form, the
  token ``<issued>.<HMAC(secret, cookie|issued)>``. A POST is refused (403) when the token is missing, was made
  for another cookie (the cookie is renewed at sign-in and sign-out: forms of before are stale), or is older than
  :data:`CSRF_TTL`.
- **Session**: after sign-up or sign-in with an API key, the cookie ``ipscope_session`` holds the key and an
  expiry, signed with the secret (HttpOnly, SameSite=Lax, Secure over HTTPS); the pages check the key with the
  registry on every use, so a revoked key ends the session.
- **Headers**: a Content-Security-Policy without inline script (scripts and styles from this server only),
  ``X-Content-Type-Options: nosniff``, no framing, no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

__all__ = ["CSP", "CSRF_TTL", "SESSION_TTL", "Secrets", "HEADERS"]

CSRF_COOKIE = "ipscope_csrf"
SESSION_COOKIE = "ipscope_session"
LANG_COOKIE = "ipscope_lang"
CSRF_TTL = 4 * 3600  # seconds a form stays valid
SESSION_TTL = 12 * 3600  # seconds a sign-in lasts

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Secrets:
    """Signing with the server's secret (one per data directory)."""

    def __init__(self, secret: bytes, csrf_ttl: float = CSRF_TTL, session_ttl: float = SESSION_TTL) -> None:
        self._secret = secret
        self.csrf_ttl, self.session_ttl = csrf_ttl, session_ttl

    @classmethod
    def for_data(cls, data: Path, **kw: float) -> Secrets:
        p = Path(data) / "web.secret"
        if not p.exists():
            Path(data).mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f"web.secret.{os.getpid()}.{threading.get_ident():x}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
            try:  # another worker may have made it first: keep the first one
                os.link(tmp, p)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls(p.read_bytes(), **kw)

    def _mac(self, *parts: str) -> str:
        return _b64(hmac.new(self._secret, "|".join(parts).encode(), hashlib.sha256).digest())

    # -- CSRF

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(16)

    def csrf_token(self, cookie: str, now: float | None = None) -> str:
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._mac('csrf', cookie, issued)}"

    def csrf_ok(self, cookie: str | None, token: str | None, now: float | None = None) -> bool:
        if not cookie or not token or token.count(".") != 1:
            return False
        issued, mac = token.split(".")
        if not issued.isdigit() or not hmac.compare_digest(mac, self._mac("csrf", cookie, issued)):
            return False
        age = (time.time() if now is None else now) - int(issued)
        return -60 <= age <= self.csrf_ttl

    # -- the session

    def session_cookie(self, key: str, now: float | None = None) -> str:
        expires = str(int((time.time() if now is None else now) + self.session_ttl))
        k = _b64(key.encode())
        return f"{k}.{expires}.{self._mac('session', k, expires)}"

    def session_key(self, cookie: str | None, now: float | None = None) -> str | None:
        """The API key of a valid, unexpired session cookie, else None."""
        if not cookie or cookie.count(".") != 2:
            return None
        k, expires, mac = cookie.split(".")
        if not expires.isdigit() or not hmac.compare_digest(mac, self._mac("session", k, expires)):
            return None
        if int(expires) < (time.time() if now is None else now):
            return None
        try:
            return _unb64(k).decode()
        except (ValueError, UnicodeDecodeError):
            return None
