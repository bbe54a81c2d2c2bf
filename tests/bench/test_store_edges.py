"""The results store at its edges (bench/store.py): the writer's repair of a file's last line,
a write that stops part-way or fails, every reason a directory or env.json is refused with the
exact words a user reads, and the frame and export a report is built from.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from bench import files, record, store
from tests.bench.rows import good_row


def write_rows(directory: Path, *lines: str) -> Path:
    path = directory / store.RESULTS_FILE
    path.write_text("".join(lines))
    return path


def test_env_value_walks_dotted_names():
    env = {"device": {"type": "cpu", "name": None}, "torch": "2.5", "cpu": "flat"}
    assert store.env_value(env, "device.type") == "cpu"
    assert store.env_value(env, "torch") == "2.5"
    assert store.env_value(env, "device.name") is None
    assert store.env_value(env, "device.sm.count") is None  # past a missing part
    assert store.env_value(env, "cpu.torch_threads") is None  # past a value that is no object
    assert store.env_value(env, "triton") is None


def test_json_is_written_whole_sorted_and_readable(tmp_path):
    path = tmp_path / "env.json"
    store.write_json_atomic(path, {"b": 1, "a": {"path": Path("/x")}})
    assert path.read_text() == '{\n  "a": {\n    "path": "/x"\n  },\n  "b": 1\n}\n'


def test_the_writer_appends_one_line_per_row(tmp_path):
    with store.ResultsWriter(tmp_path) as w:
        w.append(good_row())
        w.append(good_row(seqlen=512))
    lines = (tmp_path / store.RESULTS_FILE).read_text().split("\n")
    assert lines[2] == "" and len(lines) == 3
    assert json.loads(lines[1])["seqlen"] == 512


def test_a_write_that_stops_part_way_is_continued(tmp_path, monkeypatch):
    real_write = os.write
    calls = []

    def short_write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:7]))  # at most 7 bytes per call

    synced = []
    monkeypatch.setattr(os, "write", short_write)
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    with store.ResultsWriter(tmp_path) as w:
        w.append(good_row())
        assert synced == [w._fd]
    monkeypatch.undo()
    assert len(calls) > 2
    text = (tmp_path / store.RESULTS_FILE).read_text()
    assert text == record.to_json(good_row()) + "\n"


@pytest.mark.parametrize(
    ("code", "words"), [(errno.ENOSPC, "disk full"), (errno.EACCES, "cannot write")]
)
def test_a_failed_write_leaves_no_half_row(tmp_path, monkeypatch, code, words):
    with store.ResultsWriter(tmp_path) as w:
        w.append(good_row())
        before = (tmp_path / store.RESULTS_FILE).read_bytes()
        real_write = os.write
        writes = []

        def failing(fd: int, data: bytes) -> int:
            if writes:
                raise OSError(code, os.strerror(code))
            writes.append(1)
            return real_write(fd, bytes(data[:10]))  # half a row, then the disk fills

        monkeypatch.setattr(os, "write", failing)
        with pytest.raises(files.OutputError) as caught:
            w.append(good_row(seqlen=512))
        monkeypatch.undo()
    assert str(caught.value) == f"{words}: {tmp_path / store.RESULTS_FILE}: {os.strerror(code)}"
    assert (tmp_path / store.RESULTS_FILE).read_bytes() == before


def test_a_writer_that_cannot_open_says_so(tmp_path):
    (tmp_path / store.RESULTS_FILE).mkdir()
    with pytest.raises(files.OutputError, match=r"cannot write: .*results\.jsonl"):
        store.ResultsWriter(tmp_path)


def test_the_writer_repairs_only_an_unfinished_last_line(tmp_path):
    row = json.dumps({"a": 1})
    path = write_rows(tmp_path, "")
    store.ResultsWriter(tmp_path).close()
    assert path.read_text() == ""
    path.write_text(row + "\n")
    store.ResultsWriter(tmp_path).close()
    assert path.read_text() == row + "\n"
    path.write_text(row)  # one parsed row, its newline not yet written
    store.ResultsWriter(tmp_path).close()
    assert path.read_text() == row + "\n"
    path.write_text(row + "\n" + '{"a": ')
    with pytest.warns(UserWarning) as caught:
        store.ResultsWriter(tmp_path).close()
    assert str(caught[0].message) == f"{path}: dropping a torn last line (6 bytes)"
    assert path.read_text() == row + "\n"
    path.write_text(row + "\n" + "[1, 2]")  # JSON, but not a row: torn as well
    with pytest.warns(UserWarning, match=r"\(6 bytes\)"):
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == row + "\n"


def test_the_writer_looks_back_one_line_at_most(tmp_path, monkeypatch):
    """Only the last MAX_LINE_BYTES + 1 bytes are read to find the last newline."""
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 8)
    path = write_rows(tmp_path, '{"a": 1}\n' + "x" * 5)
    with pytest.warns(UserWarning, match=r"\(5 bytes\)"):
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == '{"a": 1}\n'
    # A line longer than the window: the window's start is where the cut falls.
    path.write_text('{"a": 1}\n' + "y" * 20)
    with pytest.warns(UserWarning, match=r"\(9 bytes\)"):
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == '{"a": 1}\n' + "y" * 11


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        (b'{"a": 1}', True),
        (b"[1]", False),
        (b"{", False),
        (b"\xff", False),
        (b"[" * 100_000, False),
    ],
)
def test_parses_means_a_json_object(line, ok):
    assert store.parses(line) is ok


def test_blank_lines_are_skipped_and_a_torn_last_line_warns(tmp_path):
    path = write_rows(tmp_path, "\n", record.to_json(good_row()) + "\n", "  \n", '{"op": ')
    with pytest.warns(UserWarning) as caught:
        rows = store.read_rows(tmp_path)
    assert [r["seqlen"] for r in rows] == [256]
    assert str(caught[0].message) == f"{path}:4: ignoring a torn last line"
    # A last line without its newline that parses is a row.
    write_rows(tmp_path, record.to_json(good_row()) + "\n", record.to_json(good_row(seqlen=512)))
    assert [r["seqlen"] for r in store.read_rows(tmp_path)] == [256, 512]


def test_the_torn_line_warning_points_at_the_code_reading_the_rows(tmp_path):
    """Python prints a warning after the file and line it names: the loop over iter_rows (the
    caller's code), neither bench/store.py's own line nor a frame above the caller."""
    write_rows(tmp_path, record.to_json(good_row()) + "\n", '{"op": ')
    with pytest.warns(UserWarning, match="ignoring a torn last line") as caught:
        for _ in store.iter_rows(tmp_path):  # the line the warning names
            pass
    assert caught[0].filename == __file__
    assert (
        "store.iter_rows(tmp_path)" in Path(__file__).read_text().splitlines()[caught[0].lineno - 1]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops\n", "not valid JSON (Expecting property name enclosed in double quotes)"),
        ("[" * 100_000 + "\n", "not valid JSON (nested too deeply)"),
    ],
)
def test_a_bad_line_is_named_with_its_number(tmp_path, text, message):
    path = write_rows(tmp_path, record.to_json(good_row()) + "\n", text)
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    assert str(caught.value) == f"{path}:2: {message}"


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / store.RESULTS_FILE
    path.write_bytes(b'{"op": "\xff"}\n')
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    assert str(caught.value) == f"{path}:1: not valid JSON (not UTF-8 text)"


def test_a_row_against_the_contract_is_named(tmp_path):
    path = write_rows(tmp_path, record.to_json(good_row(mode="sideways")) + "\n")
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    assert str(caught.value).startswith(f"{path}:1: mode: 'sideways'")


def test_a_directory_without_results_or_with_a_refused_file(tmp_path):
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    path = tmp_path / store.RESULTS_FILE
    assert str(caught.value) == f"{path}: missing (not a hyena-bench run directory?)"
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path / "nope")
    assert str(caught.value) == f"{tmp_path / 'nope'}: no such results directory"
    path.mkdir()
    with pytest.raises(store.ResultsError, match="a directory, not a regular file; refused"):
        store.read_rows(tmp_path)
    path.rmdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jsonl"
    outside.write_text(record.to_json(good_row()) + "\n")
    path.symlink_to(outside)
    with pytest.raises(store.ResultsError, match=r"outside .*; refused"):
        store.read_rows(tmp_path)


def test_a_line_past_the_cap_or_a_failing_disk_is_a_results_error(tmp_path, monkeypatch):
    path = write_rows(tmp_path, record.to_json(good_row()) + "\n")

    def refused(f, p):
        raise files.FileRefused(f"{p}:1: line longer than 8 bytes; refused")
        yield  # a generator, like the real one

    monkeypatch.setattr(files, "bounded_lines", refused)
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    assert str(caught.value) == f"{path}:1: line longer than 8 bytes; refused"

    def failing(f, p):
        raise OSError(errno.EIO, "Input/output error")
        yield

    monkeypatch.setattr(files, "bounded_lines", failing)
    with pytest.raises(store.ResultsError) as caught:
        store.read_rows(tmp_path)
    assert str(caught.value) == f"{path}: cannot read (Input/output error)"


def test_why_names_the_error_in_a_few_words():
    try:
        json.loads("{,")
    except json.JSONDecodeError as exc:
        assert store.why(exc) == "Expecting property name enclosed in double quotes"
    assert store.why(RecursionError("deep")) == "nested too deeply"
    assert store.why(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")) == "not UTF-8 text"
    assert store.why(ValueError("first line\nsecond")) == "first line"
    assert store.why(ValueError("x" * 100)) == "x" * 80


def env_dir(tmp_path: Path, env: object, raw: bytes | None = None) -> Path:
    path = tmp_path / store.ENV_FILE
    path.write_bytes(raw if raw is not None else json.dumps(env).encode())
    return path


def test_read_env_accepts_text_or_null_identities(tmp_path):
    env = {"device": {"type": "cpu", "name": "n" * store.ENV_TEXT}, "torch": None, "run_id": "r"}
    env_dir(tmp_path, env)
    assert store.read_env(tmp_path) == env


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ([1], "expected a JSON object"),
        ({"torch": 2}, "torch: expected text of at most 256 characters"),
        ({"device": {"name": "n" * 257}}, "device.name: expected text of at most 256 characters"),
        ({"run_id": ["x"]}, "run_id: expected text of at most 256 characters"),
        ({"flash_attn": {"v": 1}}, "flash_attn: expected text of at most 256 characters"),
    ],
)
def test_read_env_refuses_what_it_cannot_use(tmp_path, env, message):
    path = env_dir(tmp_path, env)
    with pytest.raises(store.ResultsError) as caught:
        store.read_env(tmp_path)
    assert str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{\n  "a": }', ":2: not valid JSON (Expecting value)"),
        (b'{"a": "\xff"}', ": not valid JSON (not UTF-8 text)"),
        (b"[" * 100_000, ": not valid JSON (nested too deeply)"),
    ],
)
def test_read_env_names_bad_json(tmp_path, raw, message):
    path = env_dir(tmp_path, None, raw)
    with pytest.raises(store.ResultsError) as caught:
        store.read_env(tmp_path)
    assert str(caught.value) == f"{path}{message}"


def test_read_env_refuses_a_file_over_its_cap(tmp_path, monkeypatch):
    path = env_dir(tmp_path, {"a": "x" * 64})
    monkeypatch.setattr(files, "MAX_ENV_BYTES", 32)
    with pytest.raises(store.ResultsError, match="over the 32-byte limit; refused"):
        store.read_env(tmp_path)
    with pytest.raises(store.ResultsError) as caught:
        store.read_env(tmp_path / "nope")
    missing = tmp_path / "nope" / store.ENV_FILE
    assert str(caught.value) == f"{missing}: missing (not a hyena-bench run directory?)"
    assert path.exists()


def test_read_env_refuses_a_file_that_grew_after_the_size_check(tmp_path, monkeypatch):
    path = env_dir(tmp_path, {"a": "x" * 64})
    monkeypatch.setattr(files, "MAX_ENV_BYTES", 32)
    real_open = files.open_regular
    monkeypatch.setattr(files, "open_regular", lambda p, root, limit: real_open(p, root, 1 << 20))
    with pytest.raises(store.ResultsError) as caught:
        store.read_env(tmp_path)
    assert str(caught.value) == f"{path}: over the 32-byte limit; refused"


def test_the_frame_has_every_declared_column_first(tmp_path):
    rows = [good_row(), {**good_row(seqlen=512), "zz_extra": 1, "aa_extra": 2}]
    del rows[0]["gbps"]
    frame = store.to_frame(rows)
    assert list(frame.columns) == [*record.NAMES, "zz_extra", "aa_extra"]
    assert frame["seqlen"].tolist() == [256, 512]
    assert frame["gbps"].isna().all()
    assert pd.isna(frame.loc[0, "zz_extra"]) and frame.loc[1, "aa_extra"] == 2
    assert store.finished_keys(rows) == {record.row_key(r) for r in rows}


def test_export_writes_samples_as_json_text_and_refuses_other_formats(tmp_path):
    with store.ResultsWriter(tmp_path) as w:
        w.append(good_row(samples_ms=[1, 2.5]))
    out = store.export(tmp_path, "csv")
    assert out == tmp_path / "results.csv"
    frame = pd.read_csv(out)
    assert frame["samples_ms"].tolist() == ["[1.0, 2.5]"]
    assert list(frame.columns)[: len(record.NAMES)] == list(record.NAMES)
    elsewhere = store.export(tmp_path, "parquet", tmp_path / "x.parquet")
    assert elsewhere == tmp_path / "x.parquet"
    assert list(pd.read_parquet(elsewhere)["samples_ms"][0]) == [1.0, 2.5]
    import pyarrow.parquet as pq

    assert pq.read_schema(elsewhere).names == list(pd.read_csv(out).columns)  # no index column
    with pytest.raises(ValueError, match="unknown export format 'xlsx' \\(csv or parquet\\)"):
        store.export(tmp_path, "xlsx")


def test_the_results_file_is_private_to_its_writer_and_no_symlink(tmp_path):
    old = os.umask(0o022)
    try:
        store.ResultsWriter(tmp_path).close()
    finally:
        os.umask(old)
    assert (tmp_path / store.RESULTS_FILE).stat().st_mode & 0o777 == 0o644
    other = tmp_path / "other"
    other.mkdir()
    (other / "target").write_text("")
    (other / store.RESULTS_FILE).symlink_to(other / "target")
    with pytest.raises(files.OutputError, match="cannot write"):
        store.ResultsWriter(other)  # O_NOFOLLOW: a planted link is not written through
    assert (other / "target").read_text() == ""


def test_a_clean_file_is_left_alone_without_a_warning(tmp_path):
    import warnings

    path = write_rows(tmp_path, "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.ResultsWriter(tmp_path).close()
        path.write_text('{"a": 1}\n')
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == '{"a": 1}\n'


def test_only_the_torn_line_after_the_last_newline_is_dropped(tmp_path):
    path = write_rows(tmp_path, '{"a": 1}\n{"b": 2}\n{"c": ')
    with pytest.warns(UserWarning) as caught:
        store.ResultsWriter(tmp_path).close()
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert caught[0].filename == __file__  # the warning points at the writer's caller


def test_a_failed_undo_still_reports_the_write_error(tmp_path, monkeypatch):
    with store.ResultsWriter(tmp_path) as w:

        def full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def no_truncate(fd: int, size: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "write", full)
        monkeypatch.setattr(os, "ftruncate", no_truncate)
        with pytest.raises(files.OutputError, match=r"^disk full: "):
            w.append(good_row())
        monkeypatch.undo()


def test_read_env_reads_at_most_one_byte_past_its_cap(tmp_path, monkeypatch):
    data = json.dumps({"a": "x" * 10}).encode()
    env_dir(tmp_path, None, data)
    monkeypatch.setattr(files, "MAX_ENV_BYTES", len(data))  # exactly at the cap: accepted
    asked = []
    real_open = files.open_regular

    class Recording:
        def __init__(self, f):
            self.f = f

        def read(self, n=None):
            asked.append(n)
            return self.f.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(files, "open_regular", lambda *a: Recording(real_open(*a)))
    assert store.read_env(tmp_path) == {"a": "x" * 10}
    assert asked == [len(data) + 1]
