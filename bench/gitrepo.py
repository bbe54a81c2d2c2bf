"""git, asked from Python: a command's output (None when git fails) and a checkout's commit.
Torch-free: `hyena-bench ab` resolves its sides before torch is imported, and env.json records
the commit of the code that ran (bench.envinfo)."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 120  # a worktree of this repository checks out in seconds


def git(cwd: Path, *args: str) -> str | None:
    """git's stdout, stripped, or None when git fails (not a repository, unknown revision)."""
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def commit_of(root: Path) -> tuple[str | None, bool | None]:
    """The checkout's commit and whether tracked files differ from it (None, None outside git)."""
    commit = git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    return commit, bool(status) if status is not None else None
