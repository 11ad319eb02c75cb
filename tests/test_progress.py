"""Progress reporters: plain lines for logs, nothing when quiet."""

from __future__ import annotations

import io
import re
import sys

import pytest

from harness.components import Progress
from harness.progress import LineProgress, make_progress


def test_line_progress_writes_a_line_per_finished_task():
    stream = io.StringIO()
    progress = LineProgress(stream)
    with progress:
        with progress.task("bm25: indexing", total=10) as advance:
            advance(3)
            advance()
            assert stream.getvalue() == ""  # nothing until the task finishes
        progress.log("[1/2] tiny/bm25/cpu: nDCG@10 0.5")
        with progress.task("encoding"):
            pass
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"  bm25: indexing: done in \d+\.\ds", lines[0])
    assert lines[1] == "[1/2] tiny/bm25/cpu: nDCG@10 0.5"
    assert lines[2].startswith("  encoding: done in ")


def test_line_progress_defaults_to_stderr(capsys):
    progress = LineProgress()
    progress.log("hello")
    captured = capsys.readouterr()
    assert captured.err == "hello\n" and captured.out == ""


def test_quiet_is_silent(capsys):
    progress = make_progress(quiet=True)
    assert type(progress) is Progress
    with progress:
        progress.log("not shown")
        with progress.task("not shown either", total=3) as advance:
            advance(2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_not_a_terminal_gives_lines(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    progress = make_progress()
    assert isinstance(progress, LineProgress)
    progress.log("x")
    assert capsys.readouterr().err == "x\n"


def test_terminal_gives_rich_bars(monkeypatch):
    pytest.importorskip("rich")
    from harness.progress import RichProgress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress = make_progress()
    assert isinstance(progress, RichProgress)
    with progress:
        with progress.task("work", total=2) as advance:
            advance(2)
        assert progress.bars.tasks == []  # a finished task's bar is removed
