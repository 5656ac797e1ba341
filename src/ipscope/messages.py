"""Engine messages with codes: every message that reaches a person from the registry, the audit or similar has a
stable ``code`` and ``params`` here, so the web workbench's catalogues can translate it (issue 13).

The English wording lives here, once: :data:`MESSAGES` maps a code to its English template (Python
``str.format`` syntax with named fields: ``{path}``, ``{n:,}``, ``{value!r}``; a literal brace is doubled). The fix
of an error is the entry ``<code>.fix``. The CLI, the JSON reports and the manifests show exactly the text they
showed before codes existed: the engines build their messages from these templates in English.

What carries a code:

- errors: :func:`error` builds an :class:`~ipscope.errors.IpscopeError` (or a subclass) with ``message``/``fix``
  in English and ``code``/``params`` beside them;
- notes and reasons that flow as plain strings (similar's notes, an audit record's ``not_checked`` reasons):
  :class:`Message`, a ``str`` (the English text, so every existing use and every output is unchanged) that also
  carries ``code`` and ``params``;
- an audit finding and decision: :func:`finding_message`, :func:`decision_message`.

A parameter may itself be a :class:`Message` (a field name, a unit, a problem inside a receipt): it is rendered in
the same language. Evidence quoted from a document (a robots.txt line, a header value) is a plain string parameter
and is never translated.

Translations: ``src/ipscope/service/web/locale/<locale>/LC_MESSAGES/messages.po``, one entry per code with
``msgctxt`` = the code and ``msgid`` = the English template (docs/web.md). ``_msg(code, text)`` is the marker the
extraction reads (``python -m ipscope.service.web.i18n extract``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

from .errors import IpscopeError

#: code -> English template
MESSAGES: dict[str, str] = {}

E = TypeVar("E", bound=IpscopeError)
Pgettext = Callable[[str, str], str]


def _msg(code: str, text: str) -> str:
    """Register the English template of ``code`` (the extraction keyword: context = code, message = text)."""
    if code in MESSAGES:
        raise AssertionError(f"message code {code!r} registered twice")
    MESSAGES[code] = text
    return code


class Message(str):
    """An engine message as the English string it always was, carrying its ``code`` and ``params``.

    ``Message("similar.no_embed")`` equals, hashes and serialises (json, orjson) as its English text; pickling
    keeps the code (the audit's worker processes send these back)."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, /, **params: Any) -> Message:
        self = super().__new__(cls, render(code, params))
        self.code = code
        self.params = params
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.code, self.params))

    def render(self, pgettext: Pgettext | None = None) -> str:
        return render(self.code, self.params, pgettext)

    def to_dict(self) -> dict[str, Any]:
        """``{"code": ..., "params": {...}}`` with nested messages as the same form (JSON-ready)."""
        return {"code": self.code,
                "params": {k: v.to_dict() if isinstance(v, Message) else v for k, v in self.params.items()}}


def _rebuild(code: str, params: dict[str, Any]) -> Message:
    return Message(code, **params)


def render(code: str, params: Mapping[str, Any] | None = None, pgettext: Pgettext | None = None) -> str:
    """The message of ``code`` with ``params``: in English, or translated by ``pgettext(context, msgid)`` (a
    gettext ``pgettext``: context = code, msgid = the English template; an untranslated entry gives English)."""
    template = MESSAGES[code]
    if pgettext is not None:
        template = pgettext(code, template)
    values = {k: (v.render(pgettext) if isinstance(v, Message) else v) for k, v in (params or {}).items()}
    return template.format(**values)


def fix_code(code: str) -> str | None:
    """The code of the fix of error ``code``, or None when it has none."""
    c = code + ".fix"
    return c if c in MESSAGES else None


def error(cls: type[E], code: str, /, **params: Any) -> E:
    """An error of class ``cls`` whose message and fix are the English of ``code`` and ``<code>.fix``."""
    fc = fix_code(code)
    return cls(render(code, params), render(fc, params) if fc else None, code=code, params=params)


def error_messages(err: IpscopeError) -> tuple[Message, Message | None] | None:
    """An error's message and fix as :class:`Message` s, or None for an error raised without a code."""
    if err.code is None:
        return None
    fc = fix_code(err.code)
    return Message(err.code, **err.params), (Message(fc, **err.params) if fc else None)


# =============================================================================================== the catalogue
# Every template below is the engine's wording, character for character (the existing tests and docs check it).

# ---------------------------------------------------------------------------------------- errors of any part
_msg("extra.missing", "this needs the optional dependency {package!r}")
_msg("extra.missing.fix", "pip install 'ipscope[{extra}]'")

