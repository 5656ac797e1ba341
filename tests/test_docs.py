"""The documentation is checked against the code: docs/cli.md is generated from --help and
must be current; docs/formats.md must name every field the code writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SAMPLE = REPO / "demo" / "sample_output.txt"


def _formats_md() -> str:
    return (DOCS / "formats.md").read_text(encoding="utf-8")


def _documented(key: str, text: str) -> bool:
    """A key counts as documented when it appears as inline code: `key`."""
    return f"`{key}`" in text


def _keys(obj, skip_children_of: frozenset[str] = frozenset()) -> set[str]:
    """Every dict key in a JSON value, recursively (lists included). Maps keyed by data
    (shard names, skip codes) are named in ``skip_children_of``: their own key counts, the
    keys inside them do not."""
    found: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            found.add(k)
            if k not in skip_children_of:
                found |= _keys(v, skip_children_of)
    elif isinstance(obj, list):
        for v in obj:
            found |= _keys(v, skip_children_of)
    return found


# --------------------------------------------------------------------------- docs/cli.md


def test_cli_md_is_current():
    from ipscope.docgen import render_cli_markdown

    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == render_cli_markdown(), "docs/cli.md is stale; run make docs"


def _walk(group: click.Group, ctx: click.Context, prefix: str):
    yield prefix, group
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        sub = click.Context(cmd, info_name=name, parent=ctx)
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, sub, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", cmd


def test_every_command_and_option_is_documented():
    from ipscope.cli import main

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    seen = 0
    for full, cmd in _walk(main, click.Context(main, info_name="ipscope"), "ipscope"):
        seen += 1
        if f"## {full}\n" not in text:
            missing.append(f"command {full!r}")
            continue
        section = text.split(f"## {full}\n", 1)[1].split("\n## ", 1)[0]
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in (*param.opts, *param.secondary_opts):
                    if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", section):
                        missing.append(f"{full} {opt}")
    assert seen >= 3  # the group, index, trace
    assert not missing, f"undocumented in docs/cli.md (run make docs): {missing}"


# ----------------------------------------------------------------------- docs/formats.md


def test_trace_report_keys_are_documented(demo_index: Path):
    from ipscope.index import Index
    from ipscope.trace import TraceOptions, trace

    idx = Index.open(demo_index)
    text = SAMPLE.read_text(encoding="utf-8")
    plain = trace(idx, text, str(SAMPLE)).to_dict()
    with_excerpts = trace(idx, text, str(SAMPLE), TraceOptions(excerpts=40)).to_dict()
    assert plain["spans"] and plain["documents"], "the demo sample should produce spans"
    keys = _keys(plain, _OPTIONS) | _keys(with_excerpts, _OPTIONS)
    # the span, source, excerpt and provenance keys must all be among them
    assert {"sources", "doc_id", "kind", "text", "before", "after", "provenance", "query_sha256"} <= keys
    doc = _formats_md()
    missing = sorted(k for k in keys if not _documented(k, doc))
    assert not missing, f"docs/formats.md does not document these trace report keys: {missing}"
    _options_documented(plain)


_OPTIONS = frozenset({"options"})  # the options of a report's provenance: the API's option fields


def _options_documented(report: dict) -> None:
    """The fields of a report's provenance options are the API's options, documented in python-api.md."""
    api = (DOCS / "python-api.md").read_text(encoding="utf-8")
    opts = report["provenance"]["options"]
    assert opts
    missing = sorted(k for k in opts if not re.search(rf"\b{k}\b", api))
    assert not missing, f"docs/python-api.md does not document these options: {missing}"


def test_query_error_keys_are_documented():
    from ipscope.types import QueryError

    keys = _keys(QueryError("q.txt", "query q.txt: binary", "give text").to_dict())
    doc = _formats_md()
    assert not sorted(k for k in keys if not _documented(k, doc))


def test_similar_report_keys_are_documented(demo_index: Path):
    from ipscope.index import Index
    from ipscope.similar import SimilarOptions, similar

    text = SAMPLE.read_text(encoding="utf-8")
    rep = similar(Index.open(demo_index), text, str(SAMPLE), SimilarOptions(semantic=False)).to_dict()
    assert rep["results"], "the demo sample should find its sources"
    keys = _keys(rep, _OPTIONS)
    assert {"score", "label", "evidence", "passages", "verbatim_coverage", "query_start", "layers_hash"} <= keys
    doc = _formats_md()
    missing = sorted(k for k in keys if not _documented(k, doc))
    assert not missing, f"docs/formats.md does not document these similar report keys: {missing}"
    _options_documented(rep)


def test_index_manifest_and_account_keys_are_documented(demo_index: Path, tmp_path: Path):
    from ipscope.index import BuildOptions, build_index

    manifest = json.loads((demo_index / "manifest.json").read_text(encoding="utf-8"))
    keys = _keys(manifest, frozenset({"skipped_by_reason", "excluded_parts"}))
    lines = [json.loads(x) for x in (demo_index / "account.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines
    for line in lines:
        keys |= _keys(line)
    # the demo corpus has no bad records: add one so the keys of a skipped line are seen too
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "some words to index"}\nnot json\n', encoding="utf-8")
    build_index([src], tmp_path / "x.idx", BuildOptions(jobs=1))
    for raw in (tmp_path / "x.idx" / "account.jsonl").read_text(encoding="utf-8").splitlines():
        keys |= _keys(json.loads(raw))
    assert {"code", "reason", "status", "shards"} <= keys
    doc = _formats_md()
    missing = sorted(k for k in keys if not _documented(k, doc))
    assert not missing, f"docs/formats.md does not document these index keys: {missing}"


def test_skip_codes_are_documented():
    from ipscope.index import build
    from ipscope.types import Skipped

    codes = set(re.findall(r"``([a-z0-9]+(?:-[a-z0-9]+)+|[a-z]+)``", Skipped.__doc__ or "")) - {"code"}
    source = Path(build.__file__).read_text(encoding="utf-8")
    codes |= set(re.findall(r'"code": "([a-z0-9-]+)"', source))
    codes |= set(re.findall(r'code, reason = "([a-z0-9-]+)"', source))
    assert len(codes) >= 10
    doc = _formats_md()
    missing = sorted(c for c in codes if not _documented(c, doc))
    assert not missing, f"docs/formats.md does not document these skip codes: {missing}"


@pytest.mark.parametrize("name", ["formats.md", "python-api.md", "trace.md", "cli.md"])
def test_docs_linked_from_readme_exist(name: str):
    assert (DOCS / name).is_file()
    assert f"docs/{name}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_every_shard_file_is_documented(demo_index: Path):
    from ipscope.index.shard import FILES

    shard = next((demo_index / "shards").iterdir())
    written = sorted(p.name for p in shard.iterdir())
    assert set(FILES) <= set(written)
    doc = _formats_md()
    missing = [name for name in written if f"| `{name}` |" not in doc]
    assert not missing, f"docs/formats.md does not describe these shard files: {missing}"


def test_audit_manifest_keys_are_documented(tmp_path: Path):
    import json

    from ipscope.audit.run import AuditOptions, audit

    recs = [
        b'{"id": 1, "url": "https://example.com/a", "text": "t", "headers": {"X-Robots-Tag": "noai"}, '
        b'"license": "MIT"}',
        b'{"id": "2", "url": "https://example.com/b", "text": "t", "headers": 5}',
        b'{"id": "3", "url": "https://example.com/c", "text": "t", "media_path": "missing.png"}',
        b"not json",
    ]
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(recs) + b"\n")
    snap = tmp_path / "snap" / "example.com"
    snap.mkdir(parents=True)
    (snap / "robots.txt").write_bytes(b"\xff binary\n")
    audit([str(tmp_path / "c.jsonl")], tmp_path / "o", AuditOptions(sites=tmp_path / "snap"))
    keys: set[str] = set()
    for line in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines():
        m = json.loads(line)
        keys |= set(m)
        keys |= {f"reasons[].{k}" for r in m["reasons"] for k in r}
        keys |= {f"not_checked[].{k}" for r in m.get("not_checked", ()) for k in r}
    assert {"error", "problems", "notes", "reasons[].signal", "not_checked", "not_checked[].why"} <= keys
    doc = _formats_md()
    missing = sorted(k for k in keys if f"| `{k}` |" not in doc)
    assert not missing, f"docs/formats.md does not document these audit manifest keys: {missing}"


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(md: str) -> set[str]:
    """GitHub's anchors of a Markdown page's headings: lower-cased, punctuation dropped, spaces -> '-'."""
    out = set()
    for h in re.findall(r"^#+ (.+)$", md, re.M):
        out.add(re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-"))
    return out


def test_relative_links_in_docs_and_readme_resolve():
    """Every relative link in README.md and docs/**/*.md names a file that exists (and a heading of it)."""
    pages = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```|`[^`\n]*`", "", page.read_text(encoding="utf-8"), flags=re.S)  # code is not links
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s):, mailto:
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_figures_are_those_of_the_latest_benchmark_runs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_figures", REPO / "benchmarks" / "readme_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, make in mod.BLOCKS.items():
        block = mod.readme_block(readme, name)
        assert block is not None, f"README.md has no figures:{name} block"
        assert block == make(), f"README.md's {name} figures are not the latest run's: python benchmarks/readme_figures.py --write"
    assert "--no-passages" in mod.readme_block(readme, "trace")  # says how the index was built
