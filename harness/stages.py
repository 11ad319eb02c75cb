"""Executing pipeline stages with shared work done once.

Within a run, a retriever configuration is indexed once per collection however many pipelines
use it, and a stage's output (a ``Run``) is computed once per input. Across runs, the artifact
cache serves indexes (for retrievers that can ``save``/``load``) and stage outputs, keyed by
the component's identity (plugin, version, parameters, compressors), the collection's
fingerprints and k. Every phase record says whether it did the work (``cache: miss``) or was
served (``hit`` from disk, ``memory`` from earlier in this run), so no cost figure from another
run is ever presented as measured now.

A component is made ready once: ``setup`` (phase ``load_model``, only for components that define
it), compressors, then ``index`` or ``prepare`` (built on ``measure.index_threads`` threads when
the suite sets them: ``widened``; the phase records them). ``retriever``/``ranker`` hand out ready components
without consulting the run cache, for the latency loops (measure/latency.py) and for cells whose
metrics need artifacts a cached run did not produce. What ``index``/``prepare`` (or ``load``) put
into ``ctx.artifacts`` is kept with the ready component and given again to every later cell that
gets it from memory: such artifacts belong to the component and the collection, not to one cell.

Keys hold the cache format (``cache.FORMAT``) and each component's parameters in canonical form
(``params.resolve_params``: an int given for a float parameter is that float), less those its class
declares ``affects_output=False`` (``key_config``); everything else a component computes with is in
them, so a warm cache and an empty one give the same results.

Nested retrievers (``ctx.retrieve``, see ``nested``) run with a context of their own: their
artifacts are not the combining pipeline's, and their phases are named after their plugin. Nested
rankers (``ctx.scorer``, see ``scorers``) are made ready the same way, once, and score pairs.
Nested encoders (``ctx.encoder``, see ``encoders``) are retrievers set up (not indexed) once per
dataset that hand out their vectors (harness/encoding.py).

Cost counters (``ctx.costs``, costs.py): what a stage counted while computing its run is kept
with the run, in memory and beside it in the artifact cache (``costs.json``), and added to the
cell's counters whenever the run is served instead of computed, marked with where it came from;
a cache entry written before counters existed brings none, and the cell's counters say they are
incomplete. The phase record shows the stage's totals (``costs``).

A retriever that also defines ``encode_queries(queries) -> vectors`` and ``search(vectors, k) ->
Run`` (the two-step protocol: its ``retrieve`` calls the two) has them timed as phases
``query_encode`` and ``search`` inside its ``retrieve`` record; ``retrieve`` itself still runs.

The executor runs one stage at a time (``first_stage``, ``next_stage``); pipeline.py folds a
pipeline's stages through them. Stage ``i``'s phases are named by ``stage_names(i)``: the first
stage's ``index`` and ``retrieve`` (``load_model``, ``compress``), the second's ``prepare`` and
``rerank`` (``ranker.load_model``, ``ranker.compress``), and from the third on (``i`` ≥ 2, counted
from 0 as ``stages[i]`` is in a suite) the same with ``.i`` appended: ``prepare.2``, ``rerank.2``,
``ranker.2.load_model``, ``ranker.2.compress``. A stage's output is keyed by its prefix: the
first stage's by (identity, corpus, queries, k), each later one's by (its identity, depth,
interpolation, the key of the run it reranked), so pipelines that share their first stages share
those stages' runs, in memory within a run and in the artifact cache across runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import contracts
from .cache import FORMAT, ArtifactCache, cache_key, canonical
from .capabilities import Compressible, Embedder, PairScorer, Persistent, supports
from .collection import Collection
from .components import Component, Context
from .costs import SCHEMA as COSTS_SCHEMA
from .encoding import Encoder
from .errors import ComponentError
from .measure.isolation import widened
from .measure.latency import two_step_phases
from .measure.memory import folder_bytes, index_figure, parameter_figure
from .params import output_config
from .plugins import Registry, code_fingerprint
from .ranking import Run, rerank_merge
from .scoring import Scorer
from .suite import StageSpec
from .timing import Phases
from .trecfiles import read_run, run_text


class StageError(ComponentError):  # HarnessError and RuntimeError
    """A component broke its contract; the message names the component and what it did."""


COSTS_FILE = "costs.json"  # beside a cached run: what computing it counted (costs.py)


def index_key(ident: dict, collection: Collection) -> str:
    """The cache key of a retriever's index (the distributed executor's shards share it)."""
    return cache_key("index", FORMAT, ident, collection.corpus_fingerprint)


def key_config(spec: StageSpec) -> dict:
    """``spec.config()`` as cache keys hold it: without the parameters its class declares
    ``affects_output=False``, nested specs and compressors the same way."""
    config = output_config(spec.cls.params, spec.config())
    for key, param in spec.cls.params.items():
        value = spec.params.get(key)
        if key in config and param.is_component and value is not None:
            config[key] = [key_config(v) for v in value] if param.many else key_config(value)
    if spec.compressors:
        config["compressors"] = [key_config(c) for c in spec.compressors]
    return config


def _plain(value):
    """JSON data for a component's identity: stage specs as ``key_config`` gives them."""
    return key_config(value) if isinstance(value, StageSpec) else canonical(value)


