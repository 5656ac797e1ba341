"""C2PA / CAWG training-and-data-mining assertions embedded in media files (JPEG, PNG, MP4, PDF, …).

A C2PA manifest is signed metadata inside the file. Its "training and data mining" assertion says whether the
asset may be used for AI/ML training or mined. C2PA 1.x defined it as ``c2pa.training-mining`` with entries
``c2pa.ai_training``, ``c2pa.ai_generative_training``, ``c2pa.data_mining``, ``c2pa.ai_inference``; C2PA 2.0
removed it and the Creator Assertions Working Group re-published it as ``cawg.training-mining`` with the
``cawg.`` entries (CAWG "Training and Data Mining Assertion" 1.x, §3 "Assertion definition"). Both labels are
read, and both entry prefixes in either label (the CAWG CDDL itself lists the ``c2pa.`` keys). Each entry says
``use``: ``allowed``, ``notAllowed`` or ``constrained``; the spec: "In the absence of additional information,
``constrained`` shall be treated as equivalent to ``notAllowed``".

Reading needs ``c2pa-python`` (the ``ipscope[c2pa]`` extra), imported only when a media file is checked.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ipscope.audit.signals.base import Finding, Problem
from ipscope.messages import Message
from ipscope.errors import MissingExtraError

SIGNAL = "c2pa"

#: ``c2pa.training-mining`` / ``cawg.training-mining``, with an optional version (``.v2``) and instance (``__1``)
#: suffix as C2PA §6.2 "Labels" allows.
_LABEL = re.compile(r"(?:c2pa|cawg)\.training-mining(?:\.v\d+)?(?:__\d+)?\Z")
#: entries that reserve training or mining when not allowed; ``ai_inference`` is read but is not training.
_TRAINING = frozenset({"ai_training", "ai_generative_training", "data_mining"})
_KNOWN = _TRAINING | {"ai_inference"}
_USES = frozenset({"allowed", "notAllowed", "constrained"})


def _c2pa() -> ModuleType:
    """The c2pa module, or :class:`MissingExtraError` naming the extra (never a NameError deep in a run)."""
    try:
        import c2pa  # the optional extra; imported here so ipscope runs without it
    except (ImportError, OSError) as e:  # OSError: the native library inside the wheel failed to load
        raise MissingExtraError("c2pa", "c2pa-python") from e
    return c2pa


@lru_cache(maxsize=1)
def _context(mod: ModuleType) -> Any:
    """A reading context that never goes to the network: a corpus file must not make the audit fetch a remote
    manifest or an OCSP response (slow, and a request to wherever the file points)."""
    try:
        settings = mod.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        return mod.Context(settings=settings)
    except Exception:  # noqa: BLE001 — an older c2pa-python without Settings/Context: its defaults then apply
        return None


@lru_cache(maxsize=1)
def _supported(mod: ModuleType) -> frozenset[str]:
    try:
        return frozenset(t.lower() for t in mod.Reader.get_supported_mime_types())
    except Exception:  # noqa: BLE001 — unknown list: let the library decide per file
        return frozenset()


def _entry_name(key: str) -> str | None:
    prefix, dot, name = key.partition(".")
    return name if dot and prefix in ("c2pa", "cawg") and name in _KNOWN else None


def _assertion_findings(data: object, where: str, out: list[Finding], problems: list[Problem]) -> None:
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        problems.append(Problem(SIGNAL, where, "assertion has no 'entries' map; ignored"))
        return
    for key, entry in entries.items():
        name = _entry_name(str(key))
        if name is None:
            continue  # custom uses ("com.example.x") and "metadata": not defined by the spec
        evidence = json.dumps({key: entry}, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)
        use = entry.get("use") if isinstance(entry, dict) else None
        if not isinstance(use, str) or use not in _USES:
            if isinstance(use, str) and use.lower() == "notallowed":
                use = "notAllowed"  # a miscased value still says "no"; read it and say so
                problems.append(Problem(SIGNAL, where, f"{key}: 'use' is {entry['use']!r}; read as 'notAllowed' "
                                                       "(the spec spells it 'notAllowed')"))
            else:
                problems.append(Problem(SIGNAL, where, f"{key}: 'use' is {use!r}, not one of allowed, notAllowed, "
                                                       "constrained; entry ignored"))
                continue
        if name not in _TRAINING or use == "allowed":
            continue
        if use == "constrained":
            # CAWG spells the field constraint_info in its CDDL and constraints_info in its prose: take either.
            info = entry.get("constraint_info") or entry.get("constraints_info")
            if isinstance(info, str) and info.strip():
                problems.append(Problem(SIGNAL, where, f"{key} is 'constrained' with conditions {info.strip()!r}; "
                                                       "ipscope cannot check conditions, so this is not counted "
                                                       "as a reservation — read them before using the file"))
                continue
        out.append(Finding(SIGNAL, where, evidence, True))


def media_findings(path: Path) -> tuple[list[Finding], list[Problem]]:
    """Reservations in the active C2PA manifest of the media file at ``path``.

    A file without a manifest, or of a type C2PA does not cover (by its extension, e.g. ``.txt``), gives
    nothing; an unreadable or corrupt file gives a Problem. Raises only :class:`MissingExtraError` when
    ``c2pa-python`` is not installed.
    """
    mod = _c2pa()
    path = Path(path)
    file = str(path)
    ext = path.suffix.lower().lstrip(".")
    supported = _supported(mod)
    if ext and supported and ext not in supported:
        return [], []
    got = _read(mod, path, ext)
    if got is None:
        return [], []
    if isinstance(got, str):
        return [], [Problem(SIGNAL, file, got)]
    manifest, state, results = got
    findings: list[Finding] = []
    problems: list[Problem] = []
    if not isinstance(manifest, dict):
        return [], [Problem(SIGNAL, file, "manifest store has no active manifest; nothing read")]
    label = manifest.get("label", "?")
    if state == "Invalid":
        # A tampered or broken signature does not make the reservation less meant: it is honoured, and flagged.
        codes = sorted({str(f.get("code")) for f in _failures(results)})
        problems.append(Problem(SIGNAL, f"{file} manifest {label}",
                                f"manifest does not validate ({', '.join(codes[:5]) or 'no details'}); its "
                                "reservations are still honoured"))
    for assertion in manifest.get("assertions") or ():
        alabel = assertion.get("label") if isinstance(assertion, dict) else None
        if isinstance(alabel, str) and _LABEL.match(alabel):
            where = Message("audit.where.c2pa", file=file, label=label, assertion=alabel)
            _assertion_findings(assertion.get("data"), where, findings, problems)
    return findings, problems


def _read(mod: ModuleType, path: Path, ext: str) -> tuple[object, object, object] | str | None:
    """(active manifest, validation state, validation results) of ``path``; None when it has no manifest; the
    text of a Problem when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            try:
                reader = mod.Reader.try_create(ext or None, fh, None, _context(mod))
                if reader is None:
                    return None
                with reader:
                    state = reader.get_validation_state()
                    return (reader.get_active_manifest(), state,
                            reader.get_validation_results() if state == "Invalid" else None)
            # The native library raises its own error classes (and KeyError for a store without an active
            # manifest); any of them means "this file could not be read", never a crash of the audit.
            except Exception as e:  # noqa: BLE001
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                return (f"C2PA data could not be read ({msg[:200]}); treated as no manifest — the file may be "
                        "corrupt or truncated")
    except OSError as e:
        return f"cannot open the media file ({e.strerror or e}); C2PA not checked"


def _failures(results: object) -> list[dict[str, Any]]:
    if not isinstance(results, dict):
        return []
    active = results.get("activeManifest")
    fails = active.get("failure") if isinstance(active, dict) else None
    return [f for f in fails if isinstance(f, dict)] if isinstance(fails, list) else []
