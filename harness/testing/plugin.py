"""pytest plugin of the conformance kit: its test data as fixtures.

Installing the harness registers this module with pytest (entry point ``pytest11``), so a
plugin's tests get these fixtures without a conftest. Their names start with ``harness_`` to
stay clear of a project's own fixtures. The contracts do not need them: they are for an
author's tests beyond the contract.

This module is imported by every pytest session in an environment with the harness installed:
it imports nothing heavy (torch only inside ``harness_tiny_model``).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def harness_collection():
    """The kit's tiny ``Collection``: 12 documents (a duplicate pair, an empty one, non-ASCII
    text), 5 queries, graded qrels with a negative grade and a judged document not in the corpus."""
    from .data import tiny_collection

    return tiny_collection()


@pytest.fixture
def harness_context(tmp_path, harness_collection):
    """A ``Context`` as the runner builds it (CPU, seed 0, the tiny collection), with an
    artifact cache and ``base_dir`` in a temporary folder."""
    from .data import make_context

    return make_context(tmp_path, tmp_path / "cache", harness_collection)


@pytest.fixture
def harness_candidates(harness_collection):
    """A first-stage ``Run`` over the tiny collection to rerank: six candidates per query."""
    from .data import candidates

    return candidates(harness_collection)


@pytest.fixture
def harness_edge_queries():
    """Queries that break careless components: empty, blank and non-ASCII ones, by id."""
    from .data import EMPTY_QUERIES, NON_ASCII_QUERIES

    return {**EMPTY_QUERIES, **NON_ASCII_QUERIES}


@pytest.fixture
def harness_tiny_model():
    """A small deterministic torch model (``(batch, 16)`` in, ``(batch, 8)`` out), as the
    compressor contract uses; skips the test when torch is not installed."""
    pytest.importorskip("torch")
    from .compressor import tiny_model

    return tiny_model()


@pytest.fixture
def harness_registry():
    """``harness_registry(*classes)``: the built-in components plus ``classes``, as if
    installed (parse your metric's names, validate a suite using your component)."""
    from .data import registry_with

    return registry_with
