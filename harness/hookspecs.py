"""Every hook a harness plugin can implement; each docstring is that hook's contract.

A plugin is a module (or object) listed under the ``harness`` entry-point group of its
distribution, with functions marked ``@harness.hookimpl`` named after these specifications.
Each hook returns a list of component *classes*; the harness instantiates them per cell. The
harness's own built-in components are registered through these same hooks. docs/plugins.md
holds the full contract of each hook (a test fails when one is missing there).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_retrievers() -> list[type]:
    """Return ``Retriever`` subclasses: first stages that index a collection and return, per
    query, at most k documents with scores. A retriever may declare parameters holding nested
    retriever specs (``Param("retriever", many=True)``) to combine several, as rank fusion does."""


@hookspec
def harness_rankers() -> list[type]:
    """Return ``Ranker`` subclasses: second stages that rescore the first ``depth`` candidates
    of each query. They must return exactly the candidates they were given."""


@hookspec
def harness_compressors() -> list[type]:
    """Return ``Compressor`` subclasses: transformations of a compressible component's torch
    modules (low-rank, quantisation, pruning, precision) that also return a report."""


@hookspec
def harness_metrics() -> list[type]:
    """Return ``Metric`` subclasses: each a metric family (``nDCG``) whose suite names
    (``nDCG@10``) parse into parameters. A metric may need artifacts beyond (qrels, run)
    (``requires``) or have no per-query values (``per_query = False``)."""


@hookspec
def harness_dataset_providers() -> list[type]:
    """Return ``DatasetProvider`` subclasses: loaders that turn a suite's dataset entry into a
    ``Collection`` (corpus, queries, qrels), or raise ``DatasetError`` saying why they cannot."""
