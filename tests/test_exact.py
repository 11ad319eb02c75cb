"""Recall of an exact top-k (harness/exact.py) and the built-in ``ExactRecall@k`` metric."""

from __future__ import annotations

import pytest
from fakes import registry_with

from harness.builtin.exact import ExactRecall
from harness.components import Context
from harness.errors import HarnessError
from harness.exact import EMPTY_REFERENCE, ReferenceSpecError, recall_of_exact, reference_spec, top_k
from harness.metrics import MetricError, evaluate, parse_metric, trec_eval_report
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import SuiteError, load_suite

# -- the function ---------------------------------------------------------------------------------

REFERENCE = Run.from_scores({
    "q1": {"a": 4.0, "c": 3.0, "e": 2.0, "f": 1.0},
    "q2": {"x": 1.0},                       # fewer than k documents
    "q3": {},                               # an empty reference
    "q4": {"m": 1.0, "n": 0.5},             # missing from the run
})
RUN = Run.from_scores({
    "q1": {"a": 9.0, "b": 8.0, "c": 7.0, "d": 6.0},
    "q2": {"x": 2.0, "y": 1.0},
    "q3": {"z": 1.0},
    "q9": {"a": 1.0},                       # not in the reference: empty reference
})


def test_recall_of_exact_by_hand():
    # k = 2: q1 top-2 {a, b} vs {a, c}: 1/2; q2: {x} found, 1 / min(2, 1) = 1; q3, q9: empty
    # reference, 1.0; q4: nothing retrieved, 0/2.
    assert recall_of_exact(RUN, REFERENCE, 2) == {"q1": 0.5, "q2": 1.0, "q3": 1.0, "q4": 0.0, "q9": 1.0}
    # k = 3: q1 {a, b, c} vs {a, c, e}: 2/3.
    assert recall_of_exact(RUN, REFERENCE, 3)["q1"] == pytest.approx(2 / 3)
    # k = 4: q1 {a, b, c, d} vs {a, c, e, f}: 2/4.
    assert recall_of_exact(RUN, REFERENCE, 4)["q1"] == 0.5
    assert EMPTY_REFERENCE == 1.0


def test_queries_default_to_both_runs_sorted_as_trec_eval_and_can_be_chosen():
    assert list(recall_of_exact(RUN, REFERENCE, 2)) == ["q1", "q2", "q3", "q4", "q9"]
    assert recall_of_exact(RUN, REFERENCE, 2, queries=["q4", "q1"]) == {"q4": 0.0, "q1": 0.5}


def test_a_run_compared_with_itself_is_1_and_plain_mappings_are_accepted():
    assert set(recall_of_exact(REFERENCE, REFERENCE, 3).values()) == {1.0}
    plain = {"q1": {"c": 3.0, "a": 4.0}}
    assert recall_of_exact(plain, {"q1": {"a": 1.0, "z": 0.5}}, 1) == {"q1": 1.0}


def test_ties_at_the_cutoff_are_cut_in_trec_eval_order():
    # Equal scores: trec_eval orders them by document id, descending, so the top 2 of the reference
    # is {d3, d2}, not {d1, d2}.
    reference = Run.from_scores({"q": {"d1": 1.0, "d2": 1.0, "d3": 1.0}})
    assert top_k(reference, "q", 2) == ["d3", "d2"]
    assert recall_of_exact(Run.from_scores({"q": {"d1": 2.0, "d2": 1.0}}), reference, 2) == {"q": 0.5}
    assert recall_of_exact(Run.from_scores({"q": {"d3": 2.0, "d2": 1.0}}), reference, 2) == {"q": 1.0}
    # Scores equal in single precision are ties too, as trec_eval reads them.
    assert top_k(Run.from_scores({"q": {"d1": 1.0, "d2": 1.0 + 1e-12}}), "q", 1) == ["d2"]
    assert top_k(Run.from_scores({"q": {"d1": 1.0 + 1e-12, "d2": 1.0}}), "q", 1) == ["d2"]


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        recall_of_exact(RUN, REFERENCE, 0)


# -- the metric: parsing and validation ---------------------------------------------------------


def test_the_metric_parses_needs_a_cutoff_and_its_label_round_trips():
    metric = parse_metric({"metric": "ExactRecall@10", "reference": {"plugin": "trec-run", "path": "x.trec"}})
    assert isinstance(metric, ExactRecall) and metric.cutoff == 10
    assert metric.label == "ExactRecall(reference={'plugin': 'trec-run', 'path': 'x.trec'})@10"
    assert parse_metric(metric.label).label == metric.label
    with pytest.raises(MetricError, match="needs a cutoff"):
        parse_metric({"metric": "ExactRecall", "reference": {"plugin": "trec-run"}})
    with pytest.raises(MetricError, match="reference: is required"):
        parse_metric("ExactRecall@10")
    with pytest.raises(MetricError, match="spec table with a 'plugin' key"):
        parse_metric({"metric": "ExactRecall@10", "reference": "bm25"})


