"""Operating ``ipscope serve``: kill -9 during a burst of registrations and restart (nothing acknowledged is
lost from database, log or works index; ``ipscope registry check`` clean), a database that cannot be reached
(a clear error at start, exit 1), the rate and sign-up limits, a closed sign-up, several workers on PostgreSQL.

Works are slices of the bundled demo corpus (Jane Austen's *Persuasion*, Project Gutenberg 105).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
pytest.importorskip("sqlalchemy")
pytest.importorskip("iscc_core")

from service_helpers import REPO, Server, free_port, ipscope_env, new_pg_database  # noqa: E402

pytestmark = pytest.mark.service

BOOK = (REPO / "demo" / "corpus" / "books" / "105.txt").read_text(encoding="utf-8")


def ipscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ipscope", *args], capture_output=True, text=True,
                          env=ipscope_env(), timeout=300)


def db_args(kind: str, request, data: Path) -> list[str]:
    args = ["--data", str(data)]
    if kind == "postgresql":
        args += ["--db", new_pg_database(request.getfixturevalue("postgres_cluster"))]
    return args


def sign_up(c) -> dict:
    r = c.post("/v1/owners", json={"name": f"o-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return r.json()


def work_text(i: int) -> str:
    """A distinct 3 KB passage per work: a sentence naming it, then a slice of the novel."""
    a = (i * 1_000) % (len(BOOK) - 4_000)
    return f"Registered work number {i} begins here. " + BOOK[a:a + 3_000]


def wait_found(c, key: str, wid: str, text: str, timeout: float = 30) -> float:
    """Seconds until /v1/check names ``wid`` for a passage of its text; fails after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r = c.post("/v1/check", json={"text": text[500:1500]}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        if any(m["work_id"] == wid for m in r.json()["matches"]):
            return time.monotonic() - t0
        time.sleep(0.05)
    pytest.fail(f"work {wid} was not found by /v1/check within {timeout} s")


@pytest.mark.slow  # about 30 s: CI runs it (make test's local run leaves it out)
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_kill_9_during_a_burst_then_restart_loses_nothing_acknowledged(kind, request, tmp_path) -> None:
    args = [*db_args(kind, request, tmp_path / "data"), "--rate-limit", "0"]
    s = Server(args, tmp_path / "server.log")
    with httpx.Client(base_url=s.url, timeout=60) as c:
        k = sign_up(c)
    acked: list[tuple[int, dict]] = []
    failed = 0
    stop = threading.Event()
    lock = threading.Lock()
    counter = iter(range(10**6))

    def writer() -> None:
        nonlocal failed
        with httpx.Client(base_url=s.url, timeout=30) as c:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    r = c.post("/v1/works", json={"title": f"burst {i}", "text": work_text(i),
                                                  "reservations": {"train-ai": "n"}},
                               headers={"Authorization": f"Bearer {k['key']}"})
                except httpx.HTTPError:  # the server died with this request in flight: not acknowledged
                    with lock:
                        failed += 1
                    return
                assert r.status_code == 201, r.text
                with lock:
                    acked.append((i, r.json()))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    while len(acked) < 60 and time.monotonic() - t0 < 120:
        time.sleep(0.01)
    s.kill()  # SIGKILL to the server and its indexer, in the middle of the burst
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) >= 60 and failed > 0  # killed with writes in flight
    s2 = Server(args, tmp_path / "server2.log")
    try:
        with httpx.Client(base_url=s2.url, timeout=60) as c:
            for i, a in acked:  # in the database: the public record and the logged statement, at its leaf
                w = c.get(f"/v1/works/{a['id']}")
                assert w.status_code == 200 and w.json()["content_sha256"] == a["content_sha256"], (i, w.text)
                hist = c.get(f"/v1/works/{a['id']}/history").json()["history"]
                assert [(h["leaf_index"], h["statement"]) for h in hist] == [
                    (a["receipt"]["leaf_index"], a["receipt"]["statement"])]
            # in the works index, once the restarted indexer has caught up (the last acknowledged, and a sample)
            for i, a in acked[-1:] + acked[::10]:
                wait_found(c, k["key"], a["id"], work_text(i))
        r = ipscope("registry", "check", *args[:4] if kind == "postgresql" else args[:2])
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        assert s2.stop() == 0, s2.output()[-3000:]


