"""Compile every Triton long-convolution kernel variant ahead of time for a GPU that is not here
(default sm_90, the H200), and report each one's registers and spills from ptxas.

    python -m operators.longconv.triton_aot [--arch 90] [--quick] [--dtypes fp16,bf16,fp32]

Needs triton's NVIDIA backend (its bundled ptxas), no GPU and no CUDA driver. Must run without
TRITON_INTERPRET (interpreted kernels cannot be compiled); exits 2 with a reason when the backend
cannot run. TRITON_NOTES.md quotes its output per triton version.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

PTXAS_LINE = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)
REGS_LINE = re.compile(r"Used (\d+) registers")
TRITON_TYPES = {"fp16": "fp16", "bf16": "bf16", "fp32": "fp32"}


@dataclass(frozen=True)
class Variant:
    """One compiled instance: kernel, constexprs, dtype, launch options."""

    name: str
    kernel: object
    dtype: str
    pointers: dict[str, str]  # pointer argument -> element type (a dtype name or 'fp32')
    ints: tuple[str, ...]
    constexprs: dict[str, object]
    num_warps: int
    num_stages: int = 3
    floats: tuple[str, ...] = ()


def _signature(v: Variant) -> tuple[dict, dict]:
    sig, const = {}, {}
    for arg in v.kernel.arg_names:
        if arg in v.pointers:
            sig[arg] = "*" + TRITON_TYPES.get(v.pointers[arg], v.pointers[arg])
        elif arg in v.ints:
            sig[arg] = "i32"
        elif arg in v.floats:
            sig[arg] = "fp32"
        else:
            sig[arg] = "constexpr"
            const[arg] = v.constexprs[arg]
    return sig, const


def _ptrs(dtype: str, names: str, fp32: str = "") -> dict[str, str]:
    """Pointer arguments: `names` in the input dtype, `fp32` in fp32 (space-separated)."""
    return dict.fromkeys(names.split(), dtype) | dict.fromkeys(fp32.split(), "fp32")


def monarch_variants(dtypes: list[str], quick: bool) -> list[Variant]:
    from . import triton_fft_blocks as blocks
    from . import triton_monarch as tm
    from . import triton_monarch_grad as tg
    from .triton_work import half_or_all, plan_for

    lengths = (2048, 16384) if quick else (256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 131072)
    conv_ptrs = "x_ptr pre_ptr post_ptr y_ptr bias_ptr spec_ptr f_ptr ff_ptr scratch_ptr"
    corr_ptrs = "g_ptr gg_ptr x_ptr gx_ptr f_ptr scratch_ptr"
    sizes = ("B", "D", "L")
    out = []
    for dtype, L in ((dt, L) for dt in dtypes for L in lengths):
        plan = plan_for(L, dtype)
        warps = 4 if plan.inner <= blocks.SMALL_TILE else 8
        tiles = dict(M1=plan.m1, M2=plan.m2, PREC="ieee" if dtype == "fp32" else "tf32")
        if plan.p == 1:
            kind, stages, conv_k, corr_k = "rows", 3, tm._conv_rows_kernel, tg._corr_rows_kernel
            tiles |= dict(K1=half_or_all(plan.m1))
            conv_c = dict(ROWS=tm.ROWS_PER_PROGRAM)
        else:
            kind, stages = "scratch", 1
            conv_k, corr_k = tm._conv_scratch_kernel, tg._corr_scratch_kernel
            tiles |= dict(P=plan.p, KP=half_or_all(plan.p), BM=blocks.column_block(plan))
            conv_c = {}
        for gates in (True,):  # gates on: the most registers; without them a subset of the code
            tag = f"L={L} {plan.p}x{plan.m1}x{plan.m2} gates={int(gates)}"
            c = dict(tiles, HAS_PRE=gates, HAS_POST=gates, CONJ=False, **conv_c)
            ptrs = _ptrs(dtype, conv_ptrs, "scale_ptr hsum_ptr tw_ptr twf_ptr")
            out.append(Variant(f"conv_{kind} {tag}", conv_k, dtype, ptrs, sizes, c, warps, stages))
            c = dict(tiles, HAS_GG=gates, HAS_GX=gates)
            ptrs = _ptrs(dtype, corr_ptrs, "out_ptr tw_ptr acc_ptr")
            out.append(Variant(f"corr_{kind} {tag}", corr_k, dtype, ptrs, sizes, c, warps, stages))
    return out


def toeplitz_variants(dtypes: list[str], quick: bool) -> list[Variant]:
    from . import triton_toeplitz as tt

    out = []
    for dtype in dtypes:
        prec = "ieee" if dtype == "fp32" else "tf32"
        for bb, gates in ((16, True),) if quick else ((16, True), (64, True)):
            warps = 2 * tt.NUM_WARPS if bb >= 64 else tt.NUM_WARPS
            ptrs = _ptrs(dtype, "x_ptr pre_ptr post_ptr h_ptr bias_ptr y_ptr")
            c = dict(ANTICAUSAL=False, HAS_PRE=gates, HAS_POST=gates, PREC=prec)
            c |= dict(BLOCK_T=tt.BLOCK_T, BLOCK_B=bb)
            name = f"toeplitz BB={bb} gates={int(gates)}"
            sizes = ("B", "D", "L")
            out.append(Variant(name, tt._toeplitz_kernel, dtype, ptrs, sizes, c, warps))
        ptrs = _ptrs(dtype, "g_ptr gg_ptr x_ptr gx_ptr", "s_ptr")
        c = dict(HAS_GG=True, HAS_GX=True, TB=tt.CORR_BLOCK, ROWS=tt.CORR_ROWS, PREC=prec)
        sizes = ("B", "D", "L", "NBLK")
        tiles = tt._corr_tiles_kernel
        out.append(Variant("corr_tiles", tiles, dtype, ptrs, sizes, c, tt.NUM_WARPS))
    c, ptrs = dict(TB=tt.CORR_BLOCK), _ptrs("fp32", "", "s_ptr out_ptr")
    diag = tt._corr_diagonals_kernel
    out.append(Variant("corr_diagonals", diag, "fp32", ptrs, ("L", "NBLK"), c, tt.NUM_WARPS))
    return out


def ptxas_usage(ptx: str, arch: int) -> tuple[int, int, int]:
    """(registers, spill store bytes, spill load bytes) that ptxas reports for the PTX."""
    from triton.backends.nvidia.compiler import get_ptxas

    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
        f.write(ptx)
    try:
        gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
        cmd = [get_ptxas(arch).path, "-v", "--gpu-name", gpu, f.name, "-o", os.devnull]
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    finally:
        os.unlink(f.name)
    regs = max(int(r) for r in REGS_LINE.findall(text))
    spills = [tuple(map(int, s)) for s in PTXAS_LINE.findall(text)]
    return regs, max(s[1] for s in spills), max(s[2] for s in spills)


def compile_variant(v: Variant, arch: int) -> tuple[int, int, int, int]:
    """Compile for sm_<arch>; (registers, spill stores, spill loads, shared-memory bytes)."""
    import triton
    from triton.backends.compiler import GPUTarget

    sig, const = _signature(v)
    src = triton.compiler.ASTSource(fn=v.kernel, signature=sig, constexprs=const)
    opts = dict(num_warps=v.num_warps, num_stages=v.num_stages)
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=opts)
    regs, st, ld = ptxas_usage(compiled.asm["ptx"], arch)
    return regs, st, ld, compiled.metadata.shared


def backend_problem() -> str:
    """Empty when kernels can be compiled here, else why not."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return "TRITON_INTERPRET is set: interpreted kernels cannot be compiled"
    try:
        import triton  # noqa: F401
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.backends.nvidia.compiler import get_ptxas

        path = get_ptxas(90).path
    except Exception as exc:  # any missing piece of the backend: say which
        return f"triton's NVIDIA backend is not usable here: {exc}"
    return "" if os.path.exists(path) else f"ptxas not found at {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--quick", action="store_true", help="one variant per kernel shape")
    parser.add_argument("--dtypes", default="fp16,bf16,fp32")
    args = parser.parse_args(argv)
    problem = backend_problem()
    if problem:
        print(f"triton_aot: {problem}", file=sys.stderr)
        return 2
    import triton

    dtypes = args.dtypes.split(",")
    variants = toeplitz_variants(dtypes, args.quick) + monarch_variants(dtypes, args.quick)
    print(f"triton {triton.__version__}, sm_{args.arch}, {len(variants)} variants")
    return 1 if print_table(variants, args.arch) else 0


def print_table(variants: list[Variant], arch: int) -> int:
    """Compile each variant and print its row (markdown); returns how many failed."""
    print("| kernel | dtype | warps | registers | spill stores | spill loads | shared |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    failed = 0
    for v in variants:
        t0 = time.time()
        try:
            regs, st, ld, shared = compile_variant(v, arch)
        except Exception as exc:  # report every failure, then exit 1
            failed += 1
            print(f"| {v.name} | {v.dtype} | {v.num_warps} | FAILED: {exc!r} |||", flush=True)
            continue
        row = f"| {v.name} | {v.dtype} | {v.num_warps} | {regs} | {st} | {ld} | {shared} |"
        print(f"{row} <!-- {time.time() - t0:.1f} s -->", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
