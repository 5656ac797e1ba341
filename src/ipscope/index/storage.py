"""Where a task's outputs go: a local path (or one every node mounts: NFS, a FUSE-mounted bucket), written in
place as before, or an fsspec URL (``s3://bucket/build``, ``gs://...``, ``memory://...``), where a task writes its
files in a local scratch directory, uploads them, and writes its done marker last.

The marker is what makes a task's output count, so it must appear whole or not at all: locally it goes through
the one atomic-write helper (temporary name, rename); in an object store one PUT of a small object is atomic
already (a reader sees the old object, none, or the new one). Readers of the markers (a rerun deciding what is
finished) use ``read`` here, whatever the storage.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..atomic import write_atomic


def is_local(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is a path on this machine's file system (a plain path or a ``file://`` URL)."""
    s = os.fspath(root)
    return "://" not in s or s.startswith("file://")


def local_path(root: str | os.PathLike[str]) -> Path:
    s = os.fspath(root)
    return Path(s[len("file://"):] if s.startswith("file://") else s)


def filesystem(root: str | os.PathLike[str]) -> tuple[Any, str]:
    """The fsspec file system of a URL and the path in it (``MissingExtraError`` names ``fsspec`` when absent)."""
    try:
        import fsspec
    except ImportError as e:
        from ..errors import MissingExtraError

        raise MissingExtraError("ray", "fsspec") from e
    return fsspec.core.url_to_fs(os.fspath(root))


def join(root: str | os.PathLike[str], *parts: str) -> str:
    return "/".join([os.fspath(root).rstrip("/"), *parts])


def read(root: str | os.PathLike[str], rel: str) -> bytes | None:
    """The bytes of ``root/rel``, or None when there is no such file."""
    if is_local(root):
        try:
            return (local_path(root) / rel).read_bytes()
        except FileNotFoundError:
            return None
    fs, base = filesystem(root)
    try:
        return fs.cat_file(join(base, rel))
    except FileNotFoundError:
        return None


def write_marker(root: str | os.PathLike[str], rel: str, data: bytes) -> None:
    """Write a done marker: whole or not at all (see the module's note)."""
    if is_local(root):
        path = local_path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return
    fs, base = filesystem(root)
    fs.pipe_file(join(base, rel), data)


def remove(root: str | os.PathLike[str], pattern: str) -> None:
    """Remove what matches ``root/pattern`` (files or directories): the leftovers of an interrupted attempt."""
    if is_local(root):
        for old in local_path(root).glob(pattern):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        return
    fs, base = filesystem(root)
    for old in fs.glob(join(base, pattern)):
        fs.rm(old, recursive=True)


@contextmanager
def scratch(root: str | os.PathLike[str]) -> Iterator[Path]:
    """The local directory a task writes its files into: ``root`` itself when it is local, else a temporary
    directory that ``upload`` copies to ``root`` (and that is removed at the end, whatever happens)."""
    if is_local(root):
        yield local_path(root)
        return
    with tempfile.TemporaryDirectory(prefix="ipscope-task-") as d:
        yield Path(d)


def upload(work: Path, root: str | os.PathLike[str], rel: str) -> None:
    """Copy ``work/rel`` (a file or a directory) to ``root/rel``; nothing to do when ``root`` is local (the task
    wrote there)."""
    if is_local(root):
        return
    fs, base = filesystem(root)
    src = work / rel
    if src.is_dir():
        for p in sorted(src.rglob("*")):
            if p.is_file():
                fs.put_file(str(p), join(base, rel, p.relative_to(src).as_posix()))
    else:
        fs.put_file(str(src), join(base, rel))


__all__ = ["filesystem", "is_local", "local_path", "read", "remove", "scratch", "upload", "write_marker"]
