"""The README's `ipscope serve` walkthrough, run as written: bash, curl, a real server on loopback (SQLite).

It signs up, registers a work, checks a text that copies part of it, exports the reservations as tdmrep.json and
RSL and verifies the receipt offline; each step must do what the README says it does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from service_helpers import REPO, free_port  # noqa: E402
pytestmark = [pytest.mark.service]


def _block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- readme-test: service walkthrough[^\n]*-->\n```sh\n(.*?)```", text, re.S)
    assert m, "README.md has no service walkthrough block"
    return m.group(1)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl")
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "demo").symlink_to(REPO / "demo")
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PORT=str(free_port()), PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(REPO / "src"))
    if not (bindir / "ipscope").exists():  # the tests run from a source tree without the console script
        shim = tmp_path / "bin" / "ipscope"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ipscope "$@"\n')
        shim.chmod(0o755)
        env["PATH"] = f"{shim.parent}{os.pathsep}{env['PATH']}"
    script = "set -e\nset -m\n" + _block()
    p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    work = json.loads((tmp_path / "registered.json").read_text())
    match = json.loads((tmp_path / "check.json").read_text())["matches"][0]
    assert match["work_id"] == work["id"] and match["title"] == "Persuasion, chapter 3"
    assert match["reservations"] == {"train-ai": "n"} and match["spans"]
    out = p.stdout
    assert '"tdm-reservation"' in out or "tdm-reservation" in out  # the tdmrep.json entry
    assert "<rsl" in out and "rslstandard.org/rsl" in out  # the RSL licence
    assert "ok" in out.lower()  # ipscope verify's verdict
