"""Errors as RFC 9457 problem details (``application/problem+json``), each with the fix.

Every error the service answers is ``{"type", "title", "status", "detail", "fix"}``: ``type`` a URN naming the
kind (``urn:ipscope:problem:unauthorized``), ``title`` its short summary, ``detail`` the engine's message for
this request, ``fix`` what to do (the ``fix`` of :class:`ipscope.errors.IpscopeError`; an RFC 9457 extension
member). Never a traceback: an unexpected exception is logged by the server and answered as a 500 problem that
says so.
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson
from starlette.responses import Response

from ..errors import InputError, IpscopeError, MissingExtraError

__all__ = ["JSONResponse", "ProblemResponse", "Problem", "problem", "from_exception"]

PROBLEM_TYPE = "application/problem+json"


class JSONResponse(Response):
    """JSON by orjson (several times faster than the standard library on reports with many spans)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_TYPE


class Problem(Exception):
    """An error the service answers as a problem: raise it anywhere in a request."""

    def __init__(self, status: int, kind: str, title: str, detail: str, fix: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail, self.fix = status, kind, title, detail, fix
        self.headers = dict(headers or {})

    def response(self) -> ProblemResponse:
        body = {"type": f"urn:ipscope:problem:{self.kind}", "title": self.title, "status": self.status,
                "detail": self.detail, "fix": self.fix}
        return ProblemResponse(body, status_code=self.status, headers=self.headers)


def problem(status: int, kind: str, title: str, detail: str, fix: str | None = None,
            headers: Mapping[str, str] | None = None) -> ProblemResponse:
    return Problem(status, kind, title, detail, fix, headers).response()


def from_exception(e: BaseException) -> Problem:
    """The problem for an engine error (the registry's, an input error, a damaged index), else a 500."""
    from ..registry.service import AuthError, ConflictError, ForbiddenError, NotFoundError

    if isinstance(e, Problem):
        return e
    if isinstance(e, AuthError):
        fix = f"{e.fix}, in the header Authorization: Bearer KEY (a key from POST /v1/owners or ipscope keys create)"
        return Problem(401, "unauthorized", "Unauthorized", e.message, fix,
                       {"WWW-Authenticate": 'Bearer realm="ipscope"'})
    if isinstance(e, ForbiddenError):
        return Problem(403, "forbidden", "Forbidden", e.message, e.fix)
    if isinstance(e, NotFoundError):
        return Problem(404, "not-found", "Not Found", e.message, e.fix)
    if isinstance(e, ConflictError):
        return Problem(409, "conflict", "Conflict", e.message, e.fix)
    if isinstance(e, InputError):
        return Problem(422, "invalid-input", "Unprocessable Content", e.message, e.fix)
    if isinstance(e, MissingExtraError):
        return Problem(501, "not-installed", "Not Implemented", e.message, e.fix)
    if isinstance(e, IpscopeError):  # a damaged index, a failed layer check: the server's data, not the request
        return Problem(500, "server-data", "Internal Server Error", e.message, e.fix)
    return Problem(500, "internal", "Internal Server Error",
                   f"the server failed on this request ({type(e).__name__}); it is logged on the server",
                   "try again; if it persists, tell the operator the time of the request")
