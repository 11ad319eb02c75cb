"""Built-in dataset providers: ``irds`` (an ir_datasets id), ``beir`` (a BEIR folder), ``trec``
(topics, qrels and corpus files) and ``synthetic`` (a seeded generated collection).

Each returns the collection as its source has it: raw grades, every query, every document;
``harness.datasets.load_dataset`` then applies a suite's grade mapping, query subset and fields.
Every file may be gzip-compressed. A problem in a file raises ``DatasetError`` naming the file and
line. docs/datasets.md describes the formats.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .beir import BeirProvider
from .irds import IrdsProvider
from .synthetic import SyntheticProvider
from .trec import TrecProvider

__all__ = ["BeirProvider", "IrdsProvider", "SyntheticProvider", "TrecProvider"]


@hookimpl
def harness_dataset_providers():
    return [IrdsProvider, BeirProvider, TrecProvider, SyntheticProvider]
