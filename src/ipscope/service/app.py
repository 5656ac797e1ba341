"""The HTTP API (FastAPI): :func:`create_app`. Every endpoint calls the Python API the CLI calls
(``Registry``, ``trace``, ``similar``, ``Auditor``, ``WorksIndex.check``) and answers its result's JSON, or an
RFC 9457 problem (``problems.py``). docs/service.md lists the endpoints with examples.

Request path, kept lean: the :class:`~.limits.Guard` middleware (URL length, declared body size, rates) ->
the body read with its limit and parsed by orjson (no model validation layer: the engines check their input
and name the fix) -> one call into a worker thread (authentication and the work together) -> the result's
JSON by orjson. The OpenAPI description at ``/docs`` takes its request schemas from the models in
``schemas.py``, which are documentation only.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Mapping

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response

from .. import __version__
from ..errors import InputError, IpscopeError
from ..registry.service import NewWork
from . import schemas
from .batcher import Batcher
from .config import ServiceConfig
from .limits import Guard, key_of, read_json
from .problems import JSONResponse, Problem, from_exception, problem
from .state import State

log = logging.getLogger("ipscope.service")

__all__ = ["create_app", "install_problem_handlers"]


def _fields(body: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body as an object with these fields: a missing or unknown field (a typo such as "reservation") is
    refused, naming it."""
    if not isinstance(body, dict):
        raise InputError(f"the request body is a JSON {type(body).__name__}, not an object",
                         f"send an object with the fields {', '.join(required + optional)}")
    missing = [f for f in required if f not in body]
    if missing:
        raise InputError(f"the field(s) {', '.join(missing)} are missing",
                         f"send an object with {', '.join(required)}" +
                         (f" (and optionally {', '.join(optional)})" if optional else ""))
    unknown = [f for f in body if f not in required and f not in optional]
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(repr(u[:50]) for u in unknown[:5])}",
                         f"the fields are {', '.join(required + optional)}")
    return body


def _int(body: Mapping[str, Any], name: str, default: int | None, lo: int, hi: int) -> int | None:
    v = body.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(f"{name} is {str(v)[:50]!r}", f"give {name} as a whole number from {lo} to {hi}")
    return v


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    v = body.get(name, default)
    if not isinstance(v, bool):
        raise InputError(f"{name} is {str(v)[:50]!r}, not true or false", f"give {name} as true or false")
    return v


def allow_partial(body: Mapping[str, Any], cfg: ServiceConfig) -> bool:
    """Whether a router may answer without some shards (``allow_partial``, else ``--no-partial``); one process
    always answers whole, and checks the field alike."""
    if body.get("allow_partial") is None:
        return cfg.allow_partial
    return _bool(body, "allow_partial", cfg.allow_partial)


def _text(body: Mapping[str, Any], limit: int, what: str = "text") -> str:
    t = body.get(what)
    if not isinstance(t, str):
        raise InputError(f"{what} is a {type(t).__name__}, not a string", f"give the {what} as a JSON string")
    if len(t) > limit:
        raise InputError(f"{what} has {len(t):,} characters, over this server's limit of {limit:,} for one query",
                         "split it into several requests")
    return t


TRACE_FIELDS = ("min_tokens", "max_sources", "excerpts")  # the trace options a request may set
MAX_TOP = 100  # the most documents one similar request may ask for


def trace_options(body: Mapping[str, Any]) -> Any:
    """The ``TraceOptions`` of the fields ``TRACE_FIELDS`` of ``body``, within their bounds (every other option
    keeps its default): the one check of the public ``POST /v1/trace`` and of a shard server's trace phases."""
    from ..trace import DEFAULT_MIN_TOKENS, TraceOptions

    return TraceOptions(min_tokens=_int(body, "min_tokens", DEFAULT_MIN_TOKENS, 1, 10_000) or DEFAULT_MIN_TOKENS,
                        max_sources=_int(body, "max_sources", 20, 1, 1000) or 20,
                        excerpts=_int(body, "excerpts", None, 0, 10_000))


