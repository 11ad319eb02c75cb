"""Adversarial tests of the synthetic collection (harness/synthetic.py), its ``synthetic`` dataset
provider (harness/builtin/synthetic.py), the tiny model's command, and the growth benchmark's
smoke (benchmarks/test_growth_bench.py): hostile sizes and parameters, tiny and degenerate
collections, determinism across processes and hash seeds, the consistency of queries, qrels and
corpus, and the claims of docs/datasets.md checked against an independent reading of the text."""

from __future__ import annotations

import collections
import importlib.util
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import synthetic as synthetic_module
from harness.builtin.synthetic import parse_count
from harness.collection import Collection
from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import get_registry
from harness.suite import SuiteError, load_suite
from harness.synthetic import GRADES, SyntheticSpec, generate, main, physical_memory, words

np = pytest.importorskip("numpy")
ROOT = Path(__file__).resolve().parents[1]


def load(tmp_path, **params) -> Collection:
    spec = DatasetSpec(name="syn", provider="synthetic", params=params)
    return load_dataset(spec, get_registry(), tmp_path)


def consistent(c: Collection, spec: SyntheticSpec) -> None:
    """What the docs promise of every collection, checked from its text alone."""
    ids = [d.id for d in c.docs]
    assert ids == [f"d{i}" for i in range(spec.documents)]  # unique, in order, d0 ...
    assert list(c.queries) == [f"q{q}" for q in range(spec.queries)] == list(c.qrels)
    vocab = words(spec.vocabulary)
    rank = {w: i for i, w in enumerate(vocab)}
    judged = [d for q in c.qrels.values() for d in q]
    assert len(judged) == len(set(judged)) == spec.queries * spec.relevant  # one query per document at most
    assert set(judged) <= set(ids)  # every judged document exists
    text = {d.id: d.text for d in c.docs}
    for qid, query in c.queries.items():
        terms = query.split(" ")
        assert len(terms) == len(set(terms)) == spec.query_length, query  # distinct topic words
        assert all(rank[t] >= int(spec.vocabulary * 0.1) for t in terms), query  # the rarer 90 %
        grades = list(c.qrels[qid].values())
        assert grades == [GRADES[i % 3] for i in range(spec.relevant)], grades
        for doc, grade in c.qrels[qid].items():
            assert len(text[doc].split(" ")) >= 2 * grade  # room for the planted words
    for d in c.docs:
        assert d.title == "" and d.text and "\n" not in d.text and d.text == d.text.strip()
        assert all(t in rank for t in d.text.split(" ")), d.id  # synthetic words only, one space apart


# -- sizes: parsing, and refusing what cannot fit ------------------------------------------------


@pytest.mark.parametrize(("value", "count"), [
    ("1.005k", 1_005), ("0.001k", 1), ("0.000001M", 1), ("12345678901234567890", 12_345_678_901_234_567_890),
    ("1.0000005k", None), ("0.0001k", None), ("1e3", None), ("10k5", None), ("1kk", None), ("k", None),
    ("", None), ("  ", None), ("-5", None), ("+5", None), ("0", None), ("0k", None), ("00", None), ("0x10", None),
    ("١٠٠", None), ("３００", None), ("1_000", None), ("nan", None), ("inf", None), (-1, None), (None, None),
    (float("nan"), None), ([1000], None),
])  # fmt: skip
def test_parse_count_is_exact(value, count):
    """Decimal sizes are exact: with float arithmetic "1.005k" (1004.9999999999999) was refused and
    a long integer string was silently rounded to another number."""
    assert parse_count(value) == count


SUITE = """
name = "syn"
metrics = ["nDCG@10"]
[[datasets]]
source = "synthetic:{documents}"
{extra}
[[pipelines]]
name = "bm25"
retriever = {{ plugin = "bm25" }}
"""


