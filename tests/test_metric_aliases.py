"""Other tools' metric names (ir_measures', trec_eval's, MRR, other letter cases) as aliases of the
built-in families: each gives pytrec_eval's own value for the trec_eval measure it means, through
``parse_metric`` + ``evaluate`` and through ``harness eval``; it is recorded under the canonical
label (cell keys, cell results, run.json); near misses suggest the alias's family (docs/metrics.md,
"Aliases")."""

from __future__ import annotations

import random
import re

import pytest
import pytrec_eval
from fakes import registry_with

from harness import cli
from harness.builtin.measures import ALIASES, NO_EQUIVALENT, TREC_CUT
from harness.metrics import MetricError, evaluate, parse_metric
from harness.ranking import Run
from harness.results import MANIFEST, read_json
from harness.runner import cell_key, run_suite, suite_fingerprint
from harness.suite import load_suite

# alias → (canonical label, trec_eval measure as pytrec_eval is asked for it, relevance level).
# "recip_rank@10": recip_rank on each query's first 10 documents in trec_eval's order (trec_eval has
# no cut of recip_rank); None: Judged, which trec_eval lacks (checked against its definition).
CASES = {
    # AP: trec_eval map (whole ranking) and map_cut.k
    "AP": ("AP", "map", 1), "MAP": ("AP", "map", 1), "map": ("AP", "map", 1), "Map": ("AP", "map", 1),
    "ap": ("AP", "map", 1), "map(rel=2)": ("AP(rel=2)", "map", 2),
    "AP@10": ("AP@10", "map_cut.10", 1), "MAP@10": ("AP@10", "map_cut.10", 1),
    "map_cut_10": ("AP@10", "map_cut.10", 1), "map_cut.10": ("AP@10", "map_cut.10", 1),
    "map_cut_100": ("AP@100", "map_cut.100", 1), "map_cut.5": ("AP@5", "map_cut.5", 1),
    "map@5": ("AP@5", "map_cut.5", 1),
    # nDCG: trec_eval ndcg has no cutoff, ndcg_cut.k has one
    "nDCG": ("nDCG", "ndcg", 1), "NDCG": ("nDCG", "ndcg", 1), "ndcg": ("nDCG", "ndcg", 1),
    "nDCG@10": ("nDCG@10", "ndcg_cut.10", 1), "NDCG@10": ("nDCG@10", "ndcg_cut.10", 1),
    "ndcg@10": ("nDCG@10", "ndcg_cut.10", 1), "ndcg_cut_10": ("nDCG@10", "ndcg_cut.10", 1),
    "ndcg_cut.10": ("nDCG@10", "ndcg_cut.10", 1), "ndcg_cut@10": ("nDCG@10", "ndcg_cut.10", 1),
    "NDCG_CUT_20": ("nDCG@20", "ndcg_cut.20", 1),
    # P: trec_eval P.k
    "P@10": ("P@10", "P.10", 1), "P_10": ("P@10", "P.10", 1), "P.10": ("P@10", "P.10", 1),
    "p@10": ("P@10", "P.10", 1), "p_10": ("P@10", "P.10", 1), "Precision@10": ("P@10", "P.10", 1),
    "P.20": ("P@20", "P.20", 1),
    "P_5(rel=2)": ("P(rel=2)@5", "P.5", 2), "P(rel=2)@5": ("P(rel=2)@5", "P.5", 2),
    # R: trec_eval recall.k
    "R@100": ("R@100", "recall.100", 1), "Recall@100": ("R@100", "recall.100", 1),
    "recall@100": ("R@100", "recall.100", 1), "RECALL@100": ("R@100", "recall.100", 1),
    "recall_100": ("R@100", "recall.100", 1), "recall.100": ("R@100", "recall.100", 1),
    "r@20": ("R@20", "recall.20", 1), "recall_20": ("R@20", "recall.20", 1),
    # RR: trec_eval recip_rank; RR@k is recip_rank on the first k documents
    "RR": ("RR", "recip_rank", 1), "MRR": ("RR", "recip_rank", 1), "mrr": ("RR", "recip_rank", 1),
    "recip_rank": ("RR", "recip_rank", 1), "rr": ("RR", "recip_rank", 1),
    "RR@10": ("RR@10", "recip_rank@10", 1), "MRR@10": ("RR@10", "recip_rank@10", 1),
    "mrr@10": ("RR@10", "recip_rank@10", 1), "recip_rank@10": ("RR@10", "recip_rank@10", 1),
    "RR@3": ("RR@3", "recip_rank@3", 1), "MRR(rel=2)@3": ("RR(rel=2)@3", "recip_rank@3", 2),
    # Rprec, Bpref
    "Rprec": ("Rprec", "Rprec", 1), "RPrec": ("Rprec", "Rprec", 1), "rprec": ("Rprec", "Rprec", 1),
    "Bpref": ("Bpref", "bpref", 1), "BPref": ("Bpref", "bpref", 1), "bpref": ("Bpref", "bpref", 1),
    "bpref(rel=2)": ("Bpref(rel=2)", "bpref", 2),
    # Judged (ir_measures' definition; no trec_eval measure)
    "Judged@10": ("Judged@10", None, 1), "judged@10": ("Judged@10", None, 1), "JUDGED@5": ("Judged@5", None, 1),
}  # fmt: skip


