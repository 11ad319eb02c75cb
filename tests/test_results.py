"""Results folders: atomic writes, run ids, choosing the run to write, reading results back.

The cell result's model, its validation and the fixture folder written by an older harness:
test_cellresult.py."""

from __future__ import annotations

import json
import os
import types

import pytest

from harness import results
from harness.errors import ResultsError
from harness.results import (
    CELL_SCHEMA,
    MANIFEST,
    RUN_SCHEMA,
    cell_path,
    choose_run_dir,
    load_cell,
    load_run,
    new_run_id,
    read_json,
    run_dirs,
    run_file_path,
    write_atomic,
    write_json,
)


def test_write_atomic_creates_folders_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "b" / "f.txt"
    write_atomic(path, "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    write_atomic(path, "second")
    assert path.read_text() == "second"
    assert os.listdir(path.parent) == ["f.txt"]


def test_write_atomic_failure_keeps_old_content(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    write_atomic(path, "old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_write_atomic_interrupted_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    write_atomic(path, "old")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_write_json_rejects_nan_and_keeps_previous_file(tmp_path):
    path = tmp_path / "cell.json"
    write_json(path, {"metric": 0.5})
    with pytest.raises(ValueError):
        write_json(path, {"metric": float("nan")})
    assert read_json(path) == {"metric": 0.5}
    assert os.listdir(tmp_path) == ["cell.json"]


def test_write_json_round_trip(tmp_path):
    data = {"a": [1, 2.5, None, True], "ü": "ñ", "x": 0.1 + 0.2}
    write_json(tmp_path / "d.json", data)
    assert read_json(tmp_path / "d.json") == data
    text = (tmp_path / "d.json").read_text(encoding="utf-8")
    assert "ñ" in text and text.endswith("\n")


@pytest.fixture
def frozen_clock(monkeypatch):
    fake = types.SimpleNamespace(strftime=lambda fmt, t=None: "20240102-030405", gmtime=lambda: None)
    monkeypatch.setattr(results, "time", fake)
    return "20240102-030405"


def test_new_run_id_suffixes(tmp_path, frozen_clock):
    assert new_run_id(tmp_path) == frozen_clock
    (tmp_path / frozen_clock).mkdir()
    assert new_run_id(tmp_path) == f"{frozen_clock}-2"
    (tmp_path / f"{frozen_clock}-2").mkdir()
    assert new_run_id(tmp_path) == f"{frozen_clock}-3"
    assert new_run_id(tmp_path / "missing") == frozen_clock


def test_new_run_id_format(tmp_path):
    run_id = new_run_id(tmp_path)
    assert len(run_id) == 15 and run_id[8] == "-" and run_id.replace("-", "").isdigit()


def make_run(suite_dir, run_id, status="finished", cells=None):
    folder = suite_dir / run_id
    write_json(folder / MANIFEST, {"schema": RUN_SCHEMA, "suite": "s", "run_id": run_id, "status": status,
                                   "cells": cells or {}})
    return folder


def cell_dict(cell_id: str, slug: str, status: str = "ok") -> dict:
    """The smallest cell result a reader accepts."""
    dataset, pipeline, device = cell_id.split("/")
    return {"schema": CELL_SCHEMA,
            "cell": {"id": cell_id, "key": "k", "slug": slug, "dataset": dataset, "pipeline": pipeline,
                     "device": device},
            "status": status, "metrics": {"AP": 0.5} if status == "ok" else {},
            "error": None if status == "ok" else {"phase": "index", "type": "E", "message": "m"}}


def test_run_dirs_oldest_first_ignoring_other_folders(tmp_path):
    make_run(tmp_path, "20240102-000000")
    make_run(tmp_path, "20240101-000000")
    (tmp_path / "20240103-000000").mkdir()  # no manifest: not a run
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in run_dirs(tmp_path)] == ["20240101-000000", "20240102-000000"]
    assert run_dirs(tmp_path / "missing") == []


def test_run_dirs_orders_suffixes_numerically(tmp_path):
    # eleven runs started in the same second: -10 and -11 are the latest, not the oldest
    names = ["20240101-000000"] + [f"20240101-000000-{n}" for n in range(2, 12)]
    for name in reversed(names):
        make_run(tmp_path, name)
    make_run(tmp_path, "20231231-235959-5")
    assert [p.name for p in run_dirs(tmp_path)] == ["20231231-235959-5"] + names


def test_choose_run_dir_new_when_nothing_there(tmp_path, frozen_clock):
    assert choose_run_dir(tmp_path / "suite") == (tmp_path / "suite" / frozen_clock, False)


def test_choose_run_dir_resumes_latest_unfinished(tmp_path, frozen_clock):
    make_run(tmp_path, "20240101-000000", status="running")
    latest = make_run(tmp_path, "20240101-000001", status="running")
    assert choose_run_dir(tmp_path) == (latest, True)
    assert choose_run_dir(tmp_path, new=True) == (tmp_path / frozen_clock, False)


def test_choose_run_dir_new_after_finished(tmp_path, frozen_clock):
    make_run(tmp_path, "20240101-000000", status="running")  # older unfinished runs stay as they are
    make_run(tmp_path, "20240101-000001", status="finished")
    assert choose_run_dir(tmp_path) == (tmp_path / frozen_clock, False)


def test_choose_run_dir_resume_named(tmp_path):
    finished = make_run(tmp_path, "20240101-000000", status="finished")
    make_run(tmp_path, "20240101-000001", status="running")
    assert choose_run_dir(tmp_path, resume="20240101-000000") == (finished, True)


def test_choose_run_dir_resume_unknown_lists_runs(tmp_path):
    make_run(tmp_path, "20240101-000000")
    make_run(tmp_path, "20240101-000001")
    with pytest.raises(FileNotFoundError) as info:
        choose_run_dir(tmp_path, resume="nope")
    message = str(info.value)
    assert "no run 'nope'" in message and "runs: 20240101-000000, 20240101-000001" in message
    with pytest.raises(FileNotFoundError, match=r"runs: none"):
        choose_run_dir(tmp_path / "empty", resume="nope")


def test_paths(tmp_path):
    assert cell_path(tmp_path, "a__b__cpu") == tmp_path / "cells" / "a__b__cpu.json"
    assert run_file_path(tmp_path, "a__b__cpu") == tmp_path / "runs" / "a__b__cpu.trec"


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'"text"', b"null", b"42", b'{"schema": "other/1"}', b"\xff\xfe\x00garbage"],
)
def test_load_cell_tolerates_garbage(tmp_path, content):
    path = cell_path(tmp_path, "c")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert load_cell(tmp_path, "c") is None


