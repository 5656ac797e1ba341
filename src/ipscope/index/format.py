"""The on-disk index: ``manifest.json`` plus ``shards/<name>/``; opening and validating it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import IndexFormatError
from .shard import FILES, Shard

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

    Compared (and hashed) by identity: two opens of one directory are two readers, each with its own searcher."""

    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: str | Path) -> "Index":
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
        for s in manifest.get("shards", []):
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
        return cls(p, manifest)

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
                    shards = self.__dict__["_shards"] = [
                        Shard(self.path / "shards" / s["name"], s["name"], frozenset(excluded.get(s["name"], [])))
                        for s in self.manifest["shards"]
                    ]
        return shards

    def __len__(self) -> int:
        return int(self.manifest["counts"]["documents_indexed"])
