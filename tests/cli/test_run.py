"""`hyena-bench run` end to end, as a user runs it: a smoke sweep, bad arguments, injected
failures (OOM, worker crash, hang) and resuming after the runner is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import record, store
from tests.conftest import REPO, cli_env, run_cli

SMALL = (
    "--d-model",
    "32",
    "--heads",
    "2",
    "--batch",
    "1",
    "--target-time",
    "0.05",
    "--min-reps",
    "3",
    "--quiet",
)


def rows_of(out: Path) -> list[dict]:
    return store.read_rows(out)


def test_smoke_run_fills_every_contract_field(smoke_run):
    rows = rows_of(smoke_run)
    env = json.loads((smoke_run / "env.json").read_text())
    assert env["preset"] == "smoke" and env["finished_at"] and env["device"]["name"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["op"] for r in ok} >= {
        "attention-dense",
        "attention-sdpa-math",
        "hyena-naive",
        "hyena-fft",
    }
    assert {r["seqlen"] for r in ok} == {256, 512, 1024, 2048, 4096}
    may_be_null = {"energy_j"}  # NVML energy needs a GPU
    for r in ok:
        missing = [f for f in record.CONTRACT_FIELDS if r[f] is None and f not in may_be_null]
        assert not missing, (r["op"], missing)
        assert r["verified"] and r["max_rel_err"] < 1e-3
        assert (r["verify_seqlen"], r["verify_batch"]) == (r["seqlen"], 1), "the timed shape"
        assert r["latency_ms_p10"] <= r["latency_ms_median"] <= r["latency_ms_p90"]
        assert len(r["samples_ms"]) == r["reps"] >= 10
        assert r["tflops"] > 0 and r["gbps"] > 0 and r["flops_issued"] > 0
        assert r["minor_faults_per_call"] >= 0
        assert r["load_1m_start"] >= 0 and r["load_1m_end"] >= 0
    assert env["load"]["start"]["1m"] >= 0 and env["load"]["end"]["1m"] >= 0
    ceilings = env["ceilings"]  # measured by the worker before the first row
    assert ceilings["dtype"] == "fp32" and ceilings["matmul_tflops"] > 0
    assert ceilings["copy_gbps"] > 0
    for r in ok:  # the least time the ceilings allow, over the measured time
        least_s = max(
            r["flops_issued"] / (ceilings["matmul_tflops"] * 1e12),
            r["bytes"] / (ceilings["copy_gbps"] * 1e9),
        )
        assert r["roofline_fraction"] == pytest.approx(least_s * 1e3 / r["latency_ms_median"])
    assert env["cpu"]["threads"] >= 1
    assert env["cpu"]["allocator"]["setting"] == "retain"
    for r in rows:
        if r["status"] == "skipped":
            assert r["reason"], r["op"]


def test_fwd_bwd_rows_are_checked_with_gradients_at_their_length(tmp_path):
    out = tmp_path / "run"
    run_cli(
        "run",
        "--ops",
        "hyena-fft,attention-sdpa-math",
        "--seqlens",
        "256,3000",
        "--mode",
        "fwd_bwd",
        "--out",
        str(out),
        *SMALL,
        check=True,
    )
    rows = rows_of(out)
    assert [r["status"] for r in rows] == ["ok"] * 4
    for r in rows:
        what = {k: r.get(k) for k in ("op", "seqlen", "verified", "verify_seqlen", "verify_reason")}
        what |= {k: r.get(k) for k in ("max_rel_err", "max_rel_err_grad", "threads", "reason")}
        assert r["verified"] is True and r["verify_seqlen"] == r["seqlen"], what
        assert 0 < r["max_rel_err_grad"] < 2e-5 and r["peak_mem_bwd_bytes"] is not None, what


def test_after_a_cuda_error_the_worker_is_replaced_and_the_sweep_goes_on(tmp_path, plugin_env):
    out = tmp_path / "run"
    run_cli(
        "run",
        "--ops",
        "test-cuda-error,plugin-fft",
        "--seqlens",
        "256,512,1024",
        "--level",
        "core",
        "--out",
        str(out),
        *SMALL,
        env=plugin_env,
        check=True,
    )
    rows = {(r["op"], r["seqlen"]): r for r in rows_of(out)}
    failed = rows[("test-cuda-error", 512)]
    assert failed["status"] == "error" and "CUDA error" in failed["reason"]
    assert failed["worker_restarted"] is True
    for n in (512, 1024):  # the rows after it ran in a fresh worker, not a dead one
        assert rows[("plugin-fft", n)]["status"] == "ok", rows[("plugin-fft", n)]["reason"]
    assert rows[("test-cuda-error", 256)].get("worker_restarted") is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("--ops", "nope"), "unknown operator 'nope'"),
        (("--seqlens", "1k..x"), "not a length"),
        (("--shard", "3/2"), "--shard 3/2"),
        (("--dtype", "int8"), "invalid choice"),
        (("--device", "tpu"), "unknown device"),
        (("--preset", "nope"), "unknown preset"),
        (("--d-model", "30", "--heads", "4"), "not divisible"),
        (("--jobs", "2"), "--jobs and --slurm-config need --executor"),
        (("--executor", "local", "--shard", "1/2"), "makes its own shards"),
        (("--executor", "local", "--jobs", "0"), "--jobs 0"),
        (("--devices", "cpu,cpu", "--device", "cuda"), "--device"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "run"
    proc = run_cli("run", "--out", str(out), "--seqlens", "256", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_cuda_requested_without_a_gpu_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run_cli("run", "--device", "cuda", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_unwritable_out_and_existing_results_are_refused(tmp_path, smoke_run):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_cli("run", "--seqlens", "256", "--out", str(blocker / "sub"))
    assert proc.returncode == 2 and "not a writable directory" in proc.stderr
    proc = run_cli("run", "--seqlens", "256", "--out", str(smoke_run))
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_injected_failures_are_recorded_and_the_sweep_goes_on(tmp_path, plugin_env):
    out = tmp_path / "run"
    plugin_env["HYENA_BENCH_TEST_SLEEP"] = "60"
    run_cli(
        "run",
        "--ops",
        "test-oom,test-exit,test-segfault,test-hang,plugin-fft",
        "--seqlens",
        "256,512,1024",
        "--level",
        "core",
        "--timeout",
        "8",
        "--out",
        str(out),
        *SMALL,
        env=plugin_env,
        check=True,
        timeout=400,
    )
    status = {(r["op"], r["seqlen"]): (r["status"], r["reason"]) for r in rows_of(out)}
    assert len(status) == 15
    for op in ("test-oom", "test-exit", "test-segfault", "test-hang", "plugin-fft"):
        assert status[(op, 256)][0] == "ok", (op, status[(op, 256)])
    assert status[("test-oom", 512)] == (
        "oom",
        "OutOfMemoryError: CUDA out of memory. (injected by test-oom)",
    )
    assert status[("test-oom", 1024)] == ("skipped", "test-oom ran out of memory at L=512")
    assert status[("test-exit", 512)][0] == "error"
    assert "exit code 3" in status[("test-exit", 512)][1]
    assert status[("test-segfault", 512)][0] == "error"
    assert "signal 11" in status[("test-segfault", 512)][1]
    assert status[("test-hang", 512)][0] == "timeout"
    assert status[("test-hang", 1024)] == ("skipped", "test-hang timed out at L=512")
    assert status[("plugin-fft", 1024)][0] == "ok", "the sweep went on after every failure"


def test_no_oom_skip_keeps_running_longer_lengths(tmp_path, plugin_env):
    out = tmp_path / "run"
    run_cli(
        "run",
        "--ops",
        "test-oom",
        "--seqlens",
        "512,1024",
        "--level",
        "core",
        "--no-oom-skip",
        "--out",
        str(out),
        *SMALL,
        env=plugin_env,
        check=True,
    )
    assert [r["status"] for r in rows_of(out)] == ["oom", "oom"]


def test_sigkill_then_resume_gives_every_row_exactly_once(tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "--ops",
        "hyena-fft,attention-dense,hyena-naive",
        "--seqlens",
        "256..4k",
        "--level",
        "core",
        "--out",
        str(out),
        *SMALL,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / store.RESULTS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(rows_of(out))
    assert 4 <= done_before < 15, "killed mid-sweep"
    ceilings = json.loads((out / "env.json").read_text())["ceilings"]
    run_cli(*args, "--resume", check=True, timeout=300)
    rows = rows_of(out)
    keys = [record.row_key(r) for r in rows]
    assert len(rows) == 15 and len(set(keys)) == 15
    env = json.loads((out / "env.json").read_text())
    assert len(env["resumes"]) == 1
    assert env["ceilings"] == ceilings, "measured once a run: the resumed rows use the same"


def test_shards_merge_by_concatenation(tmp_path):
    base = [
        "run",
        "--ops",
        "hyena-fft,hyena-naive",
        "--seqlens",
        "256,512",
        "--level",
        "core",
        *SMALL,
    ]
    for k in (1, 2):
        run_cli(*base, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}"), check=True)
    merged = rows_of(tmp_path / "s1") + rows_of(tmp_path / "s2")
    assert sorted((r["op"], r["seqlen"]) for r in merged) == sorted(
        (op, n) for op in ("hyena-fft", "hyena-naive") for n in (256, 512)
    )


def test_list_presets_and_list_command():
    proc = run_cli("run", "--list-presets", check=True)
    assert "paper-b1" in proc.stdout and "longconv" in proc.stdout
    proc = run_cli("list", check=True)
    assert "hyena-fft" in proc.stdout and "available here" in proc.stdout
    assert json.loads(run_cli("list", "--json", check=True).stdout)["operators"]


def test_a_command_loads_only_the_module_that_owns_it():
    from bench.cli import COMMAND_MODULES, COMMAND_OWNER, command_modules

    assert command_modules(["compare", "a", "b"]) == ("bench.compare",)
    assert command_modules(["report", "--out", "x", "run"]) == ("reports.cli",)
    assert command_modules(["--help"]) == COMMAND_MODULES
    assert command_modules(["nope"]) == COMMAND_MODULES
    assert set(COMMAND_OWNER.values()) == set(COMMAND_MODULES)


def test_two_cpu_devices_give_one_worker_each_taking_whole_groups(tmp_path):
    """Run the way a job launcher does, calling bench.cli.main(argv) from its own program:
    env.json holds that argv, not the program's sys.argv."""
    out = tmp_path / "run"
    ops = ("hyena-fft", "hyena-naive", "attention-sdpa-math")
    argv = ["run", "--ops", ",".join(ops), "--seqlens", "256,512", "--level", "core"]
    argv += ["--devices", "cpu,cpu", *SMALL, "--out", str(out)]
    program = f"import sys; from bench.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    env = json.loads((out / "env.json").read_text())
    assert env["argv"] == argv
    assert env["command"] == "hyena-bench " + " ".join(argv)
    rows = rows_of(out)
    assert sorted((r["op"], r["seqlen"]) for r in rows) == sorted(
        (op, n) for op in ops for n in (256, 512)
    )
    workers = {r["worker_pid"] for r in rows}
    assert len(workers) == 2, "one worker per device, none replaced"
    assert {r["worker_device"] for r in rows} == {"cpu"}
    for op in ops:  # a group's lengths run in order on one worker, so its skips see them all
        assert len({r["worker_pid"] for r in rows if r["op"] == op}) == 1, op


def test_a_shard_holding_the_end_of_a_group_probes_the_length_before_it(tmp_path, plugin_env):
    """test-oom fails from L=512 on. Cut in two shards, the second shard's lengths are still
    skipped: it first re-measures (without recording) the length before its first one."""
    out = tmp_path / "s2"
    base = ["run", "--ops", "test-oom", "--seqlens", "256,512,1024,2048", "--level", "core"]
    proc = run_cli(*base, "--shard", "2/2", "--out", str(out), *SMALL, env=plugin_env)
    assert proc.returncode == 3, proc.stderr  # nothing measured: every row skipped
    second = rows_of(out)
    assert second and min(r["seqlen"] for r in second) > 512, "L=512 ran in shard 1/2"
    for row in second:
        assert row["status"] == "skipped" and row["shard"] == "2/2"
        assert row["reason"].startswith("test-oom ran out of memory at L="), row["reason"]
