"""Plain-text rendering of a receipt check (``VerifyResult``): one line per check, then what was verified.

JSON is ``report.to_json(result)`` (``VerifyResult.to_dict()``), like every other result type."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..registry.receipt import VerifyResult


def verify_text(result: VerifyResult, receipt: str) -> str:
    """What ``ipscope verify`` prints: the verdict, each check (``ok`` / ``FAILED``) with its finding, and the
    statement the receipt is about."""
    n_failed = len(result.failed)
    verdict = ("verified: every check holds" if result.ok
               else f"NOT verified: {n_failed} of {len(result.checks)} checks failed")
    lines = [f"receipt {receipt}: {verdict}"]
    width = max(len(c.name) for c in result.checks)
    for c in result.checks:
        lines.append(f"  {'ok' if c.ok else 'FAILED':<6}  {c.name:<{width}}  {c.detail}")
    st = result.statement
    reservations = ", ".join(f"{k}={v}" for k, v in sorted(st.get("reservations", {}).items())) or "none"
    lines.append(f"statement: {st.get('event')} of work {st.get('work_id')} by {st.get('owner')} at "
                 f"{st.get('time')}")
    lines.append(f"  content sha256 {st.get('content_sha256')}, {st.get('iscc')}")
    lines.append(f"  reservations: {reservations}")
    where = f"leaf {result.leaf_index} of log {result.origin} ({result.tree_size} leaves"
    where += f", checked against a newer tree of {result.newer_tree_size})" if result.newer_tree_size else ")"
    lines.append(f"  {where}; key {result.key}")
    return "\n".join(lines) + "\n"
