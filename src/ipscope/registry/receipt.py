"""Receipts: what a registration or a change of reservations hands back, checkable offline with one public key.

A receipt is a JSON object::

    {"statement":  {...},            the statement (below), as a JSON object
     "signature":  "base64",         Ed25519 signature (64 bytes) of the statement's RFC 8785 bytes
     "leaf_index": 12,               the statement's position in the log
     "checkpoint": "origin\\n40\\n<base64 root>\\n\\n— origin <base64 sig>\\n",   a signed tlog checkpoint
     "inclusion":  ["base64", ...]}  the RFC 9162 inclusion proof of the leaf in that checkpoint's tree

The statement is ``{"v": 1, "event", "work_id", "content_sha256", "iscc", "owner", "reservations", "time"}``.
Its bytes are ``S = jcs.canonicalize(statement)`` (RFC 8785). The signature is Ed25519 over ``S`` by the log's
key; the log's leaf is ``S`` itself, so the leaf hash is ``SHA-256(0x00 || S)``; the checkpoint is signed by the
same key (its key name is the log's origin). :func:`verify` checks all of it and says which check failed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Mapping

from ..errors import InputError
from ..messages import Message, error, error_messages
from . import jcs
from .merkle import HASH_SIZE, MerkleLog, ProofError, leaf_hash, root_from_inclusion, verify_consistency
from .note import (Checkpoint, NoteFormatError, NoteVerifyError, Signer, VerifierKey, open_checkpoint, parse_note,
                   sign_checkpoint)

__all__ = [
    "STATEMENT_VERSION", "EVENTS", "Statement", "Receipt", "ConsistencyProof", "Check", "VerifyResult",
    "ReceiptFormatError", "format_time", "issue", "receipt_for", "verify", "load_receipt", "load_consistency",
    "load_checkpoint", "load_key", "verify_files",
]

STATEMENT_VERSION = 1
Event = Literal["register", "reservations", "delete"]
EVENTS: tuple[str, ...] = ("register", "reservations", "delete")
_STATEMENT_KEYS = ("v", "event", "work_id", "content_sha256", "iscc", "owner", "reservations", "time")
_RECEIPT_KEYS = ("statement", "signature", "leaf_index", "checkpoint", "inclusion")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


class ReceiptFormatError(InputError):
    """A receipt, key, checkpoint or proof file that cannot be read; the message names the file and field."""


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with milliseconds, the form statements carry: ``2026-07-01T12:00:00.123Z``."""
    if t.tzinfo is None:
        raise ValueError("give an aware datetime (UTC), not a naive one")
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _detail(e: NoteFormatError) -> Message | str:
    """A note error's message as a parameter of the error that wraps it (translatable when it has a code)."""
    coded = error_messages(e)
    return coded[0] if coded else e.message


def _fail(where: str, field_name: str, problem: Message, code: str = "receipt.field") -> ReceiptFormatError:
    """``code`` picks the fix: ``receipt.field`` (use the receipt as issued), ``receipt.field_newer``,
    ``receipt.field_version``, ``receipt.field_consistency``."""
    return error(ReceiptFormatError, code, where=where, field=field_name, problem=problem)


# --------------------------------------------------------------------------- the statement


