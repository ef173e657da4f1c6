"""The source tree a quality check may read: path confinement, the walk, and reading one file.

Only reads. A path is resolved with realpath and must lie inside an allowed root before
anything below it is touched. The walk then goes by directory file descriptors: the target
is opened component by component from its root, and every directory and file below it with
``O_NOFOLLOW`` relative to its parent's descriptor, so a directory swapped for a symlink while
the walk runs fails to open instead of leading outside the roots. Symlinks met on the walk
are never followed (counted as skipped ``symlink``): a link named ``notes.txt`` that points at
``.env`` is never read under its innocent name. Files are checked with ``fstat`` on the open
descriptor, so a FIFO or device is not read, and are read up to a byte bound.
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
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
MAX_DEPTH = 64  # directories deep below the target; deeper ones are skipped (each level holds a descriptor)
MAX_ENTRIES_PER_DIRECTORY = 100_000  # a directory with more is read this far (skipped: too_many_entries)


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


class Budget:
    """Time and entry bounds of one walk: ``exhausted`` names the first one that tripped."""

    __slots__ = ("deadline", "clock", "exhausted")

    def __init__(self, deadline: float, clock: Callable[[], float]):
        self.deadline, self.clock, self.exhausted = deadline, clock, None

    def over(self) -> bool:
        if self.exhausted is None and self.clock() > self.deadline:
            self.exhausted = "seconds"
        return self.exhausted is not None


def walk(target: CheckTarget, skipped: Counter, prune: Callable[[str], bool], budget: Budget) -> Iterator[tuple[str, int, str]]:
    """``(relative path, parent directory fd, name)`` of every file below the target, in path order.

    The descriptor is valid until the next item is asked for. Skips are counted by reason;
    ``prune(rel_dir)`` says when no contract needs a directory. Stops when ``budget`` is over.
    """
    base_rel = os.path.relpath(target.base, target.root)
    parts = [] if base_rel == "." else base_rel.split(os.sep)
    if target.is_file:
        parts += os.path.relpath(target.real_path, target.base).split(os.sep)
        *folders, name = parts
    else:
        folders, name = parts, None
    fd = _open_path(target.root, folders)
    try:
        if name is not None:
            yield os.path.relpath(target.real_path, target.base).replace(os.sep, "/"), fd, name
        else:
            yield from _walk_fd(fd, "", skipped, prune, budget, 0)
    finally:
        os.close(fd)


def _open_path(root: str, folders: Sequence[str]) -> int:
    """The descriptor of ``root/folders...``, each component opened with O_NOFOLLOW from its parent."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise QualityError(f"The directory {root} cannot be opened ({exc.strerror}). Check that it exists and is readable.") from None
    for part in folders:
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            raise QualityError(
                f"The directory {shorten(part)} below {root} changed while it was opened (it is now a symlink or gone). "
                "Check again once the tree is stable."
            ) from None
        os.close(fd)
        fd = child
    return fd


def _walk_fd(fd: int, prefix: str, skipped: Counter, prune: Callable[[str], bool], budget: Budget, depth: int) -> Iterator[tuple[str, int, str]]:
    entries = []
    try:
        with os.scandir(fd) as scan:
            for entry in scan:
                if len(entries) >= MAX_ENTRIES_PER_DIRECTORY:
                    skipped["too_many_entries"] += 1
                    break
                if len(entries) % 1000 == 0 and budget.over():
                    return
                kind = "dir" if entry.is_dir(follow_symlinks=False) else "link" if entry.is_symlink() else "file" if entry.is_file(follow_symlinks=False) else "other"
                entries.append((entry.name + "/" if kind == "dir" else entry.name, entry.name, kind))
    except OSError:
        skipped["unreadable_directory"] += 1
        return
    entries.sort()  # "a/" after "a.txt": the order of the sorted result
    for _, name, kind in entries:
        if budget.over():
            return
        rel = prefix + name
        if kind == "dir":
            if name in VCS_DIRECTORIES:
                skipped["vcs_directory"] += 1
            elif prune(rel):
                skipped["excluded_directory"] += 1
            elif depth >= MAX_DEPTH:
                skipped["too_deep"] += 1
            else:
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:  # swapped for a symlink (ELOOP/ENOTDIR) or gone since the listing
                    skipped["changed_during_walk"] += 1
                    continue
                try:
                    yield from _walk_fd(child, rel + "/", skipped, prune, budget, depth + 1)
                finally:
                    os.close(child)
        elif kind == "link":
            skipped["symlink"] += 1
        elif kind == "file":
            yield rel, fd, name
        else:
            skipped[_special_kind(fd, name)] += 1


def read_text(dir_fd: int, name: str, max_bytes: int = MAX_FILE_BYTES) -> tuple[str | None, str | None]:
    """``(text, None)`` for a readable text file, else ``(None, reason it was skipped)``."""
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        return None, "symlink" if exc.errno == getattr(os, "ELOOP", -1) else "unreadable"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, _mode_kind(info.st_mode)
        if info.st_size > max_bytes:
            return None, "too_large"
        # The first read is at most 8 KB, so a large binary is judged without being read whole;
        # asking for one byte more than fstat said tells a whole small file from a growing one.
        head = os.read(fd, min(info.st_size + 1, BINARY_PROBE_BYTES))
        if b"\x00" in head:
            return None, "binary"
        data = head
        if len(head) != info.st_size:
            chunks, total = [head], len(head)
            while chunk := os.read(fd, min(max(info.st_size + 1 - total, 65536), max_bytes + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
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


def _special_kind(dir_fd: int, name: str) -> str:
    try:
        return _mode_kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
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