@pytest.mark.parametrize(("documents", "extra", "expected"), [
    ("0", "", "datasets[0].documents: must be a positive whole number"),
    ("-5", "", "datasets[0].documents: must be a positive whole number"),
    ("1e3", "", "datasets[0].documents: must be a positive whole number"),
    ("10k5", "", "datasets[0].documents: must be a positive whole number"),
    ("1.5", "", "datasets[0].documents: must be a positive whole number"),
    ("1k", "zipf = nan", "datasets[0].zipf"),
    ("1k", "doc_length = inf", "datasets[0].doc_length"),
    ("1k", "doc_length = 0.5", "datasets[0].doc_length: must be >= 1"),
    ("1k", "vocabulary = 9", "datasets[0].vocabulary: must be >= 10"),
    ("1k", "topics = 0", "datasets[0].topics: must be >= 1"),
    ("1k", "query_length = 0", "datasets[0].query_length: must be >= 1"),
    ("1k", 'topics = "5"', "datasets[0].topics"),
    ("1k", "seed = 1.5", "datasets[0].seed"),
    ("1k", "relevant = true", "datasets[0].relevant"),
])  # fmt: skip
def test_validation_names_the_key(tmp_path, documents, extra, expected):
    pytest.importorskip("harness_lexical")
    path = tmp_path / "syn.toml"
    path.write_text(SUITE.format(documents=documents, extra=extra))
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert expected in str(raised.value), str(raised.value)


@pytest.mark.parametrize("documents", ["2500.0", "true"])
def test_documents_of_the_wrong_type_are_refused(tmp_path, documents):
    pytest.importorskip("harness_lexical")
    path = tmp_path / "syn.toml"
    path.write_text(SUITE.format(documents="1k", extra="").replace('source = "synthetic:1k"',
                                                                    f'provider = "synthetic"\ndocuments = {documents}'))
    with pytest.raises(SuiteError, match=r"datasets\[0\]\.documents"):
        load_suite(path)


def test_harness_validate_reports_without_a_traceback(tmp_path):
    pytest.importorskip("harness_lexical")
    path = tmp_path / "syn.toml"
    path.write_text(SUITE.format(documents="10k5", extra="zipf = -1"))
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "harness"), "validate", str(path)], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in out, out
    assert "datasets[0].documents" in out and "datasets[0].zipf" in out, out
    if physical_memory() is not None:  # too large for the machine: refused when loading, by key
        path.write_text(SUITE.format(documents="1000M", extra=""))
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "harness"), "validate", str(path)], capture_output=True,
                              text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in out, out
        assert "params.documents 1,000,000,000 documents" in out and "GB of memory" in out, out


@pytest.mark.skipif(physical_memory() is None, reason="the OS does not report its physical memory")
@pytest.mark.parametrize(("params", "key"), [
    ({"documents": "1000000M"}, "params.documents"),
    ({"documents": 10**15}, "params.documents"),
    ({"documents": "1k", "doc_length": 1e12}, "params.documents"),
    ({"documents": "1k", "vocabulary": 2**40}, "params.vocabulary"),
])  # fmt: skip
def test_a_collection_that_cannot_fit_is_refused_before_allocating(tmp_path, params, key):
    """Without the bound "1000000M" passed validation and then died in numpy (MemoryError) or, at
    sizes just beyond the machine, in the OOM killer after minutes of generating."""
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=rf"dataset 'syn': {key} .*GB of memory, more than this machine"):
        load(tmp_path, **params)
    assert time.perf_counter() - started < 5  # refused up front, not after trying
    spec = SyntheticSpec(documents=parse_count(params["documents"]), doc_length=params.get("doc_length", 60.0),
                         vocabulary=params.get("vocabulary", 100_000))
    with pytest.raises(ValueError, match="GB of memory"):
        generate(spec)


