"""Tests of randomized smoothing (``smoothed``) and the certificates (``CertTopK``, ``CertRadius``):
the conformance kit; the bounds against direct numpy implementations and their coverage; the
attack budget against the exact total-variation distance of small product distributions; the
certified radius of a ranker that ignores substituted words, computed here from the formula; a
fragile ranker that is not certified and really is attacked; a simulation with known true means in
which certificates are wrong at most at rate alpha; sample sharing, counting, caching; the
synonym table's validation; a suite run twice."""

from __future__ import annotations

import itertools
import math
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
from harness_robustness import CertRadius, CertTopK, Smoothed
from harness_robustness.bounds import DocStats, certify, width
from harness_robustness.smoothing import Transform, slots
from harness_robustness.synsets import load_table, parse_table

from harness.collection import Collection, Document
from harness.components import Context, Ranker
from harness.errors import ComponentError
from harness.metrics import evaluate, parse_metric
from harness.plugins import load_registry
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import load_suite, validate
from harness.testing import MetricContract, RankerContract, registry_with, tiny_collection, write_beir

# A table with known overlaps: big/large are each other's only replacement (same listed set:
# β = 1); fast -> quick, and quick is no key (S(fast) = {fast, quick}, S(quick) = {quick}: β = 1/2);
# rapid -> swift, speedy where swift -> rapid (S(rapid) = {rapid, speedy, swift}, S(swift) =
# {rapid, swift}: β = 2/3 against swift, 1/3 against speedy: 1/3).
TABLE = "# test table\nbig\tlarge\nlarge\tbig\nfast\tquick\nrapid\tswift,speedy\nswift\trapid\n"