# ----------------------------------------------------------------------------------------------- the registry
_msg("registry.field.owner_name", "owner name")
_msg("registry.field.title", "title")
_msg("registry.field.text", "text")
_msg("registry.unit.bytes", "bytes")
_msg("registry.unit.characters", "characters")
_msg("registry.field.not_string", "{what} is a {type}, not a string")
_msg("registry.field.not_string.fix", "give the {what} as text")
_msg("registry.field.too_long", "{what} has {n:,} {unit}, over the limit of {limit:,}")
_msg("registry.field.too_long.fix", "shorten the {what} to at most {limit:,} {unit}")
_msg("registry.urls.not_list", "urls is not a list of URLs")
_msg("registry.urls.not_list.fix", 'give e.g. ["https://example.com/essay.html"]')
_msg("registry.urls.too_many", "{n} URLs, over the limit of {limit}")
_msg("registry.urls.too_many.fix", "list the pages that publish the work")
_msg("registry.urls.too_long", "urls[{i}] is not a URL of at most {limit} characters")
_msg("registry.urls.too_long.fix", "give http(s) URLs")
_msg("registry.urls.not_http", "urls[{i}] {url!r} is not an http(s) URL with a host")
_msg("registry.urls.not_http.fix", "give the full address where the work is published, e.g. https://example.com/essay")
_msg("registry.meta.not_object", "meta is not a JSON object")
_msg("registry.meta.not_object.fix", 'give e.g. {{"author": "A. Writer", "year": 2026}}')
_msg("registry.meta.not_json", "meta is not JSON: {error}")
_msg("registry.meta.not_json.fix", "give only strings, numbers, booleans, lists and objects")
_msg("registry.meta.too_large", "meta has {n:,} bytes of JSON, over the limit of {limit:,}")
_msg("registry.meta.too_large.fix", "keep metadata short; put the rest on the work's pages")
_msg("registry.db.bad_url", "cannot use database URL {url}: {error}")
_msg("registry.db.bad_url.fix", "give sqlite:///PATH or postgresql://USER@HOST:PORT/DB (the ipscope[service] extra "
     "installs the PostgreSQL driver), or use --data DIR for a SQLite file")
_msg("registry.db.unreachable", "cannot reach the registry database {url}: {reason}")
_msg("registry.db.unreachable.fix", "start the database (for a test cluster: scripts/postgres.sh start) and check "
     "host, port, user and database name in --db; or use --data DIR for a SQLite file")
_msg("registry.owner.empty", "the owner name is empty")
_msg("registry.owner.empty.fix", "give --owner NAME")
_msg("registry.signup.name_empty", "the owner name is empty")
_msg("registry.signup.name_empty.fix", 'give {{"name": "..."}}')
_msg("registry.key.unknown_id", "no API key with id {id!r}")
_msg("registry.key.unknown_id.fix", "give the key, or the id between 'ipk_' and the second '_'")
_msg("registry.key.missing", "no API key")
_msg("registry.key.missing.fix", "give the API key `ipscope keys create` printed (ipk_<id>_<secret>)")
_msg("registry.key.malformed", "the API key is not in the form ipk_<id>_<secret>")
_msg("registry.key.malformed.fix", "give the API key `ipscope keys create` printed (ipk_<id>_<secret>)")
_msg("registry.key.invalid", "the API key is not valid")
_msg("registry.key.invalid.fix", "give the API key `ipscope keys create` printed (ipk_<id>_<secret>)")
_msg("registry.key.revoked", "the API key was revoked")
_msg("registry.key.revoked.fix", "create a new key: ipscope keys create --owner NAME")
_msg("registry.work.not_found", "no work {id!r} in the registry")
_msg("registry.work.not_found.fix", "check the work id the registration returned")
_msg("registry.work.withdrawn", "no work {id!r} in the registry (it was withdrawn)")
_msg("registry.work.withdrawn.fix", "check the work id the registration returned")
_msg("registry.work.text_forbidden", "work {id} belongs to another owner: only its owner reads its text")
_msg("registry.work.text_forbidden.fix", "use the key of the owner who registered it")
_msg("registry.work.forbidden", "work {id} belongs to another owner")
_msg("registry.work.forbidden.fix", "use the key of its owner")
_msg("registry.title.empty", "the title is empty")
_msg("registry.title.empty.fix", "give the work a title")
_msg("registry.text.no_words", "the text has no words (0 tokens): there is nothing to register or match")
_msg("registry.text.no_words.fix", "give the work's text")
_msg("registry.leaf.not_found", "no statement at leaf {leaf}")
_msg("registry.leaf.not_found.fix", "give a leaf index a receipt names")
_msg("registry.export.unknown_format", "unknown export format {format!r}")
_msg("registry.export.unknown_format.fix", "use one of {formats}")
_msg("registry.reservations.not_object", "{where} is a {type}, not an object of terms to values")
_msg("registry.reservations.not_object.fix", 'give e.g. {{"train-ai": "n", "search": "y"}}')
_msg("registry.reservations.unknown_term", "{where}: unknown term {term!r}")
_msg("registry.reservations.unknown_term.fix", "use the IETF aipref terms {terms} (docs/registry.md)")
_msg("registry.reservations.bad_value", "{where}: term {term!r} has value {value!r}")
_msg("registry.reservations.bad_value.fix", 'the value is "y" (allowed) or "n" (not allowed)')

