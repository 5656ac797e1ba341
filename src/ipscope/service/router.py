"""A router (``ipscope serve --route URL ...``): the public ``POST /v1/trace`` and ``POST /v1/similar`` of one
process, answered by scattering each phase to shard servers (``shards.py``) and merging (docs/scale.md, "Sharded
serving").

The router runs the router's side of each question (``ipscope.trace.trace_rounds``,
``ipscope.similar.similar_rounds``: generators that make every global choice and do no I/O) and sends each phase
to every shard server at once, over one pooled ``httpx.AsyncClient``; it holds no thread while it waits (the
choices between phases run in a worker thread, through the engine limiter). Its answers are those of one process
over the whole index, byte for byte apart from ``elapsed_ms`` and the time in ``provenance``.

At start it asks every server what it serves (``GET /v1/shard``) and refuses to start unless the servers of each
corpus serve the same index (``content_hash``) and together every shard, each shard by one server or by replicas
(servers with exactly the same ``--shards``). A call goes to one server of a group of replicas (in turn); when it
fails, the next replica is asked, and the shards are missing only when none answers.

A shard server that fails a call (down, an error of its own, or no answer within ``shard_timeout`` seconds) is
left out of that request: the router answers again from the others (from the first phase, so that no global
choice rests on the missing shards' partial answers) and says so: ``"partial": true, "missing_shards": [...]``
and a note. What a partial answer holds is in docs/scale.md. A server that missed its deadline (hung, overloaded,
a machine gone without refusing connections) is then suspended: requests leave it out at once, and a probe
(``GET /v1/shard``) asks it again after ``shard_backoff`` seconds, twice as long after each miss (up to
``SHARD_BACKOFF_MAX``), so that a hung server costs the deadline once, not on every request.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import anyio
import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import __version__
from ..errors import InputError
from .app import _nonempty, allow_partial, install_problem_handlers, similar_request, trace_request
from .config import ServiceConfig
from .limits import Guard, read_json
from .problems import JSONResponse, Problem
from .shards import PROTOCOL
from .state import pick_corpus

log = logging.getLogger("ipscope.service")

# labels that say the query derives from the document: a partial similar answer keeps only these (docs/scale.md)
DERIVED = ("copy", "near-copy", "quoted", "paraphrase", "translation")

SHARD_BACKOFF_MAX = 30.0  # seconds: the longest wait between probes of a suspended shard server

__all__ = ["RoutedCorpus", "ShardServer", "create_router_app", "discover"]


@dataclass(frozen=True)
class ShardServer:
    url: str
    shards: tuple[int, ...]


@dataclass(frozen=True)
class RoutedCorpus:
    """A corpus as the router serves it: its shard servers and what provenance says of its index."""

    name: str
    servers: tuple[ShardServer, ...]
    info: Any  # ipscope.provenance.IndexInfo
    content_hash: str
    n_shards: int
    layers_problem: str | None

    @property
    def groups(self) -> tuple[tuple[ShardServer, ...], ...]:
        """The servers by the shards they serve, in shard order: replicas of one range together."""
        by: dict[tuple[int, ...], list[ShardServer]] = {}
        for s in self.servers:
            by.setdefault(s.shards, []).append(s)
        return tuple(tuple(g) for _k, g in sorted(by.items()))


def _ranges(shards: list[int]) -> str:
    """[0, 1, 2, 5] as "0-2,5" (what --shards takes)."""
    out: list[str] = []
    for i in sorted(shards):
        if out and "-" not in out[-1].split(",")[-1] and int(out[-1]) == i - 1:
            out[-1] = f"{out[-1]}-{i}"
        elif out and "-" in out[-1] and int(out[-1].split("-")[1]) == i - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ",".join(out)


def _parse_routes(routes: tuple[str, ...]) -> list[tuple[str | None, list[str]]]:
    out = []
    for r in routes:
        name, sep, urls = r.partition("=")
        if not sep or "://" in name:
            name, urls = None, r  # type: ignore[assignment]
        us = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
        if not us or not all(u.startswith(("http://", "https://")) for u in us):
            raise InputError(f"--route {r!r}: not URL[,URL...] or NAME=URL[,URL...]",
                             "give each shard server's address, e.g. --route http://10.0.0.2:8101 (repeatable)")
        out.append((name.strip() if name else None, us))
    return out


def discover(routes: tuple[str, ...], timeout: float = 10.0) -> dict[str, RoutedCorpus]:
    """Ask every shard server of ``routes`` what it serves and check that, per corpus, they serve one index and
    together each of its shards, by one server or by replicas with the same shards. Raises ``InputError`` naming
    the server, the shards and the fix."""
    import httpx

    from ..provenance import IndexInfo

    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    start_fix = ("start the shard servers first (ipscope serve --corpus NAME=DIR --shards A-B --port P), then the "
                 "router")
    with httpx.Client(timeout=timeout) as client:
        for name, urls in _parse_routes(routes):
            for url in urls:
                try:
                    r = client.get(f"{url}/v1/shard")
                except httpx.HTTPError as e:
                    raise InputError(f"--route {url}: no shard server answers there ({type(e).__name__}: {e})",
                                     start_fix) from None
                if r.status_code != 200:
                    raise InputError(f"--route {url}: not a shard server (GET /v1/shard answered {r.status_code})",
                                     "give the address of an ipscope serve --shards server")
                body = r.json()
                if body.get("protocol") != PROTOCOL:
                    raise InputError(f"--route {url}: the shard server speaks protocol {body.get('protocol')}, "
                                     f"this router {PROTOCOL}", "run the same ipscope version everywhere")
                corpora = body.get("corpora", {})
                if name is not None:
                    if name not in corpora:
                        raise InputError(f"--route {name}={url}: that server has no corpus {name!r} (it has "
                                         f"{', '.join(sorted(corpora)) or 'none'})",
                                         "give the name its --corpus NAME=DIR has")
                    corpora = {name: corpora[name]}
                for cname, info in corpora.items():
                    if any(u == url for u, _ in found.get(cname, [])):
                        raise InputError(f"--route: {url} is given twice", "give each shard server once")
                    found.setdefault(cname, []).append((url, info))
    if not found:
        raise InputError("--route: the shard servers serve no corpus", start_fix)
    out = {}
    for cname, servers in found.items():
        url0, first = servers[0]
        n = int(first["n_shards"])
        owner: dict[int, tuple[str, tuple[int, ...]]] = {}
        for url, info in servers:
            if info["content_hash"] != first["content_hash"] or int(info["n_shards"]) != n:
                raise InputError(f"corpus {cname}: {url} serves another index (content_hash {info['content_hash']}, "
                                 f"{info['n_shards']} shards) than {url0} ({first['content_hash']}, {n} shards)",
                                 "serve the same index (the same build and generation) on every shard server")
            mine = tuple(info["shards"])
            for si in mine:
                if si in owner and owner[si][1] != mine:  # the same shards on two servers are replicas
                    other, theirs = owner[si]
                    raise InputError(f"corpus {cname}: shard {si} is served by both {other} (shards "
                                     f"{_ranges(list(theirs))}) and {url} (shards {_ranges(list(mine))})",
                                     "give each shard server a --shards range of its own, so that every shard is "
                                     "served once, or give replicas exactly the same --shards")
                owner.setdefault(si, (url, mine))
        missing = [i for i in range(n) if i not in owner]
        if missing:
            raise InputError(f"corpus {cname}: shard(s) {_ranges(missing)} of its {n} are served by none of the "
                             f"--route servers", f"start a shard server with --shards {_ranges(missing)} and add "
                             "it with --route")
        markers: dict[str, Any] = {}
        for _url, info in servers:
            markers.update(info["markers"])
        problems = [info["layers_problem"] for _u, info in servers if info.get("layers_problem")]
        out[cname] = RoutedCorpus(cname, tuple(ShardServer(u, tuple(i["shards"])) for u, i in servers),
                                  IndexInfo(first["path"], first["manifest"], markers), first["content_hash"], n,
                                  problems[0] if problems else None)
    return out


@dataclass
class _Health:
    """What the router knows of one shard server's deadlines (per router process)."""

    misses: int = 0  # deadlines missed (calls and probes) since its last answer to a phase
    suspended: bool = False  # left out of requests until a probe is answered
    why: str = ""


