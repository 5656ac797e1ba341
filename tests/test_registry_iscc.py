"""The registry's ISCC Text-Code (ISO 24138) against the ISCC conformance vectors and the reference implementation.

The vectors are those iscc-core ships (iscc_core/data.json, section gen_text_code_v0; Apache-2.0, read from the
installed package, not copied). ``iscc_text_code`` takes iscc-lib when installed (the Rust implementation, fast)
and iscc-core otherwise: both paths must give the conformance codes and agree on real texts of several scripts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

iscc_core = pytest.importorskip("iscc_core")

from ipscope.registry import service  # noqa: E402

DATA = Path(__file__).parent / "data"


def _vectors() -> list[tuple[str, str, int, str]]:
    d = json.loads((Path(iscc_core.__file__).parent / "data.json").read_text(encoding="utf-8"))
    return [(name, case["inputs"][0], case["inputs"][1], case["outputs"]["iscc"])
            for name, case in d["gen_text_code_v0"].items()]


def test_conformance_vectors_exist() -> None:
    assert len(_vectors()) >= 5


@pytest.mark.parametrize("name,text,bits,code", _vectors())
def test_conformance(name: str, text: str, bits: int, code: str) -> None:
    assert service.iscc_text_code(text, bits) == code, name


def _texts() -> list[str]:
    out = []
    for name in ("chinese/traditional.jsonl", "chinese/simplified.jsonl", "similar/pairs.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()[:4]:
            rec = json.loads(line)
            out += [v for v in rec.values() if isinstance(v, str) and len(v) > 40]
    return out


def test_same_code_as_the_reference() -> None:
    texts = _texts()
    assert len(texts) >= 8
    for text in texts:
        assert service.iscc_text_code(text) == iscc_core.gen_text_code_v0(text)["iscc"], text[:60]


def test_without_iscc_lib_the_reference_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "iscc_lib", None)  # import iscc_lib now raises ImportError
    text = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
    assert service.iscc_text_code(text) == iscc_core.gen_text_code_v0(text)["iscc"]