# ------------------------------------------------------------------------------- receipts and their files
_msg("receipt.what.receipt", "receipt")
_msg("receipt.what.consistency", "consistency proof")
_msg("receipt.what.checkpoint", "checkpoint")
_msg("receipt.what.key", "key")
_msg("receipt.field", "{where}: field {field!r} {problem}")
_msg("receipt.field.fix", "use the receipt exactly as the registry issued it")
_msg("receipt.field_newer", "{where}: field {field!r} {problem}")
_msg("receipt.field_newer.fix", "a newer ipscope may have written it: upgrade ipscope")
_msg("receipt.field_version", "{where}: field {field!r} {problem}")
_msg("receipt.field_version.fix", "upgrade ipscope")
_msg("receipt.field_consistency", "{where}: field {field!r} {problem}")
_msg("receipt.field_consistency.fix", "save the registry's /v1/log/consistency answer as it is")
_msg("receipt.problem.not_object", "is not a JSON object")
_msg("receipt.problem.lacks", "lacks {fields}")
_msg("receipt.problem.extra_fields", "has fields a version-1 statement does not: {fields}")
_msg("receipt.problem.version", "is {value!r}; this ipscope reads version {version}")
_msg("receipt.problem.no_jcs", "has no RFC 8785 form: {error}")
_msg("receipt.problem.not_nonempty_string", "is not a non-empty string")
_msg("receipt.problem.not_sha256", "is not 64 lower-case hex digits (a SHA-256)")
_msg("receipt.problem.not_time", "is not an RFC 3339 UTC time like 2026-07-01T12:00:00.000Z: {value!r}")
_msg("receipt.problem.bad_event", "is {value!r}, not one of {events}")
_msg("receipt.problem.not_string_map", 'is not an object of strings ({{"train-ai": "n"}})')
_msg("receipt.problem.not_b64_string", "is not a base64 string")
_msg("receipt.problem.not_b64", "is not base64: {value!r}")
_msg("receipt.problem.wrong_size", "holds {n} bytes, not {size}")
_msg("receipt.problem.not_index", "is not a whole number >= 0: {value!r}")
_msg("receipt.problem.missing", "is missing")
_msg("receipt.problem.missing_more", "is missing (and {more})")
_msg("receipt.problem.not_note", "is not a string (a signed note)")
_msg("receipt.problem.not_checkpoint", "is not a signed checkpoint: {detail}")
_msg("receipt.problem.not_hash_list", "is not a list of base64 hashes")
_msg("receipt.not_object", "{where}: a receipt is a JSON object, this is a {type}")
_msg("receipt.not_object.fix", "give the receipt file the registry issued")
_msg("receipt.consistency_not_object", '{where}: a consistency proof is a JSON object {{"from", "to", "proof"}}')
_msg("receipt.consistency_not_object.fix", "save the registry's /v1/log/consistency answer as it is")
_msg("receipt.file.unreadable", "{path}: the {what} cannot be read ({error})")
_msg("receipt.file.unreadable.fix", "check the path")
_msg("receipt.file.not_utf8", "{path}: the {what} is not UTF-8 text (byte {byte})")
_msg("receipt.file.not_utf8.fix", "give the {what} file as the registry wrote it")
_msg("receipt.file.not_json", "{path}: the {what} is not JSON ({error}, line {line} column {column})")
_msg("receipt.file.not_json.fix", "give the {what} file whole, as the registry wrote it")
_msg("receipt.file.not_json_cut", "{path}: the {what} is not JSON ({error}, line {line} column {column}); the file "
     "ends before the JSON does: it was cut short")
_msg("receipt.file.not_json_cut.fix", "give the {what} file whole, as the registry wrote it")
_msg("receipt.checkpoint_invalid", "{path}: not a signed checkpoint: {detail}")
_msg("receipt.checkpoint_invalid.fix", "save the registry's /v1/log/checkpoint answer as it is")
_msg("receipt.key_lines", "{path}: a key file holds one verifier key line, this has {n}")
_msg("receipt.key_lines.fix", "save the registry's /v1/log/key answer (one line: <name>+<8 hex digits>+<base64>)")
_msg("receipt.key_invalid", "{path}: {detail}")
_msg("receipt.key_invalid.fix", "save the registry's /v1/log/key answer (one line: <name>+<8 hex digits>+<base64>)")

