"""RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string a JSON value signs as.

Three rules make the bytes unique (RFC 8785 section 3.2):

- **numbers** are IEEE 754 doubles written as ECMAScript's ``Number.prototype.toString`` writes them
  (shortest digits that round-trip, plain notation from 1e-6 to below 1e21, exponent notation outside);
- **strings** are written with the fewest escapes: ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, ``\\u00xx`` (lower-case
  hex) for the other controls below U+0020, every other character as itself in UTF-8;
- **object members** are sorted by their names compared as arrays of UTF-16 code units (not code points: a
  character above U+FFFF sorts by its high surrogate, before U+E000..U+FFFF), with no whitespace anywhere.

The data must be I-JSON (RFC 7493): no duplicate member names, no lone surrogates, no NaN or infinity.
:func:`canonicalize` takes Python values (``dict``/``list``/``tuple``/``str``/``int``/``float``/``bool``/``None``);
:func:`canonicalize_text` parses JSON text the way an ECMAScript engine does (every number a double) and
canonicalizes it. Both raise :class:`JCSError` naming the JSON path of the offending value.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["JCSError", "canonicalize", "canonicalize_text", "number_to_string", "parse"]

# Integers a double holds exactly, and so the range an integer survives a JCS round trip in (I-JSON 2.2).
MAX_SAFE_INTEGER = 2**53 - 1

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class JCSError(ValueError):
    """A value that has no canonical form (not I-JSON); ``path`` is where it is (``$.a[2].b``)."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


def number_to_string(x: float) -> str:
    """ECMAScript ``Number::toString(x)`` (ECMA-262 section 7.1.12.1, which RFC 8785 section 3.2.2.3 adopts)
    for a finite double.

    Python's ``repr`` gives the digits the ECMAScript algorithm asks for (the shortest decimal that reads
    back as ``x``, the one nearest to ``x`` when several are that short); only the layout differs."""
    if not math.isfinite(x):
        raise JCSError(f"{x!r} is not a JSON number (RFC 8785 3.2.2.3: NaN and infinity are errors)")
    if x == 0:
        return "0"  # -0 too
    if x < 0:
        return "-" + number_to_string(-x)
    mantissa, _, exp_text = repr(x).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    stripped = digits.lstrip("0")
    # n: the decimal exponent such that x = 0.DIGITS * 10**n (ECMA-262's n, with k = len(digits)).
    n = len(int_part) - (len(digits) - len(stripped)) + (int(exp_text) if exp_text else 0)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"


def _string(s: str, path: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise JCSError(f"lone surrogate U+{ord(s[e.start]):04X} at character {e.start} (not I-JSON: RFC 7493 2.1)",
                       path) from None
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the code-unit arrays RFC 8785 section 3.2.3 sorts by.
    return name.encode("utf-16-be", "surrogatepass")


def _write(value: Any, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, int):
        try:
            exact = abs(value) <= MAX_SAFE_INTEGER or float(value) == value
        except OverflowError:
            exact = False
        if not exact:
            raise JCSError(f"integer {value} has no exact IEEE 754 double (I-JSON 2.2); send it as a string", path)
        out.append(number_to_string(float(value)))
    elif isinstance(value, float):
        try:
            out.append(number_to_string(value))
        except JCSError as e:
            raise JCSError(e.reason, path) from None
    elif isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise JCSError(f"member name {k!r} is not a string", path)
            items.append((_utf16_key(k), k, v))
        items.sort(key=lambda t: t[0])
        out.append("{")
        for i, (_, k, v) in enumerate(items):
            if i:
                out.append(",")
            out.append(_string(k, path))
            out.append(":")
            _write(v, f"{path}.{k}" if k.isidentifier() else f"{path}[{json.dumps(k)}]", out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _write(v, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise JCSError(f"a {type(value).__name__} is not a JSON value", path)


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value given as Python data."""
    out: list[str] = []
    _write(value, "$", out)
    return "".join(out).encode("utf-8")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise JCSError(f"duplicate member name {json.dumps(k)} (not I-JSON: RFC 7493 2.3)")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise JCSError(f"{name} is not a JSON number")


def parse(text: str | bytes) -> Any:
    """JSON text as an ECMAScript engine reads it for JCS: every number a double, duplicate names and
    NaN/Infinity refused. Bytes must be UTF-8 (a UTF-8 byte-order mark is refused, as RFC 8259 8.1 allows)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JCSError(f"not UTF-8 (byte {e.start})") from None
    try:
        return json.loads(text, parse_int=float, parse_float=float, parse_constant=_no_constant,
                          object_pairs_hook=_pairs)
    except json.JSONDecodeError as e:
        raise JCSError(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def canonicalize_text(text: str | bytes) -> bytes:
    """The RFC 8785 canonical bytes of JSON text (numbers read as doubles, as JCS requires)."""
    return canonicalize(parse(text))
