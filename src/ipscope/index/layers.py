"""Adding the optional layers to an index that exists (``ipscope add-layers``): the passage layers of
``ipscope similar`` (``passages.py``) and the passage vectors (``vectors.py``), shard by shard, then the manifest.

Above ``format``, ``passages`` and ``vectors`` (it opens an index and writes both kinds of layer), so none of them
needs to import it, or one another, back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_atomic
from ..embed import E5Embedder
from ..errors import IndexFormatError
from . import vectors as vec
from .format import Index
from .live import writer_lock
from .passages import LAYER, PassageLayer, add_to_shard, has_layers, params
from .shard import Shard

if TYPE_CHECKING:
    from .executor import Executor


def add_layers(index_path: Path | str, force: bool = False, progress=None, vectors: bool = False,
               executor: Executor | None = None) -> dict:
    """Add the passage layers to an index built without them (``ipscope add-layers``), shard by shard: a
    shard that has them is skipped (so an interrupted run resumes), unless ``force``. With ``vectors`` every
    passage is also embedded (``index/vectors.py``). The manifest names a layer only once every shard has
    it. ``progress(done, total, what)`` is called as work is done. Returns the manifest's ``layers``.
    Holds the index's writer lock (``live.writer_lock``): no add, remove or compact runs meanwhile.

    With an ``executor`` (``index/executor.py``) each shard's passage layers are one task and each shard's
    vectors another (``add_to_shard``, ``embed_shard``: they take the shard's path), run in parallel; without
    one, this process does them one after another."""
    with writer_lock(Path(index_path)):
        return _add_layers(index_path, force, progress, vectors, executor)


_EMBEDDER: list[E5Embedder] = []  # this process's model, loaded by its first vector task and kept for the next


def embed_shard(shard_dir: Path) -> int:
    """A vector task: embed every passage of the shard at ``shard_dir`` (which has its passage layers) unless it
    has its vectors already (an earlier attempt or run finished it); returns the shard's passages."""
    shard_dir = Path(shard_dir)
    if vec.has_vectors(shard_dir):
        return int(PassageLayer(shard_dir).bounds.shape[0])
    if not _EMBEDDER:
        _EMBEDDER.append(E5Embedder(cache_size=0))
    return vec.add_to_shard(Shard(shard_dir, shard_dir.name), _EMBEDDER[0])


def _add_layers(index_path: Path | str, force: bool, progress, vectors: bool, executor: Executor | None) -> dict:
    index = Index.open(index_path)
    shards = index.shards
    layers = dict(index.manifest.get("layers", {}))
    if LAYER in layers and layers[LAYER] != params():
        force = True  # built with other parameters (another ipscope or rensa): every shard's tables are stale
    if force:
        # the manifest names the layers again only once every shard has them; vectors index the passages
        layers.pop(LAYER, None)
        layers.pop("vectors", None)
        _write_layers(index, layers)
    rebuilt = set()
    todo = [s for s in shards if force or not has_layers(s.path)]
    for s in todo:
        for marker in (s.path / "passages.json", s.path / "vectors.json"):
            if marker.exists():
                marker.unlink()  # the shard has no valid layer until it is rewritten
    finished = len(shards) - len(todo)

    def shard_done(s) -> None:
        nonlocal finished
        finished += 1
        rebuilt.add(s.name)
        if progress is not None:
            progress(finished, len(shards), "passage layers (shards)")

    if executor is None:
        for s in todo:
            add_to_shard(s.path)
            shard_done(s)
    elif todo:
        paths = {s.path: s for s in todo}
        executor.map(add_to_shard, list(paths), lambda path: shard_done(paths[path]))
    if progress is not None and not todo:
        progress(len(shards), len(shards), "passage layers (shards)")
    layers[LAYER] = params()
    if rebuilt and "vectors" in layers:  # some shards' passages were rebuilt: their vectors are gone
        del layers["vectors"]
    _write_layers(index, layers)
    if vectors:
        todo = [s for s in shards if not vec.has_vectors(s.path)]  # (force removed them above)
        total = sum(int(PassageLayer(s.path).bounds.shape[0]) for s in todo)
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total, "passage vectors")

        if executor is None:
            embedder = E5Embedder(cache_size=0)
            for s in todo:
                vec.add_to_shard(s, embedder, step)
        elif todo:
            sizes = {s.path: int(PassageLayer(s.path).bounds.shape[0]) for s in todo}
            executor.map(embed_shard, list(sizes), lambda path: step(sizes[path]))
        layers = layers | {vec.LAYER: vec.params()}
        _write_layers(index, layers)
    return layers


def _write_layers(index: Index, layers: dict) -> None:
    manifest = dict(index.manifest)
    manifest["layers"] = layers
    index.manifest = manifest
    mpath = Path(index.path) / "manifest.json"
    try:
        write_atomic(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
    except OSError as e:
        raise IndexFormatError(f"{mpath}: cannot be written ({e.strerror or e})",
                               "check the index directory's permissions") from e
