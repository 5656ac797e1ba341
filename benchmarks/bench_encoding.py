"""Pick the encoding detector, and measure what detection costs an index build, in one run.

**Accuracy** (``accuracy``): a multi-encoding set built from real text in ../shared/data, each item
a text encoded the way real files are:

* English novels (Project Gutenberg): windows around their non-ASCII characters (curly quotes, £,
  accented names) as **Windows-1252** when they hold a character only it has (quotes, dashes), else
  as **Latin-1**; some as **UTF-16** LE/BE with and without a byte-order mark;
* Chinese classics (simplified) as **GB18030**; the Chinese Union Version (traditional, Mandarin and
  classical) as **Big5** and as **GB18030** (traditional text in GBK is common in real files);
* Japanese, Korean and Spanish prose (the translations of *Rust by Example*, MIT/Apache-2.0, shipped
  with the Rust toolchain, when present) as **Shift_JIS** (cp932) and EUC-JP, **cp949** and EUC-KR,
  Windows-1252/Latin-1; UTF-16 Chinese too;
* ``stray``: every long legacy item (2,000 characters or more) again with two bytes its encoding cannot read inserted (a file
  that is 99% one encoding); right when decoding with replacement gives the text back with U+FFFD
  in their places.

Sizes: ``tiny`` (a line: 60 characters of English, 16-20 of Chinese or Japanese), ``short`` (a query:
~300 bytes) and ``long`` (a file: up to 16 KB). Items are split by source
document (a book, a classic, a Bible book, a page) into a development part (rules were written
looking at it) and a held-out part (reported separately, never looked at while tuning).

Each detector is scored two ways: ``raw`` (its first guess, decoded with replacement) and ``ipscope``
(it inside ``ipscope.corpus.encoding.decode(errors="replace")``: BOM, UTF-16/32 pattern, UTF-8, then its guesses through the
rules). An item is right when the decoded text equals the original text exactly.

**Build cost** (``build``): the same text (Gutenberg + Chinese, repeated until ``--tokens`` tokens)
written as ``.txt`` files once in UTF-8 and once in legacy encodings (Windows-1252/Latin-1 for English,
GB18030 for simplified and Big5 for traditional Chinese, a few UTF-16), each indexed with
``build_index(..., BuildOptions(passages=False))``, alternately, ``--repeats`` times; the medians,
their ratio and the median of the ratios of each repeat's pair; and, less exposed to the noise of a
shared machine, the time to read and decode every file of each set in this process (``decode``, the
reader's function), as a share of the UTF-8 build. One JSON line per part, appended to benchmarks/results/bench_encoding.jsonl.

    python benchmarks/bench_encoding.py accuracy
    python benchmarks/bench_encoding.py build --tokens 100000000 --repeats 3
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))
from _results import record  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
RESULTS = HERE / "results" / "bench_encoding.jsonl"
JA_GLOB = str(Path.home() / ".rustup/toolchains/*/share/doc/rust/html/rust-by-example/ja")
CP1252_ONLY = set("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u2020\u2021\u2030\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u02c6\u02dc\u2122\u2039\u203a\u0192")


@dataclass
class Item:
    source: str  # the document it came from (the split is by source)
    encoding: str  # the codec that wrote it
    size: str  # short | long
    data: bytes
    text: str  # what decoding must give back

    @property
    def held_out(self) -> bool:
        return zlib.crc32(self.source.encode()) % 3 == 0


# ---------------------------------------------------------------------------- material


def gutenberg() -> list[tuple[str, str]]:
    out = []
    for p in sorted((SHARED / "gutenberg").glob("*.txt")):
        data = p.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # 141.txt (Mansfield Park) is Latin-1: one £ at byte 891,181
            text = data.decode("latin-1")
        out.append((p.name, text.lstrip("\ufeff").replace("\r\n", "\n")))
    return out


def classics() -> list[tuple[str, str]]:
    out = []
    with open(SHARED / "chinese" / "classics.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.append((r["id"], r["text"]))
    return out


def bible(field: str) -> list[tuple[str, str]]:
    """The verses of ``field`` joined per book (traditional Chinese)."""
    books: dict[str, list[str]] = {}
    with open(SHARED / "bible" / "verses.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get(field):
                books.setdefault(r["book"], []).append(r[field])
    return [(f"{field}:{b}", "\n".join(v)) for b, v in books.items()]


def rust_by_example(lang: str, script: str = r"[\u3040-\u30ff]") -> list[tuple[str, str]]:
    """The prose paragraphs of the Rust by Example translation ``lang`` (ja, ko, es, zh), page by page,
    keeping paragraphs with more than five characters matching ``script``."""
    dirs = sorted(glob.glob(JA_GLOB[: -len("ja")] + lang))
    if not dirs:
        return []
    out = []
    for f in sorted(glob.glob(dirs[-1] + "/**/*.html", recursive=True)):
        t = open(f, encoding="utf-8").read()
        m = re.search(r"<main>(.*)</main>", t, re.S)
        if not m:
            continue
        body = re.sub(r"<pre>.*?</pre>", "", m.group(1), flags=re.S)
        paras = [html.unescape(re.sub(r"<[^>]+>", "", p)).strip() for p in re.findall(r"<p>(.*?)</p>", body, re.S)]
        paras = [p for p in paras if len(re.findall(script, p)) > 5]
        if paras:
            out.append((f"{lang}:{f[len(dirs[-1]) + 1:]}", "\n".join(paras)))
    return out


def japanese() -> list[tuple[str, str]]:
    return rust_by_example("ja")


def _window(text: str, at: int, chars: int) -> str:
    a = max(0, at - chars // 2)
    b = min(len(text), a + chars)
    s = text[a:b]
    if a > 0 and " " in s[:40]:  # start and end at word boundaries where there are words
        s = s[s.index(" ") + 1:]
    if b < len(text) and " " in s[-40:]:
        s = s[: s.rindex(" ")]
    return s


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def build_set(seed: int = 7) -> list[Item]:
    rnd = random.Random(seed)
    items: list[Item] = []
    for name, text in gutenberg():
        spots = [m.start() for m in re.finditer(r"[^\x00-\x7f]", text)]
        if not spots:
            continue
        for size, chars, n in (("tiny", 60, 3), ("short", 300, 6), ("long", 16000, 2)):
            for at in rnd.sample(spots, min(n, len(spots))):
                s = _window(text, at, chars)
                codec = "cp1252" if CP1252_ONLY & set(s) else "latin-1"
                if not _encodable(s, codec):
                    continue
                items.append(Item(name, codec, size, s.encode(codec), s))
        s = _window(text, rnd.choice(spots), 3000)
        for codec, bom in (("utf-16-le", True), ("utf-16-be", True), ("utf-16-le", False), ("utf-16-be", False)):
            t = ("\ufeff" if bom else "") + s
            items.append(Item(name, codec, "long", t.encode(codec), t))
    for cid, text in classics():
        if len(text) < 120 or rnd.random() > 0.04:
            continue
        for size, s in (("tiny", text[:16]), ("short", text[:150])):
            items.append(Item(cid, "gb18030", size, s.encode("gb18030"), s))
        if len(text) > 2000:
            items.append(Item(cid, "gb18030", "long", text[:8000].encode("gb18030"), text[:8000]))
        if rnd.random() < 0.2:
            items.append(Item(cid, "utf-16-le", "long", text[:3000].encode("utf-16-le"), text[:3000]))
    for field in ("ChiUn", "ChiUnL"):
        for bid, text in bible(field):
            for size, chars in (("tiny", 16), ("short", 120), ("long", 8000)):
                at = rnd.randrange(max(1, len(text) - chars))
                s = text[at:at + chars]
                for codec in ("big5", "gb18030"):
                    if _encodable(s, codec):
                        items.append(Item(bid, codec, size, s.encode(codec), s))
    for pid, text in japanese():
        for size, chars in (("tiny", 20), ("short", 150), ("long", 8000)):
            s = text[:chars]
            for codec in ("cp932", "euc_jp"):
                if _encodable(s, codec) and (codec == "cp932" or rnd.random() < 0.3):
                    items.append(Item(pid, codec, size, s.encode(codec), s))
    for pid, text in rust_by_example("ko", r"[\uac00-\ud7a3]"):
        for size, chars in (("tiny", 20), ("short", 150), ("long", 8000)):
            s = text[:chars]
            for codec in ("cp949", "euc_kr"):
                if _encodable(s, codec) and (codec == "cp949" or rnd.random() < 0.3):
                    items.append(Item(pid, codec, size, s.encode(codec), s))
    for pid, text in rust_by_example("es", r"[\u00c0-\u00ff]"):
        spots = [m.start() for m in re.finditer(r"[^\x00-\x7f]", text)]
        for size, chars in (("tiny", 60), ("short", 300), ("long", 8000)):
            s = _window(text, rnd.choice(spots), chars)
            codec = "cp1252" if CP1252_ONLY & set(s) else "latin-1"
            if _encodable(s, codec):
                items.append(Item(pid, codec, size, s.encode(codec), s))
    # long Japanese and Korean texts: consecutive pages joined to 4,000 characters or more
    for lang, script, codecs_ in (("ja", r"[\u3040-\u30ff]", ("cp932", "euc_jp")), ("ko", r"[\uac00-\ud7a3]", ("cp949", "euc_kr"))):
        pages = rust_by_example(lang, script)
        k = 0
        while k < len(pages):
            first, buf = pages[k][0], []
            while k < len(pages) and sum(map(len, buf)) < 4000:
                buf.append(pages[k][1])
                k += 1
            s = "\n".join(buf)
            for codec in codecs_:
                if _encodable(s, codec):
                    items.append(Item(first, codec, "long", s.encode(codec), s))
    # 99% one encoding: two stray bytes (undefined in it) inserted between characters of long items;
    # right when decoding with replacement gives the text back with U+FFFD where the bytes were
    for it in [i for i in items if i.size == "long" and len(i.text) >= 2000 and not i.encoding.startswith("utf")]:
        codec = "cp1252" if it.encoding == "latin-1" else it.encoding  # Latin-1 has no unreadable byte
        stray = next(bytes([c]) for c in range(0xFF, 0x7F, -1) if (bytes([c]) + b"a ").decode(codec, "replace") == "\ufffda ")
        a, b = sorted(rnd.sample(range(1, len(it.text)), 2))
        t = it.text
        data = t[:a].encode(it.encoding) + stray + t[a:b].encode(it.encoding) + stray + t[b:].encode(it.encoding)
        items.append(Item(it.source, it.encoding, "stray", data, t[:a] + "\ufffd" + t[a:b] + "\ufffd" + t[b:]))
    return items


# ---------------------------------------------------------------------------- detectors


def detectors() -> dict[str, Callable[[bytes], list[str]]]:
    from ipscope.corpus import encoding

    out: dict[str, Callable[[bytes], list[str]]] = {"chardet": encoding._chardet}
    try:
        from charset_normalizer import from_bytes

        def _charset_normalizer(sample: bytes) -> list[str]:
            # let it read the whole (already bounded) sample: steps x chunk_size >= its length
            found = from_bytes(sample, steps=max(1, len(sample) // 4096), chunk_size=4096, cp_exclusion=["utf_7"])
            return [m.encoding for m in found]

        out["charset-normalizer"] = _charset_normalizer
    except ImportError:
        pass
    try:
        import cchardet

        def _cchardet(sample: bytes) -> list[str]:
            e = cchardet.detect(sample)["encoding"]
            return [e] if e else []

        out["cchardet"] = _cchardet
    except ImportError:
        pass
    return out


def _raw(det: Callable[[bytes], list[str]], data: bytes) -> str | None:
    from ipscope.corpus.encoding import detect_sample

    guesses = det(detect_sample(data, 0))
    if not guesses:
        return None
    try:
        return data.decode(guesses[0], "replace")
    except LookupError:
        return None


def _ours(det: Callable[[bytes], list[str]], data: bytes) -> str | None:
    from ipscope.corpus.encoding import decode
    from ipscope.errors import InputError

    try:
        return decode(data, errors="replace", detector=det).text
    except InputError:
        return None


def accuracy(args: argparse.Namespace) -> dict:
    items = build_set()
    row: dict = {"bench": "encoding-accuracy", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "items": len(items), "held_out": sum(i.held_out for i in items),
                 "by_encoding": {}, "detectors": {}}
    for it in items:
        row["by_encoding"][it.encoding] = row["by_encoding"].get(it.encoding, 0) + 1
    for name, det in detectors().items():
        for mode, fn in (("raw", _raw), ("ipscope", _ours)):
            res: dict = {}
            wrong: dict[str, int] = {}
            times: dict[str, list[float]] = {"tiny": [], "short": [], "long": [], "stray": []}
            for part in ("dev", "held_out"):
                sel = [i for i in items if i.held_out == (part == "held_out")]
                ok = 0
                for it in sel:
                    t0 = time.perf_counter()
                    got = fn(det, it.data)
                    times[it.size].append(time.perf_counter() - t0)
                    if got == it.text:
                        ok += 1
                    elif part == "dev" or args.show_held_out:
                        key = f"{part}:{it.encoding}/{it.size}"
                        wrong[key] = wrong.get(key, 0) + 1
                res[part] = {"right": ok, "of": len(sel), "accuracy": round(ok / max(1, len(sel)), 4)}
            res["wrong"] = dict(sorted(wrong.items()))
            res["median_ms"] = {k: round(1000 * statistics.median(v), 3) for k, v in times.items() if v}
            res["per_encoding_held_out"] = _per_encoding(items, det, fn)
            row["detectors"][f"{name}/{mode}"] = res
    return row


def _per_encoding(items: list[Item], det, fn) -> dict:
    out: dict[str, list[int]] = {}
    for it in items:
        if not it.held_out:
            continue
        k = f"{it.encoding}/{it.size}"
        r = out.setdefault(k, [0, 0])
        r[0] += fn(det, it.data) == it.text
        r[1] += 1
    return {k: f"{a}/{b}" for k, (a, b) in sorted(out.items())}


# ---------------------------------------------------------------------------- build cost


def write_corpus(root: Path, tokens: int) -> dict:
    """The same texts as ``root/utf8/*.txt`` and ``root/legacy/*.txt``; returns counts."""
    from ipscope.text import tokenize

    sources: list[tuple[str, str, str]] = []  # (name, text, legacy codec)
    for name, text in gutenberg():
        codec = "cp1252" if CP1252_ONLY & set(text) else "latin-1"
        sources.append((name, text.encode(codec, "replace").decode(codec), codec))
    # Chinese: the classics as files of ~1 MB of GB18030, the Bible books as Big5
    buf: list[str] = []
    n = 0
    for cid, text in classics():
        buf.append(text)
        if sum(map(len, buf)) > 500_000:
            sources.append((f"classics-{n}", "\n".join(buf), "gb18030"))
            buf, n = [], n + 1
    if buf:
        sources.append((f"classics-{n}", "\n".join(buf), "gb18030"))
    for bid, text in bible("ChiUn"):
        sources.append((bid.replace(":", "-").replace(" ", "_"), text.encode("big5", "replace").decode("big5"), "big5"))
    pairs = [(src, tokenize(src[1]).hashes.shape[0]) for src in sources]
    (root / "utf8").mkdir(parents=True)
    (root / "legacy").mkdir()
    written = 0
    rnd = random.Random(1)
    files = 0
    by_codec: dict[str, int] = {}
    while written < tokens:
        for (name, text, codec), k in pairs:
            if written >= tokens:
                break
            if files % 50 == 7:
                codec = "utf-16"  # Windows "Unicode" text: a BOM, then UTF-16 LE
            fname = f"{files:05d}-{name}.txt"
            (root / "utf8" / fname).write_bytes(text.encode("utf-8"))
            (root / "legacy" / fname).write_bytes(text.encode(codec))
            by_codec[codec] = by_codec.get(codec, 0) + 1
            written += k
            files += 1
        rnd.shuffle(pairs)  # vary the order of the files between rounds
    return {"files": files, "tokens": written, "legacy_files_by_codec": by_codec,
            "utf8_bytes": sum(p.stat().st_size for p in (root / "utf8").iterdir()),
            "legacy_bytes": sum(p.stat().st_size for p in (root / "legacy").iterdir())}


def build_cost(args: argparse.Namespace) -> dict:
    from ipscope.index import BuildOptions, build_index

    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-enc-"))
    try:
        t0 = time.perf_counter()
        corpus = write_corpus(base / "corpus", args.tokens)
        setup = time.perf_counter() - t0
        times: dict[str, list[float]] = {"utf8": [], "legacy": []}
        manifests = {}
        for rep in range(args.repeats):
            for kind in (("utf8", "legacy") if rep % 2 == 0 else ("legacy", "utf8")):
                t0 = time.perf_counter()
                res = build_index([base / "corpus" / kind], base / f"{kind}.idx",
                                  BuildOptions(passages=False, force=True, jobs=args.jobs))
                times[kind].append(time.perf_counter() - t0)
                manifests[kind] = res.manifest["counts"]
        med = {k: statistics.median(v) for k, v in times.items()}
        # the decoding alone, in this process: every file read and decoded as the index reader does
        # (ipscope.corpus.encoding.decode), minimum of the repeats; less exposed to the noise of a
        # shared machine than whole builds
        from ipscope.corpus.encoding import decode

        dec: dict[str, float] = {}
        for kind in ("utf8", "legacy"):
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for p in sorted((base / "corpus" / kind).iterdir()):
                    decode(p.read_bytes())
                runs.append(time.perf_counter() - t0)
            dec[kind] = min(runs)
        pairs = [lg / u8 for u8, lg in zip(times["utf8"], times["legacy"])]
        same = (manifests["utf8"]["tokens"] == manifests["legacy"]["tokens"]
                and manifests["utf8"]["chars"] + corpus["legacy_files_by_codec"].get("utf-16", 0)
                == manifests["legacy"]["chars"])
        return {"bench": "encoding-build", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "tokens_requested": args.tokens, "corpus": corpus, "jobs": args.jobs, "repeats": args.repeats,
                "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
                "median_seconds": {k: round(v, 2) for k, v in med.items()},
                "legacy_over_utf8": round(med["legacy"] / med["utf8"], 4),
                "detection_cost": round(med["legacy"] / med["utf8"] - 1, 4),
                "paired_ratios": [round(x, 4) for x in pairs], "median_paired_ratio": round(statistics.median(pairs), 4),
                "decode_seconds": {k: round(v, 3) for k, v in dec.items()},
                "decode_cost_share_of_utf8_build": round((dec["legacy"] - dec["utf8"]) / med["utf8"], 4),
                "same_tokens": same, "counts": manifests, "setup_seconds": round(setup, 1)}
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--show-held-out", action="store_true", help="also list the held-out items each gets wrong")
    b = sub.add_parser("build")
    b.add_argument("--tokens", type=int, default=100_000_000)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--jobs", type=int, default=0)
    b.add_argument("--workdir", help="keep the corpus and indexes here (default: a temporary directory)")
    args = ap.parse_args()
    row = accuracy(args) if args.part == "accuracy" else build_cost(args)
    import subprocess

    try:  # which code measured it
        row["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    import chardet

    row["chardet"] = chardet.__version__
    record(row, RESULTS)


if __name__ == "__main__":
    main()
