"""The service of ``ipscope serve`` (docs/service.md): the HTTP API over the registry and the three questions.

    from ipscope.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(data="data/", corpora={"books": "books.idx"}))   # an ASGI app (FastAPI)

``create_app`` needs the ``ipscope[service]`` extra (FastAPI, uvicorn); ``ServiceConfig`` does not. The web
pages (``service/web/``) come beside the API, over the same Python API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServiceConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServiceConfig", "create_app", "serve"]


def create_app(config: ServiceConfig) -> "FastAPI":
    """The ASGI app (see :func:`ipscope.service.app.create_app`)."""
    try:
        from .app import create_app as make
    except ImportError as e:
        from ..errors import MissingExtraError

        raise MissingExtraError("service", e.name or "fastapi") from None
    return make(config)


def serve(config: ServiceConfig, **kw: Any) -> None:
    """Run the service (see :func:`ipscope.service.run.serve`)."""
    from .run import serve as run

    run(config, **kw)
