"""The one type every signal module returns."""

from __future__ import annotations

from dataclasses import dataclass

#: Agent value meaning "every agent" (a rule for ``User-agent: *``, a header without an agent, a site-wide file).
ANY_AGENT = "*"


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of evidence that a signal reserves (or explicitly allows) AI training / TDM for a document.

    ``signal``   short name of the standard: ``robots.txt``, ``content-usage``, ``content-signal``, ``tdmrep``,
                 ``noai``, ``ai.txt``, ``c2pa``, ``rsl``, ``license``.
    ``where``    where the evidence was read, precise enough to re-check by hand:
                 ``https://example.com/robots.txt line 7``, ``header X-Robots-Tag``,
                 ``html <meta name="tdm-reservation">``, ``https://example.com/.well-known/tdmrep.json entry 2``.
    ``evidence`` the exact text that decided (the rule line, the header value, the JSON entry), capped by the caller.
    ``reserved`` True when the signal reserves AI training / text-and-data mining; False for an explicit
                 permission that overrides a lower-precedence reservation of the same signal.
    ``agents``   lower-cased agent tokens the rule addresses; ``("*",)`` means everyone.
    """

    signal: str
    where: str
    evidence: str
    reserved: bool
    agents: tuple[str, ...] = (ANY_AGENT,)

    def to_dict(self) -> dict[str, object]:
        """The manifest's form: ``agents`` is ``["*"]`` for a rule for everyone (or for every agent without a
        rule of its own), else the asked agents it addresses, at most ``MAX_AGENTS_LISTED`` of them."""
        agents = [ANY_AGENT] if ANY_AGENT in self.agents else list(self.agents[:MAX_AGENTS_LISTED])
        if ANY_AGENT not in self.agents and len(self.agents) > MAX_AGENTS_LISTED:
            agents.append(f"... {len(self.agents) - MAX_AGENTS_LISTED} more")
        return {"signal": self.signal, "where": self.where, "evidence": self.evidence, "agents": agents}


MAX_AGENTS_LISTED = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a signal's input that the audit reports but survives (it never raises).

    ``where`` names the file/header/line, ``message`` says what is wrong and what was done about it
    (e.g. "not JSON (line 1 col 5: Expecting value); treated as absent — fix the file or report it to the site").
    """

    signal: str
    where: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"signal": self.signal, "where": self.where, "message": self.message}