def test_the_memory_estimate_covers_a_measured_collection():
    """The estimate is an upper bound of what generating takes (tracemalloc's peak at 20k documents),
    and not a wild one (within 4x), so that the refusal neither lets a collection through that
    cannot fit nor refuses one that can."""
    import tracemalloc

    spec = SyntheticSpec(documents=20_000, queries=50, vocabulary=20_000)
    tracemalloc.start()
    try:
        generate(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= spec.estimated_bytes() <= 4 * peak, (peak, spec.estimated_bytes())


# -- hostile and degenerate collections ----------------------------------------------------------


@pytest.mark.parametrize("spec", [
    SyntheticSpec(documents=1, queries=1, relevant=1, vocabulary=10, query_length=4),
    SyntheticSpec(documents=30, queries=6, relevant=5, vocabulary=50),  # every document relevant
    SyntheticSpec(documents=200, queries=3, relevant=7, vocabulary=100, doc_length=1),  # grades 3,2,1,3,2,1,3
    SyntheticSpec(documents=200, queries=3, vocabulary=1_000, zipf=50.0),  # one word takes (almost) all
    SyntheticSpec(documents=200, queries=3, vocabulary=1_000, zipf=0.01),  # (almost) uniform
    SyntheticSpec(documents=100, queries=2, vocabulary=10, query_length=4, seed=2**63 - 1),
])  # fmt: skip
def test_degenerate_collections_are_consistent(spec):
    consistent(generate(spec), spec)


def test_chunk_boundaries(monkeypatch):
    """Documents are made in chunks; a chunk of 7 puts many boundaries (and planted documents at
    them) in a small collection: every document is still whole and in place."""
    monkeypatch.setattr(synthetic_module, "CHUNK", 7)
    for documents in (1, 6, 7, 8, 14, 50):
        spec = SyntheticSpec(documents=documents, queries=1, relevant=1, vocabulary=100, doc_length=3)
        consistent(generate(spec), spec)


def test_the_provider_loads_a_one_document_collection(tmp_path):
    c = load(tmp_path, documents=1, topics=1, relevant=1, vocabulary=10)
    assert len(c.docs) == 1 and c.qrels == {"q0": {"d0": 3}}


# -- determinism, and what changes the collection -------------------------------------------------


SCRIPT = ("from harness.synthetic import SyntheticSpec, generate;"
          "print(generate(SyntheticSpec(documents=700, queries=9, vocabulary=800, seed=11)).fingerprint)")


def test_same_collection_in_other_processes_and_hash_seeds():
    here = generate(SyntheticSpec(documents=700, queries=9, vocabulary=800, seed=11)).fingerprint
    for hash_seed in ("0", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == here, hash_seed


BASE = {"documents": 400, "queries": 8, "vocabulary": 600, "zipf": 1.07, "doc_length": 20.0, "query_length": 3,
        "relevant": 4, "seed": 0}  # fmt: skip
CHANGED = {"documents": 401, "queries": 9, "vocabulary": 601, "zipf": 1.2, "doc_length": 21.0, "query_length": 4,
           "relevant": 3, "seed": 1}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BASE))
def test_every_parameter_changes_the_fingerprint(name):
    """Results are cached by the collection's fingerprint: a parameter that did not change it would
    serve one collection's rankings for another's."""
    base = generate(SyntheticSpec(**BASE)).fingerprint
    assert generate(SyntheticSpec(**{**BASE, name: CHANGED[name]})).fingerprint != base


def test_one_size_written_three_ways_is_one_collection(tmp_path):
    prints = {load(tmp_path, documents=d, topics=5, vocabulary=500).fingerprint for d in (1500, "1500", "1.5k")}
    assert len(prints) == 1


# -- the docs' claims, against the text ------------------------------------------------------------


def test_planted_grades_share_more_query_words():
    """"The higher the grade, the more query words a document shares": the mean count of its query's
    words in a document, by grade, grows with the grade, and every relevant document beats the
    collection's background."""
    spec = SyntheticSpec(documents=20_000, queries=200, vocabulary=20_000, seed=7)
    c = generate(spec)
    text = {d.id: d.text.split(" ") for d in c.docs}
    by_grade = collections.defaultdict(list)
    for qid, judged in c.qrels.items():
        terms = set(c.queries[qid].split(" "))
        for doc, grade in judged.items():
            by_grade[grade].append(sum(t in terms for t in text[doc]))
        background = [sum(t in terms for t in text[f"d{i}"]) for i in range(0, spec.documents, 97)]
        by_grade[0].append(float(np.mean(background)))
    means = [float(np.mean(by_grade[g])) for g in (0, 1, 2, 3)]
    assert means == sorted(means) and means[1] > 2 * means[0] + 0.3, means
    # Planted words are drawn from the 2 x query_length topic words, so about half are query words:
    # 2g planted tokens give about g of them (plus chance).
    for g in (1, 2, 3):
        assert abs(means[g] - g) < 0.35, means


