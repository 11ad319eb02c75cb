"""Acceptance: a third-party plugin, pip-installed as a real distribution, just works.

Two distributions from ``tests/plugins/`` (pyproject.toml with ``[project.entry-points.harness]``)
are pip-installed into a throwaway virtualenv: ``harness-test-wordcount`` (a ``wordcount``
retriever) and ``harness-test-broken`` (fails at import). The throwaway venv sees the harness and
its dependencies through a ``.pth`` file naming the development environment's site-packages, so
nothing is installed there, and nothing is downloaded. Then, with the throwaway venv's Python:
``harness plugins`` lists the new retriever and reports the broken plugin, and ``harness run``
evaluates a suite using the new retriever beside ``bm25``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "plugins"
DISTRIBUTIONS = {  # distribution: (its folder in tests/plugins, its module)
    "harness-test-wordcount": ("harness-test-wordcount", "harness_wordcount"),
    "harness-test-broken": ("harness-test-broken", "harness_broken_plugin"),
}
BROKEN_ERROR = "ImportError: harness-test-broken needs libwordvec.so, which is not installed"


def development_site_dirs() -> list[Path]:
    """Where this interpreter's packages (the harness, editable, and its dependencies) live."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(Path(paths[key]) for key in ("purelib", "platlib") if Path(paths[key]).is_dir()))


