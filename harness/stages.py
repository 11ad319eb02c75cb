"""Executing pipeline stages with shared work done once.

Within a run, a retriever configuration is indexed once per collection however many pipelines
use it, and a stage's output (a ``Run``) is computed once per input. Across runs, the artifact
cache serves indexes (for retrievers that can ``save``/``load``) and stage outputs, keyed by
the component's identity (plugin, version, parameters, compressors), the collection's
fingerprints and k. Every phase record says whether it did the work (``cache: miss``) or was
served (``hit`` from disk, ``memory`` from earlier in this run), so no cost figure from another
run is ever presented as measured now.
"""

from __future__ import annotations

from collections.abc import Mapping

from .cache import ArtifactCache, cache_key
from .collection import Collection
from .components import Context
from .plugins import Registry
from .ranking import Run, rerank_merge
from .suite import StageSpec
from .timing import Phases
from .trecfiles import format_run, read_run


class StageError(RuntimeError):
    """A component broke its contract; the message names the component and what it did."""


def _canonical(obj):
    return obj.config() if hasattr(obj, "config") and callable(obj.config) else str(obj)


class StageExecutor:
    """Runs stages for the cells of one dataset at a time; ``reset`` between datasets."""

    def __init__(self, registry: Registry, cache: ArtifactCache):
        self.registry = registry
        self.cache = cache
        self.reset()

    def reset(self) -> None:
        self._components: dict[str, object] = {}  # indexed retrievers / prepared rankers
        self._runs: dict[str, Run] = {}

    def identity(self, spec: StageSpec, component, ctx: Context) -> dict:
        info = self.registry.find(spec.kind, spec.plugin)
        return {
            "kind": spec.kind,
            "plugin": spec.plugin,
            "distribution": info.distribution,
            "version": info.version,
            "identity": component.identity(ctx),
            "compressors": [c.config() for c in spec.compressors],
        }

    # -- first stage -------------------------------------------------------------------------

    def retrieve(
        self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], k: int,
        ctx: Context, phases: Phases, prefix: str = "",
    ) -> tuple[Run, str]:
        """The stage's run and its key; ``prefix`` names phases of nested retrievers."""
        component = spec.build()
        ident = self.identity(spec, component, ctx)
        corpus = collection.corpus_fingerprint
        run_key = cache_key("retrieve", ident, corpus, _queries_key(queries), k, default=_canonical)
        phase = prefix + "retrieve"
        if run_key in self._runs:
            phases.note(phase, cache="memory")
            return self._runs[run_key], run_key
        cached = self.cache.get("runs", run_key)
        if cached:
            with phases.measure(phase, cache="hit", measured_in=self.cache.info(cached)):
                run = read_run(cached / "run.trec")
            self._runs[run_key] = run
            return run, run_key
        discarded = self.cache.discarded.get(run_key)
        index_key = cache_key("index", ident, corpus, default=_canonical)
        retriever = self._components.get(index_key)
        if retriever is None:
            retriever = component
            self._compress(spec, retriever, ctx, phases, prefix)
            self._index(retriever, index_key, collection, ctx, phases, prefix)
            self._components[index_key] = retriever
        else:
            phases.note(prefix + "index", cache="memory")
        with phases.measure(phase, cache="miss", queries=len(queries)) as record:
            if discarded:
                record["discarded"] = discarded
            ctx.phase = record
            run = retriever.retrieve(queries, k, ctx)
        _check_run(run, f"retriever {spec.plugin!r}", k)
        self._store(run_key, run, record)
        return run, run_key

    def _index(self, retriever, key, collection, ctx, phases, prefix) -> None:
        persistent = callable(getattr(retriever, "save", None)) and callable(getattr(retriever, "load", None))
        cached = self.cache.get("indexes", key) if persistent else None
        if cached:
            with phases.measure(prefix + "index", cache="hit", built=self.cache.info(cached)) as record:
                ctx.phase = record
                retriever.load(cached / "index")
            return
        with phases.measure(prefix + "index", cache="miss", documents=len(collection.docs)) as record:
            if key in self.cache.discarded:
                record["discarded"] = self.cache.discarded[key]
            ctx.phase = record
            retriever.index(collection, ctx)
        if persistent:
            with self.cache.write("indexes", key, seconds=record["seconds"], **_where()) as folder:
                retriever.save(folder / "index")

    # -- second stage ------------------------------------------------------------------------

    def rerank(
        self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], run: Run,
        run_key: str, ctx: Context, phases: Phases,
    ) -> Run:
        component = spec.build()
        ident = self.identity(spec, component, ctx)
        key = cache_key("rerank", ident, spec.depth, run_key, default=_canonical)
        if key in self._runs:
            phases.note("rerank", cache="memory")
            return self._runs[key]
        cached = self.cache.get("runs", key)
        if cached:
            with phases.measure("rerank", cache="hit", measured_in=self.cache.info(cached)):
                reranked = read_run(cached / "run.trec")
            self._runs[key] = reranked
            return reranked
        prepare_key = cache_key("prepare", ident, collection.corpus_fingerprint, default=_canonical)
        ranker = self._components.get(prepare_key)
        if ranker is None:
            ranker = component
            self._compress(spec, ranker, ctx, phases, "")
            with phases.measure("prepare", cache="miss") as record:
                ctx.phase = record
                ranker.prepare(collection, ctx)
            self._components[prepare_key] = ranker
        head = run.truncate(spec.depth)
        with phases.measure("rerank", cache="miss", depth=spec.depth, candidates=head.num_docs()) as record:
            if key in self.cache.discarded:
                record["discarded"] = self.cache.discarded[key]
            ctx.phase = record
            rescored = ranker.rerank(queries, head, ctx)
        if not isinstance(rescored, Run):
            raise StageError(f"ranker {spec.plugin!r} returned {type(rescored).__name__}, not a Run")
        try:
            reranked = rerank_merge(run, rescored, spec.depth)
        except ValueError as exc:
            raise StageError(f"ranker {spec.plugin!r}: {exc}") from None
        self._store(key, reranked, record)
        return reranked

    # -- shared ------------------------------------------------------------------------------

    def _compress(self, spec: StageSpec, component, ctx: Context, phases: Phases, prefix: str) -> None:
        """Apply the stage's compressors in order; their reports go into the phase record."""
        if not spec.compressors:
            return
        if not callable(getattr(component, "torch_modules", None)):
            raise StageError(
                f"{spec.kind} {spec.plugin!r} is not compressible (it exposes no torch_modules())"
            )
        with phases.measure(prefix + "compress", chain=[c.plugin for c in spec.compressors]) as record:
            ctx.phase = record
            modules = component.torch_modules()
            reports = []
            for compressor_spec in spec.compressors:
                modules, report = compressor_spec.build().compress(modules, ctx)
                reports.append({"compressor": compressor_spec.config(), **report})
            component.replace_torch_modules(modules)
            record["reports"] = reports

    def _store(self, key: str, run: Run, record: dict) -> None:
        self._runs[key] = run
        with self.cache.write("runs", key, seconds=record["seconds"], **_where()) as folder:
            (folder / "run.trec").write_text(format_run(run, "cache"), encoding="utf-8")


def _queries_key(queries: Mapping[str, str]) -> str:
    return cache_key(sorted(queries.items()))


def _where() -> dict:
    """When and where an artifact was built, kept beside it."""
    import socket
    import time

    return {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname()}


def _check_run(run, who: str, k: int) -> None:
    if not isinstance(run, Run):
        raise StageError(f"{who} returned {type(run).__name__}, not a harness.ranking.Run")
    for qid, docs in run.items():
        if len(docs) > k:
            raise StageError(f"{who} returned {len(docs)} documents for query {qid!r}; k = {k}")
