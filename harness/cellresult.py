"""The cell result as a typed, validated model: what ``cells/<cell>.json`` holds (``harness.cell/2``;
``harness.cell/1`` files, written before pipelines had stage lists, are read too).

``CellResult.from_dict`` is the one place a cell result is checked: every field a reader uses
(the leaderboard, ``harness report`` and ``compare``, ``load_results``, the executors) has a type,
and a file that breaks it fails with ``ResultsError("<file>: <key>: expected <what>, got <what>")``
instead of a ``KeyError`` deep in a renderer. ``to_dict`` gives the JSON back in the shape it was
read (keys in their order, extras kept), so an old folder re-rendered or rewritten stays as it
was. results.py reads and writes the files (``read_cell``, ``write_cell``); docs/results.md
describes every field.

Free-form parts stay plain data (``environment``, ``components``, ``dataset``, ``evaluation``,
``config.pipeline``, a phase's extra notes); what is read by name is an attribute: the cell's
identity, status and error, metrics and per-query values, latency figures with their intervals
and repetitions, peak memory, phase seconds and cache, the hardware fingerprint, the execution
record. Keys a model does not name are kept in its ``extra`` and written back unchanged.

For code written against the plain dicts of ``harness.cell/1`` (notebooks, plugin tests), a
model also answers ``result["metrics"]``, ``result.get("latency")`` and ``"memory" in result``
with the JSON shape: read-only, except that plain-data fields are the model's own objects.

Schema ``/2`` records a pipeline's stages as a list, ``stages`` (one ``StageRecord`` each: its
component, how its run was obtained, attribution), where ``/1`` had ``components`` keyed by kind
(``retriever``, ``ranker``: two rankers would collide). A ``/1`` result read here has ``stages``
made from its ``components``, ``config.pipeline`` and phases (stage 0 the retriever, stage 1 the
ranker), for readers, and is written back as it was read (``/1``, without them).
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import PurePosixPath
from typing import Any, ClassVar, Union

from .errors import ResultsError
from .stats.settings import SEED_MAX, STATS_PARAMS

CELL_SCHEMA = "harness.cell/2"
CELL_SCHEMA_V1 = "harness.cell/1"  # components keyed by kind, no stage records
READABLE_SCHEMAS = (CELL_SCHEMA_V1, CELL_SCHEMA)  # what read_cell accepts; a new shape adds its name here
STATUSES = ("ok", "failed")
LEADERBOARD_FORMATS = ("md", "csv", "json", "html")  # what a manifest's output.leaderboard may list

_MISSING = object()


# -- describing what was expected and what was found ---------------------------------------------


def what(value: Any) -> str:
    """A short description of a JSON value, for error messages."""
    if value is _MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, int) and not _finite(value):
            return f"a number too large for a float ({len(str(abs(value)))} digits)"
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return f"a list ({len(value)} item{'s' if len(value) != 1 else ''})"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        inner = " or ".join(_expected(a) for a in args if a is not type(None))
        return f"{inner} or null" if type(None) in args else inner
    if tp is str:
        return "a string"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a finite number"
    if tp is bool:
        return "true or false"
    if tp is dict or origin is dict or (isinstance(tp, type) and issubclass(tp, Model)):
        return "an object"
    if tp is list or origin is list:
        return "a list"
    return "any JSON value"


def fail(source: str, key: str, expected: str, value: Any) -> ResultsError:
    return ResultsError(f"{source}: {key}: expected {expected}, got {what(value)}")


def nonfinite(value: Any, key: str = "") -> tuple[str, float] | None:
    """The first NaN or infinity anywhere in ``value`` (its key path and itself), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (key, value)
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for k, v in items:
        if isinstance(v, (dict, list, float)):
            found = nonfinite(v, f"{key}.{k}" if key else str(k))
            if found:
                return found
    return None


def check_finite(source: str, data: Any) -> None:
    """JSON has no NaN: a file that holds one was not written by the harness (``allow_nan=False``)."""
    try:
        found = nonfinite(data)
    except RecursionError:
        raise ResultsError(f"{source}: (file): expected a harness results file, got JSON nested too deeply "
                           "to read") from None
    if found:
        raise fail(source, found[0] or "(file)", "a finite number (JSON has no NaN or Infinity)", found[1])


def parse_json(source: str, text: str) -> Any:
    """The JSON value of a file's text; ResultsError naming the file when it is none."""
    if not text.strip():
        raise ResultsError(f"{source}: (file): expected a JSON object, got an empty file")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{source}: (file): expected a JSON object, got invalid JSON (truncated or "
                           f"damaged: {exc})") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise ResultsError(f"{source}: (file): expected a harness results file, got JSON nested too deeply "
                           "to read") from None


