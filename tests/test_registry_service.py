"""The registry over a real database: SQLite always, PostgreSQL from scripts/postgres.sh (see conftest.py).

Works are passages of the bundled demo corpus (Project Gutenberg texts in demo/corpus/books); reservations use
the IETF aipref vocabulary's own examples (draft-ietf-aipref-vocab: ``train-ai=n``, ``search=y``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("iscc_core")

from ipscope.errors import InputError  # noqa: E402
from ipscope.registry.merkle import leaf_hash, root_hash  # noqa: E402
from ipscope.registry.receipt import verify  # noqa: E402
from ipscope.registry.service import AuthError, ForbiddenError, NotFoundError, Registry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOOK = (REPO / "demo" / "corpus" / "books" / "105.txt").read_text(encoding="utf-8")  # Persuasion, Jane Austen
TEXT = BOOK[20_000:30_000]  # a 10 KB work
OTHER = BOOK[40_000:41_000]


@pytest.fixture
def reg(registry_url):
    r = Registry.open(registry_url)
    yield r
    r.close()


def test_register_read_and_receipt_verifies_offline(reg: Registry) -> None:
    key = reg.create_key("alice").key
    r = reg.register(key, title="Persuasion, ch. 3", text=TEXT, urls=["https://alice.example/persuasion/3.html"],
                     meta={"author": "Jane Austen"}, reservations={"train-ai": "n", "search": "y"})
    w = r.work
    assert w.content_sha256 == hashlib.sha256(TEXT.encode()).hexdigest()
    import iscc_core

    assert w.iscc == iscc_core.gen_text_code_v0(TEXT)["iscc"] and w.iscc.startswith("ISCC:EA")
    assert r.receipt.leaf_index == 0
    st = r.receipt.statement
    assert (st.work_id, st.content_sha256, st.iscc, st.owner, st.event) == (w.id, w.content_sha256, w.iscc,
                                                                           w.owner_id, "register")
    assert dict(st.reservations) == {"train-ai": "n", "search": "y"}
    assert verify(r.receipt, reg.public_key).ok
    # anyone reads the public record; it is the same after reopening (a new process would see the same)
    again = Registry.open(str(reg.engine.url.render_as_string(hide_password=False)))
    try:
        assert again.work(w.id) == w
        assert again.public_key == reg.public_key  # the log key is kept in the database
    finally:
        again.close()
    assert reg.text(key, w.id) == TEXT


def test_every_change_gets_a_receipt_and_history_keeps_all(reg: Registry) -> None:
    key = reg.create_key("alice").key
    a = reg.register(key, title="A", text=TEXT, reservations={"train-ai": "n"})
    b = reg.register(key, title="B", text=OTHER)
    c = reg.set_reservations(key, a.work.id, {"train-ai": "y", "ai-use": "n"})
    d = reg.delete(key, b.work.id)
    assert [x.receipt.leaf_index for x in (a, b, c, d)] == [0, 1, 2, 3]
    for x in (a, b, c, d):
        assert verify(x.receipt, reg.public_key).ok
    assert c.work.reservations == {"train-ai": "y", "ai-use": "n"}
    hist = reg.history(a.work.id)
    assert [(h.event, h.statement["reservations"]) for h in hist] == [
        ("register", {"train-ai": "n"}), ("reservations", {"train-ai": "y", "ai-use": "n"})]
    assert [h.event for h in reg.history(b.work.id)] == ["register", "delete"]  # withdrawn: history stays
    with pytest.raises(NotFoundError):
        reg.work(b.work.id)
    assert [w.id for w in reg.works()] == [a.work.id]
    # an old receipt still verifies, and a newer checkpoint extends its tree
    from ipscope.registry.receipt import ConsistencyProof

    proof = ConsistencyProof(1, 4, tuple(reg.consistency_proof(1, 4)))
    assert verify(a.receipt, reg.public_key, reg.checkpoint(), proof).ok
    # the log's root is RFC 9162's root of the statements, recomputed here from the history
    from ipscope.registry import jcs

    hist = sorted((h for wid in (a.work.id, b.work.id) for h in reg.history(wid)), key=lambda h: h.leaf_index)
    by_index = [leaf_hash(jcs.canonicalize(h.statement)) for h in hist]
    from ipscope.registry.note import Checkpoint, parse_note

    cp = Checkpoint.parse(parse_note(reg.checkpoint())[0])
    assert cp.size == 4 and cp.root_hash == root_hash(by_index)
    assert reg.check().ok


def test_leaf_index_is_assigned_with_the_commit_under_concurrent_writers(reg: Registry) -> None:
    key = reg.create_key("alice").key
    results, errors = [], []

    def write(i: int) -> None:
        try:
            results.append(reg.register(key, title=f"part {i}", text=BOOK[i * 500:(i + 1) * 500]))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.receipt.leaf_index for r in results) == list(range(12))
    assert all(verify(r.receipt, reg.public_key).ok for r in results)
    assert reg.check().ok


def test_keys_are_hashed_and_revocable(reg: Registry) -> None:
    k = reg.create_key("alice")
    assert k.key.startswith(f"ipk_{k.key_id}_") and len(k.key) > 40
    secret = k.key.split("_", 2)[2]
    with reg.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM api_keys"))
    assert secret not in dump and hashlib.sha256(secret.encode()).hexdigest() in dump
    assert reg.authenticate(k.key) == k.owner_id
    k2 = reg.create_key("alice")
    assert k2.owner_id == k.owner_id and k2.key != k.key
    reg.revoke_key(k.key)
    with pytest.raises(AuthError, match="revoked"):
        reg.register(k.key, title="t", text=OTHER)
    assert reg.register(k2.key, title="t", text=OTHER).work.owner_id == k.owner_id


# --------------------------------------------------------------------------- bad input (issue 12)


def test_wrong_key_and_no_key(reg: Registry) -> None:
    k = reg.create_key("alice")
    wrong = k.key[:-4] + ("AAAA" if not k.key.endswith("AAAA") else "BBBB")
    for bad, msg in ((None, "no API key"), ("", "no API key"), ("hello", "form"), (wrong, "not valid"),
                     ("ipk_0000000000000000_" + "A" * 43, "not valid")):
        with pytest.raises(AuthError, match=msg) as e:
            reg.register(bad, title="t", text=OTHER)
        assert e.value.fix
    with reg.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM works").scalar() == 0


def test_another_owners_key(reg: Registry) -> None:
    alice, bob = reg.create_key("alice").key, reg.create_key("bob").key
    w = reg.register(alice, title="t", text=TEXT, reservations={"train-ai": "n"}).work
    with pytest.raises(ForbiddenError):
        reg.text(bob, w.id)
    with pytest.raises(ForbiddenError):
        reg.set_reservations(bob, w.id, {"train-ai": "y"})
    with pytest.raises(ForbiddenError):
        reg.delete(bob, w.id)
    assert reg.work(w.id).reservations == {"train-ai": "n"}  # bob reads the public record, nothing changed
    assert [h.event for h in reg.history(w.id)] == ["register"]


@pytest.mark.parametrize("res, msg", [
    ({"train-ai": "no"}, "value 'no'"),  # vocab §6: the values are the Tokens y and n
    ({"train-ai": "N"}, "value 'N'"),
    ({"train-ai": True}, "value True"),
    ({"ai-train": "n"}, "unknown term 'ai-train'"),  # RSL's token, not an aipref term
    ({"tdm": "n"}, "unknown term 'tdm'"),  # vocab -01 only: not accepted for new statements
    (["train-ai=n"], "not an object"),
])
def test_unknown_reservation_terms_or_values(reg: Registry, res, msg) -> None:
    key = reg.create_key("alice").key
    with pytest.raises(InputError, match=msg) as e:
        reg.register(key, title="t", text=TEXT, reservations=res)
    assert "train-ai" in e.value.fix or "y" in e.value.fix
    w = reg.register(key, title="t", text=TEXT).work
    with pytest.raises(InputError, match=msg):
        reg.set_reservations(key, w.id, res)
    assert reg.check().ok


def test_title_of_one_megabyte_and_text_of_no_tokens(reg: Registry) -> None:
    key = reg.create_key("alice").key
    with pytest.raises(InputError, match="title has 1,048,576 characters") as e:
        reg.register(key, title="x" * (1 << 20), text=TEXT)
    assert "shorten" in e.value.fix
    for empty in ("", "   \n\t ", "\u3000\u200b"):  # whitespace and a zero-width space: no token
        with pytest.raises(InputError, match="0 tokens"):
            reg.register(key, title="t", text=empty)
    with pytest.raises(InputError, match="not an http"):
        reg.register(key, title="t", text=TEXT, urls=["file:///etc/passwd"])
    with reg.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0


def test_registry_check_finds_a_changed_row(reg: Registry) -> None:
    key = reg.create_key("alice").key
    w = reg.register(key, title="t", text=TEXT, reservations={"train-ai": "n"}).work
    reg.register(key, title="u", text=OTHER)
    assert reg.check().ok
    with reg.engine.begin() as conn:  # someone edits the database behind the log's back
        conn.exec_driver_sql("UPDATE works SET reservations_json = '{\"train-ai\": \"y\"}' WHERE id = '%s'" % w.id)
    rep = reg.check()
    assert not rep.ok and [(i.what, "reservations" in i.detail) for i in rep.issues] == [("work", True)]
    with reg.engine.begin() as conn:  # and a stored log hash
        conn.exec_driver_sql("UPDATE works SET reservations_json = '{\"train-ai\": \"n\"}' WHERE id = '%s'" % w.id)
        conn.exec_driver_sql("UPDATE log_nodes SET hash = (SELECT hash FROM log_nodes WHERE level = 0 AND idx = 0) "
                             "WHERE level = 0 AND idx = 1")
    whats = {i.what for i in reg.check().issues}
    assert whats == {"leaf", "node"}  # leaf 1 is not its statement's hash; node (1, 0) not the hash of its children
    with reg.engine.begin() as conn:  # the subtree hash the root is read from
        conn.exec_driver_sql("UPDATE log_nodes SET hash = (SELECT hash FROM log_nodes WHERE level = 0 AND idx = 0) "
                             "WHERE level = 1 AND idx = 0")
    assert "root" in {i.what for i in reg.check().issues}


def _cli(*args: str) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "ipscope", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_keys_and_check(registry_url: str, tmp_path: Path) -> None:
    r = _cli("keys", "create", "--db", registry_url, "--owner", "alice")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1]
    reg = Registry.open(registry_url)
    try:
        assert reg.authenticate(key)
        reg.register(key, title="t", text=TEXT)
        r = _cli("registry", "check", "--db", registry_url)
        assert r.returncode == 0 and "ok: database and log agree" in r.stdout, r.stdout + r.stderr
        r = _cli("keys", "revoke", "--db", registry_url, key.split("_")[1])
        assert r.returncode == 0
        with pytest.raises(AuthError, match="revoked"):
            reg.authenticate(key)
        with reg.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM log_nodes WHERE level = 0 AND idx = 0")
        r = _cli("registry", "check", "--db", registry_url)
        assert r.returncode == 1 and "DISAGREE" in r.stdout
    finally:
        reg.close()


def test_cli_data_dir_default(tmp_path: Path) -> None:
    r = _cli("keys", "create", "--data", str(tmp_path / "d"), "--owner", "alice")
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("ipk_")
    assert (tmp_path / "d" / "registry.db").exists()


def test_unreachable_database_is_a_clear_error() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(InputError, match="cannot reach the registry database") as e:
        Registry.open(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert "scripts/postgres.sh" in e.value.fix
    r = _cli("keys", "create", "--db", f"postgresql://u:secretpw@127.0.0.1:{port}/db", "--owner", "a")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "cannot reach" in r.stderr
    assert "secretpw" not in r.stderr  # the password is not echoed
    r = _cli("keys", "create", "--db", "mysql://nowhere/db", "--owner", "a")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "fix:" in r.stderr


_WRITER = """
import sys
from ipscope.registry.service import Registry
reg = Registry.open(sys.argv[1])
text = open(sys.argv[3], encoding="utf-8").read()
start = int(sys.argv[4])
for i in range(8):
    r = reg.register(sys.argv[2], title=f"p{start + i}", text=text[(start + i) * 400:(start + i + 1) * 400])
    print(r.receipt.leaf_index, flush=True)
