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
from ..messages import Message, error
from . import exports as _exports
from .dbstore import DbStore
from .merkle import MerkleLog, leaf_hash
from .models import ApiKey, Event, LogKey, LogNode, Owner, Work
from .note import Checkpoint, Signer, VerifierKey, sign_checkpoint
from .receipt import Receipt, Statement, format_time, receipt_for
from .reservations import check_reservations

if TYPE_CHECKING:
    from .check import CheckReport

__all__ = ["Registry", "RegistryError", "AuthError", "NotFoundError", "ForbiddenError", "ConflictError", "NewKey",
           "WorkInfo", "Registration", "NewWork", "Prepared", "HistoryEntry", "LogEntry", "iscc_text_code", "sqlite_url", "LIMITS"]

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


class ConflictError(RegistryError):
    """A name that is taken (sign-up of an owner that exists)."""


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
class NewWork:
    """One registration request (``Registry.register_many``): the arguments of ``Registry.register``."""

    key: str | None = field(repr=False)
    title: str
    text: str = field(repr=False)
    urls: Sequence[str] | None = None
    meta: Mapping[str, Any] | None = None
    reservations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Prepared:
    """A registration request checked, hashed and coded (``Registry.prepare``), ready to be committed."""

    key: str | None = field(repr=False)
    title: str
    text: str = field(repr=False)
    urls: tuple[str, ...]
    meta: dict[str, Any]
    reservations: dict[str, str]
    content_sha256: str
    iscc: str


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


def iscc_text_code(text: str, bits: int = 64) -> str:
    """The ISO 24138 ISCC Text-Code (ISCC-CODE unit of type Content/Text; the registry's are 64 bits) of ``text``.

    From ``iscc-lib`` (the ISCC Foundation's Rust implementation: ~3 ms for 10 KB of text) when it is installed,
    else from ``iscc-core`` (the Python reference: ~100 ms for the same text on this machine's cores). Both give
    the same code (tests/test_registry_iscc.py runs the ISCC conformance vectors through this function)."""
    try:
        import iscc_lib
    except ImportError:
        try:
            import iscc_core
        except ImportError:
            from ..errors import MissingExtraError

            raise MissingExtraError("service", "iscc-lib") from None
        return str(iscc_core.gen_text_code_v0(text, bits)["iscc"])
    return str(iscc_lib.gen_text_code_v0(text, bits)["iscc"])


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


_FIELD_CODES = {"owner name": "registry.field.owner_name", "title": "registry.field.title",
                "text": "registry.field.text"}


def _check_text(value: Any, what: str, limit: int, *, bytes_limit: bool = False) -> str:
    name = Message(_FIELD_CODES[what])
    if not isinstance(value, str):
        raise error(InputError, "registry.field.not_string", what=name, type=type(value).__name__)
    n = len(value.encode("utf-8")) if bytes_limit else len(value)
    if n > limit:
        unit = Message("registry.unit.bytes" if bytes_limit else "registry.unit.characters")
        raise error(InputError, "registry.field.too_long", what=name, n=n, unit=unit, limit=limit)
    return value


def _check_urls(urls: Any) -> tuple[str, ...]:
    if urls is None:
        return ()
    if isinstance(urls, str) or not isinstance(urls, Sequence):
        raise error(InputError, "registry.urls.not_list")
    if len(urls) > LIMITS.urls:
        raise error(InputError, "registry.urls.too_many", n=len(urls), limit=LIMITS.urls)
    out = []
    for i, u in enumerate(urls):
        if not isinstance(u, str) or len(u) > LIMITS.url_chars:
            raise error(InputError, "registry.urls.too_long", i=i, limit=LIMITS.url_chars)
        try:
            parts = urlsplit(u)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise error(InputError, "registry.urls.not_http", i=i, url=u[:100])
        out.append(u)
    return tuple(out)


