"""Checking a raw suite: every problem collected with its key path, typed objects built on the way.

Sweeps and ``--set`` overrides are resolved here too, since both address parameters inside a
pipeline's stages by name.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from pathlib import Path
from typing import Any

from ..capabilities import Compressible, PairScorer, supports
from ..datasets import DatasetSpec, check_options
from ..params import check_params, did_you_mean, resolve_params
from ..plugins import PluginError, Registry
from .model import PipelineSpec, StageSpec, Suite
from .schema import DATASET, DEVICE, EXECUTION, MEASURE, NAME, OUTPUT, PIPELINE, STAGE_CORE, STATS, TOP
from .sections import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings, from_table
from .text import Problem, format_path, locate, split_assignment


class SuiteChecker:
    """Walks a raw suite, collecting Problems and building the typed objects as it goes."""

    def __init__(self, text: str, registry: Registry):
        self.text = text
        self.registry = registry
        self.problems: list[Problem] = []

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
        metrics = self.metrics(top["metrics"], k)
        datasets = self.unique("datasets", [self.dataset(i, d) for i, d in enumerate(_listed(raw.get("datasets")))])
        pipelines, entries = [], []
        for i, entry in enumerate(_listed(raw.get("pipelines"))):
            specs = self.pipelines(i, entry, k)
            pipelines.extend(specs)
            entries += [(i, spec) for spec in specs]
        self.unique("pipelines", pipelines)
        self.parents(entries)
        self.margin(stats, metrics)
        for key in ("datasets", "pipelines"):
            if key in raw and isinstance(raw[key], list) and not raw[key]:
                self.problem((key,), "needs at least one entry")
        if stats.baseline and pipelines:
            names = {p.name for p in pipelines} | {p.base for p in pipelines}
            if stats.baseline not in names:
                self.problem(("stats", "baseline"),
                             f"no pipeline named {stats.baseline!r}{did_you_mean(stats.baseline, names)}")
        if top["name"] is not None and not NAME.match(top["name"]):
            self.problem(("name",), "use letters, digits and . _ + - (it names a folder)")
        return Suite(
            name=top["name"] or path.stem, path=path.resolve(), text=self.text, k=k,
            seed=top["seed"], metrics=metrics, datasets=[d for d in datasets if d],
            pipelines=pipelines, stats=stats, measure=measure, output=output,
            description=top["description"], execution=execution,
        )

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

    def margin(self, stats: StatsSettings, metrics: list) -> None:
        """The non-inferiority margin is finite, and ``margin_metric`` is one of the suite's metrics."""
        if stats.margin is not None and not math.isfinite(stats.margin):
            self.problem(("stats", "margin"), f"must be a finite number, got {stats.margin!r}")
        chosen = stats.margin_metric
        if chosen is None:
            return
        labels = [m.label for m in metrics]
        if stats.margin is None:
            self.problem(("stats", "margin_metric"), "has no effect without stats.margin (the margin in this "
                         "metric's units)")
        elif labels and chosen not in labels:
            self.problem(("stats", "margin_metric"), f"{chosen!r} is not one of the suite's metrics "
                         f"({', '.join(labels)}){did_you_mean(chosen, labels)}")

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
            out.append(metric)
        return out

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
        name = core["name"] or _default_dataset_name(provider_params.get(cls.source_param, provider), provider)
        if not NAME.match(name):
            self.problem(path + ("name",), f"{name!r}: use letters, digits and . _ + - (it names files)")
        return DatasetSpec(
            name=name, provider=provider, params=provider_params,
            fields=tuple(core["fields"]) if core["fields"] else None,
            queries=core["queries"], grades=grades,
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
        if "name" not in core or "retriever" not in entry:  # a name of the wrong type is already a problem
            return []
        if not NAME.match(str(core["name"])):
            self.problem(path + ("name",), f"{core['name']!r}: use letters, digits and . _ + - (it names files)")
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
        shared = _listed(entry.get("compressors"))  # another type is a problem the table check reported
        retriever = self.stage(path + ("retriever",), "retriever", entry.get("retriever"))
        ranker = None
        if entry.get("ranker") is not None:
            ranker = self.stage(path + ("ranker",), "ranker", entry["ranker"])
            if ranker and ranker.depth > k:
                self.problem(path + ("ranker", "depth"),
                             f"rerank depth {ranker.depth} is beyond the retrieval depth k = {k}")
        shared = [c for c in (self.compressor(path + ("compressors", j), c) for j, c in enumerate(shared)) if c]
        compressible = [s for s in (retriever, ranker) if s and _compressible(s.cls)]
        if shared and not compressible:
            self.problem(path + ("compressors",), "no stage of this pipeline is compressible (exposes torch modules)")
        for stage in compressible:  # pipeline-level compressors come first, then the stage's own
            stage.compressors[:0] = shared
        if retriever is None:
            return None
        parent = entry.get("parent") if isinstance(entry.get("parent"), str) else None  # else reported already
        return PipelineSpec(name=name, retriever=retriever, ranker=ranker, description=entry.get("description", ""),
                            parent=parent)

    def stage(self, path: tuple, kind: str, table: Any) -> StageSpec | None:
        """A component table ``{plugin = ..., params...}``; nested component params recurse."""
        if not isinstance(table, dict):
            self.problem(path, f"must be a table like {{plugin = \"name\", ...}}, got {type(table).__name__}")
            return None
        if "plugin" not in table:
            installed = ", ".join(self.registry.names(kind)) or "none"
            self.problem(path + ("plugin",), f"is required: which {kind} plugin to use (installed: {installed})")
            return None
        cls = self.component_class(path + ("plugin",), kind, table["plugin"])
        if cls is None:
            return None
        core_keys = STAGE_CORE.get(kind, {})
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
        compressors = [self.compressor(path + ("compressors", j), c) for j, c in enumerate(core.get("compressors", []))]
        if compressors and not _compressible(cls):
            self.problem(path + ("compressors",),
                         f"{kind} {table['plugin']!r} is not compressible (exposes no torch modules)")
        return StageSpec(kind, table["plugin"], params, cls, core.get("depth"), [c for c in compressors if c])

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
            return self.registry.get(kind, name)
        except PluginError as exc:
            self.problem(path, str(exc))
            return None

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
            for (target, _), value in zip(targets.values(), combo, strict=True):
                _set_in(variant, target, value)
            variants.append((dict(zip(targets, combo, strict=True)), variant))
        return variants or [({}, entry)]

    def param_path(self, path: tuple, entry: dict, key: str) -> list | None:
        """Where a sweep/override key lands in a pipeline table: dotted, or a bare param name."""
        parts = [int(p) if p.isdigit() else p for p in key.split(".")]
        if len(parts) > 1:
            if parts[0] not in PIPELINE:
                self.problem(path, f"{parts[0]!r} is not a pipeline key{did_you_mean(str(parts[0]), PIPELINE)}")
                return None
            return parts
        found = []
        for stage in ("retriever", "ranker"):
            table = entry.get(stage)
            cls = self._class_of(stage, table)  # a bad stage is reported where the stage itself is checked
            if cls is not None and (key in cls.params or key in STAGE_CORE[stage]):
                found.append([stage, key])
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

    def _class_of(self, kind: str, table: Any) -> type | None:
        """The component class a stage table names, or None when it names none (any shape of input)."""
        plugin = table.get("plugin") if isinstance(table, dict) else None
        try:
            return self.registry.get(kind, plugin) if isinstance(plugin, str) else None
        except PluginError:
            return None

    def _stage_params(self, entry: dict) -> set[str]:
        """Every parameter name the pipeline's stages declare (for suggestions)."""
        names = set()
        for kind, table in [("retriever", entry.get("retriever")), ("ranker", entry.get("ranker"))] + [
            ("compressor", c) for c in _listed(entry.get("compressors"))
        ]:
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
                    _set_in(entry, [int(p) if isinstance(p, str) and p.isdigit() else p for p in target], value)
            else:
                _set_in(raw, parts, value)
        return raw


def _listed(value: Any) -> list:
    """A list from the suite, or nothing when it is not one (its type is reported elsewhere)."""
    return value if isinstance(value, list) else []


def _compressible(cls: type) -> bool:
    """The compressible protocol: torch_modules() and replace_torch_modules() (capabilities.py)."""
    return supports(cls, Compressible)


def _set_in(table: dict, parts: list, value: Any) -> None:
    for part in parts[:-1]:
        if isinstance(table, list):
            table = table[part]
        else:
            table = table.setdefault(part, {})
    table[parts[-1]] = value


def _default_dataset_name(value: str, provider: str = "") -> str:
    """``irds:beir/scifact/test`` → beir-scifact-test; ``beir:../data/scifact`` → scifact."""
    provider, _, rest = str(value).rpartition(":") if not provider else (provider, "", str(value))
    rest = rest.rstrip("/")
    name = rest.replace("/", "-") if provider == "irds" else re.split(r"[/\\]", rest)[-1]
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name) or "dataset"
