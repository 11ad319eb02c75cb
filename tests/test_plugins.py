"""The plugin system: loading, failure isolation, conflicts, selection, ``harness plugins``.

Registries are built in-process with ``load_registry(env=...)``; third-party plugins are the
modules in ``tests/plugins/``, handed to the loader by stand-in entry points (``harness.plugins.
_entry_points`` is monkeypatched), so nothing is installed. ``test_plugin_install.py`` does the
same with real distributions in a throwaway virtualenv.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
from harness import plugins
from harness.cli import main
from harness.components import Component
from harness.plugins import ALLOW_ENV, BUILTIN_MODULES, DISABLE_ENV, MODULES_ENV, PluginError, load_registry

FIXTURES = Path(__file__).parent / "plugins"

BUILTINS = {
    ("dataset", "irds"), ("dataset", "beir"), ("dataset", "trec"), ("dataset", "synthetic"),
    ("retriever", "trec-run"),
    ("metric", "AP"), ("metric", "nDCG"), ("metric", "P"), ("metric", "R"), ("metric", "RR"),
    ("metric", "Rprec"), ("metric", "Bpref"), ("metric", "Judged"), ("metric", "ExactRecall"),
}  # fmt: skip
GOOD = {
    ("retriever", "good-retriever"), ("ranker", "good-ranker"),
    ("compressor", "good-compressor"), ("metric", "GoodHits"), ("dataset", "good-dataset"),
}  # fmt: skip


# -- stand-in entry points --------------------------------------------------------------------


@dataclass
class FakeDist:
    name: str
    version: str


@dataclass
class FakeEntryPoint:
    """Behaves like ``importlib.metadata.EntryPoint`` as harness.plugins uses one: ``name``,
    ``value``, ``group``, ``dist`` and ``load()``, which runs ``tests/plugins/<value>.py``."""

    name: str
    value: str
    dist: FakeDist | None
    group: str = "harness"

    def load(self):
        path = FIXTURES / f"{self.value}.py"
        spec = importlib.util.spec_from_file_location(f"harness_fixture_{self.value}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # a fresh module per load: no state between tests
        return module


def ep(name: str, module: str | None = None, dist: str = "harness-test-good", version: str = "1.2.3"):
    return FakeEntryPoint(name, module or name.replace("-", "_"), FakeDist(dist, version))


GOOD_EP = ep("good")
BROKEN_EP = ep("import-error", dist="harness-test-broken", version="0.0.1")
ONE_EP = ep("dup-one", "dup_one", dist="harness-test-one", version="1.0")
TWO_EP = ep("dup-two", "dup_two", dist="harness-test-two", version="2.0")
MISSING_MODULE = (
    "failed to load: ModuleNotFoundError: "
    "No module named 'harness_test_dependency_that_is_not_installed'"
)


@pytest.fixture
def entry_points(monkeypatch):
    """entry_points(*eps): the installed plugins are exactly these (in this order); the
    selection variables are cleared so that only ``env`` arguments and setenv count."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(MODULES_ENV, raising=False)

    def install(*eps):
        monkeypatch.setattr(plugins, "_entry_points", lambda: list(eps))
        plugins.reset_registry()  # the CLI uses the process-wide registry

    return install


def kinds_and_names(registry, distribution=None) -> set[tuple[str, str]]:
    return {
        (c.kind, c.name)
        for p in registry.plugins
        for c in p.components
        if distribution is None or c.distribution == distribution
    }


def plugin(registry, name):
    (found,) = [p for p in registry.plugins if p.name == name]
    return found


# -- built-ins and loading order --------------------------------------------------------------


def test_builtins_register_through_the_hooks_as_distribution_ir_harness(entry_points):
    entry_points()
    registry = load_registry(env={})
    assert [p.name for p in registry.plugins] == list(BUILTIN_MODULES)
    assert kinds_and_names(registry) == BUILTINS
    for p in registry.plugins:
        assert p.ok, p.errors
        assert (p.distribution, p.version) == ("ir-harness", harness.__version__)
        for c in p.components:
            assert (c.distribution, c.version, c.plugin) == ("ir-harness", harness.__version__, p.name)
            assert c.cls.__module__.startswith("harness.builtin.")  # shipped with the core
            assert issubclass(c.cls, Component) and c.cls.kind == c.kind and c.cls.name == c.name
    assert registry.conflicts() == [] and registry.broken() == []