@dataclass(frozen=True)
class Statement:
    """What the log records about a work at one moment. ``reservations`` maps IETF aipref terms to values
    (``{"train-ai": "n"}``); ``time`` is RFC 3339 UTC (:func:`format_time`)."""

    work_id: str
    content_sha256: str
    iscc: str
    owner: str
    reservations: Mapping[str, str] = field(hash=False)  # a dict: the other fields hash the statement
    time: str
    event: Event = "register"

    def __post_init__(self) -> None:
        self._check("statement")
        object.__setattr__(self, "reservations", dict(self.reservations))

    def _check(self, where: str) -> None:
        for name in ("work_id", "iscc", "owner"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise _fail(where, f"statement.{name}", Message("receipt.problem.not_nonempty_string"))
        if not isinstance(self.content_sha256, str) or not _SHA256_HEX.fullmatch(self.content_sha256):
            raise _fail(where, "statement.content_sha256", Message("receipt.problem.not_sha256"))
        if not isinstance(self.time, str) or not _TIME.fullmatch(self.time):
            raise _fail(where, "statement.time", Message("receipt.problem.not_time", value=self.time))
        if self.event not in EVENTS:
            raise _fail(where, "statement.event", Message("receipt.problem.bad_event", value=self.event,
                                                          events=", ".join(EVENTS)))
        if not isinstance(self.reservations, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.reservations.items()):
            raise _fail(where, "statement.reservations", Message("receipt.problem.not_string_map"))

    def to_json(self) -> dict[str, Any]:
        return {"v": STATEMENT_VERSION, "event": self.event, "work_id": self.work_id,
                "content_sha256": self.content_sha256, "iscc": self.iscc, "owner": self.owner,
                "reservations": dict(self.reservations), "time": self.time}

    def canonical(self) -> bytes:
        """The RFC 8785 bytes: what is signed, and the log leaf's data."""
        return jcs.canonicalize(self.to_json())

    def leaf_hash(self) -> bytes:
        """``SHA-256(0x00 || canonical())``: this statement's leaf in the log."""
        return leaf_hash(self.canonical())

    @classmethod
    def from_json(cls, d: Any, where: str = "receipt") -> Statement:
        if not isinstance(d, dict):
            raise _fail(where, "statement", Message("receipt.problem.not_object"))
        missing = [k for k in _STATEMENT_KEYS if k not in d]
        if missing:
            raise _fail(where, "statement", Message("receipt.problem.lacks", fields=", ".join(missing)))
        extra = sorted(set(d) - set(_STATEMENT_KEYS))
        if extra:
            raise _fail(where, "statement", Message("receipt.problem.extra_fields", fields=", ".join(extra)),
                        "receipt.field_newer")
        if d["v"] != STATEMENT_VERSION or isinstance(d["v"], bool):
            raise _fail(where, "statement.v",
                        Message("receipt.problem.version", value=d["v"], version=STATEMENT_VERSION),
                        "receipt.field_version")
        st = cls.__new__(cls)
        for k in _STATEMENT_KEYS[1:]:
            object.__setattr__(st, k, d[k])
        st._check(where)
        object.__setattr__(st, "reservations", dict(d["reservations"]))
        try:
            st.canonical()
        except jcs.JCSError as e:  # a lone surrogate (\ud800) that JSON allows and RFC 8785 does not
            raise _fail(where, "statement", Message("receipt.problem.no_jcs", error=str(e))) from None
        return st


# --------------------------------------------------------------------------- receipts and proofs


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str, field_name: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise _fail(where, field_name, Message("receipt.problem.not_b64_string"))
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _fail(where, field_name, Message("receipt.problem.not_b64", value=value[:60])) from None
    if len(raw) != size:
        raise _fail(where, field_name, Message("receipt.problem.wrong_size", n=len(raw), size=size))
    return raw


def _index(value: Any, where: str, field_name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(where, field_name, Message("receipt.problem.not_index", value=value))
    return value


@dataclass(frozen=True)
class Receipt:
    statement: Statement
    signature: bytes  # Ed25519, 64 bytes, of statement.canonical()
    leaf_index: int
    checkpoint: str  # the signed note of a tlog checkpoint whose tree holds the leaf
    inclusion: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement.to_json(), "signature": _b64(self.signature),
                "leaf_index": self.leaf_index, "checkpoint": self.checkpoint,
                "inclusion": [_b64(h) for h in self.inclusion]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, d: Any, where: str = "receipt") -> Receipt:
        """Read a receipt object; :class:`ReceiptFormatError` names the field that is wrong."""
        if not isinstance(d, dict):
            raise error(ReceiptFormatError, "receipt.not_object", where=where, type=type(d).__name__)
        missing = [k for k in _RECEIPT_KEYS if k not in d]
        if missing:
            raise _fail(where, missing[0], Message("receipt.problem.missing_more", more=", ".join(missing[1:]))
                        if missing[1:] else Message("receipt.problem.missing"))
        st = Statement.from_json(d["statement"], where)
        sig = _unb64(d["signature"], where, "signature", 64)
        index = _index(d["leaf_index"], where, "leaf_index")
        cp = d["checkpoint"]
        if not isinstance(cp, str):
            raise _fail(where, "checkpoint", Message("receipt.problem.not_note"))
        try:
            text, _ = parse_note(cp)
            Checkpoint.parse(text)
        except NoteFormatError as e:
            raise _fail(where, "checkpoint", Message("receipt.problem.not_checkpoint", detail=_detail(e))) from None
        inc = d["inclusion"]
        if not isinstance(inc, list):
            raise _fail(where, "inclusion", Message("receipt.problem.not_hash_list"))
        hashes = tuple(_unb64(h, where, f"inclusion[{i}]", HASH_SIZE) for i, h in enumerate(inc))
        return cls(st, sig, index, cp, hashes)


@dataclass(frozen=True)
class ConsistencyProof:
    """An RFC 9162 consistency proof between two tree sizes; as JSON ``{"from", "to", "proof": [base64...]}``."""

    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"from": self.old_size, "to": self.new_size, "proof": [_b64(h) for h in self.hashes]}

    @classmethod
    def from_json(cls, d: Any, where: str = "consistency proof") -> ConsistencyProof:
        if not isinstance(d, dict):
            raise error(ReceiptFormatError, "receipt.consistency_not_object", where=where)
        for k in ("from", "to", "proof"):
            if k not in d:
                raise _fail(where, k, Message("receipt.problem.missing"), "receipt.field_consistency")
        if not isinstance(d["proof"], list):
            raise _fail(where, "proof", Message("receipt.problem.not_hash_list"))
        return cls(_index(d["from"], where, "from"), _index(d["to"], where, "to"),
                   tuple(_unb64(h, where, f"proof[{i}]", HASH_SIZE) for i, h in enumerate(d["proof"])))


