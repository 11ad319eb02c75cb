"""``harness new-plugin``: a ready plugin distribution, from one command.

``new_plugin("overlap", "retriever")`` writes ``./harness-overlap/``::

    harness-overlap/
    ├── pyproject.toml          the `harness` entry point, setuptools, pytest settings
    ├── README.md               install, use in a suite, develop, publish
    ├── .gitignore
    ├── harness_overlap/
    │   ├── __init__.py         the hook implementation (harness_retrievers)
    │   └── retriever.py        a small working component of the kind
    └── tests/
        └── test_overlap.py     the conformance kit on it, and an "is it installed" check

``pip install -e ./harness-overlap`` and ``harness plugins`` lists it at once. The files come
from ``harness/scaffold_templates`` (Python strings, so they ship without package data). The
folder is written under a temporary name and renamed into place: a failure leaves nothing.
"""

from __future__ import annotations

import argparse
import importlib
import keyword
import os
import re
import shutil
import tempfile
from pathlib import Path
from string import Template

from .errors import HarnessError

KINDS = ("retriever", "ranker", "compressor", "metric", "dataset")
CONTRACTS = {kind: f"{kind.capitalize()}Contract" for kind in KINDS}
HOOKS = {  # harness.plugins.HOOKS, repeated so that importing this module stays instant
    "retriever": "harness_retrievers",
    "ranker": "harness_rankers",
    "compressor": "harness_compressors",
    "metric": "harness_metrics",
    "dataset": "harness_dataset_providers",
}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*")
DISTRIBUTION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")  # PEP 508 names
MAX_NAME = 40


class ScaffoldError(HarnessError, ValueError):
    """A name, kind or folder ``new_plugin`` refuses; the message says what to do instead."""


def names(name: str, kind: str, distribution: str | None = None) -> dict[str, str]:
    """Everything derived from the component's name: ``overlap`` → distribution
    ``harness-overlap``, module ``harness_overlap``, class ``Overlap``, entry point ``overlap``."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use up to {MAX_NAME} letters and digits, starting with a letter, "
            "words joined by single '-' or '_' (e.g. 'overlap', 'my-ranker', 'nDCG2')"
        )
    slug = name.lower()
    cls = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name))
    if keyword.iskeyword(cls) or cls in {"Run", "Collection", "Context", "Param", "Document"}:
        cls += kind.capitalize()  # would shadow what the generated module imports
    distribution = distribution or f"harness-{slug.replace('_', '-')}"
    if not DISTRIBUTION.fullmatch(distribution):
        raise ScaffoldError(f"invalid distribution name {distribution!r}: letters, digits, '.', '_', '-'")
    return {
        "name": name,
        "kind": kind,
        "what": "dataset provider" if kind == "dataset" else kind,
        "cls": cls,
        "distribution": distribution,
        "module": f"harness_{slug.replace('-', '_')}",
        "entry": slug.replace("_", "-"),
        "hook": HOOKS[kind],
        "contract": CONTRACTS[kind],
        "test_file": f"test_{slug.replace('-', '_')}.py",
    }


def check_name_is_free(name: str, kind: str) -> None:
    """Refuse a name that an installed plugin (the harness's built-ins included) already gives a
    component of this kind: the two would conflict in every suite."""
    from .plugins import load_registry

    for plugin in load_registry().plugins:
        for info in plugin.components:
            if info.kind == kind and info.name == name:
                raise ScaffoldError(
                    f"{kind} {name!r} already exists (from {info.distribution} {info.version}); "
                    "choose another name: suites could not tell the two apart"
                )


def render(name: str, kind: str, distribution: str | None = None) -> dict[str, str]:
    """The plugin's files, by path relative to its folder."""
    values = names(name, kind, distribution)
    kind_templates = importlib.import_module(f".scaffold_templates.{kind}", __package__)
    common = importlib.import_module(".scaffold_templates", __package__)

    def fill(template: str, **more: str) -> str:
        return Template(template).substitute(values, **more)

    values["summary"] = kind_templates.SUMMARY
    dependencies = ["ir-harness>=0.1", *kind_templates.DEPENDENCIES]
    files = {
        "pyproject.toml": fill(common.PYPROJECT, dependencies=", ".join(f'"{d}"' for d in dependencies)),
        "README.md": fill(
            common.README,
            suite=fill(kind_templates.SUITE),
            parameters=fill(kind_templates.PARAMETERS),
        ),
        ".gitignore": common.GITIGNORE,
        f"{values['module']}/__init__.py": fill(common.INIT),
        f"{values['module']}/{kind}.py": fill(kind_templates.COMPONENT),
        f"tests/{values['test_file']}": fill(common.TEST, config=fill(kind_templates.CONFIG)),
    }
    files.update(kind_templates.EXTRA_FILES)
    return files


def new_plugin(
    name: str, kind: str, directory: str | os.PathLike | None = None, *, distribution: str | None = None
) -> Path:
    """Write a new plugin distribution providing the ``kind`` component ``name``; return its folder.

    ``directory`` is the folder to create (default: ``./<distribution>``); it must not exist.
    ``distribution`` is the name on PyPI (default ``harness-<name>``).
    """
    files = render(name, kind, distribution)  # validates the name first: nothing written if bad
    target = Path(directory) if directory is not None else Path.cwd() / names(name, kind, distribution)["distribution"]
    target = target.expanduser().absolute()
    if target.exists() or target.is_symlink():
        raise ScaffoldError(f"{target} already exists: choose another folder (--dir), or remove it first")
    check_name_is_free(name, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a plugin folder is not
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the command line --------------------------------------------------------------------------


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``new-plugin`` to the ``harness`` command's subparsers."""
    p = subparsers.add_parser(
        "new-plugin",
        help="write a new plugin distribution: entry point, component, tests, README",
        description="Write a ready plugin distribution for a new component: pyproject.toml with the "
        "harness entry point, the hook, a small working component of the kind, a README and tests "
        "running the conformance kit. Then: pip install -e DIR; harness plugins.",
    )
    p.add_argument("name", help="the component's name, as suites will write it (e.g. overlap)")
    p.add_argument("--kind", required=True, choices=KINDS, help="what the plugin provides")
    p.add_argument("--dir", metavar="DIR", help="the folder to create (default: ./harness-NAME)")
    p.add_argument("--distribution", metavar="DIST", help="the distribution (PyPI) name (default: harness-NAME)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """``harness new-plugin``: 0 when written; a refusal raises ``ScaffoldError`` (exit status 2)."""
    folder = new_plugin(args.name, args.kind, args.dir, distribution=args.distribution)
    values = names(args.name, args.kind, args.distribution)
    shown = os.path.relpath(folder) if not os.path.relpath(folder).startswith("..") else str(folder)
    print(f"wrote {shown}/ ({values['distribution']}: the {args.kind} {args.name!r})")
    print("next:")
    print(f"  pip install -e {shown}    (then `harness plugins` lists it)")
    print(f"  pytest {shown}    (the conformance kit on it)")
    print(f"  edit {shown}/{values['module']}/{args.kind}.py, and see its README.md")
    return 0
