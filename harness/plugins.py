"""Finding plugins and the components they provide.

Built-in components register first, through the same hooks a third party implements; then every
entry point in the ``harness`` group is loaded, one at a time, so a plugin that fails to import or
raises inside a hook is reported (``harness plugins``) and never takes the others down.

Environment:

* ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (built-ins only), as pytest's
  ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``;
* ``HARNESS_PLUGINS=name,other``: load only these entry points (by entry-point or distribution
  name); with autoloading disabled, these are still loaded;
* ``HARNESS_PLUGIN_MODULES=mod,pkg.mod``: also register these importable modules as plugins, as
  pytest's ``PYTEST_PLUGINS`` (always, whatever the two above say). Isolated cells inherit the
  environment, so a worker process sees the same components as the run that started it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import __version__, components, hookspecs
from .errors import HarnessError
from .params import check_params, did_you_mean

ENTRY_POINT_GROUP = "harness"
DISABLE_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_ENV = "HARNESS_PLUGINS"
MODULES_ENV = "HARNESS_PLUGIN_MODULES"
BUILTIN_MODULES = (
    "harness.builtin.datasets",
    "harness.builtin.measures",
    "harness.builtin.trec_run",
    "harness.builtin.exact",
)
HOOKS = {
    "retriever": ("harness_retrievers", components.Retriever),
    "ranker": ("harness_rankers", components.Ranker),
    "compressor": ("harness_compressors", components.Compressor),
    "metric": ("harness_metrics", components.Metric),
    "dataset": ("harness_dataset_providers", components.DatasetProvider),
}


@dataclass
class ComponentInfo:
    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str
    version: str
    origin: str = "entry point"  # "built-in", "entry point" or "module" (HARNESS_PLUGIN_MODULES)


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    errors: list[str] = field(default_factory=list)
    components: list[ComponentInfo] = field(default_factory=list)
    origin: str = "entry point"  # "built-in", "entry point" or "module" (HARNESS_PLUGIN_MODULES)
    # error → the kinds of component it may have kept this plugin from providing (every kind for
    # a plugin that failed to load; the hook's kind for a hook that raised or returned junk)
    hides: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, error: str, kinds=()) -> None:
        """Record ``error``; ``kinds``: the kinds of component it may have hidden."""
        self.errors.append(error)
        self.hides.setdefault(error, set()).update(kinds)

    def may_hide(self, kind: str) -> list[str]:
        """This plugin's errors that may have kept it from providing a component of ``kind``."""
        return [error for error in self.errors if kind in self.hides.get(error, ())]


class PluginError(HarnessError, LookupError):
    """An unknown or ambiguous component name; the message says what to do."""


class Registry:
    """Every component of every loaded plugin, by kind and name."""

    def __init__(self, plugins: list[PluginInfo]):
        self.plugins = plugins
        self._by_name: dict[tuple[str, str], list[ComponentInfo]] = {}
        for plugin in plugins:
            for info in plugin.components:
                self._by_name.setdefault((info.kind, info.name), []).append(info)

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, name in self._by_name if k == kind)

    def conflicts(self) -> list[list[ComponentInfo]]:
        """Groups of components of one kind and name provided by more than one plugin."""
        return [infos for infos in self._by_name.values() if len(infos) > 1]

    def find(self, kind: str, name: str) -> ComponentInfo:
        infos = self._by_name.get((kind, name))
        if not infos:
            known = self.names(kind)
            hint = did_you_mean(name, known)
            raise PluginError(
                f"no {kind} named {name!r}{hint}; installed: {', '.join(known) or 'none'}"
                + self.broken_note(kind, name)
            )
        if len(infos) > 1:
            raise PluginError(conflict_message(infos))
        return infos[0]

    def get(self, kind: str, name: str) -> type:
        return self.find(kind, name).cls

    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if not p.ok]

    def broken_note(self, kind: str, name: str) -> str:
        """For an unknown name, appended to the message saying so (``"; note: plugin 'P' (D 1.0)
        failed to load: ... — it may provide it"``, or ``""``): the broken plugins that may have
        provided it, each with why (a plugin that failed to import may provide anything; one
        whose hook for ``kind`` failed, components of that kind). Those named like the component
        come first."""
        suspects = [(p, p.may_hide(kind)) for p in self.broken()]
        suspects = [(p, errors) for p, errors in suspects if errors]
        key = _normal(name)
        suspects.sort(key=lambda s: not (key in _normal(s[0].name) or key in _normal(s[0].distribution)))
        notes = []
        for p, errors in suspects:
            why = "; ".join(errors)
            what = why if why.startswith("failed to load") else f"is broken: {why}"
            notes.append(f"; note: plugin {p.name!r} ({p.distribution} {p.version}) {what} — it may provide it")
        return "".join(notes) + (" (`harness plugins` lists broken plugins)" if notes else "")

    def build(self, kind: str, table: Mapping[str, Any]):
        """A component built from a plain table, ``{"plugin": "bm25", "k1": 0.9}``, its
        parameters checked against the class's ``params`` first (PluginError when they do not
        pass, naming each problem)."""
        if not isinstance(table, Mapping) or not isinstance(table.get("plugin"), str):
            raise PluginError(f"a {kind} table needs a 'plugin' name, got {table!r}")
        cls = self.get(kind, table["plugin"])
        params = {key: value for key, value in table.items() if key != "plugin"}
        problems = check_params(cls.params, params)
        if problems:
            raise PluginError(f"{kind} {table['plugin']!r}: " + "; ".join(f"{k}: {why}" for k, why in problems))
        return cls(**params)


