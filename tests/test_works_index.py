"""The works index (``DATA/works.idx``): sync from the registry's log, check, crashes, compaction, the index half
of ``ipscope registry check``. Over a real registry database: SQLite always, PostgreSQL from scripts/postgres.sh
(tests/conftest.py).

Works are passages of the bundled demo corpus (Project Gutenberg texts in demo/corpus/books: Persuasion, 105.txt;
Pride and Prejudice, pg2097.txt... as listed there); reservations use the IETF aipref vocabulary's own examples
(draft-ietf-aipref-vocab: ``train-ai=n``, ``search=y``). The edited copies change words a person would change
(names, a verb), as in the near-copies of tests/data/similar.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("iscc_core")

from ipscope.errors import InputError  # noqa: E402
from ipscope.index import live  # noqa: E402
from ipscope.registry import indexer  # noqa: E402
from ipscope.registry.service import Registry  # noqa: E402
from ipscope.registry.works_index import INDEX_DIR, STATE, WorksIndex, indexed_texts  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOOKS = REPO / "demo" / "corpus" / "books"
PERSUASION = (BOOKS / "105.txt").read_text(encoding="utf-8")
W1 = PERSUASION[20_000:30_000]  # three 10 KB works of one owner, one of another
W2 = PERSUASION[40_000:50_000]
W3 = PERSUASION[60_000:70_000]
W4 = PERSUASION[80_000:90_000]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "ipscope", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture
def reg(registry_url):
    r = Registry.open(registry_url)
    yield r
    r.close()


@pytest.fixture
def owners(reg):
    return reg.create_key("alice").key, reg.create_key("bob").key


def _quote(work: str, a: int, b: int) -> str:
    """A text that copies ``work[a:b]`` between words of its own."""
    return "In my essay I wrote the following. " + work[a:b] + " That is all I have to say about it."


def test_empty_index_checks_and_syncs(reg: Registry, tmp_path: Path) -> None:
    wi = WorksIndex.open(tmp_path)
    assert (tmp_path / INDEX_DIR / "manifest.json").is_file() and wi.synced_to() == 0
    res = wi.check(_quote(W1, 100, 900), reg)
    assert res.matches == () and res.query_tokens > 100
    assert res.to_json()["matches"] == [] and res.to_json()["provenance"]["index"]["documents"] == 0
    assert wi.sync(reg) == 0 and wi.index.generation == 0  # nothing to apply: no generation published
    assert reg.check(tmp_path / INDEX_DIR).ok
    # a second open of the same directory reads the same index (not made again)
    assert WorksIndex.open(tmp_path).index.manifest == wi.index.manifest


def test_sync_applies_registrations_reservations_and_withdrawals(reg: Registry, owners, tmp_path: Path) -> None:
    alice, bob = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1, reservations={"train-ai": "n"}).work
    b = reg.register(alice, title="Persuasion II", text=W2).work
    c = reg.register(bob, title="Persuasion III", text=W3, reservations={"search": "y"}).work
    assert wi.sync(reg) == 3
    assert wi.synced_to() == 3 == reg.log_size() and wi.index.generation == 1  # one generation for the batch
    texts = indexed_texts(wi.root, wi.index.manifest)
    assert texts == {a.id: W1, b.id: W2, c.id: W3}
    reg.set_reservations(alice, a.id, {"train-ai": "y"})
    reg.delete(alice, b.id)
    assert wi.sync(reg) == 2 and wi.synced_to() == 5
    assert set(indexed_texts(wi.root, wi.index.manifest)) == {a.id, c.id}
    assert wi.sync(reg) == 0 and wi.index.generation == 2  # idempotent: nothing after the position
    # registered and withdrawn between two syncs: never indexed
    d = reg.register(bob, title="Persuasion IV", text=W4).work
    reg.delete(bob, d.id)
    assert wi.sync(reg) == 2 and d.id not in indexed_texts(wi.root, wi.index.manifest)
    rep = reg.check(wi.root)
    assert rep.ok and rep.index is not None and rep.index.synced_to == 7 and rep.index.documents == 2, rep.text()
    # a reader opened before the syncs sees them after refresh, and only then
    reader = WorksIndex.open(tmp_path)
    e = reg.register(bob, title="Persuasion V", text=PERSUASION[100_000:110_000]).work
    wi.sync(reg, max_batch=1)
    assert reader.synced_to() == 7 and reader.refresh() and reader.synced_to() == 8
    assert reader.refresh() is False
    assert e.id in indexed_texts(reader.root, reader.index.manifest)


def test_small_batches_make_one_generation_each(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    for i in range(5):
        reg.register(alice, title=f"part {i}", text=PERSUASION[i * 3000 : (i + 1) * 3000 + 3000])
    assert wi.sync(reg, max_batch=2) == 5
    assert wi.index.generation == 3 and wi.synced_to() == 5  # 2 + 2 + 1


def test_check_names_work_owner_and_reservations(reg: Registry, owners, tmp_path: Path) -> None:
    alice, bob = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1, reservations={"train-ai": "n", "search": "y"}).work
    reg.register(bob, title="Persuasion III", text=W3)
    wi.sync(reg)
    q = _quote(W1, 2_000, 3_200)
    res = wi.check(q, reg)
    assert [m.work_id for m in res.matches] == [a.id]
    m = res.matches[0]
    assert (m.title, m.owner, m.owner_id, m.label) == ("Persuasion I", "alice", a.owner_id, "copy")
    assert m.reservations == {"train-ai": "n", "search": "y"} and 0.8 < m.score <= 1.0
    assert m.spans and m.spans[0].kind == "verbatim"
    for s in m.spans:  # the offsets are the evidence: the same characters on both sides
        assert q[s.query_start : s.query_end] == W1[s.work_start : s.work_end]
    assert q[m.spans[0].query_start : m.spans[0].query_end] in W1[2_000:3_200]
    out = res.to_json()
    assert list(out["matches"][0])[:7] == ["work_id", "title", "owner", "owner_id", "label", "score", "reservations"]
    assert out["provenance"]["registry"] == {"synced_to": 2, "log_size": 2}
    assert out["provenance"]["query_sha256"] and out["provenance"]["index"]["generation"] == 1
    json.dumps(out)  # plain JSON
    # the reservations are the owner's current ones, read at check time (no re-index)
    reg.set_reservations(alice, a.id, {"train-ai": "y"})
    assert wi.check(q, reg).matches[0].reservations == {"train-ai": "y"}


def test_check_finds_an_edited_copy(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1).work
    reg.register(alice, title="Persuasion II", text=W2)
    wi.sync(reg)
    passage = W1[3_000:4_500]
    words = passage.split(" ")
    for i in range(10, len(words), 25):  # a word changed every 25 words
        words[i] = "something"
    edited = " ".join(words)
    assert edited != passage
    res = wi.check(edited, reg)
    assert [m.work_id for m in res.matches] == [a.id]
    m = res.matches[0]
    assert m.label in ("copy", "near-copy") and m.score > 0.5
    assert any(s.kind == "near-verbatim" and s.edits > 0 for s in m.spans)
    # an unrelated text (another book) names no work
    other = (BOOKS / "pg2097.txt").read_text(encoding="utf-8")[50_000:51_500]
    assert wi.check(other, reg).matches == ()


def test_a_withdrawn_work_is_never_matched(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1).work
    wi.sync(reg)
    q = _quote(W1, 5_000, 6_000)
    assert [m.work_id for m in wi.check(q, reg).matches] == [a.id]
    reg.delete(alice, a.id)
    assert wi.check(q, reg).matches == ()  # the index still holds it: the database says it is withdrawn
    wi.sync(reg)
    assert wi.check(q, reg).matches == () and a.id not in indexed_texts(wi.root, wi.index.manifest)


def test_hostile_input(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    reg.register(alice, title="Persuasion I", text=W1)
    wi.sync(reg)
    for text in ("", "   ", "!!! ... ---"):
        with pytest.raises(InputError, match="0 tokens"):
            wi.check(text, reg)
    with pytest.raises(InputError, match="characters is more than"):
        wi.check("word " * 500_000, reg)  # 2.5 M characters: over similar's limit (2 M)
    with pytest.raises(InputError, match="not a string"):
        wi.check(b"bytes", reg)  # type: ignore[arg-type]
    # the registry's own limits keep what sync would choke on out of the log
    with pytest.raises(InputError, match="0 tokens"):
        reg.register(alice, title="t", text="...")
    assert wi.sync(reg) == 0
    # one word is a text
    assert wi.check("Persuasion", reg).matches == ()


def test_compaction_keeps_check_results(reg: Registry, owners, tmp_path: Path) -> None:
    alice, bob = owners
    wi = WorksIndex.open(tmp_path)
    ids = []
    for i in range(6):  # six syncs: six small shards
        ids.append(reg.register(alice if i % 2 else bob, title=f"Persuasion {i}",
                                text=PERSUASION[i * 12_000 : i * 12_000 + 10_000]).work.id)
        wi.sync(reg)
    reg.delete(bob, ids[2])
    wi.sync(reg)
    assert len(wi.index.manifest["shards"]) == 6
    queries = [_quote(PERSUASION, i * 12_000 + 1_000, i * 12_000 + 2_500) for i in range(6)]
    queries.append(PERSUASION[30_000:31_000] + PERSUASION[48_500:49_500])  # across two works
    before = [[m.to_dict() for m in wi.check(q, reg).matches] for q in queries]
    assert sum(1 for b in before if b) == 6 and before[2] == []
    change = live.compact(wi.root)
    assert change is not None and len(change.retired) == 6
    assert wi.refresh() and len(wi.index.manifest["shards"]) == 1
    after = [[m.to_dict() for m in wi.check(q, reg).matches] for q in queries]
    assert after == before
    assert wi.synced_to() == reg.log_size() and reg.check(wi.root).ok  # the position survives compaction


@pytest.mark.parametrize("where", ["texts", "shard", "changes", "manifest", "after"])
def test_a_crash_at_each_step_of_sync_then_sync_again(reg: Registry, owners, tmp_path: Path, monkeypatch,
                                                      where: str) -> None:
    """Raise at each step a sync goes through (as a crash would stop it there), then sync again: consistent."""
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1).work
    wi.sync(reg)
    b = reg.register(alice, title="Persuasion II", text=W2).work
    reg.delete(alice, a.id)

    class Crash(Exception):
        pass

    def crash(*_a, **_k):
        raise Crash(where)

    import ipscope.index.packer as packer

    real_write_atomic = live.write_atomic
    if where == "texts":  # reading the works' texts from the database
        monkeypatch.setattr(Registry, "index_texts", crash)
    elif where == "shard":  # the new shard written, not yet published
        real_write_shard = packer.write_shard

        def write_shard(*a, **k):
            real_write_shard(*a, **k)
            raise Crash(where)

        monkeypatch.setattr(packer, "write_shard", write_shard)
    elif where in ("changes", "manifest"):  # the generation's account, or the manifest's rename

        def write_atomic(path, data, *a, **k):
            if (where == "changes" and Path(path).parent.name == live.CHANGES) or \
                    (where == "manifest" and Path(path).name == "manifest.json"):
                raise Crash(where)
            return real_write_atomic(path, data, *a, **k)

        monkeypatch.setattr(live, "write_atomic", write_atomic)
    else:  # after publishing, before the writer read its own new generation
        monkeypatch.setattr(WorksIndex, "refresh", crash)
    with pytest.raises(Crash):
        wi.sync(reg)
    monkeypatch.undo()
    m = live.read_manifest(wi.root)
    texts = indexed_texts(wi.root, m)
    if where == "after":  # published whole
        assert m[STATE]["synced_to"] == 3 and set(texts) == {b.id}
    else:  # nothing published: the generation before, whole
        assert m[STATE]["synced_to"] == 1 and set(texts) == {a.id}
    assert reg.check(wi.root).ok  # at its position, the index agrees with the database
    wi = WorksIndex.open(tmp_path)
    assert wi.sync(reg) == (0 if where == "after" else 2)
    assert set(indexed_texts(wi.root, wi.index.manifest)) == {b.id} and wi.synced_to() == 3
    rep = reg.check(wi.root)
    assert rep.ok, rep.text()
    shards = {s["name"] for s in wi.index.manifest["shards"]}
    assert {d.name for d in (wi.root / "shards").iterdir()} == shards  # what the crash left was tidied away


def _wait(cond, timeout: float = 60.0, reader: WorksIndex | None = None) -> bool:
    """Poll ``cond()`` (after ``reader.refresh()``) until it holds, at most ``timeout`` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if reader is not None:
            reader.refresh()
        if cond():
            return True
        time.sleep(0.05)
    return False


