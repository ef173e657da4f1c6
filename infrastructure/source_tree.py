"""The source tree a quality check may read: path confinement, the walk, and reading one file.

Only reads. A path is resolved with realpath and must lie inside an allowed root before
anything below it is touched; a symlink met on the walk is followed only when its target
is inside a root too, and only to a file (a linked directory could loop or repeat the tree).
Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` on the open
descriptor, so a file swapped for a symlink or a FIFO after the walk saw it is not read.
"""
from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from domain.errors import Forbidden, QualityError, shorten

MAX_FILE_BYTES = 2 * 1024 * 1024
BINARY_PROBE_BYTES = 8192
VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn"})

# Names of files that hold credentials by convention; read only when a contract names them.
_SECRET_NAMES = frozenset({".netrc", "_netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".htpasswd", "credentials"})
_SECRET_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ovpn")
_ENV_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.dist", ".env.template"})

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class CheckTarget:
    """Where a check runs: ``base`` is the directory rule globs and reported paths are relative to."""

    requested: str
    real_path: str
    base: str
    root: str
    roots: tuple[str, ...]
    is_file: bool


def resolve_check_path(path: str, allowed_roots: Sequence[str | os.PathLike]) -> CheckTarget:
    """Resolve ``path`` (relative paths are taken from the first root) and confine it to the roots.

    A single file is checked as part of the root that holds it, so scope globs such as
    ``src/**/*.php`` still apply to it.
    """
    roots = tuple(dict.fromkeys(os.path.realpath(os.fspath(r)) for r in allowed_roots))
    if not roots:
        raise QualityError("No directory may be checked: QUALITY_ALLOWED_PATHS is empty. Set it to the directories quality_check may read.")
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise QualityError(f"The path {shorten(path)} is not a usable path. Give a directory or file inside {_listing(roots)}.")
    raw = path.strip()
    real = os.path.realpath(raw if os.path.isabs(raw) else os.path.join(roots[0], raw))
    root = inside_roots(real, roots)
    if root is None:
        raise Forbidden(
            f"The path {shorten(path)} resolves to {real}, which is outside the directories quality_check may read: "
            f"{_listing(roots)}. Check a path inside them, or have the server's operator add the directory to the "
            "setting QUALITY_ALLOWED_PATHS."
        )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        raise QualityError(f"The path {shorten(path)} ({real}) does not exist. Give an existing directory or file inside {_listing(roots)}.") from None
    if stat.S_ISDIR(mode):
        return CheckTarget(path, real, real, root, roots, False)
    if stat.S_ISREG(mode):
        return CheckTarget(path, real, root, root, roots, True)
    raise QualityError(f"The path {shorten(path)} ({real}) is neither a directory nor a regular file. Give a directory or a source file.")


def inside_roots(real_path: str, roots: Sequence[str]) -> str | None:
    """The innermost root holding ``real_path`` (already realpath'd), or None."""
    best = None
    for root in roots:
        if real_path == root or real_path.startswith(root.rstrip(os.sep) + os.sep):
            if best is None or len(root) > len(best):
                best = root
    return best


def walk(target: CheckTarget, skipped: Counter, prune: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """``(relative path, real path)`` of every file below the target, in path order.

    Skips are counted by reason; ``prune(rel_dir)`` says when no contract needs a directory.
    """
    if target.is_file:
        yield os.path.relpath(target.real_path, target.base).replace(os.sep, "/"), target.real_path
        return
    yield from _walk_dir(target.base, "", target.roots, skipped, prune)


def _walk_dir(directory: str, prefix: str, roots: Sequence[str], skipped: Counter, prune: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    try:
        with os.scandir(directory) as scan:
            entries = [(e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e) for e in scan]
    except OSError:
        skipped["unreadable_directory"] += 1
        return
    entries.sort(key=lambda pair: pair[0])  # "a/" after "a.txt": the order of the sorted result
    for key, entry in entries:
        rel = prefix + entry.name
        if key.endswith("/"):
            if entry.name in VCS_DIRECTORIES:
                skipped["vcs_directory"] += 1
            elif prune(rel):
                skipped["excluded_directory"] += 1
            else:
                yield from _walk_dir(entry.path, rel + "/", roots, skipped, prune)
        elif entry.is_symlink():
            real = os.path.realpath(entry.path)
            if inside_roots(real, roots) is None:
                skipped["symlink_outside_roots"] += 1
            elif os.path.isdir(real):
                skipped["symlink_to_directory"] += 1
            else:
                yield rel, real
        elif entry.is_file(follow_symlinks=False):
            yield rel, entry.path
        else:
            skipped[_special_kind(entry.path)] += 1


def read_text(path: str) -> tuple[str | None, str | None]:
    """``(text, None)`` for a readable text file, else ``(None, reason it was skipped)``."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None, "unreadable"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, _mode_kind(info.st_mode)
        if info.st_size > MAX_FILE_BYTES:
            return None, "too_large"
        # The first read is at most 8 KB, so a large binary is judged without being read whole;
        # asking for one byte more than fstat said tells a whole small file from a growing one.
        head = os.read(fd, min(info.st_size + 1, BINARY_PROBE_BYTES))
        if b"\x00" in head:
            return None, "binary"
        data = head
        if len(head) != info.st_size:
            chunks, total = [head], len(head)
            while chunk := os.read(fd, max(info.st_size + 1 - total, 65536)):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    return None, "too_large"  # it grew after fstat
            data = b"".join(chunks)
    except OSError:
        return None, "unreadable"
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace"), None


def is_secret_filename(name: str) -> bool:
    """Whether a file name says the file holds credentials (``.env``, ``id_rsa``, ``*.pem``, ...)."""
    lower = name.lower()
    if lower == ".env" or (lower.startswith(".env.") and lower not in _ENV_TEMPLATES):
        return True
    if lower.startswith(_SECRET_PREFIXES):
        return not lower.endswith(".pub")  # the public half of a key pair is no secret
    return lower in _SECRET_NAMES or lower.endswith(_SECRET_SUFFIXES)


def _special_kind(path: str) -> str:
    try:
        return _mode_kind(os.lstat(path).st_mode)
    except OSError:
        return "unreadable"


def _mode_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not_a_regular_file"


def _listing(roots: Sequence[str]) -> str:
    return ", ".join(roots)
