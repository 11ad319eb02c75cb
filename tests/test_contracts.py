"""Run-time contract checks (harness/contracts.py, pipeline.py), metric isolation (metrics.py) and
the guards that keep pytrec_eval away from input that crashes or hangs it (builtin/measures.py).

Each runner test runs a suite in process with fake plugins (defined here, registered with
``registry_with``): the broken cell fails, or the broken metric is unavailable, with a message naming
the plugin, the query and the document, and every other cell and metric is kept. Inputs that crash
or hang pytrec_eval run in a subprocess with a timeout, so a regression fails the test instead of
killing pytest.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from fakes import Reverse, WordOverlap, registry_with

from harness.builtin.measures import ZERO_WITHOUT_RELEVANT, unsafe_queries
from harness.builtin.trec_run import TrecRunRetriever
from harness.collection import Collection, Document
from harness.components import Metric, MetricValue, Retriever
from harness.contracts import FLOAT32_MAX, ContractError, check_run, foreign_policy
from harness.errors import ComponentError
from harness.metrics import MetricError, evaluate, parse_metric, trec_eval_report
from harness.params import Param
from harness.ranking import Run
from harness.results import MANIFEST, read_json
from harness.runner import run_suite
from harness.suite import load_suite
from harness.trecfiles import read_run

ROOT = Path(__file__).resolve().parent.parent

# -- fake plugins -----------------------------------------------------------------------------------


class Given(Retriever):
    """Returns what ``make(qid)`` gives for each query (a dict of scores), wrapped as ``wrap`` says."""

    name = "given"
    wrap = staticmethod(Run)

    def index(self, collection, ctx):
        pass

    def make(self, qid):
        return {"d1": 1.0}

    def retrieve(self, queries, k, ctx):
        return self.wrap({q: self.make(q) for q in queries})


class NaNScores(Given):
    """A NaN score, in a run built from dicts (``Run`` checks nothing then)."""

    name = "nan-scores"

    def make(self, qid):
        return {"d1": 2.0, "d2": float("nan"), "d3": 1.0} if qid == "q2" else {"d1": 1.0}


class HugeScores(Given):
    """A finite score beyond single precision: trec_eval reads it as infinity."""

    name = "huge-scores"
    wrap = staticmethod(Run.from_scores)

    def make(self, qid):
        return {"d3": 1e39, "d1": 2e39} if qid == "q1" else {"d1": 1.0}


class Twice(Given):
    """A document twice in one query: ``Run.from_scores`` refuses it inside the plugin's code."""

    name = "twice"

    def retrieve(self, queries, k, ctx):
        return Run.from_scores({q: [("d1", 1.0), ("d2", 0.5), ("d1", 2.0)] for q in queries})


class Colliding(Given):
    """Ids 1 and "1" in one query's dict: one id once made str, so a document twice."""

    name = "colliding"

    def make(self, qid):
        return {"d1": 1.0, 7: 0.5, "7": 0.25}


class OddIds(Given):
    """Ids no TREC file can hold (whitespace, empty) or that are not strings."""

    name = "odd-ids"
    ids = {"q1": "d 1", "q2": "", "q3": 3}

    def make(self, qid):
        return {"d1": 1.0, self.ids[qid]: 0.5} if qid in self.ids else {"d1": 1.0}


class NumpyScores(Given):
    """Scores as numpy scalars (float64, float32, int64) in a Run given as dicts."""

    name = "numpy-scores"

    def make(self, qid):
        return {"d1": np.float64(3.0), "d2": np.float32(2.0), "d3": np.int64(1)}


class Exits(Given):
    """Calls sys.exit() while retrieving."""

    name = "exits"

    def retrieve(self, queries, k, ctx):
        raise SystemExit(3)


class Stranger(Given):
    """A document the corpus does not have."""

    name = "stranger"

    def make(self, qid):
        return {"d1": 1.0, "d404": 0.5} if qid == "q3" else {"d1": 1.0}


