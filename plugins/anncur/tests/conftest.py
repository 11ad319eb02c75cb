"""The anncur tests see the installed plugins plus the test scorer ``low-rank`` (anncur_fakes.py),
so that nested tables ``{plugin = "low-rank"}`` resolve, outside a runner too."""

from __future__ import annotations

import pytest
from anncur_fakes import LowRank

import harness.plugins
from harness.plugins import ComponentInfo, PluginInfo, Registry, load_registry


def registry_with_fakes() -> Registry:
    registry = load_registry()
    fake = PluginInfo("tests.anncur", "tests", "0.0.1")
    fake.components = [ComponentInfo("ranker", LowRank.name, LowRank, fake.name, fake.distribution, fake.version)]
    return Registry(registry.plugins + [fake])


@pytest.fixture(autouse=True)
def fake_scorers(monkeypatch):
    """The process-wide registry (what ``scorer_for`` and ``build`` look plain tables up in)
    with the test scorers added; the root conftest resets it after each test."""
    registry = registry_with_fakes()
    monkeypatch.setattr(harness.plugins, "_registry", registry)
    return registry
