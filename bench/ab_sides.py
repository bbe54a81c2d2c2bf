"""The two sides of `hyena-bench ab`: which checkout's `operators` each side measures, and which
implementation it runs for each of the sweep's. A side is this checkout (the default), another
checkout's directory, or a git revision, checked out into its own `git worktree` under a
temporary directory for the length of the command and removed afterwards.

Only `operators` (what is measured) comes from a side; the harness (bench: runner, timer,
statistics) is always this checkout's, so both sides are measured by identical code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UsageError
from bench.gitrepo import commit_of, git

HARNESS_ROOT = Path(__file__).resolve().parent.parent
THIS_CHECKOUT = "this checkout"


@dataclass(frozen=True)
class Side:
    """One side: its name (base/new), where its `operators` package is, what the user named, the
    commit it is (None outside git) and the implementation it runs for each sweep op."""

    name: str
    root: Path
    source: str
    commit: str | None = None
    dirty: bool | None = None
    ops: dict[str, str] = field(default_factory=dict)

    def op(self, sweep_op: str) -> str:
        return self.ops.get(sweep_op, sweep_op)

    def describe(self) -> str:
        where = self.source if self.source == THIS_CHECKOUT else f"{self.source} ({self.root})"
        commit = f", commit {self.commit[:12]}" if self.commit else ""
        dirty = " with uncommitted changes" if self.dirty else ""
        return f"{self.name.upper()}: {where}{commit}{dirty}"


def has_operators(root: Path) -> bool:
    return (root / "operators" / "__init__.py").is_file()


class Worktrees:
    """Temporary git worktrees, one per revision asked for, removed on exit (even after an
    error or an interrupt): `git worktree add --detach`, then `git worktree remove --force`."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: list[tuple[Path, Path]] = []  # (repository, worktree)

    def add(self, repo: Path, commit: str, name: str) -> Path:
        path = self.tmp / f"{name}-{commit[:12]}"
        if git(repo, "worktree", "add", "--detach", str(path), commit) is None:
            raise UsageError(f"could not check out {commit[:12]} into a git worktree at {path}")
        self.made.append((repo, path))
        return path

    def close(self) -> None:
        for repo, path in reversed(self.made):
            git(repo, "worktree", "remove", "--force", str(path))
        for repo in {r for r, _ in self.made}:
            git(repo, "worktree", "prune")
        self.made.clear()


def resolve(text: str | None, name: str, worktrees: Worktrees, cwd: Path) -> Side:
    """--base/--new: a directory holding an `operators` package, else a git revision of the
    repository at `cwd`; None is this checkout."""
    if text is None:
        return Side(name, HARNESS_ROOT, THIS_CHECKOUT, *commit_of(HARNESS_ROOT))
    path = (cwd / text).expanduser()
    if path.is_dir() and has_operators(path):
        return Side(name, path.resolve(), text, *commit_of(path))
    flag = f"--{name} {text}"
    repo = git(cwd, "rev-parse", "--show-toplevel")
    if repo is None:
        raise UsageError(
            f"{flag}: not a checkout (no operators/ there) and {cwd} is not in a git repository"
        )
    commit = git(cwd, "rev-parse", "--verify", "--quiet", f"{text}^{{commit}}")
    if commit is None:
        raise UsageError(f"{flag}: not a checkout and not a revision of {repo}")
    root = worktrees.add(Path(repo), commit, name)
    if not has_operators(root):
        raise UsageError(f"{flag}: revision {commit[:12]} has no operators package")
    return Side(name, root, text, commit, False)


def op_pairs(base_ops: str | None, new_ops: str | None) -> dict[str, str]:
    """--base-op X,Y --new-op X2,Y2: NEW runs X2 where BASE runs X (paired by position)."""
    if (base_ops is None) != (new_ops is None):
        raise UsageError("--base-op and --new-op go together")
    if base_ops is None or new_ops is None:
        return {}
    a = [o.strip() for o in base_ops.split(",") if o.strip()]
    b = [o.strip() for o in new_ops.split(",") if o.strip()]
    if len(a) != len(b) or not a:
        raise UsageError(f"--base-op names {len(a)} implementations, --new-op {len(b)}")
    if len(set(a)) != len(a):
        raise UsageError("--base-op names an implementation twice")
    return dict(zip(a, b, strict=True))


@contextlib.contextmanager
def sides(
    base: str | None, new: str | None, pairs: dict[str, str], tmp: Path, cwd: Path
) -> Iterator[tuple[Side, Side]]:
    """The two sides, their worktrees removed when the block ends."""
    trees = Worktrees(tmp)
    try:
        a = resolve(base, "base", trees, cwd)
        b = resolve(new, "new", trees, cwd)
        yield a, Side(b.name, b.root, b.source, b.commit, b.dirty, dict(pairs))
    finally:
        trees.close()
