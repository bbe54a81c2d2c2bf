"""Compile the fused layer's Triton kernels ahead of time for a GPU that is not here (default
sm_90, the H200) and print each variant's registers and spills from ptxas:

    python -m operators.fused.aot [--arch 90] [--dtypes fp16,bf16,fp32]

The same machinery as operators.longconv.triton_aot (no GPU or driver needed; TRITON_INTERPRET
must be unset; exit 2 with the reason when triton's NVIDIA backend cannot run, 1 when a variant
fails to compile).
"""

from __future__ import annotations

import argparse
import sys

from operators.longconv.triton_aot import Variant, _ptrs, backend_problem, print_table

ORDERS = (2, 3)  # the paper's order and the verification's


def variants(dtypes: list[str]) -> list[Variant]:
    from . import short_conv as sc

    out = []
    for dtype in dtypes:
        for order in ORDERS:
            consts = dict(ORDER=order, BLOCK_L=sc.FWD_BLOCK_L, BLOCK_D=sc.FWD_BLOCK_D)
            ptrs = _ptrs(dtype, "u_ptr w_ptr b_ptr out_ptr")
            sizes = ("B", "L", "N", "D")
            kernel = sc._short_conv_fwd_kernel
            out.append(Variant(f"short_conv_fwd order={order}", kernel, dtype, ptrs, sizes,
                               consts, sc.FWD_WARPS))  # fmt: skip
        for gated in (False, True):
            consts = dict(GATED=gated, BLOCK_L=sc.BWD_BLOCK_L, BLOCK_D=sc.BWD_BLOCK_D)
            ptrs = _ptrs(dtype, "u_ptr w_ptr b_ptr g_ptr gu_ptr", "gw_ptr gb_ptr")
            sizes = ("B", "L", "N", "D", "C", "c0", "CHUNK")
            kernel = sc._short_conv_bwd_kernel
            out.append(Variant(f"short_conv_bwd gated={int(gated)}", kernel, dtype, ptrs, sizes,
                               consts, sc.BWD_WARPS))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--dtypes", default="fp16,bf16,fp32")
    args = parser.parse_args(argv)
    problem = backend_problem()
    if problem:
        print(f"fused.aot: {problem}", file=sys.stderr)
        return 2
    import triton

    found = variants(args.dtypes.split(","))
    print(f"triton {triton.__version__}, sm_{args.arch}, {len(found)} variants")
    return 1 if print_table(found, args.arch) else 0


if __name__ == "__main__":
    sys.exit(main())
