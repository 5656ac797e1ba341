"""Reservations: a work's preferences in the IETF aipref vocabulary (``draft-ietf-aipref-vocab``), checked with
the parser the audit uses (:mod:`ipscope.audit.signals.content_usage`).

A reservation set maps usage-category labels to ``"y"`` (allow) or ``"n"`` (disallow), e.g.
``{"train-ai": "n", "search": "y"}``. The registry accepts the labels of the current vocabulary (``train-ai``,
``ai-use``, ``search``) and ``train-genai`` (generative AI training, vocab -02/-03, a proper subset of
``train-ai``, still widely written). Anything else is refused with the list of what is accepted: a registry
that stored an unknown label would publish a preference no reader honours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..audit.signals.content_usage import PARENT, UsagePrefs, parse_usage
from ..errors import InputError
from ..messages import error

__all__ = ["TERMS", "VALUES", "check_reservations", "to_structured_field", "prefs"]

#: The labels a registry entry may carry, in the order exports list them.
TERMS: Final = ("train-ai", "train-genai", "ai-use", "search")
VALUES: Final = ("y", "n")
assert all(t in PARENT for t in TERMS)  # the audit's vocabulary knows every one


def check_reservations(value: Any, where: str = "reservations") -> dict[str, str]:
    """The reservations as a plain dict in :data:`TERMS` order, or :class:`InputError` naming the bad term."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise error(InputError, "registry.reservations.not_object", where=where, type=type(value).__name__)
    for k, v in value.items():
        if k not in TERMS:
            raise error(InputError, "registry.reservations.unknown_term", where=where, term=k, terms=", ".join(TERMS))
        if v not in VALUES:
            raise error(InputError, "registry.reservations.bad_value", where=where, term=k, value=v)
    out = {t: value[t] for t in TERMS if t in value}
    parsed = parse_usage(to_structured_field(out))  # the audit's reader must give the same back
    if parsed.error is not None or {k: ("y" if b else "n") for k, b in parsed.explicit.items()} != out:
        raise AssertionError(f"the aipref reader does not read back {out!r}")
    return out


def to_structured_field(reservations: Mapping[str, str]) -> str:
    """The RFC 9651 Dictionary form (``train-ai=n, search=y``): the ``Content-Usage`` header and robots.txt value."""
    return ", ".join(f"{k}={v}" for k, v in reservations.items())


def prefs(reservations: Mapping[str, str]) -> UsagePrefs:
    """The reservations as the audit reads them (training = disallowed / allowed / unknown, with fallbacks)."""
    return parse_usage(to_structured_field(reservations))