def receipt_for(statement: Statement, signature: bytes, index: int, log: MerkleLog, signer: Signer,
                size: int | None = None) -> Receipt:
    """A receipt for a statement already in the log at ``index``, with a checkpoint of the tree of ``size``
    leaves (default: the whole log) signed now."""
    size = log.size if size is None else size
    cp = Checkpoint(signer.name, size, log.root(size))
    return Receipt(statement, signature, index, sign_checkpoint(cp, signer),
                   tuple(log.inclusion_proof(index, size)))


def issue(statement: Statement, signer: Signer, log: MerkleLog) -> Receipt:
    """Sign a statement, append it to the log and return its receipt. (The registry appends inside the
    database transaction of the registration, then calls :func:`receipt_for`.)"""
    data = statement.canonical()
    signature = signer.sign(data)
    index = log.append(leaf_hash(data))
    return receipt_for(statement, signature, index, log, signer)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class VerifyResult:
    """Each check made and what it found; ``ok`` only when every one holds."""

    checks: tuple[Check, ...]
    statement: dict[str, Any]
    leaf_index: int
    key: str
    origin: str | None = None
    tree_size: int | None = None
    root_hash: str | None = None
    newer_tree_size: int | None = None
    leaf_hash: str = field(default="")

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks], "statement": self.statement,
                "leaf_index": self.leaf_index, "leaf_hash": self.leaf_hash, "key": self.key, "origin": self.origin,
                "tree_size": self.tree_size, "root_hash": self.root_hash, "newer_tree_size": self.newer_tree_size}


