"""`hyena-bench verify`: every implementation against the float64 reference at several small
shapes (odd lengths, order 3), per dtype, forward and optionally gradients; exit 1 on a failure.

The same check the runner makes before timing (operators.verify), over a fixed set of shapes, so
a plugin author can see at once whether a new implementation computes its family's function.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.errors import EXIT_FAILURE, EXIT_NOTHING_RAN, EXIT_OK, UsageError
from operators.config import LEVELS, MEASURED_DTYPES, did_you_mean

# (batch, seqlen, d_model, heads, order): odd lengths, order 3, a non-power-of-two width
SHAPES = ((2, 64, 32, 4, 2), (1, 67, 32, 4, 3), (3, 129, 48, 6, 2), (2, 512, 64, 4, 2))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check implementations against the float64 reference",
        description="Check implementations against the float64 reference. Exit 1 on a wrong "
        "result, 3 when nothing selected runs here.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--ops", help="comma-separated implementation names (default: all here)")
    which.add_argument("--family", help="comma-separated families")
    p.add_argument("--dtypes", default="fp32,fp16,bf16", help="comma-separated (default: all)")
    p.add_argument("--levels", default="core,layer", help="comma-separated (default: both)")
    p.add_argument("--grads", action="store_true", help="also check fp32 gradients")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_verify)


def split(text: str, choices: tuple[str, ...] | dict[str, str], what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in choices]
    if bad or not items:
        hint = did_you_mean(bad[0], choices) if bad else ""
        raise UsageError(
            f"--{what}: unknown {bad[0] if bad else 'empty'} (choose from {', '.join(choices)})"
            + hint
        )
    return items


def check_one(spec: Any, dtype: str, levels: list[str], grads: bool, device: Any) -> dict:
    """Worst forward (and fp32 gradient) error of `spec` over SHAPES and `levels`."""
    from operators.config import Config
    from operators.verify import gradient_errors, tolerance, verify

    fwd = grad = None
    skipped = ""
    for b, n, d, h, o in SHAPES:
        for level in levels:
            config = Config(
                batch=b, seqlen=n, d_model=d, heads=h, order=o, dtype=dtype, level=level
            )
            why = spec.supports(config, device)
            if why:
                skipped = why
                continue
            err = verify(spec.build(config, device)).max_rel_err
            fwd = err if fwd is None else max(fwd, err)
            if grads and dtype == "fp32":
                errs = gradient_errors(spec.build(config.replace(mode="fwd_bwd"), device))
                grad = max([grad or 0.0, *errs.values()])
    passed = None
    if fwd is not None:
        passed = fwd <= tolerance(dtype, device) and (
            grad is None or grad <= tolerance(dtype, device, grad=True)
        )
    return {
        "op": spec.name,
        "dtype": dtype,
        "max_rel_err": fwd,
        "grad_max_rel_err": grad,
        "tolerance": tolerance(dtype, device),
        "passed": passed,
        "reason": "" if fwd is not None else skipped,
    }


def cmd_verify(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.commands import resolve_device
    from operators import registry

    device = resolve_device(args.device)
    dtypes = split(args.dtypes, MEASURED_DTYPES, "dtypes")
    levels = split(args.levels, LEVELS, "levels")
    try:
        specs = registry.select(
            args.ops.split(",") if args.ops else (), args.family.split(",") if args.family else ()
        )
    except KeyError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    results = []
    for spec in specs:
        availability = spec.available(device)
        if not availability:
            results.append(
                {
                    "op": spec.name,
                    "dtype": "-",
                    "max_rel_err": None,
                    "grad_max_rel_err": None,
                    "tolerance": None,
                    "passed": None,
                    "reason": availability.reason,
                }
            )
            continue
        results.extend(check_one(spec, dt, levels, args.grads, device) for dt in dtypes)
    if args.json:
        print(json.dumps({"device": str(device), "shapes": SHAPES, "results": results}, indent=2))
    else:
        print(f"device: {device}; shapes (B, L, D, H, order): {list(SHAPES)}; levels: {levels}")
        print(
            tabulate(
                [
                    [
                        r["op"],
                        r["dtype"],
                        fmt(r["max_rel_err"]),
                        fmt(r["grad_max_rel_err"]),
                        fmt(r["tolerance"]),
                        verdict(r),
                    ]
                    for r in results
                ],
                headers=[
                    "implementation",
                    "dtype",
                    "max rel err",
                    "fp32 grad err",
                    "tolerance",
                    "result",
                ],
            )
        )
    if any(r["passed"] is False for r in results):
        return EXIT_FAILURE
    if not any(r["passed"] for r in results):
        print(
            f"hyena-bench verify: nothing was verified: no selected implementation runs on "
            f"{device} (exit {EXIT_NOTHING_RAN}); `hyena-bench list` says what runs here",
            file=sys.stderr,
        )
        return EXIT_NOTHING_RAN
    return EXIT_OK


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def verdict(row: dict) -> str:
    if row["passed"] is None:
        return f"not run: {row['reason']}"
    return "pass" if row["passed"] else "FAIL"
