"""The registry's and the service's commands of ``ipscope``: ``verify``, ``keys``, ``registry`` and ``serve``.

Thin shells over ``ipscope.registry`` and ``ipscope.service``, as the other commands are over their APIs
(``ipscope.cli``, which imports this module to add them to its ``main`` group).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from .cli import CONTEXT, _fail, _say, main
from .errors import InputError, IpscopeError

EXIT_NOT_VERIFIED = 1  # ipscope verify: the files were read and a check failed
EXIT_UNREADABLE = 4  # ipscope verify: a file could not be read or is not in its format

VERIFY_STATUS = ("Exit status: 0 every check holds; 1 a check failed (the receipt does not verify: the failed "
                 "checks are named on stdout and stderr); 2 wrong usage; 4 a file could not be read or is not in "
                 "its format (the message names the file and the field).")


@main.command("verify", context_settings=CONTEXT, epilog=VERIFY_STATUS)
@click.argument("receipt", type=click.Path(path_type=Path))
@click.option("--key", "key", required=True, type=click.Path(path_type=Path), metavar="PUBLIC_KEY_FILE",
              help="The log's public key in C2SP verifier-key format (<name>+<key id>+<base64>, one line: the "
                   "registry's GET /v1/log/key).")
@click.option("--checkpoint", type=click.Path(path_type=Path), metavar="NEWER_CHECKPOINT",
              help="A later signed checkpoint of the same log (GET /v1/log/checkpoint), to check that the log "
                   "still holds the receipt's tree. Needs --consistency.")
@click.option("--consistency", type=click.Path(path_type=Path), metavar="PROOF",
              help="The consistency proof from the receipt's tree size to the newer checkpoint's (GET "
                   "/v1/log/consistency?from=M&to=N, JSON {\"from\", \"to\", \"proof\"}). Needs --checkpoint.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per check; json: the checks and the statement as one JSON object.")
def verify_cmd(receipt: Path, key: Path, checkpoint: Path | None, consistency: Path | None, fmt: str) -> None:
    """Check a registry RECEIPT offline: its signature, and that the log holds it.

    \b
    Checks, with nothing but the files: the Ed25519 signature of the statement's RFC 8785
    canonical JSON; the signed checkpoint (C2SP signed note, by the same key); the RFC 9162
    inclusion proof from the statement's leaf to the checkpoint's root; and with
    --checkpoint and --consistency, that a newer checkpoint of the log extends the
    receipt's tree. Formats and how to check by hand: docs/proof.md.
    """
    from .registry.receipt import ReceiptFormatError, verify_files

    if (checkpoint is None) != (consistency is None):
        raise click.UsageError("--checkpoint and --consistency go together: the newer checkpoint and the "
                               "consistency proof that leads to it")
    try:
        result = verify_files(receipt, key, checkpoint, consistency)
    except ReceiptFormatError as e:
        _say(e)
        sys.exit(EXIT_UNREADABLE)
    if fmt == "json":
        from .report import to_json

        click.echo(to_json(result))
    else:
        from .report.verify import verify_text

        click.echo(verify_text(result, str(receipt)), nl=False)
    if not result.ok:
        for c in result.failed:
            click.echo(f"ipscope: error: {c.name}: {c.detail}", err=True)
        click.echo("  fix: the receipt does not verify with this key: do not rely on it; check you have the "
                   "log's key and the receipt as issued", err=True)
        sys.exit(EXIT_NOT_VERIFIED)


# --------------------------------------------------------------------------- registry: keys and check


def _db_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--db", "db", metavar="URL", default=None,
                      help="The registry database: postgresql://USER@HOST:PORT/DB or sqlite:///PATH (instead of "
                           "--data).")(fn)
    fn = click.option("--data", "data", metavar="DIR", default=None, type=click.Path(path_type=Path),
                      help="The registry's data directory: a SQLite file DIR/registry.db (made when new).")(fn)
    return fn


def _open_registry(data: Path | None, db: str | None) -> Any:
    if (data is None) == (db is None):
        raise click.UsageError("give the registry as --data DIR (a SQLite file in DIR) or --db URL (PostgreSQL), "
                               "one of them")
    try:
        from .registry.service import Registry
    except ImportError as e:
        _fail(IpscopeError(f"the registry needs the optional dependencies of ipscope[service] ({e.name} is "
                           "missing)", "pip install 'ipscope[service]'"))
    try:
        return Registry.open(db) if db is not None else Registry.open_data(data)  # type: ignore[arg-type]
    except IpscopeError as e:
        _fail(e)


@main.group("keys", context_settings=CONTEXT)
def keys_group() -> None:
    """API keys of the registry's owners (docs/registry.md)."""


