"""Checking a raw suite: every problem collected with its key path, typed objects built on the way.

Sweeps and ``--set`` overrides are resolved here too, since both address parameters inside a
pipeline's stages by name.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
from pathlib import Path
from typing import Any

from ..capabilities import Compressible, PairScorer, supports
from ..datasets import DatasetSpec, check_options
from ..params import check_params, did_you_mean, resolve_params
from ..plugins import PluginError, Registry
from .model import Cell, PipelineSpec, StageSpec, Suite
from .schema import (
    DATASET,
    DEFAULT_METRICS,
    DEVICE,
    EXECUTION,
    MAX_CELL_FILE,
    MAX_NAME,
    MEASURE,
    NAME,
    NESTED_RANKER,
    OUTPUT,
    PIPELINE,
    PIPELINE_RANKER,
    SEED_MAX,
    SEED_MIN,
    STAGE_CORE,
    STATS,
    TOP,
)
from .sections import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings, from_table
from .text import Problem, format_path, locate, split_assignment


class SuiteChecker:
    """Walks a raw suite, collecting Problems and building the typed objects as it goes."""

    def __init__(self, text: str, registry: Registry):
        self.text = text
        self.registry = registry
        self.problems: list[Problem] = []
        self.base_dir = Path.cwd()  # the suite file's folder, once known: relative paths in parameters

    def problem(self, path: tuple, message: str) -> None:
        line = locate(self.text, path) if self.text and path else None
        found = Problem(format_path(path), message, line)
        if found not in self.problems:
            self.problems.append(found)

    def table(self, path: tuple, declared: dict, given: Any) -> dict:
        """``given`` checked against ``declared`` (unknown keys are problems), defaults filled."""
        if not isinstance(given, dict):
            self.problem(path, f"must be a table, got {type(given).__name__}")
            return resolve_params(declared, {})
        for key, message in check_params(declared, given):
            self.problem(path + (key,), message)
        ok = {k: v for k, v in given.items() if k in declared and declared[k].check(v) is None}
        return resolve_params(declared, ok)

    # -- the suite ---------------------------------------------------------------------------

    def suite(self, raw: dict, path: Path) -> Suite:
        self.base_dir = path.resolve().parent
        top = self.table((), TOP, raw)
        k = top["k"]
        stats = from_table(StatsSettings, self.table(("stats",), STATS, top["stats"]))
        measure = from_table(MeasureSettings, self.table(("measure",), MEASURE, top["measure"]))
        output = from_table(OutputSettings, self.table(("output",), OUTPUT, top["output"]))
        execution = self.execution(from_table(ExecutionSettings, self.table(("execution",), EXECUTION,
                                                                             top["execution"])))
        for i, device in enumerate(measure.devices):
            if not DEVICE.match(device):
                self.problem(("measure", "devices", i), f"unknown device {device!r} (cpu, cuda, cuda:N, auto)")
        self.repeated(("measure", "devices"), measure.devices, "device", "would run every cell on it twice")
        if top["metrics"] == []:
            self.problem(("metrics",), "needs at least one metric (leave metrics out for the default: "
                         f"{', '.join(DEFAULT_METRICS)})")
        metrics = self.metrics(top["metrics"], k)
        datasets = self.unique("datasets", [self.dataset(i, d) for i, d in enumerate(_listed(raw.get("datasets")))])
        pipelines, entries = [], []
        for i, entry in enumerate(_listed(raw.get("pipelines"))):
            specs = self.pipelines(i, entry, k)
            pipelines.extend(specs)
            entries += [(i, spec) for spec in specs]
        self.unique("pipelines", pipelines)
        self.parents(entries)
        self.cell_files(entries, [d for d in datasets if d], measure.devices)
        stats = self.margin(stats, metrics)
        for key in ("datasets", "pipelines"):
            if key in raw and isinstance(raw[key], list) and not raw[key]:
                self.problem((key,), "needs at least one entry")
        if stats.baseline and pipelines:
            names = {p.name for p in pipelines} | {p.base for p in pipelines}
            if stats.baseline not in names:
                self.problem(("stats", "baseline"),
                             f"no pipeline named {stats.baseline!r}{did_you_mean(stats.baseline, names)}")
        if top["name"] is not None:
            self.check_name(("name",), top["name"], "a folder")
        else:
            self.file_name(path)
        return Suite(
            name=top["name"] or path.stem, path=path.resolve(), text=self.text, k=k,
            seed=top["seed"], metrics=metrics, datasets=[d for d in datasets if d],
            pipelines=pipelines, stats=stats, measure=measure, output=output,
            description=top["description"], execution=execution,
        )

    def check_name(self, path: tuple, name: str, names: str = "files") -> bool:
        """A suite, dataset or pipeline name: letters, digits and ``. _ + -``, at most ``MAX_NAME``
        characters (it names folders and files)."""
        if not NAME.match(name):
            self.problem(path, f"{name!r}: use letters, digits and . _ + - (it names {names})")
            return False
        if len(name) > MAX_NAME:
            self.problem(path, f"{name[:20]}... is {len(name)} characters long: use at most {MAX_NAME} (it names "
                         f"{names})")
            return False
        return True

    def file_name(self, path: Path) -> None:
        """A suite without ``name`` is named after its file: that name too must make a folder name
        (any characters the file name has, but not too long, and not hidden like results/.cache)."""
        stem = path.stem
        if len(stem) > MAX_NAME:
            self.problem(("name",), f"is not given, so the suite is named after its file, {stem[:20]}..., which is "
                         f"{len(stem)} characters long: give name = \"...\" of at most {MAX_NAME} characters")
        elif stem.startswith(".") or not stem.isprintable():
            self.problem(("name",), f"is not given, so the suite is named after its file, {stem!r}, which cannot "
                         "name its results folder: give name = \"...\" (letters, digits and . _ + -)")

    def seed(self, path: tuple, seed: Any) -> None:
        """A seed every consumer accepts (as the suite's ``seed``, which components get as ``ctx.seed``:
        numpy's legacy ``np.random.seed`` takes 0 to 2**32 - 1)."""
        if isinstance(seed, int) and not isinstance(seed, bool) and not SEED_MIN <= seed <= SEED_MAX:
            self.problem(path, f"must be an integer from {SEED_MIN} to {SEED_MAX} (2**32 - 1), got {seed!r}")

    def cell_files(self, entries: list[tuple[int, PipelineSpec]], datasets: list, devices: list) -> None:
        """Each cell's result is a file named after its dataset, pipeline (a sweep's variant: the
        base name and its values) and device: it must fit in a file name, checked before any cell
        runs rather than when its result is written."""
        reported = set()
        slugs: dict[str, Cell] = {}  # the first cell written to each file name, folded to lower case
        clashes = set()
        datasets = [d for d in datasets if len(d.name) <= MAX_NAME]  # a longer name is a problem already
        for i, spec in entries:
            if len(spec.base or spec.name) > MAX_NAME:
                continue
            for dataset in datasets:
                for device in devices:
                    cell = Cell(dataset, spec, device)
                    slug = cell.slug
                    other = slugs.setdefault(slug.casefold(), cell)
                    pair = (other.dataset.name, other.pipeline.name, dataset.name, spec.name)
                    # the same cell twice is a duplicate name or device, reported as such
                    if other.id != cell.id and pair not in clashes:
                        clashes.add(pair)
                        where = ("pipelines", i, "sweep" if spec.sweep else "name")
                        self.problem(where, f"the cells {other.id} and {cell.id} would both be written to "
                                     f"cells/{slug}.json (file names keep letters, digits and . _ + = , -, "
                                     "turn / into __ and the rest into _, and may not differ only in case): "
                                     "rename a dataset or pipeline" + (" or sweep other values" if spec.sweep else ""))
                    if len(slug) > MAX_CELL_FILE and i not in reported:
                        reported.add(i)
                        where = ("pipelines", i, "sweep" if spec.sweep else "name")
                        shown = spec.name if len(spec.name) <= 40 else spec.name[:40] + "..."
                        self.problem(where, f"the cell {dataset.name}/{shown}/{device} would be written to a "
                                     f"file named {len(slug)} characters long, more "
                                     f"than the {MAX_CELL_FILE} allowed: shorten the pipeline or dataset name"
                                     f"{' or sweep fewer keys' if spec.sweep else ''}")

    def parents(self, entries: list[tuple[int, PipelineSpec]]) -> None:
        """A declared ``parent`` names another pipeline of the suite, after sweep expansion: a
        sweep's base name stands for several pipelines, so one of its variants must be named."""
        names = {spec.name for _, spec in entries}
        variants: dict[str, list[str]] = {}
        for _, spec in entries:
            if spec.base != spec.name:
                variants.setdefault(spec.base, []).append(spec.name)
        for i, spec in entries:
            parent, path = spec.parent, ("pipelines", i, "parent")
            if parent is None or (parent in names and parent != spec.name):
                continue
            if parent == spec.name:
                self.problem(path, f"{spec.name!r} cannot be its own parent")
            elif parent in variants:
                shown = ", ".join(repr(v) for v in variants[parent][:3])
                self.problem(path, f"{parent!r} is a sweep of {len(variants[parent])} pipelines: name one of "
                             f"them ({shown}{', ...' if len(variants[parent]) > 3 else ''})")
            else:
                self.problem(path, f"no pipeline named {parent!r}{did_you_mean(parent, names)}")

    def margin(self, stats: StatsSettings, metrics: list) -> StatsSettings:
        """The non-inferiority margin is finite, and ``margin_metric`` is one of the suite's metrics
        (written as any of its names: ``ndcg_cut_10`` is recorded as ``nDCG@10``)."""
        if stats.margin is not None and not math.isfinite(stats.margin):
            self.problem(("stats", "margin"), f"must be a finite number, got {stats.margin!r}")
        chosen = stats.margin_metric
        if chosen is None:
            return stats
        labels = [m.label for m in metrics]
        from ..metrics import canonical_label

        canonical = canonical_label(chosen, self.registry)
        if canonical in labels and canonical != chosen:
            chosen = canonical
            stats = dataclasses.replace(stats, margin_metric=canonical)
        if stats.margin is None:
            self.problem(("stats", "margin_metric"), "has no effect without stats.margin (the margin in this "
                         "metric's units)")
        elif labels and chosen not in labels:
            self.problem(("stats", "margin_metric"), f"{chosen!r} is not one of the suite's metrics "
                         f"({', '.join(labels)}){did_you_mean(chosen, labels)}")
        return stats

    def execution(self, table: ExecutionSettings) -> ExecutionSettings:
        """The executor's settings; a Dask executor needs dask[distributed] where the run starts."""
        if table.executor == "dask":
            import importlib.util

            if importlib.util.find_spec("distributed") is None:
                self.problem(("execution", "executor"), "the dask executor needs dask[distributed]: "
                             "pip install 'ir-harness[dask]'")
            if table.scheduler is not None and table.workers is not None:
                self.problem(("execution", "workers"), "sets the size of a LocalCluster the run starts; with "
                             "a scheduler the cluster's own workers run the cells")
        if table.scheduler is not None and not table.scheduler.strip():
            self.problem(("execution", "scheduler"), "is empty: give an address like tcp://host:8786, or null")
        return table

    def repeated(self, path: tuple, values: list, what: str, why: str) -> None:
        """Each value listed again after its first mention, reported at its own index."""
        seen = set()
        for i, value in enumerate(values):
            if value in seen:
                self.problem(path + (i,), f"{what} {value!r} is listed twice: it {why}")
            seen.add(value)

    def unique(self, key: str, items: list) -> list:
        seen = set()
        for i, item in enumerate(items):
            if item is None:
                continue
            if item.name in seen:
                self.problem((key, i, "name"), f"duplicate name {item.name!r}")
            seen.add(item.name)
        return items

    def metrics(self, specs: list, k: int) -> list:
        from ..metrics import MetricError, parse_metric

        out, labels = [], set()
        for i, spec in enumerate(specs):
            try:
                metric = parse_metric(spec, self.registry)
            except MetricError as exc:
                self.problem(("metrics", i), str(exc))
                continue
            cutoff = metric.config.get("cutoff")
            if cutoff is not None and cutoff > k:
                self.problem(("metrics", i), f"{metric.label}: cutoff {cutoff} is beyond the retrieval depth k = {k}")
            if metric.label in labels:
                self.problem(("metrics", i), f"{metric.label} is listed twice")
            labels.add(metric.label)
            self.metric_stages(("metrics", i), metric)
            self.metric_config(("metrics", i), spec, metric)
            out.append(metric)
        return out

    def metric_config(self, path: tuple, spec: Any, metric) -> None:
        """The metric's own check of its parameters (``Component.check_config``: CertTopK's depth
        beyond its K, say), at the parameter's key path when the metric is a table."""
        try:
            found = list(type(metric).check_config(dict(metric.config), self.base_dir))
        except Exception as exc:  # a plugin's bug: reported, never a traceback from validate
            self.problem(path, f"{metric.label}: check_config failed: {type(exc).__name__}: {exc}")
            return
        for key, message in found:
            self.problem(path + ((key,) if key and isinstance(spec, dict) else ()), f"{metric.label}: {message}")

    def metric_stages(self, path: tuple, metric) -> None:
        """A metric's nested component tables (ExactRecall's ``reference``), validated like a
        pipeline's stages; the metric's attribute then holds the ``StageSpec`` (its ``config``,
        and so its label, keeps the table as written)."""
        for key, param in type(metric).params.items():
            value = metric.config.get(key)
            if not (param.is_component and isinstance(value, (dict, list))):
                continue
            values = value if param.many else [value]
            nested = [self.stage(path + ((key, j) if param.many else (key,)), param.type, v)
                      for j, v in enumerate(values)]
            if all(nested):
                setattr(metric, key, nested if param.many else nested[0])

    # -- datasets ----------------------------------------------------------------------------

    def dataset(self, i: int, entry: Any) -> DatasetSpec | None:
        path = ("datasets", i)
        if not isinstance(entry, dict):
            self.problem(path, "must be a table")
            return None
        core = self.table(path, DATASET, {k: v for k, v in entry.items() if k in DATASET})
        provider_params = {k: v for k, v in entry.items() if k not in DATASET}
        provider = core["provider"]
        if core["source"] is not None:
            if provider is not None:
                self.problem(path + ("source",), "give either source or provider, not both")
            provider, _, value = core["source"].partition(":")
            if not value:
                self.problem(path + ("source",), "expected 'provider:value', e.g. 'irds:cranfield' or "
                             f"'beir:path/to/folder', got {core['source']!r}")
                return None
        elif provider is None:
            self.problem(path, "needs a source (e.g. source = \"irds:cranfield\") or a provider")
            return None
        cls = self.component_class(path + ("source" if core["source"] else "provider",), "dataset", provider)
        if cls is None:
            return None
        if core["source"] is not None:
            provider_params[cls.source_param] = value
        for key, message in check_params(cls.params, provider_params):
            self.problem(path + (key,), f"{message} (provider {provider!r})")
        grades = core["grades"]
        if grades is not None:
            grades = self.grade_mapping(path + ("grades",), grades)
        for key, message in check_options(core["queries"], grades):
            self.problem(path + (key,), message)
        if core["fields"] == []:
            self.problem(path + ("fields",), "must name at least one document field (title, text)")
        elif core["fields"]:
            self.repeated(path + ("fields",), core["fields"], "field",
                          "would be joined into the text twice, which changes what components index")
        if isinstance(core["queries"], dict) and "seed" in core["queries"]:
            self.seed(path + ("queries", "seed"), core["queries"]["seed"])
        name = core["name"] or _default_dataset_name(provider_params.get(cls.source_param, provider), provider)
        self.check_name(path + ("name",), name)
        return DatasetSpec(
            name=name, provider=provider, params=provider_params,
            fields=tuple(core["fields"]) if core["fields"] is not None else None,
            queries=core["queries"], grades=grades, corpus_store=core["corpus_store"],
        )

    def grade_mapping(self, path: tuple, grades: dict) -> dict | None:
        out = {}
        for key, value in grades.items():
            try:
                out[int(key)] = value
            except ValueError:
                self.problem(path + (key,), "grade keys must be integers, written as strings: \"-1\" = 0")
                return None
        return out

    # -- pipelines ---------------------------------------------------------------------------

    def pipelines(self, i: int, entry: Any, k: int) -> list[PipelineSpec]:
        path = ("pipelines", i)
        if not isinstance(entry, dict):
            self.problem(path, "must be a table")
            return []
        core = self.table(path, PIPELINE, entry)
        if "name" not in core:  # a name of the wrong type is already a problem
            return []
        if "stages" in entry and ("retriever" in entry or "ranker" in entry):
            both = " and ".join(key for key in ("retriever", "ranker") if key in entry)
            self.problem(path + ("stages",), f"give either stages or retriever/ranker, not both (this pipeline "
                         f"also has {both}): stages = [retriever, ranker, ...] is the long form of the two")
            return []
        if "stages" not in entry and "retriever" not in entry:
            self.problem(path + ("retriever",), "is required: the first stage, {plugin = \"name\", ...} (or give "
                         "stages = [{plugin = retriever}, {plugin = ranker, depth = N}, ...])")
            return []
        self.check_name(path + ("name",), str(core["name"]))
        variants = self.sweep_variants(path, entry)
        out = []
        for values, variant in variants:
            name = core["name"]
            if values:
                name += "[" + ",".join(f"{key}={value}" for key, value in values.items()) + "]"
            spec = self.pipeline(path, variant, name, k)
            if spec:
                spec.base, spec.sweep = core["name"], values
                out.append(spec)
        return out

    def pipeline(self, path: tuple, entry: dict, name: str, k: int) -> PipelineSpec | None:
        """A pipeline's stages, checked: a retriever first, then rankers, each reranking at most
        the documents the stage before it ranked (k for the first); pipeline-level compressors
        attached to every compressible stage."""
        shared = _listed(entry.get("compressors"))  # another type is a problem the table check reported
        if "stages" in entry:
            tables = entry["stages"]
            if not isinstance(tables, list):  # its type is reported by the table check
                return None
            if not tables:
                self.problem(path + ("stages",), "needs at least one stage: a retriever first, then any rankers")
                return None
            wheres = [path + ("stages", j) for j in range(len(tables))]
        else:
            tables = [entry.get("retriever")] + ([entry["ranker"]] if entry.get("ranker") is not None else [])
            wheres = [path + ("retriever",), path + ("ranker",)][:len(tables)]
        stages: list[StageSpec | None] = []
        for j, (where, table) in enumerate(zip(wheres, tables, strict=True)):
            kind = "ranker" if j else "retriever"
            if not self.stage_kind(where, j, table):
                stages.append(None)
                continue
            stages.append(self.stage(where, kind, table, PIPELINE_RANKER if j else None))
        passed = k  # how many documents the stage before ranked: k for the retriever, a ranker's depth
        for j, spec in enumerate(stages[1:], 1):
            if spec is None:
                passed = None
                continue
            if passed is not None and spec.depth > passed:
                message = (f"rerank depth {spec.depth} is beyond the retrieval depth k = {k}" if j == 1 else
                           f"{spec.depth} is more than the {passed} documents stage {j - 1} passes on (its depth): a "
                           "stage reranks only what the stage before it ranked")
                self.problem(wheres[j] + ("depth",), message)
            passed = spec.depth
        shared = [c for c in (self.compressor(path + ("compressors", j), c) for j, c in enumerate(shared)) if c]
        compressible = [s for s in stages if s and _compressible(s.cls)]
        if shared and not compressible:
            self.problem(path + ("compressors",), "no stage of this pipeline is compressible (exposes torch modules)")
        for stage in compressible:  # pipeline-level compressors come first, then the stage's own
            stage.compressors[:0] = shared
        if not stages or any(s is None for s in stages):
            return None
        parent = entry.get("parent") if isinstance(entry.get("parent"), str) else None  # else reported already
        return PipelineSpec(name, tuple(stages), description=entry.get("description", ""), parent=parent)

    def stage_kind(self, path: tuple, index: int, table: Any) -> bool:
        """Whether a pipeline stage's plugin may stand at ``index``: a retriever first, rankers after.
        A plugin of the other kind (and not of this one) is a problem saying so; an unknown one is
        left to ``stage`` (which suggests a name)."""
        plugin = table.get("plugin") if isinstance(table, dict) else None
        if not isinstance(plugin, str):
            return True
        kind, other = ("ranker", "retriever") if index else ("retriever", "ranker")
        if self._class_of(kind, plugin) is not None or self._class_of(other, plugin) is None:
            return True
        if index == 0:
            self.problem(path, f"a ranker cannot be the first stage: {plugin!r} is a ranker, and the first stage "
                         "retrieves (a retriever: " + ", ".join(self.registry.names("retriever")) + ")")
        else:
            self.problem(path, f"a retriever cannot follow another stage: {plugin!r} is a retriever, and stage "
                         f"{index} reranks what stage {index - 1} found (a ranker); to combine retrievers, "
                         "give the first stage a fusion retriever")
        return False

    def stage(self, path: tuple, kind: str, table: Any, core_keys: dict | None = None) -> StageSpec | None:
        """A component table ``{plugin = ..., params...}``; nested component params recurse.
        ``core_keys``: the keys the harness reads rather than the plugin (default ``STAGE_CORE``'s
        for the kind, ``NESTED_RANKER`` for a nested ranker: no ``depth``; a pipeline's rankers
        also take ``interpolate``)."""
        if not isinstance(table, dict):
            self.problem(path, f"must be a table like {{plugin = \"name\", ...}}, got {type(table).__name__}")
            return None
        before = len(self.problems)
        if "plugin" not in table:
            installed = ", ".join(self.registry.names(kind)) or "none"
            self.problem(path + ("plugin",), f"is required: which {kind} plugin to use (installed: {installed})")
            return None
        cls = self.component_class(path + ("plugin",), kind, table["plugin"])
        if cls is None:
            return None
        if core_keys is None:  # a nested component: a ranker there reranks no stage (no depth)
            core_keys = NESTED_RANKER if kind == "ranker" else STAGE_CORE.get(kind, {})
        if core_keys is NESTED_RANKER:
            for key in ("depth", "interpolate"):
                if key in table:
                    self.problem(path + (key,), f"applies to a pipeline's rankers (the stage before's top documents "
                                 f"they rerank), not to a ranker nested in a component, which scores the pairs its "
                                 f"component hands it: remove {key}")
            table = {k: v for k, v in table.items() if k not in ("depth", "interpolate")}
        core = self.table(path, core_keys, {k: v for k, v in table.items() if k in core_keys})
        params = {k: v for k, v in table.items() if k not in core_keys and k != "plugin"}
        for key, message in check_params(cls.params, params):
            self.problem(path + (key,), f"{message} ({kind} {table['plugin']!r})")
        for key, param in cls.params.items():  # nested component specs
            if param.is_component and isinstance(params.get(key), (dict, list)):
                values = params[key] if param.many else [params[key]]
                nested = [self.stage(path + ((key, j) if param.many else (key,)), param.type, v)
                          for j, v in enumerate(values)]
                for j, spec in enumerate(nested):  # a nested ranker is used as a scorer (ctx.scorer)
                    if spec is not None and spec.kind == "ranker" and not supports(spec.cls, PairScorer):
                        self.problem(path + ((key, j) if param.many else (key,)) + ("plugin",),
                                     f"ranker {spec.plugin!r} cannot score pairs (it defines no score_pairs), "
                                     "which a nested ranker needs")
                params[key] = nested if param.many else nested[0]
        if len(self.problems) == before:
            self.component_config(path, kind, table["plugin"], cls, params)
        compressors = [self.compressor(path + ("compressors", j), c) for j, c in enumerate(core.get("compressors", []))]
        if compressors and not _compressible(cls):
            self.problem(path + ("compressors",),
                         f"{kind} {table['plugin']!r} is not compressible (exposes no torch modules)")
        return StageSpec(kind, table["plugin"], params, cls, core.get("depth"), [c for c in compressors if c],
                         core.get("interpolate"))

    def component_config(self, path: tuple, kind: str, plugin: str, cls: type, params: dict) -> None:
        """The component's own check of its parameters (``Component.check_config``), each
        problem at its parameter's key path."""
        hook = getattr(cls, "check_config", None)
        if hook is None:
            return
        try:
            found = list(hook(resolve_params(cls.params, params), self.base_dir))
        except Exception as exc:  # a plugin's bug: reported, never a traceback from validate
            self.problem(path + ("plugin",), f"{kind} {plugin!r}: check_config failed: {type(exc).__name__}: {exc}")
            return
        for key, message in found:
            self.problem(path + ((key,) if key else ()), f"{message} ({kind} {plugin!r})")

    def compressor(self, path: tuple, table: Any) -> StageSpec | None:
        """A compressor table, also constructed: a compressor's ``__init__`` checks how its
        parameters combine (svd: exactly one of rank_ratio, rank, energy), cheaply and without
        torch, so a suite that would fail at run time fails validation instead."""
        before = len(self.problems)
        spec = self.stage(path, "compressor", table)
        if spec is not None and len(self.problems) == before:
            try:
                spec.build()
            except (ValueError, TypeError) as exc:
                self.problem(path, f"{exc} (compressor {spec.plugin!r})")
        return spec

    def component_class(self, path: tuple, kind: str, name: Any) -> type | None:
        if not isinstance(name, str):
            self.problem(path, f"must be a {kind} plugin name, got {type(name).__name__}")
            return None
        try:
            cls = self.registry.get(kind, name)
        except PluginError as exc:
            self.problem(path, str(exc))
            return None
        if kind == "ranker" and not _can_rerank(cls):
            self.problem(path, f"ranker {name!r} ({cls.__module__}.{cls.__qualname__}) defines neither "
                         "rerank(queries, candidates, ctx) nor score_pairs(query, texts, ctx): it cannot run")
            return None
        return cls

    # -- sweeps and overrides ----------------------------------------------------------------

    def sweep_variants(self, path: tuple, entry: dict) -> list[tuple[dict, dict]]:
        """(swept values, pipeline table) per combination; [({}, entry)] without a sweep."""
        sweep = entry.get("sweep") or {}
        if not isinstance(sweep, dict) or not sweep:
            return [({}, entry)]
        targets = {}
        for key, values in sweep.items():
            if not isinstance(values, list) or not values:
                self.problem(path + ("sweep", key), "must be a non-empty list of values")
                continue
            target = self.param_path(path + ("sweep", key), entry, key)
            if target:
                targets[key] = (target, values)
        variants = []
        for combo in itertools.product(*(values for _, values in targets.values())):
            variant = copy.deepcopy(entry)
            variant.pop("sweep", None)
            for key, ((target, _), value) in zip(targets, zip(targets.values(), combo, strict=True), strict=True):
                if not _set_in(variant, target, value):
                    self.problem(path + ("sweep", key), _UNREACHABLE.format(".".join(map(str, target))))
                    return [({}, entry)]
            variants.append((dict(zip(targets, combo, strict=True)), variant))
        return variants or [({}, entry)]

    def param_path(self, path: tuple, entry: dict, key: str) -> list | None:
        """Where a sweep/override key lands in a pipeline table: a pipeline key (``compressors``,
        ``ranker``: the whole value), a dotted path (``ranker.depth``, ``stages.2.depth`` or
        ``stages[2].depth``, zero-based), or a bare parameter name, found in the one stage (or
        pipeline-level compressor) that declares it."""
        key = re.sub(r"\[(\d+)\]", r".\1", key)
        parts = [int(p) if p.isdigit() else p for p in key.split(".") if p != ""]
        if not parts:
            self.problem(path, "is empty: name a pipeline key or parameter")
            return None
        if len(parts) > 1 or parts[0] in PIPELINE:
            if parts[0] not in PIPELINE:
                self.problem(path, f"{parts[0]!r} is not a pipeline key{did_you_mean(str(parts[0]), PIPELINE)}")
                return None
            return self.addressed(path, entry, parts)
        key = parts[0]
        found = []
        for where, kind, table in _stage_tables(entry):
            cls = self._class_of(kind, table)  # a bad stage is reported where the stage itself is checked
            core = PIPELINE_RANKER if kind == "ranker" else STAGE_CORE[kind]
            if cls is not None and (key in cls.params or key in core):
                found.append(where + [key])
        for j, table in enumerate(_listed(entry.get("compressors"))):
            cls = self._class_of("compressor", table)
            if cls is not None and key in cls.params:
                found.append(["compressors", j, key])
        if len(found) == 1:
            return found[0]
        if found:
            options = " or ".join(".".join(map(str, f)) for f in found)
            self.problem(path, f"{key!r} is a parameter of several stages: write {options}")
        else:
            hint = did_you_mean(key, self._stage_params(entry))
            self.problem(path, f"no stage of this pipeline has a parameter {key!r}{hint}")
        return None

    def addressed(self, path: tuple, entry: dict, parts: list) -> list | None:
        """``parts`` (a dotted pipeline path) in the form the pipeline is written in: ``stages.0``
        is the shorthand's ``retriever`` and ``stages.1`` its ``ranker``; ``retriever`` and
        ``ranker`` are ``stages.0`` and ``stages.1`` of a pipeline of at most two stages."""
        head, rest = parts[0], parts[1:]
        listed = isinstance(entry.get("stages"), list)
        if head == "stages" and rest and not listed:
            index = rest[0]
            if not isinstance(index, int):
                self.problem(path, f"stages is a list: address a stage by its number (stages.0 or stages[0]), "
                             f"got {index!r}")
                return None
            shorthand = ["retriever", "ranker"]
            if index < 2 and (index == 0 or rest[1:] == [] or "ranker" in entry):
                return [shorthand[index], *rest[1:]]
            count = 2 if "ranker" in entry else 1
            self.problem(path, f"this pipeline has {count} stage{'s' if count > 1 else ''}, written as "
                         f"{' and '.join(shorthand[:count])}: there is no stage {index} (write its stages as a "
                         "list, stages = [...], to add more)")
            return None
        if head == "ranker" and rest and (len(entry["stages"]) < 2 if listed else entry.get("ranker") is None):
            # a key of a ranker this pipeline does not have would make a stage of that one key
            self.problem(path, f"this pipeline has no ranker, so there is no ranker.{'.'.join(map(str, rest))} to "
                         "set: to add a ranker, give its whole table (ranker = {plugin = \"name\", depth = N, "
                         "...})")
            return None
        if head in ("retriever", "ranker") and listed:
            stages = entry["stages"]
            if head == "ranker" and len(stages) > 2:
                self.problem(path, f"this pipeline has {len(stages) - 1} rankers: address one as stages.N "
                             f"(1 to {len(stages) - 1})")
                return None
            return ["stages", 0 if head == "retriever" else 1, *rest]
        if head == "stages" and rest and listed:
            index, count = rest[0], len(entry["stages"])
            if not isinstance(index, int) or index > count or (index == count and rest[1:]):
                self.problem(path, f"this pipeline has {count} stage{'s' if count != 1 else ''} (stages.0 to "
                             f"stages.{count - 1}; stages.{count} adds one, given as a whole table), not "
                             f"{index!r}")
                return None
        return parts

    def _class_of(self, kind: str, table: Any) -> type | None:
        """The component class a stage table (or a plugin name) names, or None when it names none
        (any shape of input)."""
        plugin = table.get("plugin") if isinstance(table, dict) else table
        try:
            return self.registry.get(kind, plugin) if isinstance(plugin, str) else None
        except PluginError:
            return None

    def _stage_params(self, entry: dict) -> set[str]:
        """Every parameter name the pipeline's stages declare (for suggestions)."""
        names = set()
        tables = [(kind, table) for _, kind, table in _stage_tables(entry)]
        for kind, table in tables + [("compressor", c) for c in _listed(entry.get("compressors"))]:
            cls = self._class_of(kind, table)
            names |= set(cls.params) if cls is not None else set()
        return names

    def apply_overrides(self, raw: dict, overrides) -> dict:
        """``--set KEY.PATH=VALUE`` applied to the raw suite before validation."""
        for assignment in overrides:
            where = ("--set " + assignment.split("=", 1)[0],)
            try:
                parts, value = split_assignment(assignment)
            except ValueError as exc:
                self.problem((), str(exc))
                continue
            if parts[0] in ("pipelines", "datasets") and len(parts) >= 3:
                entries = [e for e in raw.get(parts[0], []) if isinstance(e, dict)]
                names = [e.get("name", _default_dataset_name(e.get("source", ""))) for e in entries]
                rest = ".".join(parts[1:])
                matches = [n for n in names if rest.startswith(f"{n}.")]  # names may hold dots
                if not matches:
                    self.problem(where, f"no {parts[0][:-1]} named {parts[1]!r}{did_you_mean(parts[1], names)}")
                    continue
                name = max(matches, key=len)
                entry, tail = entries[names.index(name)], rest[len(name) + 1:]
                target = tail.split(".") if parts[0] == "datasets" else self.param_path(where, entry, tail)
                if target:
                    target = [int(p) if isinstance(p, str) and p.isdigit() else p for p in target]
                    if target == ["stages"] and parts[0] == "pipelines":  # the long form replaces the shorthand
                        entry.pop("retriever", None)
                        entry.pop("ranker", None)
                    if not _set_in(entry, target, value):
                        self.problem(where, _UNREACHABLE.format(".".join(map(str, target))))
            else:
                if not _set_in(raw, parts, value):
                    self.problem(where, _UNREACHABLE.format(".".join(parts)))
        return raw


def _listed(value: Any) -> list:
    """A list from the suite, or nothing when it is not one (its type is reported elsewhere)."""
    return value if isinstance(value, list) else []


def _compressible(cls: type) -> bool:
    """The compressible protocol: torch_modules() and replace_torch_modules() (capabilities.py)."""
    return supports(cls, Compressible)


def _stage_tables(entry: dict) -> list[tuple[list, str, Any]]:
    """(where, kind, table) of each stage of a raw pipeline table, in either form: ``stages``
    (``["stages", j]``) or ``retriever``/``ranker``."""
    stages = entry.get("stages")
    if isinstance(stages, list):
        return [(["stages", j], "ranker" if j else "retriever", table) for j, table in enumerate(stages)]
    return [([kind], kind, entry[kind]) for kind in ("retriever", "ranker") if entry.get(kind) is not None]


_UNREACHABLE = ("{} does not lead to a value this suite has (a list index out of range, or a key under a value "
                "that is not a table)")


def _set_in(table: dict, parts: list, value: Any) -> bool:
    """``value`` at ``parts`` (keys and list indices); a list index one past the end appends.
    False when the path does not lead anywhere (an index out of range, a key under a value that
    is not a table)."""
    try:
        for part in parts[:-1]:
            if isinstance(table, list):
                table = table[part]
            elif isinstance(table, dict):
                table = table.setdefault(part, {})
            else:
                return False
        if isinstance(table, list) and parts[-1] == len(table):
            table.append(value)
        elif isinstance(table, (dict, list)):
            table[parts[-1]] = value
        else:
            return False
    except (IndexError, TypeError):
        return False
    return True


def _default_dataset_name(value: str, provider: str = "") -> str:
    """``irds:beir/scifact/test`` → beir-scifact-test; ``beir:../data/scifact`` → scifact."""
    provider, _, rest = str(value).rpartition(":") if not provider else (provider, "", str(value))
    rest = rest.rstrip("/")
    name = rest.replace("/", "-") if provider == "irds" else re.split(r"[/\\]", rest)[-1]
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name) or "dataset"


def _can_rerank(cls: type) -> bool:
    """A ranker class overrides ``rerank`` or has pair scoring (the default ``rerank`` uses it)."""
    from ..capabilities import PairScorer, supports
    from ..components import Ranker

    return not issubclass(cls, Ranker) or cls.rerank is not Ranker.rerank or supports(cls, PairScorer)
