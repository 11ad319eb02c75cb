"""Tiny randomly initialised BERT models, built offline once per session, and a small collection.

transformers 5 ignores ``BertTokenizerFast(vocab_file=...)`` (every id becomes [UNK]): the
tokenizer is loaded from a folder holding ``vocab.txt`` (see ../shared/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.collection import Collection, Document
from harness.components import Context

from .helpers import WORDS, sentences, write_beir


def _tiny(folder: Path, head: str, **config) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    torch.manual_seed(0)
    bert = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      vocab_size=len(vocab), **config)
    model = BertForSequenceClassification(bert) if head == "classifier" else BertModel(bert)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A folder with a random 2-layer, 32-dimensional BERT encoder and its tokenizer."""
    return _tiny(tmp_path_factory.mktemp("models") / "tiny-encoder", "encoder")


@pytest.fixture(scope="session")
def tiny_cross(tmp_path_factory) -> Path:
    """The same with a one-output sequence-classification head (a cross-encoder)."""
    return _tiny(tmp_path_factory.mktemp("models") / "tiny-cross", "classifier", num_labels=1)


@pytest.fixture(scope="session")
def tiny_cross_two(tmp_path_factory) -> Path:
    """A two-output head (0 = not relevant, 1 = relevant), as some rerankers ship."""
    return _tiny(tmp_path_factory.mktemp("models") / "tiny-cross-2", "classifier", num_labels=2)


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return sentences(24)


@pytest.fixture(scope="session")
def collection(texts) -> Collection:
    queries = dict(zip(("q1", "q2", "q3", "q4"), sentences(4, seed=1, longest=6), strict=True))
    docs = [Document(f"d{i:02d}", text) for i, text in enumerate(texts)]
    return Collection("tiny", docs, queries, {"q1": {"d01": 1}}, fields=("text",))


@pytest.fixture
def beir(tmp_path, collection) -> Path:
    return write_beir(tmp_path / "tiny-beir", collection)


@pytest.fixture
def ctx() -> Context:
    """A context without an artifact cache (tests that need one make it)."""
    return Context()
