"""The label of a (query, document) pair in ``ipscope similar``: the strongest relation that holds for a
substantial passage of the query, decided from the evidence (:class:`ipscope.similar.Features`) and the
calibrated thresholds (docs/similar.md, "Score and label").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .types import LABELS, Label

if TYPE_CHECKING:
    from .similar import Features

# a passage decides a label when it has this many tokens and this share of the query (issue 10)
SUBSTANTIAL_TOKENS = 12
SUBSTANTIAL_SHARE = 0.05
GAP_TOKENS = 3  # lexical evidence this close together is one passage (a replaced word, a dropped one)
QUOTED_SHARE = 0.9  # a copied passage this much inside quotation marks is "quoted"
# a query shorter than this never decides a label, and has no verbatim runs (a few words found verbatim say
# little: every book has "the old man"); ipscope.similar uses it for the verbatim runs it reads
VERBATIM_MIN_QUERY = 6


def substantial(m: int) -> int:
    """The fewest query tokens a passage must have to decide a label: ``SUBSTANTIAL_TOKENS`` and
    ``SUBSTANTIAL_SHARE`` of the query (shorter matches stay in the evidence without changing the label). A
    query shorter than that must match whole, and one of fewer than ``VERBATIM_MIN_QUERY`` tokens never decides
    (every book has "the old man")."""
    if m < VERBATIM_MIN_QUERY:
        return m + 1
    return min(m, max(SUBSTANTIAL_TOKENS, int(np.ceil(SUBSTANTIAL_SHARE * m))))


def _regions(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[a, b) runs of true tokens in ``mask``, runs closer than ``gap`` false tokens merged (a replaced word
    breaks a copied passage's shingles around it, not the passage)."""
    idx = np.flatnonzero(mask)
    if idx.shape[0] == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    ends = np.concatenate([idx[cut], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _aligned(f: Features, sim_min: float) -> tuple[np.ndarray, list[int]]:
    """(query tokens in chunks whose best match reaches ``sim_min``, those chunks' numbers)."""
    aligned = np.zeros(f.verbatim.shape[0], bool)
    chunks = []
    for k, ((a, b), sim) in enumerate(zip(f.chunk_tokens, f.chunk_sims.tolist())):
        if sim >= sim_min:
            aligned[a:b] = True
            chunks.append(k)
    return aligned, chunks


def _order(f: Features, aligned_chunks: list[int]) -> float:
    """Kendall's tau between the order of the aligned query chunks and the order of their best document chunks
    (1: the query follows the document; about 0 for text on the same topic that renders none of it). A
    paraphrase or a translation keeps its source's sequence; a same-topic original does not (measured: Bible
    renderings 0.75-1, the same chapter's next passage about 0). 1 with fewer than two chunks."""
    pos = np.array([f.chunk_pairs[k].start for k in aligned_chunks], np.float64)
    n = pos.shape[0]
    if n < 2:
        return 1.0
    i, j = np.triu_indices(n, 1)
    return float(np.sign(pos[j] - pos[i]).mean())


def _monotone(f: Features, chunks: list[int], adjacent_ties: bool = False) -> list[int]:
    """The longest chain of ``chunks`` whose best document chunks stand in strictly increasing order (the
    first such chain when several are as long); with ``adjacent_ties`` two neighbouring query chunks may also
    land on the same document chunk (a query cut finer than its source: 40 English tokens are one or two
    verses, 40 Chinese characters about one). A translation's chunks land on its source's passages one after
    another; a same-topic text's land on one or two chunks of the document closest to its subject (the end of
    the passage it continues), over and over: measured on the Bible's translations of the fitted books, the
    chain held most chunks of the translations and 1-3 of 3-11 of the same-topic texts'."""
    n = len(chunks)
    if n == 0:
        return []
    pos = np.array([f.chunk_pairs[k].start for k in chunks], np.int64)
    num = np.array(chunks, np.int64)
    con = np.asarray(f.chunk_contrast, np.float64)[num] if f.chunk_contrast.shape[0] else np.zeros(n)
    # the longest chain ending at each chunk, among those the one whose chunks stand out most (summed contrast),
    # as one key: length first (contrasts are below 1, so n chunks' sum is below the weight n + 1)
    key = 1.0 * (n + 1) + con
    prev = np.full(n, -1, np.int64)
    for j in range(1, n):
        ok = pos[:j] < pos[j]
        if adjacent_ties:
            ok |= (pos[:j] == pos[j]) & (num[:j] == num[j] - 1)
        if ok.any():
            i = int(np.argmax(np.where(ok, key[:j], -np.inf)))
            key[j], prev[j] = key[i] + (n + 1) + con[j], i
    out: list[int] = []
    i = int(np.argmax(key))
    while i >= 0:
        out.append(chunks[i])
        i = int(prev[i])
    return out[::-1]


def decide(f: Features, cal: dict[str, float]) -> tuple[float, Label, np.ndarray, tuple[int, int] | None]:
    """(score, label, aligned-token mask, the query tokens [a, b) of the passage that decided the label or None)
    of the evidence under the thresholds ``cal``.

    The label is the strongest relation that holds for a substantial passage of the query (:func:`substantial`);
    the score is the share of the query explained by derived evidence of any kind. So a paragraph copied into
    an original essay is a ``copy`` with a small score. Lexical passages are the runs of tokens in verbatim,
    near-verbatim or shingle evidence (gaps of ``GAP_TOKENS`` bridged) holding at least ``near_copy_lexical``
    of such tokens: ``copy`` when ``copy_verbatim`` of the passage is verbatim, else ``near-copy``; ``quoted``
    when every such passage lies inside quotation marks in the query (an unquoted one decides otherwise).
    Meaning: ``paraphrase`` (same script) or ``translation`` (another script: cross-language similarities are
    lower, so they have their own thresholds) when chunks aligned by meaning, at least two unless the query
    is one chunk, cover a substantial passage and ``paraphrase_coverage`` / ``translation_coverage`` of the
    query, in the document's order (:func:`_order` at least ``paraphrase_order`` / ``translation_order``):
    one chunk, or several in no order, that happen to be close in meaning are not a paraphrase. Across scripts,
    with ``translation_monotone``, only the chunks on the longest chain in the document's order count
    (:func:`_monotone`); with ``translation_margin`` below 1, a document nearer to the query by passage vector
    than every other by that margin is a translation with a chain shorter than ``translation_coverage``."""
    m = f.verbatim.shape[0]
    if m == 0:
        return 0.0, "unrelated", np.zeros(0, bool), None
    need = substantial(m)
    cross = f.cross_language
    kind_ = "translation" if cross else "paraphrase"
    aligned, al_chunks = _aligned(f, cal[f"{kind_}_similarity"])
    if cross and cal.get("translation_monotone", 0.0) > 0:
        # across languages absolute similarities hardly separate a translation from same-topic text, so only
        # the chunks that follow the document in order count (:func:`_monotone`; 1: in strictly increasing
        # order, 2: neighbouring query chunks may share a document chunk)
        al_chunks = _monotone(f, al_chunks, adjacent_ties=cal["translation_monotone"] >= 2)
        aligned = np.zeros(m, bool)
        for k in al_chunks:
            a, b = f.chunk_tokens[k]
            aligned[a:b] = True
    # chunks close in meaning are derived evidence only when enough of them make a substantial passage, their
    # best matches stand out from the rest of the document (on average over them: text of one kind, such as
    # classical Chinese or the chapter around a passage, is about as close to every chunk) and they follow the
    # document's order; else they are closeness (``related``), not derivation, and count nothing
    meaning = (len(al_chunks) >= min(2, len(f.chunk_tokens)) and int(aligned.sum()) >= need
               and float(f.chunk_contrast[al_chunks].mean()) >= cal.get(f"{kind_}_contrast", 0.0)
               and _order(f, al_chunks) >= cal.get(f"{kind_}_order", -1.0))
    if not meaning:
        aligned = np.zeros(m, bool)
    lexical = f.near | f.shingled | f.verbatim
    derived = lexical | aligned
    score = float(derived.mean())
    label: Label | None = None
    where: tuple[int, int] | None = None
    quoted_at: tuple[int, int] | None = None
    for a, b in _regions(lexical, GAP_TOKENS):
        if b - a < need or float(lexical[a:b].mean()) < cal["near_copy_lexical"]:
            continue
        kind: Label = "copy" if float(f.verbatim[a:b].mean()) >= cal["copy_verbatim"] else "near-copy"
        if f.quoted is not None and float(f.quoted[a:b].mean()) >= QUOTED_SHARE:
            if quoted_at is None or b - a > quoted_at[1] - quoted_at[0]:
                quoted_at = (a, b)
            continue
        if label is None or LABELS.index(kind) < LABELS.index(label) or (
                kind == label and where is not None and b - a > where[1] - where[0]):
            label, where = kind, (a, b)
    if label is None and quoted_at is not None:
        label, where = "quoted", quoted_at
    if label is None and meaning:
        if cross and (float(aligned.mean()) >= cal["translation_coverage"] or (
                f.vector_margin is not None and f.vector_margin >= cal.get("translation_margin", 1.0))):
            # a chain too short, but the document is the nearest by vector by a margin: the source, in the
            # whole index, of the query's passages (same-topic texts' sources rarely are: docs/similar.md)
            label = "translation"
        elif (not cross and float(aligned.mean()) >= cal.get("paraphrase_coverage", 0.0)
              and score >= cal["paraphrase_score"]):
            label = "paraphrase"
        if label is not None:
            on = np.flatnonzero(aligned)
            where = (int(on[0]), int(on[-1]) + 1)
    if label is None:
        mean_sim = float(f.chunk_sims.mean()) if f.chunk_sims.shape[0] else 0.0
        rel_sim = cal["translation_related"] if cross else cal["related_similarity"]
        label = "related" if mean_sim >= rel_sim or f.overlap >= cal["related_term_overlap"] else "unrelated"
    return score, label, aligned, where
