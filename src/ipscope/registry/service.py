"""The registry: owners and their API keys, works, reservations, their history, and a receipt for every
registration and change, over SQLAlchemy (a SQLite file by default, PostgreSQL by URL).

    reg = Registry.open_data("data/")                 # or Registry.open("postgresql+psycopg://...")
    key = reg.create_key("alice").key                 # shown once; only its SHA-256 is stored
    r = reg.register(key, title="Essay", text="...", reservations={"train-ai": "n"})
    r.receipt.dumps()                                 # checks offline: ipscope verify (docs/proof.md)
    reg.work(r.work.id)                               # anyone: metadata, hashes, reservations
    reg.text(key, r.work.id)                          # the owner only

Each write is one database transaction: the work row, its event row (the signed statement, the history) and
the log leaf with the subtree hashes it completes; the receipt is made inside it (its checkpoint covers the
tree up to this leaf) and returned after the commit, so an acknowledged registration is in database and log.
Writers are serialised: a lock in the process, and on PostgreSQL a transaction-scoped advisory lock across
processes (SQLite serialises writers itself; a writer that loses the race for a leaf index retries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..errors import InputError, IpscopeError
from . import exports as _exports
from .dbstore import DbStore
from .merkle import MerkleLog, leaf_hash
from .models import ApiKey, Event, LogKey, LogNode, Owner, Work
from .note import Signer, VerifierKey
from .receipt import Receipt, Statement, format_time, receipt_for
from .reservations import check_reservations

if TYPE_CHECKING:
    from .check import CheckReport

__all__ = ["Registry", "RegistryError", "AuthError", "NotFoundError", "ForbiddenError", "NewKey", "WorkInfo",
           "Registration", "HistoryEntry", "LogEntry", "iscc_text_code", "sqlite_url", "LIMITS"]

KEY_PREFIX: Final = "ipk_"
DEFAULT_ORIGIN: Final = "ipscope.local/registry"
_ADVISORY_LOCK: Final = 0x1950_1ca7  # pg_advisory_xact_lock key of the registry's writers


@dataclass(frozen=True)
class Limits:
    title_chars: int = 1000
    text_bytes: int = 10_000_000
    meta_bytes: int = 65_536
    urls: int = 100
    url_chars: int = 2048
    owner_chars: int = 200


LIMITS: Final = Limits()


class RegistryError(IpscopeError):
    """A request the registry refuses; the message says why and ``fix`` what to do."""


class AuthError(RegistryError):
    """No key, an unknown key, a wrong secret, or a revoked key."""


class ForbiddenError(RegistryError):
    """A valid key that is not the work owner's."""


class NotFoundError(RegistryError):
    """No such work (or it was withdrawn)."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class NewKey:
    """A new API key: ``key`` is shown once (only its hash is stored)."""

    owner_id: str
    owner: str
    key_id: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class WorkInfo:
    """What anyone may read about a work: everything but its text."""

    id: str
    owner_id: str
    owner: str
    title: str
    meta: Mapping[str, Any]
    urls: tuple[str, ...]
    content_sha256: str
    iscc: str
    reservations: Mapping[str, str]
    created: str
    updated: str
    deleted: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner_id": self.owner_id, "owner": self.owner, "title": self.title,
                "meta": dict(self.meta), "urls": list(self.urls), "content_sha256": self.content_sha256,
                "iscc": self.iscc, "reservations": dict(self.reservations), "created": self.created,
                "updated": self.updated, "deleted": self.deleted}


@dataclass(frozen=True)
class Registration:
    """The answer to a write: the work as it now stands and the receipt of the statement logged for it."""

    work: WorkInfo
    receipt: Receipt


@dataclass(frozen=True)
class LogEntry:
    """One leaf of the log as the works index applies it: its index, the event and the work it is about."""

    leaf_index: int
    event: str  # register, reservations, delete
    work_id: str


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a work's history: the event, its time, and the statement as logged at ``leaf_index``."""

    leaf_index: int
    event: str
    time: str
    statement: Mapping[str, Any]


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:  # SQLite hands back naive datetimes: they were stored as UTC
        t = t.replace(tzinfo=timezone.utc)
    return format_time(t)


