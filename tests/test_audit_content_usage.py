"""IETF aipref vocabulary (draft-ietf-aipref-vocab) and the Content-Usage header (draft-ietf-aipref-attach §2):
the drafts' own examples, every revision's labels, RFC 9651 Dictionary syntax, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipscope.audit.signals.base import Finding, Problem
from ipscope.audit.signals.content_usage import (
    header_findings,
    header_signal,
    parse_content_signal,
    parse_usage,
)

# --- the vocabulary draft's examples -----------------------------------------------------------------------


def test_vocab_format_example() -> None:
    # vocab §6: "the following states a preference to allow model training, disallow search,
    # with the preference for other categories being unknown: train-ai=y, search=n"
    p = parse_usage("train-ai=y, search=n")
    assert p.error is None
    assert (p.category("train-ai"), p.category("search"), p.category("ai-use")) == ("allowed", "disallowed", "unknown")
    assert p.training == "allowed"


def test_vocab_repeated_keys_example() -> None:
    # vocab §6.5.1: "the following results in all preferences being unknown, because the type of the
    # parameter values (a boolean and a string respectively) are not tokens"
    p = parse_usage('train-ai=y, train-ai, search=n, search="n"')
    assert p.error is None
    assert (p.category("train-ai"), p.category("search"), p.training) == ("unknown", "unknown", "unknown")


def test_vocab_parameters_examples() -> None:
    # vocab §6.5.2: "the following preference carries no parameters, and a preference to allow the usage"
    p = parse_usage("train-ai;allow=n, train-ai=y")
    assert p.category("train-ai") == "allowed"
    # "the following train-ai preference has parameters even though the preference is unknown:
    #  train-ai;has;parameters="?";" — unknown as the draft says; the trailing ";" is not valid RFC 9651
    # (§4.2.3.2: a key must follow ";"), so we also report it.
    p = parse_usage('train-ai;has;parameters="?";')
    assert p.training == "unknown" and p.error is not None
    assert parse_usage('train-ai;has;parameters="?"').category("train-ai") == "unknown"
    assert parse_usage("train-ai=n;reason=\"policy\"").category("train-ai") == "disallowed"


def test_vocab_uppercase_keys_fail_parsing() -> None:
    # vocab §6.5.1: "If the parsing of the Dictionary fails, preferences are unknown. This includes where
    # keys include uppercase characters"
    p = parse_usage("Train-AI=n")
    assert p.error is not None and p.training == "unknown"


@pytest.mark.parametrize(
    ("value", "training"),
    [
        ("train-ai=n", "disallowed"),  # vocab-05..-08: AI training
        ("train-ai=y", "allowed"),
        ("ai-use=n", "unknown"),  # vocab-08 AI Use is not training
        ("search=y", "unknown"),  # vocab-08 §4.3's override is for search applications only
        ("train-ai=y, train-genai=n", "disallowed"),  # vocab-02/-03 example: generative training disallowed
        ("train-genai=y", "allowed"),
        ("train-ai=n, train-genai=y", "disallowed"),  # non-generative training stays reserved
        ("bots=n", "disallowed"),  # vocab-03/-04 Automated Processing; train-ai falls back to it
        ("bots=n, train-ai=y", "allowed"),  # "a more specific preference overrides" (vocab-03 §5)
        ("all=n", "disallowed"),  # vocab-02 Automated Processing
        ("tdm=n", "disallowed"),  # vocab-01: ai and genai fall back to tdm
        ("ai=n", "disallowed"),
        ("genai=y", "allowed"),
        ("tdm=y, genai=n", "disallowed"),
        ("bots=y, search=n", "allowed"),
        ("train-ai=maybe", "unknown"),  # a Token other than y/n: unknown, not an error (vocab §6.5)
        ("train-ai=1", "unknown"),
        ("future-category=n", "unknown"),  # unknown labels MUST be ignored (vocab §6.4)
    ],
)
def test_training_preference_across_revisions(value: str, training: str) -> None:
    p = parse_usage(value)
    assert p.error is None
    assert p.training == training


def test_hierarchy_fallback_per_category() -> None:
    # vocab-03 §5: an unstated category takes the preference of the category it is a subset of
    p = parse_usage("bots=n, search=y")
    assert (p.category("train-genai"), p.category("train-ai"), p.category("search")) == (
        "disallowed", "disallowed", "allowed")
    assert parse_usage("train-ai=n, train-genai=y").deciding_labels() == ("train-ai",)


# --- RFC 9651 Dictionary syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "a=1, b=-2, c=1.5, d=-0.125, e=\"x \\\" \\\\ y\", f=tok/en:x, g=:aGVsbG8=:, h=?0, i=?1, j=@1659578233",
        'k=%"f%c3%bc", l=(1 "two" three);p=1, m=(), n;p, *star=y, x.y_z-1=n',
        "   train-ai=n   ",
        "train-ai=n,search=y",
        "train-ai=n,\tsearch=y",
        "",
    ],
)
def test_valid_dictionaries_parse(value: str) -> None:
    assert parse_usage(value).error is None


@pytest.mark.parametrize(
    "value",
    ["a=", "a=1,", ",a=1", "a=1,,b=2", "A=1", "1a=1", "a=1.2345", "a=1234567890123456", "a=\"open", "a=\"\\x\"",
     "a=?2", "a=:!!:", "a=(1 2", "a=1 b=2", "a=\u00e9", "a=%x", "a=1;", "a=1;B=2", "a=@x", "a=-", "a=(1,2)"],
)
def test_invalid_dictionaries_are_errors_not_exceptions(value: str) -> None:
    p = parse_usage(value)
    assert p.error is not None and p.training == "unknown"


def test_repeated_key_keeps_the_last_value() -> None:
    assert parse_usage("train-ai=n, search=y, train-ai=y").category("train-ai") == "allowed"
    assert parse_usage("train-ai=y, train-ai=n").category("train-ai") == "disallowed"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(value: str) -> None:
    p = parse_usage(value)
    assert p.training in ("allowed", "disallowed", "unknown")
    findings, problems = header_signal(value)
    assert len(findings) <= 1 and len(problems) <= 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["train-ai", "search", "ai-use", "train-genai", "x"]),
                          st.sampled_from(["y", "n"])), min_size=1, max_size=6),
       st.sampled_from([",", ", ", " ,\t"]))
def test_generated_dictionaries_keep_the_last_value_per_key(members: list[tuple[str, str]], sep: str) -> None:
    p = parse_usage(sep.join(f"{k}={v}" for k, v in members))
    assert p.error is None
    assert dict(p.explicit) == {k: v == "y" for k, v in members}  # dict() keeps the last value too


# --- the Content-Usage header field (attach §2) ------------------------------------------------------------


def test_attach_header_example() -> None:
    # attach §1.2: "Content-Usage: train-ai=n" on a 200 response
    assert header_findings("train-ai=n") == [Finding("content-usage", "header Content-Usage", "train-ai=n", True)]
    assert header_findings("train-ai=y, search=n") == [
        Finding("content-usage", "header Content-Usage", "train-ai=y, search=n", False)]
    assert header_findings("search=n") == []


def test_header_lines_are_combined_and_bad_values_are_problems() -> None:
    # RFC 9110 §5.3: several field lines combine with ","; RFC 9651 §4.2.2: the later key wins
    assert header_findings(["train-ai=y", "train-ai=n"])[0].reserved is True
    assert header_findings([b"train-ai=n"])[0].reserved is True
    problems: list[Problem] = []
    assert header_findings("train-ai=no;", "header Content-Usage (x.html)", problems) == []
    assert len(problems) == 1 and problems[0].where == "header Content-Usage (x.html)"
    assert "Structured Field" in problems[0].message
    for odd in (5, None, {"a": 1}, [1, 2], "tr\u00e4in-ai=n"):
        got, probs = header_signal(odd)
        assert got == [] and len(probs) == 1, odd
    assert header_signal("  ") == ([], [])
    assert header_signal(["", "train-ai=n"])[0][0].reserved is True


# --- Cloudflare Content-Signal values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "train", "notes"),
    [
        ("search=yes, ai-train=no", False, 0),  # contentsignals.org's default
        ("ai-train=no, search=yes, ai-input=yes", False, 0),
        ("ai-train=yes, search=yes, ai-input=yes", True, 0),
        ("search=yes,ai-train=no", False, 0),
        ("AI-Train = No", False, 0),
        ("search=yes, ai-input=no", None, 0),
        ("ai-train=no, ai-train=yes", False, 0),  # the most restrictive of two
        ("ai-train=perhaps", None, 1),
        ("ai-train", None, 1),
        ("", None, 0),
    ],
)
def test_content_signal_values(value: str, train: bool | None, notes: int) -> None:
    got, found = parse_content_signal(value)
    assert got is train and len(found) == notes
