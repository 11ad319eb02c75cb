"""Declared component parameters and their validation.

A component declares what it accepts as ``params = {"k1": Param(float, 0.9, min=0)}``; the suite
validator checks a user's table against that declaration and reports each problem with its key
path, so a typo never reaches a plugin's constructor.

A settings dataclass (the suite's ``[measure]``, ``[stats]``, ... tables) declares its keys as
fields made with ``setting()``; ``params_of`` reads them back as Params, the field's annotation
giving the type, so the dataclass is the one declaration of each key, type and default.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

REQUIRED = object()
"""Sentinel default: the parameter must be given."""

# A parameter whose type is one of these holds nested component specs ({plugin = ..., ...}),
# which the suite validates and the runner builds recursively (rank fusion uses this).
COMPONENT_KINDS = ("retriever", "ranker", "compressor", "metric", "dataset")


@dataclass(frozen=True)
class Param:
    """One parameter of a component.

    ``type`` is a Python type (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``), a tuple of
    them, or a component kind name (``"retriever"``) for a nested component spec; ``many=True``
    makes it a list of such values.

    ``affects_output=False`` declares that the parameter cannot change what the component computes
    (a progress flag, a check that only refuses to run): it is left out of the component's cache
    keys (``output_config``), so changing it reuses cached indexes and runs. Every other parameter
    enters them. Declare it only when the output is provably the same for every value: a device,
    a batch size or a thread count changes float arithmetic, so those affect the output.

    A number must be finite: TOML's ``inf`` and ``nan`` are refused (results are JSON, which holds
    neither, and no component means "unbounded" by them unless it says so) unless the parameter
    is declared ``finite=False``.
    """

    type: Any
    default: Any = REQUIRED
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    many: bool = False
    affects_output: bool = True
    finite: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def is_component(self) -> bool:
        return isinstance(self.type, str) and self.type in COMPONENT_KINDS

    def type_name(self, item: bool = False) -> str:
        """What a value must be (``item=True``: one element of a ``many`` list)."""
        if self.is_component:
            name = f"{self.type} spec"
        elif isinstance(self.type, tuple):
            name = " or ".join(t.__name__ for t in self.type)
        else:
            name = self.type.__name__
        return f"list of {name}" if self.many and not item else name

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None when it is."""
        if value is None:
            return None if self.nullable else f"must be a {self.type_name()}, not null"
        if self.many:
            if not isinstance(value, list):
                return f"must be a {self.type_name()}, got {_describe(value)}"
            for i, item in enumerate(value):
                why = self._check_one(item)
                if why:
                    return f"item {i} {why}"
            return None
        return self._check_one(value)

    def _check_one(self, value: Any) -> str | None:
        if self.is_component:
            if not isinstance(value, dict) or "plugin" not in value:
                return f"must be a {self.type} spec table with a 'plugin' key"
            return None  # its contents are validated against that plugin's params
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        ok = any(_is_instance(value, t) for t in types)
        if not ok:
            return f"must be a {self.type_name(item=True)}, got {_describe(value)}"
        if self.choices is not None and value not in self.choices:
            hint = _did_you_mean(value, self.choices)
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}{hint}"
        if isinstance(value, float) and not math.isfinite(value):
            if self.finite:
                return f"must be a finite number, got {value!r}"
            if (self.min is not None or self.max is not None) and value != value:  # NaN passes < and >
                return f"must be a number within its bounds, got {value!r}"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min}, got {value!r}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}, got {value!r}"
        return None


def _is_instance(value: Any, t: type) -> bool:
    if t is float:  # TOML writes 1 for 1.0; accept ints where floats are declared
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(
        value
    ).__name__


def _did_you_mean(word: Any, options) -> str:
    if not isinstance(word, str):
        return ""
    options = [str(o) for o in options]
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:  # ndcg → nDCG
        return f" (did you mean {lowered[word.lower()]!r}?)"
    # cutoff 0.5 so that short names still match (k2 → k1)
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.5)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def did_you_mean(word: str, options) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    return _did_you_mean(word, options)


def check_params(declared: dict[str, Param], given: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with ``given`` against ``declared``, as (parameter name, message) pairs."""
    problems = []
    for key, value in given.items():
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(
                (key, f"unknown parameter{_did_you_mean(key, declared)} (accepted: {known})")
            )
            continue
        why = declared[key].check(value)
        if why:
            problems.append((key, why))
    for key, param in declared.items():
        if param.required and key not in given:
            problems.append((key, f"is required ({param.type_name()}: {param.help})"))
    return problems


def resolve_params(declared: dict[str, Param], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` completed with declared defaults, in declaration order, each value in its
    canonical form (``canonical_value``): ``mu = 1000`` and ``mu = 1000.0`` resolve alike."""
    return {
        key: canonical_value(param, given.get(key, param.default))
        for key, param in declared.items()
        if key in given or not param.required
    }


def canonical_value(param: Param, value: Any) -> Any:
    """``value`` in the one form its declared type gives it, so that equal values make equal
    cache keys: an int given for a ``float`` parameter becomes a float (TOML writes ``1000`` for
    ``1000.0``; a parameter typed ``(int, float)`` keeps what it was given, the component being
    free to tell them apart), a tuple given for a ``list`` becomes a list, each item of a ``many``
    parameter likewise. Values of another type (which ``check`` rejects) and nested component
    specs are returned as they are; dict keys need no order (keys hash sorted)."""
    if value is None or param.is_component:
        return value
    if param.many and isinstance(value, (list, tuple)):
        return [_canonical_one(param, item) for item in value]
    return _canonical_one(param, value)


def _canonical_one(param: Param, value: Any) -> Any:
    kinds = param.type if isinstance(param.type, tuple) else (param.type,)
    if float in kinds and int not in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if list in kinds and isinstance(value, tuple):
        return list(value)
    return value


def output_config(declared: dict[str, Param], config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (resolved parameters) without those declared ``affects_output=False``: what of
    a component's parameters enters its cache keys. Keys that ``declared`` does not name stay
    (they are not parameters: ``plugin``, ``depth``, ``compressors``)."""
    return {key: value for key, value in config.items()
            if key not in declared or declared[key].affects_output}


def setting(default: Any, help: str = "", *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, finite: bool = True) -> Any:
    """A settings dataclass field declared as a ``Param``: its default, help and constraints.

    The field's annotation gives the rest (``params_of``): ``int | None`` is a nullable int,
    ``list[str]`` a list of strings (``many``). A list or dict default is copied per instance.
    ``finite=False`` lets a number be ``inf`` or ``nan`` (see ``Param``).
    """
    meta = {"param": {"help": help, "choices": choices, "min": min, "max": max, "finite": finite}}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def params_of(cls: type) -> dict[str, Param]:
    """The ``Param`` of each ``setting()`` field of a settings dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if "param" not in f.metadata:
            continue
        kind, nullable, many = _annotation(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out[f.name] = Param(kind, default, nullable=nullable, many=many, **f.metadata["param"])
    return out


def _annotation(hint: Any) -> tuple[Any, bool, bool]:
    """(Param type, nullable, many) of a field annotation: ``int``, ``float | None``, ``list[str]``."""
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(options) < len(typing.get_args(hint))
        hint = options[0] if len(options) == 1 else tuple(options)
    many = typing.get_origin(hint) is list and bool(typing.get_args(hint))
    if many:
        (hint,) = typing.get_args(hint)
    return typing.get_origin(hint) or hint, nullable, many  # dict[str, int] is checked as a dict
