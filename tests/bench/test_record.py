"""The results row record: one declaration per field, validation of every row read, and the
committed runs still load under it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import record, store
from bench.runner import Task, base_row, checked
from operators.config import CONFIG_NAMES, Config
from tests.bench.rows import good_row

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted(p.parent for p in (REPO / "reports").glob("**/results.jsonl"))


good = good_row


def test_every_field_is_declared_once_and_the_key_is_op_plus_config():
    assert len(record.NAMES) == len(set(record.NAMES))
    assert ("op", *CONFIG_NAMES) == record.KEY_FIELDS
    assert set(record.KEY_FIELDS) <= set(record.CONTRACT_FIELDS)
    assert set(record.SAFE_FIELDS) >= {"op", "device", "dtype", "mode", "level"}
    for f in record.FIELDS:
        assert f.meaning and f.name == f.name.lower(), f


def test_a_good_row_validates_and_its_samples_become_a_float_array():
    row = record.validate(json.loads(json.dumps(good())))
    assert isinstance(row["samples_ms"], np.ndarray) and row["samples_ms"].dtype == np.float64
    assert row["samples_ms"].tolist() == [1.0, 2.0]
    assert record.validate(row) is row, "validating twice is harmless"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seqlen": "256"}, "seqlen: expected int"),
        ({"seqlen": 0}, "seqlen: 0 is below 1"),
        ({"batch": True}, "batch: expected int"),
        ({"batch": 1.0}, "batch: expected int"),
        ({"dtype": "fp8"}, "dtype: 'fp8' is not one of fp64, fp32, fp16, bf16"),
        ({"status": "great"}, "status: 'great' is not one of"),
        ({"family": "conv"}, "family: 'conv' is not one of"),
        ({"op": "../../etc/passwd"}, "op: '../../etc/passwd' is not a safe name"),
        ({"op": "Hyena FFT"}, "op: 'Hyena FFT' is not a safe name"),
        ({"device": "cuda/0"}, "device: 'cuda/0' is not a safe name"),
        ({"op": None}, "op: must not be null"),
        ({"latency_ms_median": -1.0}, "latency_ms_median: -1.0 is below 0"),
        ({"latency_ms_median": "fast"}, "latency_ms_median: expected float"),
        ({"samples_ms": [1.0, "2"]}, "samples_ms: expected list of float"),
        ({"samples_ms": [1.0, True]}, "samples_ms: expected list of float"),
        ({"samples_ms": None}, "samples_ms: must not be null"),
        ({"stage_ms": {"a": "b"}}, "stage_ms: expected dict of float"),
        ({"verified": "yes"}, "verified: expected bool"),
        ({"schema_version": 99}, "schema_version 99 is not supported"),
        ({"Bad Name": 1}, "'Bad Name': not a field name"),
    ],
)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(record.RowError, match="^" + message.replace("(", r"\(")):
        record.validate(json.loads(json.dumps(good(**changes))))


def test_a_nan_error_is_a_value_but_a_nan_time_is_refused_and_extra_fields_are_kept():
    row = record.validate(json.loads(json.dumps(good(max_rel_err=math.nan, my_note="x"))))
    assert math.isnan(row["max_rel_err"]) and row["my_note"] == "x"
    for value in (math.nan, math.inf):
        with pytest.raises(record.RowError, match=r"latency_ms_median: .* not a finite number"):
            record.validate(json.loads(json.dumps(good(latency_ms_median=value))))


def test_loading_names_file_line_and_field(tmp_path):
    lines = [json.dumps(good()), json.dumps(good(seqlen=512, mode="sideways"))]
    (tmp_path / store.RESULTS_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(store.ResultsError, match=r"results.jsonl:2: mode: 'sideways' is not one"):
        store.read_rows(tmp_path)


def test_new_row_refuses_undeclared_fields_and_holds_every_contract_field():
    assert set(good()) >= set(record.CONTRACT_FIELDS)
    with pytest.raises(KeyError, match="not row fields: speed"):
        record.new_row(speed=1)


def test_the_writer_check_turns_a_bad_row_into_an_error_row_that_loads():
    identity = base_row(Task("hyena-fft", Config(seqlen=256)), "r", "cpu")
    measured = {k: good()[k] for k in ("reps", "samples_ms", "latency_ms_median")}
    measured.update(latency_ms_p10=1.1, latency_ms_p90=1.9)
    assert checked({**identity, **measured, "status": "ok"}, identity)["status"] == "ok"
    assert checked({**identity, "status": "ok"}, identity)["status"] == "error", "no median"
    bad = checked({**identity, "status": "ok", "speed": 3}, identity)
    assert bad["status"] == "error" and "undeclared fields speed" in bad["reason"]
    bad = checked({**identity, "status": "ok", "reps": np.float32(2.5)}, identity)
    assert bad["status"] == "error" and "reps: expected int" in bad["reason"]
    assert record.problem(bad, strict=True) is None


@pytest.mark.parametrize("directory", COMMITTED, ids=lambda p: p.name)
def test_committed_runs_still_load(directory):
    rows = store.read_rows(directory)
    assert rows and all(r["schema_version"] == 1 for r in rows)


def test_architecture_doc_holds_the_generated_row_table():
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    assert record.markdown_table() in doc, "regenerate it: python -m bench.record"
    for name in record.NAMES:
        assert f"`{name}`" in doc
