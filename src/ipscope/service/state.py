"""What one server process holds open: the registry, a searcher per corpus, auditors per set of options, the
live index of registered works. Opened once, at start (a corpus or database that cannot be opened fails the
start, not a request); nothing here is opened per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from ..errors import InputError, IpscopeError
from .config import ServiceConfig

log = logging.getLogger("ipscope.service")

AUTH_TTL = 1.0  # seconds a key found valid is trusted by the question endpoints without asking the database


class Corpus:
    """One ``--corpus NAME=DIR``: its index and the searcher every request shares (thread-safe)."""

    def __init__(self, name: str, path: Any) -> None:
        from ..index import Index
        from ..searcher import Searcher

        self.name = name
        self.searcher = Searcher(Index.open(path))
        try:
            self.searcher.passage_layers()
            self.layers_problem: str | None = None
        except IpscopeError as e:  # trace works without them; similar says why it cannot
            self.layers_problem = e.message


def pick_corpus(corpora: dict[str, Any], name: Any, *, layers: bool = False) -> Any:
    """The corpus a request names (``None``: the only one), with the error naming the fix otherwise; ``layers``:
    it must have passage layers (similar). Shared by a server's own corpora and a router's."""
    if name is None:
        if len(corpora) > 1:
            raise InputError(f"this server has {len(corpora)} corpora: say which",
                             f'give "corpus": one of {", ".join(sorted(corpora))}')
        c = next(iter(corpora.values()))
    elif not isinstance(name, str) or name not in corpora:
        raise InputError(f"no corpus {str(name)[:100]!r} on this server",
                         f'give "corpus": one of {", ".join(sorted(corpora))} (GET /v1 lists them)')
    else:
        c = corpora[name]
    if layers and c.layers_problem is not None:
        raise InputError(f"corpus {c.name} serves trace only: {c.layers_problem}",
                         "use /v1/trace on it, or ask the operator to run ipscope add-layers on its index")
    return c


class State:
    def __init__(self, config: ServiceConfig) -> None:
        from ..registry.service import Registry

        self.config = config
        self.registry = Registry.open(config.db_url)
        try:
            self.corpora = {n: Corpus(n, p) for n, p in config.corpora.items()}
            if self.corpora:
                from ..trace import TraceOptions, warm_up

                warm_up(TraceOptions())  # compiled kernels loaded now, not by the first request
        except BaseException:
            self.registry.close()
            raise
        self._auditors: OrderedDict[tuple, tuple[Any, threading.Lock]] = OrderedDict()
        self._auditors_lock = threading.Lock()
        self._wi: Any = None
        self._wi_lock = threading.Lock()
        self._wi_checked = 0.0
        self._auth: dict[str, tuple[str, float]] = {}

    def authenticate(self, key: str | None) -> str:
        """The owner of a valid key, as ``Registry.authenticate``, remembered for :data:`AUTH_TTL` seconds: the
        question endpoints (trace, similar, check, audit) then skip a database round trip per request. A
        revoked key stops working there within that second; writes check the key in their own transaction."""
        now = time.monotonic()
        hit = self._auth.get(key) if key else None
        if hit is not None and hit[1] > now:
            return hit[0]
        owner = self.registry.authenticate(key)
        if len(self._auth) > 10_000:
            self._auth.clear()
        self._auth[key] = (owner, now + AUTH_TTL)  # type: ignore[index]
        return owner

    def close(self) -> None:
        self.registry.close()

    # -- corpora

    def corpus(self, name: Any, *, layers: bool = False) -> Corpus:
        if not self.corpora:
            raise InputError("this server has no corpus index to search",
                             "start it with --corpus NAME=INDEX_DIR (ipscope serve --help)")
        return pick_corpus(self.corpora, name, layers=layers)

    # -- audit

    def auditor(self, sites: str | None, agents: tuple[str, ...], policy: str, rsl_user: str,
                region: str | None) -> tuple[Any, threading.Lock]:
        """An :class:`~ipscope.audit.Auditor` for these options, kept (16 at most) so a site's files are parsed
        once, not per request. Site files come from a ``--sites`` snapshot only: never fetched."""
        from ..audit import AuditOptions, Auditor

        if sites is not None and sites not in self.config.sites:
            raise InputError(f"no site snapshot {sites[:100]!r} on this server",
                             f'give "sites": one of {", ".join(sorted(self.config.sites)) or "(none: omit it)"}')
        k = (sites, agents, policy, rsl_user, region)
        with self._auditors_lock:
            hit = self._auditors.get(k)
            if hit is not None:
                self._auditors.move_to_end(k)
                return hit
        opts = AuditOptions(sites=self.config.sites[sites] if sites else None, fetch=False, agents=agents,
                            policy=policy, rsl_user=rsl_user, region=region)  # type: ignore[arg-type]
        entry = (Auditor(opts), threading.Lock())
        with self._auditors_lock:
            entry = self._auditors.setdefault(k, entry)
            while len(self._auditors) > 16:
                self._auditors.popitem(last=False)
        return entry

    # -- the live index of registered works

    def works_index(self) -> Any:
        """The works index, refreshed to its newest generation at most every ``refresh_interval`` seconds (a
        request that finds another refreshing goes on with the generation at hand)."""
        wi = self._wi
        if wi is None:
            with self._wi_lock:
                if self._wi is None:
                    try:
                        from ..registry.works_index import WorksIndex
                    except ImportError:
                        raise IpscopeError("this server's ipscope has no index of registered works "
                                           "(ipscope.registry.works_index)", "upgrade ipscope") from None
                    self._wi = WorksIndex.open(self.config.data)
                    self._wi_checked = time.monotonic()
                wi = self._wi
        now = time.monotonic()
        if now - self._wi_checked >= self.config.refresh_interval and self._wi_lock.acquire(blocking=False):
            try:
                wi.refresh()
                self._wi_checked = now
            finally:
                self._wi_lock.release()
        return wi
