"""What a shard server accepts: each phase's payload checked before any work is done (docs/service.md, "Shard
servers", the limits), so that a request costs no more than one a router legitimately sends for a query this
server would take.

* the query text: a string within this server's ``max_query_chars`` and the capability's own limit
  (``check_query_size``);
* trace options: the bounds of the public ``POST /v1/trace`` (``app.trace_options``), every other option its
  default (a router sends nothing else: no ``min_tokens=1, max_occurrences=1e9`` or a memory budget turned off);
* trace/resolve: span extents within the query, sources within their document and no longer than an alignment of
  that extent can be;
* similar/collect: ``k`` from 1 to ``MAX_K``, statistics and arrays of the shapes the query gives;
* similar/read: no more items, and no longer runs and spans, than the evidence of a query of ``query_tokens``
  tokens reads (``similar_rounds``), every number within the shard.

A payload that fails is a ``PayloadError`` (422, naming the field); nothing else a shard server raises is.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..corpus.query import check_query_size
from ..errors import InputError

MAX_K = 100  # passages per query window (BM25) and per query vector a collect may ask for

FIX = 'send what ipscope serve --route sends (docs/service.md, "Shard servers")'

__all__ = ["MAX_K", "PayloadError", "check_payload"]


class PayloadError(InputError):
    """A shard phase's payload that is malformed or asks for more than a router would (422)."""

    def __init__(self, message: str, fix: str = FIX) -> None:
        super().__init__(message, fix)


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise PayloadError(f"{what} is {str(v)[:50]!r}, not a whole number from {lo} to {hi}")
    return v


def _list(v: Any, what: str, most: int) -> list:
    if not isinstance(v, list):
        raise PayloadError(f"{what} is a {type(v).__name__}, not a list")
    if len(v) > most:
        raise PayloadError(f"{what} has {len(v):,} items, more than the {most:,} a router asks for here")
    return v


def _row(v: Any, what: str, n: int) -> list[int]:
    if not isinstance(v, list) or len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise PayloadError(f"{what} is {str(v)[:80]!r}, not a list of {n} whole numbers")
    return v


def _text(payload: Mapping[str, Any], capability: str, max_query_chars: int) -> str:
    t = payload.get("text")
    if not isinstance(t, str):
        raise PayloadError(f"text is a {type(t).__name__}, not a string")
    if len(t) > max_query_chars:
        raise PayloadError(f"text has {len(t):,} characters, over this server's limit of {max_query_chars:,}",
                           "split it into several requests")
    check_query_size(t, "request", capability)
    return t


def _array(d: Any, what: str, dtypes: tuple[str, ...], shape: tuple[int | None, ...], most_rows: int) -> None:
    """``d`` is a packed array (``similar_shards.pack``) of one of ``dtypes`` and ``shape`` (None: any, up to
    ``most_rows`` for the first axis), its bytes exactly that."""
    if not isinstance(d, dict) or set(d) != {"dtype", "shape", "b64"}:
        raise PayloadError(f"{what} is not a packed array ({{dtype, shape, b64}})")
    if d["dtype"] not in dtypes:
        raise PayloadError(f"{what}: dtype {str(d['dtype'])[:20]!r}, not {' or '.join(dtypes)}")
    got = _row(d["shape"], f"{what}.shape", len(shape))
    for i, (g, want) in enumerate(zip(got, shape)):
        hi = want if want is not None else most_rows
        lo = want if want is not None else 0
        _int(g, f"{what}.shape[{i}]", lo, hi)
    b64 = d["b64"]
    size = math.prod(got) * np.dtype(d["dtype"]).itemsize
    if not isinstance(b64, str) or len(b64) != 4 * -(-size // 3):
        raise PayloadError(f"{what}: its data is not {size:,} bytes")
    try:
        base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"{what}: its data is not base64") from None


