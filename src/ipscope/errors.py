"""Errors that reach a person: each says what is wrong, where, and how to fix it."""

from __future__ import annotations


class IpscopeError(Exception):
    """An error the CLI prints as one message (no traceback) before exiting non-zero."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

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
        )
