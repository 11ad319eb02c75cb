"""The component kinds a plugin can provide, and the context the runner hands them.

A plugin returns component *classes* from its hooks (see ``hookspecs.py``). The runner builds an
instance from a suite table: ``{plugin = "bm25", k1 = 0.9}`` becomes ``BM25(k1=0.9, ...defaults)``
after the parameters were checked against ``params``. Every class carries:

* ``name``: what suites write after ``plugin =`` (unique per kind across installed plugins);
* ``params``: ``{name: Param}``, the parameters it accepts (see ``params.py``), each entering the
  component's cache keys unless declared ``affects_output=False``;
* a docstring whose first line ``harness plugins`` shows.

Nothing here imports torch or numpy: the core stays instant to import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .costs import Costs
from .params import Param, output_config, resolve_params

if TYPE_CHECKING:
    from .banks import QueryBank
    from .cache import ArtifactCache
    from .collection import Collection, Document
    from .encoding import Encoder
    from .ranking import Run
    from .scoring import Scorer

KINDS = ("retriever", "ranker", "compressor", "metric", "dataset")


class Component:
    """Base of every component kind: holds the resolved parameters."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    # Devices the component can run on; cells on other devices are skipped with a note.
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    # Artifacts the component puts into ``ctx.artifacts`` when it is made ready (``index``,
    # ``load``, ``prepare``; docs/plugins.md, "Artifacts"). None: not declared, so a cell whose
    # run came from the cache makes it ready whenever a metric needs an artifact the cell lacks;
    # () declares it publishes nothing, and it is left alone.
    publishes: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, **params: Any):
        self.config = resolve_params(self.params, params)
        for key, value in self.config.items():
            setattr(self, key, value)

    def setup(self, ctx: Context) -> None:
        """Load what the component needs before its first use (model weights, tokenizers).

        The runner times this apart (phase ``load_model``), so model loading is never mistaken for
        indexing or query latency. Keep constructors cheap: they run at validation time too.
        """

    def identity(self, ctx: Context) -> dict:
        """What decides this component's output besides its inputs, for cache keys: the
        parameters (canonical, ``params.resolve_params``), less those declared
        ``affects_output=False``; components that read files add a hash of their content. An
        override must keep every parameter that can change the output (tests/test_cache_keys.py
        changes each first-party parameter and checks that the key follows)."""
        return output_config(self.params, self.config)

    @classmethod
    def check_config(cls, params: dict[str, Any], base_dir: Path) -> list[tuple[str | None, str]]:
        """Problems with a stage's (or a metric's) parameters that their declarations cannot show (a model file
        that is missing, a value beyond what the model takes), found by ``harness validate``
        rather than when a cell runs: ``(parameter, message)`` pairs, reported at that
        parameter's line (``None``: at the stage's). Called once the parameters passed their
        declared checks, with them completed by their defaults (``self.config``'s form) and the
        suite file's folder for relative paths. Must be quick and must not download, build
        models or import heavy libraries: it runs on every validation. Default: none."""
        return []

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


class Retriever(Component):
    """First stage: indexes a collection, returns the top k documents per query.

    Optional persistence: a retriever that defines ``save(path)`` and ``load(path)`` has its index
    stored in the artifact cache and reused by every pipeline and run with the same configuration
    and collection.
    """

    kind = "retriever"

    def index(self, collection: Collection, ctx: Context) -> None:
        raise NotImplementedError

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        raise NotImplementedError