class _Down(Exception):
    """Shard servers that failed a call: (server, reason) pairs."""

    def __init__(self, failed: list[tuple[ShardServer, str]]) -> None:
        super().__init__("; ".join(f"{s.url}: {why}" for s, why in failed))
        self.failed = failed


def _step(gen: Any, value: Any) -> tuple[bool, Any]:
    """One step of a rounds generator: (True, its result) when it has finished, else (False, the next phase).
    (StopIteration cannot cross a thread's future.)"""
    try:
        return False, (next(gen) if value is None else gen.send(value))
    except StopIteration as stop:
        return True, stop.value


def _checked(server: ShardServer, answer: Any) -> Any:
    """A shard server's answer, if it is for the shards the router counts on it for; else that server is missing
    from this request (an answer for other shards merged as if for these would be silently wrong)."""
    got = answer.get("shards") if isinstance(answer, dict) else None
    if got != list(server.shards):
        raise _Down([(server, f"answered for shards {str(got)[:100]}, not {_ranges(list(server.shards))}")])
    return answer


class Router:
    """Scatters the phases of one question to a corpus's shard servers and merges their answers."""

    def __init__(self, config: ServiceConfig, corpora: dict[str, RoutedCorpus], engine: Any) -> None:
        self.config = config
        self.corpora = corpora
        self.engine = engine
        self.client: Any = None
        self.slots: Any = None  # one per pooled connection: a call's deadline starts once it holds one
        self.health: dict[str, _Health] = {}
        # a turn counter per range of replicas and phase: one counter for all made a phase over an even number of
        # replicated ranges give each range always the same replica (turns 2k, 2k+1), and with two phases (trace)
        # each phase always the same replica
        self.turns: dict[tuple[tuple[int, ...], str], Any] = {}
        self.tasks: Any = None  # the probes of suspended servers run here (the app's lifetime)

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The pooled client of every shard call (keep-alive connections to each server), and its slots."""
        import httpx

        n = self.config.shard_connections
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.config.shard_timeout),
                                     limits=httpx.Limits(max_connections=n,
                                                         max_keepalive_connections=min(64, n))) as client:
            self.client, self.slots = client, anyio.Semaphore(n)
            try:
                async with anyio.create_task_group() as tasks:
                    self.tasks = tasks
                    try:
                        yield
                    finally:
                        tasks.cancel_scope.cancel()
            finally:
                self.client = self.slots = self.tasks = None

    def _backoff(self, misses: int) -> float:
        # the exponent capped: past 2 ** 1023 an int does not convert to a float (a server hung for ~10 hours)
        return min(SHARD_BACKOFF_MAX, self.config.shard_backoff * 2 ** min(1023, max(0, misses - 1)))

    def _missed(self, server: ShardServer, why: str) -> None:
        """``server`` missed a deadline: suspend it (once for the calls in flight) and start its probe."""
        h = self.health.setdefault(server.url, _Health())
        if h.suspended or self.config.shard_backoff <= 0 or self.tasks is None:
            return
        h.misses += 1
        h.suspended, h.why = True, why
        log.warning("shard server %s suspended: %s; asked again in %g s", server.url, why, self._backoff(h.misses))
        self.tasks.start_soon(self._probe, server, h)

    async def _probe(self, server: ShardServer, h: _Health) -> None:
        """Ask a suspended server ``GET /v1/shard`` after each backoff until it answers in time; then requests use
        it again (a phase it then misses suspends it for twice as long: ``misses`` counts on)."""
        import httpx

        while True:
            await anyio.sleep(self._backoff(h.misses))
            try:
                async with self.slots:  # a connection of the pool like any call, so probes never starve the calls
                    with anyio.fail_after(self.config.shard_timeout):
                        r = await self.client.get(f"{server.url}/v1/shard")
                if r.status_code == 200:
                    h.suspended = False
                    log.warning("shard server %s answers again: requests use it", server.url)
                    return
                why = f"GET /v1/shard answered {r.status_code}"
            except TimeoutError:
                why = f"no answer to GET /v1/shard within {self.config.shard_timeout:g} s"
            except httpx.HTTPError as e:
                why = f"{type(e).__name__}: {e}"
            h.misses += 1
            h.why = why
            log.info("shard server %s still suspended: %s; asked again in %g s", server.url, why,
                     self._backoff(h.misses))

    def _answered(self, server: ShardServer) -> None:
        h = self.health.get(server.url)
        if h is not None and not h.suspended:
            h.misses = 0

    async def _call(self, corpus: RoutedCorpus, server: ShardServer, phase: str, payload: dict[str, Any]) -> Any:
        body = orjson.dumps({**payload, "protocol": PROTOCOL, "content_hash": corpus.content_hash,
                             "shards": list(server.shards)})
        # waiting for a connection of the pool is not the server's delay: the deadline starts with a slot held
        async with self.slots:
            with anyio.fail_after(self.config.shard_timeout):
                r = await self.client.post(f"{server.url}/v1/shard/{corpus.name}/{phase}", content=body,
                                           headers={"content-type": "application/json"})
                content = await r.aread()
        if r.status_code == 200:
            self._answered(server)
            return _checked(server, orjson.loads(content))
        try:
            p = orjson.loads(content)
        except orjson.JSONDecodeError:
            p = {}
        # the router checked the client's request as one process does: a refusal here (a 409 or 422: another
        # plan or another version; a 500: the server's own failure) leaves that server out, logged with its reason
        raise _Down([(server, f"HTTP {r.status_code}: {str(p.get('detail', ''))[:200]}")])

    async def _scatter(self, corpus: RoutedCorpus, groups: list[tuple[ShardServer, ...]], phase: str,
                       payload: dict[str, Any]) -> list[Any]:
        """One phase on every group of replicas at once: each group's answer from the first of its servers (in
        turn, suspended ones left out) that answers; a group none of whose servers answers is missing."""
        import httpx

        answers: list[Any] = [None] * len(groups)
        failed: list[tuple[ShardServer, str]] = []
        errors: list[BaseException] = []

        async def one(i: int, group: tuple[ShardServer, ...]) -> None:
            tried: list[tuple[ShardServer, str]] = []
            for server in self._order(group, phase):
                try:
                    answers[i] = await self._call(corpus, server, phase, payload)
                    for s, why in tried:  # answered by a replica: the others' failures are only logged
                        log.warning("shard server %s failed %s (%s); its replica %s answered", s.url, phase, why,
                                    server.url)
                    return
                except (TimeoutError, httpx.TimeoutException) as e:
                    why = f"no answer within {self.config.shard_timeout:g} s" + (
                        f" ({type(e).__name__})" if isinstance(e, httpx.TimeoutException) else "")
                    tried.append((server, why))
                    self._missed(server, why)
                except httpx.HTTPError as e:
                    tried.append((server, f"{type(e).__name__}: {e}"))
                except _Down as e:
                    tried.extend(e.failed)
                except Exception as e:  # noqa: BLE001 — a Problem of the request: raised after the others end
                    errors.append(e)
                    return
            failed.extend(tried or [(s, "suspended: " + self.health[s.url].why) for s in group])

        async with anyio.create_task_group() as tg:
            for i, group in enumerate(groups):
                tg.start_soon(one, i, group)
        if errors:
            raise errors[0]
        if failed:
            raise _Down(failed)
        return answers

    async def run(self, corpus: RoutedCorpus, rounds: Callable[[], Any],
                  partial: bool = True) -> tuple[Any, tuple[int, ...]]:
        """The result of the rounds generator ``rounds()`` over the corpus's shard servers, and the shards left
        out (servers that failed: the rounds start again without them). ``partial`` False: a 503 problem as
        soon as any shard is missing."""
        groups = [g for g in corpus.groups if not all(self._suspended(s) for s in g)]
        missing: set[int] = {i for g in corpus.groups if g not in groups for i in g[0].shards}
        left_out = [f"{s.url}: {self.health[s.url].why}" for s in corpus.servers if self._suspended(s)]
        while True:
            if not groups:  # before the allow_partial check: no partial answer to offer
                raise Problem(503, "shards-unavailable", "Service Unavailable",
                              f"no shard server of corpus {corpus.name} answered ({'; '.join(left_out)})",
                              "try again; the operator restarts the shard servers (ipscope serve --shards)",
                              {"Retry-After": "5"})
            if missing and not partial:
                raise Problem(503, "shards-unavailable", "Service Unavailable",
                              f"shard(s) {_ranges(sorted(missing))} of corpus {corpus.name} did not answer (a shard "
                              "server down, failing or past its deadline), and this request asks for a whole "
                              "answer", "try again later, or send \"allow_partial\": true to take the answer of the "
                              "shards that answered (marked \"partial\")", {"Retry-After": "5"})
            gen = rounds()
            try:
                done, value = await anyio.to_thread.run_sync(_step, gen, None, limiter=self.engine)
                while not done:
                    phase, payload = value
                    answers = await self._scatter(corpus, groups, phase, payload)
                    done, value = await anyio.to_thread.run_sync(_step, gen, answers, limiter=self.engine)
                return value, tuple(sorted(missing))
            except _Down as e:
                for server, why in e.failed:
                    log.warning("shard server %s (corpus %s, shards %s) left out: %s", server.url, corpus.name,
                                _ranges(list(server.shards)), why)
                    missing.update(server.shards)
                    left_out.append(f"{server.url}: {why}")
                gone = {s.url for s, _ in e.failed}
                groups = [g for g in groups if not any(s.url in gone for s in g)]
            finally:
                gen.close()

    def _suspended(self, server: ShardServer) -> bool:
        h = self.health.get(server.url)
        return h is not None and h.suspended

    def _order(self, group: tuple[ShardServer, ...], phase: str = "") -> list[ShardServer]:
        """The servers of a group of replicas to ask, in turn (calls spread over them), suspended ones left out."""
        up = [s for s in group if not self._suspended(s)]
        if len(up) > 1:
            k = next(self.turns.setdefault((group[0].shards, phase), itertools.count())) % len(up)
            up = up[k:] + up[:k]
        return up

    def corpus(self, name: Any, *, layers: bool = False) -> RoutedCorpus:
        return pick_corpus(self.corpora, name, layers=layers)  # type: ignore[no-any-return]


def partial_note(missing: tuple[int, ...], similar: bool = False) -> str:
    return (f"partial answer: shard(s) {_ranges(list(missing))} of the index did not answer (a shard server down or "
            "past its deadline), so what they hold is missing here"
            + ("; only documents the query derives from are listed, scored without the missing shards' statistics"
               if similar else "") + " (docs/scale.md, \"Sharded serving\")")


def create_router_app(config: ServiceConfig, corpora: dict[str, RoutedCorpus] | None = None) -> FastAPI:
    """The ASGI app of a router over ``config.routes`` (the shard servers are asked and checked now)."""
    from .. import provenance
    from ..corpus.query import check_query_size
    from ..similar import _embedder_for, similar_rounds
    from ..trace import trace_rounds

    cfg = config
    corpora = corpora if corpora is not None else discover(cfg.routes, cfg.shard_timeout)
    engine = anyio.CapacityLimiter(cfg.engine_threads or max(1, (os.cpu_count() or 1) // max(1, cfg.workers)))
    router = Router(cfg, corpora, engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with router.connected():
            yield

    app = FastAPI(title="ipscope router", version=__version__, lifespan=lifespan, default_response_class=JSONResponse,
                  description="trace and similar over shard servers (docs/scale.md, \"Sharded serving\").")
    app.add_middleware(Guard, max_url_chars=cfg.max_url_chars, max_body_bytes=cfg.max_body_bytes,
                       rate_per_minute=cfg.rate_limit, signups_per_hour=0)
    install_problem_handlers(app)

    @app.get("/v1", tags=["meta"], summary="What this server serves")
    async def index() -> Response:
        return JSONResponse({"ipscope": __version__, "role": "router", "corpora": sorted(corpora),
                             "shard_servers": {n: [{"url": s.url, "shards": list(s.shards),
                                                    "suspended": router._suspended(s)} for s in c.servers]
                                               for n, c in corpora.items()},
                             "limits": {"body_bytes": cfg.max_body_bytes, "query_chars": cfg.max_query_chars,
                                        "requests_per_minute": cfg.rate_limit,
                                        "shard_timeout_s": cfg.shard_timeout,
                                        "shard_backoff_s": cfg.shard_backoff}})

    @app.post("/v1/trace", tags=["questions"], summary="Passages of a text found (near-)verbatim in a corpus")
    async def trace(request: Request) -> Response:
        body, text, opts = trace_request(await read_json(request, cfg.max_body_bytes), cfg)
        c = router.corpus(body.get("corpus"))
        q = provenance.as_query(text, "request")
        check_query_size(q.text, q.name, "trace")
        _nonempty(text)
        rep, missing = await router.run(c, lambda: trace_rounds(q.text, q.name, opts), allow_partial(body, cfg))
        rep = provenance.attach(rep, c.info, q, opts)
        if missing:
            rep = dataclasses.replace(rep, missing_shards=missing, notes=rep.notes + (partial_note(missing),))
        return JSONResponse(rep.to_dict())

    @app.post("/v1/similar", tags=["questions"], summary="Documents ranked by how much of a text derives from them")
    async def similar(request: Request) -> Response:
        body, text, opts = similar_request(await read_json(request, cfg.max_body_bytes), cfg)
        c = router.corpus(body.get("corpus"), layers=True)
        q = provenance.as_query(text, "request")
        check_query_size(q.text, q.name, "similar")
        _nonempty(text)
        embedder, notes = await anyio.to_thread.run_sync(_embedder_for, opts, None, limiter=engine)
        vec_layer = c.info.manifest.get("layers", {}).get("vectors")
        rep, missing = await router.run(c, lambda: similar_rounds(q.text, q.name, opts, embedder, notes, vec_layer),
                                        allow_partial(body, cfg))
        vectors = rep.semantic and "vectors" in c.info.manifest.get("layers", {})
        rep = provenance.attach(rep, c.info, q, opts, layers=True, vectors_used=vectors)
        if missing:
            # only relations the present shards' evidence shows (a derivation); a rank or a "related" label
            # depends on the documents the missing shards hold (docs/scale.md)
            kept = tuple(r for r in rep.results if r.label in DERIVED)
            rep = dataclasses.replace(rep, results=kept, missing_shards=missing,
                                      notes=rep.notes + (partial_note(missing, similar=True),))
        return JSONResponse(rep.to_dict())

    return app