def test_load_cell(tmp_path):
    assert load_cell(tmp_path, "missing") is None
    write_json(cell_path(tmp_path, "c"), cell_dict("d/p/cpu", "c"))
    found = load_cell(tmp_path, "c")
    assert found.status == "ok" and found.metrics == {"AP": 0.5} and found.to_dict() == cell_dict("d/p/cpu", "c")
    write_json(cell_path(tmp_path, "c"), {"schema": CELL_SCHEMA, "status": "ok"})  # damaged: run again
    assert load_cell(tmp_path, "c") is None
    write_json(cell_path(tmp_path, "c"), cell_dict("d/p/cpu", "other"))  # another cell's file
    assert load_cell(tmp_path, "c") is None


def test_load_run_in_manifest_order_skipping_missing(tmp_path):
    """An unfinished run is read with the cells it has; a finished one missing a cell is damaged."""
    listed = {"d/b/cpu": "d__b__cpu", "d/a/cpu": "d__a__cpu", "d/gone/cpu": "d__gone__cpu"}
    run = make_run(tmp_path, "r", status="running", cells=listed)
    for cell_id, slug in (("d/a/cpu", "d__a__cpu"), ("d/b/cpu", "d__b__cpu")):
        write_json(cell_path(run, slug), cell_dict(cell_id, slug))
    manifest, cells = load_run(str(run))
    assert manifest["run_id"] == "r"
    assert [c.cell.slug for c in cells] == ["d__b__cpu", "d__a__cpu"]
    make_run(tmp_path, "r", status="finished", cells=listed)
    with pytest.raises(ResultsError, match=r"d__gone__cpu\.json: .*the run finished\), got no file"):
        load_run(str(run))


def test_load_run_refuses_a_damaged_cell(tmp_path):
    """A cell that is there but unreadable is not skipped (a leaderboard without it would mislead)."""
    run = make_run(tmp_path, "r", cells={"d/a/cpu": "d__a__cpu"})
    (run / "cells").mkdir()
    (run / "cells" / "d__a__cpu.json").write_text("{broken")
    with pytest.raises(ResultsError, match=r"d__a__cpu\.json: \(file\): expected a JSON object, got invalid JSON"):
        load_run(run)


def test_load_run_on_a_non_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a harness run folder"):
        load_run(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "missing")


def test_manifest_is_plain_json(tmp_path):
    run = make_run(tmp_path, "r", status="running")
    assert json.loads((run / MANIFEST).read_text())["status"] == "running"
