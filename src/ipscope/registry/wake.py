"""A nudge from the server processes that write the registry to the indexer that follows it.

The indexer (``registry/indexer.py``) polls the registry's log every ``interval`` seconds when it has caught up.
A poll alone puts half an interval, on average, between a commit and the sync that publishes it; a nudge wakes
the indexer at the commit. Each server process nudges after every write transaction it commits
(``Registry.after_write``); the indexer waits on its :class:`Listener` instead of sleeping.

The nudge is a one-byte datagram to a Unix socket in Linux's abstract namespace, named from the data
directory's real path (no file to clean up after a crash, no path-length limit). It carries nothing and is
never needed for correctness: a nudge lost, sent before the indexer listens, or sent from a process on another
machine (several servers on one PostgreSQL database) leaves the poll to find the change. Elsewhere than Linux
there is no listener and the poll does all the work.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import sys
from pathlib import Path

__all__ = ["Listener", "Nudger", "address", "nudge"]


def address(data_dir: str | Path) -> str | None:
    """The abstract socket name of the indexer of ``data_dir`` (None where there are no abstract sockets)."""
    if not sys.platform.startswith("linux"):
        return None
    digest = hashlib.sha256(os.path.realpath(data_dir).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"\0ipscope-indexer-{digest}"


class Nudger:
    """Sends the nudges of one process (one socket, kept open); never raises."""

    def __init__(self, data_dir: str | Path) -> None:
        self.address = address(data_dir)
        self._sock: socket.socket | None = None

    def __call__(self) -> None:
        if self.address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(b"!", self.address)
        except OSError:  # no indexer listening, or its queue is full (it is awake then): the poll covers it
            pass

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def nudge(data_dir: str | Path) -> None:
    """One nudge to the indexer of ``data_dir`` (a socket opened and closed: for occasional writers)."""
    n = Nudger(data_dir)
    n()
    n.close()


class Listener:
    """The indexer's end: ``wait(timeout)`` returns True as soon as a nudge arrives (every nudge queued until
    then is taken with it), False after ``timeout`` seconds without one. When the name is taken (another
    indexer of the same data directory) or there are no abstract sockets, it only sleeps."""

    def __init__(self, data_dir: str | Path) -> None:
        self._sock: socket.socket | None = None
        name = address(data_dir)
        if name is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(name)
            except OSError:
                sock.close()
            else:
                sock.setblocking(False)
                self._sock = sock

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def wait(self, timeout: float) -> bool:
        if self._sock is None:
            select.select([], [], [], timeout)
            return False
        ready = select.select([self._sock], [], [], timeout)[0]
        if not ready:
            return False
        try:
            while True:
                self._sock.recv(16)
        except (BlockingIOError, InterruptedError):
            pass
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
