"""Running ``ipscope serve`` for the tests: a real uvicorn process on a free loopback port, its own process group
(so a test can kill -9 the server and its indexer at once), its output kept in a file for the failure message."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_pg_database(base: str) -> str:
    """A new, empty database in the session's PostgreSQL cluster (``postgres_cluster``)."""
    import psycopg

    name = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def ipscope_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONUNBUFFERED="1")


class Server:
    """``ipscope serve ARGS --port P`` until :meth:`stop` (SIGTERM) or :meth:`kill` (SIGKILL to the group)."""

    def __init__(self, args: list[str], log: Path, timeout: float = 120, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*args, "--port", str(self.port), "--log-level", os.environ.get("IPSCOPE_TEST_LOG", "warning")]
        self.log = log
        self._out = open(log, "ab")
        self.p = subprocess.Popen([sys.executable, "-m", "ipscope", "serve", *self.args], stdout=self._out,
                                  stderr=subprocess.STDOUT, env=ipscope_env(), start_new_session=True)
        self._wait_up(timeout)

    def _wait_up(self, timeout: float) -> None:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.p.poll() is not None:
                pytest.fail(f"ipscope serve exited with {self.p.returncode}: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"ipscope serve did not come up in {timeout} s: {self.output()[-3000:]}")

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        self._out.close()
        return self.p.returncode

    def kill(self) -> None:
        """kill -9 the server and everything it started (its process group), as a crash of the machine would."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait(30)

    def _reap_group(self) -> None:
        """The indexer stops with the server; if it has not within 15 s, that is a bug, but do not leave it."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            try:
                os.killpg(self.p.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