# signed notes, verifier keys and checkpoints (registry/note.py: what a receipt, key or checkpoint file holds)
_msg("note.what.text", "the note text")
_msg("note.what.note", "the signed note")
_msg("note.what.vkey_material", "the verifier key's key material")
_msg("note.what.skey_material", "the signer key's key material")
_msg("note.what.signature", "the signature on line {n}")
_msg("note.what.root_hash", "the checkpoint's root hash")
_msg("note.b64.not_standard", "{what} is not standard base64: {text!r}")
_msg("note.b64.not_standard.fix", "copy it again whole; it uses A-Z a-z 0-9 + / and = padding")
_msg("note.b64.not_canonical", "{what} is not canonical base64: {text!r}")
_msg("note.b64.not_canonical.fix", "copy it again whole")
_msg("note.vkey.parts", "a verifier key has three parts separated by '+', this has {n}: {text!r}")
_msg("note.vkey.parts.fix", "give the key exactly as the log publishes it: <name>+<8 hex digits>+<base64>, on one line")
_msg("note.vkey.name", "verifier key name {name!r} is empty or has spaces")
_msg("note.vkey.name.fix", "give the key exactly as the log publishes it: <name>+<8 hex digits>+<base64>, on one line")
_msg("note.vkey.id", "verifier key ID {id!r} is not 8 lower-case hex digits")
_msg("note.vkey.id.fix", "give the key exactly as the log publishes it: <name>+<8 hex digits>+<base64>, on one line")
_msg("note.vkey.type", "verifier key {key} is not an Ed25519 key (type byte {type}, want 1)")
_msg("note.vkey.type.fix", "ipscope verifies Ed25519 (type 1) keys")
_msg("note.vkey.size", "verifier key {key} has {n} bytes of key, an Ed25519 public key has 32")
_msg("note.vkey.size.fix", "give the key exactly as the log publishes it: <name>+<8 hex digits>+<base64>, on one line")
_msg("note.vkey.id_mismatch", "verifier key {key}: the key ID does not match the name and key (it should be {want})")
_msg("note.vkey.id_mismatch.fix", "give the key exactly as the log publishes it: <name>+<8 hex digits>+<base64>, on "
     "one line")
_msg("note.signer.name", "key name {name!r} is empty or has spaces or '+'")
_msg("note.signer.name.fix", "name the key like a URL without scheme, e.g. registry.example.org/log")
_msg("note.signer.seed_size", "an Ed25519 private key has 32 bytes, not {n}")
_msg("note.skey.prefix", "a signer key starts with PRIVATE+KEY+")
_msg("note.skey.prefix.fix", "give the private key file the registry wrote (PRIVATE+KEY+<name>+<id>+<base64>)")
_msg("note.skey.form", "a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64>")
_msg("note.skey.form.fix", "give the private key file the registry wrote (PRIVATE+KEY+<name>+<id>+<base64>)")
_msg("note.skey.type", "the signer key is not an Ed25519 (type 1) seed of 32 bytes")
_msg("note.skey.type.fix", "give the private key file the registry wrote (PRIVATE+KEY+<name>+<id>+<base64>)")
_msg("note.skey.id_mismatch", "signer key {key}: the key ID does not match the key")
_msg("note.skey.id_mismatch.fix", "give the private key file the registry wrote (PRIVATE+KEY+<name>+<id>+<base64>)")
_msg("note.control_char", "{what} has the control character {char}; a note allows only newlines")
_msg("note.text_newline", "a note's text ends with a newline")
_msg("note.not_utf8", "a signed note is UTF-8; byte {byte} is not")
_msg("note.no_final_newline", "the signed note does not end with a newline (is it cut short?)")
_msg("note.no_final_newline.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.no_blank_line", "the signed note has no blank line before its signatures")
_msg("note.no_blank_line.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.no_signatures", "the signed note has no signature lines")
_msg("note.no_signatures.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.too_many_signatures", "the signed note has {n} signatures, more than {max}")
_msg("note.too_many_signatures.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 "
     "signature>'")
_msg("note.sig.prefix", "signature line {n} does not start with an em dash and a space: {line!r}")
_msg("note.sig.prefix.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.sig.name", "signature line {n} has no valid key name: {line!r}")
_msg("note.sig.name.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.sig.short", "the signature on line {n} is {size} bytes, too short for a key ID and a signature")
_msg("note.sig.short.fix", "a signed note is text, a blank line, then lines '— <key name> <base64 signature>'")
_msg("note.checkpoint.newline", "the checkpoint text does not end with a newline")
_msg("note.checkpoint.newline.fix", "a checkpoint's text is three lines: origin, tree size, base64 root hash")
_msg("note.checkpoint.lines", "the checkpoint text has {n} lines, fewer than 3")
_msg("note.checkpoint.lines.fix", "a checkpoint's text is three lines: origin, tree size, base64 root hash")
_msg("note.checkpoint.empty_line", "the checkpoint text has an empty line")
_msg("note.checkpoint.empty_line.fix", "a checkpoint's text is three lines: origin, tree size, base64 root hash")
_msg("note.checkpoint.size", "the checkpoint's tree size {size!r} is not a decimal number without leading zeros")
_msg("note.checkpoint.size.fix", "a checkpoint's text is three lines: origin, tree size, base64 root hash")
_msg("note.checkpoint.root_size", "the checkpoint's root hash has {n} bytes, a SHA-256 hash has 32")
_msg("note.checkpoint.root_size.fix", "a checkpoint's text is three lines: origin, tree size, base64 root hash")

