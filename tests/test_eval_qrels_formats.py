"""``harness eval`` reads the qrels users have: TREC qrels, BEIR ``qrels/<split>.tsv`` and
``irds:<id>`` (ir_datasets), told by content or chosen with ``--qrels-format``."""

from __future__ import annotations

import gzip

import pytest

from harness import cli
from harness.trecfiles import TrecFormatError, load_qrels, read_qrels

TREC = "q1 0 d1 2\nq1 0 d2 0\nq2 0 d3 1\nq3 0 d9 1\n"
BEIR = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\nq3\td9\t1\n"
QRELS = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}, "q3": {"d9": 1}}
RUN = "q1 Q0 d2 1 3.0 r\nq1 Q0 d1 2 2.0 r\nq2 Q0 d3 1 1.0 r\nq2 Q0 d4 2 0.5 r\n"
MEASURES = ("-m", "nDCG@10", "-m", "AP", "-m", "RR", "-q", "-c")


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture
def run_file(tmp_path):
    return write(tmp_path / "run.trec", RUN)


@pytest.mark.parametrize("content", [
    BEIR,
    BEIR.split("\n", 1)[1],  # no header
    BEIR.replace("\n", "\r\n"),  # CRLF
    "\ufeff" + BEIR,  # a byte order mark
    BEIR.replace("query-id\tcorpus-id\tscore", "qid\tdocid\trelevance"),  # another header word
])
def test_beir_qrels_read_as_trec_ones(tmp_path, content):
    assert load_qrels(write(tmp_path / "test.tsv", content)) == QRELS


def test_eval_gives_the_same_numbers_for_each_format(capsys, tmp_path, run_file):
    trec, beir = write(tmp_path / "qrels.txt", TREC), write(tmp_path / "test.tsv", BEIR)
    gz = tmp_path / "test.tsv.gz"
    gz.write_bytes(gzip.compress(BEIR.encode()))
    code, expected, err = run_cli(capsys, "eval", trec, run_file, *MEASURES)
    assert code == 0 and err == ""
    for qrels, forced in ((beir, ()), (gz, ()), (beir, ("--qrels-format", "beir")), (trec, ("--qrels-format", "trec"))):
        assert run_cli(capsys, "eval", qrels, run_file, *MEASURES, *forced) == (0, expected, "")


def test_beir_checks_are_kept(tmp_path):
    cases = {
        "q1\td1\t1_000\n": ":1: score '1_000' is not an integer",
        "q1\td1\tNaN\n": ":1: score 'NaN' is not an integer",  # not a header: a judgment, checked
        "q1\td1\t1\nq1\td\x01\t1\n": ":2: corpus id 'd\\x01' holds the control character U+0001",
        "q1\td1\t1\nq1\td2\t1\rq2\td3\t1\n": ":2: a carriage return (CR)",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\tscore\n": ":3: score 'score' is not an integer",
        "q1\td1\t1\nq1\td1\t2\n": ":2: query 'q1', document 'd1' judged twice (1 and 2)",
        "q1\td1\t0\n": "no positive judgment",
        "q1\td1\t20000\n": "grade 20000 is outside",
    }
    for number, (content, message) in enumerate(cases.items()):
        path = write(tmp_path / f"q{number}.tsv", content)
        with pytest.raises(TrecFormatError) as info:
            load_qrels(path)
        assert message in str(info.value), (content, str(info.value))
        assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(("content", "message"), [
    ("q1 d1 1\n", ":1: 3 columns not separated by tabs"),
    ("q1 1\n", ":1: cannot tell the qrels format from a line of 2 column(s)"),
    ("q1 0 d1 1 extra\n", ":1: cannot tell the qrels format from a line of 5 column(s)"),
    ("\n\n", ": empty file, expected qrels lines"),
    # the lines disagree: the first one decides, the error names the line and how it was decided
    ("q1\td1\t1\nq1 0 d2 1\n", ":2: expected 3 tab-separated columns 'query-id corpus-id score', got 1; "
                              "read as BEIR qrels (told by line 1: 3 tab-separated columns"),
    ("q1 0 d2 1\nq1\td1\t1\n", ":2: expected 4 columns 'qid iter docid grade', got 3; "
                              "read as TREC qrels (told by line 1: 4 columns"),
])
def test_undecidable_or_mixed_files_name_file_and_line(capsys, tmp_path, run_file, content, message):
    qrels = write(tmp_path / "qrels", content)
    code, out, err = run_cli(capsys, "eval", qrels, run_file)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {qrels}{message}"), err
    assert "--qrels-format" in err or "empty file" in err


@pytest.mark.parametrize(("forced", "content", "message"), [
    ("beir", TREC, ":1: expected 3 tab-separated columns 'query-id corpus-id score', got 1; "
                   "read as BEIR qrels, as --qrels-format beir asks"),
    ("trec", BEIR, ":1: expected 4 columns 'qid iter docid grade', got 3; "
                   "read as TREC qrels, as --qrels-format trec asks"),
])
def test_a_forced_format_that_does_not_fit(capsys, tmp_path, run_file, forced, content, message):
    qrels = write(tmp_path / "qrels", content)
    code, _, err = run_cli(capsys, "eval", qrels, run_file, "--qrels-format", forced)
    assert code == 2 and err.startswith(f"error: {qrels}{message}"), err


def test_trec_reading_is_unchanged(tmp_path):
    notes: list[str] = []
    path = write(tmp_path / "qrels", "\ufeff" + TREC + "q3 0 d9 1\n")
    assert load_qrels(path, notes=notes) == read_qrels(path) == QRELS
    assert len(notes) == 2 and "byte order mark" in notes[0] and "repeated" in notes[1]


def test_unknown_format_and_bad_ids(capsys, tmp_path, run_file, monkeypatch):
    with pytest.raises(TrecFormatError, match="unknown qrels format 'csv'"):
        load_qrels(tmp_path / "x", "csv")
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        cli.main(["eval", str(tmp_path / "q"), str(run_file), "--qrels-format", "csv"])
    assert exited.value.code == 2 and "invalid choice: 'csv'" in capsys.readouterr().err
    with pytest.raises(TrecFormatError, match="expected an ir_datasets id after it"):
        load_qrels("irds:")
    # a file named like an irds id is ambiguous; a missing file that looks like an id gets a hint
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "irds:cranfield", TREC)
    with pytest.raises(TrecFormatError, match="irds:cranfield: both a file and an ir_datasets id: choose with --qr"):
        load_qrels("irds:cranfield")
    assert load_qrels("irds:cranfield", "trec") == load_qrels(tmp_path / "irds:cranfield") == QRELS
    code, _, err = run_cli(capsys, "eval", "cranfield", run_file)
    assert code == 2 and "cranfield: no such file (an ir_datasets id is read with the prefix 'irds:'" in err


def test_unknown_irds_id(capsys, run_file):
    pytest.importorskip("ir_datasets")
    code, _, err = run_cli(capsys, "eval", "irds:cranfeld", run_file)
    assert code == 2
    assert err.startswith("error: irds:cranfeld: unknown ir_datasets id 'cranfeld' (did you mean 'cranfield'?)")


def test_irds_qrels_equal_the_provider_ones(capsys, tmp_path, irds_cranfield):
    """``irds:cranfield`` gives ir_datasets' judgments (raw grades), as a TREC file of them does;
    ``--qrels-format irds`` takes the id without its prefix."""
    import ir_datasets

    from harness.trecfiles import format_qrels

    expected: dict[str, dict[str, int]] = {}
    for row in ir_datasets.load(irds_cranfield).qrels_iter():
        expected.setdefault(row.query_id, {})[row.doc_id] = int(row.relevance)
    notes: list[str] = []
    assert load_qrels(f"irds:{irds_cranfield}", notes=notes) == expected
    assert "raw grades (-1, 1, 2, 3, 4)" in notes[0] and "'grades' mapping is not applied" in notes[0]
    trec = write(tmp_path / "cranfield.qrels", format_qrels(expected))
    run = write(tmp_path / "run", "".join(f"{q} Q0 {d} {r} {10 - r} t\n" for q in ("1", "2", "3")
                                          for r, d in enumerate(("184", "29", "31", "12", "51"), 1)))
    code, out, _ = run_cli(capsys, "eval", trec, run, *MEASURES)
    assert code == 0
    for argv in (("irds:" + irds_cranfield,), (irds_cranfield, "--qrels-format", "irds")):
        code, same, err = run_cli(capsys, "eval", *argv, run, *MEASURES)
        assert (code, same) == (0, out) and err.startswith("note: irds:cranfield: 1837 judgments")


def test_shared_beir_qrels_equal_the_beir_provider(capsys, cranfield_dir, tmp_path):
    """The shared Cranfield ``qrels/test.tsv`` reads as the BEIR provider reads it."""
    from harness.builtin.beir import read_beir_qrels

    path = cranfield_dir / "qrels" / "test.tsv"
    assert load_qrels(path) == read_beir_qrels(path)
