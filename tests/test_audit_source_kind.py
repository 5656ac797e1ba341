"""Source kinds and the SME form of the public summary (``source_kind``, ``--source-kind``, ``--sme``).

The specification is the Commission's "Template for the Public Summary of Training Content for general-purpose
AI models" (Annex to the Explanatory Notice, 24 July 2025): part 2 "List of data sources" has one section per
kind of source (2.1 publicly available datasets; 2.2.1 datasets commercially licensed by rightsholders or their
representatives; 2.2.2 private datasets obtained from other third parties; 2.3 data crawled and scraped from
online sources; 2.4 user data; 2.5 synthetic data; 2.6 other sources), and section 2.3 lists "the top 10% of all
domain names determined by the size of the content scraped", for SMEs "the top 5% or 1,000 domain names,
whichever is lower".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipscope.audit.run import AuditOptions, audit
from ipscope.audit.summary import KIND_SECTIONS, SOURCE_KINDS, TO_BE_COMPLETED, SummaryBuilder, source_kind
from ipscope.cli import main
from ipscope.errors import InputError

# the section of summary.json each kind fills, by the template's numbering
SECTION_KEYS = {
    "public-dataset": ("publicly_available_datasets",),
    "licensed": ("private_datasets", "commercially_licensed"),
    "private-dataset": ("private_datasets", "other_third_parties"),
    "crawled": ("crawled_and_scraped",),
    "user-data": ("user_data",),
    "synthetic": ("synthetic_data",),
    "other": ("other_sources",),
}
USED = {"public-dataset": "used", "licensed": "licensing_agreements_concluded", "private-dataset": "obtained",
        "crawled": "crawlers_used", "synthetic": "used", "other": "used"}


def _section(summary: dict, kind: str) -> dict:
    node = summary["data_sources"]
    for k in SECTION_KEYS[kind]:
        node = node[k]
    return node


def _run(tmp_path: Path, records: list, *args: str) -> tuple[dict, list[dict], str]:
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["audit", str(src), "--out", str(out), "--force", "-q", *args])
    assert r.exit_code == 0, r.output
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    man = [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    return summ, man, (out / "summary.md").read_text(encoding="utf-8")


def test_one_kind_per_template_section() -> None:
    assert SOURCE_KINDS == ("public-dataset", "licensed", "private-dataset", "crawled", "user-data", "synthetic",
                            "other")
    assert [KIND_SECTIONS[k] for k in SOURCE_KINDS] == ["2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6"]
    assert source_kind("dataset") == "public-dataset" and source_kind(" Crawled ") == "crawled"
    assert source_kind("scraped") is None and source_kind(3) is None


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_each_kind_fills_its_own_section_only(tmp_path: Path, kind: str) -> None:
    recs = [{"id": "a", "url": "https://a.example/1", "text": "x" * 40, "source_kind": kind},
            {"id": "b", "url": "https://b.example/2", "text": "y", "source_kind": kind,
             "headers": {"X-Robots-Tag": "noai"}}]
    summ, man, md = _run(tmp_path, recs)
    assert [m["decision"] for m in man] == ["allowed", "reserved"]
    for other in SOURCE_KINDS:
        sec = _section(summ, other)
        want = {"allowed": 1, "reserved": 1, "rejected": 0, "total": 2} if other == kind else \
            {"allowed": 0, "reserved": 0, "rejected": 0, "total": 0}
        assert sec["audited_records"] == want, other
        if other in USED:  # present: the audit can say yes; absent: the provider may have used data not audited
            assert sec[USED[other]] == (True if other == kind else TO_BE_COMPLETED), other
    assert summ["audit"]["documents_by_source_kind"][kind]["total"] == 2
    assert summ["audit"]["source_kinds"]["from_record_field"] == 2 and summ["audit"]["source_kinds"]["assumed"] == 0
    # the top-domain list of 2.3 counts crawled content only; 2.1's counts public datasets only
    top = summ["data_sources"]["crawled_and_scraped"]["top_domains"]["domains"]
    ds = summ["data_sources"]["publicly_available_datasets"]["domains_in_dataset_records"]["domains"]
    assert [r["domain"] for r in top] == (["a.example"] if kind == "crawled" else [])
    assert [r["domain"] for r in ds] == (["a.example"] if kind == "public-dataset" else [])
    assert f"Audited records marked {kind}:** 2 (1 allowed, 1 reserved, 0 rejected)" in md


def test_user_data_does_not_say_which_users(tmp_path: Path) -> None:
    summ, _, _ = _run(tmp_path, [{"id": "a", "url": "https://chat.example/", "text": "t", "source_kind": "user-data"}])
    sec = summ["data_sources"]["user_data"]
    assert sec["model_interaction_data_used"] == sec["other_services_data_used"] == TO_BE_COMPLETED
    assert sec["modalities_of_allowed_records"] == ["text"]


def test_the_records_field_wins_over_the_run_option_and_the_summary_says_where_kinds_came_from(tmp_path) -> None:
    recs = [{"id": "1", "url": "https://a.example/", "text": "t", "source_kind": "synthetic"},
            {"id": "2", "url": "https://a.example/", "text": "t"},
            {"id": "3", "url": "https://a.example/", "text": "t", "source_kind": None},  # null: no field
            {"id": "4", "url": "ftp://a.example/", "text": "t", "source_kind": "licensed"}]  # rejected, counted
    summ, man, md = _run(tmp_path, recs, "--source-kind", "dataset")
    kinds = summ["audit"]["documents_by_source_kind"]
    assert kinds["synthetic"]["total"] == 1 and kinds["public-dataset"]["total"] == 2
    assert kinds["licensed"] == {"allowed": 0, "reserved": 0, "rejected": 1, "total": 1}
    origin = summ["audit"]["source_kinds"]
    assert (origin["from_record_field"], origin["from_run_option"], origin["assumed"]) == (2, 2, 0)
    assert origin["run_option"] == "public-dataset"
    assert "2 took the run's --source-kind public-dataset" in md
    # without the option, the kind is assumed, and the summary says so instead of claiming it
    summ, _, md = _run(tmp_path, recs)
    origin = summ["audit"]["source_kinds"]
    assert (origin["from_record_field"], origin["from_run_option"], origin["assumed"]) == (2, 0, 2)
    assert origin["run_option"] is None and "assumed to be crawled" in md and "should confirm" in md


@pytest.mark.parametrize("value", ["scraped", "Dataset!", 7, ["crawled"], ""])
def test_an_unknown_kind_in_a_record_rejects_it_naming_the_kinds(tmp_path: Path, value) -> None:
    recs = [{"id": "1", "url": "https://a.example/", "text": "t", "source_kind": value},
            {"id": "2", "url": "https://a.example/", "text": "t", "source_kind": "DATASET"}]
    summ, man, _ = _run(tmp_path, recs)
    assert [m["decision"] for m in man] == ["rejected", "allowed"]
    err = man[0]["error"]
    assert err.startswith("source_kind ") and all(k in err for k in SOURCE_KINDS)
    assert "dataset: an alias of public-dataset" in err


def test_an_unknown_run_kind_is_an_error_naming_the_kinds(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "1", "url": "https://a.example/", "text": "t"}) + "\n")
    r = CliRunner().invoke(main, ["audit", str(src), "--out", str(tmp_path / "o"), "--source-kind", "web"])
    assert r.exit_code == 2 and "'web' is not a source kind" in r.output
    assert all(k in r.output.replace("\n", " ").replace("  ", " ") for k in ("public-dataset", "user-data", "other"))
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError) as e:
        audit([str(src)], tmp_path / "o", AuditOptions(source_kind="web"))
    assert "--source-kind 'web'" in e.value.message and "synthetic" in e.value.fix
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_sme_lists_five_percent_of_domains(tmp_path: Path) -> None:
    # 40 crawled domains: the top 10% is 4 of them; for an SME the top 5% (or 1,000 if fewer) is 2
    recs = [{"id": str(i), "url": f"https://d{i:02d}.example/", "text": "x" * (100 + i)} for i in range(40)]
    summ, _, md = _run(tmp_path, recs)
    top = summ["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["domains_listed"] == 4 and summ["audit"]["sme"] is False
    summ, _, md = _run(tmp_path, recs, "--sme")
    top = summ["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["domains_listed"] == 2 and "SME" in top["rule"] and summ["audit"]["sme"] is True
    assert [r["domain"] for r in top["domains"]] == ["d39.example", "d38.example"]
    assert "**SME:** yes" in md


def test_builder_state_round_trips_through_json() -> None:
    b = SummaryBuilder()
    b.add(url="https://a.example/", host="a.example", text_chars=5, modality="text", decision="allowed",
          signals=[], licence_category="commercial", source_kind="licensed", kind_origin="run")
    b.add(url=None, host=None, text_chars=0, modality="text", decision="reserved", signals=["tdmrep"],
          licence_category="unspecified", source_kind="dataset", kind_origin="default")
    meta = {"agents": [], "policy": "any-ai-agent", "inputs": [], "generated_at": "x"}
    again = SummaryBuilder.from_state(json.loads(json.dumps(b.state())))
    assert again.to_dict(**meta) == b.to_dict(**meta)
    bad = b.state()
    bad["docs"] = bad["docs"][:-1]
    with pytest.raises(ValueError, match="counters"):
        SummaryBuilder.from_state(bad)