"""


def test_several_processes_write_one_log(registry_url: str) -> None:
    # what several `ipscope serve` workers do: each process its own Registry on the same database
    import os

    reg = Registry.open(registry_url)
    try:
        key = reg.create_key("alice").key
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        book = str(REPO / "demo" / "corpus" / "books" / "105.txt")
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, registry_url, key, book, str(j * 8)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for j in range(3)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        indexes = sorted(int(x) for o in outs for x in o[0].split())
        assert indexes == list(range(24))
        rep = reg.check()
        assert rep.ok and rep.leaves == 24, rep.text()
    finally:
        reg.close()


def test_a_registry_receipt_passes_ipscope_verify(reg: Registry, tmp_path: Path) -> None:
    key = reg.create_key("alice").key
    r = reg.register(key, title="t", text=TEXT, reservations={"train-ai": "n"})
    reg.register(key, title="u", text=OTHER)  # the log grows after the receipt
    (tmp_path / "receipt.json").write_text(r.receipt.dumps())
    (tmp_path / "log.vkey").write_text(str(reg.public_key) + "\n")
    (tmp_path / "new.checkpoint").write_text(reg.checkpoint())
    (tmp_path / "proof.json").write_text(json.dumps({"from": 1, "to": 2, "proof": [
        __import__("base64").b64encode(h).decode() for h in reg.consistency_proof(1, 2)]}))
    ok = _cli("verify", str(tmp_path / "receipt.json"), "--key", str(tmp_path / "log.vkey"),
              "--checkpoint", str(tmp_path / "new.checkpoint"), "--consistency", str(tmp_path / "proof.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    d = json.loads((tmp_path / "receipt.json").read_text())
    d["statement"]["reservations"] = {"train-ai": "y"}  # what the owner said, changed afterwards
    (tmp_path / "receipt.json").write_text(json.dumps(d))
    bad = _cli("verify", str(tmp_path / "receipt.json"), "--key", str(tmp_path / "log.vkey"))
    assert bad.returncode == 1 and "signature" in bad.stderr


def test_register_many_commits_a_batch_and_answers_each_request_in_its_place(reg: Registry) -> None:
    from ipscope.registry.service import NewWork

    alice, bob = reg.create_key("alice").key, reg.create_key("bob").key
    first = reg.register(alice, title="before the batch", text=OTHER)
    parts = [BOOK[50_000 + 2_000 * i: 52_000 + 2_000 * i] for i in range(6)]
    reqs = [NewWork(alice, "part 0", parts[0], reservations={"train-ai": "n"}),
            NewWork("ipk_nope_nope", "a wrong key", parts[1]),
            NewWork(bob, "part 2", parts[2], urls=["https://bob.example/2"]),
            NewWork(alice, "", parts[3]),  # an empty title
            NewWork(alice, "no words", "  \n "),
            NewWork(bob, "part 5", parts[5], reservations={"train-ai": "whatever"})]  # not an aipref value
    got = reg.register_many(reqs)
    assert [type(g).__name__ for g in got] == ["Registration", "AuthError", "Registration", "InputError",
                                               "InputError", "InputError"]
    ok = [g for g in got if not isinstance(g, Exception)]
    # consecutive leaves after the one before, one checkpoint for the batch that covers both
    assert [g.receipt.leaf_index for g in ok] == [1, 2]
    assert ok[0].receipt.checkpoint == ok[1].receipt.checkpoint
    assert ok[0].work.owner == "alice" and ok[1].work.owner == "bob"
    assert dict(ok[0].work.reservations) == {"train-ai": "n"}
    for g in ok + [first]:
        assert verify(g.receipt, reg.public_key).ok
        assert reg.work(g.work.id) == g.work  # committed
    assert reg.text(bob, ok[1].work.id) == parts[2]
    assert [e.leaf_index for e in reg.history(ok[1].work.id)] == [2]
    assert reg.check().ok
    # a batch of nothing valid writes nothing
    assert all(isinstance(g, Exception) for g in reg.register_many([NewWork(None, "t", parts[4])]))
    assert reg.register(alice, title="after", text=parts[4]).receipt.leaf_index == 3
    assert reg.register_many([]) == []