@dataclass(frozen=True)
class StageNames:
    """The phase names of one pipeline stage: ``run`` (``retrieve``, ``rerank``, ``rerank.2``),
    ``ready`` (``index``, ``prepare``, ``prepare.2``) and ``setup``, the prefix of its
    ``load_model`` and ``compress`` phases (``""``, ``ranker.``, ``ranker.2.``)."""

    run: str
    ready: str
    setup: str


def stage_names(index: int, prefix: str = "") -> StageNames:
    """The phase names of stage ``index`` (0: the retriever) of a pipeline; ``prefix`` those of a
    nested component or a rerun (``bm25.``, ``perturbed.``)."""
    if index == 0:
        return StageNames(prefix + "retrieve", prefix + "index", prefix)
    suffix = f".{index}" if index >= 2 else ""
    return StageNames(f"{prefix}rerank{suffix}", f"{prefix}prepare{suffix}", f"{prefix}ranker{suffix}.")


@dataclass
class StageOutput:
    """What one stage gave: its ``run`` and that run's cache ``key``, the component's ``ident``
    (``StageExecutor.identity``), and how the run was obtained (``cache``: miss, hit or memory)
    in how many ``seconds`` (None when it came from memory)."""

    run: Run
    key: str
    ident: dict
    cache: str
    seconds: float | None
    checked: contracts.Checked | None = None  # a computed run's contract checks (served runs: None)