def conflict_message(infos: list[ComponentInfo]) -> str:
    """Who provides the name, and what resolves it. A built-in always loads and cannot be
    uninstalled, so a conflict with one is resolved on the other side: uninstall that plugin,
    load the others without it (``HARNESS_PLUGINS``), or drop it from ``HARNESS_PLUGIN_MODULES``."""
    def who(i: ComponentInfo) -> str:
        if _is_builtin(i):
            return f"{i.distribution} {i.version} (built-in {i.plugin!r})"
        if i.origin == "module":
            return f"{i.distribution} {i.version} (module {i.plugin!r} of {MODULES_ENV})"
        return f"{i.distribution} {i.version} (plugin {i.plugin!r})"

    head = f"{infos[0].kind} {infos[0].name!r} is provided by both {' and '.join(who(i) for i in infos)}"
    builtin = any(_is_builtin(i) for i in infos)
    others = [i for i in infos if not _is_builtin(i)]
    if not builtin and all(i.origin != "module" for i in infos):
        return f"{head}; uninstall one, or choose with {ALLOW_ENV}=<plugin,...>"
    ways = []
    for i in others:
        if i.origin == "module":
            ways.append(f"remove {i.plugin!r} from {MODULES_ENV}")
        else:
            ways.append(f"uninstall {i.distribution}, or load the other plugins without it: {ALLOW_ENV}=<plugin,...> "
                        f"naming every plugin to load but {i.plugin!r}"
                        + (f" ({DISABLE_ENV}=1 when there is none)" if builtin else ""))
    if builtin:  # the built-ins load whatever the variables say
        return (f"{head}; a built-in always loads and cannot be uninstalled, so leave the plugin out: "
                f"{'; or '.join(ways)}; or give the plugin's {infos[0].kind} another name")
    return f"{head}; keep one: {'; or '.join(ways)}"


def _is_builtin(info: ComponentInfo) -> bool:
    return info.origin == "built-in" or (info.distribution == "ir-harness" and info.plugin in BUILTIN_MODULES)


def _normal(name: str) -> str:
    """PEP 503 normalisation: ir_harness_lexical, IR-Harness.Lexical → ir-harness-lexical."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _selected(ep: importlib.metadata.EntryPoint, env: dict) -> bool:
    allow = {_normal(n.strip()) for n in env.get(ALLOW_ENV, "").split(",") if n.strip()}
    dist = ep.dist.name if ep.dist else ""
    if _normal(ep.name) in allow or _normal(dist) in allow:
        return True
    return not allow and not env.get(DISABLE_ENV)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen, out = set(), []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) not in seen:  # a distribution on sys.path twice lists twice
            seen.add((ep.name, ep.value))
            out.append(ep)
    return sorted(out, key=lambda ep: ep.name)


def load_registry(env: dict | None = None) -> Registry:
    """Load built-ins and entry-point plugins afresh; never raises for a plugin's fault."""
    env = dict(os.environ if env is None else env)
    pm = pluggy.PluginManager("harness")
    pm.add_hookspecs(hookspecs)
    plugins: list[tuple[PluginInfo, Any]] = []
    for module in BUILTIN_MODULES:
        info = PluginInfo(module, "ir-harness", __version__, origin="built-in")
        plugins.append((info, _register(pm, info, lambda m=module: importlib.import_module(m))))
    for ep in _entry_points():
        if not _selected(ep, env):
            continue
        dist = ep.dist
        info = PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?")
        plugins.append((info, _register(pm, info, ep.load)))
    for module in _env_modules(env):
        info = PluginInfo(module, *_distribution_of(module), origin="module")
        plugins.append((info, _register(pm, info, lambda m=module: importlib.import_module(m))))
    for info, plugin in plugins:
        if plugin is not None:
            _collect(pm, info, plugin)
    return Registry([info for info, _ in plugins])


