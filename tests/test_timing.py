"""Phase timing: records with wall seconds, kept even when a phase fails."""

from __future__ import annotations

import time

import pytest

from harness.timing import Phases


def test_measure_records_seconds_and_info():
    phases = Phases()
    with phases.measure("index", cache="miss", documents=3) as record:
        time.sleep(0.02)
        record["extra"] = "added by the block"
    rec = phases.records["index"]
    assert rec["cache"] == "miss" and rec["documents"] == 3 and rec["extra"] == "added by the block"
    assert 0.015 <= rec["seconds"] < 5
    assert rec["seconds"] == round(rec["seconds"], 6)


def test_seconds_are_none_while_running():
    phases = Phases()
    with phases.measure("retrieve") as record:
        assert phases.records["retrieve"] is record and record["seconds"] is None
    assert isinstance(record["seconds"], float)


def test_measure_keeps_the_record_when_the_block_raises():
    phases = Phases()
    with pytest.raises(ValueError, match="bad"):
        with phases.measure("rerank", cache="miss") as record:
            record["candidates"] = 10
            time.sleep(0.01)
            raise ValueError("bad")
    rec = phases.records["rerank"]
    assert rec["cache"] == "miss" and rec["candidates"] == 10
    assert isinstance(rec["seconds"], float) and rec["seconds"] >= 0.005


def test_note_and_order():
    phases = Phases()
    phases.note("load", cache="memory")
    with phases.measure("retrieve", cache="miss"):
        pass
    phases.note("rerank", cache="hit", measured_in={"seconds": 1.0})
    assert list(phases.records) == ["load", "retrieve", "rerank"]
    assert phases.records["load"] == {"seconds": None, "cache": "memory"}
    assert phases.records["rerank"] == {"seconds": None, "cache": "hit", "measured_in": {"seconds": 1.0}}


def test_info_seconds_does_not_win_over_the_measurement():
    phases = Phases()
    with phases.measure("x", seconds=123.0):
        pass
    assert phases.records["x"]["seconds"] < 1


def test_remeasuring_replaces_the_record():
    phases = Phases()
    with phases.measure("x", a=1):
        pass
    with phases.measure("x", b=2):
        pass
    assert "a" not in phases.records["x"] and phases.records["x"]["b"] == 2
