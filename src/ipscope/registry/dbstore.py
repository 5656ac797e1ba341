"""The Merkle log's :class:`~.merkle.LogStore` in the ``log_nodes`` table, on one open database connection.

The store works inside the caller's transaction: ``append`` inserts the leaf's nodes in the same transaction
that writes the registration and its event row, so the leaf index and the record commit together or not at
all (docs/registry.md, durability). Two writers that read the same size both try to insert leaf
``(0, size)``; the primary key lets one of them commit and the other fails and retries.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, insert, select

from .merkle import Node
from .models import LogNode

_T = LogNode.__table__


class DbStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._size: int | None = None
        # nodes read or written in this transaction (a hash of a complete subtree never changes): a batch of
        # registrations and its inclusion proofs read each at most once
        self._nodes: dict[tuple[int, int], bytes] = {}

    def size(self) -> int:
        if self._size is None:
            # the highest leaf + 1 (one primary-key lookup); `ipscope registry check` verifies there is no gap
            top = self.conn.execute(select(func.max(_T.c.idx)).where(_T.c.level == 0)).scalar()
            self._size = 0 if top is None else int(top) + 1
        return self._size

    def node(self, level: int, index: int) -> bytes:
        got = self._nodes.get((level, index))
        if got is not None:
            return got
        h = self.conn.execute(select(_T.c.hash).where(_T.c.level == level, _T.c.idx == index)).scalar()
        if h is None:
            raise KeyError((level, index))
        got = self._nodes[(level, index)] = bytes(h)
        return got

    def append(self, size: int, nodes: Sequence[Node]) -> None:
        if size != self.size():
            raise ValueError(f"the log has {self.size()} leaves, not {size}")
        self.conn.execute(insert(_T), [{"level": n.level, "idx": n.index, "hash": bytes(n.hash)} for n in nodes])
        for n in nodes:
            self._nodes[(n.level, n.index)] = bytes(n.hash)
        self._size = size + 1
