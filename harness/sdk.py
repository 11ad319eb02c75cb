"""The plugin SDK: everything a plugin may import from the harness, and nothing else.

::

    from harness.sdk import Context, Param, Retriever, Run, hookimpl

    class Overlap(Retriever):
        name = "overlap"
        params = {"lowercase": Param(bool, True, "compare words in lower case")}
        ...

    @hookimpl
    def harness_retrievers():
        return [Overlap]

Plugins (first-party ones included) import only this module; the rest of the core may change
between releases without notice. Every name in ``__all__`` is documented in docs/plugins.md
("The SDK"), and a test fails when one is not.

Versioning: ``SDK_VERSION`` is ``MAJOR.MINOR``. A minor release only adds names or optional
parameters. A name is deprecated for at least one minor release before it is removed: importing
it then warns (``DeprecationWarning``, naming its replacement and the release that removes it),
and removal bumps the major version.

Importing this module is cheap (no torch, numpy or pytest): plugin modules import it when
``harness plugins`` lists them. The conformance kit's names (``RetrieverContract`` ...) and
the helpers that need numpy load on first use.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

from .banks import BankSource, QueryBank, QueryBankError
from .cache import ArtifactCache, cache_key
from .capabilities import (
    CacheAware,
    Compressible,
    Embedder,
    IndexSized,
    PairScorer,
    Persistent,
    Sharded,
    TorchModules,
    TwoStep,
    supports,
)
from .collection import Collection, Document
from .components import (
    Component,
    Compressor,
    Context,
    DatasetProvider,
    Metric,
    MetricValue,
    Progress,
    Ranker,
    Retriever,
)
from .corpus import DiskDocuments, gather_documents
from .costs import Costs
from .datasets import DatasetError
from .encoding import Encoder, encoder_for
from .errors import ComponentError, HarnessError
from .exact import recall_of_exact
from .hookspecs import hookimpl
from .params import REQUIRED, Param, check_params
from .plugins import PluginError
from .ranking import Run, rerank_merge, trec_order
from .scoring import Scorer, scorer_for

if TYPE_CHECKING:  # loaded on first use (_LAZY), named here for readers and linters
    from .testing import CompressorContract, DatasetContract, MetricContract, RankerContract, RetrieverContract

SDK_VERSION = "1.0"

# Names that load on first use, and the module each comes from: the conformance kit imports
# pytest; the helpers import numpy.
_LAZY = {
    "RetrieverContract": "harness.testing",
    "RankerContract": "harness.testing",
    "CompressorContract": "harness.testing",
    "MetricContract": "harness.testing",
    "DatasetContract": "harness.testing",
}

# Deprecated names: {name: (replacement, deprecated in, removed in)}; empty in SDK 1.0.
_DEPRECATED: dict[str, tuple[str, str, str]] = {}

__all__ = [
    "REQUIRED",
    "SDK_VERSION",
    "ArtifactCache",
    "BankSource",
    "CacheAware",
    "Collection",
    "Component",
    "ComponentError",
    "Compressible",
    "Compressor",
    "CompressorContract",
    "Context",
    "Costs",
    "DatasetContract",
    "DatasetError",
    "DatasetProvider",
    "DiskDocuments",
    "Document",
    "Embedder",
    "Encoder",
    "HarnessError",
    "IndexSized",
    "Metric",
    "MetricContract",
    "MetricValue",
    "PairScorer",
    "Param",
    "Persistent",
    "PluginError",
    "Progress",
    "QueryBank",
    "QueryBankError",
    "Ranker",
    "RankerContract",
    "Retriever",
    "RetrieverContract",
    "Run",
    "Scorer",
    "Sharded",
    "TorchModules",
    "TwoStep",
    "build",
    "cache_key",
    "check_params",
    "encoder_for",
    "gather_documents",
    "hookimpl",
    "recall_of_exact",
    "rerank_merge",
    "scorer_for",
    "supports",
    "trec_order",
]


def build(kind: str, table: dict) -> Component:
    """A component of an installed plugin from a plain table, parameters checked:
    ``build("retriever", {"plugin": "bm25", "k1": 1.2})``. For components that combine others
    when called outside a suite (inside one, nested tables arrive already validated)."""
    from .plugins import get_registry

    return get_registry().build(kind, table)


def __getattr__(name: str):
    if name in _DEPRECATED:
        replacement, since, removal = _DEPRECATED[name]
        warnings.warn(f"harness.sdk.{name} is deprecated since SDK {since} and goes in {removal}: "
                      f"use {replacement}", DeprecationWarning, stacklevel=2)
        return _resolve(replacement)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.sdk' has no attribute {name!r}")


def _resolve(dotted: str):
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module or __name__), attr) if module else globals()[attr]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
