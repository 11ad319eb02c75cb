"""``harness new-plugin`` (``harness.scaffold``): names, refusals, and the round trip.

The round trip (marked slow) generates a plugin of every kind in a temporary folder, installs
all of them (``pip install -e``, setuptools, no build isolation, no index) into one throwaway
virtualenv that sees the development environment through a ``.pth`` file, as
tests/test_plugin_install.py does; then, with that environment's Python: each plugin's own tests
pass (the conformance kit on its component), ``harness plugins`` lists it, and one suite uses
all of them. The compressor needs a compressible stage: a sixth generated plugin, a retriever
whose component is swapped for a small torch bag-of-words encoder, provides it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from harness import scaffold

NAMES = {"retriever": "rt-words", "ranker": "rt_rerank", "compressor": "rt-lowrank", "metric": "RtSuccess",
         "dataset": "rt-tsv"}
TORCHBAG = "rt-torchbag"


# -- names, refusals, the command ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("overlap", "retriever", ("harness-overlap", "harness_overlap", "Overlap", "overlap", "test_overlap.py")),
    ("my_ranker", "ranker", ("harness-my-ranker", "harness_my_ranker", "MyRanker", "my-ranker", "test_my_ranker.py")),
    ("nDCG2", "metric", ("harness-ndcg2", "harness_ndcg2", "NDCG2", "ndcg2", "test_ndcg2.py")),
    ("run", "retriever", ("harness-run", "harness_run", "RunRetriever", "run", "test_run.py")),
])
def test_names_derive_from_the_component_name(name, kind, expected):
    values = scaffold.names(name, kind)
    assert (values["distribution"], values["module"], values["cls"], values["entry"], values["test_file"]) == expected


@pytest.mark.parametrize("name", ["", "1st", "my plugin", "a--b", "-x", "x-", "naïve", "a.b", "x" * 41])
def test_invalid_names_are_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(scaffold.ScaffoldError, match="invalid plugin name"):
        scaffold.new_plugin(name, "retriever", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_kind_and_taken_names_are_refused(tmp_path):
    with pytest.raises(scaffold.ScaffoldError, match="unknown kind 'reranker'; choose one of retriever, ranker"):
        scaffold.new_plugin("x", "reranker", tmp_path / "a")
    with pytest.raises(scaffold.ScaffoldError, match=r"metric 'nDCG' already exists \(from ir-harness"):
        scaffold.new_plugin("nDCG", "metric", tmp_path / "b")
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(scaffold.ScaffoldError, match="already exists"):
        scaffold.new_plugin("overlap", "retriever", target)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_the_generated_files(tmp_path, kind):
    folder = scaffold.new_plugin("my-thing", kind, tmp_path / "plugin")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    data = ["tests/data/docs.tsv", "tests/data/qrels.tsv", "tests/data/queries.tsv"] if kind == "dataset" else []
    assert files == sorted([".gitignore", "README.md", "pyproject.toml", "harness_my_thing/__init__.py",
                            f"harness_my_thing/{kind}.py", "tests/test_my_thing.py", *data])
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "harness-my-thing"
    assert project["project"]["entry-points"]["harness"] == {"my-thing": "harness_my_thing"}
    assert project["build-system"]["requires"] == ["setuptools>=64"]
    for path in folder.rglob("*.py"):  # every generated module is valid Python, no placeholder left
        source = path.read_text()
        compile(source, str(path), "exec")
        assert "$" not in source, path
    readme = (folder / "README.md").read_text()
    assert "harness-my-thing" in readme and "pip install -e ." in readme and "twine upload" in readme


def test_generated_code_passes_the_linter(tmp_path):
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.is_file():
        pytest.skip("ruff is not installed next to this Python")
    longest = "a-plugin-name-as-long-as-names-may-be-40"  # lines must fit 120 columns even then
    assert len(longest) == scaffold.MAX_NAME
    for kind in scaffold.KINDS:
        folder = scaffold.new_plugin(longest, kind, tmp_path / kind)
        # run in the plugin's folder, as its author would: harness_my_thing is first-party there
        done = subprocess.run([str(ruff), "check", "--no-cache", "--isolated", "--line-length", "120", "--select",
                               "E,F,W,B,I,UP", "."], capture_output=True, text=True, check=False, cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_command(tmp_path, capsys, monkeypatch):
    parser = argparse.ArgumentParser(prog="harness")
    scaffold.add_parser(parser.add_subparsers(dest="command"))
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["new-plugin", "overlap", "--kind", "retriever"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote harness-overlap/ (harness-overlap: the retriever 'overlap')")
    assert "pip install -e harness-overlap" in out
    assert (tmp_path / "harness-overlap" / "harness_overlap" / "retriever.py").is_file()
    args = parser.parse_args(["new-plugin", "overlap", "--kind", "retriever"])  # again: refused
    with pytest.raises(scaffold.ScaffoldError, match="already exists"):  # harness's main prints it, exit 2
        scaffold.run(args)
    args = parser.parse_args(["new-plugin", "fast", "--kind", "ranker", "--dir", "sub/x", "--distribution", "acme"])
    assert scaffold.run(args) == 0
    assert 'name = "acme"' in (tmp_path / "sub" / "x" / "pyproject.toml").read_text()
    with pytest.raises(SystemExit):
        parser.parse_args(["new-plugin", "x", "--kind", "reranker"])


def test_importing_the_scaffold_stays_light():
    heavy = "('torch', 'numpy', 'harness.plugins')"
    code = f"import sys, harness.scaffold; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- the round trip -------------------------------------------------------------------------------

TORCHBAG_SOURCE = '''\
"""A compressible retriever for the round trip: hashed bags of words through a torch layer."""

import re
import zlib

from harness.components import Retriever
from harness.ranking import Run, trec_order


class {cls}(Retriever):
    """Hashed bag-of-words vectors projected by a torch linear layer; cosine similarity."""

    name = "{name}"

    def __init__(self, **params):
        super().__init__(**params)
        self.model = None

    def torch_modules(self):
        import torch

        if self.model is None:
            torch.manual_seed(0)
            self.model = torch.nn.Linear(64, 32)
        return {{"encoder": self.model}}

    def replace_torch_modules(self, modules):
        self.model = modules["encoder"]

    def encode(self, texts):
        import torch

        bags = torch.zeros(len(texts), 64)
        for i, text in enumerate(texts):
            for word in re.findall(r"\\w+", text.lower()):
                bags[i, zlib.crc32(word.encode()) % 64] += 1
        with torch.no_grad():
            return torch.nn.functional.normalize(self.torch_modules()["encoder"](bags), dim=1)

    def index(self, collection, ctx):
        self.ids, self.vectors = [d.id for d in collection.docs], self.encode(collection.texts())

    def retrieve(self, queries, k, ctx):
        scores = self.encode(list(queries.values())) @ self.vectors.T
        ranked = {{q: trec_order(dict(zip(self.ids, row.tolist())))[:k] for q, row in zip(queries, scores)}}
        return Run.from_scores(ranked)
'''


def _run(python: Path, *args: str, env: dict, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                          check=False)


def _site_dirs() -> list[Path]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(Path(paths[k]) for k in ("purelib", "platlib") if Path(paths[k]).is_dir()))


def _need_a_setuptools_that_builds_editables() -> None:
    """The generated pyproject.toml asks for setuptools>=64, installed without build isolation:
    the development environment's setuptools builds it (before 70.1 only with ``wheel`` beside it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = tuple(int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        found = (0, 0)
    if found < (64, 0) or (found < (70, 1) and importlib.util.find_spec("wheel") is None):
        pytest.skip(f"needs setuptools>=70.1, or >=64 with wheel, in this environment (setuptools {found})")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Every kind's plugin (and the torch retriever) generated and installed in one throwaway venv."""
    _need_a_setuptools_that_builds_editables()
    root = tmp_path_factory.mktemp("scaffold-round-trip")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_PLUGIN", "HARNESS_DISABLE", "PYTEST_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1")
    dev_sites = _site_dirs()
    before = {str(d): sorted(os.listdir(d)) for d in dev_sites}
    folders = {kind: scaffold.new_plugin(name, kind, root / "src" / name) for kind, name in NAMES.items()}
    torchbag = scaffold.new_plugin(TORCHBAG, "retriever", root / "src" / TORCHBAG)
    values = scaffold.names(TORCHBAG, "retriever")
    (torchbag / values["module"] / "retriever.py").write_text(TORCHBAG_SOURCE.format(cls=values["cls"], name=TORCHBAG))
    venv = root / "venv"
    without_pip = ["--without-pip"] if importlib.util.find_spec("pip") else []
    subprocess.run([sys.executable, "-m", "venv", *without_pip, str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(_run(python, "-c", where, env=env, cwd=root).stdout.strip())
    lines = [f"import site; site.addsitedir({str(d)!r})" for d in dev_sites]  # addsitedir: runs their .pth
    (site_packages / "_harness_development.pth").write_text("\n".join(lines) + "\n")
    editable = [arg for folder in [*folders.values(), torchbag] for arg in ("-e", str(folder))]
    done = _run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
                "--quiet", *editable, env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"python": python, "env": env, "root": root, "folders": folders, "dev_sites": dev_sites, "before": before}


@pytest.fixture(scope="module")
def listed(world):
    done = _run(world["python"], "-m", "harness", "plugins", "--json", env=world["env"], cwd=world["root"])
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cells(world):
    """One suite using every generated plugin: the dataset, the retriever alone and under the
    ranker, the compressor on the torch retriever, the metric beside nDCG."""
    root, data = world["root"], world["folders"]["dataset"] / "tests" / "data"
    suite = root / "suite.toml"
    suite.write_text(textwrap.dedent(f"""\
        name = "scaffold-round-trip"
        k = 10
        metrics = ["nDCG@10", "{NAMES['metric']}@10", "{NAMES['metric']}(rel=2)"]

        [[datasets]]
        name = "tsv"
        source = "{NAMES['dataset']}:{data}"

        [[pipelines]]
        name = "words"
        retriever = {{ plugin = "{NAMES['retriever']}" }}

        [[pipelines]]
        name = "words+rerank"
        retriever = {{ plugin = "{NAMES['retriever']}" }}
        ranker = {{ plugin = "{NAMES['ranker']}", depth = 3 }}

        [[pipelines]]
        name = "torchbag+lowrank"
        retriever = {{ plugin = "{TORCHBAG}" }}
        compressors = [{{ plugin = "{NAMES['compressor']}", rank = 2 }}]
        """))
    done = _run(world["python"], "-m", "harness", "run", str(suite), "--results", str(root / "results"), "--quiet",
                env=world["env"], cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (root / "results" / "scaffold-round-trip").iterdir()
    results = [json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")]
    return {r["cell"]["pipeline"]: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("kind", NAMES)
def test_its_own_tests_pass(world, kind):
    done = _run(world["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", env=world["env"],
                cwd=world["folders"][kind])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", NAMES)
def test_harness_plugins_lists_it(listed, kind):
    name = NAMES[kind]
    distribution = scaffold.names(name, kind)["distribution"]
    (row,) = [r for r in listed["components"] if r["kind"] == kind and r["name"] == name]
    assert row["distribution"] == distribution and row["version"] == "0.1.0"
    assert row["plugin"] == scaffold.names(name, kind)["entry"] and row["summary"]
    assert listed["broken"] == [] and listed["conflicts"] == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", NAMES)
def test_a_suite_uses_it(cells, kind):
    pipelines = ("words", "words+rerank", "torchbag+lowrank")
    assert {p: c["status"] for p, c in cells.items()} == dict.fromkeys(pipelines, "ok")
    distribution = scaffold.names(NAMES[kind], kind)["distribution"]
    words, reranked, compressed = cells["words"], cells["words+rerank"], cells["torchbag+lowrank"]
    if kind == "dataset":
        assert words["dataset"]["provider"] == NAMES["dataset"] and words["dataset"]["documents"] == 6
    elif kind == "retriever":
        assert words["stages"][0]["distribution"] == distribution
        assert words["metrics"]["nDCG@10"] > 0.5  # the toy data is easy for word overlap
    elif kind == "ranker":
        assert reranked["stages"][1]["distribution"] == distribution
        assert reranked["phases"]["rerank"]["depth"] == 3
    elif kind == "metric":
        metric = NAMES["metric"]
        assert set(words["metrics"]) == {"nDCG@10", f"{metric}@10", f"{metric}(rel=2)"}
        assert words["metrics"][f"{metric}@10"] == 1.0  # every query finds a relevant document
        assert 0 <= words["metrics"][f"{metric}(rel=2)"] <= 1
    else:
        (report,) = compressed["phases"]["compress"]["reports"]
        assert report["compressor"]["plugin"] == NAMES["compressor"]
        assert report["parameters_after"] < report["parameters_before"] == 64 * 32 + 32
        assert report["bytes_after"] < report["bytes_before"] and report["layers_factorised"] == 1


@pytest.mark.slow
def test_the_development_environment_is_unchanged(world, listed, cells):
    assert {str(d): sorted(os.listdir(d)) for d in world["dev_sites"]} == world["before"]
    for kind, name in NAMES.items():
        assert importlib.util.find_spec(scaffold.names(name, kind)["module"]) is None