def test_lengths_follow_poisson_and_words_follow_zipf():
    """Document lengths: Poisson(doc_length) (mean and variance), and word frequencies against the
    formula, computed here independently with numpy (total variation distance)."""
    spec = SyntheticSpec(documents=20_000, queries=10, relevant=1, vocabulary=2_000, doc_length=30.0, seed=5)
    c = generate(spec)
    lengths = np.array([len(d.text.split(" ")) for d in c.docs])
    assert abs(lengths.mean() - 30) < 0.2 and abs(lengths.var() - 30) < 1.5
    rank = {w: i for i, w in enumerate(words(spec.vocabulary))}
    counts = np.bincount([rank[t] for d in c.docs for t in d.text.split(" ")], minlength=spec.vocabulary)
    expected = np.arange(1, spec.vocabulary + 1, dtype=float) ** -spec.zipf
    expected /= expected.sum()
    assert 0.5 * np.abs(counts / counts.sum() - expected).sum() < 0.02


def test_bm25_beats_random_on_the_planted_judgments():
    """nDCG@10 of BM25 well above that of a random ranking (~0), computed here from the qrels."""
    bm25s = pytest.importorskip("harness_lexical")
    from harness.components import Context

    c = generate(SyntheticSpec(documents=5_000, queries=50, vocabulary=10_000, seed=9))
    engine = bm25s.BM25()
    engine.index(c, Context(cache=None, phase=collections.defaultdict(dict)))
    run = engine.retrieve(c.queries, 10, Context())

    def ndcg(ranking, judged):
        dcg = sum(judged.get(d, 0) / math.log2(r + 2) for r, d in enumerate(list(ranking)[:10]))
        ideal = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(judged.values(), reverse=True)[:10]))
        return dcg / ideal

    ours = np.mean([ndcg(run[q], c.qrels[q]) for q in c.qrels])
    rng = np.random.default_rng(0)
    ids = [d.id for d in c.docs]
    chance = np.mean([ndcg(rng.choice(ids, 10, replace=False).tolist(), c.qrels[q]) for q in c.qrels])
    assert ours > 0.7 and chance < 0.05, (ours, chance)


# -- the tiny model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["model", "X", "abc"], ["model", "X", "-3"], ["model", "X", "0"],
                                  ["model", "X", "1.5"], ["model"], ["modle", "X"], []])
def test_model_command_refuses_bad_arguments_with_usage(tmp_path, capsys, argv):
    """Exit status 2 and a usage line, never a traceback (int('abc') raised ValueError before)."""
    argv = [str(tmp_path / "m") if a == "X" else a for a in argv]
    assert main(argv) == 2
    assert "usage: python -m harness.synthetic model FOLDER" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-adv")
    assert main(["model", str(folder / "a"), "500"]) == 0
    assert main(["model", str(folder / "b"), "500"]) == 0
    return folder / "a", folder / "b"


def test_tiny_model_is_the_same_folder_every_time(two_models):
    a, b = two_models
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "vocab.txt" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_tiny_model_tokenises_each_word_as_one_token(two_models):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(two_models[0])
    c = generate(SyntheticSpec(documents=50, queries=2, relevant=1, vocabulary=500))
    for d in c.docs[:20]:
        ids = tokenizer(d.text)["input_ids"]
        assert len(ids) == len(d.text.split(" ")) + 2 and tokenizer.unk_token_id not in ids