def test_plugin_components_of_every_kind_carry_their_distribution(entry_points):
    entry_points(GOOD_EP)
    registry = load_registry(env={})
    assert kinds_and_names(registry, "harness-test-good") == GOOD
    assert kinds_and_names(registry) == BUILTINS | GOOD
    info = registry.find("retriever", "good-retriever")
    assert (info.plugin, info.distribution, info.version) == ("good", "harness-test-good", "1.2.3")
    assert info.cls.summary() == "Scores documents by the number of query words they contain."
    assert registry.get("metric", "GoodHits").upper_bound is None
    assert registry.names("retriever") == ["good-retriever", "trec-run"]


def test_builtins_load_first_then_entry_points_in_the_given_order(entry_points):
    entry_points(ONE_EP, GOOD_EP)  # the real _entry_points sorts by name (tested below)
    registry = load_registry(env={})
    assert [p.name for p in registry.plugins] == [*BUILTIN_MODULES, "dup-one", "good"]


def test_entry_points_are_read_from_the_harness_group_sorted_and_deduplicated(monkeypatch):
    found = [
        importlib.metadata.EntryPoint("zeta", "zeta_mod", "harness"),
        importlib.metadata.EntryPoint("alpha", "alpha_mod", "harness"),
        importlib.metadata.EntryPoint("zeta", "zeta_mod", "harness"),  # same dist on the path twice
    ]
    groups = []

    def fake_entry_points(group):
        groups.append(group)
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert [(e.name, e.value) for e in plugins._entry_points()] == [
        ("alpha", "alpha_mod"), ("zeta", "zeta_mod"),
    ]
    assert groups == ["harness"]


# -- broken plugins ---------------------------------------------------------------------------


def test_plugin_that_fails_to_import_is_broken_and_the_others_load(entry_points):
    entry_points(BROKEN_EP, GOOD_EP)
    registry = load_registry(env={})
    broken = plugin(registry, "import-error")
    assert registry.broken() == [broken]
    assert (broken.distribution, broken.version, broken.components) == ("harness-test-broken", "0.0.1", [])
    assert broken.errors == [MISSING_MODULE]
    assert kinds_and_names(registry) == BUILTINS | GOOD


def test_hook_that_raises_marks_its_plugin_and_nothing_else(entry_points):
    entry_points(GOOD_EP, ep("raising-hook", dist="harness-test-raising"))
    registry = load_registry(env={})
    raising = plugin(registry, "raising-hook")
    assert raising.errors == ["harness_retrievers raised RuntimeError: no GPU visible to this plugin"]
    assert registry.broken() == [raising]
    # its other hook still contributes, and every other plugin is intact
    assert kinds_and_names(registry, "harness-test-raising") == {("ranker", "surviving-ranker")}
    assert kinds_and_names(registry) == BUILTINS | GOOD | {("ranker", "surviving-ranker")}


def test_hook_returning_non_components_is_reported_item_by_item(entry_points):
    entry_points(ep("not-components", dist="harness-test-bad-returns"))
    registry = load_registry(env={})
    bad = plugin(registry, "not-components")
    errors = "\n".join(bad.errors)
    assert len(bad.errors) == 6, errors
    retriever_errors = [e for e in bad.errors if e.startswith("harness_retrievers returned ")]
    assert all(e.endswith(", not a named Retriever subclass") for e in retriever_errors), errors
    returned = ("Unnamed'>", "WrongKind'>", "NotAComponent'>", "'bm25'", "Valid()")
    assert len(retriever_errors) == len(returned)
    for item, error in zip(returned, retriever_errors, strict=True):
        assert item in error, error
    # a single class instead of a list: said so, not "raised TypeError"
    assert any(
        e.startswith("harness_rankers returned <class") and e.endswith("not a list of Ranker subclasses")
        for e in bad.errors
    ), errors
    assert kinds_and_names(registry, "harness-test-bad-returns") == {("retriever", "valid-retriever")}


def test_misspelt_hook_name_is_reported_with_a_suggestion(entry_points):
    entry_points(ep("misspelt", dist="harness-test-misspelt"))
    registry = load_registry(env={})
    misspelt = plugin(registry, "misspelt")
    assert misspelt.errors == [
        "harness_retreivers is not a harness hook (did you mean 'harness_retrievers'?)"
    ]
    assert kinds_and_names(registry, "harness-test-misspelt") == {("ranker", "spelt-right")}