def test_reference_spec_validates_a_table_like_a_suite():
    registry = registry_with()
    spec = reference_spec({"plugin": "overlap", "weight": 2.0}, registry)
    assert spec.config() == {"plugin": "overlap", "weight": 2.0}
    assert reference_spec(spec) is spec
    with pytest.raises(ReferenceSpecError, match=r"no retriever named 'overlapp' \(did you mean 'overlap'\?\)"):
        reference_spec({"plugin": "overlapp"}, registry)
    with pytest.raises(ReferenceSpecError, match="weigth: unknown parameter") as caught:
        reference_spec({"plugin": "overlap", "weigth": 2.0}, registry)
    assert isinstance(caught.value, HarnessError)


def test_validate_checks_the_nested_reference_spec(write_suite):
    body = SUITE.replace('reference = {plugin = "trec-run", path = "exact.trec"}',
                         'reference = {plugin = "trec-rnu", path = "exact.trec"}')
    with pytest.raises(SuiteError) as caught:
        load_suite(write_suite(body), registry=registry_with())
    assert [p.path for p in caught.value.problems] == ["metrics[0].reference.plugin", "metrics[1].reference.plugin"]
    assert caught.value.problems[0].line == 5  # the line of its table in the multi-line `metrics = [`
    assert "no retriever named 'trec-rnu' (did you mean 'trec-run'?)" in str(caught.value)
    body = SUITE.replace('path = "exact.trec"}', 'path = "exact.trec", pth = 1}', 1)
    with pytest.raises(SuiteError, match=r"metrics\[0\]\.reference\.pth: unknown parameter"):
        load_suite(write_suite(body), registry=registry_with())


def test_a_validated_suite_holds_the_reference_as_a_stage_spec(write_suite, tmp_path):
    _write_runs(tmp_path)
    suite = load_suite(write_suite(SUITE), registry=registry_with())
    metric = suite.metrics[0]
    assert metric.reference.plugin == "trec-run" and metric.reference.cls.name == "trec-run"
    assert metric.config["reference"] == {"plugin": "trec-run", "path": "exact.trec"}  # the label keeps the table


# -- the metric end to end ----------------------------------------------------------------------

# Reference (exact) and two approximations; the suite's k is 5. Judged queries: q1..q5.
EXACT = """\
q1 Q0 d3 1 3.0 exact
q1 Q0 d1 2 2.0 exact
q1 Q0 d7 3 1.0 exact
q1 Q0 d2 4 0.5 exact
q2 Q0 d2 1 3.0 exact
q2 Q0 d7 2 2.0 exact
q2 Q0 d6 3 1.0 exact
q3 Q0 d1 1 2.0 exact
q3 Q0 d5 2 1.0 exact
q3 Q0 d8 3 1.0 exact
q4 Q0 d4 1 1.0 exact
"""
APPROX = """\
q1 Q0 d3 1 3.0 approx
q1 Q0 d7 2 2.0 approx
q1 Q0 d1 3 1.5 approx
q1 Q0 d2 4 1.0 approx
q2 Q0 d6 1 3.0 approx
q2 Q0 d2 2 2.0 approx
q3 Q0 d1 1 2.0 approx
q3 Q0 d5 2 1.0 approx
q4 Q0 d4 1 1.0 approx
q4 Q0 d2 2 0.5 approx
q5 Q0 d1 1 1.0 approx
"""
TRUNCATED = """\
q1 Q0 d3 1 3.0 truncated
q2 Q0 d2 1 3.0 truncated
q3 Q0 d1 1 2.0 truncated
"""
# By hand, @2: q1 {d3, d7} vs {d3, d1}: 1/2; q2 {d6, d2} vs {d2, d7}: 1/2; q3 {d1, d5} vs {d1, d8}
# (d5 and d8 tie; trec_eval puts d8 first): 1/2; q4 {d4, d2} vs {d4}: 1/1; q5: empty reference, 1.
APPROX_AT_2 = {"q1": 0.5, "q2": 0.5, "q3": 0.5, "q4": 1.0, "q5": 1.0}
# @3: q1 {d3, d7, d1} = reference: 1; q2 {d6, d2} vs {d2, d7, d6}: 2/3; q3 {d1, d5} vs {d1, d8, d5}: 2/3.
APPROX_AT_3 = {"q1": 1.0, "q2": 2 / 3, "q3": 2 / 3, "q4": 1.0, "q5": 1.0}
# Truncated to one document, @2: q1 1/2, q2 1/2, q3 1/2, q4 nothing retrieved: 0, q5 empty reference: 1.
TRUNCATED_AT_2 = {"q1": 0.5, "q2": 0.5, "q3": 0.5, "q4": 0.0, "q5": 1.0}

SUITE = """
name = "exact"
k = 5
metrics = [
  {metric = "ExactRecall@2", reference = {plugin = "trec-run", path = "exact.trec"}},
  {metric = "ExactRecall@3", reference = {plugin = "trec-run", path = "exact.trec"}},
  "nDCG@3",
]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "approx"
retriever = {plugin = "trec-run", path = "approx.trec"}

[[pipelines]]
name = "truncated"
retriever = {plugin = "trec-run", path = "truncated.trec"}

[[pipelines]]
name = "exact"
retriever = {plugin = "trec-run", path = "exact.trec"}
"""