def _env_modules(env: dict) -> list[str]:
    return list(dict.fromkeys(m.strip() for m in env.get(MODULES_ENV, "").split(",") if m.strip()))


def _distribution_of(module: str) -> tuple[str, str]:
    """(distribution, version) of the installed distribution providing the module's top-level
    package; a module that none provides (a test folder, a notebook's) is its own distribution."""
    top = module.split(".")[0]
    for dist in _packages().get(top, []):
        return dist, importlib.metadata.version(dist)
    return top, "0+local"


def code_fingerprint(info: ComponentInfo) -> str | None:
    """A hash of the source files of the package that provides ``info``'s component, when its
    version cannot stand for its code: a module of no distribution (``HARNESS_PLUGIN_MODULES``:
    version ``0+local``) or an editable install (``pip install -e``), which follow their edits
    without a new version. None for a distribution installed from a wheel (its version is its
    code) and for the harness's own components (the harness version stands for them)."""
    if info.distribution == "ir-harness":
        return None
    top = info.cls.__module__.split(".")[0]
    if info.version != "0+local" and not _editable(info.distribution):
        return None
    return _source_hash(top)


@functools.cache
def _editable(distribution: str) -> bool:
    try:
        text = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    except (importlib.metadata.PackageNotFoundError, OSError):
        return False
    try:
        return bool(json.loads(text or "{}").get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


@functools.cache
def _source_hash(top: str) -> str | None:
    """sha256 over the ``.py`` files of top-level module ``top`` (its folder, or its one file),
    by relative path; once per process (a run does not see edits made while it runs)."""
    import hashlib

    module = sys.modules.get(top)
    if module is None:
        return None
    paths = [Path(p) for p in getattr(module, "__path__", [])]
    files = sorted(f for folder in paths for f in folder.rglob("*.py")) if paths else (
        [Path(module.__file__)] if getattr(module, "__file__", None) else [])
    digest = hashlib.sha256()
    for file in files:
        root = next((p for p in paths if p in file.parents), file.parent)
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"unreadable")
        digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def _packages() -> dict[str, list[str]]:
    """Top-level package → distributions; scanning every installed distribution takes ~0.1 s, so
    once per process."""
    return importlib.metadata.packages_distributions()


def _register(pm: pluggy.PluginManager, info: PluginInfo, load) -> Any:
    try:
        plugin = load()
        # Entry-point names are each distribution's choice and may repeat across distributions;
        # pluggy needs unique names.
        pm.register(plugin, name=f"{info.distribution}:{info.name}")
        return plugin
    except Exception as exc:  # a broken plugin is reported, not fatal
        info.fail(f"failed to load: {type(exc).__name__}: {exc}", HOOKS)
        return None


def _collect(pm: pluggy.PluginManager, info: PluginInfo, plugin: Any) -> None:
    known = {hook: kind for kind, (hook, _) in HOOKS.items()}
    for attr in dir(plugin):  # pluggy ignores a misspelt hook silently; say so instead
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        hook = opts.get("specname") or attr  # @hookimpl(specname="harness_metrics") implements that hook
        if hook in known:
            continue
        hint = did_you_mean(hook, known)
        meant = next((h for h in known if f"{h!r}" in hint), None)
        what = attr if hook == attr else f"{attr} (specname {hook!r})"
        info.fail(f"{what} is not a harness hook{hint}", [known[meant]] if meant else HOOKS)
    for kind, (hook_name, base) in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                classes = impl.function() or []
            except Exception as exc:
                info.fail(f"{hook_name} raised {type(exc).__name__}: {exc}", [kind])
                continue
            if not isinstance(classes, (list, tuple)):
                info.fail(f"{hook_name} returned {classes!r}, not a list of {base.__name__} subclasses", [kind])
                continue
            for cls in classes:
                if not (isinstance(cls, type) and issubclass(cls, base) and cls.name):
                    info.fail(f"{hook_name} returned {cls!r}, not a named {base.__name__} subclass", [kind])
                    continue
                info.components.append(
                    ComponentInfo(kind, cls.name, cls, info.name, info.distribution, info.version, info.origin)
                )


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = load_registry()
    return _registry


def reset_registry() -> None:
    """Forget the loaded registry (tests that install or disable plugins call this)."""
    global _registry
    _registry = None
