"""Errors that reach a person: each says what is wrong, where, and how to fix it."""

from __future__ import annotations

from typing import Any


class IpscopeError(Exception):
    """An error the CLI prints as one message (no traceback) before exiting non-zero.

    ``code`` and ``params`` name the message for translation (``ipscope.messages``: the web workbench shows it in
    the reader's language); an error raised with a plain message has ``code`` None."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None, *, code: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.code = code
        self.params = dict(params or {})

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class InputError(IpscopeError):
    """An input path that cannot be read at all (not a single bad record)."""


class IndexFormatError(IpscopeError):
    """A directory that is not an ipscope index, or one of another format version."""


class MissingExtraError(IpscopeError):
    def __init__(self, extra: str, package: str) -> None:
        super().__init__(
            f"this needs the optional dependency {package!r}",
            f"pip install 'ipscope[{extra}]'",
            code="extra.missing", params={"package": package, "extra": extra},
        )