def _short(h: bytes) -> str:
    return h.hex()[:16] + "…"


def _why(e: Exception) -> str:
    """A failed step's reason: the coded message the error carries (translatable), else its text."""
    if isinstance(e, NoteFormatError):
        return _detail(e)
    arg = e.args[0] if e.args else None
    return arg if isinstance(arg, Message) else str(e)


_STATEMENT_SIG = Message("verify.check.statement_signature")
_CHECKPOINT_SIG = Message("verify.check.checkpoint_signature")
_INCLUSION = Message("verify.check.inclusion")
_NEWER_SIG = Message("verify.check.newer_checkpoint_signature")
_CONSISTENCY = Message("verify.check.consistency")


def verify(receipt: Receipt, public_key: VerifierKey | str, newer_checkpoint: str | None = None,
           consistency: ConsistencyProof | None = None) -> VerifyResult:
    """Check a receipt with the log's public key, offline:

    1. *statement signature*: the Ed25519 signature verifies over the statement's RFC 8785 bytes;
    2. *checkpoint signature*: the checkpoint is signed by the key, and its origin is the key's name;
    3. *inclusion*: the inclusion proof leads from the statement's leaf hash at ``leaf_index`` to the
       checkpoint's root;
    4. with ``newer_checkpoint`` (a later signed checkpoint of the same log): *newer checkpoint signature*,
       and *consistency*: ``consistency`` proves the receipt's tree a prefix of the newer one (the log did not
       drop or rewrite the statement since).
    """
    if isinstance(public_key, str):
        public_key = VerifierKey.parse(public_key)
    data = receipt.statement.canonical()
    leaf = leaf_hash(data)
    kname = f"{public_key.name}+{public_key.key_id:08x}"
    checks: list[Check] = []
    if public_key.verify(data, receipt.signature):
        checks.append(Check(_STATEMENT_SIG, True, Message("verify.statement_signature.ok", n=len(data), key=kname)))
    else:
        checks.append(Check(_STATEMENT_SIG, False, Message("verify.statement_signature.bad", key=kname)))
    cp: Checkpoint | None = None
    try:
        cp, _ = open_checkpoint(receipt.checkpoint, public_key)
        checks.append(Check(_CHECKPOINT_SIG, True, Message("verify.checkpoint.ok", origin=cp.origin, size=cp.size,
                                                           key=kname)))
    except (NoteVerifyError, NoteFormatError) as e:
        checks.append(Check(_CHECKPOINT_SIG, False, _why(e)))
        cp = Checkpoint.parse(parse_note(receipt.checkpoint)[0])  # well-formed (from_json checked): for step 3
    try:
        got = root_from_inclusion(receipt.leaf_index, cp.size, leaf, receipt.inclusion)
        if got == cp.root_hash:
            checks.append(Check(_INCLUSION, True, Message("verify.inclusion.ok", leaf=receipt.leaf_index,
                                                          hash=_short(leaf), size=cp.size, root=_short(cp.root_hash))))
        else:
            checks.append(Check(_INCLUSION, False, Message("verify.inclusion.bad", leaf=receipt.leaf_index,
                                                           hash=_short(leaf), got=_short(got),
                                                           root=_short(cp.root_hash))))
    except ProofError as e:
        checks.append(Check(_INCLUSION, False, _why(e)))
    newer_size: int | None = None
    if newer_checkpoint is not None:
        newer: Checkpoint | None = None
        try:
            newer, _ = open_checkpoint(newer_checkpoint, public_key)
            newer_size = newer.size
            checks.append(Check(_NEWER_SIG, True, Message("verify.checkpoint.ok", origin=newer.origin,
                                                          size=newer.size, key=kname)))
        except (NoteVerifyError, NoteFormatError) as e:
            checks.append(Check(_NEWER_SIG, False, _why(e)))
        if newer is not None:
            checks.append(_consistency(cp, newer, consistency))
    elif consistency is not None:
        checks.append(Check(_CONSISTENCY, False, Message("verify.consistency.no_checkpoint")))
    return VerifyResult(tuple(checks), receipt.statement.to_json(), receipt.leaf_index, str(public_key), cp.origin,
                        cp.size, cp.root_hash.hex(), newer_size, leaf.hex())