class Asker(Given):
    """A query nobody asked for."""

    name = "asker"

    def retrieve(self, queries, k, ctx):
        return Run({**{q: {"d1": 1.0} for q in queries}, "q-nobody": {"d2": 1.0}})


class Ascending(Given):
    """Scores in ascending order, as dicts given in that order (not trec_eval's)."""

    name = "ascending"

    def make(self, qid):
        return {"d1": 0.1, "d2": 0.2, "d3": 0.3, "d4": 0.4, "d5": 0.5}


class SeenOrder(Metric):
    """Records the order in which it was given each query's documents; scores 1."""

    name = "seen-order"
    cutoff_rule = "none"
    seen: dict = {}

    def evaluate(self, qrels, run, ctx):
        type(self).seen = {q: list(docs) for q, docs in run.items()}
        return MetricValue(1.0, {q: 1.0 for q in run})


class Broken(Metric):
    """A metric that goes wrong the way ``how`` says; ``how = "fine"`` scores 0.5."""

    name = "broken"
    params = {"how": Param(str, "fine", choices=("fine", "nan", "inf", "raise", "string", "stray", "list", "none",
                                                 "object", "details", "exit", "unprintable", "deep", "above"))}
    cutoff_rule = "none"

    def evaluate(self, qrels, run, ctx):
        per_query = {q: 0.5 for q in run}
        how = self.how
        if how == "raise":
            raise RuntimeError("boom")
        if how == "exit":
            raise SystemExit(3)
        if how == "unprintable":
            raise Unprintable()
        if how == "object":
            return {"aggregate": 0.5}
        value = {"nan": float("nan"), "inf": float("inf"), "string": "0.5", "none": None}.get(how, 0.5)
        if how == "stray":
            per_query["q-nobody"] = 0.5
        if how == "list":
            per_query = list(per_query.values())
        details = {"spread": float("nan")} if how == "details" else {}
        if how == "deep":
            for _ in range(5000):
                details = {"inner": details}
        if how == "above":  # upper_bound is 1.0
            value = 1e300
        return MetricValue(value, per_query, details)


class Unprintable(RuntimeError):
    def __str__(self):
        raise ValueError("no words")


FAKES = (WordOverlap, Reverse, Given, NaNScores, HugeScores, Twice, Colliding, OddIds, NumpyScores, Exits, Stranger,
         Asker, Ascending, SeenOrder, Broken)


def suite_text(pipelines: dict[str, str], metrics=("nDCG@3", "AP", "Bpref", "RR@2", "Judged@2")) -> str:
    body = f'name = "contracts"\nk = 5\nmetrics = {json.dumps(list(metrics))}\n'
    body += '\n[[datasets]]\nsource = "beir:{beir}"\n'
    for name, stages in pipelines.items():
        body += f'\n[[pipelines]]\nname = "{name}"\n{stages}\n'
    return body


def run(write_suite, tmp_path, body, *classes):
    registry = registry_with(*FAKES, *classes)
    suite = load_suite(write_suite(body), registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    assert read_json(outcome.run_dir / MANIFEST)["status"] == "finished"
    assert (outcome.run_dir / "leaderboard.md").is_file()
    return outcome, {r["cell"]["pipeline"]: r for r in outcome.results}


def failed_with(cell, *parts):
    assert cell["status"] == "failed", cell["metrics"]
    error = cell["error"]
    assert error["type"] == "ContractError", error
    for part in parts:
        assert part in error["message"], (part, error["message"])
    return error


# -- contract violations fail their cell, naming plugin, query and document ---------------------------


def test_nan_scores_fail_that_cell_naming_plugin_query_and_document(write_suite, tmp_path):
    outcome, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "bad": 'retriever = {plugin = "nan-scores"}',
        "bad-reranked": 'retriever = {plugin = "nan-scores"}\nranker = {plugin = "reverse", depth = 2}'}))
    assert cells["good"]["status"] == "ok" and cells["good"]["metrics"]["nDCG@3"] > 0
    error = failed_with(cells["bad"], "retriever 'nan-scores'", "query 'q2'", "document 'd2'", "not finite")
    assert error["phase"] == "retrieve"
    failed_with(cells["bad-reranked"], "retriever 'nan-scores'", "query 'q2'", "document 'd2'")
    assert "failed: ContractError" in (outcome.run_dir / "leaderboard.md").read_text()


