"""The public summary of training content (EU AI Act Art. 53(1)(d)) on the Commission's template.

The template is the Annex to the Commission's "Explanatory Notice and Template for the Public Summary of
Training Content for general-purpose AI models" (24 July 2025). Its sections: 1 General information
(1.1 provider, 1.2 model, 1.3 modalities and size), 2 List of data sources (2.1 publicly available datasets,
2.2 private datasets — 2.2.1 commercially licensed, 2.2.2 other third parties —, 2.3 crawled and scraped data,
2.4 user data, 2.5 synthetic data, 2.6 other sources), 3 Data processing aspects (3.1 respect of TDM
reservations, 3.2 removal of illegal content, 3.3 other information).

Each record has a *source kind* naming the section of 2 it belongs to (``SOURCE_KINDS``: ``public-dataset`` 2.1,
``licensed`` 2.2.1, ``private-dataset`` 2.2.2, ``crawled`` 2.3, ``user-data`` 2.4, ``synthetic`` 2.5, ``other``
2.6; ``dataset`` is an alias of ``public-dataset``). A section whose kind has allowed records says so (``used``:
true, the modalities); a section with none is left to the provider, who may have used data the audit did not see.

``SummaryBuilder.add`` is called once per audited record, so it keeps only counters: a fixed array of
(decision, modality, source kind) cells, one small list per licence category and per signal name, and one per
distinct host of an allowed document. Everything else is computed once in ``to_dict``. What the audited records
cannot tell (provider, model, purposes, illegal-content measures...) is written as the value
``"to_be_completed_by_provider"`` and listed under the top-level key of the same name.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

Modality = Literal["text", "image", "audio", "video"]
Decision = Literal["allowed", "reserved", "rejected"]
SourceKind = Literal["public-dataset", "licensed", "private-dataset", "crawled", "user-data", "synthetic", "other"]
KindOrigin = Literal["record", "run", "default"]

#: The value of every field only the provider can fill in.
TO_BE_COMPLETED = "to_be_completed_by_provider"
FORMAT = "ipscope-summary/1"

DECISIONS: tuple[Decision, ...] = ("allowed", "reserved", "rejected")
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio", "video")
#: One per section of template part 2, in the template's order (see KIND_SECTIONS).
SOURCE_KINDS: tuple[SourceKind, ...] = ("public-dataset", "licensed", "private-dataset", "crawled", "user-data",
                                        "synthetic", "other")
#: Other names accepted for a kind: ``dataset`` was the only dataset kind before the template's sections were
#: all distinguished (it meant a publicly available dataset compiled by third parties, template 2.1).
KIND_ALIASES: dict[str, SourceKind] = {"dataset": "public-dataset"}
#: The template section each kind answers.
KIND_SECTIONS: dict[SourceKind, str] = {"public-dataset": "2.1", "licensed": "2.2.1", "private-dataset": "2.2.2",
                                        "crawled": "2.3", "user-data": "2.4", "synthetic": "2.5", "other": "2.6"}
#: What ``ipscope audit`` assumes for a record whose kind neither the record nor the run states (the audit's
#: records carry URLs: most corpora it reads are crawls); the summary counts such records apart.
DEFAULT_SOURCE_KIND: SourceKind = "crawled"
KIND_ORIGINS: tuple[KindOrigin, ...] = ("record", "run", "default")
_DEC = {d: i for i, d in enumerate(DECISIONS)}
_MOD = {m: i for i, m in enumerate(MODALITIES)}
_KIND: dict[str, int] = {k: i for i, k in enumerate(SOURCE_KINDS)}
_KIND.update({alias: _KIND[k] for alias, k in KIND_ALIASES.items()})
_NK = len(SOURCE_KINDS)
_ORIGIN = {o: i for i, o in enumerate(KIND_ORIGINS)}
_NCELLS = len(DECISIONS) * len(MODALITIES) * _NK


def source_kind(value: object) -> SourceKind | None:
    """The canonical kind of ``value`` (a kind or an alias, any letter case, surrounding blanks ignored), or
    None when it names none."""
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v in KIND_ALIASES:
        return KIND_ALIASES[v]
    return v if v in _KIND else None  # type: ignore[return-value]


def kinds_help() -> str:
    """The allowed values, for messages: ``public-dataset, licensed, ... (dataset: an alias of public-dataset)``."""
    aliases = "; ".join(f"{a}: an alias of {k}" for a, k in KIND_ALIASES.items())
    return f"{', '.join(SOURCE_KINDS)} ({aliases})"

#: Template section 1.3 "Training data size": the ranges a provider ticks per modality, as
#: (label, inclusive upper bound or None for the open top range). "Less than 1 billion" excludes 1 billion;
#: "1 billion to 10 trillion" includes both ends; "More than 10 trillion" starts above it.
_HOURS: tuple[tuple[str, int | None], ...] = (
    ("Less than 10,000 hours", 10**4 - 1), ("10,000 to 1 million hours", 10**6), ("More than 1 million hours", None))
SIZE_BINS: dict[str, tuple[tuple[str, int | None], ...]] = {
    "text": (("Less than 1 billion tokens", 10**9 - 1), ("1 billion to 10 trillion tokens", 10 * 10**12),
             ("More than 10 trillion tokens", None)),
    "image": (("Less than 1 million images", 10**6 - 1), ("1 million to 1 billion images", 10**9),
              ("More than 1 billion images", None)),
    "audio": _HOURS,
    "video": _HOURS,
}
SIZE_UNITS = {"text": "tokens", "image": "images", "audio": "hours", "video": "hours"}

#: Tokens are estimated from characters: ~4 characters a token is the usual figure for English text under BPE
#: tokenisers; CJK text runs near one token a character (ipscope's own tokeniser counts one per ideograph), so
#: the high estimate is one token per character. Both are reported; the bin is flagged uncertain if they differ.
CHARS_PER_TOKEN = 4

#: Opt-out protocols the audit reads (signal name -> what it is), for template section 3.1.
PROTOCOLS: dict[str, str] = {
    "robots.txt": "Robots Exclusion Protocol (RFC 9309) groups for the audited agents",
    "content-usage": "IETF AI Preferences Content-Usage (robots.txt rule or HTTP header, train-ai=n)",
    "content-signal": "Cloudflare Content Signals in robots.txt (ai-train=no)",
    "tdmrep": "W3C TDM Reservation Protocol (tdmrep.json, tdm-reservation headers, HTML meta, EPUB/PDF metadata)",
    "noai": "X-Robots-Tag header and <meta name=\"robots\"> noai / noimageai",
    "ai.txt": "Spawning ai.txt",
    "c2pa": "C2PA / CAWG training-mining assertions embedded in media files",
    "rsl": "Really Simple Licensing (RSL 1.0) licences: robots.txt License lines, Link headers, HTML link/script",
}

#: Reasons a record is reserved that are the provider's own measures, not opt-out protocols: listed apart in 3.1
#: (the Code of Practice's copyright chapter asks providers to keep away from websites recognised as infringing).
MEASURES: dict[str, str] = {
    "excluded-domain": "domains on a list given to the audit (--exclude-domains), with their subdomains",
}

#: Template sections in order: (number, title, key path in the summary dict).
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1", "General information", ("general_information",)),
    ("1.1", "Provider identification", ("general_information", "provider_identification")),
    ("1.2", "Model identification", ("general_information", "model_identification")),
    ("1.3", "Modalities, overall training data size and other characteristics",
     ("general_information", "modalities_size_and_characteristics")),
    ("2", "List of data sources", ("data_sources",)),
    ("2.1", "Publicly available datasets", ("data_sources", "publicly_available_datasets")),
    ("2.2", "Private non-publicly available datasets obtained from third parties",
     ("data_sources", "private_datasets")),
    ("2.2.1", "Datasets commercially licensed by rightsholders or their representatives",
     ("data_sources", "private_datasets", "commercially_licensed")),
    ("2.2.2", "Private datasets obtained from other third parties",
     ("data_sources", "private_datasets", "other_third_parties")),
    ("2.3", "Data crawled and scraped from online sources", ("data_sources", "crawled_and_scraped")),
    ("2.4", "User data", ("data_sources", "user_data")),
    ("2.5", "Synthetic data", ("data_sources", "synthetic_data")),
    ("2.6", "Other sources of data", ("data_sources", "other_sources")),
    ("3", "Data processing aspects", ("data_processing",)),
    ("3.1", "Respect of reservation of rights from text and data mining exception or limitation",
     ("data_processing", "tdm_reservations")),
    ("3.2", "Removal of illegal content", ("data_processing", "illegal_content_removal")),
    ("3.3", "Other information (optional)", ("data_processing", "other_information")),
)


def size_bin(modality: str, amount: int) -> str:
    """The template's section 1.3 range for ``amount`` (tokens, images or hours, per ``SIZE_UNITS``)."""
    for label, upper in SIZE_BINS[modality]:
        if upper is None or amount <= upper:
            return label
    raise AssertionError("unreachable: the last bin is open")


