"""A plugin whose version cannot follow its edits (a module named in HARNESS_PLUGIN_MODULES, at
version 0+local, or an editable install) has its source in its runs' cache keys: editing its
code is a cache miss, not yesterday's numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PLUGIN = '''
from harness.sdk import Retriever, Run, hookimpl


class Constant(Retriever):
    name = "constant-code"

    def index(self, collection, ctx):
        self.ids = [d.id for d in collection.docs]

    def retrieve(self, queries, k, ctx):
        return Run.from_scores({q: {d: SCORE(i) for i, d in enumerate(self.ids[:k])} for q in queries})


def SCORE(i):
    return float(i)


@hookimpl
def harness_retrievers():
    return [Constant]
'''

SUITE = '''
name = "codekey"
k = 5
metrics = ["nDCG@3"]
[[datasets]]
source = "beir:{beir}"
[[pipelines]]
name = "c"
retriever = {plugin = "constant-code"}
'''


def run(tmp_path, plugin_dir):
    env = {**os.environ, "HARNESS_PLUGIN_MODULES": "codekeyplugin", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(tmp_path / "suite.toml"), "--results",
                           str(tmp_path / "results"), "--new", "--quiet"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    runs = sorted((tmp_path / "results" / "codekey").iterdir())
    cell = json.loads(next((runs[-1] / "cells").glob("*.json")).read_text())
    return cell["metrics"]["nDCG@3"], cell["phases"]["retrieve"]["cache"]


def test_editing_a_local_plugin_is_a_cache_miss(tmp_path, tiny_beir):
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    module = plugin_dir / "codekeyplugin.py"
    module.write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "suite.toml").write_text(SUITE.replace("{beir}", str(tiny_beir)))
    first, cache = run(tmp_path, plugin_dir)
    assert cache == "miss"
    assert run(tmp_path, plugin_dir) == (first, "hit")  # unchanged code: served from the cache
    module.write_text(module.read_text().replace("return float(i)", "return -float(i)"))  # reversed ranking
    edited, cache = run(tmp_path, plugin_dir)
    assert cache == "miss" and edited != first