# verifying a receipt (registry/receipt.py verify, the Merkle proofs of registry/merkle.py, signed notes): the
# name of each check and what it found
_msg("verify.check.statement_signature", "statement signature")
_msg("verify.check.checkpoint_signature", "checkpoint signature")
_msg("verify.check.inclusion", "inclusion")
_msg("verify.check.newer_checkpoint_signature", "newer checkpoint signature")
_msg("verify.check.consistency", "consistency")
_msg("verify.statement_signature.ok", "Ed25519 signature of the statement's canonical JSON ({n} bytes) by {key}")
_msg("verify.statement_signature.bad", "the signature does not verify with {key}: the statement was changed after it "
     "was signed, or another key signed it")
_msg("verify.checkpoint.ok", "checkpoint of log {origin} at {size} leaves, signed by {key}")
_msg("verify.inclusion.ok", "leaf {leaf} (hash {hash}) is in the tree of {size} leaves with root {root}")
_msg("verify.inclusion.bad", "the inclusion proof of leaf {leaf} (hash {hash}) leads to root {got}, not to the "
     "checkpoint's root {root}: the statement, leaf index or proof was changed, or the proof is another leaf's")
_msg("verify.consistency.no_checkpoint", "a consistency proof was given without the newer checkpoint it leads to")
_msg("verify.consistency.same", "the newer checkpoint is of the same tree ({size} leaves)")
_msg("verify.consistency.missing", "no consistency proof from {old} to {new} leaves was given")
_msg("verify.consistency.sizes", "the proof is from {proof_old} to {proof_new} leaves, the checkpoints are of {old} "
     "and {new}")
_msg("verify.consistency.ok", "the tree of {old} leaves is a prefix of the newer tree of {new} leaves (root {root})")
_msg("note.verify.bad_signature", "the signature of key {key} does not verify: the note was changed after it was "
     "signed, or signed by another key of that name")
_msg("note.verify.not_signed", "the note is not signed by the key given (signed by {names}; key given: {want})")
_msg("note.verify.checkpoint_key", "the checkpoint is not signed by the log's key {key}")
_msg("note.verify.origin", "the checkpoint is of log {origin!r}, the key given is {name!r}")
_msg("proof.what.leaf_hash", "the leaf hash")
_msg("proof.what.root_hash", "the root hash")
_msg("proof.what.old_root", "the old root hash")
_msg("proof.what.new_root", "the new root hash")
_msg("proof.what.inclusion_hash", "inclusion proof hash {i}")
_msg("proof.what.consistency_hash", "consistency proof hash {i}")
_msg("proof.not_hash", "{what} is not a {size}-byte SHA-256 hash")
_msg("proof.leaf_outside", "leaf index {index} is not in a tree of {size} leaves")
_msg("proof.inclusion.too_long", "the inclusion proof has {n} hashes, more than leaf {index} of a tree of {size} needs")
_msg("proof.inclusion.too_short", "the inclusion proof has {n} hashes, fewer than leaf {index} of a tree of {size} "
     "needs")
_msg("proof.inclusion.wrong_root", "the inclusion proof of leaf {index} leads to root {got}, not to the tree's root "
     "{root} (size {size})")
_msg("proof.consistency.shrinks", "the old tree ({old} leaves) is larger than the new one ({new}): a log only grows")
_msg("proof.consistency.same_size_not_empty", "a consistency proof between trees of the same size must be empty")
_msg("proof.consistency.forked", "two different roots for the same tree size {size}: the log forked")
_msg("proof.consistency.from_empty_not_empty", "a consistency proof from the empty tree must be empty")
_msg("proof.consistency.empty_root", "the root of the empty tree is not SHA-256 of nothing")
_msg("proof.consistency.empty", "the consistency proof from {old} to {new} leaves is empty")
_msg("proof.consistency.too_long", "the consistency proof has more hashes than a proof from {old} to {new} leaves "
     "needs")
_msg("proof.consistency.too_short", "the consistency proof has fewer hashes than a proof from {old} to {new} leaves "
     "needs")
_msg("proof.consistency.wrong_old_root", "the consistency proof does not lead to the old root {root} ({size} leaves): "
     "it gives {got}")
_msg("proof.consistency.wrong_new_root", "the consistency proof does not lead to the new root {root} ({size} leaves): "
     "it gives {got}")

# ---------------------------------------------------------------------------------------------- the audit
_msg("audit.policy.no_agents", "--policy agent needs at least one --agent")
_msg("audit.policy.no_agents.fix", "name the agents, e.g. --agent GPTBot")
_msg("audit.rsl_user.unknown", "--rsl-user {user!r} is not an RSL user class")
_msg("audit.rsl_user.unknown.fix", "give one of {choices}")
_msg("audit.region.invalid", "--region {region!r} is not an ISO 3166-1 alpha-2 code or EU")
_msg("audit.region.invalid.fix", "give a two-letter country code such as DE, US, JP, or EU")
_msg("audit.out.not_audit", "{out} exists and is not an ipscope audit directory; refusing to replace it (with "
     "--force or without)")