def top_domain_count(n_domains: int, *, sme: bool = False) -> int:
    """How many domains section 2.3 lists: the top 10% of all domains by content size (SMEs: 5%, or 1,000 if
    fewer), rounded up so that the listed domains cover at least that fraction, and at least one when any exist."""
    if n_domains <= 0:
        return 0
    if sme:
        return min(-(-n_domains * 5 // 100), 1000)
    return -(-n_domains // 10)


class SummaryBuilder:
    """Counts audited records; ``to_dict`` turns the counts into the template's sections."""

    __slots__ = ("_chars", "_docs", "_hostless", "_hosts", "_licences", "_nc_signals", "_not_checked", "_origins",
                 "_signals", "_unnamed_reserved", "_nc_last", "_nc_last_n")
    _TRANSIENT = ("_nc_last", "_nc_last_n")  # not in state(): flushed into the dicts first

    def __init__(self) -> None:
        # cell index = (decision * 4 + modality) * len(SOURCE_KINDS) + source kind
        self._docs = [0] * _NCELLS
        self._chars = [0] * _NCELLS
        self._licences: dict[str, list[int]] = {}  # category -> [docs x3 decisions, chars x3 decisions]
        self._signals: dict[str, int] = {}  # signal -> reserved documents it reserved
        self._unnamed_reserved = 0
        # allowed documents only: host -> [docs, chars] per source kind
        self._hosts: dict[str, list[int]] = {}
        self._hostless = [0] * (2 * _NK)
        self._origins = [0] * len(KIND_ORIGINS)  # where each record's source kind came from
        # (signal, input, why) -> documents for which that signal could not be consulted there; signal -> documents
        self._not_checked: dict[tuple[str, str, str], int] = {}
        self._nc_signals: dict[str, int] = {}
        # the entries counted last and how many records in a row had that very tuple (not yet in the dicts)
        self._nc_last: Sequence[Any] = ()
        self._nc_last_n = 0

    def add_not_checked(self, items: Sequence[Any]) -> None:
        """Count one judged record's ``not_checked`` entries (``types.NotChecked``: signal, input, why).

        The records of one site share one tuple of entries (all records do, in a run without site files), so a
        record whose tuple is the one counted last costs one addition; the entries are spread out when another
        tuple comes."""
        if items is self._nc_last:
            self._nc_last_n += 1
            return
        self._flush_not_checked()
        self._nc_last, self._nc_last_n = items, 1

    def _flush_not_checked(self) -> None:
        n = self._nc_last_n
        if not n:
            return
        nc, sig = self._not_checked, self._nc_signals
        for e in self._nc_last:
            k = (e.signal, e.input, e.why)
            nc[k] = nc.get(k, 0) + n
        for s in dict.fromkeys([e.signal for e in self._nc_last]):  # a record counts once per signal
            sig[s] = sig.get(s, 0) + n
        self._nc_last, self._nc_last_n = (), 0

    def not_checked_by_signal(self) -> dict[str, int]:
        """Records per signal that could not be consulted for them (each record once per signal)."""
        self._flush_not_checked()
        return dict(self._nc_signals)

    def add(
        self,
        *,
        url: str | None,
        host: str | None,
        text_chars: int,
        modality: Modality,
        decision: Decision,
        signals: Sequence[str],
        licence_category: str,
        source_kind: SourceKind | Literal["dataset"],
        kind_origin: KindOrigin = "record",
    ) -> None:
        """Count one audited record. ``signals`` are the signal names that reserved it (read only when
        ``decision == "reserved"``). ``host`` should be lower-cased; when it is None the host is taken from
        ``url`` if that parses. ``kind_origin`` says where ``source_kind`` came from: the record's own field, the
        run's option, or ipscope's default. Raises ValueError on a value outside the Literal types (a caller
        bug; ``source_kind`` may also be an alias of ``KIND_ALIASES``)."""
        try:
            d = _DEC[decision]
            k = _KIND[source_kind]
            i = (d * 4 + _MOD[modality]) * _NK + k
            o = _ORIGIN[kind_origin]
        except KeyError as exc:
            raise ValueError(
                f"SummaryBuilder.add: unknown value {exc.args[0]!r} (decision must be one of {DECISIONS}, "
                f"modality one of {MODALITIES}, source_kind one of {SOURCE_KINDS} or an alias of "
                f"{tuple(KIND_ALIASES)}, kind_origin one of {KIND_ORIGINS})"
            ) from None
        if text_chars < 0:
            raise ValueError(f"SummaryBuilder.add: text_chars must be >= 0, got {text_chars}")
        self._docs[i] += 1
        self._chars[i] += text_chars
        self._origins[o] += 1
        lic = self._licences.get(licence_category)
        if lic is None:
            lic = self._licences[licence_category] = [0, 0, 0, 0, 0, 0]
        lic[d] += 1
        lic[d + 3] += text_chars
        if d == 1:  # reserved: credit each signal once per document
            if not signals:
                self._unnamed_reserved += 1
            else:
                sig = self._signals
                for s in (signals if len(signals) == 1 else dict.fromkeys(signals)):
                    sig[s] = sig.get(s, 0) + 1
        elif d == 0:  # allowed: only allowed content is training content, so only it ranks domains
            if not host and url:
                host = _host_of(url)
            if host:
                h = self._hosts.get(host)
                if h is None:
                    h = self._hosts[host] = [0] * (2 * _NK)
            else:
                h = self._hostless
            h[2 * k] += 1
            h[2 * k + 1] += text_chars

    def state(self) -> dict[str, Any]:
        """The counters as plain JSON data (a worker process hands them back this way; ``from_state`` reads them)."""
        self._flush_not_checked()
        out = {name.lstrip("_"): getattr(self, name) for name in self.__slots__ if name not in self._TRANSIENT}
        out["not_checked"] = [[*k, n] for k, n in self._not_checked.items()]  # JSON has no tuple keys
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SummaryBuilder:
        b = cls()
        for name in cls.__slots__:
            if name in cls._TRANSIENT:
                continue
            value, empty = state[name.lstrip("_")], getattr(b, name)
            if isinstance(empty, list) and len(value) != len(empty):  # written by another version of the layout
                raise ValueError(f"SummaryBuilder.from_state: {name} has {len(value)} counters, not {len(empty)}")
            if name == "_not_checked":
                value = {(sig, inp, why): n for sig, inp, why, n in value}
            setattr(b, name, value)
        return b

    def merge(self, other: SummaryBuilder) -> None:
        """Add another builder's counts (e.g. one per shard or worker process) into this one."""
        for i in range(_NCELLS):
            self._docs[i] += other._docs[i]
            self._chars[i] += other._chars[i]
        for cat, counts in other._licences.items():
            mine = self._licences.setdefault(cat, [0] * 6)
            for j, v in enumerate(counts):
                mine[j] += v
        for s, n in other._signals.items():
            self._signals[s] = self._signals.get(s, 0) + n
        self._unnamed_reserved += other._unnamed_reserved
        for host, counts in other._hosts.items():
            mine = self._hosts.setdefault(host, [0] * (2 * _NK))
            for j, v in enumerate(counts):
                mine[j] += v
        for j, v in enumerate(other._hostless):
            self._hostless[j] += v
        self._flush_not_checked()
        other._flush_not_checked()
        for k, n in other._not_checked.items():
            self._not_checked[k] = self._not_checked.get(k, 0) + n
        for sig, n in other._nc_signals.items():
            self._nc_signals[sig] = self._nc_signals.get(sig, 0) + n
        for j, v in enumerate(other._origins):
            self._origins[j] += v

    # ------------------------------------------------------------------ aggregation helpers

    def _sum(self, arr: list[int], *, d: int | None = None, m: int | None = None, k: int | None = None) -> int:
        total = 0
        for di in range(3) if d is None else (d,):
            for mi in range(4) if m is None else (m,):
                for ki in range(_NK) if k is None else (k,):
                    total += arr[(di * 4 + mi) * _NK + ki]
        return total

    def _by_decision(self, arr: list[int], **where: int) -> dict[str, int]:
        out: dict[str, int] = {dec: self._sum(arr, d=i, **where) for i, dec in enumerate(DECISIONS)}
        out["total"] = sum(out.values())
        return out

    def _kind_facts(self, k: int) -> dict[str, Any]:
        """What the audit knows of one source kind: its records by decision, whether any was allowed (training
        content: the section's "used" is then true; else the provider says), and the modalities of those."""
        docs = self._docs
        allowed = self._sum(docs, d=0, k=k)
        return {
            "records": self._by_decision(docs, k=k),
            "allowed": allowed,
            "used": True if allowed else TO_BE_COMPLETED,
            "modalities": [m for mi, m in enumerate(MODALITIES) if self._sum(docs, d=0, m=mi, k=k)],
        }

    def _domains(self, kind: int, *, sme: bool) -> dict[str, Any]:
        """Top domains by characters of allowed documents of one source kind (ties: more documents, then name).
        Hosts are merged case-insensitively and without a trailing dot, so 'Example.com.' counts as 'example.com'."""
        merged: dict[str, list[int]] = {}
        for host, c in self._hosts.items():
            if c[2 * kind] == 0:
                continue
            name = host.lower().rstrip(".")
            m = merged.get(name)
            if m is None:
                merged[name] = [c[2 * kind], c[2 * kind + 1]]
            else:
                m[0] += c[2 * kind]
                m[1] += c[2 * kind + 1]
        n = len(merged)
        k = top_domain_count(n, sme=sme)
        total_chars = sum(v[1] for v in merged.values())
        total_docs = sum(v[0] for v in merged.values())
        top = heapq.nsmallest(k, merged.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
        rows: list[dict[str, Any]] = [
            {
                "domain": name,
                "documents": docs,
                "characters": chars,
                "share_of_characters": _share(chars, total_chars),
                "share_of_documents": _share(docs, total_docs),
            }
            for name, (docs, chars) in top
        ]
        rule = ("top 5% of domains (or 1,000 if fewer) by content size, rounded up (SME threshold)" if sme
                else "top 10% of domains by content size, rounded up")
        return {
            "rule": rule,
            "content_size_measure": "characters of allowed documents; ties broken by documents, then name",
            "domain_definition": "host name of the document URL (lower-cased), not the registrable domain",
            "domains_total": n,
            "domains_listed": len(rows),
            "documents_with_host": total_docs,
            "characters_with_host": total_chars,
            "documents_without_host": self._hostless[2 * kind],
            "listed_share_of_characters": _share(sum(r["characters"] for r in rows), total_chars),
            "domains": rows,
        }

    # ------------------------------------------------------------------ the summary

    def to_dict(
        self,
        *,
        agents: Sequence[str],
        policy: str,
        inputs: Sequence[str],
        generated_at: str,
        protocols: Sequence[str] | None = None,
        sme: bool = False,
        not_read: Mapping[str, str] | None = None,
        default_source_kind: SourceKind | None = None,
        exclude_lists: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """``summary.json``. ``protocols`` names the signals the run honoured (default: all of ``PROTOCOLS``);
        ``sme`` applies the template's SME threshold to the top-domain list; ``not_read`` names the signals the
        run could not read at all, with why (listed as not checked even when no record counted them);
        ``default_source_kind`` is the kind the run stated for records without their own (None: not stated,
        ``DEFAULT_SOURCE_KIND`` was assumed); ``exclude_lists`` describes the excluded-domain lists of the run
        (``{"list", "domains"}`` each)."""
        tbc = TO_BE_COMPLETED
        docs, chars = self._docs, self._chars
        modalities: dict[str, Any] = {}
        for mi, mod in enumerate(MODALITIES):
            n = self._sum(docs, d=0, m=mi)
            c = self._sum(chars, d=0, m=mi)
            modalities[mod] = {
                "present": n > 0,
                "documents": n,
                "characters": c,
                "size": _size(mod, n, c) if n else None,
                "types_of_content": tbc if n else None,
            }
        modalities["other"] = tbc

        kinds = {k: self._kind_facts(i) for i, k in enumerate(SOURCE_KINDS)}

        honoured = [p for p in (PROTOCOLS if protocols is None else protocols) if p not in MEASURES]
        counts = {p: self._signals.get(p, 0) for p in honoured}
        for s, n in self._signals.items():  # a signal that reserved documents was honoured, listed or not
            if s not in MEASURES:
                counts.setdefault(s, n)
        protocol_rows = [
            {"signal": s, "standard": PROTOCOLS.get(s, "as named by the signal"), "documents_reserved": n}
            for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        self._flush_not_checked()
        not_checked_rows = self._not_checked_rows(not_read or {})
        documents = self._by_decision(docs)
        characters = self._by_decision(chars)
        excluded = None
        if exclude_lists or self._signals.get("excluded-domain"):
            excluded = {"lists": [dict(x) for x in exclude_lists],
                        "documents_reserved": self._signals.get("excluded-domain", 0),
                        "rule": MEASURES["excluded-domain"]}

        summary: dict[str, Any] = {
            "format": FORMAT,
            "template": {
                "title": "Template for the Public Summary of Training Content for general-purpose AI models",
                "source": "Annex to the Commission's Explanatory Notice and Template, 24 July 2025",
                "legal_basis": "Article 53(1)(d) of Regulation (EU) 2024/1689 (AI Act)",
                "basis_of_figures": "documents the audit allowed (the content that may be used for training)",
            },
            "generated_at": generated_at,
            "audit": {
                "inputs": list(inputs),
                "policy": policy,
                "agents": list(agents),
                "documents": documents,
                "characters": characters,
                "documents_by_modality": {m: self._by_decision(docs, m=i) for i, m in enumerate(MODALITIES)},
                "documents_by_source_kind": {k: self._by_decision(docs, k=i) for i, k in enumerate(SOURCE_KINDS)},
                "source_kinds": {
                    "from_record_field": self._origins[0],
                    "from_run_option": self._origins[1],
                    "assumed": self._origins[2],
                    "run_option": default_source_kind,
                    "assumed_kind": DEFAULT_SOURCE_KIND,
                    "note": _kinds_note(self._origins, default_source_kind),
                },
                "sme": sme,
            },
            **_tbc("summary_version", "last_update"),
            "general_information": {
                "provider_identification": _tbc("provider_name_and_contact",
                                                "authorised_representative_name_and_contact"),
                "model_identification": _tbc("versioned_model_names", "model_dependencies",
                                             "date_of_placement_on_union_market"),
                "modalities_size_and_characteristics": {
                    "modalities": modalities,
                    **_tbc("latest_date_of_data_acquisition", "continuous_training_on_new_data",
                           "linguistic_characteristics", "other_characteristics"),
                },
            },
            "data_sources": {
                "publicly_available_datasets": {
                    "used": kinds["public-dataset"]["used"],
                    "audited_records": kinds["public-dataset"]["records"],
                    "modalities_of_allowed_records": kinds["public-dataset"]["modalities"],
                    "large_datasets": tbc,
                    "other_datasets_description": tbc,
                    "domains_in_dataset_records": self._domains(_KIND["public-dataset"], sme=sme),
                },
                "private_datasets": {
                    "commercially_licensed": {
                        "licensing_agreements_concluded": kinds["licensed"]["used"],
                        "modalities": kinds["licensed"]["modalities"] if kinds["licensed"]["allowed"] else tbc,
                        "audited_records": kinds["licensed"]["records"],
                    },
                    "other_third_parties": {
                        "obtained": kinds["private-dataset"]["used"],
                        "audited_records": kinds["private-dataset"]["records"],
                        "modalities_of_allowed_records": kinds["private-dataset"]["modalities"],
                        **_tbc("publicly_known_datasets", "description"),
                    },
                },
                "crawled_and_scraped": {
                    # the crawler was used when it collected records, whatever the audit then decided of them
                    "crawlers_used": True if kinds["crawled"]["records"]["total"] else tbc,
                    "audited_records": kinds["crawled"]["records"],
                    "crawler_names": tbc,
                    "agents_whose_reservations_were_honoured": list(agents),
                    **_tbc("purposes", "crawler_behaviour", "collection_period", "content_description"),
                    "modalities": kinds["crawled"]["modalities"] if kinds["crawled"]["allowed"] else tbc,
                    "top_domains": self._domains(_KIND["crawled"], sme=sme),
                },
                "user_data": {
                    # the records do not say whether they came from the model's users or from other services
                    **_tbc("model_interaction_data_used", "other_services_data_used", "services_description"),
                    "audited_records": kinds["user-data"]["records"],
                    "modalities_of_allowed_records": kinds["user-data"]["modalities"],
                },
                "synthetic_data": {
                    "used": kinds["synthetic"]["used"],
                    "generating_models": tbc,
                    "audited_records": kinds["synthetic"]["records"],
                    "modalities_of_allowed_records": kinds["synthetic"]["modalities"],
                },
                "other_sources": {
                    "used": kinds["other"]["used"],
                    "description": tbc,
                    "audited_records": kinds["other"]["records"],
                    "modalities_of_allowed_records": kinds["other"]["modalities"],
                },
            },
            "data_processing": {
                "tdm_reservations": {
                    "code_of_practice_signatory": tbc,
                    "policy": policy,
                    "agents": list(agents),
                    "opt_out_protocols_honoured": protocol_rows,
                    "opt_out_protocols_not_checked": not_checked_rows,
                    "documents_reserved": documents["reserved"],
                    "characters_reserved": characters["reserved"],
                    "documents_reserved_without_named_signal": self._unnamed_reserved,
                    "documents_rejected": documents["rejected"],
                    "measures_description": _measures(policy, agents, protocol_rows, documents, characters,
                                                      not_checked_rows, excluded),
                    "other_measures": tbc,
                    **({"excluded_domains": excluded} if excluded is not None else {}),
                },
                "illegal_content_removal": _tbc("measures"),
                "other_information": {
                    "licence_categories": {
                        cat: {
                            **{dec: v[i] for i, dec in enumerate(DECISIONS)},
                            "total": v[0] + v[1] + v[2],
                            "allowed_characters": v[3],
                        }
                        for cat, v in sorted(self._licences.items())
                    },
                    "additional_information": tbc,
                },
            },
        }
        for number, _title, path in SECTIONS:
            node: Any = summary
            for key in path:
                node = node[key]
            node["section"] = number  # each section object says which template section it answers
        summary["to_be_completed_by_provider"] = sorted(_tbc_paths(summary, ""))
        return summary


    def _not_checked_rows(self, not_read: Mapping[str, str]) -> list[dict[str, Any]]:
        """Section 3.1's protocols not checked: one row per (signal, what was not read, why) with the documents
        concerned, most documents first; a signal the run could not read at all is named even with none."""
        rows = [{"signal": sig, "standard": PROTOCOLS.get(sig, "as named by the signal"), "input": inp, "why": why,
                 "documents": n} for (sig, inp, why), n in self._not_checked.items()]
        named = {r["signal"] for r in rows}
        rows += [{"signal": sig, "standard": PROTOCOLS.get(sig, "as named by the signal"), "input": None, "why": why,
                  "documents": 0} for sig, why in not_read.items() if sig not in named]
        rows.sort(key=lambda r: (-r["documents"], r["signal"], r["input"] or "", r["why"]))
        return rows


def _tbc(*keys: str) -> dict[str, str]:
    return dict.fromkeys(keys, TO_BE_COMPLETED)


def _host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket: the record simply has no host
        return None


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _size(modality: str, docs: int, chars: int) -> dict[str, Any]:
    if modality == "text":
        low, high = chars // CHARS_PER_TOKEN, chars
        return {
            "unit": "tokens",
            "estimate": True,
            "method": f"characters / {CHARS_PER_TOKEN} (English-like text); high estimate one token per "
                      "character (CJK-like text)",
            "estimated_tokens": low,
            "estimated_tokens_high": high,
            "bin": size_bin("text", low),
            "bin_high": size_bin("text", high),
            "bin_certain": size_bin("text", low) == size_bin("text", high),
        }
    if modality == "image":
        return {"unit": "images", "estimate": False, "count": docs, "bin": size_bin("image", docs),
                "method": "one image per allowed image document"}
    return {"unit": "hours", "estimate": False, "bin": TO_BE_COMPLETED,
            "method": "durations are not in the audited records"}


def _kinds_note(origins: Sequence[int], run_kind: str | None) -> str:
    """One sentence saying where the records' source kinds came from (the sections of part 2 rest on them)."""
    own, run, assumed = origins
    parts = [f"{own:,} record(s) stated their source kind in their own source_kind field"]
    if run_kind is not None:
        parts.append(f"{run:,} took the run's --source-kind {run_kind}")
    if assumed or run_kind is None:
        parts.append(f"{assumed:,} stated none and were assumed to be {DEFAULT_SOURCE_KIND} (the provider should "
                     "confirm, or give source_kind per record or --source-kind)")
    return "; ".join(parts) + "."


def _measures(policy: str, agents: Sequence[str], rows: list[dict[str, Any]],
              documents: Mapping[str, int], characters: Mapping[str, int],
              not_checked: Sequence[Mapping[str, Any]] = (),
              excluded: Mapping[str, Any] | None = None) -> str:
    named = ", ".join(f'"{a}"' for a in agents)
    if policy == "any-ai-agent":
        whom = 'for "*", for any AI-training crawler in the ai.robots.txt list' + (f", or for {named}" if named else "")
    elif policy == "agent":
        whom = f"for the named agents only ({named or 'none given'})"
    else:
        whom = f'under the policy "{policy}"' + (f" for {named}" if named else "")
    protocols = ", ".join(r["signal"] for r in rows) or "none"
    return (
        "Before training, every document was checked against machine-readable reservations of rights under "
        f"Article 4(3) of Directive (EU) 2019/790: {protocols}. A document was excluded when an honoured signal "
        f"reserved text and data mining or AI training {whom}. "
        f"{documents['reserved']:,} of {documents['total']:,} documents ({characters['reserved']:,} characters) "
        f"were excluded as reserved; {documents['rejected']:,} could not be judged (malformed, or without a valid "
        "http(s) URL) and were excluded as well."
    ) + ("" if excluded is None else (
        f" Besides, every document from a domain (or its subdomains) on the provider's exclusion list"
        f"{'s' if len(excluded['lists']) != 1 else ''} "
        f"({', '.join(str(x.get('list')) for x in excluded['lists']) or 'none named'}) was excluded: "
        f"{excluded['documents_reserved']:,} document(s).")) + _not_checked_sentence(not_checked)


def _not_checked_sentence(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    parts = []
    for r in rows:
        what = r["signal"] + (f" ({r['input']})" if r["input"] and r["input"] != f"/{r['signal']}" else "")
        parts.append(f"{what}: {r['why']}, {r['documents']:,} document{'s' if r['documents'] != 1 else ''}")
    return " Not checked: " + "; ".join(parts) + "."


def _tbc_paths(node: Any, prefix: str) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _tbc_paths(value, f"{prefix}.{key}" if prefix else key)
    elif node == TO_BE_COMPLETED:
        yield prefix


# ---------------------------------------------------------------------------------------------- markdown

_TBC_MD = "**[to be completed by the provider]**"

#: The template's fields per section, in its order: (label, key in that section's dict). A value that is a
#: {allowed, reserved, rejected, total} count is written as such.
_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "1.1": (("Provider name and contact details", "provider_name_and_contact"),
            ("Authorised representative name and contact details", "authorised_representative_name_and_contact")),
    "1.2": (("Versioned model name(s)", "versioned_model_names"),
            ("Model dependencies", "model_dependencies"),
            ("Date of placement of the model on the Union market", "date_of_placement_on_union_market")),
    "1.3": (("Latest date of data acquisition/collection for model training", "latest_date_of_data_acquisition"),
            ("Continuous training on new data after that date", "continuous_training_on_new_data"),
            ("Linguistic characteristics of the overall training data", "linguistic_characteristics"),
            ("Other relevant characteristics", "other_characteristics")),
    "2.1": (("Publicly available datasets used", "used"),
            ("Audited records marked public-dataset", "audited_records"),
            ("Modalities of the allowed public-dataset records", "modalities_of_allowed_records"),
            ("Large publicly available datasets", "large_datasets"),
            ("Other publicly available datasets", "other_datasets_description")),
    "2.2.1": (("Transactional commercial licensing agreement(s) concluded", "licensing_agreements_concluded"),
              ("Modalities covered", "modalities"),
              ("Audited records marked licensed", "audited_records")),
    "2.2.2": (("Private datasets obtained from other third parties", "obtained"),
              ("Audited records marked private-dataset", "audited_records"),
              ("Modalities of the allowed private-dataset records", "modalities_of_allowed_records"),
              ("Publicly known datasets", "publicly_known_datasets"),
              ("General description", "description")),
    "2.3": (("Crawlers used by the provider or on its behalf", "crawlers_used"),
            ("Audited records marked crawled", "audited_records"),
            ("Crawler name(s)/identifier(s)", "crawler_names"),
            ("Agents whose reservations the audit honoured", "agents_whose_reservations_were_honoured"),
            ("Purposes of the crawler(s)", "purposes"),
            ("General description of crawler behaviour", "crawler_behaviour"),
            ("Period of data collection", "collection_period"),
            ("Type of content and online sources crawled", "content_description"),
            ("Modalities of the allowed crawled records", "modalities")),
    "2.4": (("Data from user interactions with the model used", "model_interaction_data_used"),
            ("Data from user interactions with other services or products used", "other_services_data_used"),
            ("Services or products concerned", "services_description"),
            ("Audited records marked user-data", "audited_records"),
            ("Modalities of the allowed user-data records", "modalities_of_allowed_records")),
    "2.5": (("Synthetic AI-generated data used", "used"), ("Model(s) used to generate it", "generating_models"),
            ("Audited records marked synthetic", "audited_records"),
            ("Modalities of the allowed synthetic records", "modalities_of_allowed_records")),
    "2.6": (("Other data sources used", "used"), ("Description", "description"),
            ("Audited records marked other", "audited_records"),
            ("Modalities of the allowed other records", "modalities_of_allowed_records")),
    "3.1": (("Signatory to the Code of Practice for general-purpose AI models", "code_of_practice_signatory"),
            ("Measures implemented before training (from the audit)", "measures_description"),
            ("Other measures", "other_measures"),
            ("Reserved documents with no named signal", "documents_reserved_without_named_signal")),
    "3.2": (("General description of measures taken", "measures"),),
    "3.3": (("Additional information", "additional_information"),),
}


#: Control characters and Unicode line/paragraph separators would split a table row or a list item.
_LINE_BREAKERS = {c: " " for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}


class _Raw(str):
    """Markdown we generated ourselves: passed through ``_md`` unescaped."""


def _md(value: Any) -> str:
    """A value as inline markdown: the provider marker, yes/no, numbers with separators, text escaped."""
    if isinstance(value, _Raw):
        return value
    if value == TO_BE_COMPLETED:
        return _TBC_MD
    if value is None:
        return "not applicable"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, list | tuple):
        return ", ".join(_md(v) for v in value) if value else "none"
    if isinstance(value, Mapping) and "total" in value:
        return (f"{value.get('total', 0):,} ({value.get('allowed', 0):,} allowed, "
                f"{value.get('reserved', 0):,} reserved, {value.get('rejected', 0):,} rejected)")
    text = str(value).translate(_LINE_BREAKERS)
    # corpus-derived strings (hosts, licence categories) must not inject markup or break table cells
    for ch, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("*", "\\*"), ("_", "\\_"),
                    ("[", "\\["), ("]", "\\]"), ("`", "\\`")):
        text = text.replace(ch, esc)
    return text


def _get(summary: Mapping[str, Any], *path: str) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows] + [""]


def _domain_lines(dom: Mapping[str, Any] | None) -> list[str]:
    if not dom:
        return []
    out = [(f"**Summary of the most relevant domain names** ({_md(dom.get('rule'))}; "
           f"{_md(dom.get('domain_definition'))}): {dom.get('domains_listed', 0):,} of "
           f"{dom.get('domains_total', 0):,} domains, {_md(dom.get('listed_share_of_characters', 0.0))} of their "
           f"characters; {dom.get('documents_without_host', 0):,} allowed document(s) had no host."), ""]
    rows = dom.get("domains") or []
    if rows:
        out += _table(["#", "Domain", "Documents", "Characters", "Share of characters"],
                      ([i, r["domain"], r["documents"], r["characters"], r["share_of_characters"]]
                       for i, r in enumerate(rows, 1)))
    return out


def _size_text(size: Mapping[str, Any] | None) -> _Raw:
    if not size:
        return _Raw("not applicable")
    label = size.get("bin")
    if label == TO_BE_COMPLETED:
        return _Raw(f"{_TBC_MD} ({_md(size.get('method'))})")
    if size.get("unit") == "tokens":
        text = (f"{_md(label)} (estimate: {size.get('estimated_tokens', 0):,} tokens at {CHARS_PER_TOKEN} "
                f"characters a token; up to {size.get('estimated_tokens_high', 0):,} at one a character")
        if not size.get("bin_certain", True):
            text += f", which would be {_md(size.get('bin_high'))}: the provider should confirm"
        return _Raw(text + ")")
    return _Raw(f"{_md(label)} ({size.get('count', 0):,} {_md(size.get('unit'))})")


def _section_body(number: str, sec: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if number == "1.3":
        mods = sec.get("modalities") or {}
        rows: list[list[Any]] = []
        for mod in MODALITIES:
            m = mods.get(mod) or {}
            rows.append([mod.capitalize(), bool(m.get("present")), m.get("documents", 0), m.get("characters", 0),
                         _size_text(m.get("size")), m.get("types_of_content")])
        rows.append(["Other", mods.get("other"), "", "", "", ""])
        out += _table(["Modality", "Present", "Documents", "Characters", "Training data size", "Types of content"],
                      rows)
    out += [f"- **{label}:** {_md(sec.get(key))}" for label, key in _FIELDS.get(number, ())]
    if out:
        out.append("")
    if number == "2.1":
        out += _domain_lines(sec.get("domains_in_dataset_records"))
    elif number == "2.3":
        out += _domain_lines(sec.get("top_domains"))
    elif number == "3.1":
        out += _table(["Opt-out protocol (signal)", "Standard", "Documents reserved"],
                      ([r["signal"], r["standard"], r["documents_reserved"]]
                       for r in sec.get("opt_out_protocols_honoured") or []))
        nc = sec.get("opt_out_protocols_not_checked") or []
        if nc:
            out += ["Opt-out protocols **not checked** (for the documents counted; the manifest's `not_checked` "
                    "names them per document):", ""]
            out += _table(["Opt-out protocol (signal)", "Not read", "Why", "Documents"],
                          ([r["signal"], r["input"] or "all", r["why"], r["documents"]] for r in nc))
        exc = sec.get("excluded_domains")
        if exc:
            lists = ", ".join(f"{_md(x.get('list'))} ({x.get('domains', 0):,} domains)" for x in exc.get("lists") or [])
            out += [f"**Excluded domains** ({_md(exc.get('rule'))}): {lists or 'none named'}; "
                    f"{exc.get('documents_reserved', 0):,} document(s) excluded.", ""]
    elif number == "3.3":
        out += ["Licence categories of the audited documents:", ""]
        out += _table(["Licence category", "Allowed", "Reserved", "Rejected", "Total", "Allowed characters"],
                      ([c, v["allowed"], v["reserved"], v["rejected"], v["total"], v["allowed_characters"]]
                       for c, v in (sec.get("licence_categories") or {}).items()))
    return out


def to_markdown(summary: Mapping[str, Any]) -> str:
    """``summary.md``: the summary dict as readable markdown headed by the template's section numbers and titles."""
    s = summary
    lines = [
        "# Public Summary of Training Content",
        "",
        (f"Following the European Commission's *{_md(_get(s, 'template', 'title'))}* "
        f"({_md(_get(s, 'template', 'source'))}; {_md(_get(s, 'template', 'legal_basis'))}). "
        f"Figures generated by `ipscope audit` at {_md(_get(s, 'generated_at'))} from "
        f"{_md(_get(s, 'audit', 'inputs') or [])}; they count the {_md(_get(s, 'template', 'basis_of_figures'))}. "
        f"Fields marked {_TBC_MD} cannot be derived from the audited data."),
        "",
        f"- **Version of the Summary:** {_md(_get(s, 'summary_version'))}",
        f"- **Last update:** {_md(_get(s, 'last_update'))}",
        "",
    ]
    for number, title, path in SECTIONS:
        lines += [f"{'#' * (2 + number.count('.'))} {number}. {title}", ""]
        lines += _section_body(number, _get(s, *path) or {})
    audit = _get(s, "audit") or {}
    docs, chars = audit.get("documents") or {}, audit.get("characters") or {}
    lines += ["## Audit figures (not part of the template)", "",
              f"- **Policy:** {_md(audit.get('policy'))}", f"- **Agents:** {_md(audit.get('agents') or [])}"]
    kinds = audit.get("source_kinds") or {}
    if kinds.get("note"):
        lines.append(f"- **Source kinds:** {_md(kinds['note'])}")
    if audit.get("sme"):
        lines.append("- **SME:** yes (the template's SME threshold applies to the domain lists)")
    lines.append("")
    lines += _table(["Decision", "Documents", "Characters"],
                    ([d, docs.get(d, 0), chars.get(d, 0)] for d in (*DECISIONS, "total")))
    return "\n".join(lines).rstrip("\n") + "\n"