def test_a_run_that_breaks_the_contract_is_not_served_from_the_cache_later(write_suite, tmp_path):
    body = suite_text({"bad": 'retriever = {plugin = "nan-scores"}'})
    registry = registry_with(*FAKES)
    for _ in range(2):  # the second run computes it again (not a TrecFormatError on a cached "nan")
        suite = load_suite(write_suite(body), registry=registry)
        outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry, new=True)
        failed_with(outcome.results[0], "retriever 'nan-scores'", "query 'q2'", "document 'd2'")
        assert outcome.results[0]["phases"]["retrieve"]["cache"] == "miss"


def test_scores_beyond_single_precision_fail_the_cell(write_suite, tmp_path):
    _, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "bad": 'retriever = {plugin = "huge-scores"}'}))
    assert cells["good"]["status"] == "ok"
    failed_with(cells["bad"], "retriever 'huge-scores'", "query 'q1'", "single precision")


@pytest.mark.parametrize("plugin, document", [("twice", "d1"), ("colliding", "7")])
def test_a_document_twice_in_a_query_fails_the_cell(write_suite, tmp_path, plugin, document):
    _, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "bad": f'retriever = {{plugin = "{plugin}"}}'}))
    assert cells["good"]["status"] == "ok"
    failed_with(cells["bad"], f"retriever '{plugin}'", "query 'q1'", f"document '{document}'", "twice")


def test_ids_a_trec_file_cannot_hold_fail_the_cell_naming_the_plugin(write_suite, tmp_path):
    _, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "bad": 'retriever = {plugin = "odd-ids"}'}))
    assert cells["good"]["status"] == "ok"
    assert cells["bad"]["status"] == "failed" and "retriever 'odd-ids'" in cells["bad"]["error"]["message"]
    assert cells["bad"]["error"]["type"] in ("ContractError", "ValueError"), cells["bad"]["error"]


def test_numpy_scalar_scores_are_read_as_floats_everywhere(write_suite, tmp_path):
    """np.float64(3.0) once reached the run file and the cache as 'np.float64(3.0)' (refused by
    harness eval, and served from the cache forever), and np.float32 made the metrics unavailable."""
    outcome, cells = run(write_suite, tmp_path, suite_text({"np": 'retriever = {plugin = "numpy-scores"}'}))
    cell = cells["np"]
    assert cell["status"] == "ok" and all(isinstance(v, float) for v in cell["metrics"].values()), cell["metrics"]
    written = read_run(outcome.run_dir / cell["run_file"])
    assert dict(written["q1"]) == {"d1": 3.0, "d2": 2.0, "d3": 1.0}
    _, again = run(write_suite, tmp_path, suite_text({"np": 'retriever = {plugin = "numpy-scores"}'}))
    assert again["np"]["status"] == "ok" and again["np"]["metrics"] == cell["metrics"]  # from the cache


def test_a_plugin_calling_sys_exit_fails_its_cell_not_the_run(write_suite, tmp_path):
    _, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "bad": 'retriever = {plugin = "exits"}'}))
    assert cells["good"]["status"] == "ok"
    assert cells["bad"]["status"] == "failed" and "sys.exit(3)" in cells["bad"]["error"]["message"]