_msg("audit.out.not_audit.fix", "choose another --out (a new path, or an earlier audit's directory with --force)")
_msg("audit.out.exists", "{out} already exists (an ipscope audit)")
_msg("audit.out.exists.fix", "pass --force to replace it, or choose another --out")
_msg("audit.out.cannot_create", "--out {out}: cannot be created ({error})")
_msg("audit.out.cannot_create.fix", "choose an --out in a writable directory (not below a file)")
_msg("audit.sites.with_fetch", "--sites and --fetch cannot be used together")
_msg("audit.sites.with_fetch.fix", "choose one source of site files")
_msg("audit.sites.not_dir", "--sites {path}: not a directory")
_msg("audit.sites.not_dir.fix", "give a snapshot laid out as DIR/<host>/robots.txt, DIR/<host>/ai.txt, "
     "DIR/<host>/.well-known/tdmrep.json")
_msg("audit.snapshot.not_dir", "site snapshot {path} is not a directory")
_msg("audit.snapshot.not_dir.fix", "pass --sites a directory laid out as DIR/<host>/robots.txt (see "
     "docs/audit/sites.md), or use --fetch")
_msg("audit.source_kind.unknown", "--source-kind {kind!r} is not a source kind")
_msg("audit.source_kind.unknown.fix", "give one of {choices}: the section of the public summary's template the "
     "records without a source_kind field belong to")
_msg("audit.jobs.too_few", "--jobs {jobs}: at least 1")
_msg("audit.jobs.too_few.fix", "give the number of processes, e.g. --jobs 4")
_msg("audit.fetch.cache_dir", "cannot create the fetch cache directory {path}: {error}")
_msg("audit.fetch.cache_dir.fix", "pass a writable cache directory")
_msg("audit.records.unreadable", "{path}: cannot be read")
_msg("audit.records.unreadable.fix", "check the path and its permissions")
_msg("audit.worker.died", "an audit worker process died before finishing its piece (out of memory, killed, or it "
     "could not start because the calling script audits at import time)")
_msg("audit.worker.died.fix", 'run the same command again; from a Python script, call audit under `if __name__ == '
     '"__main__":` or pass AuditOptions(jobs=1)')
_msg("audit.licences.tables", "cannot load the licence tables: {error}")
_msg("audit.licences.tables.fix", "reinstall ipscope")
_msg("audit.exclude.too_large", "--exclude-domains {name}: {size:,} bytes, more than the {mib} MiB a domain list "
     "may hold")
_msg("audit.exclude.too_large.fix", "give a list of domains, one a line")
_msg("audit.exclude.directory", "--exclude-domains {name}: a directory, not a file")
_msg("audit.exclude.directory.fix", "give a text file of domains, one a line")
_msg("audit.exclude.unreadable", "--exclude-domains {name}: cannot be read ({error})")
_msg("audit.exclude.unreadable.fix", "check the path and its permissions")
_msg("audit.exclude.binary", "--exclude-domains {name}: a binary file (it holds NUL bytes), not a list of domains")
_msg("audit.exclude.binary.fix", "write one domain a line (example.com, or *.example.com: either means the domain "
     "and its subdomains), '#' for comments")
_msg("audit.exclude.not_utf8", "{name}:{line}: invalid UTF-8 at byte {byte} of the line")
_msg("audit.exclude.not_utf8.fix", "save the list as UTF-8 (domains may be written in Unicode or in xn-- form)")
_msg("audit.exclude.several", "{name}:{line}: {text!r} holds more than one name")
_msg("audit.exclude.several.fix", "write one domain a line")
_msg("audit.exclude.url", "{name}:{line}: {text!r} is a URL, not a domain")
_msg("audit.exclude.url.fix", "write the domain only ({host}); it excludes every page of the domain and its "
     "subdomains")
_msg("audit.exclude.wildcard", "{name}:{line}: {text!r}: a wildcard is accepted only as a leading '*.'")
_msg("audit.exclude.wildcard.fix", "write *.example.com or example.com (both mean the domain and its subdomains)")
_msg("audit.exclude.port", "{name}:{line}: {text!r} has a port or is not a host name")
_msg("audit.exclude.port.fix", "write the domain without a port (every port of it is excluded)")
_msg("audit.exclude.wildcard_ip", "{name}:{line}: {text!r}: a wildcard cannot apply to an IP address")
_msg("audit.exclude.wildcard_ip.fix", "write the address alone")
_msg("audit.exclude.not_domain", "{name}:{line}: {text!r} is not a domain name")
_msg("audit.exclude.not_domain.fix", "write a host name such as example.com, bücher.example or xn--bcher-kva.example")
_msg("audit.exclude.digits", "{name}:{line}: {text!r} is neither a domain name nor an IPv4 address (a top-level "
     "domain is never all digits)")
_msg("audit.exclude.digits.fix", "write the domain, or the whole address such as 192.0.2.1")