class StageExecutor:
    """Runs stages for the cells of one dataset at a time; ``reset`` between datasets."""

    def __init__(self, registry: Registry, cache: ArtifactCache, index_threads: int | None = None):
        self.registry = registry
        self.cache = cache
        self.index_threads = index_threads  # measure.index_threads: threads while an index is built
        self.reset()

    def reset(self) -> None:
        self._components: dict[str, object] = {}  # ready retrievers / rankers
        self._published: dict[str, dict] = {}  # the artifacts each of them published when made ready
        self._runs: dict[str, Run] = {}
        self._counted: dict[str, dict | None] = {}  # what each stage run counted (costs.py), by run key
        # The identity each stage spec had (id(spec) -> dict), for the result: a model's hash
        # is recorded even when its outputs came from the cache.
        self.identities: dict[int, dict] = {}

    def identity(self, spec: StageSpec, component, ctx: Context) -> dict:
        info = self.registry.find(spec.kind, spec.plugin)
        self.identities[id(spec)] = ident = {
            "kind": spec.kind,
            "plugin": spec.plugin,
            "distribution": info.distribution,
            "version": info.version,
            "identity": json.loads(json.dumps(component.identity(ctx), default=_plain)),  # plain data
            "compressors": [key_config(c) for c in spec.compressors],
        }
        code = code_fingerprint(info)  # a local or editable plugin's code: its version does not follow edits
        if code:
            ident["code"] = code
        # Nested specs (rank fusion) decide the output too: their plugins' versions and their own
        # identities (a model's hash), not only the parameters the suite wrote.
        nested = [n for value in spec.params.values() for n in (value if isinstance(value, list) else [value])
                  if isinstance(n, StageSpec)]
        if nested:
            ident["nested"] = [self.identity(n, n.build(), ctx) for n in nested]
        return ident

    # -- first stage -------------------------------------------------------------------------

    def retrieve(
        self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], k: int,
        ctx: Context, phases: Phases, prefix: str = "",
    ) -> tuple[Run, str]:
        """The stage's run and its key; ``prefix`` names phases of nested retrievers."""
        out = self.first_stage(spec, collection, queries, k, ctx, phases, stage_names(0, prefix))
        return out.run, out.key

    def first_stage(self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], k: int,
                    ctx: Context, phases: Phases, names: StageNames) -> StageOutput:
        """A retriever's run of ``queries`` (``k`` each): from memory, the artifact cache, or computed."""
        component = spec.build()
        ident = self.identity(spec, component, ctx)
        run_key = cache_key("retrieve", FORMAT, ident, collection.corpus_fingerprint, _queries_key(queries), k)
        phase = names.run
        served = self._served(run_key, ctx, phases, phase, ident)
        if served:
            return served
        discarded = self.cache.discarded.get(run_key)
        retriever = self._ready_retriever(spec, component, ident, collection, ctx, phases, names)
        self.ready_scorers(spec, ctx)
        with phases.measure(phase, cache="miss", queries=len(queries)) as record:
            if discarded:
                record["discarded"] = discarded
            ctx.phase = record
            mark = ctx.costs.mark()
            with two_step_phases(retriever, phases, names.setup):
                run = retriever.retrieve(queries, k, ctx)
        _check_run(run, f"retriever {spec.plugin!r}", k)
        checked = contracts.check_stage(run, 0, spec, collection, queries)  # before it is kept anywhere
        # a run with foreign ids is kept as given, so that every serve drops and counts them again
        self._store(run_key, run if checked.dropped else checked.run, record, ctx, mark)
        return StageOutput(checked.run, run_key, ident, "miss", record["seconds"], checked)

    def _served(self, key: str, ctx: Context, phases: Phases, phase: str, ident: dict) -> StageOutput | None:
        """The stage's run when this run computed it already (``memory``) or the artifact cache
        has it (``hit``), with what computing it counted; None when it must be computed."""
        if key in self._runs:
            phases.note(phase, cache="memory")
            self._recount(key, ctx, phases.records[phase], phase, "memory")
            return StageOutput(self._runs[key], key, ident, "memory", None)
        cached = self.cache.get("runs", key)
        if not cached:
            return None
        with phases.measure(phase, cache="hit", measured_in=self.cache.info(cached)) as record:
            run = read_run(cached / "run.trec", allow_empty=True)  # nothing retrieved is a valid cached run
        self._runs[key] = run
        self._counted[key] = _read_costs(cached)
        self._recount(key, ctx, record, phase, "cache")
        return StageOutput(run, key, ident, "hit", record["seconds"])

    def retriever(self, spec: StageSpec, collection: Collection, ctx: Context, phases: Phases, prefix: str = "",
                  names: StageNames | None = None):
        """The stage's retriever, ready to answer queries (phases ``names``, by default the first
        stage's under ``prefix``)."""
        component = spec.build()
        return self._ready_retriever(spec, component, self.identity(spec, component, ctx), collection, ctx,
                                     phases, names or stage_names(0, prefix))

    def nested(self, collection: Collection, ctx: Context, phases: Phases, live: bool = False,
               prefix: str = "") -> Callable:
        """``ctx.retrieve`` for retrievers that combine others. Each nested spec runs with a context
        of its own (fresh artifacts and phase record: what it publishes is not the combining
        pipeline's), its phases named after its plugin (``bm25.retrieve``; ``bm25-2.`` for a second
        bm25 configuration). ``live``, for the latency loops: nested retrievers answer every call
        themselves, since a run served from a cache would time the cache instead of the work."""
        names: dict[int, str] = {}
        ready = {}

        def retrieve(spec, queries, k):
            if id(spec) not in names:
                names[id(spec)] = nested_name(names, spec.plugin)
            own = dataclasses.replace(ctx, artifacts={}, phase={}, retrieve=retrieve)
            where = f"{prefix}{names[id(spec)]}."
            if not live:
                return self.retrieve(spec, collection, queries, k, own, phases, prefix=where)[0]
            if id(spec) not in ready:
                ready[id(spec)] = self.retriever(spec, collection, own, phases, prefix=where)
            return ready[id(spec)].retrieve(queries, k, own)

        return retrieve

    def scorers(self, collection: Collection, ctx: Context, phases: Phases, live: bool = False,
                prefix: str = "") -> Callable[[StageSpec], Scorer]:
        """``ctx.scorer`` for components that nest a ranker (a ``Param("ranker")``): each spec's
        ranker is built, set up and prepared once, like a pipeline's ranker but with a context of
        its own and its phases named after its plugin (``cross-encoder.prepare``;
        ``cross-encoder-2.`` for a second configuration), and handed out as a ``Scorer`` whose
        calls are checked and counted into ``ctx.costs`` (scoring.py). Phase ``<plugin>.score``
        adds up its calls, pairs and host seconds; not under ``live`` (the latency loops), whose
        calls are neither recorded nor counted into the cell's costs (their context has its own)."""
        names: dict[int, str] = {}
        made: dict[int, tuple[StageSpec, Scorer]] = {}

        def scorer(spec: StageSpec) -> Scorer:
            if id(spec) in made:
                return made[id(spec)][1]
            if not isinstance(spec, StageSpec) or spec.kind != "ranker":
                raise StageError(f"ctx.scorer takes a ranker spec (the value of a parameter declared "
                                 f"Param(\"ranker\")), got {spec!r}")
            if not supports(spec.cls, PairScorer):
                raise StageError(f"ranker {spec.plugin!r} cannot score pairs: it defines no score_pairs(query, "
                                 "texts, ctx), which a nested scorer (ctx.scorer) needs")
            names[id(spec)] = name = nested_name(names, spec.plugin)
            where = f"{prefix}{name}."
            own = dataclasses.replace(ctx, artifacts={}, phase={})
            ranker = self.ranker(spec, collection, own, phases, prefix=where)
            record = None
            if not live:
                record = phases.records.setdefault(where + "score", {"seconds": 0.0, "cache": "miss", "calls": 0,
                                                                     "pairs": 0})
                own.phase = record
            made[id(spec)] = (spec, Scorer(ranker, own, record))  # the spec kept alive: its id stays its own
            return made[id(spec)][1]

        return scorer

    def encoders(self, collection: Collection, ctx: Context, phases: Phases, live: bool = False,
                 prefix: str = "") -> Callable[[StageSpec], Encoder]:
        """``ctx.encoder`` for components that read a nested retriever's vectors (a
        ``Param("retriever")``; harness/encoding.py): each spec's retriever is built, set up and
        compressed once per dataset (phases ``<plugin>.load_model``, ``<plugin>.compress``; a second
        configuration of the same plugin ``<plugin>-2.``), not indexed: its ``Embedder`` methods
        serve the vectors from its own cache. Phase ``<plugin>.embed`` adds up its calls, texts and
        host seconds; not under ``live`` (the latency loops)."""
        names: dict[int, str] = {}
        made: dict[int, tuple[StageSpec, Encoder]] = {}

        def encoder(spec: StageSpec) -> Encoder:
            if id(spec) in made:
                return made[id(spec)][1]
            if not isinstance(spec, StageSpec) or spec.kind != "retriever":
                raise StageError(f"ctx.encoder takes a retriever spec (the value of a parameter declared "
                                 f"Param(\"retriever\")), got {spec!r}")
            if not supports(spec.cls, Embedder):
                raise StageError(f"retriever {spec.plugin!r} cannot hand out its vectors: it defines no "
                                 "embed_corpus(collection, ctx) and embed_queries(texts, ctx), which a nested "
                                 "encoder (ctx.encoder) needs")
            names[id(spec)] = name = nested_name(names, spec.plugin)
            where = f"{prefix}{name}."
            own = dataclasses.replace(ctx, artifacts={}, phase={})
            component = spec.build()
            key = cache_key("encoder", FORMAT, self.identity(spec, component, own))
            if key in self._components:  # the same configuration, nested in another pipeline's stage
                phases.note(where + "load_model", cache="memory")
                component = self._components[key]
            else:
                self._setup(component, own, phases, where)
                self._compress(spec, component, own, phases, where)
                self._components[key] = component
            record = None
            if not live:
                record = phases.records.setdefault(where + "embed", {"seconds": 0.0, "cache": "miss", "calls": 0,
                                                                     "texts": 0})
                own.phase = record
            made[id(spec)] = (spec, Encoder(component, own, record))  # the spec kept alive: its id stays its own
            return made[id(spec)][1]

        return encoder

    @staticmethod
    def ready_scorers(spec: StageSpec, ctx: Context) -> None:
        """Make the rankers nested in ``spec`` ready through ``ctx.scorer`` before the stage's work
        is timed, so their loading and preparing is not counted as the stage's (or a query's)."""
        if ctx.scorer is None:
            return
        for value in spec.params.values():
            for nested in value if isinstance(value, list) else [value]:
                if isinstance(nested, StageSpec) and nested.kind == "ranker":
                    ctx.scorer(nested)

    def _ready_retriever(self, spec, component, ident, collection, ctx, phases, names: StageNames):
        key = index_key(ident, collection)
        if key in self._components:
            phases.note(names.ready, cache="memory")
            ctx.artifacts.update(self._published[key])
            return self._components[key]
        self._setup(component, ctx, phases, names.setup)
        self._compress(spec, component, ctx, phases, names.setup)
        before = dict(ctx.artifacts)
        record = self._index(component, key, collection, ctx, phases, names.ready)
        self._published[key] = _published(ctx, before)
        _add_figure(record, "parameter_bytes", parameter_figure(component, phases.meter))
        self._components[key] = component
        return component

    def _index(self, retriever, key, collection, ctx, phases, phase: str) -> dict:
        persistent = supports(retriever, Persistent)
        cached = self.cache.get("indexes", key) if persistent else None
        if cached:
            with phases.measure(phase, cache="hit", built=self.cache.info(cached)) as record:
                ctx.phase = record
                retriever.load(cached / "index")
            _add_figure(record, "index_bytes", index_figure(retriever, folder_bytes(cached / "index"), phases.meter))
            return record
        with widened(self.index_threads) as threads, \
                phases.measure(phase, cache="miss", documents=len(collection.docs)) as record:
            if key in self.cache.discarded:
                record["discarded"] = self.cache.discarded[key]
            if threads:
                record["threads"] = threads
            ctx.phase = record
            retriever.index(collection, ctx)
        if record["seconds"]:
            record["figures"]["docs_per_second"] = phases.meter.figure(
                round(len(collection.docs) / record["seconds"], 3), "documents/s",
                "documents indexed / wall seconds of this index phase",
                **({"threads": threads["threads"]} if threads else {}))
        saved = None
        if persistent:
            with self.cache.write("indexes", key, seconds=record["seconds"], **_where()) as folder:
                retriever.save(folder / "index")
                saved = folder_bytes(folder / "index")
        _add_figure(record, "index_bytes", index_figure(retriever, saved, phases.meter))
        return record

    # -- later stages ------------------------------------------------------------------------

    def rerank(
        self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], run: Run,
        run_key: str, ctx: Context, phases: Phases, prefix: str = "",
    ) -> Run:
        """``run`` reranked by the second stage ``spec`` (see ``next_stage``)."""
        return self.next_stage(spec, collection, queries, run, run_key, ctx, phases, stage_names(1, prefix)).run

    def next_stage(self, spec: StageSpec, collection: Collection, queries: Mapping[str, str], run: Run,
                   run_key: str, ctx: Context, phases: Phases, names: StageNames) -> StageOutput:
        """The top ``spec.depth`` of ``run`` (the stage before's, keyed ``run_key``) reranked by
        ``spec``'s ranker, interpolated with ``run``'s scores when ``spec.interpolate`` is set,
        above the rest of ``run`` in its order; from memory, the artifact cache, or computed."""
        from .pipeline import interpolate

        component = spec.build()
        ident = self.identity(spec, component, ctx)
        key = cache_key("rerank", FORMAT, ident, spec.depth, run_key)
        if spec.interpolate is not None:  # only then: keys of stages without it stay as they were
            key = cache_key("rerank", FORMAT, ident, spec.depth, run_key, {"interpolate": float(spec.interpolate)})
        phase = names.run
        served = self._served(key, ctx, phases, phase, ident)
        if served:
            return served
        ranker = self._ready_ranker(spec, component, ident, collection, ctx, phases, names)
        self.ready_scorers(spec, ctx)
        head = run.truncate(spec.depth)
        with phases.measure(phase, cache="miss", depth=spec.depth, candidates=head.num_docs()) as record:
            if key in self.cache.discarded:
                record["discarded"] = self.cache.discarded[key]
            if spec.interpolate is not None:
                record["interpolate"] = spec.interpolate
            ctx.phase = record
            mark = ctx.costs.mark()
            rescored = ranker.rerank(queries, head, ctx)
        rescored = contracts.check_run(rescored, contracts.who(spec.kind, spec.plugin)).run  # sorted, finite
        try:
            if spec.interpolate is not None:
                rescored = interpolate(head, rescored, spec.interpolate)
            reranked = rerank_merge(run, rescored, spec.depth)
        except ValueError as exc:
            raise StageError(f"ranker {spec.plugin!r}: {exc}") from None
        checked = contracts.check_stage(reranked, 1, spec, collection, queries)
        self._store(key, reranked, record, ctx, mark)
        return StageOutput(reranked, key, ident, "miss", record["seconds"], checked)

    def ranker(self, spec: StageSpec, collection: Collection, ctx: Context, phases: Phases, prefix: str = "",
               names: StageNames | None = None):
        """The stage's ranker, ready to rerank (phases ``names``, by default the second stage's
        under ``prefix``)."""
        component = spec.build()
        return self._ready_ranker(spec, component, self.identity(spec, component, ctx), collection, ctx, phases,
                                  names or stage_names(1, prefix))

    def _ready_ranker(self, spec, component, ident, collection, ctx, phases, names: StageNames):
        key = cache_key("prepare", FORMAT, ident, collection.corpus_fingerprint)
        if key in self._components:
            phases.note(names.ready, cache="memory")
            ctx.artifacts.update(self._published[key])
            return self._components[key]
        self._setup(component, ctx, phases, names.setup)
        self._compress(spec, component, ctx, phases, names.setup)
        before = dict(ctx.artifacts)
        with widened(self.index_threads) as threads, phases.measure(names.ready, cache="miss") as record:
            if threads:
                record["threads"] = threads
            ctx.phase = record
            component.prepare(collection, ctx)
        self._published[key] = _published(ctx, before)
        _add_figure(record, "parameter_bytes", parameter_figure(component, phases.meter))
        self._components[key] = component
        return component

    # -- shared ------------------------------------------------------------------------------

    def _setup(self, component, ctx: Context, phases: Phases, prefix: str) -> None:
        """``setup`` as its own phase, for components that define one (a model to load)."""
        if type(component).setup is Component.setup:
            return
        with phases.measure(prefix + "load_model") as record:
            ctx.phase = record
            component.setup(ctx)

    def _compress(self, spec: StageSpec, component, ctx: Context, phases: Phases, prefix: str) -> None:
        """Apply the stage's compressors in order; their reports go into the phase record."""
        if not spec.compressors:
            return
        if not supports(component, Compressible):
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

    def _store(self, key: str, run: Run, record: dict, ctx: Context, mark: dict) -> None:
        """Keep a computed run, and what was counted while computing it (since ``mark``)."""
        counted = ctx.costs.since(mark)
        ctx.costs.first_count(key)
        totals = ctx.costs.totals(counted)
        if totals:
            record["costs"] = totals
        self._runs[key] = run
        self._counted[key] = counted
        with self.cache.write("runs", key, seconds=record["seconds"], **_where()) as folder:
            with open(folder / "run.trec", "w", encoding="utf-8") as out:
                out.writelines(run_text(run, "cache"))  # streamed, a query at a time
            (folder / COSTS_FILE).write_text(json.dumps(counted, ensure_ascii=False), encoding="utf-8")

    def _recount(self, key: str, ctx: Context, record: dict, phase: str, source: str) -> None:
        """Add what a served run counted when it was computed to the cell's counters (once per
        cell); a run recorded without counts leaves them incomplete."""
        if not ctx.costs.first_count(key):
            return
        counted = self._counted.get(key)
        if counted is None:
            ctx.costs.unknown(phase)
            record["costs"] = "unrecorded"
            return
        ctx.costs.restore(counted, source)
        totals = ctx.costs.totals(counted)
        if totals:
            record["costs"] = totals


def nested_name(names: dict[int, str], plugin: str) -> str:
    """The phase name of a nested component: its plugin's name, ``<plugin>-2`` for a second
    configuration of the same plugin, and so on (``names``: the names already given)."""
    taken, n = set(names.values()), 1
    while (name := plugin + (f"-{n}" if n > 1 else "")) in taken:
        n += 1
    return name


def _read_costs(folder) -> dict | None:
    """What a cached run counted (``costs.json``), or None for an entry written without it."""
    path = folder / COSTS_FILE
    if not path.is_file():
        return None
    try:
        counted = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return counted if isinstance(counted, dict) and counted.get("schema") == COSTS_SCHEMA else None


def _published(ctx: Context, before: dict) -> dict:
    """What a stage put into ``ctx.artifacts`` since ``before`` was taken."""
    return {name: value for name, value in ctx.artifacts.items() if before.get(name, before) is not value}


def _add_figure(record: dict, name: str, figure: dict | None) -> None:
    if figure:
        record["figures"][name] = figure


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
