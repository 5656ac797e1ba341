"""The EU AI Act public summary of training content (src/ipscope/audit/summary.py).

The specification is the Commission's "Template for the Public Summary of Training Content for general-purpose
AI models" (Annex to the Explanatory Notice, 24 July 2025); comments quote the section each test checks.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.summary import (
    DECISIONS,
    MODALITIES,
    PROTOCOLS,
    TO_BE_COMPLETED,
    SummaryBuilder,
    size_bin,
    to_markdown,
    top_domain_count,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MARK_MD = "**[to be completed by the provider]**"
META = {"agents": ["gptbot"], "policy": "any-ai-agent", "inputs": ["corpus.jsonl"],
        "generated_at": "2026-01-01T00:00:00Z"}


def rec(**kw):
    base = {"url": None, "host": None, "text_chars": 100, "modality": "text", "decision": "allowed",
            "signals": [], "licence_category": "unspecified", "source_kind": "crawled"}
    base.update(kw)
    return base


def build(records, **to_dict_kw):
    b = SummaryBuilder()
    for r in records:
        b.add(**r)
    return b.to_dict(**{**META, **to_dict_kw})


# ---------------------------------------------------------------------------------------------- size bins

# Template 1.3 "Training data size": text "Less than 1 billion tokens / 1 billion to 10 trillion tokens /
# More than 10 trillion tokens"; images "Less than 1 million images / 1 million to 1 billion images / More than
# 1 billion images"; audio and video "Less than 10,000 hours / 10,000 to 1 million hours / More than 1 million hours".
@pytest.mark.parametrize(("modality", "amount", "expected"), [
    ("text", 0, "Less than 1 billion tokens"),
    ("text", 999_999_999, "Less than 1 billion tokens"),
    ("text", 1_000_000_000, "1 billion to 10 trillion tokens"),
    ("text", 10_000_000_000_000, "1 billion to 10 trillion tokens"),
    ("text", 10_000_000_000_001, "More than 10 trillion tokens"),
    ("image", 999_999, "Less than 1 million images"),
    ("image", 1_000_000, "1 million to 1 billion images"),
    ("image", 1_000_000_000, "1 million to 1 billion images"),
    ("image", 1_000_000_001, "More than 1 billion images"),
    ("audio", 9_999, "Less than 10,000 hours"),
    ("audio", 10_000, "10,000 to 1 million hours"),
    ("video", 1_000_000, "10,000 to 1 million hours"),
    ("video", 1_000_001, "More than 1 million hours"),
])
def test_size_bin_boundaries(modality, amount, expected):
    assert size_bin(modality, amount) == expected


def test_text_bin_from_characters_is_a_marked_estimate():
    # 3,999,999,999 characters / 4 = 999,999,999 tokens: still under 1 billion; at one token a character
    # (CJK-like text) it would be 1 billion to 10 trillion, so the bin is flagged uncertain.
    d = build([rec(text_chars=3_999_999_999)])
    size = d["general_information"]["modalities_size_and_characteristics"]["modalities"]["text"]["size"]
    assert size["estimate"] is True and size["unit"] == "tokens"
    assert size["estimated_tokens"] == 999_999_999
    assert size["bin"] == "Less than 1 billion tokens"
    assert size["bin_high"] == "1 billion to 10 trillion tokens"
    assert size["bin_certain"] is False
    assert "the provider should confirm" in to_markdown(d)

    size = build([rec(text_chars=4_000_000_000)])[
        "general_information"]["modalities_size_and_characteristics"]["modalities"]["text"]["size"]
    assert size["estimated_tokens"] == 1_000_000_000
    assert size["bin"] == "1 billion to 10 trillion tokens" and size["bin_certain"] is True


def test_image_bin_counts_documents_and_audio_hours_are_left_to_the_provider():
    records = [rec(modality="image", text_chars=0)] * 3 + [rec(modality="audio", text_chars=0)]
    mods = build(records)["general_information"]["modalities_size_and_characteristics"]["modalities"]
    assert mods["image"]["size"]["count"] == 3
    assert mods["image"]["size"]["bin"] == "Less than 1 million images"
    assert mods["audio"]["present"] is True and mods["audio"]["size"]["bin"] == TO_BE_COMPLETED
    assert mods["video"]["present"] is False and mods["video"]["size"] is None


def test_only_allowed_content_is_sized():
    # Template 1.3: "general information about the overall training data" — reserved and rejected documents
    # are not training data.
    d = build([rec(text_chars=10), rec(text_chars=1000, decision="reserved", signals=["tdmrep"]),
               rec(text_chars=5000, decision="rejected")])
    text = d["general_information"]["modalities_size_and_characteristics"]["modalities"]["text"]
    assert text["characters"] == 10 and text["documents"] == 1


# ---------------------------------------------------------------------------------------------- top domains

# Template 2.3: "summary of the most relevant domain names ... the top 10% of all domain names determined by the
# size of the content scraped (for SMEs 5% or 1,000 domain names, whichever is lower)".
@pytest.mark.parametrize(("n", "expected"), [(0, 0), (1, 1), (9, 1), (10, 1), (11, 2), (1000, 100), (1001, 101)])
def test_top_ten_percent_rounds_up(n, expected):
    assert top_domain_count(n) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (20, 1), (21, 2), (1000, 50), (19_999, 1000),
                                             (20_001, 1000), (1_000_000, 1000)])
def test_sme_threshold_is_five_percent_or_1000(n, expected):
    assert top_domain_count(n, sme=True) == expected


def _domain_records(n):
    # domain i has i+1 documents of 10 characters each: d{n-1} is the largest
    return [rec(host=f"d{i:04d}.example", text_chars=10) for i in range(n) for _ in range(i + 1)]


@pytest.mark.parametrize(("n", "listed"), [(1, 1), (9, 1), (10, 1), (11, 2), (1000, 100)])
def test_top_domains_listed_largest_first(n, listed):
    top = build(_domain_records(n))["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["domains_total"] == n and top["domains_listed"] == listed
    names = [r["domain"] for r in top["domains"]]
    assert names == [f"d{i:04d}.example" for i in range(n - 1, n - 1 - listed, -1)]
    total = 10 * n * (n + 1) // 2
    assert top["characters_with_host"] == total
    assert top["domains"][0]["share_of_characters"] == round(10 * n / total, 6)


def test_top_domains_ties_sorted_by_documents_then_name():
    records = [rec(host="b.example", text_chars=50), rec(host="a.example", text_chars=50),
               rec(host="c.example", text_chars=25), rec(host="c.example", text_chars=25)] + [
        rec(host=f"z{i}.example", text_chars=1) for i in range(17)]  # 20 domains -> 2 listed
    top = build(records)["data_sources"]["crawled_and_scraped"]["top_domains"]
    # all three have 50 characters; c has two documents, then a before b by name
    assert [r["domain"] for r in top["domains"]] == ["c.example", "a.example"]


def test_top_domains_count_only_allowed_crawled_documents_and_merge_case():
    records = [rec(host="big.example", text_chars=10_000, decision="reserved", signals=["robots.txt"]),
               rec(host="big.example", text_chars=10_000, decision="rejected"),
               rec(host="Small.Example", text_chars=5), rec(host="small.example.", text_chars=5),
               rec(host="ds.example", text_chars=99, source_kind="dataset")]
    d = build(records)
    top = d["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert [(r["domain"], r["documents"], r["characters"]) for r in top["domains"]] == [("small.example", 2, 10)]
    # Template 2.3 excludes "publicly available datasets already compiled by third parties" (they belong to 2.1):
    ds = d["data_sources"]["publicly_available_datasets"]["domains_in_dataset_records"]
    assert [r["domain"] for r in ds["domains"]] == ["ds.example"]


def test_sme_flag_changes_the_rule():
    top = build(_domain_records(40), sme=True)["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["domains_listed"] == 2 and "SME" in top["rule"]


@pytest.mark.skipif(not (SHARED / "robots").is_dir(), reason="../shared/data/robots is absent (real host names)")
def test_top_domains_on_real_host_names():
    # The 4,231 real robots.txt files are named by host; their sizes stand in for content sizes.
    files = sorted(p for p in (SHARED / "robots").iterdir() if p.is_file())
    b = SummaryBuilder()
    for p in files:
        b.add(url=f"https://{p.name}/", host=p.name, text_chars=p.stat().st_size, modality="text",
              decision="allowed", signals=[], licence_category="unspecified", source_kind="crawled")
    top = b.to_dict(**META)["data_sources"]["crawled_and_scraped"]["top_domains"]
    hosts = {p.name.lower().rstrip(".") for p in files}
    assert top["domains_total"] == len(hosts)
    assert top["domains_listed"] == -(-len(hosts) // 10)
    chars = [r["characters"] for r in top["domains"]]
    assert chars == sorted(chars, reverse=True)
    assert chars[0] == max(p.stat().st_size for p in files)


# ---------------------------------------------------------------------------------------------- counts

record_strategy = st.fixed_dictionaries({
    "url": st.one_of(st.none(), st.text(max_size=30), st.just("https://Ex.example:8443/p")),
    "host": st.one_of(st.none(), st.just(""), st.sampled_from(["a.example", "b.example", "C.example"]),
                      st.text(max_size=12)),
    "text_chars": st.integers(0, 10**7),
    "modality": st.sampled_from(MODALITIES),
    "decision": st.sampled_from(DECISIONS),
    "signals": st.lists(st.sampled_from([*PROTOCOLS, "custom"]), max_size=3),
    "licence_category": st.sampled_from(["commercial", "non-commercial", "academic-only", "unspecified"]),
    "source_kind": st.sampled_from(["crawled", "dataset"]),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(record_strategy, max_size=60))
def test_counts_in_equal_counts_out(records):
    d = build(records)
    audit = d["audit"]
    n = len(records)
    assert audit["documents"]["total"] == n
    for dec in DECISIONS:
        assert audit["documents"][dec] == sum(r["decision"] == dec for r in records)
        assert audit["characters"][dec] == sum(r["text_chars"] for r in records if r["decision"] == dec)
    assert sum(v["total"] for v in audit["documents_by_modality"].values()) == n
    assert sum(v["total"] for v in audit["documents_by_source_kind"].values()) == n
    lic = d["data_processing"]["other_information"]["licence_categories"]
    assert sum(v["total"] for v in lic.values()) == n
    for kind, path in (("crawled", ("crawled_and_scraped", "top_domains")),
                       ("dataset", ("publicly_available_datasets", "domains_in_dataset_records"))):
        dom = d["data_sources"][path[0]][path[1]]
        allowed = sum(r["decision"] == "allowed" and r["source_kind"] == kind for r in records)
        assert dom["documents_with_host"] + dom["documents_without_host"] == allowed
    tdm = d["data_processing"]["tdm_reservations"]
    reserved = [r for r in records if r["decision"] == "reserved"]
    assert tdm["documents_reserved"] == len(reserved)
    assert tdm["documents_reserved_without_named_signal"] == sum(not r["signals"] for r in reserved)
    per_signal = {row["signal"]: row["documents_reserved"] for row in tdm["opt_out_protocols_honoured"]}
    for s in [*PROTOCOLS, "custom"]:
        assert per_signal.get(s, 0) == sum(s in r["signals"] for r in reserved)
    # the output does not depend on record order, and it is plain JSON
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    assert build(shuffled) == d
    assert json.loads(json.dumps(d)) == d
    to_markdown(d)


def test_merge_equals_one_builder():
    records = _domain_records(12) + [rec(decision="reserved", signals=["tdmrep"], licence_category="commercial"),
                                     rec(decision="rejected", source_kind="dataset")]
    one, left, right = SummaryBuilder(), SummaryBuilder(), SummaryBuilder()
    for i, r in enumerate(records):
        one.add(**r)
        (left if i % 2 else right).add(**r)
    left.merge(right)
    assert left.to_dict(**META) == one.to_dict(**META)


# ---------------------------------------------------------------------------------------------- signals

def test_opt_out_protocols_with_documents_reserved():
    # Template 3.1: "the opt-out protocols and solutions honoured by the provider".
    d = build([rec(decision="reserved", signals=["robots.txt", "tdmrep", "robots.txt"]),
               rec(decision="reserved", signals=["tdmrep"]),
               rec(decision="reserved", signals=["vendor-x"]),
               rec(decision="reserved", signals=[]),
               rec(decision="allowed", signals=["robots.txt"])],  # signals of allowed records are not reservations
              protocols=["robots.txt", "tdmrep", "ai.txt"])
    tdm = d["data_processing"]["tdm_reservations"]
    rows = [(r["signal"], r["documents_reserved"]) for r in tdm["opt_out_protocols_honoured"]]
    assert rows == [("tdmrep", 2), ("robots.txt", 1), ("vendor-x", 1), ("ai.txt", 0)]
    assert tdm["documents_reserved"] == 4 and tdm["documents_reserved_without_named_signal"] == 1
    assert "robots.txt, vendor-x, ai.txt" in tdm["measures_description"].replace("tdmrep, ", "")
    default = build([])["data_processing"]["tdm_reservations"]["opt_out_protocols_honoured"]
    assert sorted(r["signal"] for r in default) == sorted(PROTOCOLS)


def test_policy_named_in_the_measures():
    assert '"*"' in build([])["data_processing"]["tdm_reservations"]["measures_description"]
    text = build([], policy="agent", agents=["mybot"])["data_processing"]["tdm_reservations"]["measures_description"]
    assert 'named agents only ("mybot")' in text


# ---------------------------------------------------------------------------------------------- edge records

def test_no_records_at_all():
    d = build([])
    assert d["audit"]["documents"] == {"allowed": 0, "reserved": 0, "rejected": 0, "total": 0}
    mods = d["general_information"]["modalities_size_and_characteristics"]["modalities"]
    assert not any(mods[m]["present"] for m in MODALITIES)
    top = d["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["domains"] == [] and top["domains_listed"] == 0 and top["listed_share_of_characters"] == 0.0
    assert d["data_sources"]["crawled_and_scraped"]["crawlers_used"] == TO_BE_COMPLETED
    md = to_markdown(d)
    assert "| total | 0 | 0 |" in md


def test_host_less_records():
    d = build([rec(host=None, url=None, text_chars=7),
               rec(host=None, url="https://Example.COM:8080/x", text_chars=3),
               rec(host=None, url="http://[::1", text_chars=1),  # unparsable URL: no host, no exception
               rec(host="", url="not a url", text_chars=1)])
    top = d["data_sources"]["crawled_and_scraped"]["top_domains"]
    assert top["documents_without_host"] == 3
    assert [(r["domain"], r["characters"]) for r in top["domains"]] == [("example.com", 3)]
    assert d["audit"]["documents"]["allowed"] == 4


def test_bad_literals_are_caller_bugs():
    b = SummaryBuilder()
    with pytest.raises(ValueError, match="unknown value 'pdf'"):
        b.add(**rec(modality="pdf"))
    with pytest.raises(ValueError, match="text_chars"):
        b.add(**rec(text_chars=-1))
    assert b.to_dict(**META)["audit"]["documents"]["total"] == 0


# ---------------------------------------------------------------------------------------------- template sections

# The template's section headings, in its order (Annex to the Explanatory Notice, 24 July 2025).
TEMPLATE_HEADINGS = [
    "## 1. General information",
    "### 1.1. Provider identification",
    "### 1.2. Model identification",
    "### 1.3. Modalities, overall training data size and other characteristics",
    "## 2. List of data sources",
    "### 2.1. Publicly available datasets",
    "### 2.2. Private non-publicly available datasets obtained from third parties",
    "#### 2.2.1. Datasets commercially licensed by rightsholders or their representatives",
    "#### 2.2.2. Private datasets obtained from other third parties",
    "### 2.3. Data crawled and scraped from online sources",
    "### 2.4. User data",
    "### 2.5. Synthetic data",
    "### 2.6. Other sources of data",
    "## 3. Data processing aspects",
    "### 3.1. Respect of reservation of rights from text and data mining exception or limitation",
    "### 3.2. Removal of illegal content",
    "### 3.3. Other information (optional)",
]


def test_markdown_has_every_template_section_in_order():
    md = to_markdown(build(_domain_records(3)))
    positions = [md.find(h + "\n") for h in TEMPLATE_HEADINGS]
    assert all(p >= 0 for p in positions), [h for h, p in zip(TEMPLATE_HEADINGS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


def test_json_sections_name_their_template_section():
    d = build([])
    assert d["general_information"]["modalities_size_and_characteristics"]["section"] == "1.3"
    assert d["data_sources"]["private_datasets"]["commercially_licensed"]["section"] == "2.2.1"
    assert d["data_processing"]["tdm_reservations"]["section"] == "3.1"


# Fields the audit cannot know, by template section.
PROVIDER_FIELDS = [
    ("general_information.provider_identification.provider_name_and_contact",
     "Provider name and contact details"),
    ("general_information.provider_identification.authorised_representative_name_and_contact",
     "Authorised representative name and contact details"),
    ("general_information.model_identification.versioned_model_names", "Versioned model name(s)"),
    ("general_information.model_identification.date_of_placement_on_union_market",
     "Date of placement of the model on the Union market"),
    ("general_information.modalities_size_and_characteristics.latest_date_of_data_acquisition",
     "Latest date of data acquisition/collection for model training"),
    ("data_sources.crawled_and_scraped.crawler_names", "Crawler name(s)/identifier(s)"),
    ("data_sources.crawled_and_scraped.purposes", "Purposes of the crawler(s)"),
    ("data_sources.crawled_and_scraped.collection_period", "Period of data collection"),
    ("data_sources.synthetic_data.used", "Synthetic AI-generated data used"),
    ("data_processing.tdm_reservations.code_of_practice_signatory",
     "Signatory to the Code of Practice for general-purpose AI models"),
    ("data_processing.illegal_content_removal.measures", "General description of measures taken"),
]


def test_provider_fields_are_marked_in_json_and_markdown():
    d = build(_domain_records(2))
    listed = set(d["to_be_completed_by_provider"])
    for path, _label in PROVIDER_FIELDS:
        node = d
        for key in path.split("."):
            node = node[key]
        assert node == TO_BE_COMPLETED, path
        assert path in listed
    md = to_markdown(d)
    for _path, label in PROVIDER_FIELDS:
        assert f"- **{label}:** {MARK_MD}" in md, label
    # every listed path really holds the marker, and nothing else does
    assert listed == {p for p in listed if _lookup(d, p) == TO_BE_COMPLETED}
    assert json.dumps(d).count(f': "{TO_BE_COMPLETED}"') == len(listed)  # values, not the list's own key


def _lookup(d, path):
    for key in path.split("."):
        d = d[key]
    return d


def test_markdown_from_json_round_trip_is_identical():
    d = build(_domain_records(15) + [rec(modality="image", licence_category="non-commercial")])
    assert to_markdown(json.loads(json.dumps(d))) == to_markdown(d)


@settings(max_examples=100, deadline=None)
@given(host=st.text(min_size=1, max_size=20), category=st.text(max_size=20), signal=st.text(max_size=10))
def test_corpus_strings_cannot_break_markdown_tables(host, category, signal):
    d = build([rec(host=host, licence_category=category),
               rec(decision="reserved", signals=[signal], licence_category=category)])
    lines = to_markdown(d).splitlines()
    # the row after each domain table's header and separator: five columns, so six unescaped pipes
    rows = [lines[i + 2] for i, line in enumerate(lines) if line.startswith("| # | Domain |")]
    assert rows
    for line in rows:
        assert len(re.findall(r"(?<!\\)\|", line)) == 6, line
        assert "<" not in line
