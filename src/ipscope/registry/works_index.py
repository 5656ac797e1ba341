"""The live index of registered works (``DATA/works.idx``), kept in step with the registry's log, and ``check``.

The registry database is the source of truth; this index is derived from it. It is an ordinary ipscope index
(``ipscope.index.live``: generations, small shards, tombstones) whose documents are the works that are not
withdrawn, each under its work id, and whose manifest holds how far the log has been applied::

    "registry": {"synced_to": N, "leaf": "<hex>"}   # leaves 0..N-1 of the log are applied; the hash of N-1

``sync`` (the one writer: the indexer process, ``ipscope.registry.indexer``) reads the leaves after N, and
publishes **one** generation for them with ``live.update``: registrations are added (the work's text, read from
the database), withdrawals removed, changes of reservations change nothing in the index (``check`` reads
reservations, titles and owners from the database when it answers), and ``synced_to`` moves on, in the same
manifest. The manifest is published by a rename, so after a crash at any point the index and its position
agree (the generation before, or the new one whole) and the next ``sync`` applies the rest; applying a leaf
twice cannot happen, and would change nothing (a registration replaces the document of its id).

Readers (request-serving processes) open the index, ``refresh()`` to pick up newer generations, and call
``check``: ``trace`` spans and ``similar``'s label and score over the works, each match named with its work's
title, owner and current reservations. A work withdrawn in the database is never shown, even before the index
has caught up with its withdrawal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import IndexFormatError, InputError, IpscopeError
from ..index import live
from ..index.format import FORMAT, VERSION, Index
from ..index.passages import LAYER, params as passage_params
from ..index.shard import MAX_TOKENS
from ..text import SCRIPT_FOLDING, TOKENIZER
from ..types import CheckMatch, CheckResult, CheckSpan, Document, Label

if TYPE_CHECKING:
    from .service import Registry

INDEX_DIR: Final = "works.idx"
STATE: Final = "registry"  # the manifest key of the sync's position
MAX_BATCH: Final = 1000  # leaves applied in one generation
# labels that say the text derives from the work; a work with trace spans is shown whatever its label
DERIVED: Final[frozenset[str]] = frozenset({"copy", "near-copy", "quoted", "paraphrase", "translation"})

__all__ = ["INDEX_DIR", "WorksIndex", "create_empty", "log_mismatch", "synced_to"]


def synced_to(manifest: dict) -> int:
    """How many leaves of the log the generation of ``manifest`` has applied."""
    return int((manifest.get(STATE) or {}).get("synced_to", 0))


def log_mismatch(manifest: dict, registry: Registry) -> str | None:
    """Why the log the index was synced from is not ``registry``'s (None when it is, as far as can be told): the
    position is beyond the log, or the log's leaf before the position is not the one the index applied (an
    index kept beside a database replaced or restored from an older backup)."""
    state = manifest.get(STATE) or {}
    pos = int(state.get("synced_to", 0))
    if pos == 0:
        return None
    have = registry.leaf_hash(pos - 1)
    if have is None:
        return f"it has applied {pos} log leaves, the log holds {registry.log_size()}"
    if state.get("leaf") and state["leaf"] != have.hex():
        return f"leaf {pos - 1} of the log is not the leaf the index applied there"
    return None


def create_empty(root: Path, max_shard_tokens: int = MAX_TOKENS) -> None:
    """Make an empty works index at ``root`` (generation 0, no shards, the passage layers' parameters, position
    0): written in a temporary directory and renamed into place, so a reader never sees half of it; when
    another process made it first, theirs stays."""
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": {"tokenizer": TOKENIZER, "script_folding": SCRIPT_FOLDING, "hash": "fnv1a64-splitmix",
                   "max_shard_tokens": max_shard_tokens, "id_field": "id", "text_field": "text",
                   "encoding_errors": "skip", "encoding": None},
        "counts": {"records": 0, "documents_indexed": 0, "skipped": 0, "parts": 0, "ids_assigned": 0, "tokens": 0,
                   "chars": 0, "input_bytes": 0, "skipped_by_reason": {}, "shards": 0},
        "shards": [],
        "layers": {LAYER: passage_params()},
        "excluded_parts": {},
        "content_hash": live.content_hash([], {}, {}),
        "generation": 0,
        STATE: {"synced_to": 0},
    }
    # a directory of its own per call: two threads of one process (the indexer and a reader) may both get here
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.new-", dir=root.parent))
    (tmp / "shards").mkdir()
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (root / "manifest.json").is_file():
            raise


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


class WorksIndex:
    """The works index under a data directory: ``WorksIndex.open(DATA)`` (made empty when missing).

    One object serves many threads: ``check`` takes the generation open when it starts and searches it to the
    end; ``refresh`` swaps in a newer one for later calls. One process writes (``sync``); the index's writer
    lock keeps a second one waiting, not corrupting."""

    def __init__(self, root: Path, index: Index) -> None:
        self.root = root
        self._index = index
        self._seen = _stat(root)

    @classmethod
    def open(cls, data_dir: str | Path) -> WorksIndex:
        root = Path(data_dir) / INDEX_DIR
        if not (root / "manifest.json").is_file():
            root.parent.mkdir(parents=True, exist_ok=True)
            create_empty(root)
        try:
            return cls(root, Index.open(root))
        except IndexFormatError as e:  # damaged, or of another format version: it is derived, so it can go
            raise IndexFormatError(f"the works index cannot be read: {e.message}",
                                   f"stop ipscope serve, remove {root} and start it again: the indexer rebuilds "
                                   "the works index from the registry database") from None

    @property
    def index(self) -> Index:
        """The generation this object reads now."""
        return self._index

    def synced_to(self) -> int:
        """How many log leaves the generation read now has applied."""
        return synced_to(self._index.manifest)

    def refresh(self) -> bool:
        """Read the newest generation if there is one; True when it changed. Cheap when nothing changed: one
        ``stat`` of the manifest (a new generation is a new file, by rename)."""
        seen = _stat(self.root)
        if seen == self._seen:
            return False
        new = self._index.refresh()
        self._seen = seen
        if new is self._index:
            return False
        self._index = new
        return True

    # ---------------------------------------------------------------------------------------- the writer

    def sync(self, registry: Registry, max_batch: int = MAX_BATCH) -> int:
        """Apply every log leaf after this index's position, ``max_batch`` leaves a generation; the number of
        leaves applied. Idempotent, and safe to call from several processes (they take turns on the writer
        lock; each reads the position again under it)."""
        from ..text import tokenize

        applied = 0
        while True:
            got: list[int] = []

            def plan(m: dict, ids: frozenset[str]) -> live.Plan | None:
                pos = synced_to(m)
                problem = log_mismatch(m, registry)
                if problem is not None:
                    raise IpscopeError(f"the works index {self.root} does not belong to this registry: {problem}",
                                       f"if the registry database is the right one, remove {self.root}: the "
                                       "indexer rebuilds the works index from it")
                entries = registry.log_entries(pos, max_batch)
                run = []
                for e in entries:  # a contiguous run from the position (writers commit in leaf order)
                    if e.leaf_index != pos + len(run):
                        break
                    run.append(e)
                if not run:
                    return None
                last: dict[str, tuple[str, int]] = {}  # work -> its last register/delete in the run, with leaf
                for e in run:
                    if e.event in ("register", "delete"):
                        last.pop(e.work_id, None)  # keep the order of the last event
                        last[e.work_id] = (e.event, e.leaf_index)
                adds = [w for w, (ev, _) in last.items() if ev == "register"]
                texts = registry.index_texts(adds) if adds else {}
                # the registry refuses a text without words; one edited into the database behind its back is
                # left out (registry check reports it missing) rather than stopping every sync after it
                texts = {w: t for w, t in texts.items() if tokenize(t).starts.shape[0]}
                docs = tuple(Document(w, texts[w], f"registry leaf {last[w][1]}") for w in adds if w in texts)
                # withdrawn (in this run, or since: its text is gone) and held by the index: removed
                remove = tuple(w for w, (ev, _) in last.items() if (ev == "delete" or w not in texts) and w in ids)
                got.append(len(run))
                end = pos + len(run)
                leaf = registry.leaf_hash(end - 1)
                return live.Plan(docs, remove, {STATE: {"synced_to": end, "leaf": leaf.hex() if leaf else None}})

            change = live.update(self.root, plan)
            if change is None:
                break
            applied += got[-1]
            if got[-1] < max_batch:
                break
        if applied:
            self.refresh()
        return applied

    # ---------------------------------------------------------------------------------------- check

    def check(self, text: str, registry: Registry, semantic: bool = False, *, top: int = 20) -> CheckResult:
        """The registered works ``text`` derives from: each work with trace's spans (offsets in the text and in
        the work) and similar's label and score, its title, owner and current reservations, strongest first.
        Works withdrawn in the database are left out; ``semantic`` adds similar's evidence by meaning
        (``ipscope[embed]``)."""
        from .. import provenance
        from ..corpus.query import check_query_size
        from ..similar import SimilarOptions, similar
        from ..text import tokenize
        from ..trace import TraceOptions, trace

        t0 = time.perf_counter()
        if not isinstance(text, str):
            raise InputError(f"the text to check is a {type(text).__name__}, not a string", "give the text as a string")
        check_query_size(text, "check", "similar")
        m = len(tokenize(text).starts)
        if m == 0:
            raise InputError("the text to check has no words (0 tokens): there is nothing to match",
                             "give a text with words")
        index = self._index  # this generation, for the whole check
        topts = TraceOptions()
        sopts = SimilarOptions(top=top, semantic=semantic)
        notes: list[str] = []
        spans_of: dict[str, list[CheckSpan]] = {}
        results: dict[str, Any] = {}
        if index.shards:
            tr = trace(index, text, "check", topts)
            for s in tr.spans:
                for src in s.sources:
                    spans_of.setdefault(src.doc_id, []).append(CheckSpan(
                        s.start, s.end, src.start, src.end, s.kind, s.tokens, s.matched_tokens, s.edits))
            n = len(tr.documents)
            sopts = dataclasses.replace(sopts, top=max(top, n), max_docs=max(sopts.max_docs, n))
            sr = similar(index, text, "check", sopts)
            results = {r.doc_id: r for r in sr.results}
            notes.extend(sr.notes)
        wanted = [d for d, r in results.items() if r.label in DERIVED or d in spans_of]
        wanted += [d for d in spans_of if d not in results]
        infos = registry.works_by_id(wanted) if wanted else {}
        matches = []
        for wid in wanted:
            info = infos.get(wid)
            if info is None:  # withdrawn (the index has not caught up yet), or not a work
                continue
            r = results.get(wid)
            spans = sorted(spans_of.get(wid, ()), key=lambda s: (s.query_start, s.work_start))
            if r is not None:
                label: Label = r.label
                score = float(r.score)
                if not spans:  # similar's passage evidence (shingles, meaning) when trace has no span
                    spans = [CheckSpan(p.query_start, p.query_end, p.start, p.end, p.kind) for p in r.passages]
            else:  # trace found it, similar did not rank it: the share of the text in its spans
                tokens = sum(s.tokens for s in spans)
                label = "copy" if any(s.kind == "verbatim" for s in spans) else "near-copy"
                score = min(1.0, tokens / m)
            matches.append(CheckMatch(wid, info.title, info.owner, info.owner_id, label, score,
                                      dict(info.reservations), tuple(spans)))
        matches.sort(key=lambda c: (-c.score, c.work_id))
        prov = provenance.make(index, provenance.as_query(text, "check"),
                               {"trace": dataclasses.asdict(topts), "similar": dataclasses.asdict(sopts)},
                               layers=True)
        # how far the index had applied the log, and how long the log was: registrations in between were not seen
        prov["registry"] = {"synced_to": synced_to(index.manifest), "log_size": registry.log_size()}
        if not index.shards:
            notes.append("no registered works are indexed yet")
        return CheckResult(len(text), m, (time.perf_counter() - t0) * 1000, tuple(matches), tuple(notes), prov)


def indexed_texts(root: Path, manifest: dict) -> dict[str, str]:
    """The text of every document the generation of ``manifest`` holds (parts joined in order), by id."""
    from ..index.shard import Shard

    parts = live.document_parts(root, manifest)
    shards: dict[int, Shard] = {}
    out: dict[str, str] = {}
    for doc_id, where in parts.items():
        pieces = []
        for si, d in where:
            sh = shards.get(si)
            if sh is None:
                name = manifest["shards"][si]["name"]
                sh = shards[si] = Shard(root / "shards" / name, name)
            pieces.append((int(sh.doc_offset[d]), sh.doc_text(d)))
        out[doc_id] = "".join(t for _o, t in sorted(pieces))
    return out


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
