"""Suites composed in Python: the pipelines a suite file declares, built with operators.

::

    import harness
    bm25 = harness.stage("bm25", k1=0.9)
    ce = harness.stage("cross-encoder", model="cross-encoder/ms-marco-MiniLM-L6-v2")
    suite = harness.compose_suite(
        "cascade", datasets=["irds:cranfield"],
        pipelines={"bm25": bm25, "cascade": bm25 >> ce % 100 >> ce.interpolate(0.5) % 10},
        metrics=["nDCG@10", "R@100"], k=1000, stats={"baseline": "bm25"},
    )
    outcome = harness.run(suite)

* ``stage(plugin, **params)`` is a ``Stage``, a frozen value; ``stage % 100`` is a copy that
  reranks the top 100 (``depth``), ``stage.interpolate(0.3)`` one that interpolates its scores
  with the stage before's, ``stage.compress(stage("int8-dynamic"))`` one with compressors.
* ``a >> b`` is a ``Pipeline``, a tuple of stages: a retriever, then rankers. ``>>`` associates
  (``a >> (b >> c) == (a >> b) >> c``) and a plain list ``[a, b % 100]`` is accepted wherever a
  pipeline is. ``Pipeline.table()`` is the suite's pipeline table.
* ``compose_suite(name, datasets, pipelines, ...)`` builds the suite's TOML document and validates it
  with the checker ``harness.load_suite`` uses, so a composed suite is the ``Suite`` the
  equivalent file gives (same cells, cell keys, problems and key paths); ``Suite.text`` is that
  file, written out (save it to get the suite file).

Operator misuse is a ``CompositionError`` where it is knowable without the installed plugins:
as it is written (``%`` with anything but a positive int, ``%`` on a pipeline, ``>>`` with
something that is not a stage), or as the pipeline becomes a table (a depth on its first stage,
a value TOML cannot hold); the rest is the suite checker's ``SuiteError``.

Importing this module, and composing, imports no more of the harness than its errors: the suite
machinery (and the plugins) load in ``compose_suite()``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .plugins import Registry
    from .suite import Suite

__all__ = ["CompositionError", "Pipeline", "Stage", "compose_suite", "stage", "to_toml"]


class CompositionError(UsageError, TypeError):
    """Stages or pipelines composed in a way no suite can hold (a ``HarnessError``; also a
    ``TypeError``, as a misused operator raises in Python)."""


# -- stages ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=True, repr=False)
class Stage:
    """One component of a pipeline: ``plugin`` and its ``params``, and for a ranker ``depth``
    (candidates it reranks, ``stage % depth``), ``interpolation`` (``stage.interpolate(a)``) and
    ``compressors`` (``stage.compress(...)``). Build it with ``harness.stage``."""

    plugin: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    depth: int | None = None
    interpolation: float | None = None
    compressors: tuple[Stage, ...] = ()

    def __post_init__(self):
        if not isinstance(self.plugin, str) or not self.plugin:
            raise CompositionError(f"a stage's plugin is a component name such as 'bm25', got {self.plugin!r}")
        reserved = {"plugin", "depth", "interpolate", "compressors"} & set(self.params)
        if reserved:
            raise CompositionError(f"stage {self.plugin!r}: {', '.join(sorted(reserved))} is not a parameter here: "
                                   "use harness.stage(plugin, depth=..., interpolate=..., compressors=[...])")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.depth is not None:
            object.__setattr__(self, "depth", _depth(self.plugin, self.depth))
        if self.interpolation is not None:
            object.__setattr__(self, "interpolation", _weight(self.plugin, self.interpolation))
        object.__setattr__(self, "compressors", tuple(_compressor(self.plugin, c) for c in _many(self.compressors)))

    # -- copies with one thing changed

    def __mod__(self, depth: int) -> Stage:
        """A copy that reranks the top ``depth`` candidates of the stage before: ``ce % 100``."""
        return dataclasses.replace(self, depth=_depth(self.plugin, depth))

    def interpolate(self, weight: float) -> Stage:
        """A copy whose reranked head is ordered by ``weight``·own score + (1−``weight``)·the
        stage before's (as the TOML key ``interpolate``)."""
        return dataclasses.replace(self, interpolation=_weight(self.plugin, weight))

    def compress(self, *compressors: Stage | str) -> Stage:
        """A copy with ``compressors`` (stages, or plugin names) applied after its own, in order."""
        return dataclasses.replace(self, compressors=self.compressors + tuple(compressors))

    def with_params(self, **params: Any) -> Stage:
        """A copy with these parameters set (others kept)."""
        return dataclasses.replace(self, params={**self.params, **params})

    # -- composition

    def __rshift__(self, other) -> Pipeline:
        if isinstance(other, Stage):
            return Pipeline((self, other))
        if isinstance(other, (list, tuple)):  # a Pipeline is a tuple
            return Pipeline((self, *other))
        raise _not_a_stage(self, other, ">>")

    def __rrshift__(self, other) -> Pipeline:  # [a, b] >> c
        if isinstance(other, (list, tuple)):
            return Pipeline((*other, self))
        raise _not_a_stage(other, self, ">>")

    # -- the suite's table

    def table(self) -> dict:
        """The stage's table as a suite file writes it: ``{plugin = ..., params..., depth = ...}``."""
        out: dict[str, Any] = {"plugin": self.plugin}
        out.update(_plain(dict(self.params), f"stage {self.plugin!r}"))
        if self.depth is not None:
            out["depth"] = self.depth
        if self.interpolation is not None:
            out["interpolate"] = self.interpolation
        if self.compressors:
            out["compressors"] = [c.table() for c in self.compressors]
        return out

    def __hash__(self) -> int:
        return hash(repr(self))

    def __reduce__(self):  # params are a read-only view, which pickle and deepcopy cannot copy
        return (Stage, (self.plugin, dict(self.params), self.depth, self.interpolation, self.compressors))

    def __repr__(self) -> str:
        args = [repr(self.plugin), *(f"{k}={v!r}" for k, v in self.params.items())]
        out = f"stage({', '.join(args)})"
        if self.compressors:
            out += f".compress({', '.join(map(repr, self.compressors))})"
        if self.interpolation is not None:
            out += f".interpolate({self.interpolation!r})"
        if self.depth is not None:
            out += f" % {self.depth}"
        return out


