"""The results row: every field a row of results.jsonl may hold, declared once.

A row is a JSON object on disk and a plain dict in memory. `FIELDS` says, for each field, its
JSON type, unit, allowed values or range, whether it is part of the row's key, and what it
means. Everything else is derived from it: the fields every row holds (`CONTRACT_FIELDS`), the
key that identifies one measurement (`KEY_FIELDS`: the implementation plus every `Config`
field), a fresh row (`new_row`), validation on read (`validate`) and before write (`problem`),
and the table in docs/ARCHITECTURE.md (`python -m bench.record`).

Adding a field: one `Field(...)` line below, then write it (bench/worker.py or bench/runner.py).
A configuration field is declared on `operators.config.Config` instead and appears here, in the
key and on the command line by itself. Change the meaning or type of an existing field only with
a bump of SCHEMA_VERSION (other tools read these files).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from operators.config import CONFIG_FIELDS, FAMILIES, SAFE_NAME

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "skipped", "timeout")
# Bounds on what one row may hold, so that a hostile file cannot make a table or a file name of
# unbounded size. MAX_SAMPLES: 50x bench.defaults.MAX_REPS (2,000), room for --min-reps on slow
# rows. MAX_TEXT: a reason is one line of an exception (bench.worker.one_line: 500 characters);
# descriptions are a sentence. MAX_ENTRIES: a dict field holds one entry per stage or sensor.
# MAX_FIELDS: the ~50 declared fields plus room for a newer writer's.
MAX_SAMPLES = 100_000
MAX_TEXT = 4096
MAX_ENTRIES = 256
MAX_FIELDS = 256
# JSON integers beyond int64 do not fit a table column (pandas would turn the column into objects).
INT64 = 2**63
# A field this version does not declare (a newer writer's, a plugin's) is kept as it is, if its
# name looks like one of ours: such names become DataFrame columns and CSV headers.
EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
Row = dict[str, Any]


class RowError(ValueError):
    """A row that does not fit the record: names the field and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


