"""Packing tokenised documents into shards: the part of a build task that writes shards, shared by ``ipscope index``
(``build.run_task``, over the records it reads) and the live index (``live.add``, over an in-memory batch).

A leaf above ``shard`` (it imports no other module of ``ipscope.index``), so ``build`` and ``live`` both use it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..corpus import meta as doc_meta
from ..types import Document
from .shard import PartEntry, write_shard


class ShardPacker:
    """Collects tokenised document parts and writes a shard whenever the next part would
    not fit; a part larger than a whole shard is split at a token boundary."""

    def __init__(self, root: Path, prefix: str, max_tokens: int, account: list[dict], passages: bool = True) -> None:
        self.root = root
        self.passages = passages
        self.prefix = prefix
        self.max_tokens = max_tokens
        self.account = account
        self.parts: list[PartEntry] = []
        self.slots = 0  # tokens + one separator per part
        self.shards: list[dict] = []

    def add(self, doc: Document, starts: np.ndarray, hashes: np.ndarray) -> None:
        text, offset = doc.text, doc.offset
        # the metadata the index keeps (at most doc_meta.META_BYTES), and what the account says of the document
        meta, cut, dropped = doc_meta.fit(doc.meta)
        facts = doc_facts(doc)
        if cut:
            facts["meta_cut"] = cut
        if dropped:
            facts["meta_dropped"] = dropped
        while True:
            room = self.max_tokens - self.slots - 1
            n = hashes.shape[0]
            if n <= room:
                self._append(doc, text, offset, hashes, starts, meta, facts)
                return
            if room < 1 or (self.parts and n <= self.max_tokens - 1):
                self.flush()
                continue
            # split: the first ``room`` tokens stay here, the rest starts a new part
            cut_at = int(starts[room])
            self._append(doc, text[:cut_at], offset, hashes[:room], starts[:room], meta, facts)
            self.flush()
            text, offset = text[cut_at:], offset + cut_at
            starts, hashes = starts[room:] - cut_at, hashes[room:]

    def _append(self, doc: Document, text: str, offset: int, hashes: np.ndarray, starts: np.ndarray,
                meta: bytes, facts: dict) -> None:
        self.parts.append(PartEntry(doc.id, doc.where, offset, text, hashes, starts, meta))
        self.slots += hashes.shape[0] + 1
        line = {"doc_id": doc.id, "where": doc.where, "status": "indexed", "shard": self._name(),
                "part": len(self.parts) - 1, "offset": offset, "chars": len(text), "tokens": int(hashes.shape[0])}
        if offset == doc.offset:  # what the reader said of the document (the encoding, an assigned id ...), once
            line.update(facts)  # per piece read: a piece split across shards would count replacements twice
        self.account.append(line)

    def _name(self) -> str:
        return f"{self.prefix}-{len(self.shards)}"

    def flush(self) -> None:
        if not self.parts:
            return
        name = self._name()
        done = write_shard(self.root / "shards" / name, self.parts, self.passages)
        self.shards.append({"name": name, **{k: v for k, v in done.items() if k != "files"},
                            "sha256": hashlib.sha256(json.dumps(done["files"], sort_keys=True).encode()).hexdigest()})
        self.parts, self.slots = [], 0


def tokenize_batch(batch: list[Document]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tokenise several documents in one compiled call (joined by newlines, which are
    never part of a token) and split the tokens back per document."""
    from ..text import tokenize

    joined = "\n".join(d.text for d in batch)
    toks = tokenize(joined)
    bounds = np.zeros(len(batch) + 1, np.int64)
    bounds[1:] = np.cumsum([len(d.text) + 1 for d in batch])
    cuts = np.searchsorted(toks.starts, bounds)
    out = []
    for i in range(len(batch)):
        a, b = cuts[i], cuts[i + 1]
        out.append((toks.starts[a:b] - bounds[i], toks.hashes[a:b]))
    return out


def doc_facts(doc: Document) -> dict:
    """What the account line of ``doc`` says besides where it went: ``Document.account`` as the reader gave it
    (``id_assigned``, ...), without the build's own mark of a part of a large file."""
    return {k: v for k, v in doc.account.items() if k != "segmented"} if doc.account else {}


__all__ = ["ShardPacker", "doc_facts", "tokenize_batch"]