def stage(plugin: str, *, depth: int | None = None, interpolate: float | None = None,
          compressors: Iterable[Stage | str] = (), **params: Any) -> Stage:
    """A pipeline stage: ``plugin`` (as ``harness plugins`` lists it) with its parameters;
    ``depth``, ``interpolate`` and ``compressors`` as the stage table's keys of those names.
    Parameters may hold stages themselves (a fusion retriever's ``retrievers``)."""
    return Stage(plugin, params, depth, interpolate, tuple(_many(compressors)))


def _depth(plugin: str, depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise CompositionError(f"stage {plugin!r}: depth (stage % depth) must be an int, the candidates it "
                               f"reranks, got {depth!r}")
    if depth < 1:
        raise CompositionError(f"stage {plugin!r}: depth (stage % depth) must be >= 1, got {depth!r}")
    return int(depth)


def _weight(plugin: str, weight: Any) -> float:
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise CompositionError(f"stage {plugin!r}: interpolate takes a number (the weight of the stage's own "
                               f"scores, 0 to 1), got {weight!r}")
    return weight if type(weight) in (int, float) else float(weight)


def _compressor(plugin: str, value: Any) -> Stage:
    if isinstance(value, str):
        return Stage(value)
    if not isinstance(value, Stage):
        raise CompositionError(f"stage {plugin!r}: a compressor is harness.stage(\"name\", ...) or a plugin "
                               f"name, got {_describe(value)}")
    if value.depth is not None or value.interpolation is not None or value.compressors:
        raise CompositionError(f"stage {plugin!r}: compressor {value!r} cannot have a depth, interpolate "
                               "or compressors of its own")
    return value


def _many(values: Any) -> list:
    if isinstance(values, (Stage, str)):
        return [values]
    if not isinstance(values, Iterable) or isinstance(values, Mapping):
        raise CompositionError(f"compressors: a list of stages, got {_describe(values)}")
    return list(values)


# -- pipelines ------------------------------------------------------------------------------------


class Pipeline(tuple):
    """Stages run in order: the first retrieves, each after it reranks the top ``depth`` of the
    one before. ``a >> b`` makes one; ``Pipeline([a, b % 100])`` too (nested pipelines flatten).
    A run of rankers (``b % 100 >> c % 10``) is a pipeline too, to be joined onto a retriever;
    ``table()`` (and so ``harness.suite``) checks that the first stage is one."""

    __slots__ = ()

    def __new__(cls, stages: Iterable[Stage] | Stage = ()):
        if isinstance(stages, Stage):
            stages = (stages,)
        elif not isinstance(stages, Iterable) or isinstance(stages, (str, Mapping)):
            raise CompositionError(f"a pipeline is a stage, a >> b or a list of stages, got {_describe(stages)}")
        flat: list[Stage] = []
        for item in stages:
            if isinstance(item, Stage):
                flat.append(item)
            elif isinstance(item, Pipeline):
                flat.extend(item)
            else:
                raise CompositionError(f"stage {len(flat) + 1} of a pipeline must be a stage "
                                       f"(harness.stage(\"name\", ...)), got {_describe(item)}")
        if not flat:
            raise CompositionError("a pipeline needs at least one stage, a retriever")
        return super().__new__(cls, flat)

    def __rshift__(self, other) -> Pipeline:
        if isinstance(other, Stage):
            return Pipeline((*self, other))
        if isinstance(other, (list, tuple)):
            return Pipeline((*self, *other))
        raise _not_a_stage(self, other, ">>")

    def __rrshift__(self, other) -> Pipeline:
        if isinstance(other, (list, tuple)):
            return Pipeline((*other, *self))
        raise _not_a_stage(other, self, ">>")

    def __mod__(self, depth):
        raise CompositionError(f"% sets one ranker's depth, not a pipeline's: write a >> b % {depth!r} "
                               f"(% binds tighter than >>), not (a >> b) % {depth!r}")

    def table(self, shorthand: bool = False) -> dict:
        """The suite's pipeline table (without ``name``): ``{"stages": [stage tables]}``, or with
        ``shorthand`` the ``retriever``/``ranker`` form, which holds two stages at most (both
        give the same pipeline, with the same cell keys)."""
        first = self[0]  # checked here, not by >>, so that b >> c may be joined on later: a >> (b >> c)
        if first.depth is not None or first.interpolation is not None:
            what = "depth" if first.depth is not None else "interpolate"
            raise CompositionError(f"stage 1 ({first!r}) is the retriever: it retrieves the suite's k documents; "
                                   f"{what} belongs to the rankers after it (bm25 >> ranker % 100)")
        tables = [s.table() for s in self]
        if not shorthand:
            return {"stages": tables}
        if len(tables) > 2:
            raise CompositionError(f"the retriever/ranker shorthand holds two stages, this pipeline has "
                                   f"{len(tables)}: write it as stages")
        out = {"retriever": tables[0]}
        if len(tables) == 2:
            out["ranker"] = tables[1]
        return out

    def __repr__(self) -> str:
        if len(self) == 1:
            return f"Pipeline([{self[0]!r}])"
        return " >> ".join(repr(s) for s in self)


def _not_a_stage(left, right, op: str) -> CompositionError:
    return CompositionError(f"cannot compose {_describe(left)} {op} {_describe(right)}: both sides must be "
                            "stages (harness.stage(\"name\", ...)), pipelines or lists of stages")


def _describe(value: Any) -> str:
    if isinstance(value, (Stage, Pipeline)):
        return repr(value)
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


# -- suites ---------------------------------------------------------------------------------------


def compose_suite(name: str, datasets: Any, pipelines: Any, *, metrics: list | None = None, k: int = 1000,
          base_dir: str | os.PathLike | None = None, registry: Registry | None = None, **sections: Any) -> Suite:
    """A validated ``Suite``, as ``harness.load_suite`` gives for the equivalent suite file.

    ``datasets``: sources (``"irds:cranfield"``, ``"beir:path/to/folder"``) or dataset tables
    (``{"source": ..., "queries": {"first": 50}}``); ``pipelines``: name → a stage, a pipeline
    (``a >> b % 100``), a list of stages, or a pipeline table (``{**p.table(), "parent": "x"}``,
    or ``{"stages": a >> b, "compressors": [...]}``); ``metrics`` and ``k`` as the suite keys;
    ``sections``: any other top-level key (``description``, ``seed``, ``stats``, ``measure``,
    ``output``, ``execution``), each as in the file. Relative paths start at ``base_dir`` (the
    working directory by default), where the suite's ``path`` says its file would be.
    ``registry``: the components to validate against (default: the installed plugins).

    Raises ``SuiteError`` (every problem, with key paths and lines of ``Suite.text``) or
    ``CompositionError``.
    """
    from .plugins import get_registry
    from .suite import build_suite

    registry = registry or get_registry()
    raw: dict[str, Any] = {"name": name}
    tables = {key: value for key, value in sections.items() if isinstance(value, Mapping)}
    raw.update(_plain({key: value for key, value in sections.items() if key not in tables}, ""))
    raw["k"] = _plain(k, "k")
    if metrics is not None:
        raw["metrics"] = _plain(metrics, "metrics")
    raw["datasets"] = _datasets(datasets)
    raw["pipelines"] = _pipelines(pipelines)
    raw.update(_plain(tables, ""))
    text = to_toml(raw)
    folder = Path(base_dir) if base_dir is not None else Path.cwd()
    stem = name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) else "suite"
    path = folder / f"{stem}.toml"
    return build_suite(raw, text, path, (), registry)