def _trace_options(o: Any) -> dict[str, Any]:
    from ..trace import TraceOptions, options_json
    from .app import TRACE_FIELDS, trace_options

    default = options_json(TraceOptions())
    if not isinstance(o, dict) or set(o) - set(default):
        raise PayloadError(f"options is not an object of trace options ({', '.join(default)})")
    for k, v in o.items():
        if k not in TRACE_FIELDS and v != default[k]:
            raise PayloadError(f"options.{k} is {str(v)[:50]!r}: a router sends its default {default[k]!r}")
    try:
        return options_json(trace_options(o))
    except InputError as e:
        raise PayloadError(f"options.{e.message}", e.fix) from None


def _resolve_spans(spans: Any, s: Any, served: Sequence[int], m: int, gap: int) -> None:
    shards = s.index.shards
    for i, sp in enumerate(_list(spans, "spans", m)):
        if not isinstance(sp, dict) or set(sp) != {"key", "members"}:
            raise PayloadError(f"spans[{i}] is not {{key, members}}")
        key = sp["key"]
        if not isinstance(key, list) or len(key) != 3 or not isinstance(key[2], bool):
            raise PayloadError(f"spans[{i}].key is not [qs, qe, verbatim]")
        qs = _int(key[0], f"spans[{i}].key[0]", 0, m - 1)
        qe = _int(key[1], f"spans[{i}].key[1]", qs + 1, m)
        for j, row in enumerate(_list(sp["members"], f"spans[{i}].members", 1 << 24)):
            what = f"spans[{i}].members[{j}]"
            a_qs, a_qe, si, part, ss, se, matched, edits = _row(row, what, 8)
            if (a_qs, a_qe) != (qs, qe) or matched < 0 or edits < 0:
                raise PayloadError(f"{what} is not an alignment of the span's extent")
            _int(si, f"{what} shard", 0, len(shards) - 1)
            if si not in served:
                continue  # another server's: skipped
            doc_tok = shards[si].doc_tok
            _int(part, f"{what} part", 0, doc_tok.shape[0] - 2)
            # an alignment's source: within its document, at most (gap + 1) tokens a query token
            _int(ss, f"{what} start", 0, int(doc_tok[part + 1] - doc_tok[part]) - 2)
            _int(se, f"{what} end", ss + 1, min(int(doc_tok[part + 1] - doc_tok[part]) - 1, ss + (gap + 1) * (qe - qs)))


