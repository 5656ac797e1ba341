"""A shard server (``ipscope serve --corpus NAME=DIR --shards 0-3,7``): the phases of ``trace`` and ``similar`` on
some shards of each corpus, for a router (``router.py``; docs/scale.md, "Sharded serving"; the protocol in
docs/service.md, "Shard servers").

Endpoints (internal: JSON in, JSON out; no keys, so a shard server listens on a private network only):

* ``GET /v1``: what this server is (``"role": "shard"``);
* ``GET /v1/shard``: per corpus, the shards served, the index's ``content_hash``, generation, manifest, and its
  layer markers' hashes (what the router checks at start and puts in a report's provenance);
* ``POST /v1/shard/{corpus}/{phase}`` with ``phase`` one of ``trace/collect``, ``trace/resolve``,
  ``similar/stats``, ``similar/collect``, ``similar/read``: the body is the phase's payload (``ipscope.trace.
  trace_rounds``, ``ipscope.similar.similar_rounds``) with ``"protocol"``, ``"content_hash"`` and ``"shards"`` (the
  shards the router expects this server to answer for); the answer is the phase's answer for this server's shards,
  with ``"shards"``. A request for another content_hash (the index changed under the router) or other shards (this
  server was restarted with other ``--shards``) is refused with 409.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import __version__
from ..errors import InputError, IpscopeError
from .app import install_problem_handlers
from .config import ServiceConfig, parse_shards
from .limits import Guard, read_json
from .problems import JSONResponse, Problem

log = logging.getLogger("ipscope.service")

PROTOCOL = 1  # the shard protocol's version: a router and its shard servers must speak the same
PHASES = ("trace/collect", "trace/resolve", "similar/stats", "similar/collect", "similar/read")

__all__ = ["PHASES", "PROTOCOL", "ShardCorpus", "create_shard_app", "open_shard_corpora"]


class ShardCorpus:
    """One ``--corpus NAME=DIR`` of a shard server: the index opened for the served shards only (their files are
    checked; the other shards' files need not be on this machine), a searcher, and what ``GET /v1/shard`` says."""

    def __init__(self, name: str, path: Path, spec: str) -> None:
        import json

        from ..index import Index
        from ..searcher import Searcher

        self.name = name
        try:
            n = len(json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8")).get("shards", []))
        except (OSError, ValueError, AttributeError):
            n = None  # Index.open below says what is wrong with it
        self.shards = parse_shards(spec, n)
        if n is not None and not self.shards:
            raise InputError(f"--shards {spec!r}: no shard", "give e.g. --shards 0-3")
        self.searcher = Searcher(Index.open(path, shards=self.shards))
        index = self.searcher.index
        try:
            self.searcher.passage_layers(self.shards)
            self.layers_problem: str | None = None
        except IpscopeError as e:  # trace works without them; similar says why it cannot
            self.layers_problem = e.message

    def info(self) -> dict[str, Any]:
        from ..provenance import marker_hashes

        index = self.searcher.index
        return {"protocol": PROTOCOL, "corpus": self.name, "shards": self.shards, "n_shards": len(index.shards),
                "content_hash": index.manifest.get("content_hash"), "generation": index.generation,
                "path": str(index.path), "manifest": index.manifest,
                "markers": marker_hashes(index, self.shards), "layers_problem": self.layers_problem}

    def call(self, phase: str, payload: dict[str, Any], max_query_chars: int = 1_000_000) -> dict[str, Any]:
        from .. import similar_shards, trace
        from .shard_payload import check_payload

        if payload.get("protocol") != PROTOCOL:
            raise Problem(409, "protocol", "Conflict", f"this shard server speaks protocol {PROTOCOL}, the "
                          f"request {payload.get('protocol')!r}", "run the same ipscope version on the router and "
                          "its shard servers")
        if payload.get("content_hash") != self.searcher.index.manifest.get("content_hash"):
            raise Problem(409, "other-index", "Conflict", f"corpus {self.name} here is another index (content_hash "
                          f"{self.searcher.index.manifest.get('content_hash')}) than the router's "
                          f"({payload.get('content_hash')})", "restart the router so that it reads the shard "
                          "servers' index again, or serve the same index everywhere")
        if payload.get("shards") != self.shards:
            # the router's plan is stale (this server was restarted with other --shards): an answer for other
            # shards would be merged as if it were for those the router counts on (docs/service.md)
            raise Problem(409, "other-shards", "Conflict", f"corpus {self.name}: this server serves shards "
                          f"{self.shards}, the request is for {str(payload.get('shards'))[:200]}",
                          "restart the router so that it asks the shard servers what they serve again")
        if phase.startswith("similar/") and self.layers_problem is not None:
            raise InputError(f"corpus {self.name} serves trace only: {self.layers_problem}",
                             "use /v1/trace on it, or ask the operator to run ipscope add-layers on its index")
        payload = check_payload(phase, payload, self.searcher, self.shards, max_query_chars)
        # the payload is checked: whatever fails from here on is this server's fault (a 500, which the router
        # counts as this server missing), never the request's (a 422 the router would pass to its client)
        try:
            if phase.startswith("trace/"):
                return trace.shard_call(self.searcher, phase, payload, self.shards)
            return similar_shards.shard_call(self.searcher, phase, payload, self.shards)
        except InputError as e:
            raise Problem(500, "internal", "Internal Server Error", f"{phase} failed on a checked request: "
                          f"{e.message}", "tell the operator: the shard server's log has the time") from None


def open_shard_corpora(config: ServiceConfig) -> dict[str, ShardCorpus]:
    """Every ``--corpus`` of a shard server, restricted to ``--shards`` (checked: an error names the fix)."""
    if not config.corpora:
        raise InputError("--shards serves shards of a corpus, but no --corpus is given",
                         "give the index: ipscope serve --corpus NAME=DIR --shards 0-3")
    assert config.shards is not None
    corpora = {n: ShardCorpus(n, p, config.shards) for n, p in config.corpora.items()}
    from ..trace import TraceOptions, warm_up

    warm_up(TraceOptions())  # compiled kernels loaded now, not by the first request
    return corpora


def create_shard_app(config: ServiceConfig, corpora: dict[str, ShardCorpus] | None = None) -> FastAPI:
    """The ASGI app of a shard server over ``config`` (``config.shards`` set; corpora opened now)."""
    corpora = corpora if corpora is not None else open_shard_corpora(config)
    cfg = config
    engine = anyio.CapacityLimiter(cfg.engine_threads or max(1, (os.cpu_count() or 1) // max(1, cfg.workers)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="ipscope shard server", version=__version__, lifespan=lifespan,
                  default_response_class=JSONResponse,
                  description="Internal: the phases of trace and similar on some shards, for ipscope serve --route "
                              "(docs/scale.md).")
    app.add_middleware(Guard, max_url_chars=cfg.max_url_chars, max_body_bytes=cfg.max_body_bytes,
                       rate_per_minute=0, signups_per_hour=0)
    install_problem_handlers(app)

    @app.get("/v1", tags=["meta"], summary="What this server serves")
    async def index() -> Response:
        return JSONResponse({"ipscope": __version__, "role": "shard", "corpora": sorted(corpora),
                             "shards": {n: c.shards for n, c in corpora.items()}})

    @app.get("/v1/shard", tags=["shards"], summary="The shards served, per corpus, and their index")
    async def info() -> Response:
        return JSONResponse({"protocol": PROTOCOL, "corpora": {n: c.info() for n, c in corpora.items()}})

    @app.post("/v1/shard/{corpus}/{kind}/{step}", tags=["shards"], summary="One phase of trace or similar")
    async def phase(corpus: str, kind: str, step: str, request: Request) -> Response:
        name = f"{kind}/{step}"
        if name not in PHASES:
            raise Problem(404, "not-found", "Not Found", f"no phase {name[:100]!r}", f"the phases are {', '.join(PHASES)}")
        c = corpora.get(corpus)
        if c is None:
            raise Problem(404, "not-found", "Not Found", f"no corpus {corpus[:100]!r} on this shard server",
                          f"the corpora here are {', '.join(sorted(corpora))}")
        payload = await read_json(request, cfg.max_body_bytes)
        if not isinstance(payload, dict):
            raise InputError("the request body is not a JSON object", "send the phase's payload as an object")
        return JSONResponse(await anyio.to_thread.run_sync(c.call, name, payload, cfg.max_query_chars,
                                                             limiter=engine))

    return app