@pytest.fixture
def table_file(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text(TABLE)
    return path


class Spec:
    """A nested ranker spec standing for a fake ranker (what ``scorer_for`` builds)."""

    kind = "ranker"

    def __init__(self, ranker: Ranker):
        self.ranker = ranker

    def build(self) -> Ranker:
        return self.ranker

    def config(self) -> dict:
        return {"plugin": type(self.ranker).name}


class ByFirstWord(Ranker):
    """Ignores every word but the first: its score is a fixed number per first word."""

    name = "by-first-word"

    def __init__(self, scores: dict[str, float]):
        super().__init__()
        self.scores = scores

    def score_pairs(self, query, texts, ctx):
        return [self.scores[text.split()[0]] for text in texts]


class Fragile(Ranker):
    """Counts the word 'quick': it reacts to nothing but substitutions (fast -> quick)."""

    name = "fragile"

    def score_pairs(self, query, texts, ctx):
        return [float(text.split().count("quick")) for text in texts]


class Recording(Ranker):
    """Counts the words of each text, recording every call."""

    name = "recording"

    def __init__(self):
        super().__init__()
        self.calls = []

    def score_pairs(self, query, texts, ctx):
        self.calls.append((query, list(texts)))
        return [float(len(t.split())) for t in texts]


def collection_of(texts: dict[str, str], queries=None) -> Collection:
    queries = queries or {"q1": "anything"}
    return Collection("synthetic", [Document(d, t) for d, t in texts.items()], queries,
                      {q: {next(iter(texts)): 1} for q in queries})


def smoothed(ranker: Ranker, table_file, collection, **params):
    """A prepared ``smoothed`` around ``ranker`` and its context (no artifact cache)."""
    component = Smoothed(ranker=Spec(ranker), table=str(table_file), **params)
    ctx = Context(collection=collection)
    component.prepare(collection, ctx)
    return component, ctx


# -- the conformance kit ---------------------------------------------------------------------------


class TestSmoothedKit(RankerContract):
    component = Smoothed
    params = {"ranker": {"plugin": "bm25"}, "samples": 30, "high": 10.0}


def kit_context():
    collection = tiny_collection()
    ctx = Context(collection=collection)
    Smoothed(ranker={"plugin": "bm25"}, samples=30, high=10.0).prepare(collection, ctx)
    return ctx


class TestCertTopKKit(MetricContract):
    component = CertTopK
    specs = ["CertTopK@2", {"metric": "CertTopK@1", "radius": 1, "depth": 4}, "CertTopK(bound='hoeffding')@3"]

    def make_context(self):
        return kit_context()


class TestCertRadiusKit(MetricContract):
    component = CertRadius
    specs = ["CertRadius@2", {"metric": "CertRadius@1", "max_radius": 3, "depth": 5}]
    lower_bound = -1.0

    def make_context(self):
        return kit_context()


def test_the_components_are_installed_and_load():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-robustness"})
    assert registry.broken() == [] and registry.conflicts() == []
    assert registry.find("ranker", "smoothed").distribution == "ir-harness-robustness"
    for name in ("CertTopK", "CertRadius"):
        assert registry.find("metric", name).distribution == "ir-harness-robustness"
    assert parse_metric("CertTopK(radius=2)@10", registry_with(CertTopK)).label == "CertTopK(radius=2)@10"


# -- bounds ----------------------------------------------------------------------------------------


def test_bounds_match_a_direct_numpy_implementation():
    rng = np.random.default_rng(0)
    for n, delta in ((2, 0.05), (50, 0.01), (1000, 0.05 / 20)):
        values = rng.beta(2, 5, size=n)
        stats = DocStats.of(values.tolist())
        assert stats.mean == pytest.approx(values.mean(), abs=1e-12)
        assert stats.variance == pytest.approx(values.var(ddof=1), abs=1e-12)
        assert width(stats, delta, "hoeffding") == pytest.approx(np.sqrt(np.log(1 / delta) / (2 * n)))
        log = np.log(2 / delta)
        bernstein = np.sqrt(2 * values.var(ddof=1) * log / n) + 7 * log / (3 * (n - 1))
        assert width(stats, delta, "bernstein") == pytest.approx(bernstein)


@pytest.mark.parametrize("bound", ["hoeffding", "bernstein"])
def test_each_bound_covers_the_true_mean_at_its_level(bound):
    """Beta(0.5, 0.5) (mass at both ends: the variance is large) and Beta(20, 20) (small): the
    upper bound falls below the true mean in at most δ of the trials (+ simulation slack)."""
    rng, delta, n, trials = np.random.default_rng(1), 0.1, 40, 4000
    for a, b in ((0.5, 0.5), (20.0, 20.0)):
        samples = rng.beta(a, b, size=(trials, n))
        true = a / (a + b)
        misses = sum(DocStats.of(row.tolist()).mean + width(DocStats.of(row.tolist()), delta, bound) < true
                     for row in samples)
        assert misses / trials <= delta + 3 * math.sqrt(delta * (1 - delta) / trials)


def test_the_certificate_condition():
    top = [DocStats(1000, 0.9, 0.0), DocStats(1000, 0.8, 0.0)]
    rest = [(DocStats(1000, 0.3, 0.0), 0.2), (DocStats(1000, 0.5, 0.0), 0.0)]
    w = width(DocStats(1000, 0, 0), 0.05 / 4, "hoeffding")
    result = certify(top, rest, 0.05, "hoeffding")
    assert result.lower == pytest.approx(0.8 - w) and result.upper == pytest.approx(0.5 + w)
    assert result.certified
    assert not certify(top, [(DocStats(1000, 0.3, 0.0), 0.5)], 0.05, "hoeffding").certified  # 0.3 + 0.5 > 0.8
    assert certify(top, [], 0.05, "hoeffding").certified  # nothing outside the top K


def test_certificates_are_wrong_at_most_at_rate_alpha():
    """Known true means (scores are Bernoulli): a query is falsely certified when the certificate
    holds but the truth, min over the certified top K of the true mean > max over the rest of
    (true mean + Δ), does not. Means close to the threshold make false certificates likely for a
    rule without a sound bound (checked: the naive rule errs far more than alpha)."""
    rng, alpha, n, trials, k = np.random.default_rng(2), 0.1, 200, 3000, 2
    means = np.array([0.62, 0.55, 0.50, 0.45, 0.40])
    budgets = np.array([0.0, 0.0, 0.04, 0.10, 0.0])  # Δ_R of each document when outside the top K
    false = {"bernstein": 0, "hoeffding": 0, "naive": 0}
    for _ in range(trials):
        draws = rng.random((len(means), n)) < means[:, None]
        stats = [DocStats.of(row.astype(float).tolist()) for row in draws]
        order = sorted(range(len(means)), key=lambda i: -stats[i].mean)
        top, rest = order[:k], order[k:]
        truth = min(means[top]) > max(means[rest] + budgets[rest])
        for bound in ("bernstein", "hoeffding"):
            claimed = certify([stats[i] for i in top], [(stats[i], budgets[i]) for i in rest], alpha, bound).certified
            false[bound] += claimed and not truth
        naive = min(stats[i].mean for i in top) > max(stats[i].mean + budgets[i] for i in rest)
        false["naive"] += naive and not truth
    slack = 3 * math.sqrt(alpha * (1 - alpha) / trials)
    assert false["bernstein"] / trials <= alpha + slack
    assert false["hoeffding"] / trials <= alpha + slack
    assert false["naive"] / trials > alpha + slack  # the simulation can tell a wrong rule


# -- the budget ------------------------------------------------------------------------------------


def exact_distance(text: str, attacked: str, sets: dict[str, tuple[str, ...]]) -> float:
    """The total-variation distance of the smoothing distributions of two texts (word by word,
    each word uniform over its set, {word} when it has none), by enumerating every outcome."""
    def distribution(words):
        out = {}
        options = [sets.get(w, (w,)) for w in words]
        for outcome in itertools.product(*options):
            p = math.prod(1 / len(o) for o in options)
            out[outcome] = out.get(outcome, 0.0) + p
        return out

    p, q = distribution(text.split()), distribution(attacked.split())
    return 0.5 * sum(abs(p.get(x, 0.0) - q.get(x, 0.0)) for x in p.keys() | q.keys())


def test_the_budget_bounds_the_exact_distance_of_every_attack(table_file):
    table = load_table(table_file)
    entries = table.entries
    sets = table.sets("listed")
    text = "big fast rapid and rapid"
    cut = slots(text, table, "listed")
    assert cut.overlaps == (1.0, 0.5, 1 / 3, 1 / 3)  # big, fast, rapid, rapid (against 'speedy')
    words = text.split()
    for radius in range(0, 5):
        worst = 0.0
        for positions in itertools.combinations(range(len(words)), radius):
            choices = [entries.get(words[i], ()) for i in positions]
            for replacement in itertools.product(*choices):
                attacked = list(words)
                for i, new in zip(positions, replacement, strict=True):
                    attacked[i] = new
                worst = max(worst, exact_distance(text, " ".join(attacked), sets))
        assert worst <= cut.budget(radius) + 1e-12, radius
    # the two rapid -> speedy: 1 - (1/3)^2, the bound is attained (speedy is no key: one outcome)
    assert cut.budget(2) == pytest.approx(1 - 1 / 9)
    assert exact_distance(text, "big fast speedy and speedy", sets) == pytest.approx(1 - 1 / 9)


def test_component_sets_make_every_listed_substitution_free(table_file):
    table = load_table(table_file)
    assert table.sets("component")["rapid"] == ("rapid", "speedy", "swift")
    assert set(table.overlaps("component").values()) == {1.0}
    assert slots("rapid fast", table, "component").budget(2) == 0.0


def test_samples_resample_each_slot_uniformly_in_the_words_case(table_file):
    table = load_table(table_file)
    cut = slots("Fast, BIG boat; rapid.", table, "listed")
    samples = cut.samples(6000, random.Random(0))
    assert all(s.endswith(".") and ", " in s and " boat; " in s for s in samples)
    firsts = {s.split(",")[0] for s in samples}
    assert firsts == {"Fast", "Quick"}
    assert {s.split()[1] for s in samples} == {"BIG", "LARGE"}
    share = sum(s.split()[3].rstrip(".") == "speedy" for s in samples) / len(samples)
    assert share == pytest.approx(1 / 3, abs=0.03)
    assert slots("nothing to change", table, "listed").samples(3, random.Random(0)) == ["nothing to change"] * 3


def test_transforms():
    assert Transform("minmax", low=0.0, high=40.0)([-5.0, 10.0, 40.0, 90.0]) == [0.0, 0.25, 1.0, 1.0]
    values = Transform("sigmoid", center=2.0, scale=0.5)([2.0, 3.0, -1000.0, 1000.0])
    assert values == pytest.approx([0.5, 1 / (1 + math.exp(-2)), 0.0, 1.0])


# -- certified radii of known rankers --------------------------------------------------------------


def expected_radius(top: list[float], rest: list[tuple[float, list[float]]], n: int, alpha: float,
                    max_radius: int) -> int:
    """The largest radius the formula certifies for constant scores (variance 0, empirical
    Bernstein width 7 ln(2m/α) / (3(n − 1))): ``rest`` pairs each score with its slots' overlaps."""
    m = len(top) + len(rest)
    w = 7 * math.log(2 * m / alpha) / (3 * (n - 1))
    best = -1
    for radius in range(max_radius + 1):
        if min(top) - w > max(score + w + 1 - math.prod(sorted(betas)[:radius]) for score, betas in rest):
            best = radius
        else:
            break
    return best


def test_a_ranker_that_ignores_substituted_words_is_certified_up_to_the_radius_the_bound_permits(table_file):
    docs = {"a": "alpha big fast", "b": "beta fast", "c": "gamma fast fast fast fast rapid", "d": "delta big"}
    scores = {"alpha": 0.99, "beta": 0.97, "gamma": 0.02, "delta": 0.01}
    collection = collection_of(docs)
    ranker, ctx = smoothed(ByFirstWord(scores), table_file, collection, samples=500)
    run = ranker.rerank(collection.queries, Run.from_ranked({"q1": [(d, 1.0) for d in docs]}), ctx)
    assert [d for d, _ in run.ranked("q1")] == ["a", "b", "c", "d"]
    assert run.scores["q1"]["a"] == pytest.approx(0.99)  # no variance: the estimate is the score
    metrics = [parse_metric(s) for s in ("CertRadius(max_radius=8)@2", "CertTopK@2", "CertTopK(radius=2)@2",
                                         "CertTopK(radius=3)@2")]
    values = evaluate(metrics, collection.qrels, run, ctx)
    # c's overlaps: four 'fast' (1/2) and a 'rapid' (1/3); d's: 'big' (1)
    radius = expected_radius([0.99, 0.97], [(0.02, [0.5] * 4 + [1 / 3]), (0.01, [1.0])], 500, 0.05, 8)
    # w = 7 ln(160) / 1497 = 0.024: Δ_2(c) = 1 - 1/3 * 1/2 = 0.833 fits under 0.97 - 0.02 - 2w = 0.903,
    # Δ_3(c) = 1 - 1/12 = 0.917 does not
    assert radius == 2
    assert values["CertRadius(max_radius=8)@2"].per_query == {"q1": radius}
    assert values["CertTopK@2"].aggregate == 1.0 and values["CertTopK(radius=2)@2"].aggregate == 1.0
    assert values["CertTopK(radius=3)@2"].aggregate == 0.0


def test_a_fragile_ranker_is_not_certified_and_really_is_attacked(table_file):
    """Smoothed, 'quick' counts 1 and 'fast' 1/2 (it becomes quick half the time): a = 'quick
    quick fast' scores 2.5/3, b = 'fast fast fast' 1.5/3. Certified at radius 0; from radius 1 on
    Δ(b) = 1 - (1/2)^R exceeds the gap, and three substitutions (fast -> quick) do lift b above a."""
    docs = {"a": "quick quick fast", "b": "fast fast fast"}
    collection = collection_of(docs)
    candidates = Run.from_ranked({"q1": [("a", 2.0), ("b", 1.0)]})
    ranker, ctx = smoothed(Fragile(), table_file, collection, samples=2000, high=3.0)
    run = ranker.rerank(collection.queries, candidates, ctx)
    assert run.scores["q1"]["a"] == pytest.approx(2.5 / 3, abs=0.02)
    assert run.scores["q1"]["b"] == pytest.approx(1.5 / 3, abs=0.03)
    values = evaluate([parse_metric("CertTopK@1"), parse_metric("CertTopK(radius=1)@1"),
                       parse_metric("CertRadius@1")], collection.qrels, run, ctx)
    assert values["CertTopK@1"].aggregate == 1.0
    assert values["CertTopK(radius=1)@1"].aggregate == 0.0
    assert values["CertRadius@1"].per_query == {"q1": 0.0}
    attacked = collection_of({"a": "quick quick fast", "b": "quick quick quick"})  # b, 3 words substituted
    ranker, ctx = smoothed(Fragile(), table_file, attacked, samples=2000, high=3.0)
    moved = ranker.rerank(attacked.queries, candidates, ctx)
    assert [d for d, _ in moved.ranked("q1")] == ["b", "a"]


def test_the_smoothed_mean_estimates_the_exact_expectation(table_file):
    """Recording counts words: constant; a ranker counting 'quick' has expectation (number of
    'fast') / 2 under the listed sets, which the estimate must cover within its bound."""

    class CountQuick(Ranker):
        name = "count-quick"

        def score_pairs(self, query, texts, ctx):
            return [float(t.split().count("quick")) for t in texts]

    collection = collection_of({"a": "fast fast fast fast big"})
    ranker, ctx = smoothed(CountQuick(), table_file, collection, samples=3000, low=0.0, high=4.0)
    run = ranker.rerank(collection.queries, Run.from_ranked({"q1": [("a", 1.0)]}), ctx)
    stats = ranker._memo[("anything", "a")]
    assert abs(stats.mean - 2 / 4) <= width(stats, 1e-4, "bernstein")
    assert run.scores["q1"]["a"] == stats.mean


# -- sharing, counting, caching --------------------------------------------------------------------


def test_samples_are_shared_across_queries_and_counted(table_file):
    docs = {"a": "fast big boat", "b": "rapid sea"}
    collection = collection_of(docs, {"q1": "one", "q2": "two"})
    recorder = Recording()
    ranker, ctx = smoothed(recorder, table_file, collection, samples=7, seed=3)
    candidates = Run.from_ranked({"q1": [("a", 2.0), ("b", 1.0)], "q2": [("a", 1.0)]})
    ranker.rerank(collection.queries, candidates, ctx)
    texts = {}
    for query, batch in recorder.calls:
        texts.setdefault(batch[0].split()[-1], []).append((query, batch))
    (q1a, a1), (q2a, a2) = texts["boat"]
    assert (q1a, q2a) == ("one", "two") and a1 == a2 and len(a1) == 7  # the same samples for both queries
    assert len(set(a1)) > 1
    summary = ctx.costs.summary(collection.queries)
    assert summary["scorer_calls"]["total"] == 3 and summary["pairs_scored"]["total"] == 21
    # again for the same pairs: from memory, nothing scored
    recorder.calls.clear()
    ranker.rerank(collection.queries, candidates, ctx)
    assert recorder.calls == []
    # another instance, same seed: the same samples (seeded by seed and document id)
    other, ctx2 = smoothed(Recording(), table_file, collection, samples=7, seed=3)
    assert other.samples_of("a", ctx2) == a1
    assert smoothed(Recording(), table_file, collection, samples=7, seed=4)[0].samples_of("a", ctx2) != a1


def test_a_metric_computes_what_the_stage_did_not_and_gets_the_same_values(table_file):
    """A cell whose run came from the cache: the metric's values equal those of the cell that
    ran the stage (the same seeded samples), in a fresh process-like instance."""
    docs = {"a": "alpha fast", "b": "beta rapid big", "c": "gamma fast fast"}
    scores = {"alpha": 0.9, "beta": 0.5, "gamma": 0.1}
    collection = collection_of(docs)
    candidates = Run.from_ranked({"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)]})
    ranker, ctx = smoothed(ByFirstWord(scores), table_file, collection, samples=50)
    run = ranker.rerank(collection.queries, candidates, ctx)
    metrics = [parse_metric("CertRadius@1"), parse_metric("CertTopK@2")]
    first = evaluate(metrics, collection.qrels, run, ctx)
    _, fresh = smoothed(ByFirstWord(scores), table_file, collection, samples=50)
    second = evaluate(metrics, collection.qrels, run, fresh)
    assert {k: v.per_query for k, v in first.items()} == {k: v.per_query for k, v in second.items()}
    assert first["CertTopK@2"].details["estimates"]["from_memory"] == 3
    assert second["CertTopK@2"].details["estimates"]["documents_sampled"] == 3


# -- the synonym table -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("big\tlarge\nfast quick\n", "line 2: expected a word, a tab"),
    ("# c\n\nbig\tlarge\nbig\thuge\n", "line 4: 'big' is listed twice"),
    ("big\tvery large\n", "line 1: replacement 'very large' of 'big' is not a single word"),
    ("big2\tlarge\n", "line 1: 'big2' is not a single word"),
    ("big\tbig, \n", "line 1: 'big' has no replacement other than itself"),
    ("# only a comment\n", "no synonyms"),
])
def test_a_broken_table_names_its_line(text, message):
    with pytest.raises(ComponentError, match=message):
        parse_table(text, "mine.tsv")


def test_the_packaged_table_parses():
    table = load_table(None)
    assert table.size > 150 and table.entries["aircraft"] == ("airplane", "plane")
    assert 0 < min(table.overlaps("listed").values()) < 1


SUITE = """
name = "certdr-tiny"
k = 10
seed = 1
metrics = ["nDCG@10", "CertTopK@2", "CertTopK(radius=1)@2", "CertRadius(depth=5)@2"]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "bm25-smoothed"
retriever = {plugin = "bm25"}
ranker = {plugin = "smoothed", depth = 5, samples = 40, high = 8.0, ranker = {plugin = "bm25"}{table}}
"""


def write_suite(tmp_path, table: str = "") -> object:
    beir = write_beir(tmp_path / "tiny", tiny_collection())
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(SUITE).replace("{beir}", str(beir)).replace("{table}", table))
    return path


