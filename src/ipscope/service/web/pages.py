"""The workbench's pages (issue 13), mounted by ``create_app`` at ``/`` beside the HTTP API (``/v1``).

Thin shells over the Python API the endpoints call: each handler reads a form, calls the registry, the works
index or ``verify`` as the endpoint does, and renders the result with a template in the reader's language
(``i18n``). No logic of their own; what they add is the browser's side: CSRF tokens, a session cookie after
sign-in, the language switch, uploads. docs/web.md describes the pages.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ...errors import InputError, IpscopeError
from ...messages import json_error
from ...types import SimilarReport as SimilarReportT
from ..batcher import Batcher
from ..config import ServiceConfig
from ..problems import Problem
from ..state import State
from . import i18n
from .checkview import SIMILAR_TOP, Timing, marked, passages, semantic_view, similar_rows, trace_view
from .forms import Form, Upload, read_form
from .security import CSRF_COOKIE, HEADERS, LANG_COOKIE, SESSION_COOKIE, Secrets

__all__ = ["mount_pages", "PAGE_LIMITS"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: upload caps of the pages (bytes of one form); the server's body limit applies first
PAGE_LIMITS = {"receipt": 1 << 20, "work": 11 << 20, "check": 4 << 20, "audit": 2 << 20, "small": 64 << 10}
#: what a template may leave unset (the environment's undefined is strict: a typo fails loudly)
PAGE_DEFAULTS: dict[str, Any] = {"error": None, "result": None, "new_key": None, "form": {}, "next": None,
                                 "rows": None, "page_size": 20, "corpora": []}
NAV = (("check", "/check"), ("register", "/register"), ("works", "/works"), ("audit", "/audit"), ("log", "/log"))


class PageError(Exception):
    """An error the page shows in the reader's language: a coded engine error, or one of the pages' own."""

    def __init__(self, status: int, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fix = status, message, fix


def error_text(e: IpscopeError, locale: i18n.Locale) -> tuple[str, str | None]:
    """An engine error's message and fix in a locale (its code through the catalogue; an error raised without
    a code keeps its English text)."""
    from ... import messages

    coded = messages.error_messages(e)
    if coded is None:
        return e.message, e.fix
    msg, fix = coded
    return (i18n.render_message(msg.code, msg.params, locale),
            i18n.render_message(fix.code, fix.params, locale) if fix is not None else None)


def _tr(locale: i18n.Locale) -> Callable[..., str]:
    """gettext of a locale for the pages' own messages, formatting named parameters as the templates do."""
    gettext = i18n.translations(locale).gettext

    def _(s: str, **params: Any) -> str:
        t = gettext(s)
        return t % params if params else t

    return _


def message_text(m: Any, locale: i18n.Locale) -> str:
    """A note, reason or check detail: a coded :class:`~ipscope.messages.Message` in the locale, else as is."""
    code = getattr(m, "code", None)
    return i18n.render_message(code, m.params, locale) if code else str(m)


def decode_upload(up: Upload) -> str:
    """An uploaded .txt/.md file as text, by the reader stack's decoder (any encoding ``ipscope index`` takes)."""
    from ...corpus.encoding import decode

    return decode(up.data).text


