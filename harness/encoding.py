"""A nested retriever's dense vectors: ``ctx.encoder(spec)`` and ``encoder_for(ctx, spec)``.

A component that works on a dense model's vectors rather than on its rankings (a query-bank
normaliser, a hubness reducer) declares a parameter ``Param("retriever")``; a suite writes the dense
retriever's table there (``encoder = {plugin = "dense", model = "..."}``), validated like a
pipeline's. ``ctx.encoder(spec)`` returns an ``Encoder``: that retriever built, set up and
compressed once by the runner's stage executor (phases ``<plugin>.load_model``,
``<plugin>.compress``; its calls added up in ``<plugin>.embed``), never indexed: it must define
the ``Embedder`` capability (capabilities.py), whose methods read and fill the retriever's own
embedding cache. So a cached first-stage run, which leaves no index ready and publishes no
artifacts, does not stop the nesting component from getting the same document vectors, and
asking twice costs a cache lookup.

``Encoder.corpus(collection)`` returns ``(doc_ids, matrix)`` and ``Encoder.queries(texts)`` a
matrix, both checked (a 2-d finite float32 numpy array, one row per id or text, ids the
collection's in corpus order) so that a broken plugin fails naming itself, not deep in someone
else's arithmetic.

Outside a runner ``ctx.encoder`` is None; ``encoder_for(ctx, spec)`` then builds and sets up the
retriever itself, once per spec and context (a spec with compressors needs the runner).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .capabilities import Embedder, supports
from .errors import ComponentError, HarnessError

if TYPE_CHECKING:
    from .collection import Collection
    from .components import Context


def who(retriever) -> str:
    cls = type(retriever)
    return f"retriever {getattr(cls, 'name', '') or cls.__name__!r}"


class Encoder:
    """A ready retriever's vectors, as ``ctx.encoder(spec)`` hands them out."""

    def __init__(self, retriever, ctx: Context, record: dict | None = None):
        self.retriever = retriever
        self._ctx = ctx  # a context of its own: cache outcomes go into its phase record, not the caller's
        self._record = record  # phase ``<plugin>.embed``: calls, texts, host seconds
        # The corpus's dimension once handed out: query rows of another width would fail later in
        # a caller's matmul with a numpy error naming neither the retriever nor the call.
        self._dimension: int | None = None

    @property
    def plugin(self) -> str:
        return type(self.retriever).name

    def corpus(self, collection: Collection):
        """``(doc_ids, matrix)``: every document of ``collection`` in corpus order, its vector a row
        of ``matrix`` (float32 numpy, documents × dimension)."""
        started = time.perf_counter()
        out = self.retriever.embed_corpus(collection, self._ctx)
        if not isinstance(out, tuple) or len(out) != 2:
            raise ComponentError(f"{who(self.retriever)}: embed_corpus must return (doc_ids, matrix), got "
                                 f"{type(out).__name__}")
        ids, matrix = list(out[0]), _matrix(out[1], self.retriever, "embed_corpus")
        expected = collection.doc_ids
        if ids != expected:
            raise ComponentError(f"{who(self.retriever)}: embed_corpus returned {len(ids)} ids that are not the "
                                 f"collection's {len(expected)} document ids in corpus order")
        if len(matrix) != len(ids):
            raise ComponentError(f"{who(self.retriever)}: embed_corpus returned {len(matrix)} rows for "
                                 f"{len(ids)} documents")
        self._check_dimension(matrix, "embed_corpus")
        self._count(started, len(ids))
        return ids, matrix

    def queries(self, texts: Sequence[str]):
        """One row per text (float32 numpy, texts × dimension), in the documents' space."""
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise ComponentError(f"{who(self.retriever)}: embed_queries takes a list of strings")
        started = time.perf_counter()
        matrix = _matrix(self.retriever.embed_queries(texts, self._ctx), self.retriever, "embed_queries")
        if len(matrix) != len(texts):
            raise ComponentError(f"{who(self.retriever)}: embed_queries returned {len(matrix)} rows for "
                                 f"{len(texts)} texts")
        if len(texts):  # an empty list may come back as (0, 0) or (0,) reshaped: no width to compare
            self._check_dimension(matrix, "embed_queries")
        self._count(started, len(texts))
        return matrix

    def _check_dimension(self, matrix, method: str) -> None:
        if self._dimension is None:
            self._dimension = matrix.shape[1]
        elif matrix.shape[1] != self._dimension:
            raise ComponentError(f"{who(self.retriever)}: {method} returned vectors of dimension {matrix.shape[1]}, "
                                 f"not {self._dimension} as before: queries and documents must share one space")

    def _count(self, started: float, texts: int) -> None:
        if self._record is not None:
            self._record["seconds"] = round(self._record["seconds"] + time.perf_counter() - started, 6)
            self._record["calls"] += 1
            self._record["texts"] += texts

    def __repr__(self) -> str:
        return f"Encoder({self.retriever!r})"


def _matrix(value: Any, retriever, method: str):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().float().numpy()
    try:
        matrix = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ComponentError(f"{who(retriever)}: {method} returned {type(value).__name__}, not a float matrix") \
            from None
    if matrix.ndim != 2:
        raise ComponentError(f"{who(retriever)}: {method} returned an array of shape {matrix.shape}, not a "
                             "matrix (one row per text)")
    if not np.isfinite(matrix).all():
        raise ComponentError(f"{who(retriever)}: {method} returned vectors with NaN or infinite values")
    return matrix


def require_embedder(retriever, where: str = "") -> None:
    """A ``ComponentError`` unless ``retriever`` hands out its vectors."""
    if not supports(retriever, Embedder):
        raise ComponentError(f"{where}{who(retriever)} cannot hand out its vectors: it defines no "
                             "embed_corpus(collection, ctx) and embed_queries(texts, ctx), which a nested encoder "
                             "(ctx.encoder) needs")


def encoder_for(ctx: Context, spec) -> Encoder:
    """``ctx.encoder(spec)``; outside a runner (``ctx.encoder`` is None) it first makes
    ``ctx.encoder`` a factory that builds and sets up each spec once."""
    if ctx.encoder is None:
        ctx.encoder = standalone_encoders(ctx)
    return ctx.encoder(spec)


def standalone_encoders(ctx: Context) -> Callable[[Any], Encoder]:
    """A ``ctx.encoder`` without a runner: a suite's validated retriever spec, or a plain table
    ``{"plugin": "dense", ...}`` looked up among the installed plugins, built and set up the
    first time it is asked for."""
    made: dict[int, tuple[Any, Encoder]] = {}

    def encoder(spec) -> Encoder:
        if id(spec) not in made:
            retriever = _build(spec)
            require_embedder(retriever)
            own = dataclasses.replace(ctx, artifacts={}, phase={})
            retriever.setup(own)
            made[id(spec)] = (spec, Encoder(retriever, own))  # the spec kept alive: its id stays its own
        return made[id(spec)][1]

    return encoder


def _build(spec):
    from .scoring import build_nested

    if isinstance(spec, Mapping) or getattr(spec, "kind", None) != "retriever":
        return build_nested(spec, "retriever", "ctx.encoder")
    if spec.compressors:
        raise HarnessError(f"retriever {spec.plugin!r}: a nested encoder with compressors needs the runner "
                           "(ctx.encoder); outside one it would run uncompressed")
    return spec.build()