def snapshot(dirs: list[Path]) -> dict[str, list[str]]:
    return {str(d): sorted(os.listdir(d)) for d in dirs}


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_PLUGINS", "HARNESS_DISABLE"))}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",  # leave no __pycache__ in the development environment
        PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
        HF_HUB_OFFLINE="1",
    )
    return env


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory, environment):
    """(python of a new venv with both plugin distributions installed, the dev site snapshot)."""
    root = tmp_path_factory.mktemp("plugin-install")
    dev_sites = development_site_dirs()
    before = snapshot(dev_sites)
    venv = root / "venv"
    # pip itself comes from the development environment too, unless it has none
    without_pip = ["--without-pip"] if importlib.util.find_spec("pip") else []
    subprocess.run([sys.executable, "-m", "venv", *without_pip, str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(_run(python, "-c", where, env=environment).stdout.strip())
    assert site_packages.resolve().is_relative_to(venv.resolve())
    # addsitedir (not a bare path line) also runs the .pth files there: the editable installs.
    lines = [f"import site; site.addsitedir({str(d)!r})" for d in dev_sites]
    (site_packages / "_harness_development.pth").write_text("\n".join(lines) + "\n")
    for dist, (folder, module) in DISTRIBUTIONS.items():
        source = root / "src" / folder
        shutil.copytree(FIXTURES / folder, source)
        shutil.copy(FIXTURES / "build_backend.py", source)
        done = _run(
            python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
            "--no-cache-dir", "--quiet", str(source), env=environment, cwd=root,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (site_packages / f"{module}.py").is_file(), f"{dist} was not installed into the venv"
    return python, root, dev_sites, before


def _run(python: Path, *args: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )


def test_harness_plugins_lists_the_installed_plugin_and_the_broken_one(throwaway, environment):
    python, root, *_ = throwaway
    done = _run(python, "-m", "harness", "plugins", env=environment, cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr  # 1: a plugin is broken
    lines = done.stdout.splitlines()
    table = [line.split() for line in lines[: lines.index("")]]
    assert table[0][:4] == ["KIND", "NAME", "VERSION", "DISTRIBUTION"]
    rows = {(r[0], r[1]): r[2:5] for r in table[1:]}
    assert rows["retriever", "wordcount"] == ["0.4.2", "harness-test-wordcount", "wordcount"]
    assert rows["retriever", "bm25"][1:] == ["ir-harness-lexical", "lexical"]
    for builtin in (("retriever", "trec-run"), ("dataset", "beir"), ("dataset", "irds"), ("metric", "nDCG")):
        assert rows[builtin][:2] == [harness.__version__, "ir-harness"], builtin
    summary = next(line for line in lines if line.split()[:2] == ["retriever", "wordcount"])
    assert summary.endswith("Scores a document by the number of distinct query words it contains.")
    assert lines[len(table):] == [
        "", "BROKEN plugin 'broken' (harness-test-broken 0.0.1):", f"  failed to load: {BROKEN_ERROR}",
    ]

    done = _run(python, "-m", "harness", "plugins", "--json", env=environment, cwd=root)
    data = json.loads(done.stdout)
    assert done.returncode == 1
    assert {"kind": "retriever", "name": "wordcount", "version": "0.4.2",
            "distribution": "harness-test-wordcount", "plugin": "wordcount",
            "summary": "Scores a document by the number of distinct query words it contains.",
            } in data["components"]
    assert data["broken"] == [{"plugin": "broken", "distribution": "harness-test-broken",
                               "version": "0.0.1", "errors": [f"failed to load: {BROKEN_ERROR}"]}]
    assert data["conflicts"] == []


def test_harness_plugins_honours_the_selection_variables(throwaway, environment):
    python, root, *_ = throwaway
    only = _run(python, "-m", "harness", "plugins", "--json",
                env={**environment, "HARNESS_PLUGINS": "harness-test-wordcount"}, cwd=root)
    data = json.loads(only.stdout)
    assert only.returncode == 0 and data["broken"] == []
    assert {r["distribution"] for r in data["components"]} == {"ir-harness", "harness-test-wordcount"}
    none = _run(python, "-m", "harness", "plugins", "--json",
                env={**environment, "HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"}, cwd=root)
    assert none.returncode == 0
    assert {r["distribution"] for r in json.loads(none.stdout)["components"]} == {"ir-harness"}


def test_harness_run_uses_the_installed_retriever(throwaway, environment, tiny_beir, tmp_path):
    python, *_ = throwaway
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(f"""\
        name = "plugin-acceptance"
        k = 10
        metrics = ["nDCG@10", "RR@10", "P@5"]

        [[datasets]]
        name = "tiny"
        source = "beir:{tiny_beir}"

        [[pipelines]]
        name = "wordcount"
        retriever = {{ plugin = "wordcount" }}

        [[pipelines]]
        name = "bm25"
        retriever = {{ plugin = "bm25" }}
        """))
    results = tmp_path / "results"
    done = _run(python, "-m", "harness", "run", str(suite), "--results", str(results), "--quiet",
                env=environment, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (results / "plugin-acceptance").iterdir()
    cells = {json.loads(p.read_text())["cell"]["pipeline"]: json.loads(p.read_text())
             for p in (run_dir / "cells").glob("*.json")}
    assert set(cells) == {"wordcount", "bm25"}
    for cell in cells.values():
        assert cell["status"] == "ok", cell["error"]
        assert set(cell["metrics"]) == {"nDCG@10", "RR@10", "P@5"}
        assert all(0.0 <= v <= 1.0 for v in cell["metrics"].values()), cell["metrics"]
    stage = cells["wordcount"]["stages"][0]
    assert {key: stage[key] for key in ("plugin", "distribution", "version", "identity")} == {
        "plugin": "wordcount", "distribution": "harness-test-wordcount", "version": "0.4.2",
        "identity": {"lowercase": True},
    }
    assert cells["bm25"]["stages"][0]["distribution"] == "ir-harness-lexical"
    # the plugin's own ranking: q1 "wing flutter at high speed" shares 4 words with d1 and d3
    # (tied, so in trec_eval's order: descending id), and nothing matches q5
    run = (run_dir / cells["wordcount"]["run_file"]).read_text().splitlines()
    q1 = [line.split() for line in run if line.startswith("q1 ")]
    assert [(r[2], float(r[4])) for r in q1[:2]] == [("d3", 4.0), ("d1", 4.0)]
    assert not [line for line in run if line.startswith("q5 ")]
    # q1..q4 each rank a relevant document first; q5 ("unrelated words only") matches nothing
    assert cells["wordcount"]["metrics"]["RR@10"] == pytest.approx(4 / 5)


def test_the_test_environment_itself_is_unchanged(throwaway):
    _, _, dev_sites, before = throwaway
    assert snapshot(dev_sites) == before
    for dist, (_, module) in DISTRIBUTIONS.items():
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(dist)
        assert importlib.util.find_spec(module) is None
    names = {ep.name for ep in importlib.metadata.entry_points(group="harness")}
    assert not names & {"wordcount", "broken"}
    for folder, module in DISTRIBUTIONS.values():  # built from a copy: no build output here
        assert sorted(p.name for p in (FIXTURES / folder).iterdir()) == sorted(["pyproject.toml", f"{module}.py"])