def _datasets(datasets: Any) -> list:
    if isinstance(datasets, (str, Mapping)):
        datasets = [datasets]
    if not isinstance(datasets, Iterable):
        raise CompositionError(f"datasets: a list of sources ('irds:cranfield') or tables, got {_describe(datasets)}")
    out = []
    for i, entry in enumerate(datasets):
        if isinstance(entry, str):
            entry = {"source": entry}
        out.append(_plain(entry, f"datasets[{i}]"))
    return out


def _pipelines(pipelines: Any) -> list[dict]:
    """The pipelines' tables, as the suite file writes them."""
    if isinstance(pipelines, Mapping):
        named = list(pipelines.items())
    elif isinstance(pipelines, (list, tuple)) and all(isinstance(p, Mapping) for p in pipelines):
        named = [(p.get("name"), {k: v for k, v in p.items() if k != "name"}) for p in pipelines]
    else:
        raise CompositionError("pipelines: a dict of name -> pipeline (a stage, a >> b, a list of stages or a "
                               f"pipeline table), got {_describe(pipelines)}")
    tables = []
    for name, value in named:
        where = f"pipelines[{name!r}]"
        extra: dict = {}
        if isinstance(value, Mapping):
            extra = dict(value)
            if "name" in extra and extra.pop("name") != name:
                raise CompositionError(f"{where}: the table's name, {value['name']!r}, is not its key")
            value = extra.pop("stages", None)
            if value is None or not _composed(value):  # a table as the file writes it
                if value is not None:
                    extra["stages"] = value
                tables.append(_plain({"name": name, **extra}, where))
                continue
            if {"retriever", "ranker"} & set(extra):
                raise CompositionError(f"{where}: give stages or retriever/ranker, not both")
        elif not _composed(value):
            raise CompositionError(f"{where}: a stage, a pipeline (a >> b % 100), a list of stages or a pipeline "
                                   f"table, got {_describe(value)}")
        tables.append({"name": name, **Pipeline(value).table(), **_plain(extra, where)})
    return tables