def seeded(seed: int = 17) -> tuple[dict, dict]:
    """Graded qrels (with unjudged and non-relevant documents) and a run with score ties, every
    judged query in the run and every run query judged (so -c changes nothing)."""
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(1, 16):
        qid = f"q{q}"
        docs = [f"d{rng.randrange(200):03d}" for _ in range(60)]
        docs = list(dict.fromkeys(docs))[:45]
        judged = rng.sample(docs, 20) + [f"x{q}{i}" for i in range(rng.randrange(4))]  # some never retrieved
        qrels[qid] = {d: rng.choice([0, 0, 0, 1, 1, 2, 3]) for d in judged}
        run[qid] = {d: round(rng.uniform(0, 5), 1) for d in docs}  # one decimal: ties
        if q == 5:  # one query whose relevant documents are all beyond rank 10
            qrels[qid] = {d: (2 if i > 30 else 0) for i, d in enumerate(trec_order(run[qid]))}
    return qrels, run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(qrels path, run path, qrels and run as pytrec_eval parses the files)."""
    qrels, run = seeded()
    folder = tmp_path_factory.mktemp("aliases")
    qrels_path, run_path = folder / "qrels.txt", folder / "run.txt"
    qrels_path.write_text("".join(f"{q} 0 {d} {g}\n" for q, judged in qrels.items() for d, g in judged.items()))
    run_path.write_text("".join(f"{q} Q0 {d} {i} {s} seeded\n" for q, docs in run.items()
                                for i, (d, s) in enumerate(docs.items(), 1)))
    with open(qrels_path) as f:
        parsed_qrels = pytrec_eval.parse_qrel(f)
    with open(run_path) as f:
        parsed_run = pytrec_eval.parse_run(f)
    return qrels_path, run_path, parsed_qrels, parsed_run


def trec_order(docs: dict[str, float]) -> list[str]:
    """trec_eval's order: score descending, ties by document id descending."""
    return [d for d, _ in sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def expected(measure: str | None, rel: int, qrels: dict, run: dict, label: str) -> dict[str, float]:
    """Per-query values of trec_eval's ``measure``, computed by pytrec_eval on the files as parsed."""
    if measure is None:  # Judged@k: judged share of the first k in trec_eval's order
        k = int(label.split("@")[1])
        return {q: sum(d in qrels[q] for d in trec_order(docs)[:k]) / len(trec_order(docs)[:k])
                for q, docs in run.items()}
    if "@" in measure:  # recip_rank on each query's first k documents in trec_eval's order
        name, k = measure.split("@")
        run = {q: {d: docs[d] for d in trec_order(docs)[: int(k)]} for q, docs in run.items()}
        measure = name
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {measure}, relevance_level=rel)
    key = measure.replace(".", "_")
    return {q: v[key] for q, v in evaluator.evaluate(run).items()}


