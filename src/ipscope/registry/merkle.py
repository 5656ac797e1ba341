"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs, and an append-only log.

Hashing (RFC 9162 section 2.1.1, the same as RFC 6962): SHA-256; a leaf's hash is ``SHA-256(0x00 || data)``,
an interior node's ``SHA-256(0x01 || left || right)``; the root of n > 1 leaves splits them at k, the largest
power of two below n; the root of no leaves is ``SHA-256("")``.

:class:`MerkleLog` keeps every *complete* subtree hash (a perfect subtree of 2**level leaves starting at a
multiple of 2**level) in a :class:`LogStore`, written once when its last leaf is appended (two hashes per
leaf on average). Every hash a root, an inclusion proof or a consistency proof needs is then one stored
node, or a fold of the at most log2(n) complete subtrees that make up the right edge of the tree, so a proof
costs O(log n) store reads and no leaf is ever re-read. The store is a protocol simple enough to be one
database table ``(level, index, hash)``; :class:`MemoryStore` and :class:`FileStore` implement it here.

Proof verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step; a proof that does not hold
raises :class:`ProofError` saying why.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

from ..messages import Message

__all__ = [
    "HASH_SIZE", "EMPTY_ROOT", "leaf_hash", "node_hash", "root_hash", "inclusion_path", "consistency_path",
    "verify_inclusion", "root_from_inclusion", "verify_consistency", "ProofError", "LogStore", "MemoryStore",
    "FileStore", "MerkleLog", "Node",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not hold, or one that is malformed; the message says which and why."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes, by the definition (RFC 9162 2.1.1); O(n). The log computes the same from
    stored subtrees; this is the reference it is tested against, and what a verifier with all leaves uses."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_hash(leaf_hashes[:k]), root_hash(leaf_hashes[k:]))


# --------------------------------------------------------------------------- proofs over any hash source


class _Hashes(Protocol):
    def __call__(self, lo: int, hi: int) -> bytes: ...


def _path(m: int, lo: int, hi: int, mth: _Hashes) -> list[bytes]:
    """PATH(m, D[lo:hi]) of RFC 9162 2.1.3.1, with m relative to lo."""
    proof: list[bytes] = []
    while hi - lo > 1:  # iterative form of the recursion: the sibling at each level, collected top-down
        k = _split(hi - lo)
        if m < k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m = lo + k, m - k
    proof.reverse()  # the RFC lists them leaf-up
    return proof


def _subproof(m: int, lo: int, hi: int, mth: _Hashes) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], true) of RFC 9162 2.1.4.1, iteratively; m relative to lo."""
    proof: list[bytes] = []
    whole = True  # b: is D[lo:lo+m] the old tree itself (whose root the verifier has)?
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                proof.append(mth(lo, hi))
            break
        k = _split(n)
        if m <= k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    proof.reverse()
    return proof


def inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of these leaves, by the definition (O(n))."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaf_hashes)} leaves")
    return _path(index, 0, len(leaf_hashes), lambda lo, hi: root_hash(leaf_hashes[lo:hi]))


def consistency_path(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The consistency proof from the first ``old_size`` leaves to all of them, by the definition (O(n))."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is not between 0 and {n}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, 0, n, lambda lo, hi: root_hash(leaf_hashes[lo:hi]))


# --------------------------------------------------------------------------- verification (RFC 9162)


def _check_hash(h: bytes, what: str) -> None:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise ProofError(Message("proof.not_hash", what=what, size=HASH_SIZE))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof of ``leaf`` (a leaf hash) at ``index`` gives for a tree of ``size``
    leaves: RFC 9162 2.1.3.2 up to the final comparison. Raises :class:`ProofError` when the proof cannot
    be for that index and size (too long or too short)."""
    if not 0 <= index < size:
        raise ProofError(Message("proof.leaf_outside", index=index, size=size))
    _check_hash(leaf, Message("proof.what.leaf_hash"))
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(p, Message("proof.what.inclusion_hash", i=i))
        if sn == 0:
            raise ProofError(Message("proof.inclusion.too_long", n=len(proof), index=index, size=size))
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(Message("proof.inclusion.too_short", n=len(proof), index=index, size=size))
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2: raises :class:`ProofError` unless ``proof`` shows the leaf hash ``leaf`` at
    ``index`` in the tree of ``size`` leaves whose root is ``root``."""
    _check_hash(root, Message("proof.what.root_hash"))
    got = root_from_inclusion(index, size, leaf, proof)
    if got != root:
        raise ProofError(Message("proof.inclusion.wrong_root", index=index, got=got.hex(), root=bytes(root).hex(),
                                 size=size))


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: raises :class:`ProofError` unless ``proof`` shows that the tree of ``old_size``
    leaves with root ``old_root`` is a prefix of the tree of ``new_size`` leaves with root ``new_root``."""
    _check_hash(old_root, Message("proof.what.old_root"))
    _check_hash(new_root, Message("proof.what.new_root"))
    for i, p in enumerate(proof):
        _check_hash(p, Message("proof.what.consistency_hash", i=i))
    if not 0 <= old_size <= new_size:
        raise ProofError(Message("proof.consistency.shrinks", old=old_size, new=new_size))
    if old_size == new_size:
        if proof:
            raise ProofError(Message("proof.consistency.same_size_not_empty"))
        if old_root != new_root:
            raise ProofError(Message("proof.consistency.forked", size=old_size))
        return
    if old_size == 0:  # every tree extends the empty tree; there is nothing to prove
        if proof:
            raise ProofError(Message("proof.consistency.from_empty_not_empty"))
        if old_root != EMPTY_ROOT:
            raise ProofError(Message("proof.consistency.empty_root"))
        return
    path = list(proof)
    if not path:  # step 1
        raise ProofError(Message("proof.consistency.empty", old=old_size, new=new_size))
    if old_size & (old_size - 1) == 0:  # step 2: the old tree is a complete subtree; its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(Message("proof.consistency.too_long", old=old_size, new=new_size))
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError(Message("proof.consistency.too_short", old=old_size, new=new_size))
    if fr != old_root:
        raise ProofError(Message("proof.consistency.wrong_old_root", root=bytes(old_root).hex(), size=old_size,
                                 got=fr.hex()))
    if sr != new_root:
        raise ProofError(Message("proof.consistency.wrong_new_root", root=bytes(new_root).hex(), size=new_size,
                                 got=sr.hex()))