def mount_pages(app: FastAPI, st: State, cfg: ServiceConfig, batcher: Batcher,
                compute: Callable[[Callable[[], Any]], Any]) -> None:
    """Add the pages and their static files to ``app``."""
    reg = st.registry
    sec = Secrets.for_data(cfg.data)
    router = APIRouter(include_in_schema=False)

    # -- the frame of every page

    def locale_of(request: Request) -> i18n.Locale:
        explicit = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return i18n.negotiate(request.headers.get("accept-language"), explicit)

    def session(request: Request) -> tuple[str, str, str] | None:
        """(key, owner id, owner name) of a signed-in reader whose key is still valid, else None."""
        k = sec.session_key(request.cookies.get(SESSION_COOKIE))
        if k is None:
            return None
        try:
            oid = st.authenticate(k)
        except IpscopeError:
            return None
        return k, oid, reg.owner_name(oid) or oid

    def render(request: Request, template: str, status: int = 200, *, csrf_cookie: str | None = None,
               **ctx: Any) -> Response:
        loc = locale_of(request)
        env = i18n.environment(loc)
        cookie = csrf_cookie or request.cookies.get(CSRF_COOKIE) or sec.new_csrf_cookie()
        who = ctx.pop("who", None) if "who" in ctx else session(request)
        urls = {lo: i18n.switch_url(request.url.path, request.url.query, lo) for lo in i18n.LOCALES}
        ctx = {**PAGE_DEFAULTS, **ctx}
        html = env.get_template(template).render(
            csrf=sec.csrf_token(cookie), who=who[2] if who else None, switch_urls=urls, nav=NAV,
            path=request.url.path, signup=cfg.signup, **ctx)
        resp = HTMLResponse(html, status_code=status, headers=HEADERS)
        secure = request.url.scheme == "https"
        if cookie != request.cookies.get(CSRF_COOKIE):
            resp.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path="/")
        explicit = request.query_params.get("lang")
        if explicit and i18n.match_tag(explicit) and explicit != request.cookies.get(LANG_COOKIE):
            resp.set_cookie(LANG_COOKIE, str(i18n.match_tag(explicit)), max_age=365 * 86400, samesite="lax",
                            secure=secure, path="/")
        return resp

    def render_error(request: Request, e: Exception, template: str = "error.html", **ctx: Any) -> Response:
        loc = locale_of(request)
        if isinstance(e, PageError):
            status, msg, fix = e.status, e.message, e.fix
        elif isinstance(e, Problem):
            _ = _tr(loc)
            status, msg, fix = e.status, e.detail, e.fix
            if e.status == 413:  # the one problem a page's form meets (the upload caps)
                msg, fix = _("The form is larger than this page accepts."), _("Send a smaller file or a shorter text.")
        else:
            assert isinstance(e, IpscopeError)
            from ..problems import from_exception

            status = from_exception(e).status
            msg, fix = error_text(e, loc)
        return render(request, template, status, error={"message": msg, "fix": fix}, **ctx)

    async def form_of(request: Request, cap: int) -> Form:
        """The form of a POST, its CSRF token checked (a missing, foreign or stale token: 403)."""
        f = await read_form(request, min(cap, cfg.max_body_bytes))
        if not sec.csrf_ok(request.cookies.get(CSRF_COOKIE), f.get("csrf")):
            _ = _tr(locale_of(request))
            raise PageError(403, _("This form has expired or did not come from this site."),
                            _("Reload the page and send the form again."))
        return f

    def text_of(f: Form, loc: i18n.Locale) -> str:
        """The text of a form: the uploaded file when one was given, else the text box."""
        up = f.file("file")
        if up is not None:
            _ = _tr(loc)
            if not up.filename.lower().endswith((".txt", ".md", ".markdown", ".text")):
                raise PageError(422, _("%(name)s is not a .txt or .md file.", name=up.filename[:100]),
                                _("Upload a plain text (.txt) or Markdown (.md) file, or paste the text."))
            return decode_upload(up)
        return f.get("text")

    # -- home and static

    @router.get("/")
    async def home(request: Request) -> Response:
        return render(request, "home.html")

    # -- the log: the current checkpoint, and verification of a receipt

    def log_ctx() -> dict[str, Any]:
        return {"checkpoint": reg.checkpoint(), "log_key": str(reg.public_key)}

    @router.get("/log")
    async def log_page(request: Request) -> Response:
        return render(request, "log.html", **log_ctx())

    @router.post("/log")
    async def log_verify(request: Request) -> Response:
        from ...registry.receipt import verify_files

        loc = locale_of(request)
        ctx = log_ctx()
        try:
            f = await form_of(request, PAGE_LIMITS["receipt"] + PAGE_LIMITS["small"])
            up = f.file("receipt")
            receipt = up.data if up is not None else f.get("receipt_text").encode("utf-8")
            key = f.get("key").strip() or ctx["log_key"]
            if not receipt.strip():
                _ = _tr(loc)
                raise PageError(422, _("No receipt was given."), _("Choose a receipt file or paste its JSON."))
            # the same code as `ipscope verify RECEIPT --key KEY`: the files it reads, written to a private folder
            with tempfile.TemporaryDirectory(prefix="ipscope-verify.") as d:
                (Path(d) / "receipt.json").write_bytes(receipt)
                (Path(d) / "log.vkey").write_text(key + "\n", encoding="utf-8")
                result = verify_files(Path(d) / "receipt.json", Path(d) / "log.vkey")
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "log.html", **ctx)
        checks = [{"ok": c.ok, "name": message_text(c.name, loc), "detail": message_text(c.detail, loc)}
                  for c in result.checks]
        return render(request, "log.html", result=result, checks=checks, **ctx)

    @router.get("/receipts/{leaf_index}.json")
    async def receipt_download(leaf_index: int) -> Response:
        """The receipt of a leaf (with its inclusion proof in the current tree), as a file to keep."""
        try:
            body = reg.receipt(leaf_index).to_json()
        except (ValueError, KeyError):
            return Response(status_code=404)
        return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", media_type="application/json",
                        headers={**HEADERS, "Content-Disposition":
                                 f'attachment; filename="receipt-{leaf_index}.json"'})

    # -- sign-up, sign-in, sign-out

    def signed_in(request: Request, key: str, template: str, **ctx: Any) -> Response:
        """A page shown right after sign-in: a new session and a new CSRF cookie (older forms are stale)."""
        oid = st.authenticate(key)
        resp = render(request, template, csrf_cookie=sec.new_csrf_cookie(), who=(key, oid, reg.owner_name(oid) or oid),
                      **ctx)
        resp.set_cookie(SESSION_COOKIE, sec.session_cookie(key), max_age=int(sec.session_ttl), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
        return resp

    @router.post("/signup")
    async def signup(request: Request) -> Response:
        try:
            f = await form_of(request, PAGE_LIMITS["small"])
            if not cfg.signup:
                _ = _tr(locale_of(request))
                raise PageError(403, _("Sign-up is closed on this server."),
                                _("Ask the operator for a key (ipscope keys create --owner NAME)."))
            k = await st_call(reg.create_owner, f.get("name"))
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "register.html", **register_ctx(None))
        return signed_in(request, k.key, "register.html", new_key=k.key, **register_ctx(k.owner))

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        try:
            f = await form_of(request, PAGE_LIMITS["small"])
            key = f.get("key").strip()
            await st_call(reg.authenticate, key)
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "register.html", **register_ctx(None))
        nxt = f.get("next")
        return signed_in(request, key, "register.html", **register_ctx(key), next=nxt if nxt in
                         dict(NAV).values() else None)

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        try:
            await form_of(request, PAGE_LIMITS["small"])
        except PageError as e:
            return render_error(request, e)
        resp = RedirectResponse("/", status_code=303, headers=HEADERS)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")  # every form of the session is stale now
        return resp

    async def st_call(fn: Callable[..., Any], *args: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args)

    # -- register a work

    def register_ctx(owner: str | None, **extra: Any) -> dict[str, Any]:
        from ...registry.reservations import TERMS

        return {"terms": TERMS, "form": extra.pop("form", {}), **extra}

    @router.get("/register")
    async def register_page(request: Request) -> Response:
        return render(request, "register.html", **register_ctx(None))

    @router.post("/register")
    async def register_work(request: Request) -> Response:
        from ...registry.service import NewWork

        loc = locale_of(request)
        who = session(request)
        values: dict[str, Any] = {}
        try:
            f = await form_of(request, PAGE_LIMITS["work"])
            values = {k: f.get(k) for k in ("title", "urls", "meta", "text")}
            if who is None:
                _ = _tr(loc)
                raise PageError(401, _("Sign in first: registering a work needs your API key."),
                                _("Sign up or sign in with your key above."))
            text = text_of(f, loc)
            res = {t: f.get(f"res-{t}") for t in register_ctx(None)["terms"] if f.get(f"res-{t}") in ("y", "n")}
            urls = [u.strip() for u in f.get("urls").splitlines() if u.strip()]
            meta = parse_meta(f.get("meta"), loc)
            r = await batcher.register(NewWork(who[0], f.get("title"), text, urls, meta, res))
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "register.html", **register_ctx(None, form=values))
        return render(request, "registered.html", work=r.work, receipt=r.receipt.to_json(),
                      receipt_json=json.dumps(r.receipt.to_json(), ensure_ascii=False, indent=2),
                      exports=EXPORTS, event="register")

    def parse_meta(raw: str, loc: i18n.Locale) -> dict[str, Any] | None:
        if not raw.strip():
            return None
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError as e:
            _ = _tr(loc)
            raise PageError(422, _("The metadata is not JSON (line %(line)s, column %(col)s).", line=e.lineno,
                                   col=e.colno), _('Give a JSON object, e.g. {"author": "A. Writer"}, or leave it '
                                                  'empty.')) from None
        return meta

    # -- check a text against the registered works or a corpus: the fast findings first (trace's spans, similar's
    # lexical evidence), the evidence by meaning (similar with the embedder, ~1-2 s) in a second request that the
    # page's script makes (POST /check/semantic, an HTML fragment), or, without JavaScript, in the whole page again
    # (the button "semantic=1")

    @router.get("/check")
    async def check_page(request: Request) -> Response:
        return render(request, "check.html", form={}, **check_ctx())

    async def check_input(request: Request, loc: i18n.Locale, who: Any, values: dict[str, Any]) -> tuple[
            Form, str, Any]:
        """The form of a check (CSRF checked), its text (the box or the file, within the server's limit) and the
        corpus it names (None: the registered works); ``values`` receives what the form shows again."""
        f = await form_of(request, PAGE_LIMITS["check"])
        values["text"] = f.get("text")
        if who is None:
            _ = _tr(loc)
            raise PageError(401, _("Sign in first: checking a text needs an API key."),
                            _("Sign up or sign in on the Register page."))
        text = text_of(f, loc)
        values["text"] = text
        if len(text) > cfg.max_query_chars:
            n, limit = format(len(text), ","), format(cfg.max_query_chars, ",")
            _ = _tr(loc)
            raise PageError(422, _("The text has %(n)s characters, over this server's limit of %(limit)s.",
                                   n=n, limit=limit), _("Check a shorter part of it."))
        where = f.get("where") or "registry"
        values["where"] = where
        corpus = st.corpus(where[len("corpus:"):]) if where.startswith("corpus:") else None
        return f, text, corpus

    async def fast_findings(text: str, corpus: Any) -> tuple[Any, Any]:
        """The first findings: for a corpus, trace's spans (as POST /v1/trace) and similar's lexical ranking (as
        POST /v1/similar with semantic false; None when the index has no passage layers), the two at once in two
        engine threads (their compiled kernels release the GIL); for the registry, WorksIndex.check without
        semantic evidence (as POST /v1/check)."""
        import asyncio

        from ..app import _nonempty

        if corpus is None:
            def check() -> Any:
                _nonempty(text)
                return st.works_index().check(text, reg)

            return await compute(check), None
        from ...similar import SimilarOptions
        from ...similar import similar as run_similar
        from ...trace import TraceOptions
        from ...trace import trace as run_trace

        def traced() -> Any:
            _nonempty(text)
            return run_trace(corpus.searcher, text, "request", TraceOptions(excerpts=0))

        def ranked() -> Any:
            _nonempty(text)  # the same error as traced(), whichever of the two raises first
            if corpus.layers_problem is not None:
                return None
            return run_similar(corpus.searcher, text, "request", SimilarOptions(top=SIMILAR_TOP, semantic=False))

        rep, sim = await asyncio.gather(compute(traced), compute(ranked))
        return rep, sim

    def meaning_findings(text: str, corpus: Any) -> tuple[Any, dict[str, Any] | None]:
        """The evidence by meaning: similar with the embedder (as POST /v1/similar with semantic true) over the
        corpus, or over the index of registered works (the one WorksIndex.check searches), with the public
        records of the works it names (a withdrawn work has none and is left out, as check leaves it out)."""
        from ..app import _nonempty
        from ...similar import SimilarOptions
        from ...similar import similar as run_similar

        _nonempty(text)
        opts = SimilarOptions(top=SIMILAR_TOP, semantic=True)
        if corpus is not None:
            c = st.corpus(corpus.name, layers=True)  # the error of /v1/similar when the index has no passage layers
            return run_similar(c.searcher, text, "request", opts), None
        index = st.works_index().index
        if not index.shards:
            return SimilarReportT("check", len(text), 0, 0.0, True, (), ()), {}
        rep = run_similar(index, text, "check", opts)
        return rep, reg.works_by_id([r.doc_id for r in rep.results])

    def own_texts(result: Any, who: tuple[str, str, str]) -> dict[str, str]:
        """The texts of the reader's own works among the matches (the text is theirs to read)."""
        own: dict[str, str] = {}
        for m in getattr(result, "matches", ()):
            if getattr(m, "owner_id", None) == who[1] and m.work_id not in own:
                try:
                    own[m.work_id] = reg.text(who[0], m.work_id)
                except IpscopeError:
                    pass
        return own

    def meaning_ctx(text: str, found: tuple[Any, dict[str, Any] | None], who: tuple[str, str, str],
                    loc: i18n.Locale) -> dict[str, Any]:
        rep, works = found
        return {"semantic": semantic_view(text, rep, works, who[1]),
                "semantic_notes": [message_text(n, loc) for n in rep.notes]}

    @router.post("/check")
    async def check_text(request: Request) -> Response:
        t0 = time.perf_counter()
        loc = locale_of(request)
        who = session(request)
        values: dict[str, Any] = {}
        timing = Timing()
        try:
            f, text, corpus = await check_input(request, loc, who, values)
            first, sim = await timing.wait("first", fast_findings(text, corpus))
            want_meaning = f.get("semantic") == "1" and f.get("format") != "json"
            meaning: dict[str, Any] = {}
            if want_meaning:  # without JavaScript: the whole page again, the evidence by meaning included
                try:
                    res = await timing.run("meaning", compute, lambda: meaning_findings(text, corpus))
                    meaning = meaning_ctx(text, res, who, loc)
                except (IpscopeError, Problem) as e:
                    meaning = {"semantic_error": error_of(e, loc)}
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "check.html", form=values, **check_ctx())
        if f.get("format") == "json":
            body = first.to_dict() if corpus is not None else first.to_json()
            return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n",
                            media_type="application/json", headers={**HEADERS, "Content-Disposition":
                                                                   'attachment; filename="check.json"'})
        ctx: dict[str, Any] = {"form": values, "notes": [message_text(n, loc) for n in first.notes],
                               "semantic_pending": not want_meaning, **meaning, **check_ctx()}
        if corpus is not None:
            view = trace_view(first)
            ctx.update(result=view, query=marked(text, view), passages=passages(text, view, {}), corpus=corpus.name,
                       lexical=similar_rows(sim) if sim is not None else None,
                       lexical_notes=[message_text(n, loc) for n in sim.notes] if sim is not None else [])
        else:
            ctx.update(result=first, query=marked(text, first), passages=passages(text, first, own_texts(first, who)))
        resp = render(request, "check.html", **ctx)
        resp.headers["Server-Timing"] = timing.header(t0)
        return resp

    @router.post("/check/semantic")
    async def check_semantic(request: Request) -> Response:
        """The evidence by meaning of the text of a check form, as an HTML fragment the check page's script puts
        in place (the same form as POST /check: its CSRF token, text and where)."""
        t0 = time.perf_counter()
        loc = locale_of(request)
        who = session(request)
        timing = Timing()
        try:
            _f, text, corpus = await check_input(request, loc, who, {})
            res = await timing.run("meaning", compute, lambda: meaning_findings(text, corpus))
            ctx = meaning_ctx(text, res, who, loc)
            status = 200
        except (PageError, IpscopeError, Problem) as e:
            ctx = {"semantic_error": error_of(e, loc), "semantic_notes": []}
            status = e.status if isinstance(e, (PageError, Problem)) else problem_status(e)
        html = i18n.environment(loc).get_template("_semantic.html").render(**{"semantic": None, **ctx})
        return HTMLResponse(html, status_code=status, headers={**HEADERS, "Server-Timing": timing.header(t0)})

    def error_of(e: Exception, loc: i18n.Locale) -> dict[str, Any]:
        if isinstance(e, PageError):
            return {"message": e.message, "fix": e.fix}
        if isinstance(e, Problem):
            return {"message": e.detail, "fix": e.fix}
        msg, fix = error_text(e, loc)  # type: ignore[arg-type]
        return {"message": msg, "fix": fix}

    def check_ctx() -> dict[str, Any]:
        return {"corpora": sorted(st.corpora)}

    # -- my works: list, search, change reservations, withdraw

    def need_session(request: Request, loc: i18n.Locale) -> tuple[str, str, str]:
        who = session(request)
        if who is None:
            _ = _tr(loc)
            raise PageError(401, _("Sign in first: this page shows your own works."),
                            _("Sign up or sign in on the Register page."))
        return who

    @router.get("/works")
    async def works_page(request: Request) -> Response:
        from ...registry.reservations import TERMS

        loc = locale_of(request)
        q = request.query_params.get("q", "")[:200] or None
        try:
            offset = max(0, int(request.query_params.get("offset", "0") or 0))
        except ValueError:
            offset = 0
        who = session(request)
        if who is None:  # not an error: the page says to sign in
            return render(request, "works.html", works=[], q="", terms=TERMS, offset=0, more=False)
        try:
            works = await st_call(lambda: reg.find_works(owner=who[1], q=q, limit=PAGE_SIZE + 1, offset=offset))
        except IpscopeError as e:
            return render_error(request, e, "works.html", works=[], q=q or "", terms=TERMS, offset=0, more=False)
        return render(request, "works.html", works=works[:PAGE_SIZE], q=q or "", terms=TERMS, offset=offset,
                      more=len(works) > PAGE_SIZE, page_size=PAGE_SIZE)

    @router.post("/works/{work_id}/reservations")
    async def works_reservations(work_id: str, request: Request) -> Response:
        from ...registry.reservations import TERMS

        loc = locale_of(request)
        try:
            f = await form_of(request, PAGE_LIMITS["small"])
            who = need_session(request, loc)
            res = {t: f.get(f"res-{t}") for t in TERMS if f.get(f"res-{t}") in ("y", "n")}
            r = await st_call(reg.set_reservations, who[0], work_id, res)
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e)
        return receipt_page(request, r, "reservations")

    @router.post("/works/{work_id}/delete")
    async def works_delete(work_id: str, request: Request) -> Response:
        loc = locale_of(request)
        try:
            f = await form_of(request, PAGE_LIMITS["small"])
            who = need_session(request, loc)
            if f.get("confirm") != "yes":
                _ = _tr(loc)
                raise PageError(422, _("The work was not withdrawn: the box to confirm was not ticked."),
                                _("Tick the box beside Withdraw to confirm."))
            r = await st_call(reg.delete, who[0], work_id)
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e)
        return receipt_page(request, r, "delete")

    def receipt_page(request: Request, r: Any, event: str) -> Response:
        return render(request, "registered.html", work=r.work, receipt=r.receipt.to_json(),
                      receipt_json=json.dumps(r.receipt.to_json(), ensure_ascii=False, indent=2),
                      exports=EXPORTS, event=event)

    # -- audit: a record or a small JSONL, against a site snapshot the server was given

    def audit_ctx(**extra: Any) -> dict[str, Any]:
        return {"sites": sorted(cfg.sites), "form": extra.pop("form", {}), "max_records": cfg.max_audit_records,
                **extra}

    @router.get("/audit")
    async def audit_page(request: Request) -> Response:
        return render(request, "audit.html", **audit_ctx())

    @router.post("/audit")
    async def audit_run(request: Request) -> Response:
        from ..app import audit_records

        loc = locale_of(request)
        values: dict[str, Any] = {}
        try:
            f = await form_of(request, PAGE_LIMITS["audit"])
            values = {k: f.get(k) for k in ("record", "sites", "agents", "policy")}
            who = session(request)
            if who is None:
                _ = _tr(loc)
                raise PageError(401, _("Sign in first: auditing needs an API key."),
                                _("Sign up or sign in on the Register page."))
            records = audit_input(f, loc)
            agents = [a.strip() for a in f.get("agents").replace(",", " ").split() if a.strip()]
            body = {"records": records, "sites": f.get("sites") or None, "agents": agents,
                    "policy": f.get("policy") or "any-ai-agent"}
            out = await compute(lambda: audit_records(st, body))
        except (PageError, IpscopeError, Problem) as e:
            return render_error(request, e, "audit.html", **audit_ctx(form=values))
        rows = [audit_row(r, loc) for r in out]
        if f.get("format") == "json":
            data = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in out)
            return Response(data, media_type="application/jsonl", headers={
                **HEADERS, "Content-Disposition": 'attachment; filename="manifest.jsonl"'})
        counts = {d: sum(1 for r in out if r.decision == d) for d in ("allowed", "reserved", "rejected")}
        return render(request, "audit.html", rows=rows, counts=counts, **audit_ctx(form=values))

    app.include_router(router)
    app.state.pages = {"secrets": sec, "render": render, "render_error": render_error, "form_of": form_of,
                       "session": session, "locale_of": locale_of, "text_of": text_of, "st_call": st_call,
                       "compute": compute, "message_text": message_text, "register_ctx": register_ctx}
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")