def test_hook_with_arguments_the_spec_lacks_is_a_broken_plugin(entry_points):
    # pluggy refuses to register an implementation asking for arguments the spec does not pass
    entry_points(GOOD_EP, BadSignatureEntryPoint())
    registry = load_registry(env={})
    (error,) = plugin(registry, "bad-signature").errors
    assert error.startswith("failed to load: PluginValidationError") and "config" in error
    assert kinds_and_names(registry) == BUILTINS | GOOD


class BadSignatureEntryPoint(FakeEntryPoint):
    def __init__(self):
        super().__init__("bad-signature", "-", FakeDist("harness-test-bad-signature", "0.1"))

    def load(self):
        class Plugin:
            @harness.hookimpl
            def harness_retrievers(self, config):
                return []

        return Plugin()


def test_two_distributions_may_use_the_same_entry_point_name(entry_points):
    # Entry-point names are chosen by each distribution; one must not block the other.
    entry_points(ep("plugin", "good", dist="harness-test-a"), ep("plugin", "misspelt", dist="harness-test-b"))
    registry = load_registry(env={})
    assert [p.distribution for p in registry.plugins[len(BUILTIN_MODULES):]] == ["harness-test-a", "harness-test-b"]
    assert not any(e.startswith("failed to load") for p in registry.plugins for e in p.errors)
    assert registry.find("retriever", "good-retriever").distribution == "harness-test-a"
    assert registry.find("ranker", "spelt-right").distribution == "harness-test-b"


# -- conflicts --------------------------------------------------------------------------------


def test_same_name_from_two_distributions_is_a_conflict_naming_both(entry_points):
    entry_points(ONE_EP, TWO_EP, GOOD_EP)
    registry = load_registry(env={})
    with pytest.raises(PluginError) as raised:
        registry.find("retriever", "dense")
    message = str(raised.value)
    assert "harness-test-one 1.0 (plugin 'dup-one')" in message
    assert "harness-test-two 2.0 (plugin 'dup-two')" in message
    assert "retriever 'dense'" in message and ALLOW_ENV in message
    with pytest.raises(PluginError):
        registry.get("retriever", "dense")
    (conflict,) = registry.conflicts()
    assert [(c.kind, c.name, c.distribution) for c in conflict] == [
        ("retriever", "dense", "harness-test-one"), ("retriever", "dense", "harness-test-two"),
    ]
    assert registry.names("retriever").count("dense") == 1
    assert registry.broken() == []  # a conflict is not a broken plugin, and the rest works
    assert registry.find("retriever", "good-retriever").distribution == "harness-test-good"
    # the advice in the message works: allow-list one of them
    chosen = load_registry(env={ALLOW_ENV: "harness-test-two"})
    assert chosen.find("retriever", "dense").distribution == "harness-test-two"
    assert chosen.conflicts() == []


def test_a_plugin_cannot_silently_replace_a_builtin(entry_points):
    entry_points(ep("shadows-builtin", dist="harness-test-shadow"))
    registry = load_registry(env={})
    with pytest.raises(PluginError, match=r"'beir' is provided by both ir-harness .* and harness-test-shadow"):
        registry.find("dataset", "beir")
    assert [[c.distribution for c in group] for group in registry.conflicts()] == [
        ["ir-harness", "harness-test-shadow"]
    ]


# -- selection: HARNESS_DISABLE_PLUGIN_AUTOLOAD, HARNESS_PLUGINS -----------------------------


def test_disable_autoload_loads_only_builtins(entry_points):
    entry_points(GOOD_EP, BROKEN_EP, ONE_EP)
    registry = load_registry(env={DISABLE_ENV: "1"})
    assert [p.name for p in registry.plugins] == list(BUILTIN_MODULES)
    assert kinds_and_names(registry) == BUILTINS and registry.broken() == []


def test_load_registry_reads_the_process_environment_by_default(entry_points, monkeypatch):
    entry_points(GOOD_EP)
    assert kinds_and_names(load_registry()) == BUILTINS | GOOD
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert kinds_and_names(load_registry()) == BUILTINS
    assert kinds_and_names(plugins.get_registry()) == BUILTINS


@pytest.mark.parametrize("allow", ["good", "harness-test-good", " good , nothing-installed ,"])
def test_allow_list_by_entry_point_or_distribution_name(entry_points, allow):
    entry_points(BROKEN_EP, ONE_EP, GOOD_EP)
    registry = load_registry(env={ALLOW_ENV: allow})
    assert [p.name for p in registry.plugins] == [*BUILTIN_MODULES, "good"]
    assert kinds_and_names(registry) == BUILTINS | GOOD


