"""ir-harness-lexical: lexical retrievers for the harness (``bm25``).

This module is what the ``harness`` entry point loads for ``harness plugins``: it imports only
the component classes, which import bm25s, numpy and PyStemmer inside their methods, so listing
plugins stays instant.
"""


from harness.sdk import hookimpl

from .bm25 import BM25

__all__ = ["BM25", "harness_retrievers"]


@hookimpl
def harness_retrievers():
    return [BM25]
