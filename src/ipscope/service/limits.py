"""Limits checked before a request's body is read: URL length, declared body size, rate per key and sign-ups
per client address (:class:`Guard`, an ASGI middleware); and the body read with its size limit
(:func:`read_json`), which stops at the limit when the size was not declared (chunked).

Rates are token buckets per process: with ``--workers N`` a client may get up to N times the rate when its
requests spread over the workers (docs/service.md).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import Problem, problem

__all__ = ["Buckets", "Guard", "read_json", "key_of"]


class Buckets:
    """Token buckets: ``capacity`` requests at once, refilled at ``per_second``. Used from the event loop only."""

    def __init__(self, capacity: float, per_second: float, max_entries: int = 100_000) -> None:
        self.capacity, self.per_second, self.max_entries = capacity, per_second, max_entries
        self._b: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic() if now is None else now
        tokens, last = self._b.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens >= 1:
            self._b[key] = (tokens - 1, now)
            if len(self._b) > self.max_entries:
                self._forget(now)
            return 0.0
        self._b[key] = (tokens, now)
        return (1 - tokens) / self.per_second

    def _forget(self, now: float) -> None:
        """Drop the buckets that are full again (their clients have been idle long enough)."""
        full = [k for k, (t, last) in self._b.items() if t + (now - last) * self.per_second >= self.capacity]
        for k in full:
            del self._b[k]


def key_of(authorization: str | None) -> str | None:
    """The API key of an ``Authorization: Bearer KEY`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


class Guard:
    """The checks every request passes before routing: URL length (414), declared body size (413, answered
    before the body is read), the rate per API key id (or per client address without a key: 429 with
    Retry-After) and, for sign-up, the sign-ups per client address."""

    def __init__(self, app: ASGIApp, *, max_url_chars: int, max_body_bytes: int, rate_per_minute: int,
                 signups_per_hour: int) -> None:
        self.app = app
        self.max_url, self.max_body = max_url_chars, max_body_bytes
        self.rate = Buckets(rate_per_minute, rate_per_minute / 60) if rate_per_minute > 0 else None
        self.signups = Buckets(signups_per_hour, signups_per_hour / 3600) if signups_per_hour > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resp = self._check(scope)
        if resp is not None:
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> Any:
        n = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string") or b"")
        if n > self.max_url:
            return problem(414, "uri-too-long", "URI Too Long", f"the URL has {n:,} bytes, over the limit of "
                           f"{self.max_url:,}", "send long input in the request body (POST), not in the URL")
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return problem(400, "bad-request", "Bad Request", f"Content-Length {length[:40]!r} is not a number",
                               "send a valid Content-Length, or none (chunked)")
            if size > self.max_body:
                return _too_large(size, self.max_body).response()
        client = scope.get("client")
        addr = client[0] if client else "?"
        if self.rate is not None:
            key = key_of(_header(scope, b"authorization"))
            who = f"k:{key.split('_')[1] if key and key.count('_') >= 2 else key}" if key else f"a:{addr}"
            wait = self.rate.take(who)
            if wait:
                return problem(429, "rate-limited", "Too Many Requests",
                               f"more than {int(self.rate.capacity)} requests a minute from this "
                               f"{'API key' if key else 'client address'}",
                               f"wait {wait:.1f} s (Retry-After) and send fewer requests a minute",
                               {"Retry-After": str(max(1, round(wait + 0.5)))})
        if self.signups is not None and scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/owners":
            wait = self.signups.take(addr)
            if wait:
                return problem(429, "rate-limited", "Too Many Requests",
                               f"more than {int(self.signups.capacity)} sign-ups an hour from this client address",
                               f"wait {wait:.0f} s (Retry-After), or ask the operator for a key "
                               "(ipscope keys create)", {"Retry-After": str(max(1, round(wait + 0.5)))})
        return None


def _too_large(size: int, limit: int) -> Problem:
    return Problem(413, "content-too-large", "Content Too Large",
                   f"the request body has {'more than ' if size < 0 else ''}{abs(size) if size >= 0 else limit:,} "
                   f"bytes, over the limit of {limit:,}",
                   "send less: a work's text is at most 10 MB of UTF-8 (send it as UTF-8, not \\u escapes); "
                   "split a batch of records over several requests",
                   {"Connection": "close"})  # the server closes the connection: the rest is never read


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, read up to ``max_bytes`` (413 beyond it, without reading further; a declared
    Content-Length over the server's limit is refused by :class:`Guard` before any byte is read)."""
    chunks: list[bytes] = []
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > max_bytes:
            raise _too_large(-1, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON, read up to ``max_bytes`` (:func:`read_body`). Malformed JSON is 400."""
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise Problem(400, "malformed-json", "Bad Request", "the request body is empty",
                      "send a JSON object, e.g. {\"text\": \"...\"}, with Content-Type: application/json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise Problem(400, "malformed-json", "Bad Request", f"the request body is not JSON: {e}",
                      "send one JSON object (UTF-8), e.g. {\"text\": \"...\"}") from None