def test_allow_list_with_several_names(entry_points):
    entry_points(BROKEN_EP, ONE_EP, TWO_EP, GOOD_EP)
    registry = load_registry(env={ALLOW_ENV: "dup-one,harness-test-good"})
    assert [p.name for p in registry.plugins] == [*BUILTIN_MODULES, "dup-one", "good"]
    assert registry.find("retriever", "dense").distribution == "harness-test-one"


@pytest.mark.parametrize("allow", ["good", "harness-test-good"])
def test_allow_list_still_loads_with_autoload_disabled(entry_points, allow):
    entry_points(BROKEN_EP, ONE_EP, GOOD_EP)
    registry = load_registry(env={DISABLE_ENV: "1", ALLOW_ENV: allow})
    assert [p.name for p in registry.plugins] == [*BUILTIN_MODULES, "good"]
    assert kinds_and_names(registry) == BUILTINS | GOOD


def test_allow_list_naming_nothing_installed_loads_only_builtins(entry_points):
    entry_points(GOOD_EP)
    registry = load_registry(env={ALLOW_ENV: "not-installed"})
    assert kinds_and_names(registry) == BUILTINS


# -- HARNESS_PLUGIN_MODULES --------------------------------------------------------------------


def test_plugin_modules_register_importable_modules(entry_points, monkeypatch):
    entry_points(ONE_EP)
    monkeypatch.syspath_prepend(str(FIXTURES))
    registry = load_registry(env={MODULES_ENV: " good , good,", DISABLE_ENV: "1"})  # loaded even then
    assert [p.name for p in registry.plugins] == [*BUILTIN_MODULES, "good"]  # once, spaces ignored
    found = plugin(registry, "good")
    assert found.ok and (found.distribution, found.version) == ("good", "0+local")  # no distribution has it
    assert kinds_and_names(registry) == BUILTINS | GOOD
    both = load_registry(env={MODULES_ENV: "good"})
    assert [p.name for p in both.plugins] == [*BUILTIN_MODULES, "dup-one", "good"]  # after the entry points


def test_plugin_modules_name_their_distribution_and_report_failures(entry_points):
    entry_points()
    registry = load_registry(env={MODULES_ENV: "harness_lexical,harness_module_that_is_not_there"})
    lexical = plugin(registry, "harness_lexical")
    assert lexical.ok and lexical.distribution == "ir-harness-lexical"
    assert lexical.version == importlib.metadata.version("ir-harness-lexical")
    assert ("retriever", "bm25") in kinds_and_names(registry)
    missing = plugin(registry, "harness_module_that_is_not_there")
    assert missing.errors == ["failed to load: ModuleNotFoundError: No module named 'harness_module_that_is_not_there'"]


def test_plugin_modules_reach_a_child_process(tmp_path):
    env = {**os.environ, MODULES_ENV: "good", "PYTHONPATH": str(FIXTURES)}
    env.pop(ALLOW_ENV, None)
    code = "from harness.plugins import get_registry; print(get_registry().find('retriever', 'good-retriever').plugin)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "good"


# -- unknown names ----------------------------------------------------------------------------


def test_unknown_component_name_suggests_the_closest(entry_points):
    entry_points(GOOD_EP)
    registry = load_registry(env={})
    with pytest.raises(PluginError) as raised:
        registry.find("retriever", "good-retreiver")
    assert str(raised.value) == (
        "no retriever named 'good-retreiver' (did you mean 'good-retriever'?); "
        "installed: good-retriever, trec-run"
    )
    with pytest.raises(PluginError, match=r"no metric named 'ndcg' \(did you mean 'nDCG'\?\)"):
        registry.get("metric", "ndcg")
    with pytest.raises(PluginError) as raised:
        registry.find("compressor", "int8")
    assert str(raised.value) == "no compressor named 'int8'; installed: good-compressor"
    assert isinstance(raised.value, LookupError)


def test_unknown_name_with_nothing_of_that_kind_installed(entry_points):
    entry_points()
    with pytest.raises(PluginError, match=r"^no ranker named 'rerank'; installed: none$"):
        load_registry(env={}).find("ranker", "rerank")


# -- harness plugins --------------------------------------------------------------------------


