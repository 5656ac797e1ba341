"""The registry's tables (SQLAlchemy 2 declarative models). Alembic migrations in ``migrations/`` create them;
``Registry.open`` runs them, so a new database and an old one reach the same schema.

- ``owners``, ``api_keys``: who may write; a key is stored as SHA-256 of its secret, found by its public id.
- ``works``: the current state of each work (text, title, metadata, URLs, hashes, reservations).
- ``events``: the history, append-only: one row per registration, change of reservations and withdrawal,
  holding the signed statement and its leaf index in the log (unique).
- ``log_nodes``: the Merkle log's complete subtree hashes, ``(level, idx, hash)`` (merkle.LogStore).
- ``log_key``: the log's signing key (one row), made on first open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the public part of the key: ipk_<id>_<secret>
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Work(Base):
    __tablename__ = "works"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    meta_json: Mapped[str] = mapped_column(Text)  # a JSON object
    urls_json: Mapped[str] = mapped_column(Text)  # a JSON array of strings
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    iscc: Mapped[str] = mapped_column(String(80))
    reservations_json: Mapped[str] = mapped_column(Text)  # a JSON object of aipref terms to "y" / "n"
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("leaf_index", name="uq_events_leaf_index"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    work_id: Mapped[str] = mapped_column(ForeignKey("works.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    statement: Mapped[bytes] = mapped_column(LargeBinary)  # the RFC 8785 bytes: the log leaf's data
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_index: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogNode(Base):
    __tablename__ = "log_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogKey(Base):
    __tablename__ = "log_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    skey: Mapped[str] = mapped_column(Text)  # the signer key text (secret)
    vkey: Mapped[str] = mapped_column(Text)  # the verifier key text (public)
