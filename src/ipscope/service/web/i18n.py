"""The workbench's languages: message catalogues, the choice of locale, and Jinja2 environments that translate.

Catalogues are gettext ``.po`` files under ``locale/<locale>/LC_MESSAGES/messages.po``, read at run time: no
compiled ``.mo`` file is kept in git or made at install; the first use of a locale parses its ``.po`` with Babel
and compiles it in memory (a few milliseconds, once per process). Fuzzy entries are not used, so an unchecked
translation shows the English text rather than a wrong one (and the catalogue test reports it).

English is the source language: ``msgid`` is the English text and the English catalogue is empty apart from its
header. The engines' coded messages (:mod:`ipscope.messages`) are entries with ``msgctxt`` = their code.

Extraction (templates and Python, babel.cfg at the repository root) and the update of the catalogues:
``python -m ipscope.service.web.i18n extract`` (docs/web.md).
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from ...errors import MissingExtraError

Locale = Literal["en", "zh_Hans"]
LOCALES: tuple[Locale, ...] = ("en", "zh_Hans")
DEFAULT: Locale = "en"
#: names shown in the language switch, each in its own language (never translated)
LOCALE_NAMES: dict[Locale, str] = {"en": "English", "zh_Hans": "简体中文"}
#: the value of <html lang> (BCP 47) for each locale
HTML_LANG: dict[Locale, str] = {"en": "en", "zh_Hans": "zh-Hans"}

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
TEMPLATES_DIR = HERE / "templates"
DOMAIN = "messages"

#: gettext functions and their argument specs, for extraction (Babel's keyword syntax: ``1c`` = context).
#: ``_msg`` is :func:`ipscope.messages._msg`, which registers an engine message (code as context, English text).
KEYWORDS: dict[str, Any] = {
    "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3),
    "_msg": ((1, "c"), 2),
}


def _babel() -> Any:
    try:
        import babel  # noqa: F401
    except ImportError:
        raise MissingExtraError("service", "babel") from None
    return babel


def po_path(locale: Locale) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


# --------------------------------------------------------------------------------------------- choosing a locale

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$|^\*$")
# Traditional-script regions: a bare zh-TW/zh-HK/zh-MO asks for Traditional Chinese, which the workbench has not
_HANT_REGIONS = {"tw", "hk", "mo"}


def match_tag(tag: str) -> Locale | None:
    """The workbench locale for one language tag (BCP 47, ``-`` or ``_``, any case), or None when it has none.

    ``zh``, ``zh-CN``, ``zh-SG``, ``zh-Hans`` (with any region) -> ``zh_Hans``; ``zh-Hant`` and the regions that
    write Traditional (TW, HK, MO) -> None (no Traditional catalogue: the next choice or English is used);
    ``en`` with any region -> ``en``; ``*`` -> None (the caller's default)."""
    parts = tag.strip().replace("_", "-").lower().split("-")
    if not parts or not parts[0]:
        return None
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh":
        rest = parts[1:]
        if "hans" in rest:
            return "zh_Hans"
        if "hant" in rest or any(r in _HANT_REGIONS for r in rest):
            return None
        return "zh_Hans"
    return None


def parse_accept_language(header: str | None) -> list[tuple[str, float]]:
    """The language ranges of an ``Accept-Language`` header (RFC 9110 §12.5.4) with their weights, best first
    (equal weights keep the header's order); malformed entries and weights are skipped, ``q=0`` ("not this")
    is kept so the caller can honour it."""
    out: list[tuple[int, str, float]] = []
    for i, item in enumerate((header or "").split(",")):
        fields = [f.strip() for f in item.split(";")]
        tag = fields[0]
        if not tag or not _TAG.match(tag):
            continue
        q = 1.0
        ok = True
        for f in fields[1:]:
            name, _, value = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    ok = False
                if not 0.0 <= q <= 1.0 or q != q:
                    ok = False
        if ok:
            out.append((i, tag, q))
    out.sort(key=lambda t: (-t[2], t[0]))
    return [(tag, q) for _, tag, q in out]


def negotiate(accept_language: str | None, explicit: str | None = None) -> Locale:
    """The locale of a request: an explicit choice (the language switch: a ``lang`` query parameter or cookie)
    when it names a workbench locale, else the best ``Accept-Language`` range the workbench has (a range with
    ``q=0`` is refused, so ``zh;q=0`` never selects Chinese), else English. Traditional Chinese (zh-TW, zh-HK,
    zh-Hant) has no catalogue: such a reader gets English, also when a bare ``zh`` follows (browsers set to zh-TW
    send ``zh-TW,zh;q=0.9,en-US;q=0.8``), but an explicit zh-CN/zh-Hans after it is honoured."""
    if explicit:
        chosen = match_tag(explicit)
        if chosen is not None:
            return chosen
    refused: set[Locale] = set()
    traditional = False  # a Traditional range came first: a later bare "zh" (any script) is not a wish for Simplified
    for tag, q in parse_accept_language(accept_language):
        loc = match_tag(tag)
        if q == 0.0:
            if loc is not None:
                refused.add(loc)
            continue
        low = tag.replace("_", "-").lower()
        if low.startswith("zh") and loc is None:
            traditional = True
            continue
        if traditional and low == "zh":
            continue
        if loc is not None and loc not in refused:
            return loc
        if tag == "*":
            for loc in (DEFAULT, *LOCALES):
                if loc not in refused:
                    return loc
    return DEFAULT


# ---------------------------------------------------------------------------------------------- the catalogues


def read_catalog(locale: Locale) -> Any:
    """The ``babel.messages.Catalog`` of a locale, as its ``.po`` file holds it."""
    _babel()
    from babel.messages.pofile import read_po

    with po_path(locale).open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


@lru_cache(maxsize=None)
def translations(locale: Locale) -> Any:
    """The gettext translations of a locale (``babel.support.Translations``: gettext, pgettext, ngettext ...),
    compiled in memory from its ``.po`` on first use."""
    if locale not in LOCALES:
        raise ValueError(f"{locale!r} is not a workbench locale ({', '.join(LOCALES)})")
    _babel()
    from babel.messages.mofile import write_mo
    from babel.support import Translations

    buf = io.BytesIO()
    write_mo(buf, read_catalog(locale), use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


@lru_cache(maxsize=None)
def environment(locale: Locale, templates: tuple[str, ...] | str | None = None) -> Any:
    """The Jinja2 environment for one locale: templates from ``templates`` (a folder or folders searched in order;
    default: the workbench's), HTML
    autoescaped (every user string is escaped unless a template says otherwise), and the i18n extension with this
    locale's translations installed (new-style gettext: ``{{ _('Check %(n)s', n=3) }}`` escapes and formats).

    One environment per locale rather than one whose translations are swapped per request: installing
    translations changes the environment's globals, which concurrent requests share."""
    try:
        import jinja2
    except ImportError:
        raise MissingExtraError("service", "jinja2") from None

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(templates) if isinstance(templates, tuple) else templates
                                       or str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(locale=locale, html_lang=HTML_LANG[locale], html_langs=HTML_LANG, locales=LOCALES,
                       locale_names=LOCALE_NAMES)
    return env


def switch_url(path: str, query: str, locale: Locale) -> str:
    """The current page (``path`` and its ``query`` string) in another locale: the query with ``lang`` set, for
    the language switch. Other parameters are kept; the result is a relative URL (no host)."""
    from urllib.parse import parse_qsl, quote, urlencode

    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    pairs.append(("lang", locale))
    return f"{quote(path, safe='/')}?{urlencode(pairs)}"


def render_message(code: str, params: Mapping[str, Any] | None, locale: Locale) -> str:
    """An engine message (:mod:`ipscope.messages`) in a locale: its template translated (context = code), then
    filled with its parameters; nested coded parameters are rendered in the same locale. Evidence quoted from a
    document is a plain string parameter and stays as written."""
    from ... import messages

    return messages.render(code, params or {}, translations(locale).pgettext)


# ------------------------------------------------------------------------------------- extraction and checking


def extract(root: Path | None = None) -> Any:
    """A catalogue of every string the templates and the code mark (babel.cfg's mapping), with locations."""
    _babel()
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    root = root or HERE.parents[3]  # the repository (src/ipscope/service/web -> .)
    with (root / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    cat = Catalog(domain=DOMAIN, project="ipscope", charset="utf-8")
    # the patterns of babel.cfg are relative to src/ (as for `pybabel extract -F babel.cfg src`)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(root / "src"), method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",),
            strip_comment_tags=True):
        cat.add(message, None, [(f"src/{filename}", lineno)], auto_comments=comments, context=context)
    return cat


def _key(msg: Any) -> tuple[str, str | None]:
    mid = msg.id if isinstance(msg.id, str) else msg.id[0]
    return (mid, msg.context)


def untranslated(locale: Locale = "zh_Hans", extracted: Any | None = None, catalog: Any | None = None) -> list[str]:
    """What is missing from a locale's catalogue, one line each (empty when nothing is): a string the templates
    or the code mark that the catalogue lacks, and an entry without a translation (empty, fuzzy, or a plural form
    left empty). English needs only the extracted strings to be present. ``extracted`` defaults to
    :func:`extract`, ``catalog`` to the locale's ``.po``."""
    cat = catalog if catalog is not None else read_catalog(locale)
    have = {_key(m): m for m in cat if m.id}
    problems: list[str] = []
    for m in (extracted if extracted is not None else extract()):
        if not m.id:
            continue
        if _key(m) not in have:
            where = ", ".join(f"{p}:{n}" for p, n in m.locations[:3])
            ctx = f" [{m.context}]" if m.context else ""
            problems.append(f"{locale}: not in the catalogue{ctx}: {_key(m)[0]!r} ({where})")
    if locale != "en":
        for key, m in have.items():
            strs = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
            if m.fuzzy or not all(s and s.strip() for s in strs):
                ctx = f" [{m.context}]" if m.context else ""
                problems.append(f"{locale}: no translation{' (fuzzy)' if m.fuzzy else ''}{ctx}: {key[0]!r}")
    return problems


def update_catalogues(root: Path | None = None) -> dict[str, int]:
    """Merge the extracted strings into every locale's ``.po`` (new entries empty, obsolete ones dropped, existing
    translations kept), as ``pybabel update`` does; returns the number of entries in each."""
    from babel.messages.pofile import write_po

    template = extract(root)
    counts: dict[str, int] = {}
    for loc in LOCALES:
        cat = read_catalog(loc)
        created = cat.creation_date
        cat.update(template, no_fuzzy_matching=True)
        cat.creation_date = created  # no date churn in git from a run that changed nothing
        cat.obsolete.clear()
        with po_path(loc).open("wb") as f:
            # file names without line numbers: a moved line does not change the catalogue
            write_po(f, cat, width=120, ignore_obsolete=True, include_previous=False, include_lineno=False)
        counts[loc] = sum(1 for m in cat if m.id)
    return counts


def main(argv: Iterable[str] | None = None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["extract"]:
        for loc, n in update_catalogues().items():
            print(f"{po_path(loc)}: {n} entries")
        return 0
    if args == ["check"]:
        problems = [p for loc in LOCALES for p in untranslated(loc)]
        print("\n".join(problems) or "every string has its translations")
        return 1 if problems else 0
    print("usage: python -m ipscope.service.web.i18n extract | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