def test_tiny_model_loads_with_the_dense_retriever(two_models, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers_plugin = pytest.importorskip("harness_transformers")
    from harness.components import Context

    c = generate(SyntheticSpec(documents=120, queries=6, relevant=2, vocabulary=500))
    runs = []
    for _ in range(2):
        engine = transformers_plugin.Dense(model=str(two_models[0]), pooling="mean", normalize=True,
                                           max_length=64, batch_size=32, device="cpu")
        engine.index(c, Context(cache=None, phase=collections.defaultdict(dict)))
        runs.append(engine.retrieve(c.queries, 10, Context()))
    first, second = runs
    assert set(first) == set(c.queries)
    for qid, ranking in first.items():
        scores = list(ranking.values()) if isinstance(ranking, dict) else [s for _, s in ranking]
        assert len(scores) == 10 and all(math.isfinite(s) for s in scores)
        assert list(ranking) == list(second[qid])  # the same model, the same ranking


# -- the growth benchmark's smoke cannot pass having measured nothing ----------------------------


@pytest.fixture(scope="module")
def bench():
    for name in ("torch", "transformers", "faiss", "harness_lexical", "harness_transformers"):
        pytest.importorskip(name)
    spec = importlib.util.spec_from_file_location("growth_bench_adv", ROOT / "benchmarks" / "test_growth_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(system: str, documents: int = 2_000, **changes) -> dict:
    base = {"system": system, "documents": documents, "queries": 200, "qps": 100.0, "index_peak": 1,
            "encoded": system == "dense", "hnsw_build_s": 0.1 if system == "hnsw" else None,
            "ndcg10": 0.9 if system == "bm25" else 0.0}  # fmt: skip
    return {**base, **changes}


def test_smoke_rows_checked(bench):
    good = [row(s) for s in bench.SYSTEMS]
    bench.check_rows(good, bench.SMOKE_SIZES)
    assert bench.sizes(smoke=True) == bench.SMOKE_SIZES != ()
    for bad in ([], good[:2], [*good, row("bm25")], [row(s, 1_000) for s in bench.SYSTEMS],
                [row("bm25", ndcg10=0.1), *good[1:]], [good[0], row("dense", encoded=False), good[2]],
                [*good[:2], row("hnsw", encoded=True)], [row("bm25", queries=0), *good[1:]]):
        with pytest.raises(AssertionError):
            bench.check_rows(bad, bench.SMOKE_SIZES)


# -- words, and the run cache over synthetic collections ----------------------------------------


def test_word_and_words_agree_at_the_digit_boundaries():
    from harness.synthetic import word

    every = words(5_000)
    for i in (0, 1, 68, 69, 70, 71, 4_829, 4_830, 4_899, 4_900, 4_999):
        assert word(i) == every[i] and len(word(i)) >= 4 and word(i).isascii() and word(i).isalpha(), i
    assert word(0) == "beba" and word(4_830) == "bebaba"  # 4,900 = 70^2: the first three-syllable word
    assert len(set(every)) == len(every)


SMALL_SUITE = """
name = "syn"
metrics = ["nDCG@10"]
[[datasets]]
name = "s"
source = "synthetic:2k"
topics = 20
vocabulary = 3000
[[pipelines]]
name = "bm25"
retriever = { plugin = "bm25" }
"""


def test_the_run_cache_follows_the_generator_parameters(tmp_path):
    """Rerun: cached rankings, the same numbers; the same size written differently: still cached;
    any generator parameter changed: a new collection, recomputed, never the cached rankings."""
    pytest.importorskip("harness_lexical")
    from harness.api import run

    path = tmp_path / "syn.toml"
    path.write_text(SMALL_SUITE)

    def once(*sets):
        cell = next(iter(run(path, overrides=list(sets), results_dir=tmp_path / "results", new=True).results))
        return cell["metrics"]["nDCG@10"], cell["dataset"]["fingerprint"], cell["phases"]["retrieve"]["cache"]

    first = once()
    assert first[2] == "miss" and once() == (*first[:2], "hit")
    assert once('datasets.s.source="synthetic:2000"') == (*first[:2], "hit")
    for change in ("datasets.s.zipf=1.3", "datasets.s.seed=1", "datasets.s.doc_length=30.0",
                   "datasets.s.query_length=3", "datasets.s.relevant=4", "datasets.s.vocabulary=3001"):
        _, fingerprint, cache = once(change)
        assert fingerprint != first[1] and cache == "miss", change


def test_the_documented_bm25_figure():
    """docs/datasets.md: "BM25 (k1 0.9, b 0.4) scores nDCG@10 ≈ 0.90 at 20,000 documents with 200
    queries" (the default generator otherwise); nDCG@10 computed here from the qrels."""
    lexical = pytest.importorskip("harness_lexical")
    from harness.components import Context

    c = generate(SyntheticSpec(documents=20_000, queries=200))
    engine = lexical.BM25(k1=0.9, b=0.4)
    engine.index(c, Context(cache=None, phase=collections.defaultdict(dict)))
    run = engine.retrieve(c.queries, 10, Context())
    total = 0.0
    for qid, judged in c.qrels.items():
        dcg = sum(judged.get(d, 0) / math.log2(r + 2) for r, d in enumerate(list(run[qid])[:10]))
        ideal = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(judged.values(), reverse=True)[:10]))
        total += dcg / ideal
    assert abs(total / len(c.qrels) - 0.90) < 0.015, total / len(c.qrels)
