"""C2SP signed notes, verifier keys and checkpoints (ipscope.registry.note) against published examples.

Sources of the cases:
- c2sp.org/signed-note (C2SP/C2SP signed-note.md, section "Verifier keys / Example"): the vkey
  example.com/foo+530d903a+... and the note it verifies; the opening "quasimodo" note, signed by a key the
  specification does not publish;
- c2sp.org/tlog-checkpoint (tlog-checkpoint.md): the example checkpoint of example.com/behind-the-sofa;
- golang.org/x/mod/sumdb/note (note.go package documentation and note_test.go, BSD-3-Clause): the
  PeterNeumann signer key (seed) and verifier key, the signature of the Peter Neumann quotation, the
  EnochRoot key and signature, and the rule that every mangled key is refused.
Ed25519 is deterministic, so signing the same text with the published seed must give the published bytes.
"""

from __future__ import annotations

import base64

import pytest

from ipscope.registry.note import (Checkpoint, NoteFormatError, NoteVerifyError, Signer, VerifierKey, key_id,
                                   open_checkpoint, open_note, parse_note, sign_checkpoint, sign_note)

C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Zt"
             "g1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
QUASIMODO = ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
             "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99"
             "ihAQwaqP3ZekRwNtIc=\n")
SOFA = ("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zy"
        "WE+xeMcTOAYQ8=\n")

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
QUOTE = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def test_c2sp_example_key_verifies_the_example_note():
    vk = VerifierKey.parse(C2SP_VKEY)
    assert (vk.name, vk.key_id) == ("example.com/foo", 0x530D903A)
    assert str(vk) == C2SP_VKEY
    note = open_note(C2SP_NOTE, [vk])
    assert note.text == "This is an example message.\n"
    assert [(s.name, s.key_id) for s in note.signatures] == [("example.com/foo", 0x530D903A)]


def test_c2sp_example_note_changed_by_one_character_fails():
    vk = VerifierKey.parse(C2SP_VKEY)
    with pytest.raises(NoteVerifyError, match="does not verify"):
        open_note(C2SP_NOTE.replace("example message", "example massage"), [vk])


def test_note_by_an_unknown_key_is_rejected_and_its_text_split_at_the_last_blank_line():
    text, sigs = parse_note(QUASIMODO)
    assert text.endswith("\n\ned è subito sera.\n")  # the note text may hold blank lines
    assert sigs[0].name == "quasimodo.example/salvatore"
    with pytest.raises(NoteVerifyError, match="not signed by the key given"):
        open_note(QUASIMODO, [VerifierKey.parse(C2SP_VKEY)])


def test_go_signer_key_gives_the_published_verifier_key_and_signature():
    signer = Signer.parse(PETER_SKEY)
    assert str(signer.verifier) == PETER_VKEY
    assert signer.skey() == PETER_SKEY
    assert sign_note(QUOTE, signer) == QUOTE + "\n" + PETER_SIG
    assert "AYEKFALV" not in repr(signer)  # the seed is not shown


def test_go_notes_with_two_signatures():
    peter, enoch = VerifierKey.parse(PETER_VKEY), VerifierKey.parse(ENOCH_VKEY)
    msg = QUOTE + "\n" + PETER_SIG + ENOCH_SIG
    note = open_note(msg, [peter])
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert [(s.name, s.key_id) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]
    note = open_note(msg, [peter, enoch])
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(NoteVerifyError):
        open_note(msg, [])
    # a signature by a known key that fails rejects the note, even next to a good one
    broken = QUOTE + "\n" + PETER_SIG + ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    with pytest.raises((NoteVerifyError, NoteFormatError)):
        open_note(broken, [peter, enoch])
    assert open_note(broken, [peter]).unverified  # unknown keys' signatures are not checked


def test_every_mangled_verifier_key_is_refused():
    """As golang.org/x/mod/sumdb/note TestNewVerifier: every proper substring and every single-byte change."""
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(NoteFormatError):
                    VerifierKey.parse(b[i:j])
    for i in range(len(b)):
        with pytest.raises(NoteFormatError):
            VerifierKey.parse(b[:i] + chr(ord(b[i]) + 1) + b[i + 1:])
    # wrong length key / unknown algorithm, each with a key ID made to match (note_test.go)
    with pytest.raises(NoteFormatError):  # refused as non-canonical base64 before its length is read
        VerifierKey.parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(NoteFormatError, match="Ed25519"):
        VerifierKey.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangled_signer_key_is_refused():
    b = PETER_SKEY
    for i in range(len(b)):
        with pytest.raises(NoteFormatError):
            Signer.parse(b[:i] + chr(ord(b[i]) + 1) + b[i + 1:])


def test_key_id_is_the_spec_hash():
    vk = VerifierKey.parse(C2SP_VKEY)
    assert key_id(vk.name, vk.public_key) == 0x530D903A


def test_tlog_checkpoint_example_body():
    text, sigs = parse_note(SOFA)
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.text() == text and cp.extensions == ()
    assert sigs[0].name == "example.com/behind-the-sofa"


def test_checkpoint_sign_and_open():
    signer = Signer.generate("registry.example/log")
    cp = Checkpoint("registry.example/log", 5, bytes(range(32)))
    note = sign_checkpoint(cp, signer)
    got, opened = open_checkpoint(note, signer.verifier)
    assert got == cp and opened.text == cp.text()
    other = Signer.generate("registry.example/log")  # same name, another key
    with pytest.raises(NoteVerifyError, match="not signed by the key given"):
        open_checkpoint(note, other.verifier)
    with pytest.raises(ValueError, match="origin"):
        sign_checkpoint(Checkpoint("another/log", 5, bytes(32)), signer)
    wrong_origin = sign_note(Checkpoint("another/log", 5, bytes(32)).text(), signer)
    with pytest.raises(NoteVerifyError, match="of log 'another/log'"):
        open_checkpoint(wrong_origin, signer.verifier)


@pytest.mark.parametrize("text,reason", [
    ("o\n5\n", "fewer than 3"),
    ("o\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", "leading zeros"),
    ("o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", "leading zeros"),
    ("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n", "bytes"),
    ("o\n5\nnot base64!\n", "base64"),
    ("o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "newline"),
    ("o\n\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", "empty line"),
])
def test_malformed_checkpoints(text, reason):
    with pytest.raises(NoteFormatError, match=reason):
        Checkpoint.parse(text)


@pytest.mark.parametrize("msg,reason", [
    (QUOTE + PETER_SIG, "no blank line"),  # no blank line before the signature: it reads as text
    (QUOTE + "\n" + PETER_SIG[:-1], "newline"),
    (QUOTE + "\n" + PETER_SIG.replace("— ", "- "), "em dash"),
    (QUOTE + "\n" + "— PeterNeumann\n", "key name"),
    (QUOTE + "\n" + "— PeterNeumann AAAA\n", "too short"),
    (QUOTE.replace("If", "If\tyou") + "\n" + PETER_SIG, "control character"),
    ((QUOTE + "\n" + PETER_SIG).encode("utf-8").replace(b"If", b"\xffIf"), "UTF-8"),
    (QUOTE + "\n" + PETER_SIG * 101, "more than 100"),
])
def test_malformed_notes(msg, reason):
    with pytest.raises(NoteFormatError, match=reason):
        open_note(msg, [VerifierKey.parse(PETER_VKEY)])


def test_bad_key_names():
    with pytest.raises(NoteFormatError):
        Signer.generate("has space")
    with pytest.raises(NoteFormatError):
        Signer.generate("a+b")
    with pytest.raises(NoteFormatError):
        sign_note("no newline", Signer.generate("ok"))
