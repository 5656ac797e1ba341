"""Keeping benchmark figures: each run prints one JSON line and appends it to benchmarks/results/."""

from __future__ import annotations

import json
from pathlib import Path


def record(row: dict, path: str | Path) -> None:
    """Print ``row`` as one JSON line and append it to the results file ``path``."""
    line = json.dumps(row)
    print(line, flush=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
