"""The one atomic-write helper: a file appears complete at its path, or not at all.

Written to a hidden temporary name beside the target (same directory, so the final ``os.replace`` is a
rename on one file system) and renamed when the writer finishes. On any exception, including
``KeyboardInterrupt``, the temporary file is removed and whatever was at the path before stays intact.
Index markers (``done.json``, ``passages.json``, task markers), manifests and report files all go through it.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


def temp_name(path: Path) -> Path:
    """The temporary name used for ``path``: hidden, beside it, unique to this process and thread (two threads of a
    server may write one file at once: each writes its own and the last rename wins whole)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident():x}.tmp")


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """``with atomic_open(path) as f: f.write(...)``: the file is at ``path`` only once the block ends
    without an exception. Streamed writers (a JSONL report written query by query) use it too.

    A symbolic link is followed (the file it points to is replaced, the link stays). A path that exists and is
    not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is written to directly: it cannot be
    replaced by a rename, and must not be (renaming over ``/dev/null`` as root would put a plain file there)."""
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file() and not path.is_dir():
        with open(path, mode, encoding=None if "b" in mode else encoding, newline=None if "b" in mode else "") as f:
            yield f
        return
    tmp = temp_name(path)
    f = open(tmp, mode, encoding=None if "b" in mode else encoding, newline=None if "b" in mode else "")
    try:
        yield f
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def write_atomic(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data.encode(encoding) if isinstance(data, str) else data)


__all__ = ["atomic_open", "temp_name", "write_atomic"]
