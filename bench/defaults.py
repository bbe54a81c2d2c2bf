"""Measurement defaults shared by the timers, the runner and the CLI (torch-free, so that the
command line can be built without importing torch)."""

MIN_REPS = 10  # a median and a p10/p90 need at least this many samples
MAX_REPS = 2000  # bounds a row's time when one call is microseconds long
TARGET_S = 0.5  # measured time per row, on top of warm-up
WARMUP_S = 0.1  # warm-up time (after at least WARMUP_CALLS calls)
WARMUP_CALLS = 3  # the first calls compile and autotune (Triton, cuDNN, cuBLAS heuristics)
ROW_TIMEOUT_S = 600.0  # per (implementation, config): build + verify + timing
NOISY_SPREAD = 1.5  # p90/p10 above this marks a noisy measurement (timer and reports)
