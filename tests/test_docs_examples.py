"""Every ```python block of README.md and docs/**/*.md runs, as written (the convention is described in
docs/python-api.md, "How the examples are checked"): none is skipped."""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# a fence opening a python block, with the optional docs-test comment on the line before it
_BLOCK = re.compile(r"(?:<!-- docs-test: (?P<directive>[^>]*?) -->\n)?^```python\n(?P<code>.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[tuple[str, str, int]]:
    text = page.read_text(encoding="utf-8")
    return [(m.group("directive") or "", m.group("code"), text.count("\n", 0, m.start("code")) + 1)
            for m in _BLOCK.finditer(text)]


PAGES_WITH_CODE = [p for p in PAGES if _blocks(p)]


def test_the_pages_hold_python_blocks_and_every_fence_is_seen():
    """Every ```python fence in the docs is one of the blocks the test runs (a fence the pattern missed would
    be skipped silently)."""
    total = 0
    for page in PAGES:
        fences = len(re.findall(r"^```python\s*$", page.read_text(encoding="utf-8"), re.M))
        assert fences == len(_blocks(page)), page
        total += fences
    assert total >= 12 and REPO / "README.md" in PAGES_WITH_CODE


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, demo_index: Path) -> Path:
    ws = tmp_path_factory.mktemp("docs")
    (ws / "demo").symlink_to(REPO / "demo", target_is_directory=True)
    (ws / "build").mkdir()
    shutil.copytree(demo_index, ws / "build" / "demo.idx")
    return ws


def _run(code: str, where: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, {"__name__": "__main__"}, where, where, 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            runner.run(test, out=out.write)
            assert runner.failures == 0, out.getvalue()
        else:
            exec(compile(code, where, "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(REPO)))
def test_python_blocks_run(page: Path, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # each page in its own copy of the workspace, its blocks in order (a block may use a file an earlier one
    # of the same page wrote, as a reader following the page would)
    ws = tmp_path / "ws"
    ws.mkdir()
    for entry in workspace.iterdir():
        (ws / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir()) if entry.name == "demo" \
            else shutil.copytree(entry, ws / entry.name)
    monkeypatch.chdir(ws)
    for directive, code, line in _blocks(page):
        for item in directive.split():
            if item == "link":
                continue
            name, _, target = item.partition("=")
            assert target and (REPO / target).exists(), f"{page}:{line}: bad docs-test link {item!r}"
            if not os.path.lexists(ws / name):
                (ws / name).symlink_to(REPO / target, target_is_directory=(REPO / target).is_dir())
        _run(code, f"{page.relative_to(REPO)}:{line}")
