"""The results store: durable appends, tolerant of a torn last line, strict otherwise."""

import json

import pytest

from bench import record, store
from tests.bench.rows import good_row

row = good_row


def test_append_and_read_back(tmp_path):
    with store.ResultsWriter(tmp_path) as w:
        w.append(row())
        w.append(row(seqlen=512))
    rows = store.read_rows(tmp_path)
    assert [r["seqlen"] for r in rows] == [256, 512]
    assert store.finished_keys(rows) == {record.row_key(row()), record.row_key(row(seqlen=512))}


def test_torn_last_line_is_ignored_with_a_warning_and_repaired_on_append(tmp_path):
    path = tmp_path / store.RESULTS_FILE
    path.write_text(json.dumps(row()) + "\n" + json.dumps(row(seqlen=512))[:40])
    with pytest.warns(UserWarning, match="torn"):
        assert len(store.read_rows(tmp_path)) == 1
    with pytest.warns(UserWarning, match="torn"), store.ResultsWriter(tmp_path) as w:
        w.append(row(seqlen=1024))
    assert [r["seqlen"] for r in store.read_rows(tmp_path)] == [256, 1024]


def test_corrupted_middle_line_and_newer_schema_are_errors_naming_the_line(tmp_path):
    path = tmp_path / store.RESULTS_FILE
    path.write_text(json.dumps(row()) + "\n{oops\n" + json.dumps(row()) + "\n")
    with pytest.raises(store.ResultsError, match=r"results.jsonl:2: not valid JSON"):
        store.read_rows(tmp_path)
    path.write_text(json.dumps(row(schema_version=record.SCHEMA_VERSION + 1)) + "\n")
    with pytest.raises(store.ResultsError, match=r":1: schema_version"):
        store.read_rows(tmp_path)


def test_missing_directory_and_fields(tmp_path):
    with pytest.raises(store.ResultsError, match="no such results directory"):
        store.read_rows(tmp_path / "nope")
    bad = row()
    del bad["latency_ms_median"]
    (tmp_path / store.RESULTS_FILE).write_text(json.dumps(bad) + "\n")
    with pytest.raises(store.ResultsError, match="missing fields latency_ms_median"):
        store.read_rows(tmp_path)


def test_export_csv_and_parquet(tmp_path):
    with store.ResultsWriter(tmp_path) as w:
        w.append(row())
    csv = store.export(tmp_path, "csv")
    assert "samples_ms" in csv.read_text().splitlines()[0]
    import pandas as pd

    frame = pd.read_parquet(store.export(tmp_path, "parquet"))
    assert list(frame["samples_ms"][0]) == [1.0, 2.0]