def _write_runs(folder):
    for name, text in (("exact", EXACT), ("approx", APPROX), ("truncated", TRUNCATED)):
        (folder / f"{name}.trec").write_text(text)


def _run(write_suite, tmp_path):
    _write_runs(tmp_path)
    registry = registry_with()
    suite = load_suite(write_suite(SUITE), registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    labels = [m.label for m in suite.metrics[:2]]
    return {r["cell"]["pipeline"]: r for r in outcome.results}, labels


def test_end_to_end_hand_computed_values_and_1_for_the_exact_pipeline(write_suite, tmp_path):
    results, (at2, at3) = _run(write_suite, tmp_path)
    for result in results.values():
        assert result["status"] == "ok", result["error"]
    approx, truncated, exact = results["approx"], results["truncated"], results["exact"]
    assert approx["per_query"][at2] == APPROX_AT_2
    assert approx["per_query"][at3] == pytest.approx(APPROX_AT_3)
    assert approx["metrics"][at2] == pytest.approx(sum(APPROX_AT_2.values()) / 5)
    assert approx["metrics"][at3] == pytest.approx(13 / 15)
    assert truncated["per_query"][at2] == TRUNCATED_AT_2
    assert exact["metrics"][at2] == exact["metrics"][at3] == 1.0
    details = approx["evaluation"]["details"][at2]
    assert details["reference"]["plugin"] == "trec-run" and details["reference_depth"] == 5
    assert details["empty_reference"] == 1  # q5


def test_the_reference_run_is_computed_once_and_cached(write_suite, tmp_path):
    results, _ = _run(write_suite, tmp_path)
    phases = {name: r["phases"] for name, r in results.items()}
    # One reference run for both metrics (@2 and @3 share it), in the first cell only; the other
    # cells get it from memory (the exact pipeline's own run is that very run).
    assert [n for n in phases["approx"] if n.startswith("trec-run")] == ["trec-run.index", "trec-run.retrieve"]
    assert phases["approx"]["trec-run.retrieve"]["cache"] == "miss"
    assert phases["truncated"]["trec-run.retrieve"]["cache"] == "memory"
    assert phases["exact"]["retrieve"]["cache"] == "memory"  # the metric of an earlier cell ran it
    assert phases["exact"]["trec-run.retrieve"]["cache"] == "memory"
    # A second run of the suite is served the reference from the artifact cache.
    again, _ = _run(write_suite, tmp_path)
    assert again["approx"]["phases"]["trec-run.retrieve"]["cache"] == "hit"
    assert again["approx"]["metrics"] == results["approx"]["metrics"]


def test_outside_a_runner_the_reference_is_built_on_the_collection(tiny_beir, tmp_path):
    from harness.datasets import DatasetSpec, load_dataset

    _write_runs(tmp_path)
    registry = registry_with()
    collection = load_dataset(DatasetSpec("tiny", "beir", {"path": str(tiny_beir)}), registry, tmp_path)
    metric = parse_metric({"metric": "ExactRecall@2", "reference": {"plugin": "trec-run", "path": "exact.trec"}})
    approx = Run.from_scores({q: {d: s for d, s in docs.items()} for q, docs in _parse(APPROX).items()})
    values = evaluate([metric], collection.qrels, approx, Context(collection=collection, base_dir=tmp_path))
    assert values[metric.label].per_query == APPROX_AT_2
    # Without a collection there is nothing to run the reference on: unavailable, not an error.
    bare = evaluate([metric], collection.qrels, approx, Context())
    assert bare[metric.label].aggregate is None and "unavailable" in bare[metric.label].details
    with pytest.raises(MetricError, match=r"ExactRecall.* needs the collection"):
        trec_eval_report(collection.qrels, approx, [metric])


def _parse(text):
    out = {}
    for line in text.splitlines():
        q, _, d, _, s, _ = line.split()
        out.setdefault(q, {})[d] = float(s)
    return out


# -- the conformance kit ------------------------------------------------------------------------

try:
    from harness.testing import MetricContract
except ImportError:  # pragma: no cover - the kit ships with the core
    MetricContract = object


class TestExactRecallContract(MetricContract):
    """The kit's rules, with a BM25 reference built on the kit's tiny collection (no runner)."""

    component = ExactRecall
    specs = [{"metric": "ExactRecall@5", "reference": {"plugin": "bm25"}},
             {"metric": "ExactRecall@1", "reference": {"plugin": "bm25", "k1": 1.2}}]

    @pytest.fixture(autouse=True)
    def _needs_bm25(self):
        from harness.plugins import get_registry

        if "bm25" not in get_registry().names("retriever"):
            pytest.skip("needs the bm25 plugin (ir-harness-lexical) as the reference")
