"""``dense`` with a FAISS index (``index = flat | hnsw | ivf | ivfpq``): flat equals the exact
search, the approximate ones find most of the exact top k, settings are checked, FAISS's -1
padding never reaches a run, the index is cached (search settings reuse it), and the GPU path."""

from __future__ import annotations

import pytest

faiss = pytest.importorskip("faiss")

import numpy as np  # noqa: E402
from harness_transformers import Dense, faiss_index  # noqa: E402

from harness.cache import ArtifactCache  # noqa: E402
from harness.collection import Collection, Document  # noqa: E402
from harness.components import Context  # noqa: E402

from .helpers import sentences  # noqa: E402

K = 10


@pytest.fixture(scope="module")
def corpus() -> Collection:
    """400 short documents; the queries are 20 of them with words changed (an easy set)."""
    texts = sentences(400, seed=7, longest=12)
    queries = {f"q{i}": " ".join(texts[i * 19].split()[:-1] + ["flow"]) for i in range(20)}
    docs = [Document(f"d{i:03d}", t) for i, t in enumerate(texts)]
    return Collection("faiss", docs, queries, {}, fields=("text",))


def indexed(folder, collection, ctx=None, **params) -> Dense:
    ctx = ctx or Context()
    dense = Dense(model=str(folder), **params)
    dense.identity(ctx)
    dense.index(collection, ctx)
    return dense


@pytest.fixture(scope="module")
def exact(tiny_encoder, corpus):
    return indexed(tiny_encoder, corpus).retrieve(corpus.queries, K, Context())


def recall(run, reference) -> float:
    hits = sum(len(set(run[q]) & set(reference[q])) for q in reference)
    return hits / sum(len(reference[q]) for q in reference)


def test_flat_equals_exact(tiny_encoder, corpus, exact):
    run = indexed(tiny_encoder, corpus, index="flat").retrieve(corpus.queries, K, Context())
    for qid in corpus.queries:
        ours, theirs = list(run[qid].items()), list(exact[qid].items())
        assert [d for d, _ in ours] == [d for d, _ in theirs], qid
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("params", "least"), [
    ({"index": "hnsw", "M": 8, "ef_construction": 40, "ef_search": 64}, 0.95),
    ({"index": "ivf", "nlist": 4, "nprobe": 2}, 0.8),
    ({"index": "ivf", "nlist": 4, "nprobe": 4}, 1.0),  # every list searched: exact
    ({"index": "ivfpq", "nlist": 1, "pq_m": 8}, 0.6),  # 4 dimensions a byte: coarse
])
def test_approximate_indexes_find_the_exact_top_k(tiny_encoder, corpus, exact, params, least):
    ctx = Context()
    run = indexed(tiny_encoder, corpus, ctx, **params).retrieve(corpus.queries, K, ctx)
    assert recall(run, exact) >= least
    assert ctx.phase["faiss"]["index"] == params["index"] and ctx.phase["faiss"]["gpu"] is False


def test_pq_m_must_divide_the_dimension_at_validation(tiny_encoder, corpus, tmp_path):
    base = {**{k: p.default for k, p in Dense.params.items()}, "model": str(tiny_encoder), "index": "ivfpq"}
    assert Dense.check_config({**base, "pq_m": 8}, tmp_path) == []  # 32 dimensions
    ((where, message),) = Dense.check_config({**base, "pq_m": 5}, tmp_path)
    assert where == "pq_m" and "must divide the vectors' dimension 32" in message
    assert Dense.check_config({**base, "index": "ivf", "pq_m": 5}, tmp_path) == []  # not used by ivf
    with pytest.raises(ValueError, match="pq_m 5 must divide"):  # and at index time, if validation was skipped
        indexed(tiny_encoder, corpus, index="ivfpq", nlist=1, pq_m=5)


def test_too_small_a_corpus_to_train_is_refused(tiny_encoder, collection):
    with pytest.raises(ValueError, match="nlist 2 needs at least 78 documents"):
        indexed(tiny_encoder, collection, index="ivf", nlist=2)


def test_padding_never_reaches_a_run(tiny_encoder, corpus):
    dense = indexed(tiny_encoder, corpus, index="ivf", nlist=8, nprobe=1)
    vectors = dense.encode_queries(corpus.queries)
    _, indices = faiss_index.search(dense._faiss, vectors.vectors.numpy(), 1000, "ivf", dense.config)
    assert indices.shape == (20, 400) and (indices == -1).any()  # one list of 8 holds fewer than 400
    run = dense.search(vectors, 1000)
    for row, qid in enumerate(corpus.queries):
        found = indices[row][indices[row] >= 0]
        assert len(run[qid]) == len(found) < 400
        assert list(run[qid]) == [f"d{i:03d}" for i in found]
        assert all(np.isfinite(list(run[qid].values())))


