"""The results store: a run directory holds env.json and results.jsonl (one JSON object per
(operator, config), appended, flushed and fsynced as each finishes).

What a row holds is declared in bench.record (the results contract other tools read; see
docs/ARCHITECTURE.md); every row read is validated against it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.record import Row, RowError, row_key, to_json, validate

RESULTS_FILE = "results.jsonl"
ENV_FILE = "env.json"
# What makes two runs comparable (one report, one compare): the device and the library versions.
ENV_IDENTITY = ("device.type", "device.name", "torch", "triton", "flash_attn")


def env_value(env: dict[str, Any], dotted: str) -> Any:
    """env["device"]["name"] for "device.name"; None where a part is missing."""
    value: Any = env
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class ResultsError(Exception):
    """A results directory or file that cannot be used; the message names file and line."""


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ResultsWriter:
    """Appends rows to DIR/results.jsonl durably: one line, flush and fsync per row, so a killed
    run loses at most the row being written (a torn last line, ignored on read)."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / RESULTS_FILE
        self._repair_torn_tail()
        self._file = open(self.path, "a")  # noqa: SIM115 - held open for the run

    def _repair_torn_tail(self) -> None:
        """A line without its newline is a row cut off by a kill: drop it before appending."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            warnings.warn(
                f"{self.path}: dropping a torn last line ({len(data) - keep} bytes)", stacklevel=3
            )
            with open(self.path, "r+b") as f:
                f.truncate(keep)

    def append(self, row: Row) -> None:
        self._file.write(to_json(row) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(directory: Path | str) -> list[Row]:
    """All rows of a run directory, each validated against bench.record (samples as float64
    arrays). A torn last line (no newline: the run was killed while writing it) is ignored with
    a warning; any other bad line raises ResultsError naming file, line and field."""
    path = Path(directory) / RESULTS_FILE
    if not Path(directory).is_dir():
        raise ResultsError(f"{directory}: no such results directory")
    if not path.exists():
        raise ResultsError(f"{path}: missing (not a hyena-bench run directory?)")
    text = path.read_text()
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = number == len(lines)  # text did not end with "\n": this line is torn
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if last:
                warnings.warn(f"{path}:{number}: ignoring a torn last line", stacklevel=2)
                continue
            raise ResultsError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        try:
            rows.append(validate(row))
        except RowError as exc:
            raise ResultsError(f"{path}:{number}: {exc}") from None
    return rows


def read_env(directory: Path | str) -> dict[str, Any]:
    path = Path(directory) / ENV_FILE
    if not path.exists():
        raise ResultsError(f"{path}: missing (not a hyena-bench run directory?)")
    try:
        env = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(env, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return env


def finished_keys(rows: Iterable[Row]) -> set[tuple[Any, ...]]:
    return {row_key(r) for r in rows}


def to_frame(rows: list[Row]):  # -> pandas.DataFrame
    """The rows as a DataFrame with a column for every declared field (None where a row lacks
    it), then any extra fields."""
    import pandas as pd

    from bench.record import NAMES

    return pd.DataFrame(rows, columns=list(dict.fromkeys([*NAMES, *(k for r in rows for k in r)])))


def export(directory: Path | str, fmt: str, out: Path | None = None) -> Path:
    """Write the rows as CSV or Parquet beside results.jsonl (samples as a JSON string in CSV)."""
    frame = to_frame(read_rows(directory))
    out = out or Path(directory) / f"results.{fmt}"
    if fmt == "csv":
        samples = frame["samples_ms"].map(lambda s: json.dumps(list(map(float, s))))
        frame.assign(samples_ms=samples).to_csv(out, index=False)
    elif fmt == "parquet":
        frame.to_parquet(out, index=False)
    else:
        raise ValueError(f"unknown export format {fmt!r} (csv or parquet)")
    return out
