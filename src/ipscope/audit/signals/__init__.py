"""One module per machine-readable rights signal; each turns its inputs into :class:`Finding` s."""

from ipscope.audit.signals.base import ANY_AGENT, Finding, Problem

__all__ = ["ANY_AGENT", "Finding", "Problem"]