def test_unknown_documents_and_queries_fail_the_cell(write_suite, tmp_path):
    _, cells = run(write_suite, tmp_path, suite_text({
        "good": 'retriever = {plugin = "overlap"}', "stranger": 'retriever = {plugin = "stranger"}',
        "asker": 'retriever = {plugin = "asker"}'}))
    assert cells["good"]["status"] == "ok"
    failed_with(cells["stranger"], "retriever 'stranger'", "query 'q3'", "document 'd404'", "not in the collection")
    failed_with(cells["asker"], "retriever 'asker'", "query 'q-nobody'", "not asked")


def test_a_run_out_of_trec_order_is_sorted_before_metrics_and_later_stages_see_it(write_suite, tmp_path):
    SeenOrder.seen = {}
    outcome, cells = run(write_suite, tmp_path, suite_text(
        {"ascending": 'retriever = {plugin = "ascending"}'}, metrics=("seen-order", "RR@1", "Judged@2")))
    cell = cells["ascending"]
    assert cell["status"] == "ok" and cell["stages"][0]["resorted"] is True
    expected = ["d5", "d4", "d3", "d2", "d1"]  # score descending
    assert SeenOrder.seen and all(docs == expected for docs in SeenOrder.seen.values())
    written = read_run(outcome.run_dir / cell["run_file"])
    assert all(list(docs) == expected for docs in written.scores.values())
    # Judged@2 on the first two in trec_eval's order: d5 and d4 (q4 judges d4; q3 judges d5)
    assert cell["per_query"]["Judged@2"] == {"q1": 0.0, "q2": 0.0, "q3": 0.5, "q4": 0.5, "q5": 0.0}


def test_a_ranker_gets_the_sorted_run(write_suite, tmp_path):
    _, cells = run(write_suite, tmp_path, suite_text(
        {"reranked": 'retriever = {plugin = "ascending"}\nranker = {plugin = "reverse", depth = 2}'}))
    cell = cells["reranked"]
    assert cell["status"] == "ok"
    # reverse puts the top two of the *sorted* run (d5, d4) in reverse order: d4, d5, then d3, d2, d1
    assert cell["per_query"]["Judged@2"]["q4"] == 0.5 and cell["stages"][0]["resorted"] is True


# -- the trec-run retriever: foreign ids dropped and counted ------------------------------------------


class StrictReplay(TrecRunRetriever):
    """trec-run without its declaration: foreign ids fail the cell."""

    name = "strict-replay"
    foreign_ids = "fail"


def test_trec_run_drops_and_counts_foreign_ids_and_others_fail_on_them(write_suite, tmp_path):
    path = tmp_path / "theirs.trec"
    path.write_text("q1 Q0 d3 1 3.0 x\nq1 Q0 zz-gone 2 2.5 x\nq1 Q0 d1 3 2.0 x\n"
                    "q2 Q0 d2 1 1.0 x\nq2 Q0 yy-gone 2 0.5 x\nq9-other Q0 d1 1 1.0 x\n")
    _, cells = run(write_suite, tmp_path, suite_text({
        "replay": f'retriever = {{plugin = "trec-run", path = "{path}"}}',
        "strict": f'retriever = {{plugin = "strict-replay", path = "{path}"}}'}), StrictReplay)
    replay = cells["replay"]
    assert replay["status"] == "ok"
    assert replay["stages"][0]["foreign"] == {
        "queries": 0, "documents": 2, "pairs": 2, "examples": {"queries": [], "documents": ["zz-gone", "yy-gone"]}}
    # the metrics are those of the run without the foreign documents
    qrels = {"q1": {"d3": 2, "d1": 1}, "q2": {"d2": 2, "d7": 1, "d6": 0}, "q3": {"d5": 1, "d8": 1}, "q4": {"d4": 2},
             "q5": {"d1": 1}}
    kept = {"q1": {"d3": 3.0, "d1": 2.0}, "q2": {"d2": 1.0}, "q3": {"x": 0.0}, "q4": {"x": 0.0}, "q5": {"x": 0.0}}
    expected = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(kept)
    assert replay["metrics"]["AP"] == pytest.approx(sum(v["map"] for v in expected.values()) / 5, abs=1e-12)
    failed_with(cells["strict"], "retriever 'strict-replay'", "query 'q1'", "document 'zz-gone'")


