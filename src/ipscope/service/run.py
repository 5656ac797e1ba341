"""``ipscope serve``: check what the server is given, start the indexer process, run uvicorn, stop the indexer.

Processes: this one (uvicorn's server, or with ``--workers N`` its supervisor of N worker processes, each
running :func:`worker_app` from the configuration passed as JSON in ``IPSCOPE_SERVICE_CONFIG``), and one
indexer process (``ipscope.registry.indexer.run``, started with spawn) that keeps the index of registered
works in step with the database and compacts it: heavy work stays out of the processes that serve requests.
The indexer stops when the server stops, and by itself when the process that started it is gone (kill -9).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from typing import Any

from ..errors import InputError, IpscopeError
from .config import ServiceConfig

log = logging.getLogger("ipscope.service")

ENV_CONFIG = "IPSCOPE_SERVICE_CONFIG"

__all__ = ["serve", "preflight", "worker_app", "ENV_CONFIG"]


def preflight(config: ServiceConfig, host: str, port: int) -> None:
    """Everything that can fail at start, checked before anything starts: the data directory, the database
    (reachable, migrated), each corpus index, each site snapshot, the address. Raises IpscopeError."""
    try:
        config.data.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--data {config.data}: cannot be made ({e.strerror})", "give a directory you can write to") \
            from None
    from .state import State

    State(config).close()  # opens the registry (reachable? migrated) and every corpus
    try:
        from ..registry.works_index import WorksIndex
    except ImportError:
        log.warning("this ipscope has no index of registered works: /v1/check answers 500")
    else:
        WorksIndex.open(config.data)  # made here, once, before the indexer and the workers open it
    _check_address(host, port)


def _indexer_main(data: str, db_url: str, ready: Any, parent: int, level: int = logging.INFO) -> None:
    """The indexer process: ``indexer.run`` until SIGTERM comes or the server process is gone.

    The stop request is a signal, not a shared ``multiprocessing.Event``: setting such an event blocks for ever
    when a process that was waiting on it has been killed (a terminal's SIGTERM reaches the whole process group),
    and the server then never exits."""
    logging.basicConfig(level=level, format="%(levelname)s:     indexer: %(message)s")

    from ..registry import indexer

    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal reaches the server, which stops us
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())

    def watch() -> None:
        while not stop.is_set():
            if os.getppid() != parent:  # the server died (kill -9): do not go on alone
                stop.set()
                return
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    _warm_indexer(db_url)
    try:
        ready.send(True)  # a pipe, not an Event: sending never waits for the server (which may be gone)
    except OSError:
        pass
    ready.close()
    indexer.run(data, db_url, stop)


def _warm_indexer(db_url: str) -> None:
    """Index one document into a throwaway works index, so the first registration is not the one that waits
    for the build's code and compiled kernels to load (~3 s on 2 cores): the same path ``sync`` takes."""
    import tempfile
    from pathlib import Path

    from ..index import live
    from ..registry.works_index import STATE, create_empty
    from ..types import Document

    try:
        with tempfile.TemporaryDirectory(prefix="ipscope-warm-") as d:
            root = Path(d) / "works.idx"
            create_empty(root)
            doc = Document("warm-up", "It is a truth universally acknowledged, that a single man in possession of "
                                      "a good fortune, must be in want of a wife.", "warm-up")
            live.update(root, lambda _m, _ids: live.Plan((doc,), (), {STATE: {"synced_to": 0}}))
        from ..registry.service import Registry

        Registry.open(db_url).close()  # SQLAlchemy, Alembic and the driver imported: indexer.run opens it fast
    except Exception:  # noqa: BLE001 — only a warm-up: the real sync says what is wrong
        log.warning("the indexer's warm-up failed", exc_info=True)


def _start_indexer(config: ServiceConfig, level: int = logging.INFO) -> tuple[Any, Any] | None:
    try:
        from ..registry import indexer  # noqa: F401
    except ImportError:
        log.warning("this ipscope has no works indexer: registered works are not indexed for /v1/check")
        return None
    ctx = mp.get_context("spawn")
    ready, ready_send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_indexer_main, args=(str(config.data), config.db_url, ready_send, os.getpid(), level),
                    name="ipscope-indexer", daemon=False)
    p.start()
    ready_send.close()  # the child holds the only sending end: its death reads as end of file here
    return p, ready


