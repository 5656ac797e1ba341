"""Exports: one work's reservations written in each standard a crawler or a training pipeline reads, so a creator
declares once and publishes everywhere. docs/registry.md has the table of which term maps to what.

- **TDMRep** (W3C CG Final Report, 2024): ``tdm-reservation`` is 1 when AI training is not allowed (the
  ``train-ai`` or ``train-genai`` term is ``n``), 0 when it is explicitly allowed, absent when unstated. TDMRep
  has one switch for all text and data mining, so ``search`` and ``ai-use`` have no TDMRep form.
  Given as ``tdmrep.json`` entries (one per URL path the work is published at) and as HTTP headers.
- **RSL 1.0** (``license.xml``): one ``<content url>`` per URL (a work without URLs gets ``url=""``, the scope
  of wherever the document is attached, §4.6); each ``n`` becomes a usage token in
  ``<prohibits type="usage">`` (``train-ai`` and ``train-genai`` → ``ai-train``, ``ai-use`` → ``ai-input``,
  ``search`` → ``search``). ``y`` writes nothing: a ``<permits>`` is a closed list (§3.5) and would forbid what
  it does not name.
- **robots.txt**: ``Content-Usage`` rules (draft-ietf-aipref-attach §3) in a ``User-agent: *`` group, one per
  URL path (the whole site when the work has no URL), carrying every term as the aipref Dictionary.
- **C2PA / CAWG**: the entries of a ``cawg.training-mining`` assertion (CAWG Training and Data Mining
  Assertion 1.x): ``cawg.ai_training`` from ``train-ai``, ``cawg.ai_generative_training`` from ``train-genai``
  (or ``train-ai`` when that is unstated, as aipref's subset fallback does), ``cawg.ai_inference`` from
  ``ai-use``, each ``allowed`` / ``notAllowed``; ``search`` has no CAWG entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from .reservations import to_structured_field

__all__ = ["FORMATS", "Export", "export", "tdmrep", "rsl", "robots", "cawg", "url_path"]

Format = Literal["tdmrep", "rsl", "robots", "cawg"]
FORMATS: Final[tuple[str, ...]] = ("tdmrep", "rsl", "robots", "cawg")
RSL_NS: Final = "https://rslstandard.org/rsl"
RSL_USAGE: Final[Mapping[str, str]] = {"train-ai": "ai-train", "train-genai": "ai-train", "ai-use": "ai-input",
                                       "search": "search"}
CAWG_ENTRY: Final[Mapping[str, str]] = {"train-ai": "cawg.ai_training", "train-genai": "cawg.ai_generative_training",
                                        "ai-use": "cawg.ai_inference"}


@dataclass(frozen=True)
class Export:
    """One export: ``body`` is the file's text (tdmrep.json, license.xml, robots.txt lines, the CAWG assertion
    JSON); ``headers`` the HTTP response headers that say the same (TDMRep only)."""

    format: str
    media_type: str
    filename: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


def url_path(url: str) -> str:
    """The path (and query) of a URL as robots.txt and TDMRep match it: ``/essays/one.html``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _training(res: Mapping[str, str]) -> str | None:
    """"n" when any training term is n, "y" when one is y and none n, else None."""
    vals = [res[t] for t in ("train-ai", "train-genai") if t in res]
    return "n" if "n" in vals else "y" if vals else None


def tdmrep(res: Mapping[str, str], urls: Sequence[str]) -> Export:
    t = _training(res)
    headers: dict[str, str] = {}
    entries: list[dict[str, object]] = []
    if t is not None:
        headers["tdm-reservation"] = "1" if t == "n" else "0"
        paths = [url_path(u) for u in urls] or ["/*"]
        entries = [{"location": p, "tdm-reservation": 1 if t == "n" else 0} for p in dict.fromkeys(paths)]
    return Export("tdmrep", "application/json", "tdmrep.json", json.dumps(entries, indent=2) + "\n", headers)


def rsl(res: Mapping[str, str], urls: Sequence[str]) -> Export:
    tokens = list(dict.fromkeys(RSL_USAGE[k] for k, v in res.items() if v == "n"))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<rsl xmlns="{RSL_NS}">']
    for u in list(dict.fromkeys(urls)) or [""]:
        lines.append(f"  <content url={quoteattr(u)}>")
        lines.append("    <license>")
        if tokens:
            lines.append(f'      <prohibits type="usage">{" ".join(tokens)}</prohibits>')
        lines.append("    </license>")
        lines.append("  </content>")
    lines.append("</rsl>")
    return Export("rsl", "application/rsl+xml", "license.xml", "\n".join(lines) + "\n")


def robots(res: Mapping[str, str], urls: Sequence[str]) -> Export:
    lines = ["User-agent: *"]
    if res:
        value = to_structured_field(res)
        for p in list(dict.fromkeys(url_path(u) for u in urls)) or ["/"]:
            lines.append(f"Content-Usage: {p} {value}")
    return Export("robots", "text/plain", "robots.txt", "\n".join(lines) + "\n")


def cawg(res: Mapping[str, str]) -> Export:
    entries: dict[str, dict[str, str]] = {}
    train_genai = res.get("train-genai", res.get("train-ai"))
    for term, value in (("train-ai", res.get("train-ai")), ("train-genai", train_genai), ("ai-use", res.get("ai-use"))):
        if value is not None:
            entries[CAWG_ENTRY[term]] = {"use": "allowed" if value == "y" else "notAllowed"}
    body = json.dumps({"label": "cawg.training-mining", "data": {"entries": entries}}, indent=2) + "\n"
    return Export("cawg", "application/json", "cawg.training-mining.json", body)


def export(fmt: str, reservations: Mapping[str, str], urls: Sequence[str]) -> Export:
    if fmt == "tdmrep":
        return tdmrep(reservations, urls)
    if fmt == "rsl":
        return rsl(reservations, urls)
    if fmt == "robots":
        return robots(reservations, urls)
    if fmt == "cawg":
        return cawg(reservations)
    from ..errors import InputError
    from ..messages import error

    raise error(InputError, "registry.export.unknown_format", format=fmt, formats=", ".join(FORMATS))