def test_cli_plugins_lists_every_component_and_broken_plugins(entry_points, capsys):
    entry_points(BROKEN_EP, GOOD_EP)
    status = main(["plugins"])
    out = capsys.readouterr().out
    assert status == 1  # a plugin is broken
    lines = out.splitlines()
    table = lines[: lines.index("")]  # the components, then a blank line, then the broken ones
    assert table[0].split() == ["KIND", "NAME", "VERSION", "DISTRIBUTION", "PLUGIN", "SUMMARY"]
    listed = [tuple(line.split()[:5]) for line in table[1:]]
    registry = load_registry(env={})
    expected = [
        (c.kind, c.name, c.version, c.distribution, c.plugin)
        for p in registry.plugins for c in p.components
    ]
    assert sorted(listed) == sorted(expected) and len(listed) == len(BUILTINS | GOOD)
    assert ("retriever", "good-retriever", "1.2.3", "harness-test-good", "good") in listed
    assert ("dataset", "beir", harness.__version__, "ir-harness", "harness.builtin.datasets") in listed
    row = next(line for line in table if line.split()[:2] == ["retriever", "good-retriever"])
    assert row.endswith("Scores documents by the number of query words they contain.")
    # kinds in pipeline order, names sorted within a kind
    order = ["dataset", "retriever", "ranker", "compressor", "metric"]
    keys = [(order.index(kind), name.lower()) for kind, name, *_ in listed]
    assert keys == sorted(keys)
    assert lines[len(table):] == [
        "", "BROKEN plugin 'import-error' (harness-test-broken 0.0.1):", f"  {MISSING_MODULE}",
    ]


def test_cli_plugins_json(entry_points, capsys):
    entry_points(BROKEN_EP, GOOD_EP, ONE_EP, TWO_EP)
    status = main(["plugins", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1
    assert set(data) == {"components", "broken", "conflicts"}
    rows = {(r["kind"], r["name"], r["distribution"]): r for r in data["components"]}
    assert len(rows) == len(BUILTINS | GOOD) + 2  # dense twice
    for r in data["components"]:
        assert set(r) == {"kind", "name", "version", "distribution", "plugin", "summary"}
    assert rows["retriever", "dense", "harness-test-two"]["version"] == "2.0"
    assert rows["metric", "nDCG", "ir-harness"]["version"] == harness.__version__
    assert rows["compressor", "good-compressor", "harness-test-good"]["plugin"] == "good"
    assert data["broken"] == [{
        "plugin": "import-error", "distribution": "harness-test-broken", "version": "0.0.1",
        "errors": [MISSING_MODULE],
    }]
    (conflict,) = data["conflicts"]
    assert "harness-test-one" in conflict and "harness-test-two" in conflict


def test_cli_plugins_exit_status(entry_points, capsys):
    entry_points(GOOD_EP)
    assert main(["plugins"]) == 0
    entry_points(GOOD_EP, ONE_EP, TWO_EP)
    assert main(["plugins"]) == 1  # a conflict
    assert "CONFLICT: retriever 'dense' is provided by both" in capsys.readouterr().out
    entry_points(ep("misspelt", dist="harness-test-misspelt"))
    assert main(["plugins"]) == 1  # a misspelt hook makes the plugin broken
    assert "harness_retreivers is not a harness hook" in capsys.readouterr().out


def test_cli_plugins_honours_the_selection_variables(entry_points, monkeypatch, capsys):
    entry_points(BROKEN_EP, GOOD_EP)
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert main(["plugins"]) == 0
    assert "good-retriever" not in capsys.readouterr().out
    monkeypatch.setenv(ALLOW_ENV, "good")
    plugins.reset_registry()
    assert main(["plugins"]) == 0
    assert "good-retriever" in capsys.readouterr().out


def test_cli_plugins_in_this_environment_lists_bm25(monkeypatch, capsys):
    """The real entry points: the first-party lexical plugin is installed in development."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    main(["plugins", "--json"])
    data = json.loads(capsys.readouterr().out)
    bm25 = [r for r in data["components"] if (r["kind"], r["name"]) == ("retriever", "bm25")]
    assert [(r["distribution"], r["plugin"]) for r in bm25] == [("ir-harness-lexical", "lexical")]


# -- startup cost -----------------------------------------------------------------------------

HEAVY = (
    "torch", "bm25s", "numpy", "pandas", "scipy", "sklearn", "transformers",
    "sentence_transformers", "ir_datasets", "ir_measures", "pytrec_eval", "Stemmer",
)  # fmt: skip


@pytest.mark.parametrize("argv", [["plugins"], ["plugins", "--json"], ["--help"], []])
def test_cli_startup_imports_nothing_heavy(argv):
    """``harness --help`` and ``harness plugins`` (every installed plugin loaded) stay instant."""
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (DISABLE_ENV, ALLOW_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("HEAVY ")]
    assert line == "HEAVY []", f"harness {' '.join(argv)} imported {line[6:]}"