def test_validate_reports_a_broken_table_with_its_line(tmp_path):
    (tmp_path / "bad.tsv").write_text("big\tlarge\nfast quick\n")
    problems = validate(write_suite(tmp_path, ', table = "bad.tsv"'))
    assert any("line 2" in str(p) and "table" in str(p) for p in problems), problems


def test_a_suite_certifies_and_a_second_run_reads_everything_from_the_cache(tmp_path):
    suite_file = write_suite(tmp_path)
    first = run_suite(load_suite(suite_file), results_dir=tmp_path / "results")
    assert not first.failed, [r["error"] for r in first.failed]
    cell = first.results[0]
    calls = cell["costs"]["scorer_calls"]["total"]
    assert calls > 0 and cell["costs"]["pairs_scored"]["total"] == 40 * calls
    details = cell["evaluation"]["details"]["CertTopK@2"]
    assert details["estimates"]["pairs"] == 0  # the stage scored every pair the metric needs
    again = run_suite(load_suite(suite_file), results_dir=tmp_path / "results", new=True)
    cached = again.results[0]
    assert cached["status"] == "ok", cached["error"]
    assert cached["metrics"] == cell["metrics"]
    assert cached["stages"][1]["cache"] == "hit"  # the run was served: the stage scored nothing
    estimates = cached["evaluation"]["details"]["CertTopK@2"]["estimates"]
    assert estimates["pairs"] == 0 and estimates["from_cache"] > 0
    # recomputed from scratch (--force): the same values
    forced = run_suite(load_suite(suite_file), results_dir=tmp_path / "results", new=True, force=True)
    assert forced.results[0]["metrics"] == cell["metrics"]


SUITES = Path(__file__).resolve().parents[3] / "suites"


@pytest.mark.parametrize("name", ["certdr.toml", "certdr-minilm.toml"])
def test_the_repositorys_certdr_suites_validate(name):
    if not (SUITES / name).is_file():
        pytest.skip("the plugin is tested outside the harness's repository: no suites/ folder")
    assert validate(SUITES / name) == []
    labels = [m.label for m in load_suite(SUITES / name).metrics]
    assert any(label.startswith("CertTopK") for label in labels)
