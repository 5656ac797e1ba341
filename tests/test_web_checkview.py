"""What the check page shows of its results (ipscope.service.web.checkview), without a browser: a passage that
several registered works hold is marked for each of them (before, only the first work's mark showed), and each
match's span keeps its own link.

The text is Jane Austen's *Persuasion* (demo/corpus/books/105.txt, public domain): work A is chapter 3's opening,
work B an anthology that reprints one of its paragraphs; the offsets are found in the real text."""

from __future__ import annotations

from conftest import DEMO

from ipscope.service.web.checkview import marked, passages
from ipscope.types import CheckMatch, CheckResult, CheckSpan

BOOK = (DEMO / "books" / "105.txt").read_text(encoding="utf-8")


def test_a_passage_two_works_hold_is_marked_for_both():
    work_a = BOOK[20_000:24_000]
    para = BOOK[21_000:21_600]
    work_b = "An anthology of letters and novels.\n\n" + para + "\n\nAnd another piece."
    text = "My essay begins here. " + BOOK[20_900:21_700] + " My essay ends."
    qa = text.index(BOOK[20_900:21_700])
    qp = text.index(para)
    # A covers everything copied from the chapter; B covers only the paragraph it reprints
    span_a = CheckSpan(qa, qa + 800, 900, 1700, "verbatim", 140, 140)
    span_b = CheckSpan(qp, qp + len(para), work_b.index(para), work_b.index(para) + len(para), "verbatim", 100, 100)
    result = CheckResult(len(text), 200, 1.0, (
        CheckMatch("wa", "Persuasion, chapter 3", "Anne", "o1", "copy", 0.8, {}, (span_a,)),
        CheckMatch("wb", "An anthology", "Bea", "o2", "copy", 0.5, {"train-ai": "n"}, (span_b,))))
    segs = marked(text, result)
    assert "".join(s["text"] for s in segs) == text  # nothing lost or repeated
    both = [s for s in segs if s["also"]]
    assert "".join(s["text"] for s in both) == para  # exactly the shared paragraph shows the second work
    assert all(s["id"] == "0-0" and s["also"] == [{"id": "1-0", "match": 1}] for s in both)
    only_a = [s for s in segs if s["id"] == "0-0" and not s["also"]]
    assert only_a and all(para not in s["text"] for s in only_a)
    assert [s["text"] for s in segs if s["id"] is None] == ["My essay begins here. ", " My essay ends."]
    # each side of each span: verbatim, so the work's characters are the text's
    sides = passages(text, result, {"wa": work_a})
    assert sides[0][0]["work"] == work_a[900:1700] == text[qa:qa + 800]
    assert sides[1][0]["work"] == para
