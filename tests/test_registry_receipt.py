"""Receipts (ipscope.registry.receipt) and ``ipscope verify``: issue, verify, and every kind of bad receipt.

The statements are about real works: the public-domain books of demo/corpus (their SHA-256 computed here) and
a Chinese classic, so non-ASCII text goes through canonicalization, signing and the log.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ipscope.cli import main
from ipscope.registry.merkle import MerkleLog, leaf_hash, verify_inclusion
from ipscope.registry.note import Checkpoint, Signer, sign_checkpoint
from ipscope.registry.receipt import (ConsistencyProof, Receipt, ReceiptFormatError, Statement, format_time, issue,
                                      load_receipt, receipt_for, verify)

from conftest import DEMO

ORIGIN = "registry.example/ipscope"


def _statements() -> list[Statement]:
    out = []
    t0 = datetime(2026, 7, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    for i, path in enumerate(sorted((DEMO / "books").glob("*.txt"))):
        out.append(Statement(f"work-{i}", hashlib.sha256(path.read_bytes()).hexdigest(), "ISCC:EAASKDNZNYGUUF5A",
                             "alice", {"train-ai": "n", "search": "y"}, format_time(t0), "register"))
    first = json.loads((DEMO / "chinese-classics.jsonl").read_text(encoding="utf-8").splitlines()[0])
    out.append(Statement("作品-論語", hashlib.sha256(first["text"].encode("utf-8")).hexdigest(), "ISCC:EAAQ7FJXO7R6XZ",
                         "孔子學會", {"train-ai": "n"}, "2026-07-01T12:00:01.000Z"))
    out.append(Statement("work-0", out[0].content_sha256, out[0].iscc, "alice", {"train-ai": "y"},
                         "2026-07-02T08:30:00.000Z", "reservations"))
    return out


@pytest.fixture()
def reg():
    """A log with six receipts issued, and the key that signed them."""
    signer = Signer.generate(ORIGIN)
    log = MerkleLog()
    receipts = [issue(st, signer, log) for st in _statements()]
    return signer, log, receipts


def _chinese(receipts: list[Receipt]) -> Receipt:
    return next(r for r in receipts if r.statement.owner == "孔子學會")


def _files(tmp_path: Path, signer: Signer, receipt: Receipt, name: str = "receipt.json") -> tuple[Path, Path]:
    r, k = tmp_path / name, tmp_path / "log.vkey"
    r.write_text(receipt.dumps(), encoding="utf-8")
    k.write_text(str(signer.verifier) + "\n", encoding="utf-8")
    return r, k


def test_issue_and_verify(reg):
    signer, log, receipts = reg
    for i, r in enumerate(receipts):
        assert r.leaf_index == i
        res = verify(Receipt.from_json(json.loads(r.dumps())), signer.verifier)
        assert res.ok, res.failed
        assert [c.name for c in res.checks] == ["statement signature", "checkpoint signature", "inclusion"]
        assert res.tree_size == i + 1 and res.origin == ORIGIN


def test_what_is_signed_and_hashed_is_the_canonical_statement(reg):
    """Checked without ipscope's JCS: for a statement of strings and one integer, RFC 8785 is the
    sorted, space-free, unescaped-UTF-8 JSON that json.dumps writes; the signature is Ed25519 over those
    bytes, the leaf is SHA-256(0x00 || those bytes), and the receipt's inclusion proof leads from it to the
    checkpoint's root (docs/proof.md says the same)."""
    signer, log, receipts = reg
    r = _chinese(receipts)  # non-ASCII must be raw UTF-8, not \\u escapes
    s = json.dumps(r.statement.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert s == r.statement.canonical() and "論語".encode() in s
    Ed25519PublicKey.from_public_bytes(signer.verifier.public_key).verify(r.signature, s)
    leaf = hashlib.sha256(b"\x00" + s).digest()
    assert leaf == log.leaf(r.leaf_index)
    lines = r.checkpoint.split("\n")
    size, root = int(lines[1]), __import__("base64").b64decode(lines[2])
    verify_inclusion(r.leaf_index, size, leaf, r.inclusion, root)


def test_old_receipt_refreshed_and_checked_against_a_newer_checkpoint(reg):
    signer, log, receipts = reg
    old = receipts[1]  # checkpoint at 2 leaves
    newer = sign_checkpoint(Checkpoint(ORIGIN, log.size, log.root()), signer)
    proof = ConsistencyProof(2, log.size, tuple(log.consistency_proof(2)))
    res = verify(old, signer.verifier, newer, proof)
    assert res.ok and res.newer_tree_size == 6
    assert [c.name for c in res.checks][-2:] == ["newer checkpoint signature", "consistency"]
    fresh = receipt_for(old.statement, old.signature, old.leaf_index, log, signer)
    assert verify(fresh, signer.verifier).ok and fresh.checkpoint.split("\n")[1] == "6"


def _flip_byte(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]


def test_a_receipt_with_any_one_byte_changed_does_not_verify(reg, tmp_path):
    """Every byte of a receipt file, one at a time: the changed file is refused as malformed or fails a check;
    none verifies."""
    signer, _, receipts = reg
    data = _chinese(receipts).dumps().encode("utf-8")
    path = tmp_path / "r.json"
    outcomes = {"malformed": 0, "failed": 0}
    for i in range(len(data)):
        path.write_bytes(_flip_byte(data, i))
        try:
            r = load_receipt(path)
        except ReceiptFormatError:
            outcomes["malformed"] += 1
            continue
        res = verify(r, signer.verifier)
        assert not res.ok, f"byte {i} ({data[i:i + 1]!r} in {data[max(0, i - 20):i + 20]!r}) changed and it verifies"
        outcomes["failed"] += 1
    assert outcomes["failed"] > 100 and outcomes["malformed"] > 100


def test_a_proof_for_another_leaf_fails_inclusion(reg):
    signer, log, receipts = reg
    r = receipts[5]
    other = receipt_for(receipts[4].statement, receipts[4].signature, 4, log, signer)  # same tree of 6
    swapped = Receipt(r.statement, r.signature, r.leaf_index, r.checkpoint, other.inclusion)
    res = verify(swapped, signer.verifier)
    assert not res.ok and [c.name for c in res.failed] == ["inclusion"]
    assert "another leaf" in res.failed[0].detail
    moved = Receipt(r.statement, r.signature, 4, r.checkpoint, other.inclusion)  # index and proof of leaf 4
    assert [c.name for c in verify(moved, signer.verifier).failed] == ["inclusion"]


def test_a_checkpoint_from_another_key_fails(reg):
    signer, log, receipts = reg
    r = receipts[2]
    impostor = Signer.generate(ORIGIN)  # same log name, another key
    forged = sign_checkpoint(Checkpoint(ORIGIN, 3, log.root(3)), impostor)
    res = verify(Receipt(r.statement, r.signature, r.leaf_index, forged, r.inclusion), signer.verifier)
    assert [c.name for c in res.failed] == ["checkpoint signature"]
    assert "not signed by the key given" in res.failed[0].detail
    # and the whole receipt checked with another key: nothing signed by it holds
    res = verify(r, impostor.verifier)
    assert [c.name for c in res.failed] == ["statement signature", "checkpoint signature"]


def test_a_newer_checkpoint_from_another_key_or_a_forked_log_fails(reg):
    signer, log, receipts = reg
    r = receipts[2]
    impostor = Signer.generate(ORIGIN)
    newer = sign_checkpoint(Checkpoint(ORIGIN, 6, log.root()), impostor)
    res = verify(r, signer.verifier, newer, ConsistencyProof(3, 6, tuple(log.consistency_proof(3))))
    assert [c.name for c in res.failed] == ["newer checkpoint signature"]
    # a log that rewrote leaf 1 after the receipt (same key): no consistency proof holds
    forked = MerkleLog()
    for i in range(log.size):
        forked.append(log.leaf(i) if i != 1 else leaf_hash(b"rewritten"))
    newer = sign_checkpoint(Checkpoint(ORIGIN, 6, forked.root()), signer)
    res = verify(r, signer.verifier, newer, ConsistencyProof(3, 6, tuple(forked.consistency_proof(3))))
    assert [c.name for c in res.failed] == ["consistency"]
    # a proof between other sizes
    newer = sign_checkpoint(Checkpoint(ORIGIN, 6, log.root()), signer)
    res = verify(r, signer.verifier, newer, ConsistencyProof(2, 6, tuple(log.consistency_proof(2))))
    assert [c.name for c in res.failed] == ["consistency"] and "from 2 to 6" in res.failed[0].detail
    res = verify(r, signer.verifier, None, ConsistencyProof(3, 6, tuple(log.consistency_proof(3))))
    assert [c.name for c in res.failed] == ["consistency"]


@pytest.mark.parametrize("edit,field_name", [
    (lambda d: d.pop("inclusion"), "'inclusion' is missing"),
    (lambda d: d.update(leaf_index=-1), "'leaf_index'"),
    (lambda d: d.update(leaf_index=True), "'leaf_index'"),
    (lambda d: d.update(signature="AAAA"), "'signature' holds 3 bytes"),
    (lambda d: d["inclusion"].append("AAAA"), "'inclusion[1]' holds 3 bytes"),
    (lambda d: d.update(checkpoint="registry.example/ipscope\n3\n"), "'checkpoint'"),
    (lambda d: d["statement"].pop("owner"), "lacks owner"),
    (lambda d: d["statement"].update(extra=1), "extra"),
    (lambda d: d["statement"].update(time="yesterday"), "'statement.time'"),
    (lambda d: d["statement"].update(content_sha256="ABC"), "'statement.content_sha256'"),
    (lambda d: d["statement"].update(reservations={"train-ai": 0}), "'statement.reservations'"),
    (lambda d: d["statement"].update(owner="\ud800"), "no RFC 8785 form"),
    (lambda d: d["statement"].update(v=2), "'statement.v'"),
    (lambda d: d.clear() or d.update(x=[]), "'statement' is missing"),
])
def test_malformed_receipts_name_the_field(reg, edit, field_name):
    _, _, receipts = reg
    d = json.loads(receipts[2].dumps())
    edit(d)
    with pytest.raises(ReceiptFormatError) as e:
        Receipt.from_json(d, "r.json")
    assert field_name in e.value.message and e.value.message.startswith("r.json:")
    assert e.value.fix


# --------------------------------------------------------------------------- ipscope verify


def _verify(*args) -> object:
    return CliRunner().invoke(main, ["verify", *[str(a) for a in args]])


def test_cli_verifies_and_exits_0(reg, tmp_path):
    signer, _, receipts = reg
    chinese = _chinese(receipts)
    r, k = _files(tmp_path, signer, chinese)
    res = _verify(r, "--key", k)
    assert res.exit_code == 0, res.output
    assert "verified: every check holds" in res.stdout
    for name in ("statement signature", "checkpoint signature", "inclusion"):
        assert f"ok      {name}" in res.stdout
    assert "作品-論語" in res.stdout
    res = _verify(r, "--key", k, "--format", "json")
    d = json.loads(res.stdout)
    assert res.exit_code == 0 and d["ok"] is True
    assert d["leaf_index"] == chinese.leaf_index and d["tree_size"] == chinese.leaf_index + 1


def test_cli_one_byte_changed_exits_1_and_says_what_failed(reg, tmp_path):
    signer, _, receipts = reg
    r, k = _files(tmp_path, signer, receipts[0])
    r.write_text(r.read_text(encoding="utf-8").replace('"alice"', '"alicf"'), encoding="utf-8")
    res = _verify(r, "--key", k)
    assert res.exit_code == 1
    assert "NOT verified: 2 of 3 checks failed" in res.stdout
    assert "ipscope: error: statement signature: the signature does not verify" in res.stderr
    assert "ipscope: error: inclusion:" in res.stderr and "Traceback" not in res.output


def test_cli_checkpoint_from_another_key_exits_1(reg, tmp_path):
    signer, log, receipts = reg
    impostor = Signer.generate(ORIGIN)
    d = json.loads(receipts[1].dumps())
    d["checkpoint"] = sign_checkpoint(Checkpoint(ORIGIN, 2, log.root(2)), impostor)
    r, k = _files(tmp_path, signer, receipts[1])
    r.write_text(json.dumps(d), encoding="utf-8")
    res = _verify(r, "--key", k)
    assert res.exit_code == 1 and "checkpoint signature: the note is not signed by the key given" in res.stderr


def test_cli_newer_checkpoint_and_consistency(reg, tmp_path):
    signer, log, receipts = reg
    r, k = _files(tmp_path, signer, receipts[1])
    cp, proof = tmp_path / "checkpoint.txt", tmp_path / "consistency.json"
    cp.write_text(sign_checkpoint(Checkpoint(ORIGIN, 6, log.root()), signer), encoding="utf-8")
    proof.write_text(json.dumps(ConsistencyProof(2, 6, tuple(log.consistency_proof(2))).to_json()), encoding="utf-8")
    res = _verify(r, "--key", k, "--checkpoint", cp, "--consistency", proof)
    assert res.exit_code == 0, res.output
    assert "ok      consistency" in res.stdout and "newer tree of 6" in res.stdout
    impostor = Signer.generate(ORIGIN)
    cp.write_text(sign_checkpoint(Checkpoint(ORIGIN, 6, log.root()), impostor), encoding="utf-8")
    res = _verify(r, "--key", k, "--checkpoint", cp, "--consistency", proof)
    assert res.exit_code == 1 and "newer checkpoint signature" in res.stderr
    res = _verify(r, "--key", k, "--checkpoint", cp)
    assert res.exit_code == 2 and "go together" in res.output


@pytest.mark.parametrize("damage,expect", [
    (lambda t: t[: len(t) // 2], "cut short"),
    (lambda t: "", "not JSON"),
    (lambda t: "[1, 2]", "a receipt is a JSON object"),
    (lambda t: t.replace('"leaf_index"', '"leaf_idx"'), "field 'leaf_index' is missing"),
    (lambda t: t.replace('"inclusion": [', '"inclusion": ["not base64!", '), "field 'inclusion[0]' is not base64"),
])
def test_cli_malformed_receipt_exits_4_naming_file_and_field(reg, tmp_path, damage, expect):
    signer, _, receipts = reg
    r, k = _files(tmp_path, signer, receipts[2])
    r.write_text(damage(r.read_text(encoding="utf-8")), encoding="utf-8")
    res = _verify(r, "--key", k)
    assert res.exit_code == 4, res.output
    assert f"ipscope: error: {r}" in res.stderr and expect in res.stderr and "fix:" in res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize("key_text,expect", [
    ("", "holds one verifier key line, this has 0"),
    ("registry.example/ipscope+00000000+AAAA\n", "not an Ed25519 key"),
    ("just words\n", "three parts"),
])
def test_cli_malformed_key_exits_4(reg, tmp_path, key_text, expect):
    signer, _, receipts = reg
    r, k = _files(tmp_path, signer, receipts[2])
    k.write_text(key_text, encoding="utf-8")
    res = _verify(r, "--key", k)
    assert res.exit_code == 4 and expect in res.stderr and str(k) in res.stderr, res.output


def test_cli_missing_and_binary_files_exit_4(reg, tmp_path):
    signer, _, receipts = reg
    r, k = _files(tmp_path, signer, receipts[2])
    res = _verify(tmp_path / "nope.json", "--key", k)
    assert res.exit_code == 4 and "cannot be read" in res.stderr
    r.write_bytes(b"\xff\xfe{}")
    res = _verify(r, "--key", k)
    assert res.exit_code == 4 and "not UTF-8" in res.stderr
    proof = tmp_path / "p.json"
    proof.write_text('{"from": 1, "to": 2}', encoding="utf-8")
    cp = tmp_path / "cp.txt"
    cp.write_text("not a note", encoding="utf-8")
    r, k = _files(tmp_path, signer, receipts[2])
    res = _verify(r, "--key", k, "--checkpoint", cp, "--consistency", proof)
    assert res.exit_code == 4 and "not a signed checkpoint" in res.stderr


def test_cli_runs_as_a_program(reg, tmp_path):
    """The real entry point (no CliRunner): exit status and messages as a shell sees them."""
    import subprocess

    signer, _, receipts = reg
    r, k = _files(tmp_path, signer, receipts[4])
    p = subprocess.run([sys.executable, "-m", "ipscope", "verify", str(r), "--key", str(k)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r.write_text(r.read_text(encoding="utf-8").replace('"leaf_index": 4', '"leaf_index": 3'), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "ipscope", "verify", str(r), "--key", str(k)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 1 and "inclusion" in p.stderr and "Traceback" not in p.stderr
