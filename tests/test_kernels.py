"""The compiled kernels against plain-Python definitions of what they compute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope import _kernels
from ipscope.index.shard import sample_rows, suffix_array, to_u24


def naive_sa(tok: list[int]) -> list[int]:
    return sorted(range(len(tok)), key=lambda i: tok[i:])


ids = st.lists(st.integers(0, 40), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(ids, st.integers(1, 3_000_000))
def test_suffix_array_matches_naive_sort(seq: list[int], scale: int) -> None:
    # spread the ids over a wide range so 1- to 5-byte codes all occur
    tok = np.array([x * scale % (1 << 24) for x in seq] + [0], dtype=np.uint32)
    assert suffix_array(tok).tolist() == naive_sa(tok.tolist())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, (1 << 24) - 1), min_size=1, max_size=6),
       st.lists(st.integers(0, (1 << 24) - 1), min_size=1, max_size=6))
def test_varint_code_preserves_order(a: list[int], b: list[int]) -> None:
    ea = _kernels.varint_sortable(np.array(a, np.uint32))
    eb = _kernels.varint_sortable(np.array(b, np.uint32))
    assert (bytes(ea) < bytes(eb)) == (a < b)
    assert (bytes(ea) == bytes(eb)) == (a == b)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=5, max_size=300),
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.sampled_from([1, 2, 3, 7, 128]),
)
def test_count_range_counts_every_occurrence(seq: list[int], pat: list[int], every: int) -> None:
    tok = np.array(seq + [0], dtype=np.uint32)
    sa = suffix_array(tok)
    bucket = np.zeros(8, np.int32)
    bucket[1:] = np.cumsum(np.bincount(tok, minlength=7))
    t3, s3 = np.frombuffer(to_u24(tok), np.uint8), np.frombuffer(to_u24(sa), np.uint8)
    samp = _kernels.sample_keys(_kernels.mem_source(t3), _kernels.mem_source(s3), every)
    # the shard's stored form (48-bit rows) holds the same keys the kernel computes
    rows = sample_rows(tok, sa, every)
    padded = np.zeros((rows.shape[0], 8), np.uint8)
    padded[:, :6] = rows
    assert padded.view("<i8").reshape(-1).tolist() == samp.tolist()
    lo, hi = _kernels.count_range(np.array(pat, np.int64), _kernels.mem_source(t3), _kernels.mem_source(s3), bucket, samp, every)
    expected = sum(1 for i in range(len(seq)) if seq[i : i + len(pat)] == pat)
    assert hi - lo == expected
    assert sorted(_kernels.get24_many(_kernels.mem_source(s3), np.arange(lo, hi)).tolist()) == [
        i for i in range(len(seq)) if seq[i : i + len(pat)] == pat
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=5, max_size=400),
    st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=5), min_size=1, max_size=4),
    st.sampled_from([1, 2, 4, 16]),
)
def test_file_sources_read_what_memory_sources_read(tmp_path_factory, seq: list[int], pats: list[list[int]],
                                                    slots: int) -> None:
    """Reading the arrays with pread through a tiny block cache (entries straddling blocks, evictions,
    two files sharing one cache) gives the same ranges and entries as reading them from memory."""
    import os

    tok = np.array(seq + [0], dtype=np.uint32)
    sa = suffix_array(tok)
    bucket = np.zeros(8, np.int32)
    bucket[1:] = np.cumsum(np.bincount(tok, minlength=7))
    t3, s3 = np.frombuffer(to_u24(tok), np.uint8), np.frombuffer(to_u24(sa), np.uint8)
    d = tmp_path_factory.mktemp("src")
    (d / "t").write_bytes(t3.tobytes())
    (d / "s").write_bytes(s3.tobytes())
    fds = [os.open(d / "t", os.O_RDONLY), os.open(d / "s", os.O_RDONLY)]
    try:
        cache = _kernels.new_cache(slots)
        ft, fs = (_kernels.file_source(fds[0], len(tok), 0, cache), _kernels.file_source(fds[1], len(tok), 1, cache))
        mt, ms = _kernels.mem_source(t3), _kernels.mem_source(s3)
        samp = _kernels.sample_keys(mt, ms, 2)
        assert _kernels.sample_keys(ft, fs, 2).tolist() == samp.tolist()
        for pat in pats:
            q = np.array(pat, np.int64)
            assert _kernels.count_range(q, ft, fs, bucket, samp, 2) == _kernels.count_range(q, mt, ms, bucket, samp, 2)
        idx = np.arange(len(tok), dtype=np.int64)[::-1]
        assert _kernels.get24_many(fs, idx).tolist() == _kernels.get24_many(ms, idx).tolist()
        assert _kernels.get24_many(ft, idx).tolist() == tok[::-1].tolist()
    finally:
        for fd in fds:
            os.close(fd)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=300))
def test_assign_ids_is_a_dense_first_seen_numbering(values: list[int]) -> None:
    arr = np.array(values, dtype=np.uint64)
    got, uniq, counts = _kernels.assign_ids(arr)
    assert counts.tolist() == np.bincount(got, minlength=uniq.shape[0]).tolist()
    first: dict[int, int] = {}
    for v in values:
        first.setdefault(v, len(first))
    assert got.tolist() == [first[v] for v in values]
    assert uniq.tolist() == list(first)


def test_assign_ids_grows_past_its_first_table() -> None:
    arr = np.arange(200_000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    got, uniq, counts = _kernels.assign_ids(np.concatenate([arr, arr]))
    assert (counts == 2).all()
    assert uniq.shape[0] == 200_000
    assert got[200_000:].tolist() == list(range(200_000))


def test_extension_bridges_a_substitution_and_stops_at_a_document_boundary() -> None:
    src = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 5, 6]
    q = np.array([5, 6, 7, 99, 9, 10, 11, 12, 13, 14, 5, 6], np.int64)
    tok = np.array(src, np.uint32)
    t3 = np.frombuffer(to_u24(tok), np.uint8)
    qe, se, matched, edits = _kernels._extend(q, _kernels.mem_source(t3), len(src), 0, 0, 1, 3, 2, 2, 8)
    assert (qe, se) == (10, 10)  # through the substituted 4th token, stopped at the separator
    assert matched == 9 and edits == 1


def test_a_file_source_never_serves_stale_bytes_after_its_file_shrinks(tmp_path) -> None:
    """Two files share a one-slot cache; after file A is cut short, reading past its new end raises
    instead of returning the bytes file B left in the slot (found in review)."""
    import os

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(to_u24(np.arange(1000, dtype=np.uint32)))
    b.write_bytes(b"\xab" * 3000)
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    try:
        cache = _kernels.new_cache(1)
        sa_, sb = _kernels.file_source(fa, 1000, 0, cache), _kernels.file_source(fb, 1000, 1, cache)
        assert _kernels.get24_many(sa_, np.array([100], np.int64)).tolist() == [100]
        assert _kernels.get24_many(sb, np.array([0], np.int64)).tolist() == [0xABABAB]  # B now in the slot
        os.truncate(a, 280)
        with pytest.raises(OSError, match="shorter than when opened"):
            _kernels.get24_many(sa_, np.array([99], np.int64))
    finally:
        os.close(fa)
        os.close(fb)
