"""ir-harness-lexical: lexical retrievers and pair scorers for the harness (``bm25``).

This module is what the ``harness`` entry point loads for ``harness plugins``: it imports only
the component classes, which import bm25s, numpy and PyStemmer inside their methods, so listing
plugins stays instant.
"""


from harness.sdk import hookimpl

from .bm25 import BM25
from .pairs import BM25Scorer

__all__ = ["BM25", "BM25Scorer", "harness_rankers", "harness_retrievers"]


@hookimpl
def harness_retrievers():
    return [BM25]


@hookimpl
def harness_rankers():
    return [BM25Scorer]
