"""The licence of a training document: its name, its SPDX form, and which use it allows.

Sources: the record's ``license`` field and, when the page is at hand, its ``rel="license"`` links and JSON-LD
``license`` values. Each statement is read as (first that applies) a licence URL (Creative Commons deeds, OSI, SPDX,
GNU, ...), an SPDX expression (``license-expression``'s SPDX db), a licence name (the Data Provenance Collection's
names and paraphrases, case- and punctuation-insensitive; Creative Commons names), or free text naming licences.
Its category comes from the DPC licence classes (``_data/licenses``). In the DPC's order commercial < unspecified <
non-commercial < academic-only, ``AND`` takes the most restrictive operand, ``OR`` the least restrictive (the user
may pick), and several sources the most restrictive of those that name a licence. Exact rules, precedence and the few
departures from the DPC data: docs/audit/licences.md. Cached per distinct statement; ``classify`` never raises.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ipscope.errors import IpscopeError
from ipscope.messages import Message

if TYPE_CHECKING:
    from license_expression import Licensing

    from ipscope.audit.page import PageMeta

Category = Literal["commercial", "non-commercial", "academic-only", "unspecified"]

#: The DPC's order (``LICENSE_USE_TYPES``): a higher rank restricts more.
RANK: dict[str, int] = {"commercial": 0, "unspecified": 1, "non-commercial": 2, "academic-only": 3}
#: DPC use class -> category; ``?`` is academic-only as in the DPC's ``resolve_multiple_licenses``.
_USE: dict[str, Category] = {"All": "commercial", "NC": "non-commercial", "Acad": "academic-only",
                              "?": "academic-only", "Unspecified": "unspecified"}
_MAX_RAW = 4096  # characters of a statement that are read and kept (a licence name never needs more)
_MAX_SEARCH = 2048  # characters of free text searched for names
_MAX_NAME = 512  # longest normalised text compared as a whole to the known names (the longest is ~330)
_MAX_SPDX = 512  # longest text tried as an SPDX expression (bounds the parser's recursion)
_MAX_SOURCES = 32  # page sources read per record
_MAX_JSONLD = 1 << 20  # bytes of one JSON-LD block that are parsed

# Departures from the DPC data, each for a reason stated in docs/audit/licences.md.
#: Paraphrases that name no licence in particular ("Creative Commons" may be BY-NC): not used.
_AMBIGUOUS = {"cc", "creative commons", "creative commons legal code", "creative commons public license ccpl"}
#: "No License" is ``All`` in the DPC (its code-corpus convention); with no licence all rights are reserved.
_CATEGORY_OVERRIDE: dict[str, Category] = {"No License": "unspecified"}

#: SPDX id -> DPC name (the DPC's GPL v3.0 class also covers AGPL, as its paraphrases do).
_SPDX_DPC: dict[str, str] = {
    "AFL-3.0": "Academic Free License v3.0", "Apache-2.0": "Apache License 2.0",
    "Artistic-2.0": "Artistic License 2.0", "BSD-2-Clause": "BSD 2-Clause License",
    "BSD-3-Clause": "BSD 3-Clause License", "C-UDA-1.0": "C-UDA", "CC0-1.0": "CC0 1.0",
    "CDLA-Permissive-1.0": "CDLA Permissive 1.0", "CDLA-Permissive-2.0": "CDLA Permissive 2.0",
    "CDLA-Sharing-1.0": "CDLA Sharing 1.0", "EPL-1.0": "EPL 1.0",
    "GPL-2.0-only": "GNU General Public License v2.0", "GPL-2.0-or-later": "GNU General Public License v2.0",
    "GPL-3.0-only": "GNU General Public License v3.0", "GPL-3.0-or-later": "GNU General Public License v3.0",
    "AGPL-3.0-only": "GNU General Public License v3.0", "AGPL-3.0-or-later": "GNU General Public License v3.0",
    "ISC": "ISC License", "LGPL-2.1-only": "LGPL 2.1", "LGPL-2.1-or-later": "LGPL 2.1",
    "LGPL-3.0-only": "LGPL 3.0", "LGPL-3.0-or-later": "LGPL 3.0", "MIT": "MIT License", "MPL-2.0": "MPL 2.0",
    "ODC-By-1.0": "ODC BY 1.0", "OGL-UK-3.0": "OGL 3.0", "CC-PDDC": "Public Domain", "CC-PDM-1.0": "Public Domain",
}
#: DPC name -> SPDX id (the first SPDX id listed above; "public domain" in general has none).
_DPC_SPDX: dict[str, str] = {v: k for k, v in reversed(list(_SPDX_DPC.items())) if v != "Public Domain"} | {
    "Apache 2.0": "Apache-2.0", "MIT": "MIT", "CC0": "CC0-1.0"}
#: More spellings of DPC names (the paraphrases cover the rest).
_ALIASES: dict[str, str] = {
    "Apache License, Version 2.0": "Apache License 2.0", "GPLv3": "GNU General Public License v3.0",
    "GPL v3": "GNU General Public License v3.0", "GPLv2": "GNU General Public License v2.0",
    "GPL v2": "GNU General Public License v2.0", "LGPLv3": "LGPL 3.0", "LGPLv2.1": "LGPL 2.1",
    "Mozilla Public License 2.0": "MPL 2.0", "Eclipse Public License 1.0": "EPL 1.0",
    "Simplified BSD License": "BSD 2-Clause License", "New BSD License": "BSD 3-Clause License",
    "Open Data Commons Attribution License": "ODC BY 1.0", "Open Government Licence v3.0": "OGL 3.0",
    "Research use only": "Academic Research Purposes Only", "Non-commercial use only": "Non Commercial",
    "Llama 2 Community License": "Llama 2", "CreativeML OpenRAIL-M": "BigScience OpenRAIL-M",
}
#: Never inferred from words inside free text: no licence, or a name that mentions an organisation ("OpenAI").
_NO_SEARCH = {"Unspecified", "Custom", "Various", "OpenAI", "Anthropic", "Unclear", "Request Form", "Open Access",
              "No License"}
_SEARCH_SHORT = {"cc0", "gpl", "lgpl", "agpl", "gplv3", "gplv2"}  # short names still searched for
_FREE_SCANCODE = {"Permissive", "Copyleft", "Copyleft Limited", "Public Domain"}


@dataclass(frozen=True, slots=True)
class Licence:
    """The licence of one record: ``raw`` the record's field (at most 4,096 characters), ``spdx`` an SPDX id or
    expression (``LicenseRef-DPC-…`` for a DPC class without one; None when nothing was recognised), ``category``
    what use it allows, ``evidence`` how each source was read, for a person to re-check."""

    raw: str | None
    spdx: str | None
    category: Category
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The manifest's ``license`` field."""
        return {"raw": self.raw, "spdx": self.spdx, "category": self.category}


