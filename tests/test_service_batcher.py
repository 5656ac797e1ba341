"""Group commit of registrations (service/batcher.py) over a real registry: SQLite always, PostgreSQL from
scripts/postgres.sh (conftest.py). Works are passages of the bundled demo corpus (Project Gutenberg)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from ipscope.errors import IpscopeError  # noqa: E402
from ipscope.registry.receipt import verify  # noqa: E402
from ipscope.registry.service import AuthError, NewWork, Registry  # noqa: E402
from ipscope.service.batcher import Batcher  # noqa: E402

BOOK = (Path(__file__).resolve().parents[1] / "demo" / "corpus" / "books" / "105.txt").read_text(encoding="utf-8")


def _run(coro):
    """asyncio.run in a thread of its own: the session's Playwright browser (tests/conftest.py) keeps an event loop
    running in the main thread once a browser test has run."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


@pytest.fixture
def reg(registry_url):
    r = Registry.open(registry_url)
    yield r
    r.close()


def test_concurrent_registrations_share_commits_and_each_gets_its_answer(reg: Registry) -> None:
    key = reg.create_key("alice").key
    reqs = [NewWork(key, f"part {i}", BOOK[i * 3000:(i + 1) * 3000]) for i in range(40)]
    reqs[7] = NewWork("ipk_bad_key", "a wrong key", BOOK[:3000])
    reqs[13] = NewWork(key, "no words", " . ")
    b = Batcher(reg, max_batch=16)

    async def run() -> list:
        try:
            return await asyncio.gather(*(b.register(r) for r in reqs), return_exceptions=True)
        finally:
            await b.close()

    got = _run(run())
    assert isinstance(got[7], AuthError) and isinstance(got[13], IpscopeError)
    ok = [g for i, g in enumerate(got) if i not in (7, 13)]
    assert sorted(g.receipt.leaf_index for g in ok) == list(range(38))  # every leaf once, no gap
    assert all(verify(g.receipt, reg.public_key).ok for g in ok)
    assert all(reg.work(g.work.id) == g.work for g in ok)  # acknowledged = committed
    assert 3 <= b.batches < 38, b.batches  # batched (40 waiting, at most 16 a batch), not one commit each
    assert reg.check().ok


def test_a_lone_request_is_committed_at_once(reg: Registry) -> None:
    key = reg.create_key("bob").key
    b = Batcher(reg)

    async def run() -> list:
        out = []
        for i in range(3):  # one after another: nothing waits for a batch to fill
            out.append(await asyncio.wait_for(b.register(NewWork(key, f"t{i}", BOOK[i * 900:(i + 1) * 900])), 30))
        await b.close()
        return out

    got = _run(run())
    assert [g.receipt.leaf_index for g in got] == [0, 1, 2] and b.batches == 3


def test_a_database_failure_reaches_every_request_of_the_batch(reg: Registry, tmp_path: Path) -> None:
    key = reg.create_key("carol").key
    reg.engine.dispose()
    broken = Registry.__new__(Registry)  # the same registry whose register_many fails as a lost database does
    broken.__dict__.update(reg.__dict__)

    def fail(_reqs):
        raise ConnectionError("database gone")

    broken.register_many = fail  # type: ignore[method-assign]
    b = Batcher(broken)

    async def run() -> list:
        got = await asyncio.gather(*(b.register(NewWork(key, f"t{i}", "some words here")) for i in range(5)),
                                   return_exceptions=True)
        await b.close()
        return got

    assert all(isinstance(g, ConnectionError) for g in _run(run()))