@dataclass(frozen=True)
class Field:
    """One field of a results row.

    `type` is the JSON type (float accepts integers; bool is never a number); `items` is the
    type of a list's elements or a dict's values. `contract`: every row holds the field (maybe
    null); `key`: part of what identifies one measurement (resume skips it, compare pairs on
    it). NaN passes a range check: a broken measurement is a value the reports handle, not a
    corrupt file.
    """

    name: str
    type: type
    meaning: str
    unit: str = ""
    contract: bool = False
    key: bool = False
    nullable: bool = True
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern[str] | None = None
    items: type | None = None
    default: Any = None  # its value in a fresh row (new_row)
    finite: bool = False  # NaN and infinities are refused (a time or a count cannot be either)
    max_length: int | None = None  # of a str, a list or a dict (default: MAX_TEXT, MAX_ENTRIES)

    def check(self, value: Any) -> Any:
        """`value` if it fits this field (a samples list becomes a float64 array); RowError
        naming the field otherwise."""
        if value is None:
            if self.nullable:
                return None
            raise RowError(self.name, "must not be null")
        if not is_type(value, self.type):
            raise RowError(self.name, f"expected {self.describe()}, got {shown(value)}")
        if self.choices is not None and value not in self.choices:
            raise RowError(self.name, f"{shown(value)} is not one of {', '.join(self.choices)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise RowError(self.name, f"{shown(value)} is not a safe name ({self.pattern.pattern})")
        if self.type in (int, float):
            self.check_number(value)
        elif self.type in (str, list, dict):
            self.check_length(value)
        if isinstance(value, np.ndarray):  # validated before: samples are float64 already
            return value
        if self.items is not None:
            values = value.values() if isinstance(value, dict) else value
            if not set(map(type, values)) <= ITEM_TYPES[self.items]:
                raise RowError(self.name, f"expected {self.describe()}")
            if isinstance(value, list):
                value = np.asarray(value, dtype=np.float64)  # 8 bytes a sample, not 32
                self.check_items(value)
            else:
                self.check_items(np.fromiter(value.values(), dtype=np.float64, count=len(value)))
        if isinstance(value, dict):
            check_keys(self.name, value)
        return value

    def check_number(self, value: float) -> None:
        if type(value) is int and not -INT64 <= value < INT64:
            raise RowError(self.name, f"{shown(value)} does not fit 64 bits")
        if self.finite and not math.isfinite(value):
            raise RowError(self.name, f"{value!r} is not a finite number")
        self.check_range(value)

    def check_length(self, value: str | list | dict) -> None:
        limit = self.max_length or (MAX_TEXT if isinstance(value, str) else MAX_ENTRIES)
        if len(value) > limit:
            unit = "characters" if isinstance(value, str) else "entries"
            raise RowError(self.name, f"{len(value):,} {unit}, more than {limit:,}")

    def check_items(self, values: np.ndarray) -> None:
        """Range and finiteness of a list's or dict's numbers, vectorised."""
        if self.finite and not np.isfinite(values).all():
            raise RowError(self.name, "holds a value that is not a finite number")
        if self.minimum is not None and (values < self.minimum).any():
            raise RowError(self.name, f"holds a value below {self.minimum:g}")

    def check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise RowError(self.name, f"{shown(value)} is below {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise RowError(self.name, f"{shown(value)} is above {self.maximum:g}")

    def describe(self) -> str:
        """'int >= 1', 'list of float', 'str: ok|oom|...' (for messages and the docs)."""
        text = TYPE_NAMES[self.type]
        if self.items is not None:
            text += f" of {TYPE_NAMES[self.items]}"
        if self.minimum is not None and self.maximum is not None:
            text += f" in {self.minimum:g}..{self.maximum}"
        elif self.minimum is not None:
            text += f" >= {self.minimum:g}"
        if self.choices:
            text += ": " + "|".join(self.choices)
        if self.pattern is not None:
            text += ", a safe name"
        if self.finite:
            text += ", finite"
        return text


TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict"}
# Keys of a dict field (stage names, sensors) reach plot legends and CSV columns.
MAX_KEY = 128
ITEM_TYPES = {float: {int, float}, int: {int}, str: {str}}


def is_type(value: Any, expected: type) -> bool:
    """JSON's types, strictly: True is not a number, 1.0 is not an int."""
    if expected is float:
        return type(value) in (int, float)
    if expected is int:
        return type(value) is int
    if expected is list:
        return type(value) is list or (isinstance(value, np.ndarray) and value.dtype.kind == "f")
    return isinstance(value, expected)


def check_keys(name: str, value: dict) -> None:
    for key in value:
        if len(key) > MAX_KEY or not key.isprintable():
            raise RowError(name, f"key {shown(key)} is not a short printable name")


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def config_fields() -> tuple[Field, ...]:
    """The configuration's fields, from `Config`'s declaration (operators.config)."""
    return tuple(
        Field(
            f.name,
            {"int": int, "str": str}[str(f.type)],
            f.metadata["help"],
            unit=f.metadata["unit"],
            contract=True,
            key=True,
            nullable=False,
            choices=f.metadata["choices"],
            minimum=f.metadata["minimum"],
            maximum=f.metadata["maximum"],
        )
        for f in CONFIG_FIELDS
    )


def _contract(name: str, type_: type, meaning: str, **more: Any) -> Field:
    return Field(name, type_, meaning, contract=True, **more)


FIELDS: tuple[Field, ...] = (
    # --- what was measured (every row) --------------------------------------------------------
    _contract(
        "schema_version",
        int,
        "version of this row format",
        nullable=False,
        minimum=1,
        maximum=SCHEMA_VERSION,
        default=SCHEMA_VERSION,
    ),
    _contract(
        "run_id",
        str,
        "the run that wrote the row (env.json's run_id)",
        nullable=False,
        max_length=128,
    ),
    _contract(
        "op",
        str,
        "implementation name in the plugin table",
        key=True,
        nullable=False,
        pattern=SAFE_NAME,
    ),
    _contract("family", str, "what it computes", nullable=False, choices=FAMILIES),
    _contract("impl_detail", str, "what runs, in words (the implementation's `detail`)"),
    _contract(
        "device", str, "device type it ran on (cpu, cuda)", nullable=False, pattern=SAFE_NAME
    ),
    *config_fields(),
    # --- outcome (every row) ------------------------------------------------------------------
    _contract("status", str, "outcome of the measurement", nullable=False, choices=STATUSES),
    _contract("reason", str, "why the status is not ok (empty when ok)", default=""),
    _contract("reps", int, "timed calls (the length of samples_ms)", minimum=0, default=0),
    _contract(
        "latency_ms_median", float, "median time per call", unit="ms", minimum=0, finite=True
    ),
    _contract(
        "latency_ms_p10",
        float,
        "10th percentile of the time per call",
        unit="ms",
        minimum=0,
        finite=True,
    ),
    _contract(
        "latency_ms_p90",
        float,
        "90th percentile of the time per call",
        unit="ms",
        minimum=0,
        finite=True,
    ),
    _contract(
        "samples_ms",
        list,
        "every timed call's time, in order (empty when not ok)",
        unit="ms",
        items=float,
        nullable=False,
        default=[],
        minimum=0,
        finite=True,
        max_length=MAX_SAMPLES,
    ),
    _contract(
        "peak_mem_bytes",
        int,
        "peak memory above inputs and weights, forward and backward",
        unit="bytes",
        minimum=0,
    ),
    _contract(
        "flops",
        float,
        "analytic work per call, in the family's own convention (operators/counts.py)",
        unit="FLOP",
        minimum=0,
        finite=True,
    ),
    _contract("tflops", float, "flops / median time", unit="TFLOP/s", minimum=0, finite=True),
    _contract(
        "bytes", float, "minimum memory traffic per call", unit="bytes", minimum=0, finite=True
    ),
    _contract("gbps", float, "bytes / median time", unit="GB/s", minimum=0, finite=True),
    _contract(
        "energy_j",
        float,
        "energy per call from NVML (null without a GPU)",
        unit="J",
        minimum=0,
        finite=True,
    ),
    _contract(
        "max_rel_err",
        float,
        "max|out - ref| / max|ref| against the float64 reference",
        minimum=0,
    ),
    _contract(
        "verified",
        bool,
        "the float64 check at verify_batch x verify_seqlen passed (forward, and gradients in "
        "fwd_bwd); null: not checked (verify_reason)",
        default=False,
    ),
    _contract("started_at", str, "when the row started (ISO 8601, UTC)", max_length=64),
    # --- more detail (absent in older or CPU-only runs) ---------------------------------------
    Field("finished_at", str, "when the row finished (ISO 8601, UTC)", max_length=64),
    Field(
        "wall_s",
        float,
        "wall time of the whole row: build, verify, time",
        unit="s",
        minimum=0,
        finite=True,
    ),
    Field(
        "device_name",
        str,
        "device model, when it differs from env.json's device.name",
        max_length=256,
    ),
    Field("threads", int, "torch CPU threads", minimum=1),
    Field("cuda_graph", bool, "timed as CUDA-graph replays"),
    Field("timer", str, "how it was timed, in words"),
    Field("noisy", bool, "p90/p10 above bench.defaults.NOISY_SPREAD"),
    Field(
        "minor_faults_per_call",
        float,
        "minor page faults of the worker per timed call (getrusage ru_minflt over the timed loop)",
        minimum=0,
        finite=True,
    ),
    Field(
        "tokens_per_s",
        float,
        "batch * seqlen / median time",
        unit="tokens/s",
        minimum=0,
        finite=True,
    ),
    Field(
        "verify_batch",
        int,
        "batch of the float64 check: the smallest that runs the timed kernel variant and plan",
        minimum=1,
    ),
    Field("verify_seqlen", int, "sequence length of the float64 check (the timed one)", minimum=1),
    Field("verify_reason", str, "why the row was not checked (verified is null)"),
    Field(
        "max_rel_err_grad",
        float,
        "worst gradient error (inputs and parameters) against float64 autograd (fwd_bwd rows)",
        minimum=0,
    ),
    Field(
        "flops_issued",
        float,
        "FLOPs the code runs per call: matmuls, convolutions, FFTs (operators/counts.py)",
        unit="FLOP",
        minimum=0,
        finite=True,
    ),
    Field(
        "tflops_issued",
        float,
        "flops_issued / median time",
        unit="TFLOP/s",
        minimum=0,
        finite=True,
    ),
    Field(
        "load_1m_start",
        float,
        "host 1-minute load average when the row started",
        minimum=0,
        finite=True,
    ),
    Field(
        "load_1m_end",
        float,
        "host 1-minute load average when the row finished",
        minimum=0,
        finite=True,
    ),
    Field(
        "roofline_fraction",
        float,
        "least time env.json's ceilings allow for flops_issued and bytes, over the median time "
        "(1.0: at the roofline; bench/ceilings.py)",
        minimum=0,
        finite=True,
    ),
    Field(
        "worker_restarted",
        bool,
        "the worker exited after this row (a CUDA error, not OOM); the next ran in a new one",
    ),
    Field("peak_mem_fwd_bytes", int, "peak memory of the forward", unit="bytes", minimum=0),
    Field("peak_mem_bwd_bytes", int, "peak memory of the backward", unit="bytes", minimum=0),
    Field("memory_method", str, "how peak memory was measured, in words"),
    Field("telemetry", dict, "NVML clocks, power, temperature during the row (run --telemetry)"),
    Field("throttled", bool, "the GPU throttled during the row (NVML; null: unknown)"),
    Field(
        "stage_ms",
        dict,
        "time per named stage (run --stages)",
        unit="ms",
        items=float,
        minimum=0,
        finite=True,
    ),
    Field("stage_error", str, "why the stage times are missing"),
    Field(
        "block_calls",
        list,
        "calls in each interleaved block, in order: samples_ms cut into blocks (hyena-bench ab)",
        items=int,
    ),
    # --- where it ran (sharded runs, several devices) ------------------------------------------
    Field("shard", str, "the shard k/n that measured it (run --shard, --executor); null: all"),
    Field("job_id", str, "the scheduler job that measured it (Slurm, submitit's local executor)"),
    Field("worker_device", str, "the device its worker was bound to (cuda:1; run --devices)"),
    Field("worker_pid", int, "process id of the worker that measured it", minimum=1),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
CONTRACT_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.contract)
# What identifies one measurement within a run: resume skips these, compare pairs on them.
KEY_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.key)
# Fields whose values reach file names or HTML ids: checked against SAFE_NAME or a choice list.
SAFE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in FIELDS if f.pattern is not None or (f.key and f.choices)
)


