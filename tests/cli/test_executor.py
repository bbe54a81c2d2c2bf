"""`hyena-bench run --executor local --jobs N` (submitit's local executor: each shard a real job
process), `hyena-bench merge`, and compare/report on merged and sharded runs. Sweeps are tiny: the
cost is the jobs' start-up (a Python process importing torch, and its worker)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import record, store
from bench.shards import plan
from bench.sweep import Sweep, find_preset
from tests.conftest import REPO, cli_env, run_cli

SHAPE = ("--d-model", "32", "--heads", "2")
TINY = (*SHAPE, "--target-time", "0.05", "--min-reps", "3")
SMOKE_LENGTHS = (256, 512)
TWO_LOCAL_JOBS = ("--executor", "local", "--jobs", "2")


def keys(rows: list[dict]) -> list[tuple]:
    return [record.row_key(r) for r in rows]


def planned_keys(sweep: Sweep) -> set[tuple]:
    return {record.row_key(t.key_row()) for t in plan(sweep)}


@pytest.fixture(scope="module")
def sharded_smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke preset (two lengths, tiny shapes) as two local jobs, merged."""
    out = tmp_path_factory.mktemp("executor") / "run"
    proc = run_cli(
        "run",
        "--preset",
        "smoke",
        "--seqlens",
        ",".join(map(str, SMOKE_LENGTHS)),
        *TINY,
        *TWO_LOCAL_JOBS,
        "--out",
        str(out),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_local_jobs_merge_into_exactly_the_unsharded_rows(sharded_smoke):
    rows = store.read_rows(sharded_smoke)
    smoke = find_preset("smoke").for_device("cpu")
    sweep = smoke.replace(seqlens=SMOKE_LENGTHS, d_model=32, heads=2, target_s=0.05)
    found = keys(rows)
    assert len(found) == len(set(found)), "no row twice"
    assert set(found) == planned_keys(sweep), "every planned row, nothing else"
    env = json.loads((sharded_smoke / store.ENV_FILE).read_text())
    assert env["command"].startswith("hyena-bench run --preset smoke")
    assert "--executor local --jobs 2" in env["command"] and env["missing_rows"] == []
    assert env["executor"]["kind"] == "local" and env["executor"]["jobs"] == 2
    jobs = {s["shard"]: s for s in env["shards"]}
    assert set(jobs) == {"1/2", "2/2"} and all(s["state"] == "done" for s in jobs.values())
    for row in rows:  # the shard and job of every row
        assert row["job_id"] == jobs[row["shard"]]["job_ids"][-1]
    for source in env["merged_from"]:
        # each job called bench.cli.main with its own arguments: env.json holds those, not the
        # job launcher's sys.argv
        assert source["command"].startswith("hyena-bench run --preset smoke")
        assert f"--shard {source['shard']}" in source["command"]
        assert source["argv"][0] == "run" and source["job"]["executor"] == "local"
        assert source["ceilings"]["dtype"] == "fp32"  # each shard's own, for its rows' roofline
    assert "ceilings" not in env  # none of them stands for the whole merged run


def test_report_and_compare_read_the_merged_run(sharded_smoke, tmp_path):
    proc = run_cli(
        "report", str(sharded_smoke), "--out", str(tmp_path / "report"), "--format", "md"
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report" / "report.md").read_text().count("hyena-fft") > 0
    shards = ",".join(str(p) for p in sorted((sharded_smoke / "shards").glob("*-of-2")))
    # the same measurements on both sides: the shards joined by commas against the merged run
    proc = run_cli("compare", shards, str(sharded_smoke))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "slower" not in proc.stdout.split("\n", 1)[0]


def test_merge_refuses_mixed_environments_and_a_row_twice(sharded_smoke, tmp_path):
    one, two = sorted((sharded_smoke / "shards").glob("*-of-2"))
    proc = run_cli("merge", str(one), str(two), "--out", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(keys(store.read_rows(tmp_path / "m"))) == sorted(
        keys(store.read_rows(sharded_smoke))
    )
    alien = tmp_path / "alien"
    shutil.copytree(two, alien)
    env = json.loads((alien / store.ENV_FILE).read_text())
    env["torch"] = "0.0.1"
    (alien / store.ENV_FILE).write_text(json.dumps(env))
    proc = run_cli("merge", str(one), str(alien), "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "different environments" in proc.stderr
    assert "torch: " in proc.stderr and not (tmp_path / "x").exists()
    proc = run_cli("merge", str(one), str(alien), "--out", str(tmp_path / "x"), "--allow-mixed-env")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("merge", str(one), str(one), "--out", str(tmp_path / "y"))
    assert proc.returncode == 2 and "two rows for" in proc.stderr
    proc = run_cli("compare", f"{one},{alien}", str(sharded_smoke))
    assert proc.returncode == 2 and "different environments" in proc.stderr
    assert "--allow-mixed-env" not in proc.stderr, "compare has no such flag to suggest"
    proc = run_cli("compare", ",", str(sharded_smoke))
    assert proc.returncode == 2 and "BASE: no run directory given" in proc.stderr


def test_merge_names_the_rows_of_a_shard_it_was_not_given(sharded_smoke, tmp_path):
    one = sharded_smoke / "shards" / "1-of-2"
    proc = run_cli("merge", str(one), "--out", str(tmp_path / "half"))
    assert proc.returncode == 0, proc.stderr
    env = json.loads((tmp_path / "half" / store.ENV_FILE).read_text())
    lost = {(m["op"], m["seqlen"]) for m in env["missing_rows"]}
    assert lost == {
        (r["op"], r["seqlen"]) for r in store.read_rows(sharded_smoke / "shards/2-of-2")
    }
    assert {m["reason"] for m in env["missing_rows"]} == {
        "shard 2/2 is not among the merged directories"
    }
    assert "missing" in proc.stderr


def test_a_killed_job_is_resubmitted_and_the_merged_run_is_complete(tmp_path):
    out = tmp_path / "run"
    ops = "hyena-fft,attention-sdpa-math"
    # 0.3 s a row: the killed job still has rows to do when its first one is written
    slower = [*SHAPE, "--target-time", "0.3", "--min-reps", "3"]
    args = ["run", "--ops", ops, "--seqlens", "256..1k", *slower, "--quiet", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args, *TWO_LOCAL_JOBS],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shard = out / "shards" / "1-of-2"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the job has measured a row: kill its process
        if (shard / store.RESULTS_FILE).exists() and (shard / store.RESULTS_FILE).read_text():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    job = json.loads((shard / store.ENV_FILE).read_text())["job"]
    os.kill(job["pid"], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "resubmitting" in stderr
    rows = store.read_rows(out)
    sweep = Sweep(seqlens=(256, 512, 1024), ops=tuple(ops.split(",")))
    sweep = sweep.replace(d_model=32, heads=2, target_s=0.3)
    assert sorted(keys(rows)) == sorted(planned_keys(sweep)), "complete, no row twice"
    env = json.loads((out / store.ENV_FILE).read_text())
    killed = next(s for s in env["shards"] if s["shard"] == "1/2")
    assert len(killed["job_ids"]) == 2 and killed["job_ids"][0] == str(job["job_id"])
    assert len(json.loads((shard / store.ENV_FILE).read_text())["resumes"]) == 1


def test_a_job_that_fails_twice_is_reported_with_its_log(tmp_path, plugin_env):
    """One job (each job costs a process that imports torch, and its worker): test-kill-runner
    kills it at L=512, again after the resubmission; the rows it measured are merged."""
    out = tmp_path / "run"
    proc = run_cli(
        "run",
        "--ops",
        "plugin-fft,test-kill-runner",
        "--seqlens",
        "256,512",
        "--level",
        "core",
        *TINY,
        "--executor",
        "local",
        "--jobs",
        "1",
        "--out",
        str(out),
        env=plugin_env,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    env = json.loads((out / store.ENV_FILE).read_text())
    failed = env["shards"]
    assert len(failed) == 1 and failed[0]["state"] == "failed" and len(failed[0]["job_ids"]) == 2
    assert Path(failed[0]["log"]).is_file()
    assert [(m["op"], m["seqlen"]) for m in env["missing_rows"]] == [("test-kill-runner", 512)]
    reason = env["missing_rows"][0]["reason"]
    assert "failed" in reason and failed[0]["log"] in reason
    assert {(r["op"], r["seqlen"]) for r in store.read_rows(out)} == {
        ("plugin-fft", 256),
        ("plugin-fft", 512),
        ("test-kill-runner", 256),
    }
    assert failed[0]["log"] in proc.stderr