def test_the_seeded_data_exercise_the_measures(files):
    *_, qrels, run = files
    scores = [s for docs in run.values() for s in docs.values()]
    assert len(scores) > len(set(scores))  # ties to order
    values = {m: expected(m, 1, qrels, run, "") for m in ("map", "ndcg_cut.10", "recip_rank", "Rprec")}
    for per_query in values.values():  # not all equal, not all 0
        assert len(set(per_query.values())) > 3
    assert expected("recip_rank@10", 1, qrels, run, "")["q5"] == 0.0 < expected("recip_rank", 1, qrels, run, "")["q5"]


@pytest.mark.parametrize("alias", list(CASES))
def test_alias_equals_pytrec_eval(alias, files):
    *_, qrels, run = files
    label, measure, rel = CASES[alias]
    metric = parse_metric(alias)
    assert metric.label == label
    assert metric.config == parse_metric(label).config  # the canonical metric, not a look-alike
    want = expected(measure, rel, qrels, run, label)
    value = evaluate([metric], qrels, Run.from_scores(run))[label]
    assert value.per_query == pytest.approx(want, abs=1e-12), alias
    assert value.aggregate == pytest.approx(sum(want.values()) / len(want), abs=1e-12)


@pytest.mark.parametrize("alias", list(CASES))
def test_alias_in_harness_eval(alias, files, capsys):
    qrels_path, run_path, qrels, run = files
    label, measure, rel = CASES[alias]
    code = cli.main(["eval", str(qrels_path), str(run_path), "-m", alias, "-q", "--precision", "15"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert {name.strip() for name, _, _ in lines} == {label}  # printed under the canonical label
    got = {qid: float(value) for _, qid, value in lines}
    want = expected(measure, rel, qrels, run, label)
    assert got == pytest.approx({**want, "all": sum(want.values()) / len(want)}, abs=1e-14)


def test_every_alias_is_tested():
    written = {re.match(r"[^@(]+", name)[0] for name in CASES}
    assert set(ALIASES) <= written
    for base in TREC_CUT:  # base_k and base.k
        assert {f"{base}_", f"{base}."} <= {w[: len(base) + 1] for w in written if w[len(base) + 1:].isdigit()}, base


# --- refused, with what to write instead ------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        ("Recal@100", "no metric named 'Recal' (did you mean 'R@100'?)"),  # not 'Rprec'
        ("recal_100", "no metric named 'recal_100' (did you mean 'R@100'?)"),
        ("Precison@10", "no metric named 'Precison' (did you mean 'P@10'?)"),
        ("ndcg_cutt_10", "no metric named 'ndcg_cutt_10' (did you mean 'nDCG@10'?)"),
        ("nDGC@10", "no metric named 'nDGC' (did you mean 'nDCG@10'?)"),
        ("MRR_10", "no metric named 'MRR_10' (did you mean 'RR@10'?)"),
        ("mapp", "no metric named 'mapp' (did you mean 'AP'?)"),
        ("recip_rnak", "no metric named 'recip_rnak' (did you mean 'RR'?)"),
        ("recall", "recall needs a cutoff, e.g. recall_10 (R@10)"),  # trec_eval: recall.5 to recall.1000
        ("Recall", "Recall (R) needs a cutoff, e.g. R@10"),
        ("P", "P needs a cutoff, e.g. P@10"),
        ("ndcg_cut", "ndcg_cut needs a cutoff, e.g. ndcg_cut_10 (nDCG@10)"),
        ("map_cut", "map_cut needs a cutoff, e.g. map_cut_10 (AP@10)"),
        ("bpref@10", "bpref (Bpref) takes no cutoff"),
        ("RPrec@10", "RPrec (Rprec) takes no cutoff"),
        ("recall_100@100", "cutoff given twice"),
        ("ndcg_cut_0", "cutoff: must be >= 1, got 0"),
        ("P.5,10", "metric 'P.5,10' names several measures: list each (P@5, P@10)"),
        ("ndcg(rel=2)", "rel: unknown parameter"),
    ],
)
def test_refused_names_say_what_to_write(spec, message):
    with pytest.raises(MetricError) as raised:
        parse_metric(spec)
    assert message in str(raised.value)


@pytest.mark.parametrize("spec", ["ERR@10", "err@20", "num_rel", "success_10", "Success@1", "gm_map", "infAP",
                                  "set_P", "iprec_at_recall_0.10", "NumRel", "RBP(p=0.8)", "SetR"])