def test_foreign_ids_is_a_declared_policy():
    assert foreign_policy(TrecRunRetriever) == "drop" and foreign_policy(WordOverlap) == "fail"
    assert foreign_policy(TrecRunRetriever(path="x")) == "drop"

    class Odd(WordOverlap):
        foreign_ids = "ignore"

    with pytest.raises(ComponentError, match="foreign_ids must be 'fail' or 'drop'"):
        foreign_policy(Odd)


# -- the checks themselves, on runs of every kind ----------------------------------------------------


COLLECTION = Collection("c", [Document(f"d{i}", "x") for i in range(6)], {"q1": "a", "q2": "b"}, {})
DOC_IDS = [d.id for d in COLLECTION.docs]


def check(run, **kw):
    return check_run(run, "retriever 'x'", COLLECTION.queries, COLLECTION, **kw)


@pytest.mark.parametrize("build", [
    lambda s: Run({"q1": {"d1": 1.0, "d2": s}}),
    lambda s: Run.from_ranked({"q1": [("d2", s), ("d1", 1.0)]}),  # first: kept as given
    lambda s: Run.from_arrays(["q1", "q2", "q2"], ["d1", "d1", "d2"], [1.0, 0.5, s]),
    lambda s: Run.from_topk(["q1", "q2"], DOC_IDS, np.array([[0, 2], [1, -1]]), np.array([[1.0, s], [2.0, 0.0]])),
])
@pytest.mark.parametrize("score, words", [(float("nan"), "not finite"), (float("inf"), "not finite"),
                                          (-float("inf"), "not finite"), (3.5e38, "single precision"),
                                          (-1e300, "single precision")])
def test_scores_are_checked_however_the_run_was_built(build, score, words):
    try:
        run = build(score)
    except ValueError as exc:  # Run's own constructors refuse some (in a plugin: see test_..._twice)
        assert "not finite" in str(exc) or "no score below" in str(exc)
        return
    with pytest.raises(ContractError, match=f"retriever 'x': query 'q.', document 'd.': score .* {words}"):
        check(run)


def test_the_largest_single_precision_score_is_accepted():
    assert check(Run.from_scores({"q1": {"d1": FLOAT32_MAX, "d2": -FLOAT32_MAX}})).run is not None


def test_order_ties_by_document_id_descending():
    assert not check(Run({"q1": {"d2": 1.0, "d1": 1.0}})).resorted  # trec_eval's order already
    resorted = check(Run({"q1": {"d1": 1.0, "d2": 1.0}}))
    assert resorted.resorted and list(resorted.run["q1"]) == ["d2", "d1"]
    # 1.0 and 1.0 + 1e-12 are one single-precision value: a tie, broken by id
    assert not check(Run({"q1": {"d2": 1.0, "d1": 1.0 + 1e-12}})).resorted
    assert check(Run({"q1": {"d1": 1.0 + 1e-12, "d2": 1.0}})).resorted
    # a built run is in order when read, whatever its dicts' order
    assert not check(Run.from_scores({"q1": {"d1": 0.1, "d2": 0.2}})).resorted


def test_unknown_ids_in_array_runs():
    with pytest.raises(ContractError, match="query 'q2', document 'gone'"):
        check(Run.from_arrays(["q1", "q2"], ["d1", "gone"], [1.0, 1.0]))
    with pytest.raises(ContractError, match="query 'q1', document 'gone'"):
        check(Run.from_topk(["q1"], ["gone", "d1"], np.array([[1, 0]]), np.array([[2.0, 1.0]])))
    # a vocabulary larger than the documents used: only those used are looked up
    wide = Run.from_topk(["q1"], [*DOC_IDS, "unused"], np.array([[0, 1]]), np.array([[2.0, 1.0]]))
    assert check(wide).dropped is None


