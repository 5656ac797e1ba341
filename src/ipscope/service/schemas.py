"""Request bodies as OpenAPI describes them at ``/docs``. Documentation only: requests are parsed by orjson and
checked by the engines themselves (their errors name the field and the fix), not validated against these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Term = Literal["train-ai", "train-genai", "ai-use", "search"]


class OwnerIn(BaseModel):
    name: str = Field(description="the owner's name (unique; at most 200 characters)", examples=["Alice Writer"])


class WorkIn(BaseModel):
    title: str = Field(description="at most 1,000 characters", examples=["Persuasion, chapter 3"])
    text: str = Field(description="the work's text, at most 10 MB of UTF-8; only its owner reads it back")
    urls: list[str] | None = Field(None, description="http(s) pages where the owner publishes the work (never "
                                                     "fetched by the server)")
    meta: dict[str, Any] | None = Field(None, description="metadata, a JSON object of at most 64 KB")
    reservations: dict[Term, Literal["y", "n"]] | None = Field(
        None, description="IETF aipref terms: n = not allowed, y = allowed", examples=[{"train-ai": "n"}])


class ReservationsIn(BaseModel):
    reservations: dict[Term, Literal["y", "n"]] = Field(description="the new set; it replaces the old one")


class CheckIn(BaseModel):
    text: str
    semantic: bool = Field(False, description="add semantic evidence (paraphrase) when the server has ipscope[embed]")


def _allow_partial() -> Any:
    return Field(None, description="through a router (docs/scale.md): false asks for a 503 problem instead of an "
                                   "answer without some shards; default: the router's (--no-partial)")


class TraceIn(BaseModel):
    text: str
    corpus: str | None = Field(None, description="one of the server's corpora (GET /v1); optional when it has one")
    min_tokens: int = Field(12, ge=1, description="shortest passage reported, in tokens")
    max_sources: int = Field(20, ge=1, le=1000, description="sources listed per passage")
    excerpts: int | None = Field(None, ge=0, le=10_000, description="add each source's text with this much context")
    allow_partial: bool | None = _allow_partial()


class SimilarIn(BaseModel):
    text: str
    corpus: str | None = None
    top: int = Field(10, ge=1, le=100)
    semantic: bool = False
    allow_partial: bool | None = _allow_partial()


class AuditIn(BaseModel):
    records: list[dict[str, Any]] = Field(description='{"url", "text"} and optionally "id", "headers", "html", '
                                                      '"license", "source_kind" (no media_path over HTTP)')
    sites: str | None = Field(None, description="one of the server's site snapshots (GET /v1); never fetched")
    agents: list[str] | None = None
    policy: Literal["any-ai-agent", "agent"] = "any-ai-agent"
    rsl_user: str = "commercial"
    region: str | None = None