def test_an_unreachable_database_is_a_clear_error_at_start(tmp_path) -> None:
    port = free_port()  # nothing listens there
    r = ipscope("serve", "--data", str(tmp_path / "d"), "--db", f"postgresql://postgres@127.0.0.1:{port}/registry",
                "--port", str(free_port()))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot reach the registry database" in r.stderr and "fix:" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    r = ipscope("serve", "--data", str(tmp_path / "d"), "--corpus", f"books={tmp_path / 'missing.idx'}")
    assert r.returncode == 1 and "is not a directory" in r.stderr and "Traceback" not in r.stderr


def test_the_address_in_use_is_a_clear_error(tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = ipscope("serve", "--data", str(tmp_path / "d"), "--port", str(busy.getsockname()[1]))
    assert r.returncode == 1 and "cannot listen on" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_rate_limit_per_key_and_sign_up_limit(tmp_path) -> None:
    s = Server(["--data", str(tmp_path / "d"), "--rate-limit", "10", "--signup-limit", "2"], tmp_path / "log")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            a, b = sign_up(c), sign_up(c)
            r = c.post("/v1/owners", json={"name": "third"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
            assert "sign-ups an hour" in r.json()["detail"]
            ha = {"Authorization": f"Bearer {a['key']}"}
            codes = [c.get("/v1/works", headers=ha).status_code for _ in range(12)]
            assert codes[:10] == [200] * 10 and codes[10:] == [429, 429], codes
            r = c.get("/v1/works", headers=ha)
            assert r.headers["content-type"].startswith("application/problem+json") and r.json()["fix"]
            # another key has its own budget
            assert c.get("/v1/works", headers={"Authorization": f"Bearer {b['key']}"}).status_code == 200
    finally:
        assert s.stop() == 0


def test_closed_sign_up_and_keys_from_the_cli(tmp_path) -> None:
    data = tmp_path / "d"
    s = Server(["--data", str(data), "--no-signup"], tmp_path / "log")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            r = c.post("/v1/owners", json={"name": "eve"})
            assert r.status_code == 403 and "closed" in r.json()["detail"], r.text
            assert c.get("/v1").json()["signup"] is False
            made = ipscope("keys", "create", "--data", str(data), "--owner", "alice")  # the operator's way
            assert made.returncode == 0, made.stderr
            key = made.stdout.strip().splitlines()[-1]
            r = c.post("/v1/works", json={"title": "T", "text": work_text(1)},
                       headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201, r.text
            assert ipscope("keys", "revoke", "--data", str(data), key).returncode == 0
            r = c.post("/v1/works", json={"title": "T", "text": work_text(2)},
                       headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 401 and "revoked" in r.json()["detail"], r.text
    finally:
        assert s.stop() == 0


@pytest.mark.slow  # about 30 s: CI runs it (make test's local run leaves it out)
def test_several_workers_on_postgresql(request, tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    args = [*db_args("postgresql", request, tmp_path / "data"), "--workers", "2", "--rate-limit", "0"]
    s = Server(args, tmp_path / "log")
    try:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            k = sign_up(c)

            def one(i: int) -> dict:
                with httpx.Client(base_url=s.url, timeout=60) as cc:
                    r = cc.post("/v1/works", json={"title": f"w{i}", "text": work_text(100 + i)},
                                headers={"Authorization": f"Bearer {k['key']}"})
                    assert r.status_code == 201, r.text
                    return r.json()

            with ThreadPoolExecutor(6) as ex:
                done = list(ex.map(one, range(30)))
            assert sorted(d["receipt"]["leaf_index"] for d in done) == list(range(30))
            for i in (0, 29):  # every worker's works index sees what the one indexer wrote
                for _ in range(4):
                    wait_found(c, k["key"], done[i]["id"], work_text(100 + i))
        r = ipscope("registry", "check", *args[:4])
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        assert s.stop() == 0, s.output()[-3000:]
    assert "Traceback" not in s.output()