_SYNC = """
import sys
from ipscope.registry.service import Registry
from ipscope.registry.works_index import WorksIndex
reg = Registry.open(sys.argv[1])
wi = WorksIndex.open(sys.argv[2])
while True:
    wi.sync(reg, max_batch=int(sys.argv[3]))
"""


def test_kill_9_during_sync_then_sync_again(registry_url: str, tmp_path: Path) -> None:
    """kill -9 a process syncing batches, once it has published its first batch and then at a few moments after;
    each time the index is consistent at its position, and a sync in this process catches up; registry check is
    clean."""
    reg = Registry.open(registry_url)
    try:
        key = reg.create_key("alice").key
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        k = 0
        positions = []
        WorksIndex.open(tmp_path)  # made empty here, so the first wait below has a manifest to read
        for delay in (0.0, 0.02, 0.05):
            start = k
            for _ in range(24):  # 24 more works of 3 KB for the process to apply, 4 a generation
                reg.register(key, title=f"p{k}", text=PERSUASION[k * 3_000 : (k + 1) * 3_000])
                k += 1
            p = subprocess.Popen([sys.executable, "-c", _SYNC, registry_url, str(tmp_path), "4"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            assert _wait(lambda: live.read_manifest(tmp_path / INDEX_DIR)[STATE]["synced_to"] > start
                         or p.poll() is not None, 120, None)
            time.sleep(delay)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(30)
            assert p.returncode == -signal.SIGKILL, p.stderr.read()  # type: ignore[union-attr]
            m = live.read_manifest(tmp_path / INDEX_DIR)
            positions.append(m[STATE]["synced_to"])
            rep = reg.check(tmp_path / INDEX_DIR)
            assert rep.ok, rep.text()  # consistent at whatever position the kill left
        wi = WorksIndex.open(tmp_path)
        wi.sync(reg)
        assert wi.synced_to() == k and len(indexed_texts(wi.root, wi.index.manifest)) == k
        rep = reg.check(wi.root)
        assert rep.ok, rep.text()
        assert positions == sorted(positions), positions
    finally:
        reg.close()


def test_two_writers_take_turns(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    for i in range(12):
        reg.register(alice, title=f"p{i}", text=PERSUASION[i * 3_000 : (i + 1) * 3_000])
    a, b = WorksIndex.open(tmp_path), WorksIndex.open(tmp_path)
    errors: list[BaseException] = []

    def run(wi: WorksIndex) -> None:
        try:
            wi.sync(reg, max_batch=3)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    a.refresh()
    assert a.synced_to() == 12 and len(indexed_texts(a.root, a.index.manifest)) == 12
    assert a.index.generation == 4  # each batch applied once
    assert reg.check(a.root).ok


def test_registry_check_reports_the_index_disagreeing(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    a = reg.register(alice, title="Persuasion I", text=W1).work
    b = reg.register(alice, title="Persuasion II", text=W2).work
    wi.sync(reg)
    root = wi.root
    assert reg.check(root).ok

    # a work missing from the index at its position
    live.remove(root, [a.id])
    rep = reg.check(root)
    assert not rep.ok and [i.where for i in rep.index.issues] == [f"work {a.id}"]
    assert "not in the index" in rep.index.issues[0].detail
    live.add(root, [{"id": a.id, "text": W1}])
    assert reg.check(root).ok
    # a withdrawn work still in the index: the position moved past the withdrawal without removing it
    reg.delete(alice, b.id)
    assert reg.check(root).ok  # not applied yet: pending, not a disagreement
    assert reg.check(root).index.pending == 1
    live.update(root, lambda m, ids: live.Plan(manifest={STATE: {"synced_to": 3}}))
    rep = reg.check(root)
    assert [i.detail.split(",")[0] for i in rep.index.issues] == ["withdrawn at leaf 2"]
    live.remove(root, [b.id])
    assert reg.check(root).ok
    # a document that is no work, and another text under a work's id
    live.add(root, [{"id": "not-a-work", "text": "Some words that no one registered."}])
    live.add(root, [{"id": a.id, "text": W3}], replace=True)
    details = sorted(i.where for i in reg.check(root).index.issues)
    assert details == ["document not-a-work", f"work {a.id}"]
    live.remove(root, ["not-a-work"])
    live.add(root, [{"id": a.id, "text": W1}], replace=True)
    assert reg.check(root).ok
    # a position beyond the log (an index of another database)
    live.update(root, lambda m, ids: live.Plan(manifest={STATE: {"synced_to": 10}}))
    rep = reg.check(root)
    assert [i.where for i in rep.index.issues] == ["position"] and "holds 3" in rep.index.issues[0].detail
    # the CLI: --data (SQLite file and index), or --db with --data for the index
    url = reg.engine.url.render_as_string(hide_password=False)
    data = ["--data", str(tmp_path)] if url.startswith("sqlite") else ["--db", url, "--data", str(tmp_path)]
    r = _cli("registry", "check", *data)
    assert r.returncode == 1 and "DISAGREE index at position" in r.stdout, r.stdout + r.stderr
    live.update(root, lambda m, ids: live.Plan(manifest={STATE: {"synced_to": 3}}))
    r = _cli("registry", "check", *data, "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["index"]["synced_to"] == 3 and out["index"]["documents"] == 1


def test_a_plan_may_not_set_the_manifests_own_keys(tmp_path: Path) -> None:
    WorksIndex.open(tmp_path)
    with pytest.raises(ValueError, match="generation"):
        live.update(tmp_path / INDEX_DIR, lambda m, ids: live.Plan(manifest={"generation": 7}))
    assert live.read_manifest(tmp_path / INDEX_DIR)["generation"] == 0


def test_threads_of_one_process_open_a_missing_index_at_once(tmp_path: Path) -> None:
    """The indexer thread and a reader both making the missing index: each gets it, none fails, one stays
    (CI once failed here: both wrote one temporary directory named by the process id)."""
    for attempt in range(5):
        data = tmp_path / str(attempt)
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def one() -> None:
            barrier.wait()
            try:
                WorksIndex.open(data)
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert live.read_manifest(data / INDEX_DIR)["generation"] == 0
        assert [p.name for p in data.iterdir()] == [INDEX_DIR]  # no temporary directory left behind


def test_indexer_keeps_the_index_in_step_and_compacts(registry_url: str, tmp_path: Path) -> None:
    reg = Registry.open(registry_url)
    stop = threading.Event()
    data = tmp_path
    th = threading.Thread(target=indexer.run, args=(data, registry_url, stop),
                          kwargs={"compact_shards": 4, "interval": 0.05}, daemon=True)
    th.start()
    try:
        key = reg.create_key("alice").key
        reader = WorksIndex.open(data)
        ids = []
        for i in range(8):
            ids.append(reg.register(key, title=f"p{i}", text=PERSUASION[i * 5_000 : (i + 1) * 5_000]).work.id)
            q = PERSUASION[i * 5_000 + 1_000 : i * 5_000 + 1_800]
            assert _wait(lambda: ids[-1] in [m.work_id for m in reader.check(q, reg).matches], reader=reader)
            assert [m.work_id for m in reader.check(q, reg).matches] == [ids[-1]]
        reg.delete(key, ids[0])
        assert _wait(lambda: reader.synced_to() == 9, reader=reader)
        # several small shards were made: the indexer compacts them (and drops the withdrawn work)
        assert _wait(lambda: len(reader.index.manifest["shards"]) < 4, reader=reader)
        assert reg.check(data / INDEX_DIR).ok
    finally:
        stop.set()
        th.join(60)
        reg.close()
    assert not th.is_alive()


def test_indexer_survives_a_database_that_goes_away(postgres_cluster: str, tmp_path: Path, caplog) -> None:
    """A transient database error (new connections refused, the open ones ended) is logged and retried; the
    indexer catches up when the database is back."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_cluster.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = postgres_cluster.rsplit("/", 1)[0] + "/" + name
    reg = Registry.open(url)
    key = reg.create_key("alice").key
    stop = threading.Event()
    caplog.set_level("WARNING", logger="ipscope.indexer")
    th = threading.Thread(target=indexer.run, args=(tmp_path, url, stop), kwargs={"interval": 0.05}, daemon=True)
    th.start()
    try:
        reg.register(key, title="p0", text=W1)
        reader = WorksIndex.open(tmp_path)
        assert _wait(lambda: reader.synced_to() == 1, reader=reader)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        assert _wait(lambda: any("sync failed" in r.message for r in caplog.records), 30)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        reg.register(key, title="p1", text=W2)
        assert _wait(lambda: reader.synced_to() == 2, reader=reader)
        assert th.is_alive() and reg.check(tmp_path / INDEX_DIR).ok
    finally:
        stop.set()
        th.join(60)
        reg.close()


def test_a_works_index_that_cannot_be_read_says_how_to_rebuild_it(reg: Registry, owners, tmp_path: Path) -> None:
    alice, _ = owners
    reg.register(alice, title="Persuasion I", text=W1)
    WorksIndex.open(tmp_path).sync(reg)
    mpath = tmp_path / INDEX_DIR / "manifest.json"
    m = json.loads(mpath.read_text(encoding="utf-8"))
    mpath.write_text(json.dumps(dict(m, version=3)), encoding="utf-8")  # an index of an older ipscope
    from ipscope.errors import IndexFormatError

    with pytest.raises(IndexFormatError, match="works index cannot be read") as e:
        WorksIndex.open(tmp_path)
    assert "rebuilds the works index from the registry database" in e.value.fix
    rep = reg.check(tmp_path / INDEX_DIR)
    assert not rep.ok and "cannot be read" in rep.index.issues[0].detail
    # as the fix says: remove it, and a sync rebuilds it from the database
    import shutil

    shutil.rmtree(tmp_path / INDEX_DIR)
    wi = WorksIndex.open(tmp_path)
    assert wi.sync(reg) == 1 and reg.check(wi.root).ok


def test_the_indexer_compacts_by_tiers(reg: Registry, owners, tmp_path: Path, monkeypatch) -> None:
    """The shards a few syncs made are merged among themselves; a larger shard is left as it is (it is not
    rewritten at every compaction)."""
    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    for i in range(4):
        reg.register(alice, title=f"p{i}", text=PERSUASION[i * 5_000 : (i + 1) * 5_000])
        wi.sync(reg)
    live.compact(wi.root)
    wi.refresh()
    (big,) = wi.index.manifest["shards"]
    assert int(big["tokens"]) > 3_000
    monkeypatch.setattr(indexer, "TIER_TOKENS", 3_000)  # the first tier: under 3,000 tokens (this test's scale)
    assert indexer.tiers_of(wi.index.manifest, None)[0] == 3_000
    stop = threading.Event()
    url = reg.engine.url.render_as_string(hide_password=False)
    th = threading.Thread(target=indexer.run, args=(tmp_path, url, stop),
                          kwargs={"compact_shards": 4, "interval": 0.05}, daemon=True)
    th.start()
    try:
        for i in range(4, 8):
            reg.register(alice, title=f"p{i}", text=PERSUASION[i * 5_000 : (i + 1) * 5_000])
            assert _wait(lambda: wi.synced_to() == i + 1, reader=wi)
        assert _wait(lambda: len(wi.index.manifest["shards"]) == 2, reader=wi)
        first, merged = wi.index.manifest["shards"]
        assert first == big and merged["docs"] == 4  # the large shard kept, the four small ones merged
    finally:
        stop.set()
        th.join(60)
    assert reg.check(wi.root).ok


def test_a_refresh_hands_on_the_shards_it_has_not_changed(reg: Registry, owners, tmp_path: Path) -> None:
    """A reader's next generation reuses the opened shards (and their checked passage layers) that it names
    unchanged; a shard with new removals is opened afresh; the answers are those of a fresh open."""
    from ipscope.index.format import Index
    from ipscope.searcher import Searcher

    alice, _ = owners
    wi = WorksIndex.open(tmp_path)
    ids = []
    for i in range(3):
        ids.append(reg.register(alice, title=f"p{i}", text=PERSUASION[i * 10_000 : (i + 1) * 10_000]).work.id)
        wi.sync(reg)
    reader = WorksIndex.open(tmp_path)
    q = _quote(PERSUASION, 1_000, 2_000) + " " + PERSUASION[11_000:12_000]  # works 0 and 1
    first = [m.to_dict() for m in reader.check(q, reg).matches]
    old = reader.index.shards
    old_layers = Searcher.of(reader.index).passage_layers()
    reg.register(alice, title="p3", text=PERSUASION[30_000:40_000])
    reg.delete(alice, ids[1])
    wi.sync(reg)
    assert reader.refresh()
    new = reader.index.shards
    assert len(new) == 4 and new[0] is old[0] and new[2] is old[2]  # unchanged: the same objects
    assert new[1] is not old[1] and new[1].excluded == frozenset({0})  # its work was withdrawn: opened afresh
    layers = Searcher.of(reader.index).passage_layers()
    assert layers[0] is old_layers[0] and layers[1] is not old_layers[1]
    got = [m.to_dict() for m in reader.check(q, reg).matches]
    fresh = WorksIndex(reader.root, Index.open(reader.root))
    assert got == [m.to_dict() for m in fresh.check(q, reg).matches]
    assert {m["work_id"] for m in first} == {ids[0], ids[1]} and [m["work_id"] for m in got] == [ids[0]]


def test_a_text_without_words_edited_into_the_database_does_not_stop_sync(reg: Registry, owners,
                                                                          tmp_path: Path) -> None:
    alice, _ = owners
    a = reg.register(alice, title="Persuasion I", text=W1).work
    b = reg.register(alice, title="Persuasion II", text=W2).work
    with reg.engine.begin() as conn:  # behind the registry's back: it refuses such a text itself
        conn.exec_driver_sql("UPDATE works SET text = '... !!!' WHERE id = '%s'" % a.id)
    wi = WorksIndex.open(tmp_path)
    assert wi.sync(reg) == 2 and set(indexed_texts(wi.root, wi.index.manifest)) == {b.id}
    rep = reg.check(wi.root)
    assert [i.where for i in rep.index.issues] == [f"work {a.id}"]  # reported, not hidden


_INDEXER = """
import sys, threading
from ipscope.registry import indexer
indexer.run(sys.argv[1], None, threading.Event(), compact_shards=2, interval=0.05)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


@pytest.mark.slow  # ~30 s: the worker finishes the compaction it runs (loading its kernels first), then ends
def test_the_compaction_worker_ends_with_a_killed_indexer(tmp_path: Path) -> None:
    """kill -9 of the indexer leaves no compaction worker behind: the worker ends when its input closes."""
    reg = Registry.open_data(tmp_path)
    try:
        key = reg.create_key("alice").key
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        p = subprocess.Popen([sys.executable, "-c", _INDEXER, str(tmp_path)], env=env)
        reader = WorksIndex.open(tmp_path)
        for i in range(3):  # three syncs: three small shards, so a compaction (and its worker) starts
            reg.register(key, title=f"p{i}", text=PERSUASION[i * 5_000 : (i + 1) * 5_000])
            assert _wait(lambda: reader.synced_to() == i + 1, reader=reader)
        assert _wait(lambda: bool(_children(p.pid)))
        kids = _children(p.pid)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
        assert _wait(lambda: not any(_alive(k) for k in kids), 120)
        rep = reg.check(tmp_path / INDEX_DIR)
        assert rep.ok, rep.text()
    finally:
        reg.close()


def test_a_works_index_beside_another_database_is_refused(tmp_path: Path) -> None:
    """The index records the hash of the last leaf it applied: beside a database replaced by another one (or
    restored from an older backup) it refuses to sync, and registry check says so, even where the other log is
    as long."""
    from ipscope.errors import IpscopeError

    first, second = Registry.open_data(tmp_path / "a"), Registry.open_data(tmp_path / "b")
    try:
        for reg in (first, second):
            key = reg.create_key("alice").key
            reg.register(key, title="Persuasion I", text=W1)
            reg.register(key, title="Persuasion II", text=W2)
        wi = WorksIndex.open(tmp_path / "a")
        assert wi.sync(first) == 2 and wi.index.manifest[STATE]["leaf"] == first.leaf_hash(1).hex()
        with pytest.raises(IpscopeError, match="does not belong to this registry") as e:
            wi.sync(second)
        assert "leaf 1 of the log is not the leaf the index applied" in e.value.message
        assert "indexer rebuilds" in e.value.fix
        rep = second.check(wi.root)
        assert rep.index.issues[0].where == "position" and "not the leaf the index applied" in \
            rep.index.issues[0].detail and not rep.ok  # (and then the works of each that the other lacks)
        assert first.check(wi.root).ok
    finally:
        first.close()
        second.close()