# why a record is rejected (the manifest's "error") and the fields of a record the audit ignored (its "notes")
_msg("audit.rejected.unreadable", "unreadable record")
_msg("audit.rejected.no_url", "no url: every record needs a 'url' (the http(s) address the text was collected from)")
_msg("audit.rejected.bad_url", "not a valid http(s) URL: {url!r}")
_msg("audit.rejected.no_text", "no text: every record needs a 'text' string")
_msg("audit.rejected.text_type", "text is a {type}, not a string")
_msg("audit.rejected.not_mapping", "the record is a {type}, not a mapping of fields; give an object with at least "
     "'url' and 'text'")
_msg("audit.rejected.source_kind", "source_kind {value!r} is not a source kind; give one of {choices}, one per "
     "section of the public summary's template, or leave the field out to use --source-kind")
_msg("audit.rejected.parquet", "{detail}; nothing of it was audited; fix: check that the file is Parquet, or give "
     "JSONL")
_msg("audit.note.header_entry", "headers: ignored an entry that is not [name, value] or 'Name: value': {entry!r}")
_msg("audit.note.headers_type", "headers: ignored, a {type} (give an object of name -> value)")
_msg("audit.note.header_name", "headers: ignored a non-string name {name!r}")
_msg("audit.note.field_type", "{name}: ignored, a {type} (give a string)")
# the record readers the audit shares with the index (corpus/records.py): a line or row that is not a record
_msg("corpus.id.float", "{field!r} must be a string or an integer, got float (a JSON number that is not an integer "
     "of at most 64 bits loses its exact value); give the id as a string")
_msg("corpus.id.type", "{field!r} must be a string or an integer, got {type}")
_msg("corpus.id.empty", "{field!r} is empty; give every record a unique id, or leave the field out to have one "
     "assigned")
_msg("corpus.id.surrogate", "{field!r} holds an unpaired surrogate ({id!a}); ids must be valid Unicode")
_msg("corpus.line.not_utf8", "invalid UTF-8 at byte {byte} of the line; {fix}")
_msg("corpus.fix.reencode", "re-encode the file as UTF-8")
_msg("corpus.line.malformed_json", "malformed JSON ({error} at column {column}); fix or remove the line")
_msg("corpus.line.unreadable_json", "unreadable JSON ({error}); fix or remove the line")
_msg("corpus.line.not_object", "expected a JSON object, got {type}; each line must be one object")
_msg("corpus.gzip.damaged", "gzip stream unreadable after line {line} ({error}); the lines before the damage were "
     "read — re-create the file (re-download or re-compress it)")
_msg("corpus.parquet.row_group", "Parquet row group {group} (rows {first:,}-{last:,}) could not be read ({error}); its "
     "{unread:,} unread rows were skipped, the other row groups were read; fix: re-write the file")
_msg("corpus.parquet.row_json", "row cannot be written as JSON: {error}")

# the reasons of an audit record: its decision, the findings that decided it, the signals it could not consult
_msg("audit.decision.allowed", "allowed")
_msg("audit.decision.reserved", "reserved")
_msg("audit.decision.rejected", "rejected")
_msg("audit.reason.reserved", "reserved by {signal}: {where}")
_msg("audit.reason.permitted", "permitted by {signal}: {where}")
_msg("audit.not_checked.no_site_files", "no site files given (--sites or --fetch)")
_msg("audit.not_checked.c2pa_missing", "the c2pa extra is not installed (pip install 'ipscope[c2pa]')")
_msg("audit.not_checked.media_unreadable", "the media file could not be read (see problems)")
_msg("audit.not_checked.fetch_failed", "fetch failed (see problems)")
_msg("audit.not_checked.snapshot_unreadable", "snapshot file unreadable (see problems)")
_msg("audit.not_checked.http", "HTTP {status}")
_msg("audit.not_checked.rsl_documents", "licence documents")

# where a finding was read (``Finding.where``): the file, header or element, precise enough to re-check by hand; a
# file's address or path, a header's and an element's name stay as written
_msg("audit.where.line", "{source} line {line}")
_msg("audit.where.entry", "{source} entry {i}")
_msg("audit.where.header", "header {name}")
_msg("audit.where.meta", 'html <meta name="{name}">')
_msg("audit.where.value_of", "{where} (value {i} of {n})")
_msg("audit.where.c2pa", "{file} manifest {label} assertion {assertion}")
_msg("audit.where.rsl_content", '{source} <content url="{url}">')

#: the signals a finding names (``Finding.signal``), each with a code for its name in the page (the English is the
#: name as the manifest writes it; a translation may add words but keeps the name)
SIGNALS: tuple[str, ...] = ("robots.txt", "content-signal", "content-usage", "ai.txt", "tdmrep", "noai", "noimageai",
                            "c2pa", "rsl", "excluded-domain")