# -- the models -------------------------------------------------------------------------------------


def _parse(tp: Any, value: Any, source: str, key: str) -> Any:
    """``value`` checked against ``tp`` (and models built); ResultsError naming ``key`` if not."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if value is None or value is _MISSING or len(inner) != 1:
            raise fail(source, key, _expected(tp), value)
        try:
            return _parse(inner[0], value, source, key)
        except ResultsError as exc:
            if str(exc).startswith(f"{source}: {key}: expected "):  # this value, not one inside it
                raise fail(source, key, _expected(tp), value) from None
            raise
    if tp is Any:
        if value is _MISSING:
            raise fail(source, key, "a value", value)
        return value
    if isinstance(tp, type) and issubclass(tp, Model):
        if not isinstance(value, dict):
            raise fail(source, key, "an object", value)
        return tp.parse(value, source, key)
    if tp is str:
        if not isinstance(value, str):
            raise fail(source, key, "a string", value)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(source, key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(source, key, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise fail(source, key, "a finite number", value)
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise fail(source, key, "an object", value)
        if tp is dict:
            return value
        item = typing.get_args(tp)[1]
        return {k: _parse(item, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is list or origin is list:
        if not isinstance(value, list):
            raise fail(source, key, "a list", value)
        if tp is list:
            return value
        item = typing.get_args(tp)[0]
        return [_parse(item, v, source, f"{key}.{i}") for i, v in enumerate(value)]
    raise TypeError(f"no parser for {tp!r}")  # a field type this module does not support


def _finite(value: int | float) -> bool:
    """Whether a JSON number is a finite float (an integer too large for one is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _plain(value: Any) -> Any:
    """The JSON shape of a value that may hold models."""
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()} if any(isinstance(v, Model) for v in value.values()) \
            else value
    if isinstance(value, list):
        return [_plain(v) for v in value] if any(isinstance(v, Model) for v in value) else value
    return value


_HINTS: dict[type, dict[str, Any]] = {}