def test_ids_equal_to_the_corpus_ids_in_other_objects_are_known():
    """Ids read from a file (an index loaded from the cache, say) are other str objects than the
    corpus's: looked up by value, each distinct object once."""
    copies = ["".join(["d", str(i)]) for i in range(6)]
    assert all(c is not d for c, d in zip(copies, DOC_IDS, strict=True))
    run = Run.from_scores({"q1": {copies[1]: 1.0, DOC_IDS[2]: 0.5}, "q2": {copies[1]: 1.0, copies[3]: 0.2}})
    assert check(run).run is run
    with pytest.raises(ContractError, match="query 'q2', document 'd6'"):
        check(Run.from_scores({"q1": {copies[1]: 1.0}, "q2": {"".join(["d", "6"]): 1.0}}))


def test_drop_counts_what_it_drops():
    out = check(Run({"q1": {"d1": 2.0, "gone": 1.0, "d2": 0.5}, "q-other": {"d1": 1.0, "x": 0.0}}), foreign="drop")
    assert out.run.scores == {"q1": {"d1": 2.0, "d2": 0.5}}
    assert out.dropped == {"queries": 1, "documents": 2, "pairs": 3,  # documents: every unknown id in the run
                           "examples": {"queries": ["q-other"], "documents": ["gone", "x"]}}
    assert check(Run({"q1": {"d1": 1.0}}), foreign="drop").dropped is None


def test_scores_that_are_not_numbers_are_refused():
    with pytest.raises(ContractError, match="document 'd1': score '1' is str, not a number"):
        check(Run({"q1": {"d1": "1"}}))
    with pytest.raises(ContractError, match="score True is bool"):
        check(Run({"q1": {"d1": True}}))
    with pytest.raises(ContractError, match=r"returned dict, not a harness\.ranking\.Run"):
        check({"q1": {"d1": 1.0}})


# -- metric isolation ----------------------------------------------------------------------------------


BROKEN = ["nan", "inf", "raise", "string", "stray", "list", "none", "object", "details", "exit", "unprintable", "deep",
          "above"]


def test_a_broken_metric_is_unavailable_with_the_reason_and_everything_else_is_kept(write_suite, tmp_path):
    metrics = ["nDCG@3", "AP", "broken", *[f"broken(how={how!r})" for how in BROKEN], "Bpref", "RR"]
    outcome, cells = run(write_suite, tmp_path, suite_text({
        "overlap": 'retriever = {plugin = "overlap"}',
        "reranked": 'retriever = {plugin = "overlap"}\nranker = {plugin = "reverse", depth = 2}'}, metrics=metrics))
    notes = json.loads((outcome.run_dir / "leaderboard.json").read_text())["notes"]
    failed = [n for n in notes if " failed in cell " in n]  # a blank value says why under the leaderboard
    assert len(failed) == 5 and "and 21 more failed metric values" in notes[notes.index(failed[-1]) + 1], notes
    reasons = {"nan": "nan (not a finite number)", "inf": "inf (not a finite number)",
               "raise": "raised RuntimeError: boom", "string": "returned '0.5' (str), not a number",
               "stray": "per-query values for 1 query not among the 5 evaluated (e.g. 'q-nobody')",
               "list": "per-query values are list, not a dict", "none": "returned no value",
               "object": "returned dict, not a MetricValue", "details": "details are not JSON data",
               "exit": "raised SystemExit: 3", "unprintable": "raised Unprintable: (its message cannot be printed)",
               "deep": "details are not JSON data (RecursionError", "above": "above its declared upper_bound 1.0"}
    for cell in cells.values():
        assert cell["status"] == "ok", cell["error"]
        for label in ("nDCG@3", "AP", "Bpref", "RR"):
            assert isinstance(cell["metrics"][label], float)
        assert cell["metrics"]["broken"] == 0.5 and cell["per_query"]["broken"]["q1"] == 0.5
        for how in BROKEN:
            label = f"broken(how={how!r})"
            assert cell["metrics"][label] is None and label not in cell["per_query"]
            why = cell["evaluation"]["details"][label]
            assert why["unavailable"].startswith(label) and reasons[how] in why["unavailable"], why
            assert why["failed"] is True