PAGE_SIZE = 20  # works listed on a page of My works
def problem_status(e: IpscopeError) -> int:
    from ..problems import from_exception

    return from_exception(e).status


def audit_input(f: Form, loc: i18n.Locale) -> list[Any]:
    """The records of the audit form: an uploaded JSONL file (one JSON object a line), else the pasted record
    (one JSON object, or JSON lines). A line that is not JSON is named with its number."""
    up = f.file("file")
    raw = decode_upload(up) if up is not None else f.get("record")
    records: list[Any] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if n == 1 and up is None:  # a pasted record written over several lines
                try:
                    return [json.loads(raw)]
                except json.JSONDecodeError:
                    pass
            _ = _tr(loc)
            raise PageError(422, _("Line %(line)s is not JSON: %(error)s.", line=n,
                                   error=message_text(json_error(e.msg), loc)),
                            _("Give one JSON object a line, e.g. {\"url\": \"https://example.com/a\", "
                              "\"text\": \"...\"}.")) from None
    if not records:
        _ = _tr(loc)
        raise PageError(422, _("No record was given."), _("Paste a record or choose a JSONL file."))
    return records


def audit_row(r: Any, loc: i18n.Locale) -> dict[str, Any]:
    """One audited record for the page: its decision, the findings that decided (evidence as written), what
    could not be consulted and why, in the reader's language where the engine gave a code."""
    return {"line": r.line, "id": r.id, "url": r.url, "decision": r.decision,
            "reasons": [{"signal": x.signal, "where": message_text(x.where, loc), "evidence": x.evidence,
                         "reserved": x.reserved} for x in r.reasons],
            "error": message_text(r.error, loc) if r.error else None,
            "license": getattr(r.license, "spdx", None),
            "not_checked": [{"signal": n.signal, "input": n.input, "why": message_text(n.why, loc)}
                            for n in r.not_checked],
            "notes": [message_text(n, loc) for n in r.notes]}


#: the exports of a work's reservations, one click away: (format, file name shown)
EXPORTS = (("tdmrep", "tdmrep.json"), ("rsl", "license.xml"), ("robots", "robots.txt"), ("cawg", "CAWG"))
