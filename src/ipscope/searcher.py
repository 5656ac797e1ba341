"""Search state, kept apart from the index it searches: :class:`Searcher`.

An :class:`~ipscope.index.Index` (with its ``Shard`` and ``PassageLayer`` objects) is what the index files say,
read lazily and never changed by a query. What queries do change, or check once and keep, belongs to a
``Searcher``:

* **block caches** for reading the token and suffix arrays with pread (``_kernels.new_cache``, 8 MiB each). A
  query borrows one for its whole run and gives it back; no two queries use one cache at once. They must not:
  the compiled kernels look a block up, fill its slot on a miss and then read the slot, without a lock, so a
  second query filling the same slot in between would hand the first one another block's bytes (wrong
  matches, not an error);
* the **passage layers** of every shard (``ipscope similar``), checked once;
* a **view of each shard's usearch index** (passage vectors), each searched by one thread at a time: usearch
  numbers its search contexts by the workers of the call, so two calls made at once from Python both use
  context 0.

A ``Searcher`` is safe to share between threads, and sharing one is the intended use: the caches are lent from a
pool, so a process holds as many as queries ever ran at once (one for a single-threaded caller, as before;
about one per core under load), not one per thread a server's pool ever started, and the cache a query gets is
the one used last, so repeated queries find their blocks warm. One searcher per thread would work too, but
costs 8 MiB and a cold cache per thread and checks the layers again in each.

``trace(index, ...)`` and ``similar(index, ...)`` take an ``Index`` or a ``Searcher``; given an ``Index`` they use
its default searcher (``Searcher.of(index)``), made once per ``Index`` object under a lock and kept as long as
that ``Index`` lives (held in a weak mapping, not on the ``Index``), so code that shares an ``Index`` between
threads is safe as well. A searcher searches the ``Index`` it was made with: a reader that opens the index
again gets a new ``Index`` and with it a new default searcher; so does ``Index.refresh()`` (a live index's next
generation is a new ``Index`` object: the searcher of the old one goes on searching the old generation). The
passage layers checked for a shard are kept with its ``Shard`` object, which ``Index.refresh()`` hands on to the
next generation when that names the shard unchanged.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import IndexFormatError, IpscopeError
from .index import vectors as vec
from .index.format import Index
from .index.passages import LAYER, PassageLayer, layer_problem, params

BlockCache = tuple[np.ndarray, np.ndarray]  # (tags, data) of ``_kernels.new_cache``


class _State:
    """What a searcher owns. It holds no reference to the ``Index``, so the default searchers can be kept in a
    mapping that forgets an ``Index`` when it is no longer used."""

    def __init__(self, cache_slots: int | None) -> None:
        self.lock = threading.Lock()
        self.cache_slots = cache_slots
        self.free: list[BlockCache] = []  # caches no query is using, the last given back at the end
        self.made = 0
        self.layers: dict[int, PassageLayer] | None = None  # shard number -> its checked layers
        self.ann: dict[int, tuple[object | None, threading.Lock]] = {}


_DEFAULTS: "weakref.WeakKeyDictionary[Index, _State]" = weakref.WeakKeyDictionary()
_DEFAULTS_LOCK = threading.Lock()


class Searcher:
    """The search state over one opened index (see the module doc); safe to share between threads.

    ``Searcher(index)`` makes a searcher with state of its own; ``Searcher.of(index)`` is the index's default
    one, which ``trace(index, ...)`` and ``similar(index, ...)`` use. ``cache_slots`` (a power of two) sizes
    each block cache (``_kernels.CACHE_SLOTS`` by default: 32,768 blocks of 256 bytes)."""

    __slots__ = ("index", "_state")

    def __init__(self, index: Index | str | Path, *, cache_slots: int | None = None) -> None:
        self.index: Index = index if isinstance(index, Index) else Index.open(index)
        self._state = _State(cache_slots)

    @classmethod
    def of(cls, index: "Index | Searcher") -> "Searcher":
        """``index`` itself when it is a searcher, else the default searcher of the ``Index``."""
        if isinstance(index, Searcher):
            return index
        if not isinstance(index, Index):
            raise TypeError(f"expected an Index (ipscope.index.Index.open(path)) or a Searcher, not "
                            f"{type(index).__name__}")
        with _DEFAULTS_LOCK:
            state = _DEFAULTS.get(index)
            if state is None:
                state = _DEFAULTS[index] = _State(None)
        s = cls.__new__(cls)
        s.index, s._state = index, state
        return s

    def __repr__(self) -> str:
        return f"Searcher({self.index.path}, block_caches={self.block_caches})"

    # ------------------------------------------------------------------------------------- block caches

    @contextmanager
    def block_cache(self) -> Iterator[BlockCache]:
        """A block cache for one query's pread access, lent to this caller alone until the block ends."""
        st = self._state
        with st.lock:
            cache = st.free.pop() if st.free else None
        if cache is None:
            from . import _kernels  # numba: loaded with the first search, not with this module

            cache = _kernels.new_cache() if st.cache_slots is None else _kernels.new_cache(st.cache_slots)
            with st.lock:
                st.made += 1
        try:
            yield cache
        finally:
            with st.lock:
                st.free.append(cache)

    @property
    def block_caches(self) -> int:
        """How many block caches this searcher has made: the most queries that read with pread at once."""
        return self._state.made

    # ----------------------------------------------------------------------------------- passage layers

    def passage_layers(self, shards: "Sequence[int] | None" = None) -> list:
        """The passage layers of every shard (``ipscope similar``), or an error that says how to add them.
        Checked once per searcher; the layers (and the arrays they load) are kept with it. With ``shards``
        (numbered as in the manifest; a shard server's) only those are checked, and the list holds None for
        the others."""
        st = self._state
        want = range(len(self.index.shards)) if shards is None else sorted(set(shards))
        layers = st.layers
        if layers is None or any(si not in layers for si in want):
            with st.lock:
                if st.layers is None:
                    st.layers = {}
                missing = [si for si in want if si not in st.layers]
                if missing:
                    st.layers.update(_check_layers(self.index, missing))
                layers = st.layers
        if shards is None:
            return [layers[si] for si in want]
        chosen = set(want)
        return [layers[si] if si in chosen else None for si in range(len(self.index.shards))]

    def vector_search(self, si: int, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``ipscope.index.vectors.search`` on shard ``si``, through the shard's usearch index when it has one
        (opened once per searcher, searched by one thread at a time), else exactly."""
        st = self._state
        path = self.index.shards[si].path
        with st.lock:
            entry = st.ann.get(si)
            if entry is None:
                entry = st.ann[si] = (vec.open_ann(path), threading.Lock())
        view, lock = entry
        if view is None:
            return vec.search(path, queries, k, exact=True)
        with lock:
            return vec.search(path, queries, k, ann=view)


def _check_layers(index: Index, shards: "Sequence[int]") -> dict[int, PassageLayer]:
    layer = index.manifest.get("layers", {}).get(LAYER)
    fix = f"add them without re-indexing: ipscope add-layers {index.path}"
    if layer is None:
        raise IpscopeError(f"{index.path} was built without the passage layers ipscope similar needs "
                           "(MinHash LSH and BM25 over passages)", fix)
    want = params()
    if layer != want:
        raise IpscopeError(f"{index.path}: its passage layers were built with other parameters ({layer}) than "
                           f"this ipscope uses ({want})", f"rebuild them: ipscope add-layers {index.path} --force")
    out = {}
    for si in shards:
        s = index.shards[si]
        removed = index.tombstones.get(s.name, frozenset())
        # a shard handed on from an earlier generation (Index.refresh) keeps its checked layers: its files are
        # the same, and a layer differs only by the removed parts it leaves out
        checked = s.__dict__.setdefault("_passage_layers", {})
        layer = checked.get(removed)
        if layer is None:
            problem = layer_problem(s.path)
            if problem is not None:
                raise IndexFormatError(f"{index.path}: the passage layers of shard {s.name} are damaged or "
                                       f"incomplete ({problem}; an interrupted add-layers?)", fix)
            layer = checked.setdefault(removed, PassageLayer(s.path, removed))
        out[si] = layer
    return out


__all__ = ["BlockCache", "Searcher"]