@keys_group.command("create", context_settings=CONTEXT)
@_db_options
@click.option("--owner", required=True, metavar="NAME", help="The owner the key acts for (created when new).")
def keys_create(data: Path | None, db: str | None, owner: str) -> None:
    """Create an API key for an owner and print it as the last line.

    The key is shown this once: the registry keeps only its SHA-256. Give it to the owner; revoke it with
    `ipscope keys revoke`.
    """
    with _open_registry(data, db) as reg:
        try:
            k = reg.create_key(owner)
        except IpscopeError as e:
            _fail(e)
    click.echo(f"owner {k.owner} (id {k.owner_id}), key id {k.key_id}; the key (shown once, keep it secret):",
               err=True)
    click.echo(k.key)


@keys_group.command("revoke", context_settings=CONTEXT)
@_db_options
@click.argument("key")
def keys_revoke(data: Path | None, db: str | None, key: str) -> None:
    """Revoke KEY (the key itself, or its id: the part between `ipk_` and the second `_`)."""
    with _open_registry(data, db) as reg:
        try:
            kid = reg.revoke_key(key)
        except IpscopeError as e:
            _fail(e)
    click.echo(f"revoked key {kid}")


@main.group("registry", context_settings=CONTEXT)
def registry_group() -> None:
    """The registry's database and log (docs/registry.md)."""


@registry_group.command("check", context_settings=CONTEXT,
                        epilog="Exit status: 0 database, log and works index agree; 1 they disagree (each "
                               "difference is printed) or the database cannot be opened; 2 wrong usage.")
@click.option("--db", "db", metavar="URL", default=None,
              help="The registry database: postgresql://USER@HOST:PORT/DB or sqlite:///PATH (instead of the "
                   "SQLite file in --data; with --data too, the works index is read from --data).")
@click.option("--data", "data", metavar="DIR", default=None, type=click.Path(path_type=Path),
              help="The registry's data directory: a SQLite file DIR/registry.db (unless --db) and the works "
                   "index DIR/works.idx.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def registry_check(data: Path | None, db: str | None, fmt: str) -> None:
    """Report any disagreement between the registry's database, its log and its works index.

    \b
    Recomputes every leaf from the stored statements, checks their signatures, the leaf
    indexes, the stored subtree hashes and the root, and that each work's row matches its
    last logged statement. With --data, also the works index (DIR/works.idx) at the log
    position it has applied: works missing from it or withdrawn but still in it, texts
    that differ, documents that are no work, a position beyond the log.
    """
    with _open_registry(None if db is not None else data, db) as reg:
        try:
            report = reg.check(data / "works.idx" if data is not None else None)
        except IpscopeError as e:
            _fail(e)
    if fmt == "json":
        import json

        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.text(), nl=False)
    if not report.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- serve

SERVE_STATUS = ("Exit status: 0 stopped (Ctrl-C or SIGTERM); 1 could not start: the database cannot be reached, "
                "--data cannot be made, a --corpus or --sites directory cannot be used, or the address is taken "
                "(the message says which and the fix); 2 wrong usage.")


@main.command("serve", context_settings=CONTEXT, epilog=SERVE_STATUS)
@click.option("--data", "data", metavar="DIR", default=None, type=click.Path(path_type=Path),
              help="Data directory: the SQLite registry DIR/registry.db (unless --db) and the index of registered "
                   "works DIR/works.idx (made when new). Required, except for a shard server (--shards) or a "
                   "router (--route), which hold no registry.")
@click.option("--db", "db", metavar="URL", default=None,
              help="The registry database instead of DIR/registry.db: postgresql://USER@HOST:PORT/DB (for several "
                   "workers or servers) or sqlite:///PATH.")
@click.option("--corpus", "corpora", multiple=True, metavar="NAME=DIR",
              help="An index (ipscope index) that /v1/trace and /v1/similar search, by NAME (repeatable).")
@click.option("--sites", "sites", multiple=True, metavar="NAME=DIR",
              help="A snapshot of site files (as ipscope audit --sites) that /v1/audit reads, by NAME "
                   "(repeatable). The server never fetches a URL a request names.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes serving requests (each opens the registry and the corpora; use PostgreSQL "
                   "with more than one). One more process keeps the works index in step.")
@click.option("--no-signup", is_flag=True, help="Close sign-up (POST /v1/owners): keys only from ipscope keys create.")
@click.option("--rate-limit", default=600, show_default=True, type=click.IntRange(0),
              help="Requests a minute per API key (or per client address without one), per worker; 0: no limit.")
