"""Predicted H200 forward latency of the `hyena-fused` layer and of the fastest attention layer,
from counted work and assumed rates: a forecast to compare with the GPU run, never a result.

hyena-fused, one forward (order o, B, L, D, element size e):
- in- and out-projections: cuBLAS matmuls, 2·B·L·D·(o+1)·D and 2·B·L·D² FLOPs, at MATMUL rate
  or their bytes (x, u, v, y and the weights) at HBM rate, whichever is slower;
- the short-convolution-and-gate kernel: reads u ((o+1)·D channels), writes o streams: HBM-bound;
- the filter network and its spectrum: in the long convolution's work (triton_work's `prep`);
- o-1 gated long convolutions: triton_work's work model for the strategy hyena-triton dispatches
  to, gates read on load and store, at triton_work's dot, HBM and L2 rates;
- LAUNCH_S per kernel (the filter network's small torch kernels included).
Attention layer: the same two projection matmuls (QKV D -> 3·D, out D -> D) plus the causal
core, 2·B·L²·D FLOPs (half of 4·B·L²·D), at the rate cuDNN attention reached on the H200 machine.

`python -m operators.fused.predict [B [D]] [--matmul-tflops X --copy-gbps Y]`: the table, fp16,
forward; pass a GPU run's env.json ceilings to replace the assumed matmul and copy rates.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from operators.longconv import triton_dispatch, triton_work

# cuBLAS fp16 on an H200 (989 TFLOP/s dense peak): about two thirds of it on large matmuls, an
# assumption until a run's ceilings (env.json) replace it.
MATMUL_FLOPS_PER_S = 660e12
# Causal fp16 attention, head dim 64: cuDNN reached 455 TFLOP/s (paper's count) on the H200
# machine at B=8, L=4k (issue 15's profile); FlashAttention-3 reports about 460 on an H100 at 8k.
ATTENTION_FLOPS_PER_S = 455e12
HBM_BYTES_PER_S = triton_work.HBM_BYTES_PER_S
LAUNCH_S = triton_work.LAUNCH_S
FILTER_KERNELS = 12  # positional embedding, 3 linear + 3 sin, modulation, bias, casts
LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)


@dataclass(frozen=True)
class Rates:
    matmul: float = MATMUL_FLOPS_PER_S
    hbm: float = HBM_BYTES_PER_S
    attention: float = ATTENTION_FLOPS_PER_S


def matmul_ms(m: int, k: int, n: int, e: int, rates: Rates) -> float:
    """(m, k) x (k, n): the slower of its FLOPs and its bytes (both operands and the result)."""
    flops, nbytes = 2 * m * k * n, (m * k + k * n + m * n) * e
    return 1e3 * (max(flops / rates.matmul, nbytes / rates.hbm) + LAUNCH_S)


def hyena_fused_parts(
    B: int, L: int, D: int, order: int = 2, dtype: str = "fp16", rates: Rates = Rates()
) -> dict[str, float]:
    """Predicted ms of each part of one hyena-fused forward."""
    e = triton_work.ELEMENT_BYTES[dtype]
    rows = B * L
    short_bytes = rows * D * ((order + 1) + order) * e  # u read, o streams written
    strategy = triton_dispatch.strategy_for(B, dtype, L)
    conv_ms = triton_work.predicted_ms(strategy, B, D, L, dtype, "fwd", gated=True)
    return {
        "in_proj": matmul_ms(rows, D, (order + 1) * D, e, rates),
        "short_conv": 1e3 * (short_bytes / rates.hbm + LAUNCH_S),
        "filter": 1e3 * FILTER_KERNELS * LAUNCH_S,
        "long_conv": (order - 1) * conv_ms,
        "out_proj": matmul_ms(rows, D, D, e, rates),
    }


def attention_parts(
    B: int, L: int, D: int, dtype: str = "fp16", rates: Rates = Rates()
) -> dict[str, float]:
    """Predicted ms of a causal attention layer: projections and the fused core."""
    e = triton_work.ELEMENT_BYTES[dtype]
    return {
        "qkv_proj": matmul_ms(B * L, D, 3 * D, e, rates),
        "core": 1e3 * (2 * B * L * L * D / rates.attention + LAUNCH_S),
        "out_proj": matmul_ms(B * L, D, D, e, rates),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch", nargs="?", type=int, default=8)
    parser.add_argument("d_model", nargs="?", type=int, default=768)
    parser.add_argument("--matmul-tflops", type=float, default=MATMUL_FLOPS_PER_S / 1e12)
    parser.add_argument("--copy-gbps", type=float, default=HBM_BYTES_PER_S / 1e9)
    parser.add_argument("--attention-tflops", type=float, default=ATTENTION_FLOPS_PER_S / 1e12)
    args = parser.parse_args(argv)
    rates = Rates(args.matmul_tflops * 1e12, args.copy_gbps * 1e9, args.attention_tflops * 1e12)
    B, D = args.batch, args.d_model
    print(
        f"B={B}, D={D}, order 2, fp16, forward, layer; matmul {args.matmul_tflops:g} TFLOP/s, "
        f"HBM {args.copy_gbps:g} GB/s, attention core {args.attention_tflops:g} TFLOP/s"
    )
    print("| L | in_proj | short conv | long conv | out_proj | hyena-fused ms | attention ms "
          "| speedup |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for L in LENGTHS:
        h, a = hyena_fused_parts(B, L, D, rates=rates), attention_parts(B, L, D, rates=rates)
        hyena, attention = sum(h.values()), sum(a.values())
        print(
            f"| {L} | {h['in_proj']:.3f} | {h['short_conv']:.3f} | {h['long_conv']:.3f} | "
            f"{h['out_proj']:.3f} | {hyena:.3f} | {attention:.3f} | {attention / hyena:.1f}x |"
        )


if __name__ == "__main__":
    main()