def _composed(value: Any) -> bool:
    """A stage, a pipeline, or a list of stages (not a list of raw tables)."""
    if isinstance(value, (Stage, Pipeline)):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, (Stage, Pipeline)) for v in value)


def _plain(value: Any, where: str) -> Any:
    """``value`` as TOML holds it: stages as tables, pipelines as lists of them, tuples as lists,
    paths as strings, number types as int and float; anything else is a CompositionError."""
    if isinstance(value, Stage):
        return value.table()
    if isinstance(value, Pipeline):
        return [s.table() for s in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CompositionError(f"{where or 'suite'}: table keys are strings, got {key!r}")
            out[key] = _plain(item, f"{where}.{key}" if where else key)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise CompositionError(f"{where or 'suite'}: {_describe(value)} cannot be written in a suite (strings, "
                           "numbers, booleans, lists, tables and stages can)")


# -- TOML -----------------------------------------------------------------------------------------


def to_toml(document: Mapping[str, Any]) -> str:
    """A suite document as TOML, laid out as suite files are: top-level values, then each list of
    tables as ``[[key]]`` entries and each table as ``[key]``, their values written inline.
    TOML has no null: keys whose value is None are left out (the document itself keeps them)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in document.items()
             if v is not None and not isinstance(v, Mapping) and not _table_array(v)]
    for key, value in document.items():
        if _table_array(value):
            for entry in value:
                lines += ["", f"[[{_key(key)}]]", *_assignments(entry)]
        elif isinstance(value, Mapping):
            lines += ["", f"[{_key(key)}]", *_assignments(value)]
    return "\n".join(lines) + "\n"


def _assignments(table: Mapping[str, Any]) -> list[str]:
    """``key = value`` lines; a list of several tables (``stages``) one table a line."""
    out = []
    for key, value in table.items():
        if value is None:
            continue
        if _table_array(value) and len(value) > 1:
            out += [f"{_key(key)} = [", *(f"    {_value(v)}," for v in value), "]"]
        else:
            out.append(f"{_key(key)} = {_value(value)}")
    return out


def _table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(key: str) -> str:
    return key if _BARE.match(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float.__repr__(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{" + (f" {inner} " if inner else "") + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    raise CompositionError(f"{_describe(value)} cannot be written in TOML")
