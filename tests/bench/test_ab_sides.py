"""`hyena-bench ab`'s sides, in process: this checkout, another checkout's directory, or a git
revision checked out into a temporary worktree that is gone when the command ends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import ab_sides
from bench.errors import UsageError


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two commits: one without an operators package, one with."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "README").write_text("no operators yet\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "empty")
    (root / "operators").mkdir()
    (root / "operators" / "__init__.py").write_text('"""a side"""\n')
    git(root, "add", ".")
    git(root, "commit", "-qm", "operators")
    return root


def test_left_out_is_this_checkout():
    side = ab_sides.resolve(None, "base", ab_sides.Worktrees(Path("/nonexistent")), Path.cwd())
    assert side.root == ab_sides.HARNESS_ROOT and side.source == ab_sides.THIS_CHECKOUT


def test_a_directory_with_operators_is_used_as_it_is(repo, tmp_path):
    trees = ab_sides.Worktrees(tmp_path)
    side = ab_sides.resolve(str(repo), "new", trees, tmp_path)
    assert side.root == repo.resolve() and side.commit == git(repo, "rev-parse", "HEAD")
    assert trees.made == []


def test_a_revision_gets_a_worktree_removed_at_the_end(repo, tmp_path):
    tmp = tmp_path / "trees"
    tmp.mkdir()
    with ab_sides.sides("HEAD", "HEAD", {"hyena-fft": "hyena-x"}, tmp, repo) as (base, new):
        assert base.root != new.root  # one worktree each
        assert (base.root / "operators" / "__init__.py").is_file()
        assert base.commit == new.commit == git(repo, "rev-parse", "HEAD")
        assert new.op("hyena-fft") == "hyena-x" and base.op("hyena-fft") == "hyena-fft"
        assert len(git(repo, "worktree", "list").splitlines()) == 3
    assert not base.root.exists() and not new.root.exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_revision_without_operators_is_refused_and_cleaned_up(repo, tmp_path):
    with (
        pytest.raises(UsageError, match="has no operators package"),
        ab_sides.sides("HEAD~1", None, {}, tmp_path, repo),
    ):
        pass
    assert len(git(repo, "worktree", "list").splitlines()) == 1


@pytest.mark.parametrize(
    ("base", "new", "message"),
    [
        ("a", None, "go together"),
        ("a,b", "c", "names 2 implementations, --new-op 1"),
        ("a,a", "b,c", "twice"),
    ],
)
def test_op_pairs_are_checked(base, new, message):
    with pytest.raises(UsageError, match=message):
        ab_sides.op_pairs(base, new)
