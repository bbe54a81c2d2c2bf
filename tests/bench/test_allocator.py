"""The CPU allocator setting: what spawned CPU workers get, that the user's own MALLOC_* variables
win, and that the record says which setting ran."""

import multiprocessing as mp
import os

import pytest

from bench import allocator
from tests.conftest import cli_env, run_cli


def child_malloc_env(queue) -> None:
    queue.put({k: v for k, v in os.environ.items() if k.startswith("MALLOC_")})


@pytest.fixture
def clean_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("MALLOC_")] + [allocator.ENV]:
        monkeypatch.delenv(key, raising=False)


def test_a_spawned_cpu_worker_gets_the_setting_and_the_parent_is_restored(clean_env):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with allocator.worker_environment("cpu") as extra:
        proc = ctx.Process(target=child_malloc_env, args=(queue,))
        proc.start()
    seen = queue.get(timeout=60)
    proc.join(10)
    assert extra == allocator.SETTINGS[allocator.DEFAULT] and seen == extra
    assert not any(k.startswith("MALLOC_") for k in os.environ), "the parent's env is restored"


def test_the_users_variables_win_and_gpu_workers_get_nothing(clean_env, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "65536")
    applied = allocator.applied("cpu")
    assert "MALLOC_MMAP_MAX_" not in applied
    assert allocator.describe("cpu")["user"] == {"MALLOC_MMAP_MAX_": "65536"}
    assert allocator.applied("cuda") == {}
    monkeypatch.setenv(allocator.ENV, "glibc")
    assert allocator.applied("cpu") == {}
    text = allocator.method_text(allocator.describe("cpu"))
    assert "`glibc`" in text and "MALLOC_MMAP_MAX_=65536" in text


def test_an_unknown_setting_is_a_one_line_usage_error(tmp_path):
    proc = run_cli(
        "run",
        "--seqlens",
        "256",
        "--out",
        str(tmp_path / "r"),
        env=cli_env(**{allocator.ENV: "jemalloc"}),
    )
    assert proc.returncode == 2 and "HYENA_BENCH_CPU_ALLOCATOR='jemalloc'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
