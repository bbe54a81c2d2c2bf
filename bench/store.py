"""The results store: a run directory holds env.json and results.jsonl (one JSON object per
(operator, config), appended, flushed and fsynced as each finishes).

What a row holds is declared in bench.record (the results contract other tools read; see
docs/ARCHITECTURE.md); every row read is validated against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from bench import files
from bench.record import Row, RowError, row_key, to_json, validate

RESULTS_FILE = "results.jsonl"
ENV_FILE = "env.json"
# What makes two runs comparable (one report, one compare): the device and the library versions.
ENV_IDENTITY = ("device.type", "device.name", "torch", "triton", "flash_attn")
# The longest identity value accepted (a device name reaches titles and file names).
ENV_TEXT = 256


def env_value(env: dict[str, Any], dotted: str) -> Any:
    """env["device"]["name"] for "device.name"; None where a part is missing."""
    value: Any = env
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class ResultsError(Exception):
    """A results directory or file that cannot be used; the message names file and line."""


def write_json_atomic(path: Path, obj: Any) -> None:
    """`obj` as JSON into `path`, whole or not at all (a unique temporary name beside it, so
    concurrent writers never share one); OutputError if it cannot be written."""
    files.write_text_atomic(
        Path(path), json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    )


class ResultsWriter:
    """Appends rows to DIR/results.jsonl durably: one line, written whole and fsynced per row, so
    a killed run loses at most the row being written (a torn last line, ignored on read). A
    write that fails (a full disk) is undone, so the file never ends in half a row, and raised
    as OutputError."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / RESULTS_FILE
        try:
            self._fd = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
            )
            self._repair_tail()
        except OSError as exc:
            raise files.output_error(exc, self.path) from None

    def _repair_tail(self) -> None:
        """A last line without its newline: a row whose newline was not written yet if it
        parses (the newline is added), else a row cut off by a kill (it is dropped)."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        start = max(0, size - files.MAX_LINE_BYTES - 1)
        tail = os.pread(self._fd, size - start, start)
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n") + 1
        if parses(tail[cut:]):
            os.write(self._fd, b"\n")
            return
        warnings.warn(
            f"{self.path}: dropping a torn last line ({len(tail) - cut} bytes)", stacklevel=3
        )
        os.ftruncate(self._fd, start + cut)

    def append(self, row: Row) -> None:
        data = (to_json(row) + "\n").encode()
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)  # no half row left behind
            raise files.output_error(exc, self.path) from None

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def results_path(directory: Path | str) -> Path:
    if not Path(directory).is_dir():
        raise ResultsError(f"{directory}: no such results directory")
    return Path(directory) / RESULTS_FILE


def iter_rows(directory: Path | str) -> Iterator[Row]:
    """The rows of a run directory, streamed: each validated against bench.record as it is read
    (samples as float64 arrays), so memory holds the rows, never the file's text. Only a regular
    file inside the directory is read, below bench.files' caps. A torn last line (no newline,
    not JSON: the run was killed while writing it) is ignored with a warning; a last line that
    parses is a row. Any other bad line raises ResultsError naming file, line and field."""
    path = results_path(directory)
    with opened(path, directory, files.MAX_RESULTS_BYTES) as f:
        try:
            for number, line, ended in files.bounded_lines(f, path):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    if not ended:
                        warnings.warn(f"{path}:{number}: ignoring a torn last line", stacklevel=2)
                        continue
                    raise ResultsError(f"{path}:{number}: not valid JSON ({why(exc)})") from None
                try:
                    yield validate(row)
                except RowError as exc:
                    raise ResultsError(f"{path}:{number}: {exc}") from None
        except files.FileRefused as exc:
            raise ResultsError(str(exc)) from None
        except OSError as exc:
            raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None


def opened(path: Path, directory: Path | str, limit: int) -> BinaryIO:
    """`path` open for reading if bench.files accepts it; ResultsError saying why not."""
    try:
        return files.open_regular(path, Path(directory), limit)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing (not a hyena-bench run directory?)") from None
    except files.FileRefused as exc:
        raise ResultsError(str(exc)) from None


def why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc).split("\n")[0][:80]


def read_rows(directory: Path | str) -> list[Row]:
    """All rows of a run directory (see iter_rows)."""
    return list(iter_rows(directory))


def read_env(directory: Path | str) -> dict[str, Any]:
    """env.json: a JSON object whose identity fields (ENV_IDENTITY) are text or null, read with
    the same care as the rows (a regular file inside the directory, at most MAX_ENV_BYTES)."""
    path = Path(directory) / ENV_FILE
    with opened(path, directory, files.MAX_ENV_BYTES) as f:
        data = f.read(files.MAX_ENV_BYTES + 1)
    if len(data) > files.MAX_ENV_BYTES:  # it grew after the size check
        raise ResultsError(f"{path}: over the {files.MAX_ENV_BYTES:,}-byte limit; refused")
    try:
        env = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({why(exc)})") from None
    if not isinstance(env, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    for field in (*ENV_IDENTITY, "run_id"):
        value = env_value(env, field)
        if value is not None and not (isinstance(value, str) and len(value) <= ENV_TEXT):
            raise ResultsError(f"{path}: {field}: expected text of at most {ENV_TEXT} characters")
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