class Model:
    """A JSON object with typed fields (``from_dict``/``parse`` check them), the keys it does not
    name in ``extra``, and the keys it was read with in ``read_keys`` (so ``to_dict`` writes them
    back in order, nulls included; None for a model made in code). A field without a default is a
    required key.

    ``to_dict`` writes a field that was read, or assigned after the model was made, or has a value
    (not None, not empty); of a model made in code, also its ``ALWAYS`` fields. So a result keeps
    the keys it was read with, and one made by the runner has the keys it always had.
    """

    ALWAYS: ClassVar[tuple[str, ...]] = ()  # fields a model made in code writes even when None or empty
    REQUIRED: ClassVar[tuple[str, ...]] = ()  # fields with a default (for building) that a file must have

    @classmethod
    def _fields(cls) -> dict[str, Any]:
        if cls not in _HINTS:
            hints = typing.get_type_hints(cls)
            _HINTS[cls] = {f.name: hints[f.name] for f in fields(cls) if f.name not in ("extra", "read_keys")}
        return _HINTS[cls]

    @classmethod
    def parse(cls, data: dict, source: str, key: str = ""):
        """Build from a JSON object; ``source`` names the file, ``key`` where ``data`` sits in it."""
        values = {}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        required.update(cls.REQUIRED)
        for name, tp in cls._fields().items():
            where = f"{key}.{name}" if key else name
            if name in data:
                values[name] = _parse(tp, data[name], source, where)
            elif name in required:
                raise fail(source, where, _expected(tp), _MISSING)
        extra = {k: v for k, v in data.items() if k not in values}
        model = cls(**values, extra=extra, read_keys=tuple(data))
        for name in cls._fields():
            value = getattr(model, name)
            if name not in values and isinstance(value, Model):  # a default part: absent from the file
                value.read_keys = ()
        model.check(source, key)
        return model

    @classmethod
    def from_dict(cls, data: Any, source: str = "cell result"):
        if not isinstance(data, dict):
            raise fail(source, "(file)", "a JSON object", data)
        check_finite(source, data)
        return cls.parse(data, source)

    def check(self, source: str, key: str) -> None:
        """Constraints across fields (a subclass's); raise ``fail(...)`` when one is broken."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_assigned", set())

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        assigned = self.__dict__.get("_assigned")
        if assigned is not None:
            assigned.add(name)

    def _written(self, name: str, value: Any) -> bool:
        if name in (self.read_keys or ()) or name in self.__dict__.get("_assigned", ()):
            return True
        if self.read_keys is None and name in self.ALWAYS:
            return True
        if isinstance(value, Model):
            return bool(value.to_dict())
        return value is not None and not (isinstance(value, (dict, list)) and not value)

    def to_dict(self) -> dict:
        """The JSON object: fields that were read or have a value, then extras, in read order."""
        out = {}
        for name in self._fields():
            value = getattr(self, name)
            if self._written(name, value):
                out[name] = _plain(value)
        out.update(self.extra)
        if not self.read_keys:
            return out
        order = {k: i for i, k in enumerate(self.read_keys)}
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))

    # read-only dict-style access to the JSON shape (code written against harness.cell/1 dicts)
    def _json(self) -> dict:
        out = {name: getattr(self, name) for name in self._fields() if self._written(name, getattr(self, name))}
        out.update(self.extra)
        return out

    def __getitem__(self, key: str) -> Any:
        return _plain(self._json()[key])

    def __setitem__(self, key: str, value: Any) -> None:
        """``result["hardware"] = {...}``: the field set from its JSON shape, checked."""
        tp = self._fields().get(key)
        if tp is None:
            self.extra[key] = value
        else:
            setattr(self, key, _parse(tp, value, f"{type(self).__name__}[{key!r}] = ...", key))

    def get(self, key: str, default: Any = None) -> Any:
        data = self._json()
        return _plain(data[key]) if key in data else default

    def __contains__(self, key: object) -> bool:
        return key in self._json()

    def keys(self):
        return self._json().keys()

    def __or__(self, other: dict) -> dict:  # result | {...}: the JSON shape, merged (a new dict)
        return self.to_dict() | other if isinstance(other, dict) else NotImplemented

    def __ror__(self, other: dict) -> dict:
        return other | self.to_dict() if isinstance(other, dict) else NotImplemented


def model(cls):
    """A model's dataclass: keyword-only fields in JSON order, plus ``extra`` and ``read_keys``."""
    cls.__annotations__ = {**cls.__annotations__, "extra": "dict", "read_keys": "tuple | None"}
    cls.extra = field(default_factory=dict, repr=False)
    cls.read_keys = field(default=None, repr=False, compare=False)  # None: made in code, not read
    return dataclass(kw_only=True)(cls)


@model
class CellId(Model):
    """What the cell is: ``id`` (dataset/pipeline/device), ``key`` (the hash of all that decides
    its result), ``slug`` (its file name), and the parts of its id."""

    id: str
    key: str
    slug: str
    dataset: str
    pipeline: str
    base: str | None = None  # the pipeline's name before sweep expansion
    sweep: dict = field(default_factory=dict)  # the swept values
    device: str

    ALWAYS = ("base", "sweep")


@model
class CellError(Model):
    """Why a cell failed; a dead worker's also ``signal``, ``exit_code``, ``out_of_memory``,
    ``stderr`` (in ``extra``)."""

    phase: str
    type: str
    message: str
    traceback: str | None = None

    ALWAYS = ("traceback",)


@model
class Interval(Model):
    low: float
    high: float
    confidence: float | None = None


@model
class Spread(Model):
    min: float
    max: float


@model
class Figure(Model):
    """A cost figure (measure/figures.py): ``value`` and ``unit``, with ``ci`` (a bootstrap
    interval) or ``spread`` (slowest to fastest batch) where measured; ``samples``, ``warmup``,
    ``threads``, ``device``, ``method`` as recorded."""

    value: float | None
    unit: str | None = None
    method: str | None = None
    samples: int | None = None
    ci: Interval | None = None
    spread: Spread | None = None


@model
class Repetitions(Model):
    """One value per latency pass (``p50``, ``p95``, ms) or offline batch (``qps``), in order."""

    unit: str | None = None
    p50: list[float] | None = None
    p95: list[float] | None = None
    qps: list[float] | None = None


@model
class SingleStream(Model):
    passes: int | None = None
    latency: dict[str, Figure] = field(default_factory=dict)  # p50, p90, p95, p99, max, mean
    stages: dict = field(default_factory=dict)
    repetitions: Repetitions | None = None


@model
class Offline(Model):
    qps: Figure | None = None
    batch_seconds: Figure | None = None
    stages: dict = field(default_factory=dict)
    repetitions: Repetitions | None = None


