"""Renderers: typed results in, JSON / terminal / HTML out."""

from __future__ import annotations

import json
from typing import Iterable, Literal

from ..types import TraceReport

Format = Literal["text", "json", "jsonl", "html"]


def to_json(report: TraceReport, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=indent)


def to_json_line(report: TraceReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False) + "\n"


def to_jsonl(reports: Iterable[TraceReport]) -> Iterable[str]:
    return map(to_json_line, reports)


__all__ = ["Format", "to_json", "to_json_line", "to_jsonl"]
