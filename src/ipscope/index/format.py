"""The on-disk index: ``manifest.json`` plus ``shards/<name>/``; opening and validating it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import IndexFormatError
from . import live
from .shard import FILES, Shard

if TYPE_CHECKING:
    from ..types import Document

FORMAT = "ipscope-index"
# 2: frequency-ranked ids (vocab_ids.npy), text frames recorded per shard; 3: sample.npy;
# 4: tokenizer ipscope-words-cjk-v2 (Chinese script folding changes the hashes of Han tokens)
VERSION = 4


def is_index(path: Path) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


_SHARDS_LOCK = threading.Lock()


@dataclass(eq=False)
class Index:
    """An index opened for queries: what its files say, read lazily (opening is cheap) and never changed by a
    query, so any number of threads can share it. Search state (block caches, checked passage layers) is not
    kept here but in an ``ipscope.searcher.Searcher``; the token and suffix arrays are read with pread through a
    searcher's fixed block caches (or memory-mapped, without a memory budget: see ``ipscope.trace``), so the
    memory a query needs does not grow with the index.

    Compared (and hashed) by identity: two opens of one directory are two readers, each with its own searcher.

    An ``Index`` is one **generation** of the index (``ipscope.index.live``): ``add`` and ``remove`` publish a
    new generation on disk and leave this object reading the one it opened; ``refresh()`` returns an ``Index``
    of the newest (a new object, with a new default searcher), so a search running on this one is never changed
    under it."""

    path: Path
    manifest: dict
    tombstones: Mapping[str, frozenset[int]] = field(default_factory=dict)  # shard name -> removed parts

    @classmethod
    def open(cls, path: str | Path, shards: "Iterable[int] | None" = None) -> "Index":
        """Open the index at ``path``. ``shards`` (numbered as in the manifest): check only these shards' files
        (a shard server's, ``ipscope serve --shards``: it searches no other; the others may be elsewhere)."""
        for _attempt in range(5):
            before = _published(Path(path))
            try:
                return cls._open(path, shards)
            except IndexFormatError:
                # a writer published a new generation while this one was read, and a file of the old one went
                # (an older tombstone set; shards retired two compactions ago): read the new manifest
                if before is None or _published(Path(path)) == before:
                    raise
        return cls._open(path, shards)

    @classmethod
    def _open(cls, path: str | Path, only: "Iterable[int] | None" = None) -> "Index":
        p = Path(path)
        hint = " (an interrupted build? rerun the same ipscope index command to finish it)" if (
            p.parent / f".{p.name}.partial").exists() else ""
        if not p.exists():
            raise IndexFormatError(f"{p}: no such index directory{hint}",
                                   f"build one with: ipscope index SOURCE... --out {p}")
        if not p.is_dir():  # most likely a query given where the index belongs
            raise IndexFormatError(f"{p} is a file, not an index (an index is a directory made by ipscope index)",
                                   "give the index first, then the queries: ipscope trace INDEX QUERY... (or "
                                   f"ipscope similar INDEX QUERY...); to index this file: ipscope index {p} "
                                   f"--out {p.with_suffix('.idx') if p.suffix != '.idx' else p.with_name(p.name + '-index')}")
        mpath = p / "manifest.json"
        if not mpath.is_file():
            raise IndexFormatError(
                f"{p} is not an ipscope index: it has no manifest.json{hint}",
                f"build one with: ipscope index SOURCE... --out {p}",
            )
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise IndexFormatError(f"{mpath}: not valid JSON ({e})", "rebuild the index with ipscope index --force") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexFormatError(
                f"{p} is not an ipscope index (manifest.json has no \"format\": \"{FORMAT}\")",
                f"build one with: ipscope index SOURCE... --out {p}",
            )
        version = manifest.get("version")
        if version != VERSION:
            raise IndexFormatError(
                f"{p} is an ipscope index of format version {version}; this ipscope reads version {VERSION}",
                f"rebuild it with this version: ipscope index SOURCE... --out {p} --force",
            )
        checked = None if only is None else set(only)
        for i, s in enumerate(manifest.get("shards", [])):
            if checked is not None and i not in checked:
                continue
            d = p / "shards" / s["name"]
            if not (d / "done.json").is_file():
                raise IndexFormatError(f"{p}: shard {s['name']} is missing or unfinished", "rebuild the index with --force")
            missing = [f for f in FILES if not (d / f).is_file()]
            if missing:
                raise IndexFormatError(f"{p}: shard {s['name']} lacks {', '.join(missing)}",
                                       "rebuild the index with ipscope index --force")
            slots = 3 * (int(s["tokens"]) + int(s["docs"]))  # tokens plus one separator per part
            for f in ("tokens.u24", "sa.u24"):
                if (d / f).stat().st_size != slots:
                    raise IndexFormatError(f"{p}: shard {s['name']}: {f} has the wrong size (damaged or truncated)",
                                           "rebuild the index with ipscope index --force")
        try:
            tombstones = live.load_tombstones(p, manifest)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexFormatError(f"{p}: a tombstone set the manifest names is missing or damaged ({e})",
                                   "rebuild the index with ipscope index --force") from e
        return cls(p, manifest, tombstones)

    @property
    def shards(self) -> list[Shard]:
        """The shards, made on first use and then the same objects for the index's life, also when threads
        ask at once: a second set would close its files when collected, under another thread's search."""
        shards = self.__dict__.get("_shards")
        if shards is None:
            with _SHARDS_LOCK:
                shards = self.__dict__.get("_shards")
                if shards is None:
                    excluded = self.manifest.get("excluded_parts", {})
                    carried = self.__dict__.pop("_carried", {})
                    shards = []
                    for s in self.manifest["shards"]:
                        # later copies of a duplicate id (the build's) and removed documents (tombstones): skipped
                        # alike
                        gone = frozenset(excluded.get(s["name"], [])) | self.tombstones.get(s["name"], frozenset())
                        shards.append(carried.get((s["name"], s.get("sha256"), gone))
                                      or Shard(self.path / "shards" / s["name"], s["name"], gone))
                    self.__dict__["_shards"] = shards
        return shards

    def __len__(self) -> int:
        """The documents this generation holds (removed ones not counted)."""
        return int(self.manifest["counts"]["documents_indexed"])

    @property
    def generation(self) -> int:
        """The generation this ``Index`` reads: 0 for a fresh build (and an index built before generations)."""
        return live.generation(self.manifest)

    # ------------------------------------------------------------------------------- the live index

    def add(self, documents: "Iterable[Document | Mapping[str, Any]]", *, replace: bool = False,
            lock_timeout: float = live.LOCK_TIMEOUT) -> live.Change:
        """Add documents (``ipscope.types.Document``, or dicts with ``id``, ``text`` and optionally ``meta``) as a
        new generation, in new small shards. An id the index holds is an error, unless ``replace=True`` (the
        old document is removed in the same generation). This ``Index`` still reads its own generation:
        ``refresh()`` for the new one. Waits up to ``lock_timeout`` s for another writer."""
        return live.add(self.path, documents, replace=replace, lock_timeout=lock_timeout)

    def remove(self, ids: Iterable[str], *, lock_timeout: float = live.LOCK_TIMEOUT) -> live.Change:
        """Remove the documents ``ids`` as a new generation (tombstones; ``compact`` drops them from the shards).
        An id the index does not hold is an error. ``refresh()`` to read the new generation."""
        return live.remove(self.path, ids, lock_timeout=lock_timeout)

    def compact(self, *, small_tokens: int | None = None, lock_timeout: float = live.LOCK_TIMEOUT
                ) -> "live.Change | None":
        """Merge small shards and drop removed documents (``ipscope.index.live.compact``, which takes a path and
        can run in another process); None when there was nothing to do."""
        return live.compact(self.path, small_tokens=small_tokens, lock_timeout=lock_timeout)

    def refresh(self) -> "Index":
        """The newest generation: this object when it is still the newest, else a new ``Index`` (with its own
        default searcher). This one is not changed: searches on it go on reading its generation."""
        try:
            current = live.read_manifest(self.path)
        except (OSError, ValueError, IndexFormatError):
            current = None
        if current == self.manifest:  # (also a manifest rewritten without a new generation: add-layers)
            return self
        new = Index.open(self.path)
        # the shards this generation opened that the new one names unchanged (same files, by the hash the manifest
        # records, and the same parts left out) are handed on with what they have read and checked (arrays, open
        # files, passage layers): a live index's next generation mostly adds a small shard, and a first query on
        # it need not read every other shard's arrays again. Shard objects are never changed by a query.
        carried = dict(self.__dict__.get("_carried", {}))
        sha = {s["name"]: s.get("sha256") for s in self.manifest.get("shards", [])}
        for sh in self.__dict__.get("_shards") or ():
            if sha.get(sh.name):
                carried[(sh.name, sha[sh.name], sh.excluded)] = sh
        named = {(s["name"], s.get("sha256")) for s in new.manifest.get("shards", [])}
        carried = {k: v for k, v in carried.items() if k[:2] in named}
        if carried:
            new.__dict__["_carried"] = carried
        return new


def _published(path: Path) -> tuple[int, int] | None:
    """(inode, modification time) of the manifest: which generation is published (a new one is a new file)."""
    try:
        st = (path / "manifest.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns
