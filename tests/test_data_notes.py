"""A dataset's data report (harness.collection.DataReport) reaches the cell result and, when a
count is non-zero, a note under the leaderboard; a tampered report is a note, not a traceback."""

from __future__ import annotations

import json

from tinydata import write_beir

from harness.leaderboard import write_leaderboard
from harness.runner import run_suite
from harness.suite import load_suite

SUITE = """
name = "notes"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
name = "odd"
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}
"""


def run(tmp_path, extra_qrels: str):
    beir = write_beir(tmp_path / "odd")
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + extra_qrels)
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("{beir}", str(beir)))
    outcome = run_suite(load_suite(path), results_dir=tmp_path / "results")
    assert not outcome.failed
    return outcome


def test_counts_go_into_the_cell_and_a_note_under_the_leaderboard(tmp_path):
    outcome = run(tmp_path, "q1\td01\t1\n")  # d01: the corpus has d1
    checks = outcome.results[0].dataset["checks"]
    assert checks["missing_documents"] == 1 and checks["padded_documents"] == 1
    assert checks["examples"]["padded_documents"] == [["d01", "d1"]]
    board = json.loads((outcome.run_dir / "leaderboard.json").read_text())
    notes = [n for n in board["notes"] if n.startswith("dataset odd:")]
    assert len(notes) == 2 and "leading zeros" in notes[1], board["notes"]
    assert "dataset odd:" in (outcome.run_dir / "leaderboard.md").read_text()


def test_a_clean_dataset_adds_no_note(tmp_path):
    outcome = run(tmp_path, "")
    assert not any(n.startswith("dataset odd:") for n in
                   json.loads((outcome.run_dir / "leaderboard.json").read_text())["notes"])


def test_a_tampered_report_is_a_note(tmp_path):
    outcome = run(tmp_path, "")
    path = next((outcome.run_dir / "cells").glob("*.json"))
    data = json.loads(path.read_text())
    data["dataset"]["checks"] = {"missing_documents": "many"}
    path.write_text(json.dumps(data))
    write_leaderboard(outcome.run_dir)
    notes = json.loads((outcome.run_dir / "leaderboard.json").read_text())["notes"]
    assert any("data report" in n and "unreadable" in n and "missing_documents" in n for n in notes), notes
