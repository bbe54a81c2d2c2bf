"""What every hostile-input test checks, and the run directories they start from.

Each case runs the real command in a subprocess from a scratch working directory (so a default
output path lands there, not in the repository) and asserts four things: the exit status, one
line on stderr holding the expected message (no traceback), that nothing outside the command's
--out changed (`Tree`: every file's bytes and mode under the scratch root, compared before and
after), and that no row was lost (the run directories' rows, read back).

CI runs one case of each kind (about a minute on its 2-core machine); the rest of the matrix is
marked `hostile_all` and runs when asked for: `HYENA_BENCH_HOSTILE=all pytest tests/hostile` or
`nox -s hostile`. docs/HOSTILE.md maps every case of issue 17 to its test.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli_env
from tests.reports.reports_testdata import H200_ENV, LENGTHS, row

HOSTILE_PLUGINS = Path(__file__).resolve().parent / "plugins"
TEST_PLUGINS = REPO / "tests" / "plugins"
HASHED_BYTES = 64 << 20  # larger files (the sparse 1 GiB ones) are compared by size and time
OPT_IN_ENV = "HYENA_BENCH_HOSTILE"
# The rest of the matrix: cases of a kind CI already runs once (the other command, the other
# field), and the slow ones (runs that sleep to hold a lock, the large run). Opt-in (OPT_IN_ENV).
ALL = pytest.mark.hostile_all  # registered in pyproject.toml (a conftest registers too late)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the `hostile_all` cases unless asked for (by the variable, or by `-m`)."""
    if os.environ.get(OPT_IN_ENV) == "all" or "hostile_all" in (config.option.markexpr or ""):
        return
    left = [item for item in items if item.get_closest_marker("hostile_all") is not None]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if item.get_closest_marker("hostile_all") is None]


def small_rows() -> list[dict[str, Any]]:
    """A small valid run: two implementations at three lengths (H200, layer, fwd, fp16)."""
    return [
        row(op, n, ms * (n / 1024) ** 2)
        for n in LENGTHS[:3]
        for op, ms in (("hyena-fft", 1.0), ("flash-attn2", 0.5))
    ]


def write_run(directory: Path, rows: list[Any] | None = None, env: Any = None) -> Path:
    """A run directory; rows that are not dicts are written as they are (one line each)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "env.json").write_text(json.dumps(H200_ENV if env is None else env))
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows or small_rows()]
    (directory / "results.jsonl").write_text("".join(line + "\n" for line in lines))
    return directory


@dataclass(frozen=True)
class Tree:
    """A snapshot of every path under `root` (file bytes hashed, modes, link targets)."""

    root: Path
    entries: dict[str, tuple[Any, ...]]

    @classmethod
    def of(cls, root: Path) -> Tree:
        entries: dict[str, tuple[Any, ...]] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    entries[str(path.relative_to(root))] = ("link", os.readlink(path))
                elif stat.S_ISREG(info.st_mode) and info.st_size <= HASHED_BYTES:
                    digest = hashlib.sha1(path.read_bytes()).hexdigest()
                    entries[str(path.relative_to(root))] = ("file", info.st_mode, digest)
                elif stat.S_ISREG(info.st_mode):  # a sparse giant: its size and time say enough
                    key = ("file", info.st_mode, info.st_size, info.st_mtime_ns)
                    entries[str(path.relative_to(root))] = key
                else:
                    entries[str(path.relative_to(root))] = ("other", info.st_mode)
        return cls(root, entries)

    def changes(self, outside_of: Path | None = None) -> list[str]:
        """Paths added, removed or changed since the snapshot, ignoring those under `outside_of`."""
        now = Tree.of(self.root).entries
        skip = str(outside_of.relative_to(self.root)) if outside_of else None
        changed = [
            p
            for p in sorted(set(now) | set(self.entries))
            if now.get(p) != self.entries.get(p)
            and not (skip and (p == skip or p.startswith(skip + os.sep)))
        ]
        return changed


def hostile_env(*plugin_dirs: Path, **extra: str) -> dict[str, str]:
    return cli_env(extra_path=list(plugin_dirs), **extra)


def bench(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS` run in `cwd`, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The command exited `code` with one line on stderr (no traceback) holding `fragments`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1, lines
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def no_control_characters(text: str) -> None:
    """Nothing printed holds a raw control character other than newlines between lines."""
    bad = sorted({hex(ord(c)) for c in text if not c.isprintable() and c not in "\n "})
    assert not bad, bad


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty working directory for the command."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path
