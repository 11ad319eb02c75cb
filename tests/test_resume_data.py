"""A cell done earlier in a run is kept on resume only if its dataset is still the same: qrels
edited between a killed run and its resume would otherwise leave those cells scored on the old
judgments beside new ones (the cell key holds the dataset's declaration, not its files)."""

from __future__ import annotations

from tinydata import write_beir

from harness.runner import run_suite
from harness.suite import load_suite

SUITE = """
name = "resumedata"
k = 5
metrics = ["nDCG@3"]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "a"
retriever = {plugin = "bm25"}

[[pipelines]]
name = "b"
retriever = {plugin = "bm25", method = "robertson"}
"""


def test_a_cell_computed_on_other_judgments_is_computed_again(tmp_path):
    beir = write_beir(tmp_path / "tiny")
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("{beir}", str(beir)))
    first = run_suite(load_suite(path), pipelines=["a"], results_dir=tmp_path / "results")
    before = first.results[0].metrics["nDCG@3"]
    qrels = beir / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text().replace("q1\td3\t2", "q1\td3\t0"))  # q1's best document, now not relevant
    again = run_suite(load_suite(path), resume=first.run_dir.name, results_dir=tmp_path / "results")
    assert again.run_dir == first.run_dir and again.kept == 0
    assert any("dataset 'tiny' changed since tiny/a/cpu was computed" in n for n in again.notes), again.notes
    a = next(r for r in again.results if r.cell.pipeline == "a")
    assert a.metrics["nDCG@3"] != before


def test_an_unchanged_dataset_keeps_the_cells_done(tmp_path):
    beir = write_beir(tmp_path / "tiny")
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("{beir}", str(beir)))
    first = run_suite(load_suite(path), pipelines=["a"], results_dir=tmp_path / "results")
    again = run_suite(load_suite(path), resume=first.run_dir.name, results_dir=tmp_path / "results")
    assert again.kept == 1 and not any("changed since" in n for n in again.notes)