def _ms(t: datetime) -> datetime:
    """The time to milliseconds, as the statement carries it."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def iscc_text_code(text: str) -> str:
    """The ISO 24138 ISCC Text-Code (ISCC-CODE unit of type Content/Text) of ``text``, from ``iscc-core``."""
    try:
        import iscc_core
    except ImportError:
        from ..errors import MissingExtraError

        raise MissingExtraError("service", "iscc-core") from None
    return str(iscc_core.gen_text_code_v0(text)["iscc"])


def sqlite_url(data: str | Path) -> str:
    d = Path(data)
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(d / 'registry.db').resolve()}"


def _redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 — a URL SQLAlchemy cannot read at all: say it as given, without a password
        return url.split("@")[-1]


def _check_text(value: Any, what: str, limit: int, *, bytes_limit: bool = False) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} is a {type(value).__name__}, not a string", f"give the {what} as text")
    n = len(value.encode("utf-8")) if bytes_limit else len(value)
    if n > limit:
        unit = "bytes" if bytes_limit else "characters"
        raise InputError(f"{what} has {n:,} {unit}, over the limit of {limit:,}",
                         f"shorten the {what} to at most {limit:,} {unit}")
    return value


def _check_urls(urls: Any) -> tuple[str, ...]:
    if urls is None:
        return ()
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise InputError("urls is not a list of URLs", 'give e.g. ["https://example.com/essay.html"]')
    if len(urls) > LIMITS.urls:
        raise InputError(f"{len(urls)} URLs, over the limit of {LIMITS.urls}", "list the pages that publish the work")
    out = []
    for i, u in enumerate(urls):
        if not isinstance(u, str) or len(u) > LIMITS.url_chars:
            raise InputError(f"urls[{i}] is not a URL of at most {LIMITS.url_chars} characters", "give http(s) URLs")
        try:
            parts = urlsplit(u)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"urls[{i}] {u[:100]!r} is not an http(s) URL with a host",
                             "give the full address where the work is published, e.g. https://example.com/essay")
        out.append(u)
    return tuple(out)


def _check_meta(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InputError("meta is not a JSON object", 'give e.g. {"author": "A. Writer", "year": 2026}')
    try:
        raw = json.dumps(dict(meta), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InputError(f"meta is not JSON: {e}", "give only strings, numbers, booleans, lists and objects") from None
    if len(raw.encode("utf-8")) > LIMITS.meta_bytes:
        raise InputError(f"meta has {len(raw.encode()):,} bytes of JSON, over the limit of {LIMITS.meta_bytes:,}",
                         "keep metadata short; put the rest on the work's pages")
    return json.loads(raw)


def _tokens(text_: str) -> int:
    from ..text import tokenize

    return len(tokenize(text_).starts)


# --------------------------------------------------------------------------- the registry


class Registry:
    """The registry over one database. Thread-safe; several processes may share a PostgreSQL database."""

    def __init__(self, engine: Engine, signer: Signer) -> None:
        self.engine = engine
        self.signer = signer
        self._lock = threading.Lock()

    # -- opening

    @classmethod
    def open(cls, url: str, *, origin: str = DEFAULT_ORIGIN) -> Registry:
        """Open (and create or migrate) the registry database at ``url``: ``sqlite:///path`` or
        ``postgresql+psycopg://user@host:port/db`` (``postgresql://`` is read as psycopg 3)."""
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        kw: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif url.startswith("postgresql"):
            kw["connect_args"] = {"connect_timeout": 10}
            kw["pool_pre_ping"] = True
        try:
            engine = create_engine(url, **kw)
        except Exception as e:  # noqa: BLE001 — an unknown dialect, a malformed URL, a missing driver
            raise InputError(f"cannot use database URL {_redact(url)}: {e}",
                             "give sqlite:///PATH or postgresql://USER@HOST:PORT/DB (the ipscope[service] extra "
                             "installs the PostgreSQL driver), or use --data DIR for a SQLite file") from None
        if url.startswith("sqlite"):
            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
                dbapi_conn.isolation_level = None  # SQLAlchemy's recipe: we emit BEGIN ourselves (below)
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn: Connection) -> None:  # a writer takes the write lock at BEGIN (no failed upgrade)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as e:
            engine.dispose()
            reason = str(getattr(e, "orig", e)).strip().splitlines()[0] if str(getattr(e, "orig", e)).strip() else e
            raise InputError(f"cannot reach the registry database {_redact(url)}: {reason}",
                             "start the database (for a test cluster: scripts/postgres.sh start) and check host, "
                             "port, user and database name in --db; or use --data DIR for a SQLite file") from None
        _migrate(engine)
        return cls(engine, _signer(engine, origin))

    @classmethod
    def open_data(cls, data: str | Path, *, origin: str = DEFAULT_ORIGIN) -> Registry:
        """The embedded default: a SQLite file ``registry.db`` in the directory ``data``."""
        return cls.open(sqlite_url(data), origin=origin)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def public_key(self) -> VerifierKey:
        """The log's verifier key (what ``ipscope verify --key`` reads)."""
        return self.signer.verifier

    # -- writing transactions

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, self.engine.connect() as c:
            conn = c.execution_options(immediate=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
                yield conn

    def _retrying(self, fn: Any) -> Any:
        for attempt in range(5):
            try:
                return fn()
            except IntegrityError:  # another process took the leaf index between our read and insert
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    # -- owners and keys

    def create_key(self, owner: str) -> NewKey:
        """A new API key for ``owner`` (created when new). The key is ``ipk_<id>_<secret>``: the id finds the
        row, the 256-bit secret is stored as its SHA-256 only."""
        name = _check_text(owner, "owner name", LIMITS.owner_chars).strip()
        if not name:
            raise InputError("the owner name is empty", "give --owner NAME")
        key_id = secrets.token_hex(8)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
        now = _now()
        with self._write() as conn:
            oid = conn.execute(select(Owner.id).where(Owner.name == name)).scalar()
            if oid is None:
                oid = secrets.token_hex(8)
                conn.execute(insert(Owner).values(id=oid, name=name, created=now))
            conn.execute(insert(ApiKey).values(id=key_id, owner_id=oid, created=now,
                                               secret_sha256=hashlib.sha256(secret.encode()).hexdigest()))
        return NewKey(oid, name, key_id, f"{KEY_PREFIX}{key_id}_{secret}")

    def revoke_key(self, key_or_id: str) -> str:
        """Revoke a key (given whole, or by its id ``ipk_<id>`` / ``<id>``); returns the key id."""
        kid = key_or_id.strip()
        if kid.startswith(KEY_PREFIX):
            kid = kid[len(KEY_PREFIX):]
        kid = kid.split("_", 1)[0]
        with self._write() as conn:
            row = conn.execute(select(ApiKey.id, ApiKey.revoked).where(ApiKey.id == kid)).first()
            if row is None:
                raise NotFoundError(f"no API key with id {kid!r}",
                                    "give the key, or the id between 'ipk_' and the second '_'")
            if row.revoked is None:
                conn.execute(update(ApiKey).where(ApiKey.id == kid).values(revoked=_now()))
        return kid

    def authenticate(self, key: str | None, conn: Connection | None = None) -> str:
        """The owner id of a valid key, else :class:`AuthError`."""
        fix = "give the API key `ipscope keys create` printed (ipk_<id>_<secret>)"
        if not key:
            raise AuthError("no API key", fix)
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or key.count("_") < 2:
            raise AuthError("the API key is not in the form ipk_<id>_<secret>", fix)
        kid, _, secret = key[len(KEY_PREFIX):].partition("_")
        q = select(ApiKey.owner_id, ApiKey.secret_sha256, ApiKey.revoked).where(ApiKey.id == kid)
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(q).first()
        else:
            row = conn.execute(q).first()
        digest = hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
        if row is None or not hmac.compare_digest(digest, row.secret_sha256):
            raise AuthError("the API key is not valid", fix)
        if row.revoked is not None:
            raise AuthError("the API key was revoked", "create a new key: ipscope keys create --owner NAME")
        return str(row.owner_id)

    # -- reading

    def _work_row(self, conn: Connection, work_id: str, *, deleted_ok: bool = False) -> Any:
        row = conn.execute(select(Work, Owner.name.label("owner_name")).join(Owner, Owner.id == Work.owner_id)
                           .where(Work.id == work_id)).first()
        if row is None or (row.deleted is not None and not deleted_ok):
            raise NotFoundError(f"no work {work_id!r} in the registry" + (" (it was withdrawn)" if row else ""),
                                "check the work id the registration returned")
        return row

    @staticmethod
    def _info(row: Any) -> WorkInfo:
        return WorkInfo(row.id, row.owner_id, row.owner_name, row.title, json.loads(row.meta_json),
                        tuple(json.loads(row.urls_json)), row.content_sha256, row.iscc,
                        json.loads(row.reservations_json), _iso(row.created) or "", _iso(row.updated) or "",
                        _iso(row.deleted))

    def work(self, work_id: str) -> WorkInfo:
        """A work's public record (anyone): metadata, hashes, reservations; not its text."""
        with self.engine.connect() as conn:
            return self._info(self._work_row(conn, work_id))

    def text(self, key: str | None, work_id: str) -> str:
        """A work's text: its owner only."""
        with self.engine.connect() as conn:
            owner = self.authenticate(key, conn)
            row = self._work_row(conn, work_id)
            if row.owner_id != owner:
                raise ForbiddenError(f"work {work_id} belongs to another owner: only its owner reads its text",
                                     "use the key of the owner who registered it")
            return str(row.text)

    def works(self, owner_id: str | None = None, limit: int = 100, offset: int = 0) -> tuple[WorkInfo, ...]:
        """Works in registration order (not withdrawn), optionally one owner's."""
        q = (select(Work, Owner.name.label("owner_name")).join(Owner, Owner.id == Work.owner_id)
             .where(Work.deleted.is_(None)).order_by(Work.created, Work.id).limit(limit).offset(offset))
        if owner_id is not None:
            q = q.where(Work.owner_id == owner_id)
        with self.engine.connect() as conn:
            return tuple(self._info(r) for r in conn.execute(q))

    def history(self, work_id: str) -> tuple[HistoryEntry, ...]:
        """Every logged event of a work, oldest first (withdrawn works too: the log keeps the history)."""
        with self.engine.connect() as conn:
            self._work_row(conn, work_id, deleted_ok=True)
            rows = conn.execute(select(Event).where(Event.work_id == work_id).order_by(Event.leaf_index)).all()
        return tuple(HistoryEntry(r.leaf_index, r.event, _iso(r.time) or "", json.loads(bytes(r.statement)))
                     for r in rows)

    def export(self, work_id: str, fmt: str) -> _exports.Export:
        """A work's reservations in one standard: ``tdmrep``, ``rsl``, ``robots`` or ``cawg`` (anyone)."""
        w = self.work(work_id)
        return _exports.export(fmt, w.reservations, w.urls)

    # -- writing

    def _log(self, conn: Connection, st: Statement) -> Receipt:
        """Append the statement to the log and the history in this transaction; the receipt for it."""
        data = st.canonical()
        sig = self.signer.sign(data)
        log = MerkleLog(DbStore(conn))
        index = log.append(leaf_hash(data))
        conn.execute(insert(Event).values(work_id=st.work_id, event=st.event, statement=data, signature=sig,
                                          leaf_index=index, time=datetime.fromisoformat(st.time[:-1] + "+00:00")))
        return receipt_for(st, sig, index, log, self.signer, index + 1)

    def register(self, key: str | None, *, title: str, text: str, urls: Sequence[str] | None = None,
                 meta: Mapping[str, Any] | None = None, reservations: Mapping[str, str] | None = None
                 ) -> Registration:
        """Register a work for the key's owner; the receipt is returned once the commit holds its log leaf."""
        title = _check_text(title, "title", LIMITS.title_chars).strip()
        if not title:
            raise InputError("the title is empty", "give the work a title")
        body = _check_text(text, "text", LIMITS.text_bytes, bytes_limit=True)
        if _tokens(body) == 0:
            raise InputError("the text has no words (0 tokens): there is nothing to register or match",
                             "give the work's text")
        url_list, meta_d = _check_urls(urls), _check_meta(meta)
        res = check_reservations(reservations)
        sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
        iscc = iscc_text_code(body)

        def run() -> Registration:
            with self._write() as conn:
                owner = self.authenticate(key, conn)
                oname = conn.execute(select(Owner.name).where(Owner.id == owner)).scalar_one()
                now = _ms(_now())
                wid = secrets.token_hex(8)
                conn.execute(insert(Work).values(
                    id=wid, owner_id=owner, title=title, text=body, meta_json=json.dumps(meta_d, ensure_ascii=False),
                    urls_json=json.dumps(list(url_list)), content_sha256=sha, iscc=iscc,
                    reservations_json=json.dumps(res), created=now, updated=now))
                st = Statement(wid, sha, iscc, owner, res, format_time(now), "register")
                receipt = self._log(conn, st)
                info = WorkInfo(wid, owner, oname, title, meta_d, url_list, sha, iscc, res, format_time(now),
                                format_time(now))
            return Registration(info, receipt)

        return self._retrying(run)

    def _owned(self, conn: Connection, key: str | None, work_id: str) -> Any:
        owner = self.authenticate(key, conn)
        row = self._work_row(conn, work_id)
        if row.owner_id != owner:
            raise ForbiddenError(f"work {work_id} belongs to another owner", "use the key of its owner")
        return row

    def set_reservations(self, key: str | None, work_id: str, reservations: Mapping[str, str]) -> Registration:
        """Replace a work's reservations (owner only); logged with event ``reservations``."""
        res = check_reservations(reservations)

        def run() -> Registration:
            with self._write() as conn:
                row = self._owned(conn, key, work_id)
                now = _ms(_now())
                conn.execute(update(Work).where(Work.id == work_id)
                             .values(reservations_json=json.dumps(res), updated=now))
                st = Statement(work_id, row.content_sha256, row.iscc, row.owner_id, res, format_time(now),
                               "reservations")
                receipt = self._log(conn, st)
                info = self._info(self._work_row(conn, work_id))
            return Registration(info, receipt)

        return self._retrying(run)

    def delete(self, key: str | None, work_id: str) -> Registration:
        """Withdraw a work (owner only): it is no longer served, its text is erased, the log keeps its history."""

        def run() -> Registration:
            with self._write() as conn:
                row = self._owned(conn, key, work_id)
                now = _ms(_now())
                conn.execute(update(Work).where(Work.id == work_id).values(deleted=now, updated=now, text=""))
                st = Statement(work_id, row.content_sha256, row.iscc, row.owner_id,
                               json.loads(row.reservations_json), format_time(now), "delete")
                receipt = self._log(conn, st)
                info = self._info(self._work_row(conn, work_id, deleted_ok=True))
            return Registration(info, receipt)

        return self._retrying(run)

    # -- the log

    def checkpoint(self) -> str:
        """A signed checkpoint of the whole log now."""
        from .note import Checkpoint, sign_checkpoint

        with self.engine.connect() as conn:
            log = MerkleLog(DbStore(conn))
            return sign_checkpoint(Checkpoint(self.signer.name, log.size, log.root()), self.signer)

    def receipt(self, leaf_index: int, tree_size: int | None = None) -> Receipt:
        """The receipt of a logged statement, with a checkpoint of ``tree_size`` leaves (default: all)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(Event).where(Event.leaf_index == leaf_index)).first()
            if row is None:
                raise NotFoundError(f"no statement at leaf {leaf_index}", "give a leaf index a receipt names")
            st = Statement.from_json(json.loads(bytes(row.statement)), f"leaf {leaf_index}")
            return receipt_for(st, bytes(row.signature), leaf_index, MerkleLog(DbStore(conn)), self.signer,
                               tree_size)

    def log_size(self) -> int:
        """How many leaves the log holds (statements committed so far)."""
        with self.engine.connect() as conn:
            return DbStore(conn).size()

    def log_entries(self, start: int, limit: int = 1000) -> tuple[LogEntry, ...]:
        """The log's leaves from leaf ``start`` on, oldest first, at most ``limit``: what the works index
        (``ipscope.registry.works_index``) applies after its position. Committed leaves only: a leaf is visible
        with the commit that wrote it, and writers commit in leaf order."""
        q = (select(Event.leaf_index, Event.event, Event.work_id).where(Event.leaf_index >= start)
             .order_by(Event.leaf_index).limit(limit))
        with self.engine.connect() as conn:
            return tuple(LogEntry(int(r.leaf_index), str(r.event), str(r.work_id)) for r in conn.execute(q))

    def leaf_hash(self, leaf_index: int) -> bytes | None:
        """The stored hash of leaf ``leaf_index`` (RFC 9162 ``SHA-256(0x00 || statement)``), None when the log
        has no such leaf: what the works index records of the last leaf it applied, to know its log again."""
        with self.engine.connect() as conn:
            h = conn.execute(select(LogNode.hash).where(LogNode.level == 0, LogNode.idx == leaf_index)).scalar()
        return None if h is None else bytes(h)

    def index_texts(self, work_ids: Sequence[str]) -> dict[str, str]:
        """The texts of the works ``work_ids`` that are not withdrawn, for the works index. Not for clients: it
        reads texts without an owner's key (``text`` is the owners' way in); only the indexer calls it."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(work_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):  # bounded IN lists
                q = select(Work.id, Work.text).where(Work.id.in_(ids[i : i + 500]), Work.deleted.is_(None))
                out.update((str(r.id), str(r.text)) for r in conn.execute(q))
        return out

    def works_by_id(self, work_ids: Sequence[str]) -> dict[str, WorkInfo]:
        """The public records of the works ``work_ids`` that exist and are not withdrawn, by id (one query)."""
        out: dict[str, WorkInfo] = {}
        ids = list(dict.fromkeys(work_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = (select(Work, Owner.name.label("owner_name")).join(Owner, Owner.id == Work.owner_id)
                     .where(Work.id.in_(ids[i : i + 500]), Work.deleted.is_(None)))
                out.update((r.id, self._info(r)) for r in conn.execute(q))
        return out

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        with self.engine.connect() as conn:
            return MerkleLog(DbStore(conn)).consistency_proof(old_size, new_size)

    def check(self, works_index: str | Path | None = None) -> "CheckReport":
        """Compare database and log, and the works index at ``works_index`` (``DATA/works.idx``) when given: see
        :func:`ipscope.registry.check.check`."""
        from .check import check

        return check(self, works_index)


def _migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # several workers starting at once migrate one after another
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK + 1})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _signer(engine: Engine, origin: str) -> Signer:
    """The log's key, made on first open and kept in ``log_key`` (docs/registry.md says why and how to rotate)."""
    with engine.begin() as conn:
        row = conn.execute(select(LogKey.skey).where(LogKey.id == 1)).first()
        if row is not None:
            return Signer.parse(row.skey)
    signer = Signer.generate(origin)
    try:
        with engine.begin() as conn:
            conn.execute(insert(LogKey).values(id=1, skey=signer.skey(), vkey=str(signer.verifier)))
    except IntegrityError:  # another process made it first
        pass
    with engine.connect() as conn:
        return Signer.parse(conn.execute(select(LogKey.skey).where(LogKey.id == 1)).scalar_one())