# ---------------------------------------------------------------------------------------------------------- tables


_LONE_DOT = re.compile(r"\.(?!(?<=\d\.)\d)")  # starts with a literal, so the scan is fast


def _norm(s: str) -> str:
    """Case-, width- and punctuation-insensitive form; dots inside version numbers are kept."""
    s = unicodedata.normalize("NFKC", s).casefold()
    s = _LONE_DOT.sub(" ", s) if "." in s else s
    s = re.sub(r"[^\w.]+|_+", " ", s).strip()
    return s.replace("licence", "license")


def _canon(n: str) -> str:
    """Key for exact name lookup: ``_norm`` without a leading "the", a trailing "license" or a ``.0`` suffix."""
    n = re.sub(r"^the ", "", n)
    n = re.sub(r"(?: public)? license$", "", n)
    return re.sub(r"\b(\d+)\.0\b", r"\1", n)


@dataclass(frozen=True, slots=True)
class _Tables:
    classes: dict[str, tuple[str, str, str]]
    names: dict[str, str]  # _canon key -> DPC name
    finder: re.Pattern[str]  # DPC names worth finding inside free text (normalised)
    found: dict[str, str]  # matched normalised text -> DPC name
    licensing: Licensing
    lower: dict[str, str]  # lower-cased known SPDX key -> key
    scancode: dict[str, str]  # SPDX key -> ScanCode category
    slugs: dict[str, str]  # LicenseRef-DPC-<slug> -> DPC name (so ipscope's own output reads back)
    dpc_spdx: dict[str, str]  # DPC name -> SPDX id, where one exists


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    try:
        from license_expression import get_license_index, get_spdx_licensing

        base = resources.files("ipscope") / "_data" / "licenses"
        classes = {k: tuple(v) for k, v in json.loads((base / "license_classes.json").read_text("utf-8")).items()}
        paraphrases = json.loads((base / "license_paraphrases.json").read_text("utf-8"))
        licensing = get_spdx_licensing()
        index = get_license_index()
    except (OSError, ValueError, ImportError) as e:  # a broken install, not bad input
        from ..messages import error

        raise error(IpscopeError, "audit.licences.tables", error=str(e)) from e
    names: dict[str, str] = {}
    spellings = [(n, n) for n in classes] + [(p, n) for n, ps in paraphrases.items() for p in ps]
    spellings += list(_ALIASES.items())
    for text, name in spellings:
        if _norm(text) not in _AMBIGUOUS:
            names.setdefault(_canon(_norm(text)), name)  # first wins: class names before paraphrases
    normed = [(_norm(t), n) for t, n in reversed(spellings) if n not in _NO_SEARCH]
    found = {t: n for t, n in normed if t not in _AMBIGUOUS and (len(t) >= 5 or t in _SEARCH_SHORT)}
    alts = sorted(found, key=len, reverse=True)
    finder = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(a) for a in alts) + r")(?!\w)")
    scancode: dict[str, str] = {}
    for row in index:
        for key in [row.get("spdx_license_key")] + list(row.get("other_spdx_license_keys") or []):
            if isinstance(key, str):
                scancode.setdefault(key, str(row.get("category")))
    lower = {k.lower(): k for k in licensing.known_symbols}
    slugs = {f"LicenseRef-DPC-{_slug(n)}": n for n in [*classes, "Custom"]}
    cc = {n: "CC-" + n[3:].replace(" ", "-") for n in classes if re.fullmatch(r"CC BY[-A-Z]* \d\.\d", n)}
    dpc_spdx = {n: k for n, k in cc.items() if k in licensing.known_symbols} | _DPC_SPDX
    return _Tables(classes, names, finder, found, licensing, lower, scancode, slugs, dpc_spdx)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class _V:
    """What one licence (or one licence statement) allows, and how that was read."""

    spdx: str | None
    category: Category
    note: str


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-")


