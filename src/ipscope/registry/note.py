"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and tlog checkpoints (c2sp.org/tlog-checkpoint).

A signed note is UTF-8 text ending in a newline, a blank line, then one line per signature::

    — <key name> base64(key ID (4 bytes, big-endian) || Ed25519 signature of the text (64 bytes))

The key ID is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` (0x01: the Ed25519 signature
type). A verifier key (vkey) is ``<key name>+<key ID, 8 hex digits>+base64(0x01 || public key)``; a signer key
is the same with the 32-byte private seed, prefixed ``PRIVATE+KEY+`` (the format of golang.org/x/mod/sumdb/note,
so keys move between this and the Go tools). A checkpoint is a note whose text is the log's origin, its tree
size and its base64 root hash, one per line.

Opening a note follows the specification: signatures by unknown keys are ignored (kept as unverified), a
signature by a known key that fails is an error for the whole note, and a note with no signature by a known
key is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import InputError
from ..messages import Message, error

__all__ = [
    "ALG_ED25519", "MAX_SIGNATURES", "NoteFormatError", "NoteVerifyError", "VerifierKey", "Signer", "Signature",
    "Note", "Checkpoint", "key_id", "sign_note", "open_note", "parse_note", "open_checkpoint", "sign_checkpoint",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # the specification asks verifiers to accept at least 16; Go's note package stops at 100
_SIG_PREFIX = "— "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8 = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteFormatError(InputError):
    """A note, key or checkpoint that is not in its format (the message says which rule it breaks)."""


class NoteVerifyError(ValueError):
    """A well-formed note whose signatures do not verify: none by a known key, or a bad one by a known key."""


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4, padded): what the formats use, and nothing looser."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(NoteFormatError, "note.b64.not_standard", what=what, text=text[:60]) from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise error(NoteFormatError, "note.b64.not_canonical", what=what, text=text[:60])
    return raw


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and name.isprintable()


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> int:
    """``SHA-256(name || 0x0A || alg || public key)[:4]`` as a big-endian integer (c2sp.org/signed-note)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """An Ed25519 verifier key: ``name+hex(key ID)+base64(0x01 || public key)``."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a vkey (surrounding whitespace ignored); :class:`NoteFormatError` says what is wrong."""
        text = text.strip()
        parts = text.split("+", 2)  # the base64 key material may itself hold '+'
        if len(parts) != 3:
            raise error(NoteFormatError, "note.vkey.parts", n=len(parts), text=text[:80])
        name, hexid, b64 = parts
        if not _valid_name(name):
            raise error(NoteFormatError, "note.vkey.name", name=name)
        if not _HEX8.fullmatch(hexid):
            raise error(NoteFormatError, "note.vkey.id", id=hexid)
        raw = _b64decode(b64, Message("note.what.vkey_material"))
        if not raw or raw[0] != ALG_ED25519:
            raise error(NoteFormatError, "note.vkey.type", key=f"{name}+{hexid}", type=raw[0] if raw else None)
        if len(raw) != 33:
            raise error(NoteFormatError, "note.vkey.size", key=f"{name}+{hexid}", n=len(raw) - 1)
        kid = int(hexid, 16)
        if key_id(name, raw[1:]) != kid:
            raise error(NoteFormatError, "note.vkey.id_mismatch", key=f"{name}+{hexid}",
                        want=f"{key_id(name, raw[1:]):08x}")
        return cls(name, kid, raw[1:])

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{b64}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64 bytes, no key ID) is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
            return True
        except (InvalidSignature, ValueError):
            return False


class Signer:
    """An Ed25519 signing key with its name. ``str(signer.verifier)`` is the vkey to publish; ``skey()`` the
    private key text to keep (secret)."""

    def __init__(self, name: str, seed: bytes) -> None:
        if not _valid_name(name):
            raise error(NoteFormatError, "note.signer.name", name=name)
        if len(seed) != 32:
            raise error(NoteFormatError, "note.signer.seed_size", n=len(seed))
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._seed = bytes(seed)
        pub = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = VerifierKey(name, key_id(name, pub), pub)

    @classmethod
    def generate(cls, name: str) -> Signer:
        key = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return cls(name, key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Read a signer key ``PRIVATE+KEY+name+hex(key ID)+base64(0x01 || seed)``."""
        text = text.strip()
        if not text.startswith(_PRIVATE_PREFIX):
            raise error(NoteFormatError, "note.skey.prefix")
        parts = text[len(_PRIVATE_PREFIX):].split("+", 2)
        if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
            raise error(NoteFormatError, "note.skey.form")
        name, hexid, b64 = parts
        raw = _b64decode(b64, Message("note.what.skey_material"))
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise error(NoteFormatError, "note.skey.type")
        signer = cls(name, raw[1:])
        if signer.verifier.key_id != int(hexid, 16):
            raise error(NoteFormatError, "note.skey.id_mismatch", key=f"{name}+{hexid}")
        return signer

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    def skey(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self._seed).decode("ascii")
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id:08x}+{b64}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:  # never the seed
        return f"Signer({str(self.verifier)!r})"


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: the key's name and ID and the signature bytes (after the 4-byte ID)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        b64 = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {b64}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """An opened note: its text (with the final newline) and its signatures, those verified by a known key
    and those by keys the verifier does not know (not checked)."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = field(default=())


def _check_text(text: str, what: str) -> None:
    bad = next((ch for ch in text if ch < " " and ch != "\n"), None)
    if bad is not None:
        raise error(NoteFormatError, "note.control_char", what=what, char=f"U+{ord(bad):04X}")


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note of ``text`` (which must end in a newline) with one line per signer."""
    if not text.endswith("\n"):
        raise error(NoteFormatError, "note.text_newline")
    _check_text(text, Message("note.what.text"))
    data = text.encode("utf-8")
    lines = "".join(Signature(s.name, s.key_id, s.sign(data)).line() for s in signers)
    return text + "\n" + lines


def parse_note(msg: str | bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines, checking the format but no signature."""
    if isinstance(msg, bytes):
        try:
            msg = msg.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(NoteFormatError, "note.not_utf8", byte=e.start) from None
    _check_text(msg, Message("note.what.note"))
    if not msg.endswith("\n"):
        raise error(NoteFormatError, "note.no_final_newline")
    at = msg.rfind("\n\n")
    if at < 0:
        raise error(NoteFormatError, "note.no_blank_line")
    text, sig_block = msg[:at + 1], msg[at + 2:]
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise error(NoteFormatError, "note.no_signatures")
    if len(lines) > MAX_SIGNATURES:
        raise error(NoteFormatError, "note.too_many_signatures", n=len(lines), max=MAX_SIGNATURES)
    sigs = []
    for n, line in enumerate(lines, 1):
        if not line.startswith(_SIG_PREFIX):
            raise error(NoteFormatError, "note.sig.prefix", n=n, line=line[:60])
        name, sep, b64 = line[len(_SIG_PREFIX):].partition(" ")
        if not sep or not _valid_name(name):
            raise error(NoteFormatError, "note.sig.name", n=n, line=line[:60])
        raw = _b64decode(b64, Message("note.what.signature", n=n))
        if len(raw) < 5:
            raise error(NoteFormatError, "note.sig.short", n=n, size=len(raw))
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, sigs


def open_note(msg: str | bytes, verifiers: Iterable[VerifierKey]) -> Note:
    """Verify a signed note against known keys. Raises :class:`NoteFormatError` for a malformed note and
    :class:`NoteVerifyError` when a known key's signature fails or no known key signed it."""
    text, sigs = parse_note(msg)
    known = {(v.name, v.key_id): v for v in verifiers}
    data = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            if s not in unverified:
                unverified.append(s)
            continue
        if not v.verify(data, s.signature):
            raise NoteVerifyError(Message("note.verify.bad_signature", key=f"{s.name}+{s.key_id:08x}"))
        if s not in verified:
            verified.append(s)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in sigs)
        want = ", ".join(f"{n}+{k:08x}" for n, k in known) or "none"
        raise NoteVerifyError(Message("note.verify.not_signed", names=names, want=want))
    return Note(text, tuple(verified), tuple(unverified))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog checkpoint's text: the log's origin, its tree size and root hash (and rarely extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text (c2sp.org/tlog-checkpoint)."""
        if not text.endswith("\n"):
            raise error(NoteFormatError, "note.checkpoint.newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise error(NoteFormatError, "note.checkpoint.lines", n=len(lines))
        if any(not line for line in lines):
            raise error(NoteFormatError, "note.checkpoint.empty_line")
        origin, size, root = lines[:3]
        if not _SIZE.fullmatch(size):
            raise error(NoteFormatError, "note.checkpoint.size", size=size)
        raw = _b64decode(root, Message("note.what.root_hash"))
        if len(raw) != 32:
            raise error(NoteFormatError, "note.checkpoint.root_size", n=len(raw))
        return cls(origin, int(size), raw, tuple(lines[3:]))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note of a checkpoint. The signer's key name must be the checkpoint's origin (the
    specification's SHOULD, made a rule here so one name identifies the log)."""
    if checkpoint.origin != signer.name:
        raise ValueError(f"the checkpoint's origin {checkpoint.origin!r} is not the key name {signer.name!r}")
    return sign_note(checkpoint.text(), signer)


def open_checkpoint(msg: str | bytes, key: VerifierKey,
                    also: Sequence[VerifierKey] = ()) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint with the log's key and read it. The origin must be the key's name; other
    signatures (witness cosignatures, keys of ``also``) are kept but do not replace the log's."""
    note = open_note(msg, (key, *also))
    if not any(s.name == key.name and s.key_id == key.key_id for s in note.signatures):
        raise NoteVerifyError(Message("note.verify.checkpoint_key", key=f"{key.name}+{key.key_id:08x}"))
    cp = Checkpoint.parse(note.text)
    if cp.origin != key.name:
        raise NoteVerifyError(Message("note.verify.origin", origin=cp.origin, name=key.name))
    return cp, note
