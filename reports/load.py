"""Read one or more run directories into one table of rows, refusing to mix environments.

Every row is validated against bench.record on reading (bench.store.read_rows), and the table has
a column for every field the record declares, so the report never meets a missing column.

Shards of one sweep (or several presets run on the same machine) merge by concatenation; runs from
different devices or library versions are kept apart unless the caller allows mixing.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import UsageError
from bench.record import KEY_FIELDS, Row
from bench.store import (
    ENV_IDENTITY,
    RESULTS_FILE,
    ResultsError,
    env_value,
    read_env,
    read_rows,
    to_frame,
)

# One table per group; within a group an implementation is one series over seqlen.
GROUP_FIELDS = ("device_label", "level", "dtype", "mode", "batch", "d_model")
# Config fields that normally stay fixed within a group; a series label names them if they vary.
SERIES_FIELDS = ("heads", "order")
# Characters of a device name kept in a file name (the rest of the name is ~40 more).
SLUG_DEVICE = 48


@dataclass(frozen=True)
class Run:
    """One run directory: where it is and its environment record."""

    directory: Path
    env: dict[str, Any]
    rows: int


@dataclass(frozen=True)
class Results:
    """The merged rows (one DataFrame; column `impl` names the series) and their runs."""

    frame: pd.DataFrame
    runs: tuple[Run, ...]
    notes: tuple[str, ...] = ()


def env_identity(env: dict[str, Any]) -> dict[str, Any]:
    return {field: env_value(env, field) for field in ENV_IDENTITY}


def read_run(directory: Path) -> tuple[Run, list[Row]]:
    """Rows and environment of one directory; any problem is a one-line UsageError."""
    try:
        rows = read_rows(directory)
        env = read_env(directory)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    if not rows:
        raise UsageError(f"{Path(directory) / RESULTS_FILE}: no result rows")
    return Run(Path(directory), env, len(rows)), rows


def check_same_env(runs: Sequence[Run]) -> None:
    """Refuse runs whose device or library versions differ, naming the first difference."""
    first = runs[0]
    for run in runs[1:]:
        a, b = env_identity(first.env), env_identity(run.env)
        diff = [f"{k} {a[k]!r} vs {b[k]!r}" for k in ENV_IDENTITY if a[k] != b[k]]
        if diff:
            raise UsageError(
                f"{first.directory} and {run.directory} come from different environments "
                f"({'; '.join(diff)}); pass --allow-mixed-env to report them together"
            )


def load(directories: Sequence[Path | str], allow_mixed_env: bool = False) -> Results:
    """Merge the rows of all directories; torn last lines and duplicates become notes."""
    runs, frames, notes = [], [], []
    for directory in directories:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run, rows = read_run(Path(directory))
        notes += [str(w.message) for w in caught]
        runs.append(run)
        frames.append(label_rows(to_frame(rows), run.env))
    if not allow_mixed_env:
        check_same_env(runs)
    frame = pd.concat(frames, ignore_index=True)
    frame, dropped = drop_duplicates(frame)
    if dropped:
        notes.append(
            f"{dropped} duplicate rows (same configuration in several directories): "
            "kept the last one read"
        )
    return Results(add_series_labels(frame), tuple(runs), tuple(notes))


def label_rows(frame: pd.DataFrame, env: dict[str, Any]) -> pd.DataFrame:
    """Name each row's device: its own device_name, else env.json's, else its device type; and
    give it its run's CPU count."""
    env_name = env_value(env, "device.name")
    fallback = frame["device"].map(lambda d: env_name or d)
    frame["device_label"] = frame["device_name"].where(frame["device_name"].notna(), fallback)
    frame["device_label"] = frame["device_label"].fillna(frame["device"]).astype(str)
    frame["cpu_count"] = env_value(env, "cpu.threads")  # reports.noise: load above it is busy
    return frame


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    keys = ["device_label", *KEY_FIELDS]
    kept = frame.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)
    return kept, len(frame) - len(kept)


def add_series_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """`impl` is the op name, plus heads/order where an op has several within one group."""
    frame = frame.copy()
    frame["impl"] = frame["op"].astype(str)
    by = [*GROUP_FIELDS, "op"]
    for field in SERIES_FIELDS:
        varies = frame.groupby(by, dropna=False)[field].transform("nunique") > 1
        frame.loc[varies, "impl"] += f" {field}=" + frame.loc[varies, field].astype(str)
    return frame


@dataclass(frozen=True)
class Group:
    """Rows measured under one setting; tables and plots are drawn per group."""

    device_label: str
    level: str
    dtype: str
    mode: str
    batch: int
    d_model: int

    def title(self) -> str:
        return (
            f"{self.level} · {self.mode} · {self.dtype} · batch {self.batch} · "
            f"d_model {self.d_model} · {self.device_label}"
        )

    def slug(self, with_device: bool = False) -> str:
        """A file-name stem: letters, digits and dashes only (a device name is a stranger's
        text); a long device name is cut and given a hash, so two never share files."""
        base = f"{self.level}-{self.mode}-{self.dtype}-b{self.batch}-d{self.d_model}"
        if not with_device:
            return base
        device = re.sub(r"[^a-z0-9]+", "-", self.device_label.lower()).strip("-")
        if len(device) > SLUG_DEVICE:
            digest = hashlib.sha1(self.device_label.encode()).hexdigest()[:8]
            device = f"{device[: SLUG_DEVICE - 9].strip('-')}-{digest}"
        return f"{device}-{base}"

    def sort_key(self) -> tuple[Any, ...]:
        """The paper's setting first: layer level, forward, larger batches."""
        return (
            self.device_label,
            self.level != "layer",
            self.mode != "fwd",
            self.dtype,
            -self.batch,
            self.d_model,
        )


def groups(frame: pd.DataFrame) -> list[tuple[Group, pd.DataFrame]]:
    found = [
        (Group(*(k.item() if hasattr(k, "item") else k for k in key)), rows)
        for key, rows in frame.groupby(list(GROUP_FIELDS), sort=False, dropna=False)
    ]
    return sorted(found, key=lambda pair: pair[0].sort_key())