# --------------------------------------------------------------------------- the log and its storage


@dataclass(frozen=True, slots=True)
class Node:
    """A complete subtree: the 2**level leaves from ``index * 2**level``, and their root hash."""

    level: int
    index: int
    hash: bytes


@runtime_checkable
class LogStore(Protocol):
    """Where a :class:`MerkleLog` keeps its complete subtree hashes.

    A database backs it with one table ``(level, index, hash)`` and its row count at level 0 as the size;
    ``append`` then runs inside the transaction that also writes the registration, so the leaf index and the
    record commit together or not at all."""

    def size(self) -> int:
        """Leaves in the log."""
        ...

    def node(self, level: int, index: int) -> bytes:
        """The hash of a complete subtree already stored (``KeyError`` when it is not)."""
        ...

    def append(self, size: int, nodes: Sequence[Node]) -> None:
        """Store leaf ``size`` (``nodes[0]``, level 0) and the complete subtrees it closes, making the size
        ``size + 1``, all or nothing. Fails (``ValueError``) when the log no longer has ``size`` leaves:
        another writer got there first."""
        ...


class MemoryStore:
    """A :class:`LogStore` in a dict (tests, and a log rebuilt from a database's leaves)."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0
        self._lock = threading.Lock()

    def size(self) -> int:
        return self._size

    def node(self, level: int, index: int) -> bytes:
        return self._nodes[level, index]

    def append(self, size: int, nodes: Sequence[Node]) -> None:
        with self._lock:
            if size != self._size:
                raise ValueError(f"the log has {self._size} leaves, not {size}")
            for nd in nodes:
                self._nodes[nd.level, nd.index] = bytes(nd.hash)
            self._size = size + 1


class FileStore:
    """A :class:`LogStore` in a directory: ``level-NN.bin`` holds the level-NN complete subtree hashes, 32 bytes
    each, in index order, so a node is one ``pread``.

    A leaf's nodes are appended from the highest level down and level 0 last, so the size (the length of
    ``level-00.bin`` / 32) only grows once everything the leaf closes is written; opening the store cuts what
    an interrupted append left beyond that. One writer at a time (one process holds the log)."""

    def __init__(self, directory: str | Path, fsync: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._files: dict[int, int] = {}  # level -> file descriptor
        n = self._length(0)
        level = 1
        while self._file_path(level).exists():  # drop nodes of an append that did not reach level 0
            want = n >> level
            if self._length(level) > want:
                os.truncate(self._file_path(level), want * HASH_SIZE)
            level += 1
        self._size = n

    def _file_path(self, level: int) -> Path:
        return self.dir / f"level-{level:02d}.bin"

    def _fd(self, level: int) -> int:
        fd = self._files.get(level)
        if fd is None:
            fd = self._files[level] = os.open(self._file_path(level), os.O_RDWR | os.O_CREAT, 0o644)
        return fd

    def _length(self, level: int) -> int:
        p = self._file_path(level)
        if not p.exists():
            return 0
        size = p.stat().st_size
        if level == 0 and size % HASH_SIZE:  # a torn final leaf: cut it
            os.truncate(p, size - size % HASH_SIZE)
        return size // HASH_SIZE

    def size(self) -> int:
        return self._size

    def node(self, level: int, index: int) -> bytes:
        if index < 0 or index >= self._size >> level:
            raise KeyError((level, index))
        data = os.pread(self._fd(level), HASH_SIZE, index * HASH_SIZE)
        if len(data) != HASH_SIZE:
            raise KeyError((level, index))
        return data

    def append(self, size: int, nodes: Sequence[Node]) -> None:
        with self._lock:
            if size != self._size:
                raise ValueError(f"the log has {self._size} leaves, not {size}")
            for nd in sorted(nodes, key=lambda x: -x.level):
                fd = self._fd(nd.level)
                os.pwrite(fd, nd.hash, nd.index * HASH_SIZE)
                if self.fsync:
                    os.fsync(fd)
            self._size = size + 1

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def __enter__(self) -> FileStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class MerkleLog:
    """An append-only RFC 9162 log over a :class:`LogStore`: append leaf hashes, get roots and proofs for
    any size it has reached."""

    def __init__(self, store: LogStore | None = None) -> None:
        self.store: LogStore = store if store is not None else MemoryStore()

    @property
    def size(self) -> int:
        return self.store.size()

    def leaf(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in the log ({self.size} leaves)")
        return self.store.node(0, index)

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash (``leaf_hash(data)``); returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
        i = self.store.size()
        nodes = [Node(0, i, bytes(leaf))]
        h, level, j = bytes(leaf), 0, i
        while j & 1:  # this leaf completes the subtree it is the right half of: hash it up, level by level
            h = node_hash(self.store.node(level, j - 1), h)
            level, j = level + 1, j >> 1
            nodes.append(Node(level, j, h))
        self.store.append(i, nodes)
        return i

    def _edge(self, size: int) -> list[tuple[int, int]]:
        """The complete subtrees that make up the first ``size`` leaves, left to right, as (start, level)."""
        out, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((start, level))
                start += 1 << level
        return out

    def _hasher(self, size: int) -> _Hashes:
        """MTH(D[lo:hi]) for the nodes of the tree of ``size`` leaves: a complete subtree is one read; a node on
        the right edge (hi == size) is the fold of the complete subtrees after lo, read once per proof."""
        edge = self._edge(size)
        cache: dict[int, bytes] = {}

        def mth(lo: int, hi: int) -> bytes:
            n = hi - lo
            if n & (n - 1) == 0 and lo % n == 0:
                return self.store.node(n.bit_length() - 1, lo // n)
            if hi != size:
                raise AssertionError(f"[{lo}, {hi}) is not a node of a tree of {size} leaves")
            if lo not in cache:
                h = None
                for start, level in reversed(edge):
                    if start < lo:
                        break
                    node = self.store.node(level, start >> level)
                    h = node if h is None else node_hash(node, h)
                    cache[start] = h
            return cache[lo]

        return mth

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves (default: all); O(log n) reads."""
        size = self.size if size is None else size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._hasher(size)(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return _path(index, 0, size, self._hasher(size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``old_size`` leaves to that of ``new_size``."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is not between 0 and {new_size}")
        if old_size in (0, new_size):
            return []
        return _subproof(old_size, 0, new_size, self._hasher(new_size))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"the log has {self.size} leaves; there is no tree of {size}")
