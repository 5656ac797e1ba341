"""C2PA / CAWG training-and-data-mining assertions, read from real signed files.

The files are signed here with c2pa-python's Builder and an ES256 certificate chain made with ``cryptography``
(a test CA and an end-entity certificate), on images whose bytes this module also writes. The committed copies
in tests/data/c2pa/ were made by the same code: ``python tests/test_audit_c2pa.py`` regenerates them.
"""

from __future__ import annotations

import datetime
import io
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipscope.audit.signals.c2pa import media_findings
from ipscope.errors import MissingExtraError

DATA = Path(__file__).resolve().parent / "data" / "c2pa"

# ------------------------------------------------------------------ making real files


def tiny_png(width: int = 4, height: int = 4) -> bytes:
    """A valid RGB PNG (PNG spec: signature, IHDR, one zlib IDAT with filter byte 0 per row, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def tiny_jpeg() -> bytes:
    """A valid 1x1 grey baseline JPEG: quantisation table, one-code Huffman tables, one block coded as
    DC difference 0 ("0") then end-of-block ("0"), padded with 1-bits."""
    def seg(marker: int, data: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(data) + 2) + data

    return (b"\xff\xd8" + seg(0xDB, b"\x00" + b"\x01" * 64)
            + seg(0xC0, b"\x08" + struct.pack(">HH", 1, 1) + b"\x01\x01\x11\x00")
            + seg(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")
            + seg(0xC4, b"\x10" + b"\x01" + b"\x00" * 15 + b"\x00")
            + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x3f" + b"\xff\xd9")


def make_signer() -> Any:
    """A c2pa Signer for an ES256 chain made now: test CA -> end-entity certificate (digitalSignature, emailProtection
    EKU, as the C2PA certificate profile asks), valid for a century so committed files keep validating."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    life = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=36500))

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ipscope tests")])

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("ipscope test CA")).issuer_name(name("ipscope test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(life[0]).not_valid_after(life[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(False, True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    ee = (x509.CertificateBuilder().subject_name(name("ipscope test signer")).issuer_name(ca.subject)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(life[0]).not_valid_after(life[1])
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(usage(True, False), critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    chain = ee.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, pem, None))


def sign(signer: Any, image: bytes, mime: str, assertions: list[dict[str, Any]]) -> bytes:
    """``image`` with a C2PA manifest holding ``assertions`` (after the c2pa.created action C2PA 2 requires)."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "ipscope-tests", "version": "1"}],
        "title": "ipscope test asset",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}, *assertions],
    }
    # no thumbnail: keeps the files a few kB
    ctx = c2pa.Context(settings=c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    out = io.BytesIO()
    c2pa.Builder(manifest, context=ctx).sign(signer, mime, io.BytesIO(image), out)
    return out.getvalue()


def tm(label: str, entries: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "data": {"entries": entries}}


# CAWG "Training and Data Mining Assertion" 1.x, §3.2 "Schema and example" (training-mining.cbordiag, verbatim):
CAWG_EXAMPLE = {
    "cawg.ai_training": {"use": "allowed"},
    "cawg.ai_generative_training": {"use": "notAllowed"},
    "cawg.data_mining": {"use": "constrained", "constraint_info": "may only be mined on days whose names end in 'y'"},
}

# name -> (mime, assertions); the committed fixtures are the first three
CASES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "cawg-example.jpg": ("image/jpeg", [tm("cawg.training-mining", CAWG_EXAMPLE)]),
    "c2pa-not-allowed.png": ("image/png", [tm("c2pa.training-mining", {"c2pa.ai_training": {"use": "notAllowed"}})]),
    "all-allowed.jpg": ("image/jpeg", [tm("cawg.training-mining", {
        f"cawg.{k}": {"use": "allowed"} for k in ("ai_training", "ai_generative_training", "data_mining",
                                                   "ai_inference")})]),
    "both-labels.png": ("image/png", [
        tm("c2pa.training-mining", {"c2pa.data_mining": {"use": "notAllowed"}}),
        tm("cawg.training-mining", {"cawg.ai_generative_training": {"use": "constrained"}})]),
    "constrained-bare.jpg": ("image/jpeg", [tm("cawg.training-mining", {
        "cawg.ai_training": {"use": "constrained"},
        "cawg.data_mining": {"use": "constrained", "constraint_info": "  "}})]),
    "inference-only.png": ("image/png", [tm("cawg.training-mining", {"cawg.ai_inference": {"use": "notAllowed"},
                                                                      "com.example.custom": {"use": "notAllowed"}})]),
    "odd-values.jpg": ("image/jpeg", [tm("cawg.training-mining", {"cawg.ai_training": {"use": "notallowed"},
                                                                   "cawg.data_mining": {"use": "maybe"},
                                                                   "cawg.ai_generative_training": "notAllowed"})]),
    "no-entries.png": ("image/png", [{"label": "cawg.training-mining", "data": {"note": "no entries"}}]),
}
COMMITTED = ("cawg-example.jpg", "c2pa-not-allowed.png", "all-allowed.jpg")


def write_cases(folder: Path, signer: Any, names: tuple[str, ...] | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in names or tuple(CASES):
        mime, assertions = CASES[name]
        image = tiny_jpeg() if mime == "image/jpeg" else tiny_png()
        out[name] = folder / name
        out[name].write_bytes(sign(signer, image, mime, assertions))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("c2pa")
    folder = tmp_path_factory.mktemp("c2pa")
    out = write_cases(folder, make_signer())
    (folder / "plain.png").write_bytes(tiny_png())
    (folder / "plain.jpg").write_bytes(tiny_jpeg())
    out["plain.png"], out["plain.jpg"] = folder / "plain.png", folder / "plain.jpg"
    return out


def entries(found: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(f.evidence) for f in found]


# ------------------------------------------------------------------ the spec's example and both labels


def test_cawg_spec_example(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["cawg-example.jpg"])
    # notAllowed reserves; allowed does not; constrained *with* constraint_info is the spec's "additional
    # information": reported for a person to read, not counted as a reservation
    assert entries(found) == [{"cawg.ai_generative_training": {"use": "notAllowed"}}]
    f = found[0]
    assert f.signal == "c2pa" and f.reserved and f.agents == ("*",)
    assert f.where.startswith(f"{files['cawg-example.jpg']} manifest urn:c2pa:")
    assert f.where.endswith(" assertion cawg.training-mining")
    assert f.evidence == '{"cawg.ai_generative_training":{"use":"notAllowed"}}'  # compact JSON
    assert len(problems) == 1 and "may only be mined on days whose names end in 'y'" in problems[0].message


def test_c2pa_1x_label(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["c2pa-not-allowed.png"])
    assert entries(found) == [{"c2pa.ai_training": {"use": "notAllowed"}}] and problems == []
    assert found[0].where.endswith(" assertion c2pa.training-mining")


def test_both_labels_in_one_manifest_each_named_in_where(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["both-labels.png"])
    assert problems == []
    assert [(f.where.rsplit(" ", 1)[1], json.loads(f.evidence)) for f in found] == [
        ("c2pa.training-mining", {"c2pa.data_mining": {"use": "notAllowed"}}),
        # CAWG: "In the absence of additional information, constrained shall be treated as equivalent to notAllowed"
        ("cawg.training-mining", {"cawg.ai_generative_training": {"use": "constrained"}}),
    ]


def test_constrained_without_details_is_not_allowed(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["constrained-bare.jpg"])
    assert {next(iter(e)) for e in entries(found)} == {"cawg.ai_training", "cawg.data_mining"}
    assert problems == []  # blank constraint_info is no information


def test_allowed_and_inference_and_custom_keys_reserve_nothing(files: dict[str, Path]) -> None:
    assert media_findings(files["all-allowed.jpg"]) == ([], [])
    # ai_inference is read but is not training or mining; custom keys are not defined by the spec
    assert media_findings(files["inference-only.png"]) == ([], [])


def test_no_manifest_is_nothing(files: dict[str, Path]) -> None:
    assert media_findings(files["plain.png"]) == ([], [])
    assert media_findings(files["plain.jpg"]) == ([], [])


# ------------------------------------------------------------------ bad input


def test_odd_values_are_problems_and_a_miscased_no_still_reserves(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["odd-values.jpg"])
    assert entries(found) == [{"cawg.ai_training": {"use": "notallowed"}}]
    msgs = sorted(p.message for p in problems)
    assert len(msgs) == 3
    assert any("read as 'notAllowed'" in m for m in msgs)
    assert any("'maybe'" in m and "entry ignored" in m for m in msgs)
    assert any("cawg.ai_generative_training: 'use' is None" in m for m in msgs)


def test_assertion_without_entries_is_a_problem(files: dict[str, Path]) -> None:
    found, problems = media_findings(files["no-entries.png"])
    assert found == [] and len(problems) == 1 and "no 'entries' map" in problems[0].message


def test_corrupt_truncated_empty_and_missing_files_are_problems(files: dict[str, Path], tmp_path: Path) -> None:
    signed = files["c2pa-not-allowed.png"].read_bytes()
    cases = {"truncated.png": signed[: len(signed) // 3], "empty.jpg": b"", "garbage.jpg": b"not a jpeg at all" * 9}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        found, problems = media_findings(tmp_path / name)
        assert found == [] and len(problems) == 1, name
        assert problems[0].where == str(tmp_path / name) and "could not be read" in problems[0].message, name
    found, problems = media_findings(tmp_path / "missing.png")
    assert found == [] and "cannot open" in problems[0].message


def test_types_c2pa_does_not_cover_are_skipped(tmp_path: Path) -> None:
    pytest.importorskip("c2pa")
    (tmp_path / "page.txt").write_text("c2pa.training-mining notAllowed", encoding="utf-8")
    assert media_findings(tmp_path / "page.txt") == ([], [])


def test_tampered_manifest_still_reserves_and_says_it_does_not_validate(files: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    data = files["both-labels.png"].read_bytes()
    i = data.find(b"notAllowed")
    assert i > 0
    bad = tmp_path / "tampered.png"
    bad.write_bytes(data[:i] + b"NOTALLOWED" + data[i + 10:])  # same length: the box structure still parses
    found, problems = media_findings(bad)
    assert any("does not validate" in p.message and "assertion.hashedURI.mismatch" in p.message for p in problems)
    assert any("NOTALLOWED" in f.evidence for f in found)  # read (miscased) and still honoured


@given(st.binary(max_size=600), st.sampled_from([".png", ".jpg", ".mp4", ".pdf", ""]))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_bytes_never_raise(tmp_path: Path, data: bytes, ext: str) -> None:
    pytest.importorskip("c2pa")
    p = tmp_path / f"x{ext}"
    p.write_bytes(data)
    found, _ = media_findings(p)
    assert found == []


# ------------------------------------------------------------------ committed fixtures


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_fixtures_read_like_fresh_ones(files: dict[str, Path], name: str) -> None:
    old = media_findings(DATA / name)
    new = media_findings(files[name])
    assert entries(old[0]) == entries(new[0])
    assert [p.message for p in old[1]] == [p.message for p in new[1]]


# ------------------------------------------------------------------ the extra is optional


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # makes "import c2pa" raise ImportError
    with pytest.raises(MissingExtraError) as e:
        media_findings(tmp_path / "a.jpg")
    assert e.value.fix == "pip install 'ipscope[c2pa]'"
    assert "c2pa-python" in str(e.value) and "pip install 'ipscope[c2pa]'" in str(e.value)


if __name__ == "__main__":  # regenerate the committed fixtures
    for written in write_cases(DATA, make_signer(), COMMITTED).values():
        print(written, written.stat().st_size, "bytes")
