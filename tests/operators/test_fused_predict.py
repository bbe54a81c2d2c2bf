"""The forecast of hyena-fused against attention (operators/fused/predict.py): its parts checked
by hand at the issue's shape (B=8, D=768, fp16, forward)."""

import pytest

from operators.fused import predict
from operators.longconv import triton_work

B, D, L = 8, 768, 8192


def test_matmul_and_attention_parts_by_hand():
    h, a = predict.hyena_fused_parts(B, L, D), predict.attention_parts(B, L, D)
    launch_ms = 1e3 * triton_work.LAUNCH_S
    in_proj_flops = 2 * B * L * D * 3 * D  # compute-bound: 0.35 ms against 0.09 ms of bytes
    assert h["in_proj"] == pytest.approx(in_proj_flops / 660e12 * 1e3 + launch_ms)
    short_bytes = B * L * D * (3 + 2) * 2  # u read, two streams written
    assert h["short_conv"] == pytest.approx(short_bytes / 4.3e12 * 1e3 + launch_ms)
    assert a["core"] == pytest.approx(2 * B * L * L * D / 455e12 * 1e3 + launch_ms)
    assert a["qkv_proj"] == pytest.approx(h["in_proj"])  # the same D -> 3·D matmul


def test_the_forecast_gap_grows_with_length(capsys):
    speedups = [
        sum(predict.attention_parts(B, n, D).values())
        / sum(predict.hyena_fused_parts(B, n, D).values())
        for n in predict.LENGTHS
    ]
    assert speedups == sorted(speedups)
    predict.main(["--matmul-tflops", "500"])
    assert "matmul 500 TFLOP/s" in capsys.readouterr().out
