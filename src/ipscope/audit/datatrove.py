"""A datatrove filter step that audits each document as ``ipscope audit`` would (extra ``ipscope[datatrove]``).

``AuditFilter(AuditOptions(sites=...))`` keeps the documents the audit allows and drops the reserved and the
rejected ones, with the reason as datatrove counts them (``dropped_reserved``, ``dropped_rejected``, and one
``reserved_by_<signal>`` per signal that reserved a document, ``not_checked_<signal>`` per signal that could not
be consulted). Every document, kept or dropped (an ``exclusion_writer`` writes the dropped ones), carries its
manifest line in ``metadata["ipscope_audit"]``: the decision, the evidence, what was not checked.

A document is audited as the record ``{**metadata, "id": id, "text": text}``: datatrove's readers put a record's
other fields (``url``, ``headers``, ``html``, ``license``, ``media_path``) in the metadata.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingExtraError

try:
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import BaseFilter
except ImportError as e:  # the extra is not installed: say which, not a NameError later
    raise MissingExtraError("datatrove", "datatrove") from e

from ..types import AuditRecord
from .run import AuditOptions, Auditor
from .sites import site_key

__all__ = ["AuditFilter"]


class AuditFilter(BaseFilter):
    """Keep the documents ``ipscope audit`` allows; drop the reserved and rejected ones, counted by reason.

    ``opts`` are the audit's options (site files from a snapshot or fetched, policy, agents); they are checked
    here, so a wrong option fails when the pipeline is built, not in a worker. ``metadata_key`` names the
    metadata entry that receives the manifest line. With ``opts.fetch``, give ``batch_size`` (e.g. 1000): the
    new sites of each batch are fetched concurrently, as ``ipscope audit --fetch`` does."""

    name = "⚖️ ipscope audit"

    def __init__(self, opts: AuditOptions | None = None, *, metadata_key: str = "ipscope_audit",
                 exclusion_writer: Any = None, batch_size: int = 1) -> None:
        super().__init__(exclusion_writer, batch_size)
        self.opts = opts or AuditOptions()
        self.metadata_key = metadata_key
        self.auditor = Auditor(self.opts)  # pickles as its options: each worker opens its own site files

    def record(self, doc: Document) -> dict[str, Any]:
        """The record a document stands for (its metadata, less an earlier verdict, with its id and text)."""
        rec = {k: v for k, v in doc.metadata.items() if k != self.metadata_key}
        rec["id"] = doc.id
        rec["text"] = doc.text
        return rec

    def verdict(self, doc: Document) -> AuditRecord:
        path = doc.metadata.get("file_path")  # set by datatrove's readers with add_file_path=True
        return self.auditor.decide(self.record(doc), {"source": path} if isinstance(path, str) else None)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        rec = self.verdict(doc)
        doc.metadata[self.metadata_key] = rec.to_dict()
        for signal in dict.fromkeys(n.signal for n in rec.not_checked):
            self.stat_update(f"not_checked_{signal}")
        if rec.decision == "allowed":
            return True
        for signal in rec.reserved_by:
            self.stat_update(f"reserved_by_{signal}")
        return False, rec.decision

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if self.opts.fetch:
            urls = (d.metadata.get("url") for d in batch)
            self.auditor.prefetch(k for k in (site_key(u) for u in urls if isinstance(u, str)) if k is not None)
        return [self.filter(d) for d in batch]
