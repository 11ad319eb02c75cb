"""The plugin SDK (harness/sdk.py): the one module plugins import, light, versioned, complete.

First-party plugin packages are written against it exactly as a third party's would be: no module
of theirs imports any other part of ``harness``, and neither does what ``harness new-plugin``
generates.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import harness.sdk as sdk

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"harness.sdk"}


def harness_imports(path: Path, allowed: set[str] = ALLOWED) -> list[str]:
    """Every module of ``harness`` besides ``allowed`` that ``path`` imports (anywhere: top level
    or inside functions), as ``file:line: module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            if module == "harness" or module.startswith("harness."):
                found.append((node.lineno, module))
    return [f"{path}:{line}: {module}" for line, module in found if module not in allowed]


def package_modules(root: Path) -> list[Path]:
    """The plugin packages' modules: ``<plugin>/harness_*/**.py``, tests excluded."""
    return sorted(p for p in root.glob("*/harness_*/**/*.py") if "tests" not in p.parts)


def test_first_party_plugins_import_only_the_sdk():
    modules = package_modules(ROOT / "plugins")
    assert len(modules) >= 20, "the walk found the plugin packages"
    offenders = [line for path in modules for line in harness_imports(path)]
    assert offenders == [], "import harness.sdk instead:\n" + "\n".join(offenders)


def test_the_import_walk_catches_internal_imports(tmp_path):
    """The walk is not vacuous: internal imports, at any depth, are found."""
    bad = tmp_path / "bad.py"
    bad.write_text("import harness\nfrom harness.ranking import Run\n"
                   "def f():\n    from harness.plugins import get_registry\n"
                   "from harness.sdk import Param\nfrom . import sibling\n")
    assert [line.split(": ")[1] for line in harness_imports(bad)] == ["harness", "harness.ranking", "harness.plugins"]


@pytest.mark.parametrize("kind", ["retriever", "ranker", "compressor", "metric", "dataset"])
def test_the_scaffold_generates_sdk_only_code(kind, tmp_path):
    """The package imports the SDK only; its tests may also use the kit and the run API."""
    from harness.scaffold import render

    files = render(f"my-{kind}", kind)
    offenders = []
    for name, text in files.items():
        if name.endswith(".py"):
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            tests = name.startswith("tests/")
            offenders += harness_imports(path, ALLOWED | ({"harness", "harness.testing"} if tests else set()))
    assert any(name.startswith("tests/") for name in files) and len([n for n in files if n.endswith(".py")]) >= 3
    assert offenders == []


def test_every_sdk_name_resolves():
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name


def test_importing_the_sdk_is_light():
    """Plugins import the SDK at module level, and `harness plugins` imports every plugin."""
    code = ("import sys, harness.sdk; "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'pytest', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_sdk_is_versioned():
    major, minor = (int(part) for part in sdk.SDK_VERSION.split("."))
    assert major >= 1 and minor >= 0


def test_a_deprecated_name_warns_and_still_works(monkeypatch):
    monkeypatch.setitem(sdk._DEPRECATED, "OldRun", ("Run", "1.1", "2.0"))
    with pytest.warns(DeprecationWarning, match=r"OldRun is deprecated since SDK 1.1 and goes in 2.0: use Run"):
        assert sdk.OldRun is sdk.Run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sdk.Run is not None  # current names never warn


def test_an_unknown_name_fails_clearly():
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        sdk.Nope  # noqa: B018


def test_build_checks_parameters():
    retriever = sdk.build("retriever", {"plugin": "trec-run", "path": "run.trec"})
    assert retriever.name == "trec-run"
    with pytest.raises(sdk.PluginError, match="no retriever named 'nope'"):
        sdk.build("retriever", {"plugin": "nope"})
    with pytest.raises(sdk.PluginError, match="retriever 'trec-run': pth"):
        sdk.build("retriever", {"plugin": "trec-run", "pth": "x"})
    with pytest.raises(sdk.PluginError, match="needs a 'plugin' name"):
        sdk.build("retriever", {"k1": 1})
    assert issubclass(sdk.PluginError, sdk.HarnessError)
