"""Registrations that arrive together are committed together (group commit).

A registration is acknowledged only once the database transaction that holds its log leaf has committed, and a
commit costs an fsync (a few milliseconds on a real disk, SQLite or PostgreSQL alike). One commit per request
caps a server at a few dozen registrations a second; :class:`Batcher` takes every request that is waiting
when the previous commit ends and registers them in one transaction (``Registry.register_many``). There is no
timer: a lone request is committed at once, and under load the batches grow by themselves (at most
``max_batch``). Each request still gets its own leaf, receipt and error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import IpscopeError
from ..registry.service import NewWork, Prepared, Registration, Registry

__all__ = ["Batcher"]


class Batcher:
    """Group commit of registrations for one event loop (one per server process)."""

    def __init__(self, registry: Registry, max_batch: int = 64) -> None:
        self.registry = registry
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[NewWork | Prepared, asyncio.Future[Registration]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # commits made (figures for tests and benchmarks)

    async def register(self, request: NewWork | Prepared) -> Registration:
        """The request's Registration once its batch has committed; raises the request's own error. Give it
        ``Registry.prepare``'s answer, made in the request's own thread, and the batch's thread only commits."""
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        fut: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()
        await self._queue.put((request, fut))
        return await fut

    async def _run(self, queue: asyncio.Queue[tuple[NewWork | Prepared, asyncio.Future[Registration]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            live = [(r, f) for r, f in batch if not f.cancelled()]  # a client that went away before its turn
            if not live:
                continue
            try:
                got: list[Any] = await loop.run_in_executor(None, self.registry.register_many, [r for r, _ in live])
            except BaseException as e:  # noqa: BLE001 — the database failed: every request of the batch says so
                for _r, f in live:
                    if not f.done():
                        f.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
                if not isinstance(e, Exception):
                    raise
                continue
            self.batches += 1
            for (_r, f), g in zip(live, got):
                if f.done():  # cancelled meanwhile: the work is registered all the same (it is in the log)
                    continue
                if isinstance(g, IpscopeError):
                    f.set_exception(g)
                else:
                    f.set_result(g)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
