"""RFC 9162 Merkle tree (ipscope.registry.merkle) against the published reference vectors, a mutation suite and
random trees.

Sources of the cases:
- the RFC 6962 reference tree of 8 leaves, its roots for every size 1..8 and the inclusion and consistency
  proofs of the Certificate Transparency test suite, as published in transparency-dev/merkle
  (testonly/constants.go: LeafInputs, NodeHashes, RootHashes; proof/verify_test.go at ff6e921:
  inclusionProofs (1-based leaf numbers there), consistencyProofs; Apache-2.0), transcribed below;
- the kinds of broken proof in transparency-dev/merkle's testdata/ (a bit changed in one hash, a hash added
  before or after, a hash dropped, a wrong or swapped root, a wrong size or index), generated here for every
  proof of the 8-leaf tree by our own code;
- hypothesis: random trees, every proof of every leaf and every pair of sizes, checked against the RFC's
  recursive definitions.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.registry.merkle import (EMPTY_ROOT, FileStore, MemoryStore, MerkleLog, ProofError, consistency_path,
                                     inclusion_path, leaf_hash, node_hash, root_hash, root_from_inclusion,
                                     verify_consistency, verify_inclusion)

h = bytes.fromhex

LEAVES = [h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f"]]
LEVEL0 = [h(x) for x in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"]]
LEVEL1 = [h(x) for x in [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"]]
LEVEL2 = [h(x) for x in ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                         "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]]
ROOTS = [EMPTY_ROOT] + [h(x) for x in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]]

# (leaf index, tree size, proof); proof/verify_test.go numbers leaves from 1
INCLUSION = [
    (0, 1, []),
    (0, 8, [LEVEL0[1], LEVEL1[1], LEVEL2[1]]),
    (5, 8, [LEVEL0[4], LEVEL1[3], LEVEL2[0]]),
    (2, 3, [LEVEL1[0]]),
    (1, 5, [LEVEL0[0], LEVEL1[1], LEVEL0[4]]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [LEVEL0[1], LEVEL1[1], LEVEL2[1]]),
    (6, 8, [LEVEL1[2], LEVEL1[3], LEVEL2[0]]),
    (2, 5, [LEVEL1[1], LEVEL0[4]]),
    (6, 7, [LEVEL1[2], LEVEL0[6], LEVEL2[0]]),
]


@pytest.fixture(scope="module")
def log8() -> MerkleLog:
    log = MerkleLog()
    for data in LEAVES:
        log.append(leaf_hash(data))
    return log


def test_reference_leaf_and_root_hashes(log8):
    assert [leaf_hash(d) for d in LEAVES] == LEVEL0
    assert [node_hash(LEVEL0[2 * i], LEVEL0[2 * i + 1]) for i in range(4)] == LEVEL1
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == root_hash([])
    for n in range(9):
        assert root_hash(LEVEL0[:n]) == ROOTS[n], n
        assert log8.root(n) == ROOTS[n], n


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_reference_inclusion_proofs(log8, index, size, proof):
    assert log8.inclusion_proof(index, size) == proof
    assert inclusion_path(index, LEVEL0[:size]) == proof
    verify_inclusion(index, size, LEVEL0[index], proof, ROOTS[size])


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_reference_consistency_proofs(log8, old, new, proof):
    assert log8.consistency_proof(old, new) == proof
    assert consistency_path(old, LEVEL0[:new]) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def _flip(b: bytes, bit: int = 4, at: int = 0) -> bytes:
    return b[:at] + bytes([b[at] ^ (1 << bit)]) + b[at + 1:]


def _inclusion_mutations(index, size, leaf, proof, root):
    """Broken variants of a correct inclusion proof: (what, index, size, leaf, proof, root)."""
    garbage = hashlib.sha256(b"garbage").digest()
    yield "wrong leaf", index, size, _flip(leaf), proof, root
    yield "wrong root", index, size, leaf, proof, _flip(root)
    yield "empty-tree root", index, size, leaf, proof, EMPTY_ROOT
    yield "trailing garbage", index, size, leaf, [*proof, garbage], root
    yield "preceding garbage", index, size, leaf, [garbage, *proof], root
    yield "root appended", index, size, leaf, [*proof, root], root
    if proof:
        yield "truncated", index, size, leaf, proof[:-1], root
        yield "first hash dropped", index, size, leaf, proof[1:], root
        for i in range(len(proof)):
            yield f"proof[{i}] bit 4", index, size, leaf, [*proof[:i], _flip(proof[i]), *proof[i + 1:]], root
    for other in {index + 1, index - 1, index ^ 2}:
        if other != index and 0 <= other:
            yield f"index {other}", other, size, leaf, proof, root
    # the size is bound by the signed checkpoint, not by the proof alone: a size that keeps the same path shape
    # (size + 1 often does) verifies the same hashes, so only halving and doubling must fail (as in the
    # testdata of transparency-dev/merkle: treeSize-div-@2, treeSize-mul-@2)
    for other in {size * 2, size // 2}:
        if other != size and other > index:
            yield f"size {other}", index, other, leaf, proof, root


@pytest.mark.parametrize("size", range(1, 9))
def test_every_broken_inclusion_proof_of_the_reference_tree_fails(log8, size):
    tried = 0
    for index in range(size):
        proof = log8.inclusion_proof(index, size)
        verify_inclusion(index, size, LEVEL0[index], proof, ROOTS[size])
        for what, i, n, leaf, p, root in _inclusion_mutations(index, size, LEVEL0[index], proof, ROOTS[size]):
            with pytest.raises(ProofError):
                verify_inclusion(i, n, leaf, p, root)
            tried += 1
    assert tried >= 8 * size


def _consistency_mutations(m, n, proof, r1, r2):
    garbage = hashlib.sha256(b"garbage").digest()
    yield "swapped roots", m, n, proof, r2, r1
    yield "wrong old root", m, n, proof, _flip(r1), r2
    yield "wrong new root", m, n, proof, r1, _flip(r2)
    yield "trailing garbage", m, n, [*proof, garbage], r1, r2
    yield "preceding garbage", m, n, [garbage, *proof], r1, r2
    yield "old root prepended", m, n, [r1, *proof], r1, r2
    yield "new root appended", m, n, [*proof, r2], r1, r2
    if proof:
        yield "empty proof", m, n, [], r1, r2
        yield "truncated", m, n, proof[:-1], r1, r2
        for i in range(len(proof)):
            yield f"proof[{i}] bit 4", m, n, [*proof[:i], _flip(proof[i]), *proof[i + 1:]], r1, r2
    for other in {m + 1, m - 1, m ^ 2}:
        if other != m and 0 < other <= n:
            yield f"old size {other}", other, n, proof, r1, r2
    for other in {n * 2, n // 2}:  # as for inclusion: the new size is bound by its checkpoint (size2-div/mul)
        if other != n and other >= m:
            yield f"new size {other}", m, other, proof, r1, r2


@pytest.mark.parametrize("new", range(1, 9))
def test_every_broken_consistency_proof_of_the_reference_tree_fails(log8, new):
    for old in range(1, new + 1):
        proof = log8.consistency_proof(old, new)
        verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)
        for what, m, n, p, r1, r2 in _consistency_mutations(old, new, proof, ROOTS[old], ROOTS[new]):
            if what == "swapped roots" and old == new:
                continue  # the same root twice: swapping changes nothing
            with pytest.raises(ProofError):
                verify_consistency(m, n, r1, r2, p)


def test_proof_errors_say_why():
    with pytest.raises(ProofError, match="not in a tree of 3 leaves"):
        verify_inclusion(3, 3, LEVEL0[3], [], ROOTS[3])
    with pytest.raises(ProofError, match="fewer than"):
        verify_inclusion(0, 8, LEVEL0[0], [LEVEL0[1]], ROOTS[8])
    with pytest.raises(ProofError, match="more than"):
        verify_inclusion(0, 1, LEVEL0[0], [LEVEL0[1]], ROOTS[1])
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(1, 8, LEVEL0[1], INCLUSION[1][2], ROOTS[8])  # leaf 0's proof, used for leaf 1
    with pytest.raises(ProofError, match="not a 32-byte"):
        verify_inclusion(0, 8, LEVEL0[0], [b"short"], ROOTS[8])
    with pytest.raises(ProofError, match="only grows"):
        verify_consistency(5, 4, ROOTS[5], ROOTS[4], [])
    with pytest.raises(ProofError, match="forked"):
        verify_consistency(4, 4, ROOTS[4], ROOTS[5], [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])  # every tree extends the empty one
    with pytest.raises(ProofError):
        verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])


def test_a_forked_log_fails_consistency():
    """Two logs that agree on 5 leaves and then differ: no consistency proof from one's tree to the other's."""
    a, b = MerkleLog(), MerkleLog()
    for i in range(9):
        a.append(leaf_hash(b"%d" % i))
        b.append(leaf_hash(b"%d" % i if i < 5 else b"other %d" % i))
    verify_consistency(5, 9, b.root(5), b.root(9), b.consistency_proof(5, 9))
    with pytest.raises(ProofError):
        verify_consistency(7, 9, a.root(7), b.root(9), b.consistency_proof(7, 9))


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def node(self, level: int, index: int) -> bytes:
        self.reads += 1
        return super().node(level, index)


def test_proofs_cost_o_log_n_reads():
    store = CountingStore()
    log = MerkleLog(store)
    n = 10_000
    for i in range(n):
        log.append(leaf_hash(i.to_bytes(4, "big")))
    bound = 2 * n.bit_length() + 2
    assert store.reads <= 2 * n  # appends: one read per subtree a leaf completes (n - popcount(n) in all)
    for index, size in [(0, n), (n - 1, n), (4321, 9999), (8191, 8193), (12, 13)]:
        store.reads = 0
        log.inclusion_proof(index, size)
        assert store.reads <= bound, (index, size, store.reads)
    for old, new in [(1, n), (4321, n), (8192, 9999), (n - 1, n)]:
        store.reads = 0
        log.consistency_proof(old, new)
        assert store.reads <= bound, (old, new, store.reads)
    store.reads = 0
    log.root(9999)
    assert store.reads <= 14  # popcount-many subtrees


def test_log_api_limits(log8):
    with pytest.raises(IndexError):
        log8.leaf(8)
    assert log8.leaf(7) == LEVEL0[7]
    with pytest.raises(ValueError, match="no tree of 9"):
        log8.root(9)
    with pytest.raises(ValueError):
        log8.inclusion_proof(8, 8)
    with pytest.raises(ValueError):
        MerkleLog().append(b"not a hash")
    store = MemoryStore()
    log = MerkleLog(store)
    log.append(LEVEL0[0])
    with pytest.raises(ValueError, match="has 1 leaves, not 0"):  # another writer got there first
        store.append(0, [])


def test_file_store_persists_and_equals_memory(tmp_path):
    with FileStore(tmp_path / "log") as fs:
        log = MerkleLog(fs)
        mem = MerkleLog()
        for i in range(37):
            log.append(leaf_hash(b"%d" % i))
            mem.append(leaf_hash(b"%d" % i))
    with FileStore(tmp_path / "log") as fs:
        log = MerkleLog(fs)
        assert log.size == 37
        for n in (1, 16, 17, 37):
            assert log.root(n) == mem.root(n)
        assert log.inclusion_proof(20, 37) == mem.inclusion_proof(20, 37)
        assert log.consistency_proof(17, 37) == mem.consistency_proof(17, 37)
        log.append(leaf_hash(b"37"))
        mem.append(leaf_hash(b"37"))
        assert log.root() == mem.root()


def test_file_store_recovers_from_an_interrupted_append(tmp_path):
    """A crash can leave higher-level nodes of the next leaf written and its level-0 entry missing or torn;
    opening the store cuts them, and the log goes on as if the append never started."""
    d = tmp_path / "log"
    with FileStore(d, fsync=False) as fs:
        log = MerkleLog(fs)
        for i in range(7):
            log.append(leaf_hash(b"%d" % i))
        root7 = log.root()
    # leaf 7 would close subtrees at levels 1, 2 and 3: pretend they were written, and half of the leaf
    for level in (1, 2, 3):
        with open(d / f"level-{level:02d}.bin", "ab") as f:
            f.write(b"\xee" * 32)
    with open(d / "level-00.bin", "ab") as f:
        f.write(b"\xee" * 10)
    with FileStore(d) as fs:
        log = MerkleLog(fs)
        assert log.size == 7 and log.root() == root7
        assert os.path.getsize(d / "level-00.bin") == 7 * 32
        assert os.path.getsize(d / "level-01.bin") == 3 * 32
        assert os.path.getsize(d / "level-02.bin") == 32
        assert os.path.getsize(d / "level-03.bin") == 0
        log.append(leaf_hash(b"7"))
        ref = MerkleLog()
        for i in range(8):
            ref.append(leaf_hash(b"%d" % i))
        assert log.root() == ref.root()


_leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(_leaves, st.data())
def test_every_inclusion_proof_of_random_trees_verifies_and_a_changed_byte_fails(leaves, data):
    log = MerkleLog()
    hashes = [leaf_hash(x) for x in leaves]
    for lh in hashes:
        log.append(lh)
    n = len(leaves)
    size = data.draw(st.integers(1, n), label="size")
    root = log.root(size)
    assert root == root_hash(hashes[:size])
    for i in range(size):
        proof = log.inclusion_proof(i, size)
        assert proof == inclusion_path(i, hashes[:size])
        verify_inclusion(i, size, hashes[i], proof, root)
        assert root_from_inclusion(i, size, hashes[i], proof) == root
    i = data.draw(st.integers(0, size - 1), label="leaf")
    proof = log.inclusion_proof(i, size)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="hash")
        at = data.draw(st.integers(0, 31), label="byte")
        proof[k] = proof[k][:at] + bytes([proof[k][at] ^ 0xFF]) + proof[k][at + 1:]
        with pytest.raises(ProofError):
            verify_inclusion(i, size, hashes[i], proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(i, size, _flip(hashes[i], 0, data.draw(st.integers(0, 31))), log.inclusion_proof(i, size),
                         root)


@settings(max_examples=60, deadline=None)
@given(_leaves, st.data())
def test_every_consistency_proof_of_random_trees_verifies_and_a_changed_byte_fails(leaves, data):
    log = MerkleLog()
    hashes = [leaf_hash(x) for x in leaves]
    for lh in hashes:
        log.append(lh)
    n = len(leaves)
    for m in range(0, n + 1):
        proof = log.consistency_proof(m, n)
        assert proof == consistency_path(m, hashes)
        verify_consistency(m, n, log.root(m), log.root(n), proof)
    m = data.draw(st.integers(1, n), label="old size")
    proof = log.consistency_proof(m, n)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="hash")
        at = data.draw(st.integers(0, 31), label="byte")
        proof[k] = _flip(proof[k], data.draw(st.integers(0, 7)), at)
        with pytest.raises(ProofError):
            verify_consistency(m, n, log.root(m), log.root(n), proof)