@model
class Latency(Model):
    modes: list[str] = field(default_factory=list)
    queries: int | None = None
    cold: Figure | None = None
    single_stream: SingleStream | None = None
    offline: Offline | None = None


@model
class Memory(Model):
    peak_rss: Figure | None = None
    unavailable: str | None = None


@model
class Phase(Model):
    """One phase record (timing.py): wall ``seconds``, ``cache`` (miss, hit, memory), ``figures``,
    compression ``reports``; what else the phase adds (queries, documents, ...) is in ``extra``."""

    seconds: float | None = None
    cache: str | None = None
    figures: dict[str, Figure] = field(default_factory=dict)
    reports: list[dict] | None = None


@model
class Concurrent(Model):
    allowed: bool | None = None
    alongside: list[dict] = field(default_factory=list)

    ALWAYS = ("alongside",)


@model
class LoadAverage(Model):
    start: Figure | None = None
    end: Figure | None = None


@model
class Execution(Model):
    """How the cell ran: executor, isolation, its process, pinned CPUs, what ran beside it, the
    machine's load; the Dask executor adds ``worker``, ``attempts``, ``retried``."""

    executor: str | None = None
    isolation: str | None = None
    timeout: float | None = None
    concurrent: Concurrent | None = None
    attempt: str | None = None
    attempts: int | None = None
    retried: list[str] | None = None
    cpus: list[int] | None = None
    pid: int | None = None
    worker: dict | None = None
    load_average: LoadAverage | None = None
    threads: dict | None = None


@model
class Hardware(Model):
    """The machine's fingerprint (measure/hardware.py); ``details`` in ``extra``."""

    cpu: str | None = None
    cores: int | None = None
    memory_gib: float | None = None
    machine: str | None = None
    gpus: list | None = None
    driver: str | None = None
    cuda_driver: str | None = None
    torch: str | None = None
    hash: str | None = None


@model
class Config(Model):
    """The resolved configuration: ``pipeline`` is each stage's, defaults filled in."""

    k: int | None = None
    seed: int | None = None
    device: str | None = None
    threads: int | None = None
    measure: dict | None = None
    dataset: dict | None = None
    pipeline: dict | None = None
    metrics: list[str] | None = None

    ALWAYS = ("k", "seed", "device", "threads", "measure", "dataset", "pipeline", "metrics")

    def check(self, source: str, key: str) -> None:
        if self.seed is not None and not 0 <= self.seed <= SEED_MAX:  # the leaderboard's draws use it
            raise fail(source, f"{key}.seed" if key else "seed", "an integer from 0 to 2**64 - 1", self.seed)


@model
class StageRecord(Model):
    """One stage of the cell's pipeline (docs/results.md, "Stage records"): its position
    (``stage``, 0 the retriever) and component (``kind``, ``plugin``, ``distribution``,
    ``version``, ``identity``, ``compressors``, ``depth``, ``interpolate``), how its run was
    obtained (``phase``, ``cache``: miss, hit or memory, ``seconds``, ``run_key``), and what stage
    attribution found (``metric``, ``quality``, ``input_recall``, ``ceiling``; null until filled)."""

    stage: int
    kind: str | None = None
    plugin: str | None = None
    distribution: str | None = None
    version: str | None = None
    identity: Any = None
    compressors: list | None = None
    depth: int | None = None
    interpolate: float | None = None
    phase: str | None = None
    cache: str | None = None
    seconds: float | None = None
    run_key: str | None = None
    metric: str | None = None
    quality: float | None = None
    input_recall: float | None = None
    ceiling: float | None = None

    ALWAYS = ("kind", "plugin", "distribution", "version", "identity", "compressors", "depth", "interpolate",
              "phase", "cache", "seconds", "run_key", "metric", "quality", "input_recall", "ceiling")


@model
class MetricProvider(Model):
    """Who provided one metric of the cell (docs/results.md, "Metric providers"): its ``family``
    (``nDCG``), the ``plugin``, ``distribution`` and ``version`` that registered it and their
    ``origin`` (``built-in``, ``entry point`` or ``module``), as a stage record names its component;
    ``computed_by``: the library that computes a built-in family (``pytrec_eval 0.5``), else null.
    Results written before metrics recorded their providers have none (an empty map)."""

    family: str | None = None
    plugin: str | None = None
    distribution: str | None = None
    version: str | None = None
    origin: str | None = None
    computed_by: str | None = None

    ALWAYS = ("family", "plugin", "distribution", "version", "origin", "computed_by")


