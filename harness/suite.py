"""Suites: the TOML schema, its validation, sweeps, and the cells a suite expands into.

``load_suite`` returns a ``Suite`` or raises ``SuiteError`` listing every problem at once, each
with its key path (``pipelines[2].ranker.depth``), line and a "did you mean" where one helps.
docs/suite-format.md documents every key.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datasets import DatasetSpec, check_options
from .params import Param, check_params, did_you_mean, resolve_params
from .plugins import PluginError, Registry, get_registry
from .suitefile import (
    Problem,
    SuiteError,
    format_path,
    locate,
    parse_toml,
    read_suite_text,
    split_assignment,
)

DEFAULT_METRICS = ["nDCG@10", "RR@10", "R@100", "AP"]
DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|auto)$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

TOP = {
    "name": Param(str, None, "suite name: results go to <output.dir>/<name>/", nullable=True),
    "description": Param(str, ""),
    "k": Param(int, 1000, "retrieval depth: documents retrieved per query", min=1),
    "seed": Param(int, 0, "seed for every random choice (query samples, bootstrap)"),
    "metrics": Param(list, DEFAULT_METRICS, "metric names (nDCG@10) or tables"),
    "datasets": Param(list, help="[[datasets]] entries"),
    "pipelines": Param(list, help="[[pipelines]] entries"),
    "stats": Param(dict, {}),
    "measure": Param(dict, {}),
    "output": Param(dict, {}),
}
STATS = {
    "baseline": Param(str, None, "pipeline the others are compared with", nullable=True),
    "alpha": Param(float, 0.05, "significance level", min=0.0, max=1.0),
}
MEASURE = {
    "devices": Param(str, ["cpu"], "devices each pipeline runs on (cpu, cuda, cuda:N, auto)", many=True),
    "threads": Param(int, None, "intra-op threads (torch, BLAS); default: the library's", nullable=True, min=1),
}
OUTPUT = {
    "dir": Param(str, "results", "results root, relative to the working directory"),
    "run_files": Param(bool, True, "write a TREC run file per cell"),
    "per_query": Param(bool, True, "store per-query metric values in cell results"),
    "leaderboard": Param(str, ["md", "csv"], "leaderboard formats", choices=("md", "csv"), many=True),
    "cache": Param(bool, True, "reuse cached artifacts (indexes, runs) across runs"),
}
DATASET = {
    "name": Param(str, None, "name in results; default: from the source", nullable=True),
    "source": Param(str, None, "shorthand provider:value, e.g. irds:cranfield", nullable=True),
    "provider": Param(str, None, "dataset provider plugin", nullable=True),
    "fields": Param(str, None, "document fields components see", choices=("title", "text"), many=True, nullable=True),
    "queries": Param(dict, None, "query subset: {first = N} or {sample = N, seed = S}", nullable=True),
    "grades": Param(dict, None, "relevance grade mapping, e.g. {\"-1\" = 0}", nullable=True),
}
PIPELINE = {
    "name": Param(str, help="unique pipeline name"),
    "description": Param(str, ""),
    "retriever": Param(dict, help="{plugin = ..., params...}"),
    "ranker": Param(dict, None, "{plugin = ..., depth = N, params...}", nullable=True),
    "compressors": Param(dict, [], "compressors applied to every compressible stage", many=True),
    "sweep": Param(dict, {}, "parameter -> list of values; one pipeline per combination"),
}
STAGE_CORE = {
    "retriever": {"compressors": Param(dict, [], many=True)},
    "ranker": {"compressors": Param(dict, [], many=True), "depth": Param(int, 100, "candidates reranked per query", min=1)},
}


@dataclass
class StageSpec:
    """A component as the suite asks for it: plugin name, its parameters, nested specs."""

    kind: str
    plugin: str
    params: dict
    cls: type
    depth: int | None = None
    compressors: list["StageSpec"] = field(default_factory=list)

    def config(self) -> dict:
        """Canonical, defaults filled in: what cache keys and results record."""
        params = {}
        for key, value in resolve_params(self.cls.params, self.params).items():
            param = self.cls.params[key]
            if param.is_component and value is not None:
                value = [v.config() for v in value] if param.many else value.config()
            params[key] = value
        out: dict[str, Any] = {"plugin": self.plugin, **params}
        if self.depth is not None:
            out["depth"] = self.depth
        if self.compressors:
            out["compressors"] = [c.config() for c in self.compressors]
        return out

    def build(self):
        """An instance of the component (nested specs stay specs: the runner builds them)."""
        return self.cls(**self.params)


@dataclass
class PipelineSpec:
    name: str
    retriever: StageSpec
    ranker: StageSpec | None = None
    description: str = ""
    base: str = ""  # the name before sweep expansion
    sweep: dict = field(default_factory=dict)  # the swept values of this variant

    def config(self) -> dict:
        out = {"retriever": self.retriever.config()}
        if self.ranker:
            out["ranker"] = self.ranker.config()
        return out


@dataclass
class Cell:
    """One unit of work: a pipeline on a dataset on a device."""

    dataset: DatasetSpec
    pipeline: PipelineSpec
    device: str

    @property
    def id(self) -> str:
        return f"{self.dataset.name}/{self.pipeline.name}/{self.device}"

    @property
    def slug(self) -> str:
        """The id made safe as a file name."""
        return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", self.id.replace("/", "__"))


@dataclass
class Suite:
    name: str
    path: Path
    text: str
    k: int
    seed: int
    metrics: list  # Metric instances
    datasets: list[DatasetSpec]
    pipelines: list[PipelineSpec]
    stats: dict
    measure: dict
    output: dict
    description: str = ""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def cells(self, pipelines=(), datasets=(), devices=()) -> list[Cell]:
        """Datasets × pipelines × devices, optionally narrowed (names, base names or globs).

        A pipeline none of whose stages runs on a device gets no cell there (see ``unsupported``).
        """
        return [c for c in self._all_cells(pipelines, datasets, devices) if _runs_on(c.pipeline, c.device)]

    def unsupported(self, pipelines=(), datasets=(), devices=()) -> list[Cell]:
        """Cells left out because no stage of the pipeline declares the device."""
        return [c for c in self._all_cells(pipelines, datasets, devices) if not _runs_on(c.pipeline, c.device)]

    def _all_cells(self, pipelines, datasets, devices) -> list[Cell]:
        out = []
        for dataset in self.datasets:
            if datasets and not _selected(dataset.name, dataset.name, datasets):
                continue
            for pipeline in self.pipelines:
                if pipelines and not _selected(pipeline.name, pipeline.base, pipelines):
                    continue
                for device in self.measure["devices"]:
                    if not devices or device in devices:
                        out.append(Cell(dataset, pipeline, device))
        return out


def _runs_on(pipeline: PipelineSpec, device: str) -> bool:
    """Whether some stage declares the device (``cuda:1`` counts as ``cuda``; ``auto`` always)."""
    kind = device.split(":")[0]
    stages = [s for s in (pipeline.retriever, pipeline.ranker) if s]
    return kind == "auto" or any(kind in s.cls.devices for s in stages)


def _selected(name: str, base: str, patterns) -> bool:
    import fnmatch

    return any(p in (name, base) or fnmatch.fnmatchcase(name, p) for p in patterns)


def load_suite(path: str | Path, overrides=(), registry: Registry | None = None) -> Suite:
    """Parse and validate a suite file; raises SuiteError with every problem."""
    path = Path(path)
    text = read_suite_text(path)
    raw = parse_toml(text, str(path))
    return build_suite(raw, text, path, overrides, registry or get_registry())


def validate(path: str | Path, overrides=(), registry: Registry | None = None) -> list[Problem]:
    """Every problem with a suite file (empty when it is valid); never raises for bad input."""
    try:
        load_suite(path, overrides, registry)
    except SuiteError as exc:
        return exc.problems
    return []


def build_suite(raw: dict, text: str, path: Path, overrides, registry: Registry) -> Suite:
    checker = _Checker(text, registry)
    raw = checker.apply_overrides(copy.deepcopy(raw), overrides)
    suite = checker.suite(raw, path)
    if checker.problems:
        raise SuiteError(checker.problems, str(path))
    return suite


class _Checker:
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
        stats = self.table(("stats",), STATS, top["stats"])
        measure = self.table(("measure",), MEASURE, top["measure"])
        output = self.table(("output",), OUTPUT, top["output"])
        for i, device in enumerate(measure["devices"]):
            if not DEVICE.match(device):
                self.problem(("measure", "devices", i), f"unknown device {device!r} (cpu, cuda, cuda:N, auto)")
        metrics = self.metrics(top["metrics"], k)
        datasets = self.unique("datasets", [self.dataset(i, d) for i, d in enumerate(raw.get("datasets", []))])
        pipelines = []
        for i, entry in enumerate(raw.get("pipelines", [])):
            pipelines.extend(self.pipelines(i, entry, k))
        self.unique("pipelines", pipelines)
        for key in ("datasets", "pipelines"):
            if key in raw and isinstance(raw[key], list) and not raw[key]:
                self.problem((key,), "needs at least one entry")
        if stats["baseline"] and pipelines:
            names = {p.name for p in pipelines} | {p.base for p in pipelines}
            if stats["baseline"] not in names:
                self.problem(("stats", "baseline"), f"no pipeline named {stats['baseline']!r}{did_you_mean(stats['baseline'], names)}")
        if top["name"] is not None and not NAME.match(top["name"]):
            self.problem(("name",), "use letters, digits and . _ + - (it names a folder)")
        return Suite(
            name=top["name"] or path.stem, path=path.resolve(), text=self.text, k=k,
            seed=top["seed"], metrics=metrics, datasets=[d for d in datasets if d],
            pipelines=pipelines, stats=stats, measure=measure, output=output,
            description=top["description"],
        )

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
        from .metrics import MetricError, parse_metric

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
            out.append(metric)
        return out

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
                self.problem(path + ("source",), f"expected 'provider:value', e.g. 'irds:cranfield' or 'beir:path/to/folder', got {core['source']!r}")
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
        if "name" not in entry or "retriever" not in entry:
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
        shared = entry.get("compressors", [])
        retriever = self.stage(path + ("retriever",), "retriever", entry.get("retriever"), shared)
        ranker = None
        if entry.get("ranker") is not None:
            ranker = self.stage(path + ("ranker",), "ranker", entry["ranker"], shared)
            if ranker and ranker.depth > k:
                self.problem(path + ("ranker", "depth"), f"rerank depth {ranker.depth} is beyond the retrieval depth k = {k}")
        if retriever is None:
            return None
        return PipelineSpec(name=name, retriever=retriever, ranker=ranker, description=entry.get("description", ""))

    def stage(self, path: tuple, kind: str, table: Any, shared_compressors=()) -> StageSpec | None:
        """A component table ``{plugin = ..., params...}``; nested component params recurse."""
        if not isinstance(table, dict):
            self.problem(path, f"must be a table like {{plugin = \"name\", ...}}, got {type(table).__name__}")
            return None
        if "plugin" not in table:
            self.problem(path + ("plugin",), f"is required: which {kind} plugin to use (installed: {', '.join(self.registry.names(kind)) or 'none'})")
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
                nested = [self.stage(path + ((key, j) if param.many else (key,)), param.type, v) for j, v in enumerate(values)]
                params[key] = nested if param.many else nested[0]
        compressors = [
            self.stage(path + ("compressors", j), "compressor", c)
            for j, c in enumerate(list(shared_compressors) + core.get("compressors", []))
        ]
        return StageSpec(kind, table["plugin"], params, cls, core.get("depth"), [c for c in compressors if c])

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
            for (target, _), value in zip(targets.values(), combo):
                _set_in(variant, target, value)
            variants.append((dict(zip(targets, combo)), variant))
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
            if isinstance(table, dict):
                try:
                    cls = self.registry.get(stage, table.get("plugin", ""))
                except PluginError:
                    continue  # reported where the stage itself is checked
                if key in cls.params or key in STAGE_CORE[stage]:
                    found.append([stage, key])
        for j, table in enumerate(entry.get("compressors", []) or []):
            try:
                if isinstance(table, dict) and key in self.registry.get("compressor", table.get("plugin", "")).params:
                    found.append(["compressors", j, key])
            except PluginError:
                continue
        if len(found) == 1:
            return found[0]
        if found:
            options = " or ".join(".".join(map(str, f)) for f in found)
            self.problem(path, f"{key!r} is a parameter of several stages: write {options}")
        else:
            self.problem(path, f"no stage of this pipeline has a parameter {key!r}{did_you_mean(key, self._stage_params(entry))}")
        return None

    def _stage_params(self, entry: dict) -> set[str]:
        """Every parameter name the pipeline's stages declare (for suggestions)."""
        names = set()
        for kind, table in [("retriever", entry.get("retriever")), ("ranker", entry.get("ranker"))] + [
            ("compressor", c) for c in entry.get("compressors", []) or []
        ]:
            try:
                names |= set(self.registry.get(kind, table.get("plugin", "")).params)
            except (PluginError, AttributeError):
                continue
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
