"""The built-in metric families agree with pytrec_eval and ir_measures, query by query.

The fixture holds what trips evaluators up: tied scores, unjudged documents, negative grades,
graded qrels, a judged query missing from the run, a run query without judgments, an empty
ranking, a query judged only non-relevant. ``evaluate`` averages as trec_eval -c by default;
here the reference values get the same treatment explicitly (0 for a judged query without
results, run queries without judgments dropped).
"""

from __future__ import annotations

import ir_measures
import pytest
import pytrec_eval

from harness.builtin.measures import FAMILIES
from harness.metrics import evaluate, parse_metric
from harness.params import check_params
from harness.ranking import Run

QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d4": -1, "d5": 1, "d9": 3},  # d9 never retrieved
    "q2": {"a": 0, "b": -1},  # nothing relevant
    "q3": {"x": 1},  # missing from the run
    "q4": {"y": 2},  # empty ranking
    "q10": {"m": 1, "n": 2, "o": 0, "p": 0},
}
SCORES = {
    "q1": {"d4": 3.0, "u1": 2.5, "d1": 2.0, "d2": 2.0, "d3": 1.0, "u2": 0.5, "d5": 0.25},
    "q2": {"b": 1.0, "x": 0.5, "u": 0.25, "a": 0.25},
    "q4": {},
    "q10": {"o": 4.0, "u": 3.0, "n": 2.5, "m": 2.0, "z": 1.5, "v": 1.0, "p": 1.0},
    "q99": {"d1": 1.0},  # no judgments: ignored
}
# Ties sit at ranks 3-4 and 6-7, so none straddles the cutoffs of RR@k and Judged@k in SPECS:
# ir_measures breaks ties its own way there (see the dedicated tests below). TIE_SPECS cut through
# them, or meet q1's first grade-2 document in a tie, and are checked against pytrec_eval only.
SPECS = [
    "AP", "AP@2", "nDCG", "nDCG@3", "nDCG@5", "P@2", "P@5", "R@2", "R@5", "RR", "RR@1", "RR@2",
    "Rprec", "Bpref", "Judged@2", "Judged@5", "Judged",
    "AP(rel=2)", "P(rel=2)@5", "R(rel=2)@5", "RR(rel=2)", "Rprec(rel=2)",
    "Bpref(rel=2)", "AP(judged_only=True)", "nDCG(judged_only=True)@3", "P(judged_only=True)@2",
    "RR(judged_only=True)", "Rprec(judged_only=True)",
]  # fmt: skip
TIE_SPECS = ["RR@3", "RR(rel=2)@4", "Judged@3", "Judged@6", "RR(judged_only=True)@2"]
# What pytrec_eval is asked for, for each family: (measure, cutoff form).
TREC = {"AP": ("map", "map_cut"), "nDCG": ("ndcg", "ndcg_cut"), "P": (None, "P"),
        "R": (None, "recall"), "RR": ("recip_rank", None), "Rprec": ("Rprec", None),
        "Bpref": ("bpref", None)}  # fmt: skip


