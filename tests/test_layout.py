"""The repository's test layout: every test module's file name is unique across tests/,
plugins/*/tests and benchmarks/. pytest imports test folders without ``__init__.py`` by their
file's base name, so a second ``test_suite.py`` anywhere stops the whole collection of
``make test``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_module_names_are_unique_across_test_folders():
    folders = [ROOT / "tests", ROOT / "benchmarks", *(ROOT / "plugins").glob("*/tests")]
    names = Counter(path.name for folder in folders for path in folder.rglob("test_*.py")
                    if not (path.parent / "__init__.py").exists())
    assert [name for name, count in names.items() if count > 1] == []
