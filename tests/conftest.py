"""Shared fixtures: real data only (the bundled demo corpus, ../shared/data when present)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "corpus"
SAMPLE = REPO / "demo" / "sample_output.txt"
TESTDATA = Path(__file__).resolve().parent / "data"
SHARED = REPO.parent / "shared" / "data"


def need_shared(sub: str = "") -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent
    (a user's fresh clone has no ../shared; CI has it)."""
    p = SHARED / sub
    if not p.exists():
        pytest.skip(f"needs the shared data set {p} (present in CI, absent from a plain clone)")
    return p


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> Path:
    from ipscope.index import BuildOptions, build_index

    out = tmp_path_factory.mktemp("demo") / "demo.idx"
    build_index([DEMO], out, BuildOptions(jobs=1))
    return out


# --------------------------------------------------------------------------- registry databases
# The registry tests run against SQLite always and against a real PostgreSQL that scripts/postgres.sh starts once
# per session (as the postgres user under root, in a temp dir, on a free port). When PostgreSQL is not installed
# and cannot be (no root, no apt), the PostgreSQL variants skip with the reason: they never pass silently.




@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory):
    """The URL of a PostgreSQL cluster for this session (``scripts/postgres.sh start``), stopped at the end."""
    import shutil
    import subprocess

    script = REPO / "scripts" / "postgres.sh"
    have = shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not have:
        r = subprocess.run([str(script), "install"], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"PostgreSQL is not installed and could not be installed: {r.stderr.strip()[-300:]}")
    d = Path(tempfile.mkdtemp(prefix="ipscope-pg."))
    r = subprocess.run([str(script), "start", str(d)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"scripts/postgres.sh start failed: {(r.stderr or r.stdout).strip()[-500:]}")
    url = r.stdout.strip().splitlines()[-1]
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop", str(d)], capture_output=True, timeout=120)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request, tmp_path):
    """A fresh, empty registry database URL: a SQLite file, or a new database in the session's cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    base = request.getfixturevalue("postgres_cluster")
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def interrupt_ipscope(args: list[str], ready, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``ipscope ARGS`` in its own process group, wait until ``ready()``, then press Ctrl-C (SIGINT to the
    group, as a terminal does). A shell starts background jobs with SIGINT ignored, and Python keeps an ignored
    SIGINT ignored: the child gets the default disposition back, as a program started from a terminal has it."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent / "src"))
    p = subprocess.Popen([sys.executable, "-m", "ipscope", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    while not ready():
        if p.poll() is not None or time.monotonic() - t0 > timeout:
            out, err = p.communicate()
            pytest.fail(f"the run ended (or never got ready) before it could be interrupted: {err.decode()[-2000:]}")
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode(), err.decode())