@model
class CostCounter(Model):
    """One cost counter of ``costs`` (harness/costs.py): checked when read, kept as the plain dict
    it is (``costs.reported`` and the leaderboard read it as one)."""

    total: float | None = None
    mean_per_query: float | None = None
    queries: int | None = None
    source: str | None = None
    unattributed: float | None = None
    incomplete: list[str] | None = None
    per_query: dict[str, float] | None = None


def inside(path: str) -> bool:
    """Whether ``path`` (a path a results file records) stays inside the folder it is relative
    to: relative, no ``..``, no NUL or backslash."""
    if not path or "\\" in path or any(ord(c) < 32 for c in path):
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def file_name(name: str) -> bool:
    """Whether ``name`` is a plain file name (no folder part, not ``.`` or ``..``, printable)."""
    return inside(name) and "/" not in name and name not in (".", "..") and len(name) <= 250


_V1_STAGES = (("retriever", "retrieve"), ("ranker", "rerank"))  # a /1 result's stages: kind, run phase


def stage_configs(config: Any) -> list[dict]:
    """The stage configurations of a recorded pipeline configuration (``config.pipeline``, or
    ``PipelineSpec.config()``), whichever shape it has: ``stages`` (three stages or more), or
    ``retriever`` and ``ranker``."""
    if not isinstance(config, dict):
        return []
    if isinstance(config.get("stages"), list):
        return [stage for stage in config["stages"] if isinstance(stage, dict)]
    return [config[kind] for kind, _ in _V1_STAGES if isinstance(config.get(kind), dict)]


@model
class CellResult(Model):
    """One cell's result (docs/results.md, "A cell result")."""

    schema: str = CELL_SCHEMA
    cell: CellId
    status: str = "failed"
    error: CellError | None = None
    config: Config = field(default_factory=Config)
    components: dict[str, dict] = field(default_factory=dict)  # schema /1: per kind; /2 has stages
    stages: list[StageRecord] = field(default_factory=list)
    started: str | None = None
    environment: dict | None = None
    execution: Execution | None = None
    device: dict | None = None
    dataset: dict | None = None
    latency: Latency | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluation: dict | None = None
    metric_providers: dict[str, MetricProvider] = field(default_factory=dict)  # by metric label; {} before
    run_file: str | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    memory: Memory | None = None
    hardware: Hardware | None = None
    seconds: float | None = None
    finished: str | None = None
    libraries_loaded: dict | None = None
    costs: dict = field(default_factory=dict)  # per-query cost counters, when a run keeps them

    ALWAYS = ("schema", "cell", "status", "error", "config", "stages", "started", "environment")
    REQUIRED = ("schema", "status")

    @classmethod
    def parse(cls, data: dict, source: str, key: str = ""):
        schema = data.get("schema", _MISSING)
        if schema not in READABLE_SCHEMAS:  # first: a foreign file is named as such, not by a key it lacks
            raise fail(source, "schema", " or ".join(repr(s) for s in READABLE_SCHEMAS), schema)
        result = super().parse(data, source, key)
        if schema == CELL_SCHEMA_V1 and "stages" not in data:  # for readers only: not written back
            object.__setattr__(result, "stages", result._v1_stages())
        return result

    def _v1_stages(self) -> list[StageRecord]:
        """The stage records of a ``/1`` result: its components (``retriever``, then ``ranker``),
        their configuration and the phases their runs were recorded in."""
        config = self.config.pipeline if isinstance(self.config.pipeline, dict) else {}
        out = []
        for index, (kind, phase) in enumerate(_V1_STAGES):
            component, stage = self.components.get(kind), config.get(kind)
            if not isinstance(component, dict) and not isinstance(stage, dict):
                break
            component = component if isinstance(component, dict) else {}
            stage = stage if isinstance(stage, dict) else {}
            record = self.phases.get(phase)
            out.append(StageRecord(
                stage=index, kind=kind, plugin=component.get("plugin", stage.get("plugin")),
                distribution=component.get("distribution"), version=component.get("version"),
                identity=component.get("identity"), compressors=stage.get("compressors", []),
                depth=stage.get("depth") if index else None, interpolate=None,
                phase=phase if record else None, cache=record.cache if record else None,
                seconds=record.seconds if record else None))
        return out

    def _written(self, name: str, value: Any) -> bool:
        if name == "stages" and self.schema == CELL_SCHEMA_V1:  # made from components: not the file's
            return "stages" in (self.read_keys or ()) or "stages" in self.__dict__.get("_assigned", ())
        return super()._written(name, value)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def id(self) -> str:
        return self.cell.id

    def check(self, source: str, key: str) -> None:
        if self.status not in STATUSES:
            raise fail(source, "status", " or ".join(repr(s) for s in STATUSES), self.status)
        if self.ok and "metrics" not in self.read_keys:
            raise fail(source, "metrics", "an object (a cell with status 'ok' has metrics)", _MISSING)
        if not self.ok and self.error is None:
            raise fail(source, "error", "an object (a failed cell says why)", None if "error" in self.read_keys
                       else _MISSING)
        for metric in self.per_query:
            if metric not in self.metrics:
                raise fail(source, f"per_query.{metric}", f"a metric of 'metrics' ({', '.join(self.metrics)})",
                           metric)
        for name, entry in self.costs.items():
            _parse(CostCounter, entry, source, f"costs.{name}")  # types; kept as the dict it is
        from .costs import check_summary  # names and counts >= 0 (costs.py imports this module)

        check_summary(self.costs, source)
        if self.run_file is not None and not inside(self.run_file):
            raise fail(source, "run_file", "a path inside the run folder (relative, without '..')", self.run_file)

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.ok and "metrics" not in out:
            out["metrics"] = self.metrics
        return out