def test_a_raising_metric_in_a_shared_batch_leaves_the_others_of_the_batch():
    qrels, run = {"q1": {"d1": 1}}, Run.from_scores({"q1": {"d1": 1.0}})
    registry = registry_with(Broken)
    metrics = [parse_metric(m, registry) for m in ("broken", "broken(how='raise')", "broken(how='nan')")]
    values = evaluate(metrics, qrels, run)  # one evaluate_batch for the three: raises, then one at a time
    assert values["broken"].aggregate == 0.5 and values["broken"].per_query == {"q1": 0.5}
    assert values["broken(how='raise')"].aggregate is None and values["broken(how='nan')"].aggregate is None


def test_harness_eval_reports_an_unavailable_metric_as_an_error_not_a_traceback():
    qrels, run = {"q1": {"d1": 1}}, {"q1": {"d1": 1.0}}
    registry = registry_with(Broken)
    for how, words in [("none", "returned no value"), ("nan", "not a finite number"), ("raise", "boom")]:
        metric = parse_metric(f"broken(how={how!r})", registry)
        with pytest.raises(MetricError, match=f"broken\\(how='{how}'\\) is unavailable: .*{words}"):
            trec_eval_report(qrels, run, [metric, parse_metric("AP")])


# -- native evaluators never see input that crashes or hangs them ---------------------------------------


def python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


CRASHES = """
    from harness.metrics import evaluate, parse_metric
    metrics = [parse_metric(m) for m in {metrics!r}]
    for qrels, run in {cases!r}:
        values = evaluate(metrics, qrels, run)
        print({{label: v.per_query for label, v in values.items()}})
"""


def test_an_empty_ranking_with_ap_and_bpref_does_not_crash():
    """pytrec_eval segfaults on this as the first query of a process (``map`` and ``bpref``); a
    judged query whose judgments are all negative does too. Each is 0 for every measure here:
    nothing relevant is retrieved (a negative grade is never relevant, and gains nothing)."""
    cases = [({"q1": {"d1": 1}}, {"q1": {}}), ({"q1": {"d1": -1}}, {"q1": {"d1": 1.0}})]
    for case in cases:
        done = python(CRASHES.format(metrics=["AP", "Bpref", "nDCG", "P@10", "RR@5", "Rprec", "R@10"], cases=[case]))
        assert done.returncode == 0, (case, done.returncode, done.stderr[-2000:])
        values = ast.literal_eval(done.stdout.strip())
        assert values and all(pq == {"q1": 0.0} for pq in values.values()), values


