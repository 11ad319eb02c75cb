"""Optional capabilities are Protocols, checked in one place (harness/capabilities.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.capabilities import CAPABILITIES, Compressible, Persistent, Sharded, TwoStep, supports

ROOT = Path(__file__).resolve().parents[1]


class Saves:
    def save(self, path):
        pass

    def load(self, path):
        pass


class HalfSaves:
    def save(self, path):
        pass


class NotCallable:
    save = None
    load = "no"


def test_supports_instances_and_classes():
    assert supports(Saves(), Persistent) and supports(Saves, Persistent)
    assert not supports(HalfSaves(), Persistent)
    assert not supports(NotCallable(), Persistent)
    assert not supports(Saves(), Compressible)


def test_supports_rejects_what_is_not_a_capability():
    with pytest.raises(TypeError, match="not a capability"):
        supports(Saves(), dict)


def test_each_capability_has_methods():
    """Guards ``supports`` against passing vacuously: every Protocol names at least one method."""
    from harness.capabilities import _members

    for capability in CAPABILITIES:
        assert _members(capability), capability
    assert set(_members(TwoStep)) == {"encode_queries", "search"}
    assert set(_members(Sharded)) == {"index_shard", "merge_index"}


def test_first_party_components_declare_what_they_support():
    from harness_transformers import BiEncoder, Dense

    assert supports(Dense, TwoStep) and supports(Dense, Sharded) and supports(Dense, Compressible)
    assert supports(BiEncoder, Compressible)


def test_no_capability_probes_outside_the_one_check():
    """``callable(getattr(...))`` probes live in capabilities.supports only."""
    probe = re.compile(r"callable\(getattr\(")
    offenders = []
    for path in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("plugins/*/harness_*/**/*.py")]:
        if path.name == "capabilities.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if probe.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
