"""What a report was made from: ipscope's version, the time, the index and its hashes, the query's hashes,
its encoding and the options (``"provenance"`` in docs/formats.md), and the notes every report of an index
carries (documents the build left out).

``trace()`` and ``similar()`` attach both, so a report from Python, the CLI or the service can be cited the
same way: an examiner can show which corpus and which text produced a finding and re-run it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

from . import __version__
from .corpus.query import QueryText
from .index.format import Index

R = TypeVar("R")


def as_query(text: str | QueryText, query: str | None) -> QueryText:
    """A ``QueryText`` from what an API caller gave: a ``QueryText`` (read from a file with
    :func:`ipscope.corpus.query.read_query`; ``query`` renames it) or a ``str`` (already decoded; no
    encoding)."""
    if isinstance(text, QueryText):
        return text if query is None else dataclasses.replace(text, name=query)
    return QueryText(name="-" if query is None else query, text=text, encoding=None,  # type: ignore[arg-type]
                     source_sha256=None)


@dataclass(frozen=True)
class IndexInfo:
    """What provenance says of an index, for a router that does not open it (``ipscope serve --route``): its
    path, its manifest and the SHA-256 of each shard's layer markers, as the shard servers report them
    (``marker_hashes``)."""

    path: str
    manifest: dict
    markers: Mapping[str, Mapping[str, str | None]]  # shard name -> "passages.json"/"vectors.json" -> sha256

    @property
    def generation(self) -> int:
        from .index import live

        return live.generation(self.manifest)

    def __len__(self) -> int:
        return int(self.manifest["counts"]["documents_indexed"])


_MARKERS = ("passages.json", "vectors.json")


def _marker_sha(d: Path, m: str) -> str | None:
    """SHA-256 of a shard's layer marker ``m``, or None when it is missing, unreadable or records no hashes."""
    try:  # read once: the bytes hashed are the bytes checked
        data = (d / m).read_bytes()
        rec = json.loads(data)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or "files" not in rec:
        return None
    return hashlib.sha256(data).hexdigest()


def marker_hashes(index: Index, shards: "list[int] | None" = None) -> dict[str, dict[str, str | None]]:
    """The layer markers' hashes of the shards ``shards`` (default all) of ``index``: what a shard server tells
    the router so that it can compute ``layers_hash``."""
    names = [s["name"] for s in index.manifest.get("shards", [])]
    picked = names if shards is None else [names[i] for i in shards]
    return {n: {m: _marker_sha(Path(index.path) / "shards" / n, m) for m in _MARKERS} for n in picked}


def layers_hash(index: "Index | IndexInfo", vectors: bool) -> str | None:
    """SHA-256 over the passage layers (and with ``vectors`` the passage vectors) of every shard.

    Each shard's ``passages.json`` (and ``vectors.json``) records the SHA-256 of its arrays, so hashing these
    small files covers the arrays without reading them. None when the index has no passage layers, or when
    a shard's layers were written by an ipscope that did not record their hashes (``ipscope add-layers
    --force`` rewrites them)."""
    if "passages" not in index.manifest.get("layers", {}):
        return None
    h = hashlib.sha256(json.dumps(index.manifest["layers"], sort_keys=True).encode())
    for s in index.manifest.get("shards", []):
        markers = ["passages.json"] + (["vectors.json"] if vectors else [])
        for m in markers:
            if isinstance(index, IndexInfo):
                sha = index.markers.get(s["name"], {}).get(m)
            else:
                sha = _marker_sha(Path(index.path) / "shards" / s["name"], m)
            if sha is None:
                return None
            h.update(f"{s['name']}/{m}:{sha}\n".encode())
    return h.hexdigest()


def index_notes(index: "Index | IndexInfo") -> tuple[str, ...]:
    """Notes every report of ``index`` carries: the documents its build left out, and where to see them."""
    counts = index.manifest.get("counts", {})
    n = int(counts.get("skipped", 0) or 0)
    if not n:
        return ()
    reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.get("skipped_by_reason", {}).items()))
    acc = Path(index.path) / "account.jsonl"
    from .messages import Message

    return (Message("index.skipped_note", n=n, reasons=reasons, account=str(acc)),)


def _options(opts: Any) -> dict[str, Any]:
    if opts is None:
        return {}
    d = dataclasses.asdict(opts) if dataclasses.is_dataclass(opts) else dict(opts)
    return json.loads(json.dumps(d, default=str))  # plain JSON values (paths, tuples) only


def make(index: "Index | IndexInfo", q: QueryText, opts: Any, *, vectors_used: bool = False, layers: bool = False) -> dict:
    """The ``provenance`` object of a report of ``q`` on ``index`` made with ``opts``; ``layers``: the report
    used the passage layers (similar), ``vectors_used``: and the passage vectors."""
    m = index.manifest
    return {
        "tool": "ipscope",
        "version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "index": {
            "path": str(index.path),
            "content_hash": m.get("content_hash"),
            "layers_hash": layers_hash(index, vectors_used) if layers else None,
            "generation": index.generation,  # 0 for a fresh build; each add, remove or compact adds one
            "documents": len(index),
        },
        "query_sha256": hashlib.sha256(q.text.encode("utf-8", "surrogatepass")).hexdigest(),
        "source_sha256": q.source_sha256,
        "encoding": q.encoding,
        "encoding_how": q.how if q.encoding else None,
        "encoding_detected": bool(q.detected),
        "options": _options(opts),
    }


def attach(report: R, index: "Index | IndexInfo", q: QueryText, opts: Any, **kw: bool) -> R:
    """``report`` with its provenance and the index's notes added (reports are frozen)."""
    notes = tuple(getattr(report, "notes", ())) + index_notes(index)
    return dataclasses.replace(report, provenance=make(index, q, opts, **kw), notes=notes)  # type: ignore[type-var]


__all__ = ["IndexInfo", "as_query", "attach", "index_notes", "layers_hash", "make", "marker_hashes"]
