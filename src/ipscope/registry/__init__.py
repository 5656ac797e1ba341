"""The registry's proof layer: what makes a receipt checkable offline.

- :mod:`.jcs`: RFC 8785 canonical JSON (the bytes that are signed and logged);
- :mod:`.merkle`: RFC 9162 Merkle tree hashing, inclusion and consistency proofs, an append-only log over a
  small storage protocol (memory, files; a database table later);
- :mod:`.note`: C2SP signed notes with Ed25519 keys, verifier keys, tlog checkpoints;
- :mod:`.receipt`: statements, receipts, ``issue`` and ``verify``.

Formats and how to check a receipt by hand: docs/proof.md.
"""