@click.option("--signup-limit", default=10, show_default=True, type=click.IntRange(0),
              help="Sign-ups an hour per client address, per worker; 0: no limit.")
@click.option("--max-body-mb", default=16.0, show_default=True, type=click.FloatRange(0.001),
              help="Largest request body, in MB (a 10 MB work in JSON fits in 16).")
@click.option("--shards", "shards", metavar="A-B,C", default=None,
              help="Be a shard server: serve only these shards of each --corpus (numbered as in its manifest, "
                   "e.g. 0-3,7) to a router, on the internal /v1/shard endpoints (docs/scale.md, \"Sharded "
                   "serving\"). Listen on a private network only: shard endpoints take no keys.")
@click.option("--route", "routes", multiple=True, metavar="[NAME=]URL[,URL]",
              help="Be a router: answer /v1/trace and /v1/similar from the shard servers at these URLs (repeatable; "
                   "NAME= takes only that corpus of them). They must serve one index and every shard; servers with the "
                   "same --shards are replicas (a call fails over to the next).")
@click.option("--shard-timeout", default=10.0, show_default=True, type=click.FloatRange(0.001),
              help="A router's deadline for each call to a shard server, in seconds; a server down or later is "
                   "left out and the answer says \"partial\": true.")
@click.option("--shard-backoff", default=1.0, show_default=True, type=click.FloatRange(0),
              help="A router leaves a shard server that missed its deadline out of every request (answered at "
                   "once, by a replica or partial) and asks it again after this many seconds, twice as long after "
                   "each miss, up to 30 s; 0: ask it on every request (each waits the deadline).")
@click.option("--no-partial", is_flag=True,
              help="A router answers 503 instead of an answer without the shards of servers that failed, unless "
                   "a request says \"allow_partial\": true (by default it answers with the others, marked "
                   "\"partial\": true, unless a request says false).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve_cmd(data: Path | None, db: str | None, corpora: tuple[str, ...], sites: tuple[str, ...], host: str,
              port: int, workers: int, no_signup: bool, rate_limit: int, signup_limit: int, max_body_mb: float,
              shards: str | None, routes: tuple[str, ...], shard_timeout: float, shard_backoff: float,
              no_partial: bool, log_level: str) -> None:
    """Serve the registry and the three questions over HTTP (docs/service.md).

    \b
    Creators sign up (POST /v1/owners), register works with their AI-use reservations
    (POST /v1/works) and get signed receipts; anyone checks a text against the registered
    works (POST /v1/check), traces or compares it with a --corpus (POST /v1/trace,
    /v1/similar) and audits records (POST /v1/audit). OpenAPI at /docs. Errors are RFC
    9457 problems with the fix.

    \b
    Sharded (docs/scale.md): shard servers serve some shards of an index each
    (--corpus NAME=DIR --shards 0-3), a router answers /v1/trace and /v1/similar
    from them (--route URL ...) exactly as one process would.
    """
    from .service.config import ServiceConfig, parse_named_dirs

    try:
        sharded = shards is not None or bool(routes)
        if data is None and not sharded:
            raise InputError("--data is missing", "give a data directory: ipscope serve --data DIR (or serve "
                                                  "shards with --shards, or route with --route)")
        if no_partial and not routes:
            raise InputError("--no-partial is for a router: only a router can answer without some shards",
                             "drop --no-partial, or give the shard servers with --route URL")
        if data is not None and sharded:
            raise InputError("shard servers and routers hold no registry: --data is not for them",
                             "drop --data (serve the registry from a separate ipscope serve --data DIR)")
        config = ServiceConfig(data=data or Path("."), db=db, corpora=parse_named_dirs(corpora, "--corpus"),
                               sites=parse_named_dirs(sites, "--sites"), signup=not no_signup,
                               rate_limit=rate_limit, signup_limit=signup_limit,
                               max_body_bytes=int(max_body_mb * 1_000_000), workers=workers, shards=shards,
                               routes=routes, shard_timeout=shard_timeout,
                               shard_backoff=shard_backoff, allow_partial=not no_partial)
        if workers > 1 and not db and not sharded:
            click.echo("ipscope: warning: several --workers on SQLite serialise every write through one file; "
                       "use --db postgresql://... for a multi-worker deployment", err=True)
        from .service.run import serve

        serve(config, host=host, port=port, workers=workers, log_level=log_level)
    except ImportError as e:
        _fail(IpscopeError(f"ipscope serve needs the optional dependencies of ipscope[service] ({e.name} is "
                           "missing)", "pip install 'ipscope[service]'"))
    except IpscopeError as e:
        _fail(e)

