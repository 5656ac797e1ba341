"""Shared fixtures: real data only (the bundled demo corpus, ../shared/data when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "corpus"
SAMPLE = REPO / "demo" / "sample_output.txt"
TESTDATA = Path(__file__).resolve().parent / "data"
SHARED = REPO.parent / "shared" / "data"


def need_shared(sub: str = "") -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent
    (a user's fresh clone has no ../shared; CI has it)."""
    p = SHARED / sub
    if not p.exists():
        pytest.skip(f"needs the shared data set {p} (present in CI, absent from a plain clone)")
    return p


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> Path:
    from ipscope.index import BuildOptions, build_index

    out = tmp_path_factory.mktemp("demo") / "demo.idx"
    build_index([DEMO], out, BuildOptions(jobs=1))
    return out