def test_the_index_is_cached_and_search_settings_reuse_it(tiny_encoder, corpus, tmp_path):
    cache = ArtifactCache(tmp_path)
    params = {"index": "hnsw", "M": 8, "ef_search": 16}
    first = Context(cache=cache)
    run = indexed(tiny_encoder, corpus, first, **params).retrieve(corpus.queries, K, first)
    miss = first.phase["faiss"]
    assert miss["cache"] == "miss" and miss["build"] == {"M": 8, "ef_construction": 40}
    again = Context(cache=cache)
    assert indexed(tiny_encoder, corpus, again, **params).retrieve(corpus.queries, K, again) == run
    assert again.phase["faiss"]["cache"] == "hit" and again.phase["faiss"]["key"] == miss["key"]
    assert again.phase["cache"] == "hit"  # vectors and index served: nothing measured
    wider = Context(cache=cache)  # a search setting: the same index
    indexed(tiny_encoder, corpus, wider, **{**params, "ef_search": 100})
    assert wider.phase["faiss"]["cache"] == "hit"
    other = Context(cache=cache)  # a build setting: another index
    indexed(tiny_encoder, corpus, other, **{**params, "M": 12})
    assert other.phase["faiss"]["cache"] == "miss" and other.phase["faiss"]["key"] != miss["key"]
    assert other.phase["embeddings"]["cache"] == "hit" and other.phase["cache"] == "miss"  # it built an index
    (entry,) = (tmp_path / "faiss" / miss["key"]).glob("*.faiss")
    assert faiss.read_index(str(entry)).ntotal == len(corpus.docs)


def test_keys_of_suites_without_index_are_unchanged(tiny_encoder, corpus):
    def ident(**params):
        dense = Dense(model=str(tiny_encoder), **params)
        return dense.identity(Context())

    plain = ident()
    assert not set(plain) & set(faiss_index.PARAMS + ("index",))
    assert ident(index="exact") == plain
    assert ident(index="hnsw") != plain and ident(index="hnsw", ef_search=20) != ident(index="hnsw")


def test_search_on_the_gpu_when_faiss_has_gpu_support(monkeypatch):
    flat = faiss.IndexFlatIP(4)
    moved = []

    class Resources:
        pass

    def to_gpu(resources, number, index):
        moved.append((type(resources), number, index))
        return "gpu-index"

    assert faiss_index.to_device(flat, "flat", "cuda") == (flat, None) or hasattr(faiss, "StandardGpuResources")
    monkeypatch.setattr(faiss, "StandardGpuResources", Resources, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    index, resources = faiss_index.to_device(flat, "ivf", "cuda:1")
    assert index == "gpu-index" and isinstance(resources, Resources) and moved == [(Resources, 1, flat)]
    assert faiss_index.to_device(flat, "flat", "cpu") == (flat, None)
    assert faiss_index.to_device(flat, "hnsw", "cuda") == (flat, None)  # no GPU HNSW in FAISS
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0)
    assert faiss_index.to_device(flat, "flat", "cuda") == (flat, None)


def test_a_suite_sweeping_search_settings_builds_the_index_once(tmp_path, tiny_encoder, corpus):
    import textwrap

    from harness.runner import run_suite
    from harness.suite import load_suite, validate

    from .helpers import registry_with, write_beir

    judged = Collection("faiss", corpus.docs, dict(list(corpus.queries.items())[:5]), {}, fields=("text",))
    beir = write_beir(tmp_path / "beir", judged)
    exact = f'plugin = "dense", model = "{tiny_encoder}", max_length = 32'
    retriever = f'{exact}, index = "ivf", nlist = 4'
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "faiss"
        k = 10
        metrics = ["nDCG@10", {{ metric = "ExactRecall@10", reference = {{ {exact} }} }}]
        [[datasets]]
        source = "beir:{beir}"
        fields = ["text"]
        [[pipelines]]
        name = "ivf-1"
        retriever = {{ {retriever}, nprobe = 1 }}
        [[pipelines]]
        name = "ivf-4"
        retriever = {{ {retriever}, nprobe = 4 }}
        """))
    registry = registry_with()
    assert validate(path, registry=registry) == []
    outcome = run_suite(load_suite(path, registry=registry), results_dir=tmp_path / "results", registry=registry,
                        new=True)
    phases = {r["cell"]["pipeline"]: r["phases"]["index"]["faiss"] for r in outcome.results}
    assert phases["ivf-1"]["key"] == phases["ivf-4"]["key"]
    assert sorted(p["cache"] for p in phases.values()) == ["hit", "miss"]
    recall = {r["cell"]["pipeline"]: next(v for m, v in r["metrics"].items() if m.startswith("ExactRecall"))
              for r in outcome.results}
    assert recall["ivf-4"] == 1.0 and 0 < recall["ivf-1"] <= 1.0  # every list probed: the exact top 10
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('index = "ivf"', 'index = "ivfpq", pq_m = 5'))
    problems = validate(bad, registry=registry)
    assert problems and all("pq_m 5 must divide the vectors' dimension 32" in str(p) for p in problems)


def test_dense_searches_the_gpu_copy_up_to_faiss_gpu_limit(tiny_encoder, corpus, monkeypatch):
    dense = indexed(tiny_encoder, corpus, index="flat")
    searched = []

    class GpuCopy:  # stands in for the GPU index: the CPU one, recording its searches
        ntotal = dense._faiss_cpu.ntotal

        def search(self, queries, k):
            searched.append(k)
            return dense._faiss_cpu.search(queries, k)

    monkeypatch.setattr(faiss, "GpuParameterSpace", faiss.ParameterSpace, raising=False)
    dense._faiss, dense._gpu = GpuCopy(), object()
    vectors = dense.encode_queries(corpus.queries)
    assert dense.search(vectors, K) == indexed(tiny_encoder, corpus, index="flat").search(vectors, K)
    assert searched == [K]
    monkeypatch.setattr(faiss_index, "GPU_MAX_K", 5)  # beyond FAISS's GPU limit: the CPU copy
    assert len(dense.search(vectors, 6)["q0"]) == 6 and searched == [K]
