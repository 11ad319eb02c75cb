"""Reading and writing TREC run and qrels files as trec_eval reads them."""

from __future__ import annotations

import pytest

from harness.ranking import Run
from harness.trecfiles import (
    TrecFormatError,
    format_qrels,
    format_run,
    read_qrels,
    read_run,
)


def write(tmp_path, text: str, name: str = "f.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_run_ignores_rank_blank_lines_and_extra_columns(tmp_path):
    path = write(
        tmp_path,
        "\n"
        "q1 Q0 doc#1 1 0.5 tag\n"
        "q1 Q0 doc2 2 0.9 tag extra columns\n"  # rank says 2, score says first
        "  q1 Q0 doc3 3 0.5 tag  \n"
        "q2 Q0 x 1 -1e3 tag\n",
    )
    run = read_run(path)
    assert run.ranked("q1") == [("doc2", 0.9), ("doc3", 0.5), ("doc#1", 0.5)]
    assert run.ranked("q2") == [("x", -1000.0)]


@pytest.mark.parametrize(
    "line, message",
    [
        ("q1 Q0 d 1 0.5", "expected 6 columns"),
        ("q1 Q0 d 1 high tag", "score 'high' is not a number"),
        ("q1 Q0 d 1 inf tag", "score 'inf' is not finite"),
        ("q1 Q0 d 1 nan tag", "score 'nan' is not finite"),
    ],
)
def test_read_run_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, f"q1 Q0 ok 1 1.0 t\n{line}\n")
    with pytest.raises(TrecFormatError, match=message) as info:
        read_run(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_read_run_duplicate_document(tmp_path):
    path = write(tmp_path, "q1 Q0 d 1 1.0 t\nq2 Q0 d 1 1.0 t\nq1 Q0 d 2 0.5 t\n")
    with pytest.raises(TrecFormatError, match=f"{path}:3: document 'd' appears twice"):
        read_run(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(TrecFormatError, match="no such file"):
        read_run(tmp_path / "absent")
    binary = tmp_path / "bin"
    binary.write_bytes(b"q1 Q0 \xff 1 1 t\n")
    with pytest.raises(TrecFormatError, match="not UTF-8"):
        read_qrels(binary)


def test_read_qrels_graded_and_negative(tmp_path):
    path = write(tmp_path, "\n1 0 a 2\n1 0 b -1\n1 0 c#2 0\n2 Q0 a 1\n1 0 a 2\n")
    assert read_qrels(path) == {"1": {"a": 2, "b": -1, "c#2": 0}, "2": {"a": 1}}


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 0 a", "expected 4 columns"),
        ("1 0 a 1 extra", "expected 4 columns"),
        ("1 0 a 0.5", "grade '0.5' is not an integer"),
        ("1 0 x 0", "judged twice \\(1 and 0\\)"),
    ],
)
def test_read_qrels_malformed_lines(tmp_path, line, message):
    path = write(tmp_path, f"1 0 x 1\n{line}\n")
    with pytest.raises(TrecFormatError, match=message) as info:
        read_qrels(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_run_round_trip_is_exact(tmp_path):
    run = Run.from_ranked(
        {"q#1": [("a", 0.1), ("b", 0.1 + 1e-17), ("c", -2.5e-300)], "q2": [("x", 1e300)]}
    )
    text = format_run(run, "my run")
    assert text.splitlines()[0] == f"q#1 Q0 a 1 {run['q#1']['a']!r} myrun"
    assert read_run(write(tmp_path, text)) == run


def test_qrels_round_trip(tmp_path):
    qrels = {"q1": {"a": 2, "b": -1, "c": 0}, "q2": {"d": 1}}
    assert read_qrels(write(tmp_path, format_qrels(qrels))) == qrels


@pytest.mark.parametrize("qid, doc", [("q 1", "d"), ("q1", "d\t2"), ("q1", ""), ("#q", "d")])
def test_ids_that_would_misread_are_refused(qid, doc):
    with pytest.raises(ValueError, match="cannot be written"):
        format_run(Run({qid: {doc: 1.0}}), "t")
    with pytest.raises(ValueError, match="cannot be written"):
        format_qrels({qid: {doc: 1}})


def test_a_run_is_written_a_query_at_a_time_and_atomically(tmp_path):
    from harness.results import write_atomic
    from harness.trecfiles import run_text

    run = Run.from_ranked({"q1": [("a", 2.0), ("b", 1.0)], "q2": [("c", 0.5)], "q3": []})
    pieces = list(run_text(run, "t"))
    assert len(pieces) == 3 and pieces[2] == "" and "".join(pieces) == format_run(run, "t")
    path = tmp_path / "run.trec"
    write_atomic(path, run_text(run, "t"))
    assert read_run(path).scores == {"q1": {"a": 2.0, "b": 1.0}, "q2": {"c": 0.5}}

    def failing():  # a writer failing after some queries leaves the old file whole, and no temporary
        yield from run_text(run, "t")
        raise ValueError("id 'q 4' cannot be written to a TREC file")

    with pytest.raises(ValueError, match="cannot be written"):
        write_atomic(path, failing())
    assert read_run(path).scores == {"q1": {"a": 2.0, "b": 1.0}, "q2": {"c": 0.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["run.trec"]