def new_row(**values: Any) -> Row:
    """A row holding every contract field (at its default), updated with `values`."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise KeyError(f"not row fields: {', '.join(unknown)} (declare them in bench.record)")
    row = {name: _fresh(BY_NAME[name].default) for name in CONTRACT_FIELDS}
    row.update(values)
    return row


def _fresh(default: Any) -> Any:
    return list(default) if isinstance(default, list) else default


def row_key(row: Row) -> tuple[Any, ...]:
    return tuple(row[f] for f in KEY_FIELDS)


def validate(row: Any) -> Row:
    """Check a row read from JSON against FIELDS; returns it (samples as a float64 array) or
    raises RowError naming the first bad field. Beyond each field's own check, an ok row must
    be a measurement: a positive median, and percentiles (where given) in order."""
    if not isinstance(row, dict):
        raise RowError("", "expected a JSON object")
    version = row.get("schema_version")
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise RowError(
            "",
            f"schema_version {shown(version)} is not supported "
            f"(this hyena-bench reads up to {SCHEMA_VERSION})",
        )
    if len(row) > MAX_FIELDS:
        raise RowError("", f"{len(row)} fields, more than {MAX_FIELDS}")
    missing = [f for f in CONTRACT_FIELDS if f not in row]
    if missing:
        raise RowError("", f"missing fields {', '.join(missing)}")
    for name, value in row.items():
        spec = BY_NAME.get(name)
        if spec is not None:
            row[name] = spec.check(value)
        elif not (isinstance(name, str) and EXTRA_NAME.fullmatch(name)):
            raise RowError(shown(name), f"not a field name ({EXTRA_NAME.pattern})")
    if row["status"] == "ok":
        check_measured(row)
    return row


def check_measured(row: Row) -> None:
    """What makes an ok row a measurement (a zero or missing median would render as an
    infinite speedup; percentiles out of order as a negative band)."""
    median, p10, p90 = (row[f"latency_ms_{q}"] for q in ("median", "p10", "p90"))
    if median is None or median <= 0:
        raise RowError("latency_ms_median", f"{shown(median)} in an ok row (must be above 0)")
    if p10 is not None and p90 is not None and not p10 <= median <= p90:
        raise RowError(
            "latency_ms_median", f"p10 {p10:g} <= median {median:g} <= p90 {p90:g} does not hold"
        )


def problem(row: Row, strict: bool = False) -> str | None:
    """Why `row` would not load once written (None if it would): the writer's check. `strict`
    also refuses fields FIELDS does not declare (hyena-bench writes only declared fields)."""
    undeclared = sorted(set(row) - set(BY_NAME))
    if strict and undeclared:
        return f"undeclared fields {', '.join(undeclared)}"
    try:
        validate(json.loads(to_json(row)))
    except (RowError, ValueError) as exc:
        return str(exc)
    return None


def to_json(row: Row) -> str:
    """One line of results.jsonl: numpy arrays and scalars as JSON numbers, anything else that
    JSON cannot hold as its text."""
    return json.dumps(row, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)


def markdown_table() -> str:
    """The row contract as a markdown table (docs/ARCHITECTURE.md holds this verbatim)."""
    lines = [
        "| field | type | unit | key | every row | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        null = "" if f.nullable else ", never null"
        cells = (
            f"`{f.name}`",
            f.describe() + null,
            f.unit or "-",
            "yes" if f.key else "",
            "yes" if f.contract else "",
            f.meaning,
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
