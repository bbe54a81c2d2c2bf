"""`hyena-bench verify`: passes correct implementations, fails a wrong one, says why others
cannot run here."""

import json

from tests.conftest import run_cli


def test_correct_implementations_pass_and_unavailable_ones_say_why():
    proc = run_cli(
        "verify",
        "--ops",
        "hyena-fft,attention-dense,flash-attn2",
        "--dtypes",
        "fp32,fp16",
        "--grads",
        "--device",
        "cpu",
        "--json",
        check=True,
    )
    results = json.loads(proc.stdout)["results"]
    ok = [r for r in results if r["op"] != "flash-attn2"]
    assert len(ok) == 4 and all(r["passed"] for r in ok)
    assert all(r["max_rel_err"] < r["tolerance"] for r in ok)
    assert next(r for r in ok if r["dtype"] == "fp32")["grad_max_rel_err"] < 1e-4
    flash = next(r for r in results if r["op"] == "flash-attn2")
    assert flash["passed"] is None and "CUDA" in flash["reason"]


def test_a_wrong_implementation_fails_with_exit_1(plugin_env):
    proc = run_cli(
        "verify",
        "--ops",
        "test-wrong,plugin-fft",
        "--dtypes",
        "fp32",
        "--levels",
        "core",
        env=plugin_env,
    )
    assert proc.returncode == 1, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert lines["test-wrong"].endswith("FAIL") and lines["plugin-fft"].endswith("pass")


def test_bad_dtype_is_a_usage_error():
    proc = run_cli("verify", "--dtypes", "fp8")
    assert proc.returncode == 2 and "unknown fp8" in proc.stderr


def test_nothing_verified_exits_3_with_a_clear_line():
    proc = run_cli("verify", "--ops", "flash-attn2", "--device", "cpu")
    assert proc.returncode == 3, proc.stderr
    assert "nothing was verified" in proc.stderr


def test_unknown_dtype_suggests_the_nearest():
    proc = run_cli("verify", "--dtypes", "fp61")
    assert proc.returncode == 2 and "(did you mean fp16?)" in proc.stderr
