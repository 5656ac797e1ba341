"""The nudge from a server's writes to its indexer (registry/wake.py): a commit wakes the indexer at once instead
of after its poll interval; a nudge with nobody listening is harmless; the poll still finds what no nudge
announced."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the registry needs the service extra: pip install 'ipscope[service]'")

from ipscope.registry import indexer  # noqa: E402
from ipscope.registry.service import Registry  # noqa: E402
from ipscope.registry.wake import Listener, Nudger, address, nudge  # noqa: E402
from ipscope.registry.works_index import WorksIndex  # noqa: E402

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract Unix sockets are Linux's")
PERSUASION = (Path(__file__).resolve().parents[1] / "demo" / "corpus" / "books" / "105.txt").read_text("utf-8")


@linux
def test_a_nudge_ends_the_wait_and_a_wait_without_one_times_out(tmp_path: Path) -> None:
    lis = Listener(tmp_path)
    try:
        assert lis.listening
        t = time.monotonic()
        assert lis.wait(0.05) is False
        assert time.monotonic() - t >= 0.04
        n = Nudger(tmp_path)
        for _ in range(5):  # several queued nudges are taken by one wait
            n()
        t = time.monotonic()
        assert lis.wait(10) is True
        assert time.monotonic() - t < 1
        assert lis.wait(0.01) is False
        n.close()
    finally:
        lis.close()


@linux
def test_names_follow_the_real_data_directory(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert address(tmp_path / "link") == address(tmp_path / "a") != address(tmp_path)
    first, second = Listener(tmp_path / "a"), Listener(tmp_path / "link")
    try:  # a second indexer of the same data directory only sleeps
        assert first.listening and not second.listening
        nudge(tmp_path / "link")
        assert first.wait(5)
    finally:
        first.close()
        second.close()


def test_a_nudge_nobody_hears_does_not_raise(tmp_path: Path) -> None:
    nudge(tmp_path)
    n = Nudger(tmp_path / "missing")
    n()
    n()
    n.close()


def test_after_write_runs_after_a_commit_and_not_after_a_rollback(registry_url: str) -> None:
    reg = Registry.open(registry_url)
    calls: list[int] = []
    reg.after_write = lambda: calls.append(reg.log_size())  # the commit is visible when it runs
    try:
        key = reg.create_key("alice").key
        assert len(calls) == 1
        r = reg.register(key, title="t", text=PERSUASION[:5_000])
        assert calls[-1] == r.receipt.leaf_index + 1
        n = len(calls)
        with pytest.raises(RuntimeError), reg._write():  # a transaction that fails is rolled back: no call
            raise RuntimeError("failed in the transaction")
        assert len(calls) == n
    finally:
        reg.close()


@linux
def test_a_commit_wakes_an_indexer_that_polls_only_every_minute(registry_url: str, tmp_path: Path) -> None:
    """With a 60 s poll, only the nudge can make a registration searchable within seconds."""
    reg = Registry.open(registry_url)
    reg.after_write = Nudger(tmp_path)
    stop = threading.Event()
    th = threading.Thread(target=indexer.run, args=(tmp_path, registry_url, stop), kwargs={"interval": 60},
                          daemon=True)
    th.start()
    try:
        reader = WorksIndex.open(tmp_path)
        key = reg.create_key("alice").key
        time.sleep(1)  # the indexer has synced the empty log and sleeps for its minute now
        r = reg.register(key, title="p", text=PERSUASION[10_000:15_000])
        end = time.monotonic() + 30
        while reader.synced_to() <= r.receipt.leaf_index and time.monotonic() < end:
            time.sleep(0.05)
            reader.refresh()
        assert reader.synced_to() == r.receipt.leaf_index + 1
        assert r.work.id in [m.work_id for m in reader.check(PERSUASION[11_000:12_000], reg).matches]
    finally:
        stop.set()
        nudge(tmp_path)  # ends the indexer's wait now rather than in a minute
        th.join(30)
        assert not th.is_alive()
        reg.close()
