"""What a server is given: :class:`ServiceConfig` (the ``ipscope serve`` options as one value).

It travels to worker processes as JSON (``--workers N`` starts each worker from it), so it holds only plain
values: paths, names, numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["ServiceConfig", "parse_named_dirs", "parse_shards"]


@dataclass(frozen=True)
class ServiceConfig:
    """The configuration of one ``ipscope serve``.

    ``data``: the data directory (the SQLite registry ``registry.db`` unless ``db`` names another database, and
    the live index of registered works ``works.idx``). ``corpora``: NAME -> index directory for ``/v1/trace`` and
    ``/v1/similar``; ``sites``: NAME -> site snapshot directory for ``/v1/audit``. The limits are per process
    (docs/service.md, "Limits")."""

    data: Path
    db: str | None = None
    corpora: Mapping[str, Path] = field(default_factory=dict)
    sites: Mapping[str, Path] = field(default_factory=dict)
    signup: bool = True  # POST /v1/owners open to anyone (rate-limited); False for closed deployments
    max_body_bytes: int = 16 * 1024 * 1024  # a 10 MB work (the registry's limit) in JSON, with room to spare
    max_query_chars: int = 1_000_000  # text of one trace/similar/check request (similar's own limit is lower)
    max_url_chars: int = 4096  # path + query string
    max_audit_records: int = 1000  # records of one /v1/audit request
    max_page: int = 100  # works listed per page
    rate_limit: int = 600  # requests per minute per API key (or per client address without one); 0: none
    signup_limit: int = 10  # sign-ups per hour per client address; 0: none
    refresh_interval: float = 0.1  # seconds between checks for a newer generation of the works index
    workers: int = 1  # worker processes of this server (--workers)
    engine_threads: int = 0  # trace/similar/check/audit calls run at once per process; 0: cores / workers, at least 1
    # sharded serving (docs/scale.md, "Sharded serving"): a shard server serves these shards of each corpus
    # ("0-3,7", numbered as in the manifest) on /v1/shard/...; a router (``routes``: URL, URL,URL or NAME=URL,...)
    # answers /v1/trace and /v1/similar from shard servers, waiting at most ``shard_timeout`` s for each call
    shards: str | None = None
    routes: tuple[str, ...] = ()
    shard_timeout: float = 10.0
    # a router's connections to its shard servers (one pool): at most this many shard calls are in flight, the
    # others wait for a slot before their ``shard_timeout`` starts
    shard_connections: int = 256
    # a shard server that misses its deadline is left out of the router's requests (answered at once: by a
    # replica, else partial) until it answers ``GET /v1/shard`` again: asked after ``shard_backoff`` s, then
    # after twice as long, up to 30 s (``router.SHARD_BACKOFF_MAX``); 0: no suspension, every request waits the
    # deadline
    shard_backoff: float = 1.0
    # a router answers without the shards of servers that failed ("partial": true) unless a request says
    # "allow_partial": false; False (--no-partial): a 503 problem instead unless a request says true
    allow_partial: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "corpora", {k: Path(v) for k, v in dict(self.corpora).items()})
        object.__setattr__(self, "sites", {k: Path(v) for k, v in dict(self.sites).items()})

    @property
    def db_url(self) -> str:
        """The registry database URL: ``db``, else the SQLite file in ``data``."""
        if self.db:
            return self.db
        from ..registry.service import sqlite_url

        return sqlite_url(self.data)

    def to_json(self) -> str:
        d = asdict(self)
        d["data"] = str(self.data)
        d["corpora"] = {k: str(v) for k, v in self.corpora.items()}
        d["sites"] = {k: str(v) for k, v in self.sites.items()}
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        d: dict[str, Any] = json.loads(text)
        return cls(**d)


MAX_SHARDS = 1_000_000  # a --shards range past this is a typo (docs/scale.md's 10T-token index has 8,005)


def parse_shards(spec: str, n_shards: int | None = None, option: str = "--shards") -> list[int]:
    """``0-3,7`` as the sorted shard numbers [0, 1, 2, 3, 7]; with ``n_shards`` (the manifest's) each must be
    below it. A number given twice, a reversed range or anything else is an error naming the fix."""
    out: list[int] = []
    fix = f"give shard numbers as in the index's manifest, e.g. {option} 0-3,7 (0 is the first shard)"
    for part in spec.split(","):
        part = part.strip()
        a, sep, b = part.partition("-")
        try:
            lo, hi = (int(a), int(b)) if sep else (int(a), int(a))
        except ValueError:
            raise InputError(f"{option} {spec!r}: {part!r} is not a shard number or a range A-B", fix) from None
        if lo < 0 or hi < lo:
            raise InputError(f"{option} {spec!r}: {part!r} is not a range of shard numbers (from low to high)", fix)
        if n_shards is not None and hi >= n_shards or hi >= MAX_SHARDS:
            n = n_shards if n_shards is not None else MAX_SHARDS
            raise InputError(f"{option} {spec!r}: shard {hi} does not exist: the index has {n} shard(s), "
                             f"numbered 0 to {n - 1}" if n_shards is not None else
                             f"{option} {spec!r}: shard {hi} is past the {MAX_SHARDS:,} shards an index can have", fix)
        out.extend(range(lo, hi + 1))
    seen: set[int] = set()
    dup = sorted({i for i in out if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dup:
        raise InputError(f"{option} {spec!r}: shard(s) {', '.join(map(str, dup))} given twice", fix)
    return sorted(out)


def parse_named_dirs(values: Iterable[str], option: str) -> dict[str, Path]:
    """``NAME=DIR`` arguments (``--corpus books=books.idx``) as a mapping; a bare DIR is named by its last part."""
    out: dict[str, Path] = {}
    for v in values:
        name, sep, d = v.partition("=")
        if not sep:
            name, d = Path(v).name.removesuffix(".idx") or v, v
        name = name.strip()
        if not name or not d:
            raise InputError(f"{option} {v!r}: not NAME=DIR", f"give e.g. {option} books=books.idx")
        if name in out:
            raise InputError(f"{option}: the name {name!r} is given twice", "give each a name of its own")
        if not Path(d).is_dir():
            raise InputError(f"{option} {v!r}: {d} is not a directory", f"give an existing directory after {name}=")
        out[name] = Path(d)
    return out