def _wants(wants: Any, s: Any, served: Sequence[int], m: int) -> dict[str, list[list[int]]]:
    """The items of a read, checked against what ``similar_rounds`` asks for a query of ``m`` tokens."""
    from ..index.passages import PASSAGE_TOKENS
    from ..similar import SimilarOptions
    from .app import MAX_TOP

    o = SimilarOptions()
    per_doc = max(o.max_passages_per_doc, -(-m // PASSAGE_TOKENS) + 2)  # as similar._compared_keys
    docs = o.max_docs + o.semantic_docs  # those compared in depth, and the nearest by vector
    limits = {"runs": docs * per_doc, "passages": docs * o.semantic_passages + MAX_TOP, "spans": MAX_TOP,
              "passage_meta": MAX_TOP, "token_meta": MAX_TOP}
    if not isinstance(wants, dict) or set(wants) - set(limits):
        raise PayloadError(f"wants is not an object of {', '.join(limits)}")
    shards = s.index.shards
    layers = s.passage_layers(list(served))
    arity = {"runs": 3, "passages": 2, "spans": 3, "passage_meta": 2, "token_meta": 2}
    out: dict[str, list[list[int]]] = {}
    for kind, items in wants.items():
        total = 0
        for j, item in enumerate(_list(items, f"wants.{kind}", limits[kind])):
            what = f"wants.{kind}[{j}]"
            row = _row(item, what, arity[kind])
            si = _int(row[0], f"{what} shard", 0, len(shards) - 1)
            if si not in served:
                continue  # another server's: skipped
            n_pass = int(layers[si].bounds.shape[0])
            doc_tok = shards[si].doc_tok
            if kind == "runs":
                first = _int(row[1], f"{what} first", 0, n_pass - 1)
                _int(row[2], f"{what} last", first, min(n_pass, first + per_doc) - 1)
                total += row[2] - first + 1
                if total > limits["runs"]:
                    raise PayloadError(f"wants.runs: more than the {limits['runs']:,} passages a router reads here")
            elif kind in ("passages", "passage_meta"):
                _int(row[1], f"{what} passage", 0, n_pass - 1)
            elif kind == "token_meta":
                _int(row[1], f"{what} token", 0, int(doc_tok[-1]) - 1)
            else:  # spans: one document part's tokens, no longer than the query
                a = _int(row[1], f"{what} start", 0, int(doc_tok[-1]) - 1)
                part = int(np.searchsorted(doc_tok, a, side="right")) - 1
                _int(row[2], f"{what} end", a + 1, min(int(doc_tok[part + 1]) - 1, a + m))
        out[kind] = items
    return out


def check_payload(phase: str, payload: Mapping[str, Any], s: Any, served: Sequence[int],
                  max_query_chars: int) -> dict[str, Any]:
    """``payload`` of ``phase`` checked for the searcher ``s`` serving ``served``: what the phase may run with.
    Raises ``PayloadError`` naming the field."""
    from ..similar_shards import windows
    from ..index.passages import BANDS, PASSAGE_TOKENS
    from ..text import tokenize

    served = sorted(served)
    if phase.startswith("trace/"):
        text = _text(payload, "trace", max_query_chars)
        options = _trace_options(payload.get("options"))
        out: dict[str, Any] = {"text": text, "options": options}
        if phase == "trace/resolve":
            _resolve_spans(payload.get("spans"), s, served, len(tokenize(text)), options["gap"])
            out["spans"] = payload["spans"]
        return out
    if phase == "similar/read":
        m = _int(payload.get("query_tokens"), "query_tokens", 1, max_query_chars)
        return {"wants": _wants(payload.get("wants"), s, served, m)}
    text = _text(payload, "similar", max_query_chars)
    if phase == "similar/stats":
        return {"text": text}
    # similar/collect
    m = len(tokenize(text))
    k = _int(payload.get("k"), "k", 1, MAX_K)
    stats = payload.get("stats")
    if not isinstance(stats, dict) or set(stats) != {"n_passages", "length", "df"}:
        raise PayloadError("stats is not {n_passages, length, df}")
    n = _int(stats["n_passages"], "stats.n_passages", 0, 1 << 62)
    if isinstance(stats["length"], bool) or not isinstance(stats["length"], (int, float)) \
            or not 0 <= stats["length"] < 1e18:
        raise PayloadError(f"stats.length is {str(stats['length'])[:50]!r}, not a number of tokens")
    n_terms = int(np.unique(tokenize(text).hashes).shape[0])
    if len(_list(stats["df"], "stats.df", n_terms)) != n_terms:
        raise PayloadError(f"stats.df has {len(stats['df'])} counts, not one for each of the query's {n_terms} words")
    for d in stats["df"]:
        _int(d, "stats.df[]", 0, n)
    trace = payload.get("trace", True)
    if not isinstance(trace, bool):
        raise PayloadError("trace is not true or false")
    out = {"text": text, "k": k, "stats": stats, "trace": trace, "lsh_keys": payload.get("lsh_keys"),
           "query_vectors": payload.get("query_vectors")}
    if out["lsh_keys"] is not None:
        n_win = windows(m, PASSAGE_TOKENS, PASSAGE_TOKENS // 4).shape[0]
        _array(out["lsh_keys"], "lsh_keys", ("<u4",), (BANDS, n_win), 0)
    if out["query_vectors"] is not None:
        dim = (s.index.manifest.get("layers", {}).get("vectors") or {}).get("dim")
        if not isinstance(dim, int):
            raise PayloadError("query_vectors: this index has no passage vectors", "send query_vectors null")
        n_win = windows(m, PASSAGE_TOKENS, PASSAGE_TOKENS).shape[0]
        _array(out["query_vectors"], "query_vectors", ("<f4", "<f2", "<f8"), (None, dim), n_win)
    return out
