"""Audit: decide, with evidence, which training documents may be used (``ipscope audit``).

``from ipscope.audit import Auditor, AuditOptions`` judges records one by one (a data pipeline's filter);
``audit`` runs over files and writes the outputs (the CLI's command). Both are imported when first named, so
importing a signal module (``ipscope.audit.signals.robots``) stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import AuditRecord, AuditResult, NotChecked
    from .run import AuditOptions, Auditor, audit

__all__ = ["AuditOptions", "AuditRecord", "AuditResult", "Auditor", "NotChecked", "audit"]


def __getattr__(name: str) -> Any:
    if name in ("AuditOptions", "Auditor", "audit"):
        from . import run

        return getattr(run, name)
    if name in ("AuditRecord", "AuditResult", "NotChecked"):
        from .. import types

        return getattr(types, name)
    raise AttributeError(f"module 'ipscope.audit' has no attribute {name!r}")