def trec_sorted(docs: dict[str, float]) -> list[tuple[str, float]]:
    """trec_eval's order, written out independently of harness.ranking (no float32 subtleties
    in these scores): score descending, then document id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def with_empty_rankings(scores: dict) -> dict:
    """trec_eval -c, done by hand: every judged query present, an empty ranking if need be."""
    return {**{q: {} for q in QRELS}, **scores}


def direct_pytrec_eval(spec: str, scores: dict) -> dict[str, float]:
    """The metric computed by a direct pytrec_eval call (RR@k on the truncated run)."""
    m = parse_metric(spec)
    plain, cut = TREC[m.name]
    cutoff = m.config.get("cutoff")
    judged_only = m.config.get("judged_only", False)
    if cutoff is not None and cut is None:  # RR@k: trec_eval -J drops unjudged, then cut
        keep = {q: {d: s for d, s in docs.items() if QRELS.get(q, {}).get(d, -1) >= 0}
                for q, docs in scores.items()} if judged_only else scores  # fmt: skip
        scores = {q: dict(trec_sorted(docs)[:cutoff]) for q, docs in keep.items()}
        measure = plain
    else:
        measure = plain if cutoff is None else f"{cut}.{cutoff}"
    evaluator = pytrec_eval.RelevanceEvaluator(
        QRELS, {measure}, relevance_level=m.config.get("rel", 1), judged_docs_only_flag=judged_only
    )
    key = measure.replace(".", "_")
    return {q: v[key] for q, v in evaluator.evaluate(scores).items()}


def judged_reference(cutoff: int | None, scores: dict) -> dict[str, float]:
    """Judged@k by its definition: judged (any grade) among the first min(k, n), 0 if n = 0."""
    out = {}
    for q, docs in scores.items():
        if q in QRELS:
            head = [d for d, _ in trec_sorted(docs)][:cutoff]
            out[q] = sum(d in QRELS[q] for d in head) / len(head) if head else 0.0
    return out


def reference(spec: str, scores: dict) -> dict[str, float]:
    if spec.startswith("Judged"):
        return judged_reference(parse_metric(spec).cutoff, scores)
    return direct_pytrec_eval(spec, scores)


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "intersection"])
def test_agrees_with_pytrec_eval(complete):
    metrics = [parse_metric(s) for s in SPECS + TIE_SPECS]
    values = evaluate(metrics, QRELS, Run.from_scores(SCORES), complete=complete)
    scores = with_empty_rankings(SCORES) if complete else SCORES
    for spec in SPECS + TIE_SPECS:
        expected = reference(spec, scores)
        assert values[spec].per_query == pytest.approx(expected, abs=1e-12), spec
        assert values[spec].aggregate == pytest.approx(sum(expected.values()) / len(expected))
    expected_queries = {"q1", "q2", "q3", "q4", "q10"} if complete else {"q1", "q2", "q4", "q10"}
    assert set(values["AP"].per_query) == expected_queries


def test_agrees_with_ir_measures():
    # ir_measures reports the queries it has results for; -c is applied here: 0 for the rest.
    metrics = [parse_metric(s) for s in SPECS]
    values = evaluate(metrics, QRELS, Run.from_scores(SCORES))
    measures = [ir_measures.parse_measure(s) for s in SPECS]
    got = {s: {} for s in SPECS}
    for row in ir_measures.iter_calc(measures, QRELS, {q: d for q, d in SCORES.items() if d}):
        got[str(row.measure)][row.query_id] = row.value
    for spec in SPECS:
        expected = {q: got[spec].get(q, 0.0) for q in QRELS}
        assert values[spec].per_query == pytest.approx(expected, abs=1e-12), spec
        assert values[spec].aggregate == pytest.approx(sum(expected.values()) / len(QRELS)), spec


# A tie across the cutoff: trec_eval ranks "b" (the larger id) first, ir_measures ranks "a".
TIE_QRELS = {"q": {"b": 1, "c": 0}}
TIE_RUN = {"q": {"a": 1.0, "b": 1.0, "c": 0.5}}


def test_rr_cutoff_follows_trec_eval_on_ties():
    values = evaluate([parse_metric("RR@1")], TIE_QRELS, Run.from_scores(TIE_RUN))
    assert values["RR@1"].per_query == {"q": 1.0}
    # trec_eval's order, seen through pytrec_eval: b at rank 1 (RR and P@1 agree).
    direct = pytrec_eval.RelevanceEvaluator(TIE_QRELS, {"recip_rank", "P.1"}).evaluate(TIE_RUN)
    assert direct["q"] == {"recip_rank": 1.0, "P_1": 1.0}
    # ir_measures' RR@k provider breaks the tie by ascending id: a first, RR@1 = 0.
    (row,) = ir_measures.iter_calc([ir_measures.RR @ 1], TIE_QRELS, TIE_RUN)
    assert row.value == 0.0


def test_judged_cutoff_follows_trec_eval_on_ties():
    values = evaluate([parse_metric("Judged@1")], TIE_QRELS, Run.from_scores(TIE_RUN))
    assert values["Judged@1"].per_query == {"q": 1.0}  # b, judged, is first
    (row,) = ir_measures.iter_calc([ir_measures.Judged @ 1], TIE_QRELS, TIE_RUN)
    assert row.value == 0.0  # ir_measures looks at a, unjudged


def test_judged_counts_negative_grades_and_scores_empty_rankings_zero():
    qrels = {"q": {"a": -1, "b": 0}, "e": {"a": 1}}
    values = evaluate([parse_metric("Judged@3")], qrels, Run.from_scores({"q": {"a": 2, "x": 1}}))
    assert values["Judged@3"].per_query == {"q": 0.5, "e": 0.0}


def test_relevance_level_and_judged_only_get_their_own_evaluator():
    # Ranking u (unjudged), a (grade 1), b (grade 2): one evaluate call, three evaluators.
    qrels = {"q": {"a": 1, "b": 2}}
    run = Run.from_scores({"q": {"a": 2.0, "b": 1.0, "u": 3.0}})
    specs = ["P@3", "P(rel=2)@3", "P(judged_only=True)@1", "RR(judged_only=True)@1", "RR@1"]
    values = evaluate([parse_metric(s) for s in specs], qrels, run)
    assert [values[s].aggregate for s in specs] == pytest.approx([2 / 3, 1 / 3, 1.0, 1.0, 0.0])


def test_rr_cutoff_beyond_the_ranking_is_plain_rr():
    run = Run.from_scores(SCORES)
    values = evaluate([parse_metric("RR"), parse_metric("RR@1000")], QRELS, run)
    assert values["RR"].per_query == values["RR@1000"].per_query


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_family_declarations(family):
    assert family.name in {"AP", "nDCG", "P", "R", "RR", "Rprec", "Bpref", "Judged"}
    assert family.summary() and "\n" not in family.summary()
    assert family.upper_bound == 1.0 and family.per_query and not family.requires
    expected_rule = {"P": "required", "R": "required", "Rprec": "none", "Bpref": "none"}
    assert family.cutoff_rule == expected_rule.get(family.name, "optional")
    assert ("cutoff" in family.params) == (family.cutoff_rule != "none")
    for name, param in family.params.items():
        assert name in {"cutoff", "rel", "judged_only"}
        assert not check_params(family.params, {name: param.default})
    # ir_measures' families take the same parameters (plus nDCG's dcg/gains variants).
    assert set(family.params) <= set(getattr(ir_measures, family.name).SUPPORTED_PARAMS)
