"""Adversarial tests of ``smoothed``, ``CertTopK`` and ``CertRadius``: the attack budget against the
exact total-variation distance of the smoothing distributions the code really samples from (random
tables, both set modes, every attack up to a radius); the certificate against an independent numpy
implementation; configurations that would certify nothing yet report 1.0; a large ``max_radius``;
hostile synonym files (byte-order mark, case duplicates, self-maps, encodings); nested rankers that
misbehave; cache keys that must follow every parameter; validation errors that name their keys."""

from __future__ import annotations

import itertools
import math
import random
import textwrap
import time

import numpy as np
import pytest
from harness_robustness import Smoothed
from harness_robustness.bounds import DocStats, certify, width
from harness_robustness.smoothing import Transform, _cased, slots
from harness_robustness.synsets import load_table, parse_table

from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context, Ranker
from harness.errors import ComponentError, HarnessError
from harness.metrics import evaluate, parse_metric
from harness.ranking import Run
from harness.suite import validate
from harness.testing import tiny_collection, write_beir

TABLE = "big\tlarge\nlarge\tbig\nfast\tquick\nrapid\tswift,speedy\nswift\trapid\n"


@pytest.fixture
def table_file(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text(TABLE)
    return path


class Spec:
    kind = "ranker"

    def __init__(self, ranker: Ranker):
        self.ranker = ranker

    def build(self) -> Ranker:
        return self.ranker

    def config(self) -> dict:
        return {"plugin": type(self.ranker).name}


class ByFirstWord(Ranker):
    name = "by-first-word"

    def __init__(self, scores: dict[str, float]):
        super().__init__()
        self.scores = scores

    def score_pairs(self, query, texts, ctx):
        return [self.scores[text.split()[0]] for text in texts]


class Broken(Ranker):
    """Returns what it is told to: NaN, too few scores, a string."""

    name = "broken"

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def score_pairs(self, query, texts, ctx):
        return self.answer(texts)


def collection_of(texts: dict[str, str], queries=None) -> Collection:
    queries = queries or {"q1": "anything"}
    return Collection("synthetic", [Document(d, t) for d, t in texts.items()], queries,
                      {q: {next(iter(texts)): 1} for q in queries})


def smoothed(ranker: Ranker, table_file, collection, **params):
    component = Smoothed(ranker=Spec(ranker), table=str(table_file), **params)
    ctx = Context(collection=collection)
    component.prepare(collection, ctx)
    return component, ctx


# -- the budget: Δ_R against the exact distance of what is really sampled ---------------------------


def distribution(text: str, table, mode: str) -> dict[str, float]:
    """The exact smoothing distribution of ``text`` (the code's own slots: their options and case),
    by enumerating every outcome."""
    cut = slots(text, table, mode)
    out: dict[str, float] = {}
    for outcome in itertools.product(*cut.options):
        p = math.prod(1 / len(o) for o in cut.options)
        parts = [cut.pieces[0]]
        for word, piece in zip(outcome, cut.pieces[1:], strict=True):
            parts += [word, piece]
        key = "".join(parts)
        out[key] = out.get(key, 0.0) + p
    return out


def tv(p: dict[str, float], q: dict[str, float]) -> float:
    return 0.5 * sum(abs(p.get(x, 0.0) - q.get(x, 0.0)) for x in p.keys() | q.keys())


def random_table(rng: random.Random) -> str:
    vocab = ["ab", "cd", "ef", "gh", "ij", "kl"]
    lines = []
    for word in vocab:
        if rng.random() < 0.7:
            others = rng.sample([w for w in vocab if w != word], rng.randint(1, 3))
            lines.append(f"{word}\t{','.join(others)}")
    return "\n".join(lines or ["ab\tcd"]) + "\n"


@pytest.mark.parametrize("mode", ["listed", "component"])
def test_the_budget_bounds_the_exact_distance_of_every_attack_on_random_tables(mode):
    """Random tables (keys that are replacements of others, replacements that are no keys, sets
    of different sizes), texts with repeated words and mixed case: for every attack on at most R
    words (each word replaced by one of its listed replacements, in the word's case), the exact
    total-variation distance of the sampled distributions is at most Δ_R."""
    rng = random.Random(7)
    for _ in range(12):
        table = parse_table(random_table(rng), "random.tsv")
        words = [rng.choice(["ab", "Cd", "EF", "gH", "ij", "kl", "zz"]) for _ in range(4)]
        text = " ".join(words) + "."
        cut = slots(text, table, mode)
        base = distribution(text, table, mode)
        for radius in range(0, 4):
            worst = 0.0
            for positions in itertools.combinations(range(len(words)), radius):
                choices = [table.entries.get(words[i].lower(), ()) for i in positions]
                for replacement in itertools.product(*choices):
                    attacked = list(words)
                    for i, new in zip(positions, replacement, strict=True):
                        attacked[i] = _cased(new, words[i])  # the threat model: in the word's case
                    worst = max(worst, tv(base, distribution(" ".join(attacked) + ".", table, mode)))
            assert worst <= cut.budget(radius) + 1e-12, (text, radius, table.entries)
        if mode == "component":
            assert cut.budget(len(words)) == 0.0


def test_the_word_case_the_threat_model_allows():
    """Substitutions are written in the word's case as the smoothing writes its samples: lower,
    Capitalised or UPPER (a mixed-case word like 'fAST' counts by its first letter). Outside that
    (a case-sensitive scorer and 'fAST' -> 'qUICK'), the distance can reach 1: documented, not
    certified."""
    table = parse_table(TABLE, "t.tsv")
    assert [_cased("quick", w) for w in ("fast", "Fast", "FAST", "fAST", "F")] == [
        "quick", "Quick", "QUICK", "quick", "Quick"]
    base = distribution("fAST boat", table, "listed")
    assert tv(base, distribution("quick boat", table, "listed")) == pytest.approx(0.5)
    assert tv(base, distribution("qUICK boat", table, "listed")) == pytest.approx(1.0)  # outside the model


# -- the certificate against an independent implementation -----------------------------------------


def numpy_certify(means, variances, n, budgets, k, alpha, bound) -> bool:
    means, variances, budgets = map(np.asarray, (means, variances, budgets))
    m = len(means)
    delta = alpha / m
    if bound == "hoeffding":
        w = np.full(m, np.sqrt(np.log(1 / delta) / (2 * n)))
    else:
        log = np.log(2 / delta)
        w = np.sqrt(2 * variances * log / n) + 7 * log / (3 * (n - 1))
    if m <= k:
        return True
    return bool((means[:k] - w[:k]).min() > (means[k:] + w[k:] + budgets[k:]).max())


@pytest.mark.parametrize("bound", ["bernstein", "hoeffding"])
def test_the_certificate_matches_an_independent_numpy_implementation(bound):
    rng = np.random.default_rng(3)
    agree = {True: 0, False: 0}
    for _ in range(400):
        m, n = int(rng.integers(2, 8)), int(rng.integers(2, 3000))
        k = int(rng.integers(1, m))
        means = np.sort(rng.random(m))[::-1]
        variances = rng.random(m) * 0.05
        budgets = rng.random(m) * rng.choice([0.0, 0.05, 0.5])
        stats = [DocStats(n, float(a), float(v)) for a, v in zip(means, variances, strict=True)]
        got = certify(stats[:k], [(s, float(b)) for s, b in zip(stats[k:], budgets[k:], strict=True)], 0.05,
                      bound).certified
        expected = numpy_certify(means, variances, n, budgets, k, 0.05, bound)
        assert got == expected
        agree[got] += 1
    assert agree[True] > 20 and agree[False] > 20  # both outcomes exercised


def test_one_sample_has_an_infinite_bernstein_width_and_never_certifies():
    one = DocStats.of([0.9])
    assert one.variance == 0.0 and width(one, 0.05, "bernstein") == math.inf
    assert not certify([one], [(DocStats.of([0.0]), 0.0)], 0.05, "bernstein").certified


# -- configurations that certify nothing must not report 1.0 ---------------------------------------


def certified_setup(table_file, n_docs=6, samples=50):
    docs = {f"d{i}": f"w{i} fast" for i in range(n_docs)}
    scores = {f"w{i}": 1.0 - i / n_docs for i in range(n_docs)}
    collection = collection_of(docs)
    ranker, ctx = smoothed(ByFirstWord(scores), table_file, collection, samples=samples)
    run = ranker.rerank(collection.queries, Run.from_ranked({"q1": [(d, 1.0) for d in docs]}), ctx)
    return collection, run, ctx


@pytest.mark.parametrize("spec", ["CertTopK(depth=3)@3", "CertTopK(depth=2)@5", "CertRadius(depth=4)@4",
                                  "CertTopK@20", "CertRadius@25"])
def test_a_depth_not_beyond_the_cutoff_is_an_error_not_a_vacuous_certificate(table_file, spec):
    """Bug (fixed): with depth <= K every query had 'at most K candidates' and counted as certified:
    CertTopK@20 at the default depth 20 reported 1.0 for any run."""
    collection, run, ctx = certified_setup(table_file, n_docs=30)
    good = parse_metric("CertTopK(depth=10)@2")
    values = evaluate([parse_metric(spec), good], collection.qrels, run, ctx)
    value = values[parse_metric(spec).label]
    assert value.aggregate is None  # unavailable, with the reason; never 1.0
    assert "must be greater than the cutoff K" in value.details["unavailable"]
    assert values[good.label].aggregate is not None  # the other metrics of the batch keep their values


def test_a_run_with_at_most_k_documents_is_still_vacuously_certified(table_file):
    collection, run, ctx = certified_setup(table_file, n_docs=3)
    values = evaluate([parse_metric("CertTopK@5")], collection.qrels, run, ctx)
    assert values["CertTopK@5"].aggregate == 1.0
    assert values["CertTopK@5"].details["vacuous"] == 1


def test_a_huge_max_radius_is_quick_and_gives_the_same_radius(table_file):
    """Bug (fixed): CertRadius tried every radius up to max_radius, certifying once per radius:
    with component sets (Δ_R = 0 at every R) max_radius = 10**8 ran for hours. Past the number of
    attackable slots Δ_R is constant, so the answer is the same."""
    docs = {"a": "alpha fast", "b": "beta rapid", "c": "gamma fast fast"}
    collection = collection_of(docs)
    candidates = Run.from_ranked({"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)]})
    scores = {"alpha": 0.95, "beta": 0.9, "gamma": 0.2}
    for sets, expected in (("component", 10**8), ("listed", None)):
        ranker, ctx = smoothed(ByFirstWord(scores), table_file, collection, samples=400, sets=sets)
        run = ranker.rerank(collection.queries, candidates, ctx)
        started = time.perf_counter()
        big = evaluate([parse_metric(f"CertRadius(max_radius={10**8})@2")], collection.qrels, run, ctx)
        assert time.perf_counter() - started < 5
        small = evaluate([parse_metric("CertRadius(max_radius=6)@2")], collection.qrels, run, ctx)
        value = big[f"CertRadius(max_radius={10**8})@2"].per_query["q1"]
        if expected is not None:
            assert value == expected
        else:
            # listed: c ('fast' twice, β 1/2 each) is certified at R = 1 (Δ 1/2 < 0.9 - 0.2 - 2w,
            # w = 0.028) but not at R = 2 (Δ 3/4): the small and the huge maximum agree
            assert value == small["CertRadius(max_radius=6)@2"].per_query["q1"] == 1.0


def test_a_run_not_ordered_by_the_smoothed_scores_is_not_certified(table_file):
    """Bug (fixed): the metrics certified whatever run they were given against the smoothed
    estimates, so the first stage's run (the leaderboard's stage table evaluates each stage's run),
    a stage after ``smoothed`` or an interpolated run was reported certified whenever its top K
    happened to be the smoothed top K; an attack moves those runs' own scores freely. Only a run
    whose top K carry their smoothed estimates is certified."""
    docs = {"a": "alpha fast", "b": "beta rapid", "c": "gamma fast"}
    collection = collection_of(docs)
    scores = {"alpha": 0.95, "beta": 0.9, "gamma": 0.1}
    ranker, ctx = smoothed(ByFirstWord(scores), table_file, collection, samples=400)
    candidates = Run.from_ranked({"q1": [("a", 30.0), ("b", 20.0), ("c", 10.0)]})
    run = ranker.rerank(collection.queries, candidates, ctx)
    metrics = [parse_metric("CertTopK@2"), parse_metric("CertRadius@2")]
    values = evaluate(metrics, collection.qrels, run, ctx)
    assert values["CertTopK@2"].aggregate == 1.0 and values["CertRadius@2"].aggregate >= 0
    later_stage = Run.from_scores({"q1": {d: 10 * s for d, s in run.scores["q1"].items()}})  # same order
    for other in (candidates, later_stage):
        values = evaluate(metrics, collection.qrels, other, ctx)
        assert values["CertTopK@2"].aggregate == 0.0 and values["CertRadius@2"].aggregate == -1.0
        assert values["CertTopK@2"].details["not_smoothed_order"] == 1


# -- synonym files ---------------------------------------------------------------------------------


def test_a_table_with_a_byte_order_mark_is_read(tmp_path):
    """Bug (fixed): a UTF-8 file with a BOM (as Windows editors save it) failed with
    "'\\ufeffbig' is not a single word", naming an invisible character."""
    path = tmp_path / "bom.tsv"
    path.write_bytes("\ufeffbig\tlarge\r\nfast\tquick\r\n".encode())
    assert load_table(path).entries == {"big": ("large",), "fast": ("quick",)}


@pytest.mark.parametrize(("text", "message"), [
    ("Big\tlarge\nbig\thuge\n", "line 2: 'big' is listed twice"),  # case-insensitive keys
    ("big\tBIG\n", "line 1: 'big' has no replacement other than itself"),
    ("big\t\n", "line 1: 'big' has no replacement"),
    ("big\tlarge\tx\n", "line 1: expected a word, a tab"),
    ("big\tlarge\n\nfast\tqu1ck\n", "line 3: replacement 'qu1ck' of 'fast' is not a single word"),
    ("big\tlarge_x\n", "line 1: replacement 'large_x'"),
    ("", "no synonyms"),
])
def test_malformed_tables_name_the_line(text, message):
    with pytest.raises(ComponentError, match=message):
        parse_table(text, "mine.tsv")


def test_self_maps_and_duplicate_replacements_are_dropped():
    table = parse_table("big\tbig, Large, LARGE ,large, huge\n", "mine.tsv")
    assert table.entries == {"big": ("large", "huge")}
    # a word mapped to itself adds no slot option: the set is {big, huge, large}
    assert table.sets("listed")["big"] == ("big", "huge", "large")


def test_a_large_user_table_is_not_reprocessed_for_every_document():
    """Bug (fixed): the overlaps β were recomputed from the whole table for every document cut
    into slots; with a 20,000-word table that is 20,000 set intersections per document."""
    words = ["".join(chr(97 + (i // 26 ** j) % 26) for j in range(4)) for i in range(20000)]
    text = "\n".join(f"{w}\t{words[(i + 1) % len(words)]}" for i, w in enumerate(words)) + "\n"
    table = parse_table(text, "big.tsv")
    assert table.overlaps("listed") is table.overlaps("listed")
    started = time.perf_counter()
    for i in range(300):
        slots(f"{words[i]} and {words[i + 1]} again", table, "listed")
    assert time.perf_counter() - started < 2.0


def test_a_table_that_is_not_utf8_or_missing_is_a_component_error(tmp_path):
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("café\tbistro\n".encode("latin-1"))
    with pytest.raises(ComponentError, match="cannot be read"):
        load_table(latin)
    with pytest.raises(ComponentError, match="does not exist"):
        load_table(tmp_path / "nope.tsv")
    with pytest.raises(ComponentError, match="cannot be read"):
        load_table(tmp_path)  # a folder


def test_unicode_words_are_smoothed_in_their_case():
    table = parse_table("café\tbistro\nλόγος\tλέξη\n", "mine.tsv")
    cut = slots("CAFÉ et Λόγος 42", table, "listed")
    assert cut.options == (("CAFÉ", "BISTRO"), ("Λόγος", "Λέξη"))
    assert cut.pieces == ("", " et ", " 42")


# -- nested rankers that misbehave -----------------------------------------------------------------


@pytest.mark.parametrize(("answer", "message"), [
    (lambda texts: [float("nan")] * len(texts), "not a finite number"),
    (lambda texts: [1.0] * (len(texts) - 1), "scores for"),
    (lambda texts: "high", "not a sequence"),
    (lambda texts: [float("inf")] * len(texts), "not a finite number"),
])
def test_a_nested_ranker_that_misbehaves_is_a_component_error(table_file, answer, message):
    collection = collection_of({"a": "fast boat", "b": "big sea"})
    ranker, ctx = smoothed(Broken(answer), table_file, collection, samples=5)
    with pytest.raises(ComponentError, match=message):
        ranker.rerank(collection.queries, Run.from_ranked({"q1": [("a", 2.0), ("b", 1.0)]}), ctx)


def test_hostile_documents_and_queries(table_file):
    """An empty document, one with no word of the table, an empty query: constant samples, zero
    variance, no budget; the ranking is still made."""
    docs = {"e": "", "n": "nothing here 123", "f": "fast fast"}
    collection = collection_of(docs, {"q1": "", "q2": "fast"})

    class Length(Ranker):
        name = "length"

        def score_pairs(self, query, texts, ctx):
            return [float(len(t)) for t in texts]

    ranker, ctx = smoothed(Length(), table_file, collection, samples=20, high=20.0)
    run = ranker.rerank(collection.queries, Run.from_ranked({q: [(d, 1.0) for d in docs] for q in ("q1", "q2")}),
                        ctx)
    assert run.scores["q1"]["e"] == 0.0 and run.scores["q1"]["n"] == pytest.approx(16 / 20)
    assert ranker._memo[("", "n")].variance == 0.0
    assert ranker.slots_of("n", ctx).budget(5) == 0.0 and ranker.slots_of("f", ctx).budget(5) == 0.75


def test_sigmoid_never_overflows_and_stays_in_the_unit_interval():
    values = Transform("sigmoid", center=0.0, scale=1e-12)([-3e38, -1.0, 0.0, 1.0, 3e38])
    assert values == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert all(0.0 <= v <= 1.0 for v in Transform("minmax", low=-1e308, high=1e308)([-3e38, 0.0, 3e38]))


# -- cache keys and determinism --------------------------------------------------------------------


def test_every_parameter_and_the_table_content_change_the_cache_key(tmp_path, table_file):
    collection = collection_of({"a": "fast boat"})
    base = {"samples": 10, "seed": 1, "sets": "listed", "transform": "minmax", "low": 0.0, "high": 2.0,
            "center": 0.0, "scale": 1.0}

    def key(table=table_file, suite_seed=0, **changes):
        ranker = Smoothed(ranker=Spec(ByFirstWord({"fast": 1.0})), table=str(table), **{**base, **changes})
        ctx = Context(collection=collection, seed=suite_seed)
        ranker.prepare(collection, ctx)
        return ranker._key(ctx, "query", ["a"])

    reference = key()
    assert key() == reference
    for name, value in (("samples", 11), ("seed", 2), ("sets", "component"), ("transform", "sigmoid"),
                        ("low", -1.0), ("high", 3.0), ("center", 1.0), ("scale", 2.0)):
        assert key(**{name: value}) != reference, name
    other = tmp_path / "other.tsv"
    other.write_text(TABLE + "boat\tship\n")
    assert key(table=other) != reference
    # the seed unset: the suite's seed decides, and is in the key
    assert key(seed=None, suite_seed=0) != key(seed=None, suite_seed=5)


def test_a_result_does_not_depend_on_the_cache(tmp_path, table_file):
    """Cold, from the artifact cache in a fresh instance, and with a cache holding another seed's
    estimates for the same pairs: the same values."""
    docs = {"a": "alpha fast", "b": "beta rapid big", "c": "gamma fast fast"}
    collection = collection_of(docs)
    candidates = Run.from_ranked({"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)]})
    cache = ArtifactCache(tmp_path / "cache")

    class CountSubstituted(Ranker):
        name = "count-substituted"

        def score_pairs(self, query, texts, ctx):
            return [float(sum(w in ("quick", "speedy", "swift", "large") for w in t.split())) for t in texts]

    def run_once(seed):
        ranker = Smoothed(ranker=Spec(CountSubstituted()), table=str(table_file), samples=30, seed=seed, high=3.0)
        ctx = Context(collection=collection, cache=cache)
        ranker.prepare(collection, ctx)
        run = ranker.rerank(collection.queries, candidates, ctx)
        return run.scores, ctx.phase["smoothing"]

    cold, record = run_once(1)
    assert record["from_cache"] == 0
    warm, record = run_once(1)
    assert warm == cold and record["from_cache"] == 3 and record["pairs"] == 0
    other, record = run_once(2)
    assert record["from_cache"] == 0  # another seed's estimates are never served
    assert other != cold  # and they differ: a served entry would have shown
    assert run_once(2)[0] == other


# -- validation names key paths --------------------------------------------------------------------


SUITE = """
name = "adv"
k = 10
seed = 1
metrics = [{metrics}]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "p"
retriever = {{plugin = "bm25"}}
ranker = {{plugin = "smoothed", depth = 5, ranker = {{plugin = "bm25"}}{extra}}}
"""


def problems_of(tmp_path, extra="", metrics='"CertTopK@2"') -> list[str]:
    beir = write_beir(tmp_path / "tiny", tiny_collection())
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(SUITE).format(beir=beir, extra=extra, metrics=metrics))
    return [str(p) for p in validate(path)]


@pytest.mark.parametrize(("extra", "expected"), [
    (", low = 5.0, high = 5.0", "ranker.high', message=\"must be greater than low"),
    (", samples = 1", "samples"),
    (", sets = 'all'", "sets"),
    (", transform = 'tanh'", "transform"),
    (", scale = 0.0", "scale"),
    (", samples = 'many'", "samples"),
    (", table = 'missing.tsv'", "does not exist"),
    (", nope = 1", "nope"),
])
def test_validate_names_the_key_of_a_bad_ranker_parameter(tmp_path, extra, expected):
    problems = problems_of(tmp_path, extra)
    assert any(expected in p and "ranker" in p for p in problems), problems


def test_validate_reports_a_table_with_a_bom_free_error_line(tmp_path):
    (tmp_path / "t.tsv").write_bytes("\ufeffbig\tlarge\nbig\thuge\n".encode())
    problems = problems_of(tmp_path, ", table = 't.tsv'")
    assert any("line 2: 'big' is listed twice" in p and "table" in p for p in problems), problems


@pytest.mark.parametrize(("metric", "expected"), [
    ('"CertTopK(alpha=0.9)@2"', "alpha"),
    ('"CertTopK(alpha=0.0)@2"', "alpha"),
    ('"CertTopK(bound=\'clopper\')@2"', "bound"),
    ('"CertTopK(radius=-1)@2"', "radius"),
    ('"CertTopK"', "needs a cutoff"),
    ('"CertRadius(max_radius=-1)@2"', "max_radius"),
    ('"CertTopK(depth=1)@1"', "depth"),
])
def test_validate_names_the_metric_of_a_bad_metric_parameter(tmp_path, metric, expected):
    problems = problems_of(tmp_path, metrics=metric)
    assert any(expected in p and "metrics[0]" in p for p in problems), problems


def test_errors_are_harness_errors():
    assert issubclass(ComponentError, HarnessError)


def test_validate_refuses_a_depth_not_beyond_k(tmp_path):
    """The vacuous certificate is refused before anything runs, at the metric's key path."""
    from harness.suite import validate

    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "s"\nk = 100\n'
        'metrics = ["nDCG@10", "CertTopK@20", { metric = "CertRadius@10", depth = 10 }, '
        '{ metric = "CertTopK@5", depth = 20 }]\n'
        '[[datasets]]\nname = "d"\nprovider = "beir"\npath = "d"\n'
        '[[pipelines]]\nname = "p"\nretriever = { plugin = "bm25" }\n')
    problems = [p for p in validate(suite) if p.path.startswith("metrics")]
    assert [p.path for p in problems] == ["metrics[1]", "metrics[2].depth"]
    assert all("must be greater than the cutoff K" in p.message for p in problems)