def test_harness_eval_c_on_a_judged_query_without_results_does_not_crash(tmp_path):
    (tmp_path / "qrels").write_text("q1 0 d1 1\nq2 0 d1 1\n")
    (tmp_path / "run").write_text("q2 Q0 d1 1 1.0 x\n")
    done = subprocess.run([sys.executable, "-m", "harness", "eval", str(tmp_path / "qrels"), str(tmp_path / "run"),
                           "-c"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = dict(line.split("\t")[0::2] for line in done.stdout.splitlines())
    assert float(lines["AP".ljust(22)]) == 0.5 and float(lines["Bpref".ljust(22)]) == 0.5


def test_ndcg_on_a_query_with_only_negative_judgments_does_not_hang():
    """After a query with many relevance levels, trec_eval evaluates a query whose judgments are
    all negative with the previous query's count of levels, read from a freed buffer: with the
    memory reused, nDCG loops for (nearly) ever. Reproduced on pytrec_eval-terrier 0.5.11."""
    done = python("""
        from harness.metrics import evaluate, parse_metric
        ndcg = [parse_metric("nDCG"), parse_metric("nDCG@10")]
        evaluate(ndcg, {"a": {f"d{i}": i for i in range(1000)}}, {"a": {"d0": 1.0}})
        junk = [b"\\x7f" * 8000 for _ in range(200)]  # the freed buffer, reused
        values = evaluate(ndcg, {"c": {"d3": -1}}, {"c": {"d3": 1.0, "d5": 2.0}})
        print(values["nDCG"].per_query, values["nDCG@10"].per_query)
    """, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["{'c':", "0.0}", "{'c':", "0.0}"]


def test_guarded_values_equal_pytrec_eval_on_equivalent_safe_input():
    """The values given without pytrec_eval equal pytrec_eval's on inputs it handles safely and
    that trec_eval scores the same: an empty ranking as a ranking of one unjudged document (no
    measure here counts retrieved documents: each sums what is relevant among them), a query whose
    judgments are all negative with a grade-0 judgment of a document nobody retrieves added (a
    judged non-relevant document: it is never relevant, gains nothing, and bpref counts it only
    once a relevant document is retrieved). Every family and parameter, -J included."""
    qrels = {"empty": {"d1": 2, "d2": 0}, "negative": {"d1": -1, "d2": -2}, "both": {"d1": -1},
             "fine": {"d1": 1, "d3": 2, "d4": 0}}
    run = {"empty": {}, "negative": {"d1": 2.0, "d2": 1.0, "d9": 0.5}, "both": {}, "fine": {"d3": 1.0, "d4": 2.0}}
    assert sorted(unsafe_queries(qrels, run)) == ["both", "empty", "negative"]
    labels = ["AP", "AP@2", "nDCG", "nDCG@2", "P@2", "R@2", "RR", "RR@1", "Rprec", "Bpref", "AP(rel=2)",
              "P(rel=2,judged_only=True)@2", "nDCG(judged_only=True)", "Bpref(rel=2)", "RR(judged_only=True)"]
    values = evaluate([parse_metric(m) for m in labels], qrels, Run.from_scores(run))
    safe_qrels = {q: {**j, "never-retrieved": 0} if max(j.values()) < 0 else j for q, j in qrels.items()}
    safe_run = {q: docs or {"never-judged": 0.0} for q, docs in run.items()}
    measures = {"AP": "map", "AP@2": "map_cut_2", "nDCG": "ndcg", "nDCG@2": "ndcg_cut_2", "P@2": "P_2",
                "R@2": "recall_2", "RR": "recip_rank", "RR@1": "recip_rank", "Rprec": "Rprec", "Bpref": "bpref",
                "AP(rel=2)": "map", "P(rel=2,judged_only=True)@2": "P_2", "nDCG(judged_only=True)": "ndcg",
                "Bpref(rel=2)": "bpref", "RR(judged_only=True)": "recip_rank"}
    for label in labels:
        metric = parse_metric(label)
        request = measures[label].replace("_cut_", "_cut.").replace("P_", "P.").replace("recall_", "recall.")
        expected = pytrec_eval.RelevanceEvaluator(
            safe_qrels, {request}, relevance_level=metric.config.get("rel", 1),
            judged_docs_only_flag=metric.config.get("judged_only", False)).evaluate(safe_run)
        for qid in qrels:
            want = expected[qid][measures[label]]
            if label == "RR@1":
                want = want if want >= 1 else 0.0
            assert values[label].per_query[qid] == want, (label, qid)
        assert all(values[label].per_query[q] == 0.0 for q in ("empty", "negative", "both"))
    assert {"map", "bpref", "ndcg", "recip_rank"} <= ZERO_WITHOUT_RELEVANT