def trace_request(raw: Any, cfg: ServiceConfig) -> tuple[Mapping[str, Any], str, Any]:
    """The body of ``POST /v1/trace`` checked: (body, text, ``TraceOptions``). A router parses it alike."""
    body = _fields(raw, ("text",), ("corpus", *TRACE_FIELDS, "allow_partial"))
    text = _text(body, cfg.max_query_chars)
    allow_partial(body, cfg)
    return body, text, trace_options(body)


def similar_request(raw: Any, cfg: ServiceConfig) -> tuple[Mapping[str, Any], str, Any]:
    """The body of ``POST /v1/similar`` checked: (body, text, ``SimilarOptions``). A router parses it alike."""
    from ..similar import SimilarOptions

    body = _fields(raw, ("text",), ("corpus", "top", "semantic", "allow_partial"))
    text = _text(body, cfg.max_query_chars)
    allow_partial(body, cfg)
    return body, text, SimilarOptions(top=_int(body, "top", 10, 1, MAX_TOP) or 10,
                                      semantic=_bool(body, "semantic", False))


def _openapi_body(model: type) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema":
                                                                              model.model_json_schema()}}}}


def create_app(config: ServiceConfig, state: State | None = None) -> FastAPI:
    """The service's ASGI app over ``config`` (the registry, corpora and site snapshots are opened now: an
    unreachable database or a bad index fails here, with an :class:`~ipscope.errors.IpscopeError`)."""
    st = state or State(config)
    cfg = config
    batcher = Batcher(st.registry)  # registrations that arrive together share one commit
    # trace, similar and check are CPU-bound: at most this many run at once in this process, the others wait their
    # turn, so concurrent requests do not slow each other down by sharing cores (docs/service.md, "Concurrency")
    engine = anyio.CapacityLimiter(cfg.engine_threads or max(1, (os.cpu_count() or 1) // max(1, cfg.workers)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await batcher.close()
        st.close()

    app = FastAPI(title="ipscope", version=__version__, lifespan=lifespan, default_response_class=JSONResponse,
                  description="Register works and their AI-use reservations with signed receipts; check, trace, "
                              "compare and audit texts. Errors are RFC 9457 problems with a `fix` (docs/service.md).")
    app.state.ipscope = st
    app.add_middleware(Guard, max_url_chars=cfg.max_url_chars, max_body_bytes=cfg.max_body_bytes,
                       rate_per_minute=cfg.rate_limit, signups_per_hour=cfg.signup_limit if cfg.signup else 0)

    install_problem_handlers(app)

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    async def compute(fn: Callable[..., Any]) -> Any:
        """A CPU-bound engine call (trace, similar, check), through the engine limiter."""
        return await anyio.to_thread.run_sync(fn, limiter=engine)

    reg = st.registry

    def key(request: Request) -> str | None:
        return key_of(request.headers.get("authorization"))

    # -- meta

    @app.get("/v1", tags=["meta"], summary="What this server serves")
    async def index() -> Response:
        return JSONResponse({"ipscope": __version__, "corpora": sorted(st.corpora), "sites": sorted(cfg.sites),
                             "signup": cfg.signup, "limits": {
                                 "body_bytes": cfg.max_body_bytes, "query_chars": cfg.max_query_chars,
                                 "audit_records": cfg.max_audit_records, "requests_per_minute": cfg.rate_limit,
                                 "signups_per_hour": cfg.signup_limit if cfg.signup else 0}})

    # -- owners

    @app.post("/v1/owners", tags=["owners"], status_code=201, openapi_extra=_openapi_body(schemas.OwnerIn),
              summary="Sign up: a new owner and its API key (shown once)")
    async def sign_up(request: Request) -> Response:
        if not cfg.signup:
            raise Problem(403, "signup-closed", "Forbidden", "sign-up is closed on this server",
                          "ask the operator for a key (ipscope keys create --owner NAME)")
        body = _fields(await read_json(request, cfg.max_body_bytes), ("name",))
        k = await call(reg.create_owner, body["name"])
        return JSONResponse({"owner_id": k.owner_id, "owner": k.owner, "key_id": k.key_id, "key": k.key},
                            status_code=201)

    # -- works

    @app.post("/v1/works", tags=["works"], status_code=201, openapi_extra=_openapi_body(schemas.WorkIn),
              summary="Register a work (auth); the receipt proves when and what")
    async def register(request: Request) -> Response:
        body = _fields(await read_json(request, cfg.max_body_bytes), ("title", "text"),
                       ("urls", "meta", "reservations"))
        k = key(request)
        def prepare() -> Any:
            st.authenticate(k)  # before the text is hashed and coded: a stranger costs one lookup
            return reg.prepare(NewWork(k, body["title"], body["text"], body.get("urls"), body.get("meta"),
                                       body.get("reservations")))

        prepared = await call(prepare)  # one thread hop; the batcher's thread then only commits
        r = await batcher.register(prepared)
        return JSONResponse({"id": r.work.id, "content_sha256": r.work.content_sha256, "iscc": r.work.iscc,
                             "receipt": r.receipt.to_json()}, status_code=201,
                            headers={"Location": f"/v1/works/{r.work.id}"})

    @app.get("/v1/works", tags=["works"], summary="List and search works (paged)")
    async def list_works(owner: str | None = Query(None, max_length=200, description="an owner's id or name"),
                         q: str | None = Query(None, max_length=200, description="words in the title"),
                         limit: int = Query(20, ge=1, le=cfg.max_page), offset: int = Query(0, ge=0)) -> Response:
        works = await call(lambda: reg.find_works(owner=owner, q=q, limit=limit, offset=offset))
        return JSONResponse({"works": [w.to_json() for w in works], "limit": limit, "offset": offset,
                             "next_offset": offset + limit if len(works) == limit else None})

    @app.get("/v1/works/{work_id}", tags=["works"], summary="A work's public record (no text)")
    async def get_work(work_id: str) -> Response:
        return JSONResponse((await call(reg.work, work_id)).to_json())

    @app.get("/v1/works/{work_id}/text", tags=["works"], summary="A work's text (its owner only)",
             response_class=PlainTextResponse)
    async def get_text(work_id: str, request: Request) -> Response:
        return PlainTextResponse(await call(reg.text, key(request), work_id))

    @app.get("/v1/works/{work_id}/history", tags=["works"], summary="Every logged change of a work")
    async def history(work_id: str) -> Response:
        h = await call(reg.history, work_id)
        return JSONResponse({"id": work_id, "history": [
            {"leaf_index": e.leaf_index, "event": e.event, "time": e.time, "statement": e.statement} for e in h]})

    @app.patch("/v1/works/{work_id}/reservations", tags=["works"], openapi_extra=_openapi_body(schemas.ReservationsIn),
               summary="Replace a work's reservations (its owner only)")
    async def set_reservations(work_id: str, request: Request) -> Response:
        body = _fields(await read_json(request, cfg.max_body_bytes), ("reservations",))
        r = await call(reg.set_reservations, key(request), work_id, body["reservations"])
        return JSONResponse({"id": r.work.id, "reservations": dict(r.work.reservations),
                             "receipt": r.receipt.to_json()})

    @app.delete("/v1/works/{work_id}", tags=["works"], summary="Withdraw a work (its owner only; the log keeps it)")
    async def delete_work(work_id: str, request: Request) -> Response:
        r = await call(reg.delete, key(request), work_id)
        return JSONResponse({"id": r.work.id, "deleted": r.work.deleted, "receipt": r.receipt.to_json()})

    @app.get("/v1/works/{work_id}/export/{fmt}", tags=["works"],
             summary="A work's reservations as tdmrep, rsl, robots or cawg")
    async def export(work_id: str, fmt: str) -> Response:
        e = await call(reg.export, work_id, fmt)
        return Response(e.body, media_type=e.media_type,
                        headers={**e.headers, "Content-Disposition": f'inline; filename="{e.filename}"'})

    # -- the three questions

    @app.post("/v1/check", tags=["questions"], openapi_extra=_openapi_body(schemas.CheckIn),
              summary="The registered works a text derives from, with each owner's reservations (auth)")
    async def check(request: Request) -> Response:
        body = _fields(await read_json(request, cfg.max_body_bytes), ("text",), ("semantic",))
        text = _text(body, cfg.max_query_chars)
        semantic = _bool(body, "semantic", False)
        k = key(request)

        def run() -> Any:
            st.authenticate(k)
            _nonempty(text)
            return st.works_index().check(text, reg, semantic=semantic).to_json()

        return JSONResponse(await compute(run))

    @app.post("/v1/trace", tags=["questions"], openapi_extra=_openapi_body(schemas.TraceIn),
              summary="Passages of a text found (near-)verbatim in a corpus (auth)")
    async def trace(request: Request) -> Response:
        from ..trace import trace as run_trace

        body, text, opts = trace_request(await read_json(request, cfg.max_body_bytes), cfg)
        corpus = st.corpus(body.get("corpus"))
        k = key(request)

        def run() -> Any:
            st.authenticate(k)
            rep = run_trace(corpus.searcher, text, "request", opts)
            if rep.query_tokens == 0:
                _nonempty("")
            return rep.to_dict()

        return JSONResponse(await compute(run))

    @app.post("/v1/similar", tags=["questions"], openapi_extra=_openapi_body(schemas.SimilarIn),
              summary="Documents of a corpus ranked by how much of a text derives from them (auth)")
    async def similar(request: Request) -> Response:
        from ..similar import similar as run_similar

        body, text, opts = similar_request(await read_json(request, cfg.max_body_bytes), cfg)
        corpus = st.corpus(body.get("corpus"), layers=True)
        k = key(request)

        def run() -> Any:
            st.authenticate(k)
            _nonempty(text)
            return run_similar(corpus.searcher, text, "request", opts).to_dict()

        return JSONResponse(await compute(run))

    @app.post("/v1/audit", tags=["questions"], openapi_extra=_openapi_body(schemas.AuditIn),
              summary="May these records be used to train AI? The decision and its evidence per record (auth)")
    async def audit(request: Request) -> Response:
        body = _fields(await read_json(request, cfg.max_body_bytes), ("records",),
                       ("sites", "agents", "policy", "rsl_user", "region"))
        k = key(request)

        def run() -> Any:
            st.authenticate(k)
            out = [r.to_dict() for r in audit_records(st, body)]
            counts = {"allowed": 0, "reserved": 0, "rejected": 0}
            for d in out:
                counts[d["decision"]] += 1
            return {"records": out, "counts": counts}

        return JSONResponse(await compute(run))

    # -- the log

    @app.get("/v1/log/checkpoint", tags=["log"], response_class=PlainTextResponse,
             summary="A signed checkpoint of the whole log (C2SP signed note)")
    async def checkpoint() -> Response:
        return PlainTextResponse(await call(reg.checkpoint))

    @app.get("/v1/log/key", tags=["log"], response_class=PlainTextResponse,
             summary="The log's public key (C2SP verifier key, what ipscope verify --key reads)")
    async def log_key() -> Response:
        return PlainTextResponse(f"{reg.public_key}\n")

    @app.get("/v1/log/proof/{leaf_index}", tags=["log"],
             summary="The receipt of a leaf with its inclusion proof in a tree of tree_size leaves")
    async def proof(leaf_index: int, tree_size: int | None = Query(None, ge=1)) -> Response:
        if leaf_index < 0:
            raise InputError(f"leaf index {leaf_index} is negative", "give a leaf index a receipt names")

        def run() -> Any:
            try:
                return reg.receipt(leaf_index, tree_size).to_json()
            except (ValueError, KeyError) as e:
                if isinstance(e, IpscopeError):
                    raise
                raise InputError(f"no inclusion proof of leaf {leaf_index} in a tree of {tree_size} leaves: {e}",
                                 "give tree_size from leaf_index + 1 up to the log's size (GET "
                                 "/v1/log/checkpoint)") from None

        return JSONResponse(await call(run))

    @app.get("/v1/log/consistency", tags=["log"], summary="An RFC 9162 consistency proof between two tree sizes")
    async def consistency(from_: int = Query(..., alias="from", ge=0), to: int = Query(..., ge=0)) -> Response:
        from ..registry.receipt import ConsistencyProof

        def run() -> Any:
            try:
                hashes = reg.consistency_proof(from_, to)
            except (ValueError, KeyError) as e:
                raise InputError(f"no consistency proof from {from_} to {to} leaves: {e}",
                                 "give from <= to <= the log's size (GET /v1/log/checkpoint)") from None
            return ConsistencyProof(from_, to, tuple(hashes)).to_json()

        return JSONResponse(await call(run))

    # -- the workbench's pages (/, /check, /register, /works, /audit, /log): the same Python API, as HTML
    try:
        from .web.pages import mount_pages
    except ImportError:  # jinja2 or babel missing: the HTTP API serves without the pages
        log.warning("the web pages need jinja2 and babel (pip install 'ipscope[service]'): not served")
    else:
        mount_pages(app, st, cfg, batcher, compute)

    return app


def install_problem_handlers(app: FastAPI) -> None:
    """Every error answered as an RFC 9457 problem, never a traceback (also the shard servers' and routers' apps,
    ``shards.py``, ``router.py``)."""

    @app.exception_handler(Problem)
    async def _problem(_r: Request, e: Problem) -> Response:
        return e.response()

    @app.exception_handler(IpscopeError)
    async def _engine(_r: Request, e: IpscopeError) -> Response:
        return from_exception(e).response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, e: RequestValidationError) -> Response:
        errs = e.errors()
        where = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}" for err in errs[:5])
        return problem(422, "invalid-input", "Unprocessable Content", f"invalid request: {where}",
                       "see the endpoint's parameters at /docs")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, e: StarletteHTTPException) -> Response:
        fixes = {404: "see the endpoints at /docs", 405: "see the methods of this endpoint at /docs"}
        return problem(e.status_code, {404: "not-found", 405: "method-not-allowed"}.get(e.status_code, "http"),
                       _phrase(e.status_code), str(e.detail), fixes.get(e.status_code),
                       getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(r: Request, e: Exception) -> Response:
        log.exception("error on %s %s", r.method, r.url.path)
        return from_exception(e).response()


def _nonempty(text: str) -> None:
    from ..text import tokenize

    if not text or len(tokenize(text).starts) == 0:
        raise InputError("the text has no words (0 tokens): there is nothing to compare", "give a text with words")


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def audit_records(st: State, body: Mapping[str, Any]) -> list[Any]:
    """The audit of ``body["records"]`` with the options of ``POST /v1/audit`` (sites, agents, policy, rsl_user,
    region): each record's ``AuditRecord``, in order. The endpoint and the audit page both call this, so the
    checks (a list, at most ``max_audit_records``, no ``media_path``, a snapshot the server was given) are one."""
    from ..audit.run import check_region, check_rsl_user

    cfg = st.config
    records = body["records"]
    if not isinstance(records, list):
        raise InputError("records is not a list", 'give "records": [{"url": ..., "text": ...}, ...]')
    if len(records) > cfg.max_audit_records:
        raise InputError(f"{len(records):,} records, over this server's limit of {cfg.max_audit_records:,} a "
                         "request", "split them over several requests, or run ipscope audit on the files")
    for i, r in enumerate(records):
        if isinstance(r, dict) and r.get("media_path"):
            raise InputError(f"records[{i}] names a media_path: this server does not read files a request "
                             "names", "send the record without media_path, or run ipscope audit locally")
    agents = body.get("agents") or []
    if not isinstance(agents, list) or not all(isinstance(a, str) and 0 < len(a) <= 100 for a in agents):
        raise InputError("agents is not a list of user-agent tokens", 'give e.g. "agents": ["GPTBot"]')
    sites = body.get("sites")
    if sites is not None and not isinstance(sites, str):
        raise InputError("sites is not a name", "give the name of one of the server's site snapshots (GET /v1)")
    policy, rsl_user, region = body.get("policy", "any-ai-agent"), body.get("rsl_user", "commercial"), \
        body.get("region")
    if policy not in ("any-ai-agent", "agent"):
        raise InputError(f"policy {str(policy)[:50]!r} is not a policy", 'give "any-ai-agent" or "agent"')
    if not isinstance(rsl_user, str) or (region is not None and not isinstance(region, str)):
        raise InputError("rsl_user and region are strings", 'give e.g. "rsl_user": "commercial", "region": "EU"')
    auditor, lock = st.auditor(sites, tuple(agents), policy, check_rsl_user(rsl_user), check_region(region))
    with lock:  # an Auditor caches the sites it has read: one request at a time uses it
        return [auditor.decide(r, {"source": "request", "line": i + 1, "name": "request"})
                for i, r in enumerate(records)]
