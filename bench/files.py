"""Files from strangers, files written to last: bounded reading, atomic writing, run locks.

`report` and `compare` read run directories that come from pull requests and other machines, so
a results file may be a symlink to /dev/zero, a FIFO, or one endless line. `open_regular` opens
regular files only (a symlink must stay inside its run directory) below a size cap, and
`bounded_lines` yields lines below a length cap; every refusal is a `FileRefused` with a one-line
message naming the file.

Writers never leave half a file under its real name: `replacing` writes beside the target under a
unique temporary name and renames it into place (or removes it on any failure); `swap_in` puts a
directory built beside its target into place. `RunLock` keeps two runs off one directory.
`OutputError` is a failure to write (a full disk, a read-only file system): the CLI says it in one
line and exits 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Caps on what a reader accepts. The largest realistic run (2,600 rows x 2,000 samples) is 59 MiB;
# 1 GiB leaves 17x room while bounding memory (samples load as 8 bytes each, about the size of
# their text). A row holds at most bench.record.MAX_SAMPLES samples of at most ~25 characters:
# 2.5 MB, so 8 MiB per line is room for any row hyena-bench writes. env.json is a few kB.
MAX_RESULTS_BYTES = 1 << 30
MAX_LINE_BYTES = 8 << 20
MAX_ENV_BYTES = 1 << 20
# errno values that mean "no room to write": a full disk, a quota, a file-size limit.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# Linux's renameat2 flag that swaps two paths atomically.
RENAME_EXCHANGE = 2
AT_FDCWD = -100


class FileRefused(Exception):
    """A file that is not read: not a regular file, a symlink out of its directory, too large,
    a line too long, unreadable. The message is one line and names the file."""


class OutputError(Exception):
    """Output that could not be written (disk full, read-only file system, permissions). The
    message is one line naming the file; the CLI exits 1 with it."""


class LockedError(Exception):
    """Another process holds a run directory's lock; `pid` is the holder (None if unknown)."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "a process whose pid is not recorded"
        super().__init__(f"{directory} is in use by another hyena-bench run ({who})")
        self.pid = pid


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every symlink resolved, lies in `root` (itself resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return os.path.commonpath([real_root, real]) == real_root


def open_regular(path: Path, root: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file of at most `max_bytes` whose
    real location (symlinks resolved) lies inside `root`. A FIFO is opened without blocking
    and refused, so it cannot hang the reader. FileNotFoundError passes through (the caller says
    what a missing file means); any other refusal is a FileRefused."""
    if os.path.lexists(path) and not inside(path, root):
        target = os.path.realpath(path)
        raise FileRefused(f"{path}: a symlink to {target}, outside {root}; refused")
    try:
        fd = os.open(
            os.path.realpath(path), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileRefused(f"{path}: cannot open ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileRefused(f"{path}: {kind(info.st_mode)}, not a regular file; refused")
    if info.st_size > max_bytes:
        os.close(fd)
        raise FileRefused(
            f"{path}: {info.st_size:,} bytes, over the {max_bytes:,}-byte limit; refused"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def bounded_lines(
    f: BinaryIO, path: Path, max_line: int = MAX_LINE_BYTES, max_total: int = MAX_RESULTS_BYTES
) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without its newline, whether it had one) for each line, streaming:
    memory is bounded by `max_line`, whatever the file holds. A longer line, or more than
    `max_total` bytes (a file growing while it is read), is a FileRefused."""
    total = 0
    number = 0
    while True:
        line = f.readline(max_line + 1)
        if not line:
            return
        number += 1
        total += len(line)
        ended = line.endswith(b"\n")
        if not ended and len(line) > max_line:
            raise FileRefused(f"{path}:{number}: line longer than {max_line:,} bytes; refused")
        if total > max_total:
            raise FileRefused(f"{path}: over the {max_total:,}-byte limit; refused")
        yield number, line[:-1] if ended else line, ended


# --- writing -----------------------------------------------------------------------------------


def output_error(exc: OSError, path: Path | str) -> OutputError:
    what = "disk full" if exc.errno in DISK_FULL else "cannot write"
    return OutputError(f"{what}: {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A unique temporary path beside `path`; renamed to `path` when the block succeeds, removed
    when it fails (nothing half-written stays under either name). Concurrent writers of one
    path each get their own temporary file; the last rename wins, whole."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(exc, path) from None
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes it private; the file it replaces was not
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """`text` into `path` whole or not at all, flushed to disk before the rename."""
    with replacing(path) as tmp, open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux renameat2); False where it is not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def staging_dir(target: Path) -> Path:
    """A new empty directory beside `target`, to build its next content in (with the
    permissions a directory made by mkdir would have: mkdtemp makes it private)."""
    try:
        staged = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.chmod(staged, 0o777 & ~umask())
    except OSError as exc:
        raise output_error(exc, target) from None
    return Path(staged)


def umask() -> int:
    """The process's umask, read without changing it (Linux); else set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def swap_in(staged: Path, target: Path) -> None:
    """Make the directory `staged` be `target`; the old `target`, if any, is removed. Where the
    system can swap two directories atomically, a reader (or a kill) sees the old content or
    the new, never a mixture; elsewhere `target` is missing for the moment between two renames."""
    try:
        if not target.exists():
            os.rename(staged, target)
            return
        if not exchange(staged, target):
            old = Path(f"{staged}.old")
            os.rename(target, old)
            os.rename(staged, target)
            staged = old
        shutil.rmtree(staged, ignore_errors=True)
    except OSError as exc:
        raise output_error(exc, target) from None


def name_problem(path: Path) -> str | None:
    """Why `path` cannot name a file here (a component or the whole too long), or None."""
    text = os.fsencode(os.path.abspath(path))
    if len(text) >= os.pathconf("/", "PC_PATH_MAX"):
        return f"path is {len(text)} bytes, over the system's limit"
    probe = os.path.abspath(path)
    while not os.path.isdir(probe) and probe != os.path.dirname(probe):
        probe = os.path.dirname(probe)  # the nearest existing directory: its file system's limit
    limit = os.pathconf(probe, "PC_NAME_MAX")
    for part in Path(path).parts:
        if len(os.fsencode(part)) > limit:
            return f"a name of {len(os.fsencode(part))} bytes, over the limit of {limit}"
    return None


# --- the run lock ------------------------------------------------------------------------------

LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory, held while a run writes to it: DIR/.lock, locked
    with flock and holding the holder's pid. A second run fails at once (LockedError naming the
    pid) instead of appending every remaining row a second time. The kernel drops the lock when
    the holder dies, so a killed run never blocks the next; the file is removed on release."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = holder(fd)
                os.close(fd)
                raise LockedError(self.path.parent, pid) from None
            if self._still_linked(fd):
                break
            os.close(fd)  # its holder removed it on release: lock the new one instead
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            self._drop(fd)
            raise
        self.fd = fd

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _drop(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(fd)

    def release(self) -> None:
        if self.fd is not None:
            self._drop(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