class Ranker(Component):
    """Second stage: rescores the first ``depth`` candidates of each query.

    The runner passes only the candidates within the pipeline's rerank depth and keeps every
    candidate below that depth, in its original order, under the reranked ones.

    Optional pair scoring (the ``PairScorer`` capability): a ranker that defines
    ``score_pairs(query: str, texts: Sequence[str], ctx) -> Sequence[float]`` (one finite score per
    text, in their order) needs no ``rerank`` of its own (the default below scores each query's
    candidates in one call) and can be nested in other components through ``ctx.scorer``
    (harness/scoring.py). Calls through the runner are checked and counted into ``ctx.costs``.
    """

    kind = "ranker"

    def prepare(self, collection: Collection, ctx: Context) -> None:
        """Load models, look up document texts; called once per collection before ``rerank``."""

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        """The default, for rankers that define ``score_pairs``: each query's candidates (texts
        from ``ctx.collection``) scored in one checked, counted call; a ranker without
        ``score_pairs`` must define ``rerank`` itself."""
        from .capabilities import PairScorer, supports
        from .errors import ComponentError

        if not supports(self, PairScorer):
            raise ComponentError(f"ranker {self.name!r} defines neither rerank(queries, candidates, ctx) nor "
                                 "score_pairs(query, texts, ctx)")
        from .scoring import rerank_by_pairs

        return rerank_by_pairs(self, queries, candidates, ctx)


class Compressor(Component):
    """Transforms a component's torch modules (low-rank, int8, pruning, half precision).

    A component is compressible when it defines ``torch_modules() -> dict[str, Module]`` and
    ``replace_torch_modules(modules)``; ``compress`` receives those modules and returns the new
    ones plus a report (parameters and bytes before/after, error, time).
    """

    kind = "compressor"

    def compress(self, modules: dict[str, Any], ctx: Context) -> tuple[dict[str, Any], dict]:
        raise NotImplementedError


@dataclass
class MetricValue:
    """One metric's outcome for one cell.

    ``per_query`` is None for corpus-level metrics (diagnostics with no per-query value).
    """

    aggregate: float
    per_query: dict[str, float] | None = None
    details: dict = field(default_factory=dict)


class Metric(Component):
    """Maps a ranking (and, where ``requires`` says so, more) to a number per query or per run.

    Suites name metrics as strings in ir_measures style (``nDCG@10``, ``P(rel=2)@10``) or as tables
    (``{metric = "hubness", k = 10}``). ``name`` is the family (``nDCG``); ``cutoff`` and the
    other parameters come from the string. Metrics whose classes share one ``evaluate_batch``
    implementation are evaluated in a single call, so a family of measures costs one pass.
    """

    kind = "metric"
    # Names of artifacts beyond (qrels, run) the metric needs, e.g. ("embeddings",): the runner
    # looks for them in ``Context.artifacts`` and reports the metric as unavailable otherwise.
    requires: ClassVar[tuple[str, ...]] = ()
    per_query: ClassVar[bool] = True
    # Largest value, for range checks by the conformance kit; None when unbounded.
    upper_bound: ClassVar[float | None] = 1.0
    # Whether the family needs a cutoff (P@k), accepts one (nDCG, nDCG@10) or takes none (Rprec).
    cutoff_rule: ClassVar[str] = "optional"  # "required" | "optional" | "none"

    @property
    def label(self) -> str:
        """The canonical display name, e.g. ``nDCG@10`` or ``P(rel=2)@10``."""
        extra = {k: v for k, v in self.config.items() if k != "cutoff" and v != self.params[k].default}
        text = self.name
        if extra:
            # strings quoted so the label parses back (values are Python literals in suites)
            text += "(" + ",".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in extra.items()) + ")"
        if self.config.get("cutoff") is not None:
            text += f"@{self.config['cutoff']}"
        return text

    @classmethod
    def evaluate_batch(
        cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context
    ) -> dict[str, MetricValue]:
        """Evaluate several metrics at once; keys are each metric's ``label``."""
        return {m.label: m.evaluate(qrels, run, ctx) for m in metrics}

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        raise NotImplementedError


class DatasetProvider(Component):
    """Loads a collection (corpus, queries, qrels) from somewhere: ir_datasets, a folder, files.

    A suite writes ``source = "<name>:<value>"`` as a shorthand for ``provider = "<name>"`` with
    the parameter named by ``source_param`` set to the value.
    """

    kind = "dataset"
    source_param: ClassVar[str] = "path"

    def load(self, ctx: Context) -> Collection:
        raise NotImplementedError

    def split_params(self, split: str) -> dict | None:
        """The parameters that load split ``split`` of the same dataset (a query bank's
        ``split:<name>``, banks.py), or None when the provider has no splits."""
        return None


