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
def shard_index(tmp_path_factory) -> Path:
    """The demo corpus in 5 small shards (sharded_data.py), for the sharded-serving tests."""
    from sharded_data import build_shard_index

    return build_shard_index(tmp_path_factory.mktemp("sharded") / "demo5.idx")


@pytest.fixture(scope="session")
def queries(shard_index) -> dict[str, str]:
    """The sharded-serving tests' queries by name (sharded_data.py)."""
    from sharded_data import shard_queries

    return shard_queries(shard_index)


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


# --------------------------------------------------------------------------- a real browser
# Tests marked `browser` run in Debian's Chromium driven by Playwright for Python. scripts/browser.sh installs
# Chromium (apt-get, as root: CI starts without it) the first time a session needs it; Playwright's own browser
# download is never used. Without root, or without the playwright package, the tests skip with the reason on a
# developer's machine; under CI (CI=true) they fail instead, so a CI run never passes without its browser.
SCREENSHOTS = Path(os.environ.get("IPSCOPE_SCREENSHOTS", REPO / "build" / "screenshots"))


def _no_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, installed by scripts/browser.sh when it is missing."""
    script = REPO / "scripts" / "browser.sh"
    r = subprocess.run([str(script), "path"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        r = subprocess.run([str(script), "install"], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            _no_browser(f"Chromium is not installed and scripts/browser.sh could not install it: "
                        f"{(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def browser(chromium_path):
    """A headless Chromium under Playwright for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        b = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def screenshot_dir(node) -> Path:
    """build/screenshots/<test name>/ (IPSCOPE_SCREENSHOTS moves it), made if missing."""
    d = SCREENSHOTS / node.name.replace("/", "_").replace("[", "-").rstrip("]")
    d.mkdir(parents=True, exist_ok=True)
    return d


class PageErrors(list):
    """What went wrong in a page, one line each: console messages of type error (a CSP violation, a failed
    load, console.error) and uncaught exceptions."""


@pytest.fixture
def page(browser, request):
    """A fresh page (its own context: no cookies shared between tests) with ``page.errors`` collecting console
    errors and uncaught exceptions, and ``page.shot(name)`` saving a full-page screenshot to
    build/screenshots/<test>/<name>.png (IPSCOPE_SCREENSHOTS moves the folder) and returning its path."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    pg = ctx.new_page()
    errors = PageErrors()
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    pg.errors = errors  # type: ignore[attr-defined]

    def shot(name: str) -> Path:
        out = screenshot_dir(request.node) / f"{name}.png"
        pg.screenshot(path=str(out), full_page=True)
        return out

    pg.shot = shot  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        ctx.close()


class StaticServer:
    """A loopback HTTP server (stdlib, in a thread) serving one directory, with extra response headers."""

    def __init__(self, root: Path, headers: dict[str, str] | None = None) -> None:
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        extra = dict(headers or {})

        class Handler(SimpleHTTPRequestHandler):
            def end_headers(self) -> None:
                for k, v in extra.items():
                    self.send_header(k, v)
                super().end_headers()

            def log_message(self, *args) -> None:  # quiet test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