def _dpc(name: str, how: str, spdx: str | None = None) -> _V:
    t = _tables()
    use, attribution, share_alike = t.classes.get(name, ("?", "?", "?"))  # DPC: an unlisted (Custom) licence is ?
    cat = _CATEGORY_OVERRIDE.get(name, _USE.get(use, "academic-only"))
    if cat == "unspecified":
        return _V(None, cat, f"{how} DPC {name!r} -> unspecified")
    spdx = spdx or t.dpc_spdx.get(name) or f"LicenseRef-DPC-{_slug(name)}"
    flags = "".join(f"; {w}" for w, f in (("attribution", attribution), ("share-alike", share_alike)) if f == "1")
    return _V(spdx, cat, f"{how} DPC {name!r} (use {use}{flags}) -> {cat}")


_CC_ORDER = ("by", "nc", "nd", "sa")


def _cc(elements: set[str], version: str | None, port: str | None, how: str) -> _V:
    """A Creative Commons licence from its elements (by, nc, nd, sa), version and jurisdiction port."""
    t = _tables()
    parts = [e.upper() for e in _CC_ORDER if e in elements]
    code = "-".join(parts)
    if version and "." not in version:
        version += ".0"
    spdx = None
    if version:
        base = f"CC-{code}-{version}"
        ported = f"{base}-{port.upper()}" if port else None
        spdx = ported if ported in t.licensing.known_symbols else base if base in t.licensing.known_symbols else None
    label = f"CC {code}" + (f" {version}" if version else "") + (f" ({port} port)" if port else "")
    for dpc_name in ([f"CC {code} {version}"] if version else []) + [f"CC {code}"]:
        if dpc_name in t.classes:
            return _dpc(dpc_name, f"{how} {label} ->", spdx)
    cat: Category = "non-commercial" if "nc" in elements else "commercial"
    return _V(spdx, cat, f"{how} {label}: {'a NonCommercial element' if 'nc' in elements else 'no NC element'} -> {cat}")


