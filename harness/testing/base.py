"""What every contract shares: configuration by class attributes, building the component, the
rule that it is a valid component of its kind, and prerequisites.

A *prerequisite* is a rule other rules build on (``retrieve`` returns a ``Run``). When it fails,
its own test fails with the cause and the tests built on it are skipped with a note naming it,
so a broken component fails one rule, the one to fix, instead of all of them at once.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from ..params import Param, check_params
from ..plugins import HOOKS
from .data import make_context

T = TypeVar("T")


class Contract:
    """Base of the contracts; subclass one of the kinds' contracts, not this."""

    kind: ClassVar[str] = ""
    #: The component class under test (required).
    component: ClassVar[type | None] = None
    #: Parameters to build it with, as a suite table would give them (validated first).
    params: ClassVar[dict[str, Any]] = {}

    def make(self) -> Any:
        """A fresh instance of ``component`` built from ``params``."""
        cls = self.component
        if cls is None:
            pytest.fail(f"{type(self).__name__}: set `component = YourClass` on the test class")
        problems = check_params(getattr(cls, "params", {}) or {}, dict(self.params))
        if problems:
            listed = "; ".join(f"{key}: {why}" for key, why in problems)
            pytest.fail(f"{type(self).__name__}.params do not fit {cls.__name__}.params: {listed}")
        return cls(**self.params)

    def base_dir(self) -> Path:
        """What ``ctx.base_dir`` is: the test module's folder, so relative paths in ``params``
        (a dataset folder, a model file) resolve next to the tests, as next to a suite file."""
        return Path(inspect.getfile(type(self))).resolve().parent

    def context(self, folder: Path, collection=None):
        """A fresh ``Context`` whose artifact cache lives in ``folder`` (one per instance, so a
        second instance never reads what the first one cached)."""
        return make_context(self.base_dir(), Path(folder) / "cache", collection)

    @staticmethod
    def prerequisite(rule: str, action: Callable[[], T]) -> T:
        """``action()``, or skip this test when it fails: ``rule`` fails and says why."""
        try:
            return action()
        except Exception as exc:  # the rule's own test reports the failure in full
            pytest.skip(f"needs {rule}, which fails: {type(exc).__name__}: {str(exc)[:200]}")

    @staticmethod
    def attempt(what: str, action: Callable[[], T]) -> T:
        """``action()``; an exception it raises fails the rule, saying on what (the component's
        own traceback stays attached)."""
        try:
            return action()
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(f"raised {type(exc).__name__} on {what}: {exc}") from exc

    def test_declares_a_valid_component(self):
        """The class is a subclass of its kind, has a ``name`` a suite can write, a docstring
        (its first line is what ``harness plugins`` shows) and ``params`` whose defaults are valid."""
        cls = self.component
        base = HOOKS[self.kind][1]
        assert isinstance(cls, type) and issubclass(cls, base), (
            f"{cls!r} is not a subclass of harness.components.{base.__name__}"
        )
        name = cls.name
        assert isinstance(name, str) and re.fullmatch(r"[^\s()@=,]+", name), (
            f"{cls.__name__}.name is {name!r}: give it a non-empty name without spaces, "
            "parentheses, '@', '=' or ',' (suites write it as plugin = \"<name>\")"
        )
        assert cls.summary(), f"{cls.__name__} has no docstring: its first line is its summary in `harness plugins`"
        assert isinstance(cls.params, dict), f"{cls.__name__}.params must be a dict of Param"
        for key, param in cls.params.items():
            assert isinstance(param, Param), f"{cls.__name__}.params[{key!r}] is {param!r}, not a harness.params.Param"
            if not param.required:
                why = param.check(param.default)
                assert why is None, f"{cls.__name__}.params[{key!r}]: its own default {param.default!r} {why}"