def _wait_indexer(handle: tuple[Any, Any] | None, timeout: float = 60) -> None:
    """Wait until the indexer has loaded its code, so that the first registration is searchable as soon as
    later ones (the server opens its own state meanwhile)."""
    if handle is None:
        return
    p, ready = handle
    end = time.monotonic() + timeout
    while True:
        if ready.poll(0.2):
            try:
                ready.recv()
                return
            except (EOFError, OSError):  # the indexer is gone without saying it was ready
                p.join(1)
        if not p.is_alive():
            log.warning("the indexer stopped before it was ready (exit code %s): registered works are not "
                        "indexed for /v1/check; see the messages above", p.exitcode)
            return
        if time.monotonic() > end:
            log.warning("the indexer is not ready after %.0f s; serving anyway", timeout)
            return


def _stop_indexer(handle: tuple[Any, Any] | None) -> None:
    """SIGTERM to the indexer (it finishes the batch it is on), then SIGKILL after 10 s."""
    if handle is None:
        return
    p, ready = handle
    ready.close()
    if p.is_alive():
        p.terminate()
        p.join(10)
    if p.is_alive():
        p.kill()
        p.join(5)


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn's factory), from the configuration in the environment."""
    config = ServiceConfig.from_json(os.environ[ENV_CONFIG])
    if config.shards is not None:
        from .shards import create_shard_app

        return create_shard_app(config)
    if config.routes:
        from .router import create_router_app

        return create_router_app(config)
    from .app import create_app

    return create_app(config)


def _check_address(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise InputError(f"cannot listen on {host}:{port} ({e.strerror})",
                             "choose another --port, or stop the program that uses it") from None


def _sharded_app(config: ServiceConfig, host: str, port: int) -> Any:
    """A shard server's or a router's app (docs/scale.md, "Sharded serving"): no registry, no indexer. What can
    fail at start (a bad --shards, shard servers that do not cover the index once) fails here."""
    if config.shards is not None and config.routes:
        raise InputError("--shards and --route are given together: a server is a shard server or a router",
                         "start the shard servers with --corpus NAME=DIR --shards A-B, and the router with --route "
                         "URL ... only")
    if config.sites or config.db:
        raise InputError("shard servers and routers answer trace and similar only: they take no --sites or --db",
                         "serve the registry and audits from a separate ipscope serve --data DIR")
    _check_address(host, port)
    if config.shards is not None:
        from .shards import create_shard_app

        return create_shard_app(config)
    if config.corpora:
        raise InputError("a router (--route) serves the corpora of its shard servers: it takes no --corpus",
                         "give --corpus NAME=DIR to the shard servers (with --shards A-B), and --route URL... to "
                         "the router")
    from .router import create_router_app

    return create_router_app(config)


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          log_level: str = "info", indexer: bool = True) -> None:
    """Run the service until SIGINT/SIGTERM. Raises IpscopeError (before starting anything) when the
    database cannot be reached, a corpus cannot be opened or the address is taken."""
    try:
        import uvicorn
    except ImportError:
        from ..errors import MissingExtraError

        raise MissingExtraError("service", "uvicorn") from None
    if config.shards is not None or config.routes:
        app = _sharded_app(config, host, port)
        previous = _stop_on_signals()
        try:
            if workers <= 1:
                uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                            timeout_graceful_shutdown=10)
            else:
                os.environ[ENV_CONFIG] = config.to_json()
                uvicorn.run("ipscope.service.run:worker_app", factory=True, host=host, port=port, workers=workers,
                            log_level=log_level, access_log=False, timeout_graceful_shutdown=10)
        except _Stopped:
            pass
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)
        return
    preflight(config, host, port)
    handle = _start_indexer(config, getattr(logging, log_level.upper(), logging.INFO)) if indexer else None
    previous = _stop_on_signals()
    try:
        if workers <= 1:
            from .app import create_app

            app = create_app(config)
            _wait_indexer(handle)
            uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                        timeout_graceful_shutdown=10)
        else:
            os.environ[ENV_CONFIG] = config.to_json()
            _wait_indexer(handle)
            uvicorn.run("ipscope.service.run:worker_app", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, access_log=False, timeout_graceful_shutdown=10)
    except _Stopped:  # uvicorn shut down gracefully, then raised the signal again to our handler
        pass
    finally:
        _stop_indexer(handle)
        for sig, h in previous.items():
            signal.signal(sig, h)


class _Stopped(BaseException):
    """SIGINT or SIGTERM after uvicorn's graceful shutdown: stop the indexer, exit 0."""


def _stop_on_signals() -> dict[int, Any]:
    """uvicorn restores the handlers it found and raises the signal it shut down for; with these the raise ends
    in :class:`_Stopped` (caught by ``serve``) instead of killing the process before the indexer is stopped."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stopped(_sig: int, _frame: Any) -> None:
        raise _Stopped()

    return {sig: signal.signal(sig, stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