_msg("audit.signal.robots.txt", "robots.txt")
_msg("audit.signal.content-signal", "content-signal")
_msg("audit.signal.content-usage", "content-usage")
_msg("audit.signal.ai.txt", "ai.txt")
_msg("audit.signal.tdmrep", "tdmrep")
_msg("audit.signal.noai", "noai")
_msg("audit.signal.noimageai", "noimageai")
_msg("audit.signal.c2pa", "c2pa")
_msg("audit.signal.rsl", "rsl")
_msg("audit.signal.excluded-domain", "excluded-domain")

# ------------------------------------------------------------------------ text encodings (corpus/encoding.py)
_msg("encoding.invalid_utf8", "invalid UTF-8 at byte {position} (the rest reads as UTF-8)")
_msg("encoding.invalid_utf8.fix", "pass --encoding-errors replace to read it with U+FFFD for the bad bytes, or "
     "--encoding NAME if it is in another encoding")
_msg("encoding.not_text_in", "bytes at offset {position} are not text in {name} ({how})")
_msg("encoding.not_text_in.fix", "pass --encoding-errors replace to read it with U+FFFD for the bad bytes, or "
     "--encoding NAME if it is in another encoding")
_msg("encoding.not_text_in_given", "bytes at offset {position} are not text in {name} ({how})")
_msg("encoding.not_text_in_given.fix", "pass --encoding-errors replace to read it with U+FFFD for the bad bytes")
_msg("encoding.how.given", "given")
_msg("encoding.how.bom", "from its byte-order mark")
_msg("encoding.how.detected", "detected")
_msg("encoding.binary", "binary data (NUL bytes), not text")
_msg("encoding.binary.fix", "give a text file (any encoding: UTF-8, UTF-16, a legacy code page)")

# ------------------------------------------------------------------ what Python's json module says of bad JSON
#: json's own messages (CPython's decoder and scanner), each with a code so a page can show it translated
JSON_ERRORS: dict[str, str] = {
    "Expecting value": _msg("json.expecting_value", "Expecting value"),
    "Expecting property name enclosed in double quotes": _msg("json.expecting_name",
                                                              "Expecting property name enclosed in double quotes"),
    "Expecting ':' delimiter": _msg("json.expecting_colon", "Expecting ':' delimiter"),
    "Expecting ',' delimiter": _msg("json.expecting_comma", "Expecting ',' delimiter"),
    "Extra data": _msg("json.extra_data", "Extra data"),
    "Unterminated string starting at": _msg("json.unterminated_string", "Unterminated string starting at"),
    "Invalid control character at": _msg("json.control_character", "Invalid control character at"),
    "Invalid \\escape": _msg("json.invalid_escape", "Invalid \\escape"),
    "Invalid \\uXXXX escape": _msg("json.invalid_u_escape", "Invalid \\uXXXX escape"),
    "Illegal trailing comma before end of object": _msg("json.trailing_comma_object",
                                                        "Illegal trailing comma before end of object"),
    "Illegal trailing comma before end of array": _msg("json.trailing_comma_array",
                                                       "Illegal trailing comma before end of array"),
}


def json_error(msg: str) -> Message | str:
    """What ``json.JSONDecodeError.msg`` says, as a message with a code (as written when json said something
    this table lacks)."""
    code = JSON_ERRORS.get(msg)
    return Message(code) if code is not None else msg


# ------------------------------------------------------------------------------ notes of an index, licences
_msg("index.skipped_note", "the index left {n:,} input record(s) out ({reasons}), so text from them cannot be found; "
     "they are listed with the reason and the fix in {account} (jq -c 'select(.status == \"skipped\")' {account}, "
     "or grep '\"skipped\"' {account})")
_msg("audit.licence.jsonld_too_large", "JSON-LD block {i}: larger than {limit} bytes; not read")
_msg("audit.licence.jsonld_not_json", "JSON-LD block {i}: not JSON ({error}); ignored")
_msg("audit.licence.no_text", "{where}: {type} value carries no licence text; ignored")

# ------------------------------------------------------------------------------------------- similar's notes
_msg("similar.no_embed", "lexical evidence only: paraphrase and translation could not be judged (they need "
     "semantic evidence: pip install 'ipscope[embed]'); copies and near-copies are still found")
_msg("similar.vectors_other_model", "passage vectors not used: they were made with {model}, not with this embedder")
_msg("similar.lexical_enough", "no semantic evidence computed: a document explains {share:.0%} of the query word "
     "for word")


def signal_message(signal: str) -> Message | str:
    """The name of a signal as a message (a signal without a code of its own is shown as written)."""
    code = f"audit.signal.{signal}"
    return Message(code) if code in MESSAGES else signal


def decision_message(decision: str) -> Message:
    return Message(f"audit.decision.{decision}")


def finding_message(finding: Any) -> Message:
    """An audit finding (``ipscope.audit.signals.base.Finding``) as a reason: "reserved by robots.txt: <where>".
    ``where`` locates the evidence (a URL and line, a header name) and is kept as written, like the evidence."""
    code = "audit.reason.reserved" if finding.reserved else "audit.reason.permitted"
    return Message(code, signal=signal_message(finding.signal), where=finding.where)
