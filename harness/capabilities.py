"""Optional capabilities of a component, as Protocols, and the one place they are checked.

A component kind's required methods are on its base class (``Retriever.retrieve``); what a
component *may* also do is declared here: the runner asks ``supports(component, Persistent)``
and never probes attributes itself. Each Protocol is part of the SDK (docs/plugins.md,
"Optional capabilities"); a component takes one on simply by defining its methods, with no
registration and no base class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .collection import Collection
    from .components import Context
    from .ranking import Run


@runtime_checkable
class Persistent(Protocol):
    """A retriever whose index can be saved to a folder and loaded back: the runner keeps it in
    the artifact cache and reuses it across pipelines and runs with the same identity."""

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


@runtime_checkable
class TorchModules(Protocol):
    """A component that exposes its torch modules: the runner reports their parameter bytes."""

    def torch_modules(self) -> dict[str, Any]: ...


@runtime_checkable
class Compressible(TorchModules, Protocol):
    """A component whose torch modules compressors may replace (``compressors = [...]``)."""

    def torch_modules(self) -> dict[str, Any]: ...

    def replace_torch_modules(self, modules: dict[str, Any]) -> None: ...


@runtime_checkable
class TwoStep(Protocol):
    """A retriever whose ``retrieve`` is ``search(encode_queries(queries), k)``: the runner times
    the two steps apart (phases ``query_encode`` and ``search``)."""

    def encode_queries(self, queries: Mapping[str, str]) -> Any: ...

    def search(self, vectors: Any, k: int) -> Run: ...


@runtime_checkable
class Sharded(Protocol):
    """A retriever whose index can be built in corpus shards on several workers, then merged
    (docs/distributed.md)."""

    def index_shard(self, collection: Collection, shard: Any, folder: Path, ctx: Context) -> None: ...

    def merge_index(self, collection: Collection, folders: Sequence[Path], ctx: Context) -> None: ...


@runtime_checkable
class CacheAware(Protocol):
    """A retriever that keeps its own cache (embeddings) and can tell whether indexing a
    collection would be served from it, so the distributed executor does not shard it again."""

    def index_cached(self, collection: Collection, ctx: Context) -> bool: ...


@runtime_checkable
class IndexSized(Protocol):
    """A retriever that knows the bytes its in-memory index holds (the ``index_bytes`` figure)."""

    def index_bytes(self) -> int: ...


@runtime_checkable
class PairScorer(Protocol):
    """A ranker that scores arbitrary (query, document texts) pairs: ``score_pairs`` returns one
    finite float per text, in their order. Nested scorers (``ctx.scorer``) and the default
    ``Ranker.rerank`` call it, check what it returns and count the calls (harness/scoring.py).
    Not ``score``: a component's parameters become attributes, and rankers have a ``score``
    parameter (the cross-encoder's) that would hide the method."""

    def score_pairs(self, query: str, texts: Sequence[str], ctx: Context) -> Sequence[float]: ...


@runtime_checkable
class Embedder(Protocol):
    """A retriever whose model maps texts to dense vectors, handed out to other components by
    ``ctx.encoder(spec)`` (harness/encoding.py): a query-bank normaliser reads the very document
    vectors the retriever searches. Both methods go through the component's own cache (the dense
    retriever's embedding cache), so asking again costs a lookup. Not ``encode_queries``: the
    ``TwoStep`` capability has that name, with another signature.

    ``embed_corpus`` returns the collection's document ids in corpus order and a 2-d float array
    (numpy, or a CPU torch tensor) with one row per id; ``embed_queries`` one row per text, in
    their order, in the same space (the dot product of a query row and a document row is the
    retriever's score)."""

    def embed_corpus(self, collection: Collection, ctx: Context) -> tuple[list[str], Any]: ...

    def embed_queries(self, texts: Sequence[str], ctx: Context) -> Any: ...


CAPABILITIES = (Persistent, TorchModules, Compressible, TwoStep, Sharded, CacheAware, IndexSized, PairScorer,
                Embedder)


def supports(component: object, capability: type) -> bool:
    """Whether ``component`` (an instance or a class) has every method of ``capability``.

    The one capability check: every member must be a callable attribute (a member set to None or
    to a plain value does not count), so a half-implemented capability is not taken for one.
    """
    if capability not in CAPABILITIES:
        raise TypeError(f"{capability!r} is not a capability (one of {[c.__name__ for c in CAPABILITIES]})")
    return all(callable(getattr(component, name, None)) for name in _members(capability))


def _members(capability: type) -> tuple[str, ...]:
    return tuple(name for name, value in vars(capability).items()
                 if callable(value) and not name.startswith("_"))