def _spdx_symbol(key: str) -> _V:
    """One SPDX id: the DPC class when the DPC lists it, else CC elements, else the ScanCode category."""
    t = _tables()
    if key in _SPDX_DPC:
        return _dpc(_SPDX_DPC[key], f"SPDX {key} =", key)
    if key in t.slugs:
        return _dpc(t.slugs[key], f"SPDX {key} =", key)
    m = re.fullmatch(r"CC-((?:BY|NC|ND|SA)(?:-(?:BY|NC|ND|SA))*)-(\d\.\d)(?:-(\w+))?", key)
    if m:
        return _cc(set(m.group(1).lower().split("-")), m.group(2), m.group(3), f"SPDX {key} =")
    if key not in t.licensing.known_symbols:
        return _V(None, "unspecified", f"SPDX {key}: not a known licence id -> unspecified")
    sc = t.scancode.get(key, "")
    if sc in _FREE_SCANCODE:
        return _V(key, "commercial", f"SPDX {key}: ScanCode category {sc} -> commercial")
    if re.search(r"non-?commercial|-NC-", key, re.IGNORECASE):
        return _V(key, "non-commercial", f"SPDX {key}: a non-commercial licence -> non-commercial")
    return _V(key, "unspecified", f"SPDX {key}: ScanCode category {sc or '?'}, use not classified -> unspecified")


# ----------------------------------------------------------------------------------------------------- readers

_SPDX_SHAPE = re.compile(r"[A-Za-z0-9.+:\-() ]+")
_SCHEME = re.compile(r"(?:https?:)?//", re.IGNORECASE)
_BARE_URL = re.compile(r"(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/", re.IGNORECASE)


def _from_spdx(s: str) -> _V | None:
    """An SPDX id or expression whose symbols are all known ids or LicenseRefs; None when ``s`` is not one."""
    t = _tables()
    if len(s) > _MAX_SPDX or not _SPDX_SHAPE.fullmatch(s):
        return None
    try:
        expr = t.licensing.parse(s, validate=False, simple=False)
        if expr is None:
            return None
        symbols = [getattr(x, "key", "") for x in t.licensing.license_symbols(expr, decompose=True)]
    except Exception:  # noqa: BLE001 — ExpressionError, ParseError, RecursionError: not an SPDX expression
        return None
    if not symbols or not all(k in t.licensing.known_symbols or "LicenseRef-" in k for k in symbols):
        return None
    text = str(expr)

    def ev(node: Any) -> tuple[Category, list[str]]:
        args = getattr(node, "args", None)
        if args:  # AND / OR
            parts = [ev(a) for a in args]
            pick = max if type(node).__name__ == "AND" else min  # OR: the user may pick the least restrictive
            cat = pick((p[0] for p in parts), key=RANK.__getitem__)
            return cat, [n for p in parts for n in p[1]]
        sym = getattr(node, "license_symbol", node)  # "X WITH exception": an exception only adds permissions
        v = _spdx_symbol(str(getattr(sym, "key", sym)))
        return v.category, [v.note]

    cat, notes = ev(expr)
    how = f"SPDX {text} (AND: most restrictive; OR: least restrictive, the user may pick) -> {cat}: "
    return _V(text, cat, how + "; ".join(notes) if len(notes) > 1 else notes[0])


_CC_PATH = re.compile(
    r"/licen[sc]es/(?P<code>[a-z+-]+)/(?P<ver>\d(?:\.\d)?)(?:/(?P<port>[a-z]{2}(?:-[a-z]{2})?|igo|scotland))?"
    r"(?:/(?:legalcode|deed|rdf)[\w.-]*)?/?")
_SPDX_URL = re.compile(r"/licen[sc]es?/(?P<id>[\w.+-]+?)(?:[.-](?:php|html?|json|txt))?/?")
_GNU_URL = re.compile(r"/licenses/(?:old-licenses/)?(?P<n>agpl|lgpl|gpl|fdl)(?:-(?P<v>\d\.\d))?(?:[.-][\w]+)*/?")


