"""The conformance kit: pytest contracts a plugin's tests subclass to check its components.

::

    from harness.testing import RetrieverContract
    from harness_overlap import Overlap

    class TestOverlap(RetrieverContract):
        component = Overlap
        params = {"lowercase": True}

Each contract (``RetrieverContract``, ``RankerContract``, ``CompressorContract``,
``MetricContract``, ``DatasetContract``) is a class of ``test_*`` methods, one per rule, that
pytest collects through the subclass. The rules are listed in docs/plugins.md ("Conformance
kit"); a rule that does not apply to a component is switched off by overriding its method.
The kit's data (``tiny_collection`` and friends) also comes as pytest fixtures from
``harness.testing.plugin``, which installing the harness registers with pytest.

Names load on first use: importing this package imports neither pytest nor torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "RetrieverContract": "retriever",
    "RankerContract": "ranker",
    "CompressorContract": "compressor",
    "MetricContract": "metric",
    "DatasetContract": "dataset",
    "Contract": "base",
    "tiny_model": "compressor",
    "module_size": "compressor",
    "default_input": "compressor",
    "REQUIRED_FIELDS": "compressor",
    "metric_runs": "metric",
    "tiny_collection": "data",
    "small_collection": "data",
    "candidates": "data",
    "make_context": "data",
    "registry_with": "data",
    "installed_registry": "data",
    "write_beir": "data",
    "NON_ASCII_QUERIES": "data",
    "EMPTY_QUERIES": "data",
}
CONTRACTS = ("RetrieverContract", "RankerContract", "CompressorContract", "MetricContract", "DatasetContract")
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'harness.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return [*globals(), *__all__]