def test_measures_without_an_equivalent_are_named_as_such(spec):
    with pytest.raises(MetricError) as raised:
        parse_metric(spec)
    message = str(raised.value)
    assert "has no equivalent among the installed metrics" in message and "did you mean" not in message
    assert any(f"{name} ({tool})" in message for name, tool in NO_EQUIVALENT.items())


def test_a_plugin_family_wins_over_aliases_and_folding():
    from harness.builtin.measures import FAMILIES
    from harness.components import Metric

    class LowerMap(Metric):
        """A third party's 'map', which is not AP."""

        name = "map"

    class Err(Metric):
        """A third party's ERR."""

        name = "ERR"
        params = {"cutoff": FAMILIES[0].params["cutoff"]}

    registry = registry_with(LowerMap, Err)
    assert type(parse_metric("map", registry)) is LowerMap
    assert parse_metric("MAP", registry).label == "AP"  # its own alias still
    assert parse_metric("ERR@10", registry).label == "ERR@10"
    assert parse_metric("err@10", registry).label == "ERR@10"


# --- recorded canonically ---------------------------------------------------------------------------

SUITE = """
name = "aliases"
k = 100
metrics = [{metrics}]

[[datasets]]
source = "beir:{{beir}}"

[[pipelines]]
name = "overlap"
retriever = {{plugin = "overlap"}}
"""


def test_a_suite_with_aliases_records_canonical_labels(write_suite, tmp_path):
    registry = registry_with()
    aliased = load_suite(write_suite(SUITE.format(metrics='"Recall@100", "ndcg_cut_10", {metric = "MRR@10", rel = 2}'),
                                     "aliased.toml"), registry=registry)
    canonical = load_suite(write_suite(SUITE.format(metrics='"R@100", "nDCG@10", "RR(rel=2)@10"'), "canonical.toml"),
                           registry=registry)
    labels = ["R@100", "nDCG@10", "RR(rel=2)@10"]
    assert [m.label for m in aliased.metrics] == labels
    # the same cells: a run with either suite resumes the other's
    assert cell_key(aliased, aliased.cells()[0]) == cell_key(canonical, canonical.cells()[0])
    assert suite_fingerprint(aliased) == suite_fingerprint(canonical)
    outcome = run_suite(aliased, results_dir=tmp_path / "results", registry=registry)
    assert not outcome.failed
    assert read_json(outcome.run_dir / MANIFEST)["metrics"] == labels
    (result,) = outcome.results
    assert list(result["metrics"]) == labels and list(result["per_query"]) == labels
    assert "R@100" in (outcome.run_dir / "leaderboard.md").read_text()
    assert "Recall@100" not in (outcome.run_dir / "leaderboard.md").read_text()


def test_an_alias_and_its_canonical_name_are_one_metric(write_suite):
    path = write_suite(SUITE.format(metrics='"nDCG@10", "ndcg_cut_10"'))
    from harness.suite import validate

    problems = validate(path, (), registry_with())
    assert any("nDCG@10 is listed twice" in p.message for p in problems)


def test_a_misspelt_alias_in_a_suite_suggests_its_family(write_suite):
    from harness.suite import validate

    problems = validate(write_suite(SUITE.format(metrics='"Recal@100"')), (), registry_with())
    assert any("did you mean 'R@100'?" in p.message for p in problems)


def test_the_margin_metric_may_be_written_as_an_alias(tmp_path):
    from harness.suite import load_suite

    beir = tmp_path / "b"
    from tinydata import write_beir

    write_beir(beir)
    path = tmp_path / "s.toml"
    path.write_text(f'name = "m"\nk = 10\nmetrics = ["nDCG@10", "AP"]\n[[datasets]]\nsource = "beir:{beir}"\n'
                    '[[pipelines]]\nname = "p"\nretriever = {plugin = "bm25"}\n'
                    '[stats]\nmargin = 0.01\nmargin_metric = "ndcg_cut_10"\n')
    assert load_suite(path).stats.margin_metric == "nDCG@10"
    from harness.cli import _metric_label

    assert _metric_label("map") == "AP" and _metric_label("nothing-like-it") == "nothing-like-it"