def _spdx_id(raw_id: str, how: str) -> _V | None:
    t = _tables()
    i = raw_id.lower()
    for cand in (i, re.sub(r"-(\d)-(\d)$", r"-\1.\2", i), {"mit-license": "mit", "bsd-license": "bsd-2-clause",
                                                             "apache2.0": "apache-2.0"}.get(i, i)):
        key = t.lower.get(cand)
        if key is None and cand in {"gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "gfdl-1.3"}:
            key = cand.upper() + "-only"
        if key is not None:
            v = _spdx_symbol(key)
            return _V(v.spdx, v.category, f"{how} {v.note}")
    return None


def _from_url(u: str) -> _V | None:
    """A licence deed or text on a known licence publisher's site; None for any other URL."""
    try:
        p = urlsplit(u if "//" in u[:10] else "//" + u)
        host, path = (p.hostname or "").removeprefix("www."), p.path.lower()
    except ValueError:
        return None
    how = f"URL {host}{path} ="
    if host == "creativecommons.org":
        if m := _CC_PATH.fullmatch(path):
            parts = set(m.group("code").split("-"))
            if parts <= set(_CC_ORDER):
                return _cc(parts, m.group("ver"), m.group("port"), how)
            return _V(None, "unspecified", f"{how} retired CC licence {m.group('code')!r}: not classified")
        if path.startswith(("/publicdomain/zero/", "/share-your-work/public-domain/cc0")):
            return _dpc("CC0 1.0", how, "CC0-1.0")
        if path.startswith("/publicdomain/mark/"):
            return _dpc("Public Domain", how, "CC-PDM-1.0")
        if path.startswith("/licenses/publicdomain"):
            return _dpc("Public Domain", how, "CC-PDDC")
        return None
    m2: re.Match[str] | None
    if host in ("opensource.org", "spdx.org", "choosealicense.com") and (m2 := _SPDX_URL.fullmatch(path)):
        return _spdx_id(m2.group("id"), how)
    if host == "apache.org" and (m2 := re.fullmatch(r"/licenses/license-(\d\.\d)(?:\.\w+)?/?", path)):
        return _spdx_id(f"apache-{m2.group(1)}", how)
    if host == "gnu.org" and (m2 := _GNU_URL.fullmatch(path)):
        n, v = m2.group("n"), m2.group("v") or {"lgpl": "3.0", "fdl": "1.3"}.get(m2.group("n"), "3.0")
        return _spdx_id(f"{'gfdl' if n == 'fdl' else n}-{v}", how)
    if host == "opendatacommons.org" and (m2 := re.match(r"/licenses/(by|odbl|pddl)\b", path)):
        return _spdx_id({"by": "odc-by-1.0", "odbl": "odbl-1.0", "pddl": "pddl-1.0"}[m2.group(1)], how)
    if host == "mit-license.org":
        return _spdx_id("mit", how)
    if host == "nationalarchives.gov.uk" and (m2 := re.search(r"/open-government-licen[cs]e/version/(\d)", path)):
        return _spdx_id(f"ogl-uk-{m2.group(1)}.0", how)
    return None


_CC_ELEMENT = r"(?:attribution|by|non ?commercial|nc|no ?derivatives|no ?derivs|no derivative works|nd|share ?alike|sa)"
_CC_NAME = re.compile(
    r"(?<!\w)(?:(?:creative commons|cc)(?: license)? (?P<el>" + _CC_ELEMENT + r"(?: " + _CC_ELEMENT + r")*)"
    r"|(?P<el2>attribution(?: " + _CC_ELEMENT + r")*)(?= \d))"
    r"(?: license| international| unported| generic| version| v)*(?: (?P<ver>[1-4](?:\.[05])?|2\.1)(?!\w))?"
    r"(?: (?P<port>(?!by|nc|nd|sa)[a-z]{2}|igo))?(?: license| international| unported| generic| public)*(?!\w)")
_CC_ZERO = re.compile(r"(?<!\w)(?:cc ?0|cc zero|creative commons zero)(?: 1\.0)?(?: universal)?(?!\w)")
_URL_IN_TEXT = re.compile(r"(?:https?:)?//[^\s\"'<>()\[\]]+|(?<![\w.])(?:www\.)?creativecommons\.org/[^\s\"'<>()\[\]]+",
                          re.IGNORECASE)
_ACAD = re.compile(
    r"(?<!\w)(?:(?:non ?commercial )?(?:research|academic|educational|scientific)"
    r"(?: (?:and|or) (?:non ?commercial )?(?:research|academic|educational|scientific|teaching))?"
    r"(?: research)?(?: (?:purposes?|use|uses|usage))? only|only for (?:non ?commercial )?(?:research|academic|"
    r"educational)|research use license)(?!\w)")
_NC = re.compile(r"(?<!\w)(?:non ?commercial|not for commercial|no commercial use|commercial use is not (?:permitted|"
                 r"allowed)|commercial use is prohibited|prohibits commercial)(?!\w)")


_CC_WORD = {"attribution": "by", "by": "by", "noncommercial": "nc", "nc": "nc", "noderivatives": "nd",
            "noderivs": "nd", "noderivativeworks": "nd", "nd": "nd", "sharealike": "sa", "sa": "sa"}


def _cc_match(m: re.Match[str], how: str, whole: bool) -> _V:
    """A matched CC name; a two-letter port only counts when the name is the whole statement ("CC BY-SA 3.0 ES"),
    since inside prose it is usually the next word ("... 4.0 is ...")."""
    el = m.group("el") or m.group("el2") or ""
    el = re.sub(r"\b(non|no|share) (?=commercial|deriv|alike)", r"\1", el).replace("ive works", "iveworks")
    return _cc({_CC_WORD[w] for w in el.split() if w in _CC_WORD}, m.group("ver"),
               m.group("port") if whole else None, how)


def _from_name(n: str) -> _V | None:
    """``n`` (normalised) is one licence name: a DPC name or paraphrase, or a whole Creative Commons name."""
    t = _tables()
    name = t.names.get(_canon(n))
    if name is not None:
        return _dpc(name, "name =")
    if m := _CC_NAME.fullmatch(n):
        return _cc_match(m, "Creative Commons name", True)
    if _CC_ZERO.fullmatch(n):
        return _dpc("CC0 1.0", "name =", "CC0-1.0")
    return None


def _search(s: str, n: str) -> list[_V]:
    """Every licence named inside free text ``s`` (``n`` its normalised form). Each pattern runs only when a
    substring it needs is present: most text names no licence, and this keeps a miss cheap."""
    t = _tables()
    out: list[_V] = []
    if "//" in s or "creativecommons." in s.lower():
        for m in islice(_URL_IN_TEXT.finditer(s), _MAX_SOURCES):
            v = _from_url(m.group(0).rstrip(".,;:"))
            if v is not None:
                out.append(v)
    if "cc" in n or "creative commons" in n or "attribution" in n:
        out += [_cc_match(m, "text names Creative Commons", False) for m in islice(_CC_NAME.finditer(n), _MAX_SOURCES)]
        if _CC_ZERO.search(n):
            out.append(_dpc("CC0 1.0", "text names", "CC0-1.0"))
    for m in islice(t.finder.finditer(n), _MAX_SOURCES):
        out.append(_dpc(t.found[m.group(0)], f"text names {m.group(0)!r} ->"))
    if ("only" in n or "research use" in n) and (m2 := _ACAD.search(n)):
        out.append(_dpc("Academic Research Purposes Only", f"text says {m2.group(0)!r} ->"))
    if "commercial" in n and (m2 := _NC.search(n)):
        out.append(_dpc("Non Commercial", f"text says {m2.group(0)!r} ->"))
    return out


def _two_tier(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """Cache short strings generously and long ones sparingly, so memory stays bounded (~32 MB at most)."""
    short, long = lru_cache(maxsize=1 << 16)(fn), lru_cache(maxsize=1024)(fn)

    def call(s: str) -> Any:
        return short(s) if len(s) <= 256 else long(s)

    call.cache_clear = lambda: (short.cache_clear(), long.cache_clear())  # type: ignore[attr-defined,func-returns-value]
    return call


@_two_tier
def _statement(s: str) -> _V:
    """One licence statement (at most ``_MAX_RAW`` characters): cached, so a repeated one costs a dict lookup."""
    s = s.strip()
    if not s:
        return _V(None, "unspecified", "empty")
    if s.upper() in ("NOASSERTION", "NONE"):
        return _V(None, "unspecified", f"SPDX {s.upper()}: no licence information")
    if not any(c.isspace() for c in s) and (_SCHEME.match(s) or _BARE_URL.match(s)):
        v = _from_url(s)
        if v is not None:
            return v
        name = _tables().names.get(_canon(_norm(s)))  # the DPC paraphrases list a few licence-file URLs
        if name is not None:
            return _dpc(name, "URL listed in DPC paraphrases:")
        if _SCHEME.match(s):  # a bare host/path might still be a name such as "CC-BY-4.0/MIT": read on
            return _V(None, "unspecified", "URL is not a licence deed ipscope knows")
    v = _from_spdx(s)
    if v is not None:
        return v
    s = s[:_MAX_SEARCH]  # a licence is named near the top; the rest of a long text is not read
    n = _norm(s)
    v = _from_name(n) if len(n) <= _MAX_NAME else None
    if v is not None:
        return v
    found = list({(v.spdx, v.category): v for v in reversed(_search(s, n))}.values())[::-1]  # one per licence
    if not found:
        return _V(None, "unspecified", "no licence recognised")
    cat = max((v.category for v in found), key=RANK.__getitem__)
    spdx = _join([x.spdx for x in found])
    note = "; ".join(dict.fromkeys(x.note for x in found))
    return _V(spdx, cat, f"free text ({len(found)} found, most restrictive wins): {note}" if len(found) > 1 else note)


def _join(spdx: list[str | None]) -> str | None:
    uniq = list(dict.fromkeys(x for x in spdx if x))
    if len(uniq) <= 1:
        return uniq[0] if uniq else None
    return " AND ".join(f"({x})" if " OR " in x else x for x in uniq)


# ------------------------------------------------------------------------------------------------- page sources

_MEDIA_KEYS = {"image", "logo", "thumbnail", "thumbnailurl", "video", "audio", "associatedmedia",
               "primaryimageofpage", "photo", "photos"}
_MEDIA_TYPES = {"imageobject", "videoobject", "audioobject", "mediaobject", "3dmodel"}


@lru_cache(maxsize=4096)
def _local(key: str) -> str:
    """``schema:license`` and ``http://schema.org/license`` -> ``license``."""
    return re.split(r"[/:#]", key)[-1].lower()


def _licence_in(blocks: list[str]) -> bool:
    return any("icense" in b for b in blocks if isinstance(b, str))


def _jsonld_licences(blocks: list[str], out: list[tuple[str, Any]], notes: list[str]) -> None:
    """``license`` values of the page's own JSON-LD nodes (media objects are other works and are skipped)."""
    for i, block in enumerate(blocks[:16], 1):
        if "icense" not in block:
            continue
        if len(block) > _MAX_JSONLD:
            notes.append(Message("audit.licence.jsonld_too_large", i=i, limit=_MAX_JSONLD))
            continue
        try:
            data = json.loads(block)
        except (ValueError, RecursionError) as e:
            notes.append(Message("audit.licence.jsonld_not_json", i=i, error=str(e)[:80]))
            continue
        stack: list[tuple[Any, int]] = [(data, 0)]
        while stack and len(out) < _MAX_SOURCES:
            node, depth = stack.pop()
            if isinstance(node, list) and depth < 32:
                stack.extend((x, depth + 1) for x in reversed(node))
            elif isinstance(node, dict) and depth < 32:
                types = node.get("@type")
                types = types if isinstance(types, list) else [types]
                if any(isinstance(x, str) and _local(x) in _MEDIA_TYPES for x in types):
                    continue
                for k, v in node.items():
                    lk = _local(k) if isinstance(k, str) else ""
                    if lk == "license":
                        out.append((f"html JSON-LD block {i} {k}", v))
                    elif lk not in _MEDIA_KEYS and isinstance(v, (dict, list)):
                        stack.append((v, depth + 1))


def _value_texts(v: Any, depth: int = 0) -> list[str]:
    """Strings of a licence value: a string, an object's ``@id``/``url``/``@value``/``identifier``/``name``, a list."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        for k in ("@id", "url", "@value", "identifier", "name"):
            if isinstance(v.get(k), str):
                return [v[k]]
        return []
    if isinstance(v, (list, tuple)) and depth < 4:
        return [t for x in list(v)[:_MAX_SOURCES] for t in _value_texts(x, depth + 1)]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [str(v)]
    return []


# ---------------------------------------------------------------------------------------------------------- API


def _short(s: str, n: int = 160) -> str:
    return repr(s if len(s) <= n else s[:n] + "…")


@_two_tier
def _field_only(raw: str) -> Licence:
    v = _statement(raw)
    return Licence(raw, v.spdx, v.category, (f"license field {_short(raw)}: {v.note}",))


_NOTHING = Licence(None, None, "unspecified", ("no licence statement",))


def classify(raw: object, page: PageMeta | None = None) -> Licence:
    """The licence of a record from its ``license`` field (free text, SPDX id or expression, URL; a list or a
    JSON-LD-like object is also read) and, when given, the page's ``rel="license"`` links and JSON-LD ``license``.
    Never raises on its input; what could not be read is said in ``evidence``."""
    _tables()  # outside the guard: a broken install (IpscopeError naming the fix) must not pass as bad input
    try:
        if raw is None and page is None:
            return _NOTHING
        if isinstance(raw, str) and len(raw) > _MAX_RAW:
            raw = raw[:_MAX_RAW]
        if isinstance(raw, str) and (page is None or not (page.license_links or _licence_in(page.jsonld))):
            return _field_only(raw)  # the hot path: one cache lookup
        return _classify(raw, page)
    except Exception as e:  # noqa: BLE001 — a bug, not bad input: keep the audit going and say so
        return Licence(raw if isinstance(raw, str) else None, None, "unspecified",
                       (f"internal error {type(e).__name__}: {str(e)[:120]}; please report it",))


def _classify(raw: object, page: PageMeta | None) -> Licence:
    sources: list[tuple[str, Any]] = []
    notes: list[str] = []
    if raw is not None:
        sources.append(("license field", raw))
    if page is not None:
        links = [h for h in page.license_links if isinstance(h, str)]
        sources += [(f'html <link/a rel="license"> #{i}', h) for i, h in enumerate(links[:_MAX_SOURCES], 1)]
        _jsonld_licences([b for b in page.jsonld if isinstance(b, str)], sources, notes)
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for where, value in sources:
        texts = [value] if isinstance(value, str) else _value_texts(value)
        if not texts and value is not None:
            notes.append(Message("audit.licence.no_text", where=where, type=type(value).__name__))
        for text in texts[:_MAX_SOURCES]:
            text = text[:_MAX_RAW]
            if text.strip() not in seen:
                seen.add(text.strip())
                pairs.append((where, text))
    raw_text = raw[:_MAX_RAW] if isinstance(raw, str) else None if raw is None else _dump(raw)
    key = (raw_text, tuple(pairs), tuple(notes))
    # Pages repeat their licence markup (one site, one template): cache the combination when it is small.
    return _combined(*key) if sum(len(t) for _, t in pairs) <= 1024 else _combined.__wrapped__(*key)


@lru_cache(maxsize=1 << 14)
def _combined(raw_text: str | None, pairs: tuple[tuple[str, str], ...], notes: tuple[str, ...]) -> Licence:
    read = [(w, t, _statement(t)) for w, t in pairs]
    if not read:
        return Licence(raw_text, None, "unspecified", notes or ("no licence statement",))
    evidence = [f"{w} {_short(t)}: {v.note}" for w, t, v in read] + list(notes)
    named = [v for _, _, v in read if v.category != "unspecified"] or [v for _, _, v in read]
    cat = max((v.category for v in named), key=RANK.__getitem__)
    if len(read) > 1:
        evidence.append(f"{len(read)} sources, {len(named)} naming a licence: most restrictive -> {cat}")
    return Licence(raw_text, _join([v.spdx for v in named]), cat, tuple(evidence))


def _dump(v: object) -> str:
    try:
        return json.dumps(v, ensure_ascii=False, default=str)[:_MAX_RAW]
    except (ValueError, TypeError, RecursionError):
        return str(type(v).__name__)


def cache_clear() -> None:
    """Forget cached statements (for benchmarks that measure the uncached path)."""
    _statement.cache_clear()  # type: ignore[attr-defined]
    _field_only.cache_clear()  # type: ignore[attr-defined]
    _combined.cache_clear()