class Progress:
    """A progress reporter; the runner passes a live one, tests get this silent default."""

    def log(self, message: str) -> None:
        """A line for the user: a finished cell, a note."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        yield lambda n=1: None


@dataclass
class Context:
    """What the runner tells a component about the cell it works for.

    ``base_dir`` resolves relative paths in parameters (the suite file's folder). ``artifacts``
    collects by-products of the stages (a dense retriever's embeddings, say) for metrics that
    need more than (qrels, run). ``retrieve`` runs a nested retriever spec through the runner,
    with its caching, for components that combine several retrievers; ``scorer`` turns a nested
    ranker spec into a ready pair scorer (``.score(query, texts, qid=None)``, harness/scoring.py),
    and ``encoder`` a nested retriever spec into its dense vectors (``.corpus(collection)``,
    ``.queries(texts)``, harness/encoding.py), all three None outside a runner. ``costs`` takes per-query cost counters
    (``ctx.costs.add(qid, flops=...)``, harness/costs.py) for the cell result. ``cache`` is the artifact
    cache, for artifacts a component keys itself (embeddings shared by a retriever and a ranker);
    it verifies every file it serves. ``phase`` is the result record of the phase the component
    is working in: add what the result should show (your own cache hits, batch sizes); a
    component that served the whole phase from its own cache sets ``phase["cache"] = "hit"``,
    so leaderboards show the phase as cached rather than as a measured time.
    """

    device: str = "cpu"
    base_dir: Path = field(default_factory=Path.cwd)
    seed: int = 0
    progress: Progress = field(default_factory=Progress)
    artifacts: dict[str, Any] = field(default_factory=dict)
    collection: Collection | None = None
    retrieve: Callable[[dict, Mapping[str, str], int], Run] | None = None
    scorer: Callable[[Any], Scorer] | None = None
    # A nested retriever spec's vectors (``ctx.encoder(spec).corpus(collection)``, harness/encoding.py).
    encoder: Callable[[Any], Encoder] | None = None
    costs: Costs = field(default_factory=Costs)
    cache: ArtifactCache | None = None
    phase: dict[str, Any] = field(default_factory=dict)
    # The suite's retrieval depth k (None outside a runner); and the runner's query-bank maker,
    # ``banks(source, size, seed) -> QueryBank`` (banks.py): use ``query_bank`` below.
    k: int | None = None
    banks: Callable[..., QueryBank] | None = None
    # Where a provider's documents go (the suite dataset's ``corpus_store``): ``documents`` below.
    corpus_store: str = "auto"

    def documents(self, docs: Iterable[Document]) -> Sequence[Document]:
        """What a dataset provider hands its documents to, as it reads them: a list, or beyond
        ``corpus.SPILL_AT`` documents (or always, with ``corpus_store = "disk"``) a
        memory-mapped ``corpus.DiskDocuments``; ``docs`` is consumed once, in order, so a
        generator over a file is never held whole (harness/corpus.py)."""
        from .corpus import gather_documents

        return gather_documents(docs, self.corpus_store)

    def resolve_path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def query_bank(self, source: str, size: int | None = None, seed: int | None = None, *,
                   record: bool = True) -> QueryBank:
        """A seeded bank of queries that are never the evaluated ones (harness/banks.py):
        ``source`` is ``split:<name>``, ``unjudged``, ``pseudo:title``, ``pseudo:first-sentence``
        or ``folds:<k>``; ``size`` queries drawn with ``seed`` (default: the suite's). Its
        description goes into the current phase record (``query_banks``) unless ``record`` is
        false (for ``identity``, which runs outside the component's phases)."""
        from .banks import from_context

        return from_context(self, source, size, seed, record)