def _consistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof | None) -> Check:
    if proof is None:
        if old.size == new.size and old.root_hash == new.root_hash:
            return Check(_CONSISTENCY, True, Message("verify.consistency.same", size=old.size))
        return Check(_CONSISTENCY, False, Message("verify.consistency.missing", old=old.size, new=new.size))
    if (proof.old_size, proof.new_size) != (old.size, new.size):
        return Check(_CONSISTENCY, False, Message("verify.consistency.sizes", proof_old=proof.old_size,
                                                  proof_new=proof.new_size, old=old.size, new=new.size))
    try:
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof.hashes)
    except ProofError as e:
        return Check(_CONSISTENCY, False, _why(e))
    return Check(_CONSISTENCY, True, Message("verify.consistency.ok", old=old.size, new=new.size,
                                             root=_short(new.root_hash)))


# --------------------------------------------------------------------------- files


_WHAT = {"receipt": "receipt.what.receipt", "consistency proof": "receipt.what.consistency",
         "checkpoint": "receipt.what.checkpoint", "key": "receipt.what.key"}


def _read(path: str | Path, what: str) -> str:
    p = Path(path)
    name = Message(_WHAT[what])
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise error(ReceiptFormatError, "receipt.file.unreadable", path=str(p), what=name,
                    error=str(e.strerror or e)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(ReceiptFormatError, "receipt.file.not_utf8", path=str(p), what=name, byte=e.start) from None


def _json(path: str | Path, what: str) -> Any:
    text = _read(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        code = "receipt.file.not_json" if text.rstrip().endswith("}") else "receipt.file.not_json_cut"
        raise error(ReceiptFormatError, code, path=str(path), what=Message(_WHAT[what]), error=e.msg, line=e.lineno,
                    column=e.colno) from None


def load_receipt(path: str | Path) -> Receipt:
    return Receipt.from_json(_json(path, "receipt"), str(path))


def load_consistency(path: str | Path) -> ConsistencyProof:
    return ConsistencyProof.from_json(_json(path, "consistency proof"), str(path))


def load_checkpoint(path: str | Path) -> str:
    """A signed checkpoint file (the text of the registry's /v1/log/checkpoint), checked for form only."""
    text = _read(path, "checkpoint")
    try:
        Checkpoint.parse(parse_note(text)[0])
    except NoteFormatError as e:
        raise error(ReceiptFormatError, "receipt.checkpoint_invalid", path=str(path), detail=_detail(e)) from None
    return text


def load_key(path: str | Path) -> VerifierKey:
    """A verifier key file: the one line of the registry's /v1/log/key (lines starting '#' are comments)."""
    lines = [ln.strip() for ln in _read(path, "key").splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise error(ReceiptFormatError, "receipt.key_lines", path=str(path), n=len(lines))
    try:
        return VerifierKey.parse(lines[0])
    except NoteFormatError as e:
        raise error(ReceiptFormatError, "receipt.key_invalid", path=str(path), detail=_detail(e)) from None


def verify_files(receipt: str | Path, key: str | Path, checkpoint: str | Path | None = None,
                 consistency: str | Path | None = None) -> VerifyResult:
    """:func:`verify` from files (what ``ipscope verify`` calls); unreadable or malformed files raise
    :class:`ReceiptFormatError` naming the file and field."""
    k = load_key(key)
    r = load_receipt(receipt)
    newer = load_checkpoint(checkpoint) if checkpoint is not None else None
    proof = load_consistency(consistency) if consistency is not None else None
    return verify(r, k, newer, proof)