def as_results(cells, source: str = "cell result") -> list[CellResult]:
    """``CellResult`` of each of ``cells``; a plain dict (a result's JSON) is checked as read."""
    return [c if isinstance(c, CellResult) else CellResult.from_dict(c, source) for c in cells]


RUN_SCHEMA = "harness.run/1"
RUN_STATUSES = ("running", "finished", "interrupted")


@model
class RunManifest(Model):
    """What ``read_manifest`` checks of ``run.json`` (docs/results.md, "The manifest"); the
    manifest itself is handed on as the plain dict it is."""

    schema: str
    suite: str
    run_id: str
    status: str
    started: str | None = None
    finished: str | None = None
    resumed: int | None = None
    harness: str | None = None
    k: int | None = None
    metrics: list[str] | None = None
    stats: dict | None = None
    measure: dict | None = None
    executor: dict | None = None
    output: dict | None = None
    datasets: list[str] | None = None
    pipelines: list[str] | None = None
    cells: dict[str, str]
    environment: dict | None = None
    hardware: dict | None = None
    metric_providers: dict[str, MetricProvider] | None = None  # by metric label; absent before

    @classmethod
    def parse(cls, data: dict, source: str, key: str = ""):
        if data.get("schema", _MISSING) != RUN_SCHEMA:
            raise fail(source, "schema", repr(RUN_SCHEMA), data.get("schema", _MISSING))
        return super().parse(data, source, key)

    def check(self, source: str, key: str) -> None:
        if self.status not in RUN_STATUSES:
            raise fail(source, "status", " or ".join(repr(s) for s in RUN_STATUSES), self.status)
        for cell_id, name in self.cells.items():  # results.cell_path joins it to the run folder
            if not file_name(name):
                raise fail(source, f"cells.{cell_id}", "a file name (of the cell's result in cells/, no folder "
                           "part)", name)
        for name, param in STATS_PARAMS.items():  # what the leaderboard computes with: bounded
            if name in (self.stats or {}):
                why = param.check(self.stats[name])
                if why:
                    raise ResultsError(f"{source}: stats.{name}: {why}")
        wanted = (self.output or {}).get("leaderboard", list(LEADERBOARD_FORMATS))
        if not isinstance(wanted, list) or any(f not in LEADERBOARD_FORMATS for f in wanted):
            raise fail(source, "output.leaderboard", f"a list of {', '.join(map(repr, LEADERBOARD_FORMATS))}",
                       wanted if not isinstance(wanted, list) else next(f for f in wanted
                                                                        if f not in LEADERBOARD_FORMATS))


__all__ = [
    "CELL_SCHEMA",
    "CELL_SCHEMA_V1",
    "READABLE_SCHEMAS",
    "RUN_SCHEMA",
    "STATUSES",
    "CellError",
    "CellId",
    "CellResult",
    "Concurrent",
    "Config",
    "CostCounter",
    "Execution",
    "Figure",
    "Hardware",
    "Interval",
    "Latency",
    "LoadAverage",
    "Memory",
    "MetricProvider",
    "Model",
    "Offline",
    "Phase",
    "Repetitions",
    "RunManifest",
    "SingleStream",
    "Spread",
    "StageRecord",
    "as_results",
    "check_finite",
    "fail",
    "file_name",
    "inside",
    "parse_json",
    "stage_configs",
    "what",
]
