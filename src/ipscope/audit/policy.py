"""Whose reservations count: the AI-training agents, the policy, and the decision rule.

The agent list ships with ipscope (``_data/ai-agents/robots.json``, from the ai.robots.txt
project, MIT). An agent there is an *AI-training agent* unless its stated function is only
search, an assistant or agent acting on a user's request, coding, translation or SEO
(for example ``OAI-SearchBot``, ``ChatGPT-User``, ``Claude-Code``): a reservation aimed only at
such an agent says nothing about training. Agents whose function is undocumented count as
training agents (nothing says they do not train). Ordinary search crawlers such as
``Googlebot`` are not in the list at all.

Policies:

``any-ai-agent`` (default)
    a document is reserved when any honoured signal reserves it for everyone (``*``), for
    any AI-training agent, or for an agent named with ``--agent``.
``agent``
    only the agents named with ``--agent`` (and rules for everyone, which apply to them too).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Literal, Sequence

from .signals.base import ANY_AGENT, Finding

PolicyName = Literal["any-ai-agent", "agent"]
POLICIES: tuple[PolicyName, ...] = ("any-ai-agent", "agent")

# functions (ai.robots.txt's own categories, or free text) of agents that do not train
_NOT_TRAINING = re.compile(
    r"^(ai search crawlers|ai assistants|ai agents|ai coding agents)$"
    r"|\bsearch|user.initiated|user prompts|user queries|answers|translation|\bseo\b|recommendation",
    re.I,
)
_TRAINING_WORDS = re.compile(r"train|scrap|data ?set|llm|language model|machine learning|\bmodels?\b", re.I)


@dataclass(frozen=True)
class Agent:
    token: str  # lower-cased product token, as robots.txt matches it
    name: str
    function: str
    training: bool


def is_training_function(function: str) -> bool:
    """The classification rule of the module doc, on one agent's stated function."""
    f = function.strip()
    return bool(_TRAINING_WORDS.search(f)) or not _NOT_TRAINING.search(f)


@lru_cache(maxsize=1)
def known_agents() -> tuple[Agent, ...]:
    """Every agent of the shipped list, with its classification."""
    data = json.loads(resources.files("ipscope").joinpath("_data/ai-agents/robots.json").read_text("utf-8"))
    out = []
    for name, info in sorted(data.items()):
        function = str(info.get("function", "")) if isinstance(info, dict) else ""
        out.append(Agent(name.lower(), name, function, is_training_function(function)))
    return tuple(out)


def training_agents() -> tuple[str, ...]:
    return tuple(a.token for a in known_agents() if a.training)


@dataclass(frozen=True)
class Policy:
    """The agents whose reservations count, and the rule applied to findings."""

    name: PolicyName
    agents: tuple[str, ...]  # lower-cased tokens checked against agent-specific rules, "*" first
    agent_set: frozenset[str]
    # the agents site files (robots.txt, ai.txt) are evaluated for. There "*" means "every agent without a
    # group of its own": under ``any-ai-agent`` a rule for it counts (it covers AI agents without their own
    # group), under ``agent`` only the named agents are evaluated, each through its own group or, when it
    # has none, through the "*" group (RFC 9309 §2.2.1)
    site_agents: tuple[str, ...] = ()

    @classmethod
    def make(cls, name: PolicyName, named: Iterable[str] = ()) -> "Policy":
        named_l = [a.strip().lower() for a in named if a.strip()]
        if name == "agent":
            chosen = named_l
        else:
            chosen = list(training_agents()) + named_l
        seen = dict.fromkeys([ANY_AGENT] + chosen)  # ordered, unique
        site = tuple(seen) if name == "any-ai-agent" else tuple(dict.fromkeys(chosen))
        return cls(name, tuple(seen), frozenset(seen), site)

    def counts(self, f: Finding) -> bool:
        """True when ``f`` applies under this policy (for everyone, or for one of our agents)."""
        return any(a == ANY_AGENT or a in self.agent_set for a in f.agents)

    def decide(self, findings: Sequence[Finding]) -> tuple[bool, list[Finding]]:
        """(reserved?, the findings that decided). Reserving findings that apply win; when none
        does, applicable explicit permissions are returned as the evidence for ``allowed``."""
        reserving = [f for f in findings if f.reserved and self.counts(f)]
        if reserving:
            return True, reserving
        return False, [f for f in findings if not f.reserved and self.counts(f)]