def _check_meta(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise error(InputError, "registry.meta.not_object")
    try:
        raw = json.dumps(dict(meta), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise error(InputError, "registry.meta.not_json", error=str(e)) from None
    if len(raw.encode("utf-8")) > LIMITS.meta_bytes:
        raise error(InputError, "registry.meta.too_large", n=len(raw.encode()), limit=LIMITS.meta_bytes)
    return json.loads(raw)


def _insert_key(conn: Connection, owner_id: str, owner: str, now: datetime) -> NewKey:
    """A new key row for the owner (its 256-bit secret stored as SHA-256 only); the key, to be shown once."""
    key_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    conn.execute(insert(ApiKey).values(id=key_id, owner_id=owner_id, created=now,
                                       secret_sha256=hashlib.sha256(secret.encode()).hexdigest()))
    return NewKey(owner_id, owner, key_id, f"{KEY_PREFIX}{key_id}_{secret}")


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
            raise error(InputError, "registry.db.bad_url", url=_redact(url), error=str(e)) from None
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
            raise error(InputError, "registry.db.unreachable", url=_redact(url), reason=str(reason)) from None
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
            raise error(InputError, "registry.owner.empty")
        now = _now()
        with self._write() as conn:
            oid = conn.execute(select(Owner.id).where(Owner.name == name)).scalar()
            if oid is None:
                oid = secrets.token_hex(8)
                conn.execute(insert(Owner).values(id=oid, name=name, created=now))
            return _insert_key(conn, oid, name, now)

    def create_owner(self, owner: str) -> NewKey:
        """Sign-up: a NEW owner and its first key; :class:`ConflictError` when the name is taken (an open
        sign-up must not hand out keys of an existing owner: ``create_key`` does that, for the operator)."""
        name = _check_text(owner, "owner name", LIMITS.owner_chars).strip()
        if not name:
            raise error(InputError, "registry.signup.name_empty")
        now = _now()
        oid = secrets.token_hex(8)
        try:
            with self._write() as conn:
                if conn.execute(select(Owner.id).where(Owner.name == name)).first() is not None:
                    raise ConflictError(f"the owner name {name!r} is taken", "choose another name")
                conn.execute(insert(Owner).values(id=oid, name=name, created=now))
                key = _insert_key(conn, oid, name, now)
        except IntegrityError:  # the unique name, taken by another process between our check and insert
            raise ConflictError(f"the owner name {name!r} is taken", "choose another name") from None
        return key

    def revoke_key(self, key_or_id: str) -> str:
        """Revoke a key (given whole, or by its id ``ipk_<id>`` / ``<id>``); returns the key id."""
        kid = key_or_id.strip()
        if kid.startswith(KEY_PREFIX):
            kid = kid[len(KEY_PREFIX):]
        kid = kid.split("_", 1)[0]
        with self._write() as conn:
            row = conn.execute(select(ApiKey.id, ApiKey.revoked).where(ApiKey.id == kid)).first()
            if row is None:
                raise error(NotFoundError, "registry.key.unknown_id", id=kid)
            if row.revoked is None:
                conn.execute(update(ApiKey).where(ApiKey.id == kid).values(revoked=_now()))
        return kid

    def authenticate(self, key: str | None, conn: Connection | None = None) -> str:
        """The owner id of a valid key, else :class:`AuthError`."""
        if not key:
            raise error(AuthError, "registry.key.missing")
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or key.count("_") < 2:
            raise error(AuthError, "registry.key.malformed")
        kid, _, secret = key[len(KEY_PREFIX):].partition("_")
        q = select(ApiKey.owner_id, ApiKey.secret_sha256, ApiKey.revoked).where(ApiKey.id == kid)
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(q).first()
        else:
            row = conn.execute(q).first()
        digest = hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
        if row is None or not hmac.compare_digest(digest, row.secret_sha256):
            raise error(AuthError, "registry.key.invalid")
        if row.revoked is not None:
            raise error(AuthError, "registry.key.revoked")
        return str(row.owner_id)

    def owner_name(self, owner_id: str) -> str | None:
        """The name of an owner (what the pages show a signed-in reader), or None when there is no such owner."""
        with self.engine.connect() as c:
            name = c.execute(select(Owner.name).where(Owner.id == owner_id)).scalar()
        return None if name is None else str(name)

    # -- reading

    def _work_row(self, conn: Connection, work_id: str, *, deleted_ok: bool = False) -> Any:
        row = conn.execute(select(Work, Owner.name.label("owner_name")).join(Owner, Owner.id == Work.owner_id)
                           .where(Work.id == work_id)).first()
        if row is None or (row.deleted is not None and not deleted_ok):
            raise error(NotFoundError, "registry.work.withdrawn" if row else "registry.work.not_found", id=work_id)
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
                raise error(ForbiddenError, "registry.work.text_forbidden", id=work_id)
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

    def find_works(self, *, owner: str | None = None, q: str | None = None, limit: int = 20,
                   offset: int = 0) -> tuple[WorkInfo, ...]:
        """Works not withdrawn, in registration order: ``owner`` (an owner's id or name) only, and with ``q``
        only those whose title contains ``q`` (case-insensitively). What ``GET /v1/works?owner=&q=`` lists."""
        query = (select(Work, Owner.name.label("owner_name")).join(Owner, Owner.id == Work.owner_id)
                 .where(Work.deleted.is_(None)).order_by(Work.created, Work.id).limit(limit).offset(offset))
        if owner:
            query = query.where((Work.owner_id == owner) | (Owner.name == owner))
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(Work.title.ilike(pattern, escape="\\"))
        with self.engine.connect() as conn:
            return tuple(self._info(r) for r in conn.execute(query))

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
        got = self.register_many([NewWork(key, title, text, urls, meta, reservations)])[0]
        if isinstance(got, IpscopeError):
            raise got
        return got

    def prepare(self, w: NewWork) -> Prepared:
        """Check, hash and code a request outside any transaction (a server does it in the request's own thread,
        while the previous batch commits); raises the InputError that names what is wrong."""
        title = _check_text(w.title, "title", LIMITS.title_chars).strip()
        if not title:
            raise error(InputError, "registry.title.empty")
        body = _check_text(w.text, "text", LIMITS.text_bytes, bytes_limit=True)
        if _tokens(body[:2000]) == 0 and _tokens(body) == 0:  # a word in the first 2,000 characters is enough
            raise error(InputError, "registry.text.no_words")
        url_list, meta_d = _check_urls(w.urls), _check_meta(w.meta)
        res = check_reservations(w.reservations)
        return Prepared(w.key, title, body, url_list, meta_d, res, hashlib.sha256(body.encode("utf-8")).hexdigest(),
                        iscc_text_code(body))

    def register_many(self, works: Sequence[NewWork | Prepared]) -> list[Registration | IpscopeError]:
        """Register several works in one transaction: one commit (one fsync) for all, each with its own log leaf,
        their receipts sharing one checkpoint that covers them all. Each request is answered in its place: its
        Registration, or the error (bad input, a key that is not valid) that kept it out; the others are
        registered all the same. Every Registration returned is committed (the server acknowledges them after
        this returns: docs/service.md, "Registrations in batches")."""
        out: list[Registration | IpscopeError | None] = [None] * len(works)
        ready: list[tuple[int, Prepared]] = []
        for i, w in enumerate(works):
            try:
                ready.append((i, w if isinstance(w, Prepared) else self.prepare(w)))
            except IpscopeError as e:
                out[i] = e

        def run() -> dict[int, Registration | IpscopeError]:
            got: dict[int, Registration | IpscopeError] = {}
            with self._write() as conn:
                owners: dict[str | None, tuple[str, str] | AuthError] = {}
                work_rows: list[dict[str, Any]] = []
                logged: list[tuple[int, Statement, bytes, int, WorkInfo]] = []
                log = MerkleLog(DbStore(conn))
                for i, p in ready:
                    key, title, body, url_list, meta_d = p.key, p.title, p.text, p.urls, p.meta
                    res, sha, iscc = p.reservations, p.content_sha256, p.iscc
                    if key not in owners:
                        try:
                            oid = self.authenticate(key, conn)
                            owners[key] = (oid, conn.execute(select(Owner.name).where(Owner.id == oid)).scalar_one())
                        except AuthError as e:
                            owners[key] = e
                    who = owners[key]
                    if isinstance(who, AuthError):
                        got[i] = who
                        continue
                    owner, oname = who
                    now = _ms(_now())
                    wid = secrets.token_hex(8)
                    work_rows.append(dict(
                        id=wid, owner_id=owner, title=title, text=body, meta_json=json.dumps(meta_d, ensure_ascii=False),
                        urls_json=json.dumps(list(url_list)), content_sha256=sha, iscc=iscc,
                        reservations_json=json.dumps(res), created=now, updated=now))
                    st = Statement(wid, sha, iscc, owner, res, format_time(now), "register")
                    data = st.canonical()
                    logged.append((i, st, self.signer.sign(data), log.append(leaf_hash(data)),
                                   WorkInfo(wid, owner, oname, title, meta_d, url_list, sha, iscc, res,
                                            format_time(now), format_time(now))))
                if work_rows:
                    conn.execute(insert(Work), work_rows)
                    conn.execute(insert(Event), [
                        dict(work_id=st.work_id, event=st.event, statement=st.canonical(), signature=sig,
                             leaf_index=index, time=datetime.fromisoformat(st.time[:-1] + "+00:00"))
                        for _i, st, sig, index, _w in logged])
                    size = log.size
                    cp = sign_checkpoint(Checkpoint(self.signer.name, size, log.root(size)), self.signer)
                    for i, st, sig, index, info in logged:
                        got[i] = Registration(info, Receipt(st, sig, index, cp, tuple(log.inclusion_proof(index, size))))
            return got

        if ready:
            for i, r in self._retrying(run).items():
                out[i] = r
        missing = [i for i, r in enumerate(out) if r is None]
        if missing:
            raise AssertionError(f"register_many left requests {missing} unanswered")
        return out  # type: ignore[return-value]

    def _owned(self, conn: Connection, key: str | None, work_id: str) -> Any:
        owner = self.authenticate(key, conn)
        row = self._work_row(conn, work_id)
        if row.owner_id != owner:
            raise error(ForbiddenError, "registry.work.forbidden", id=work_id)
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
                raise error(NotFoundError, "registry.leaf.not_found", leaf=leaf_index)
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

