"""Provenance: the environment record, git revisions, thread settings, loaded libraries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types

import pytest

import harness
from harness import provenance


def test_environment_keys_and_types(tmp_path):
    env = provenance.environment()
    assert set(env) == {"harness", "python", "platform", "host", "cpu", "memory_bytes", "threads", "libraries",
                        "suite_git"}
    assert env["harness"] == harness.__version__
    assert env["python"] == sys.version.split()[0]
    for key in ("platform", "host", "cpu"):
        assert isinstance(env[key], str) and env[key]
    assert env["memory_bytes"] is None or (isinstance(env["memory_bytes"], int) and env["memory_bytes"] > 0)
    assert isinstance(env["threads"], dict) and env["threads"]["cpu_count"] == os.cpu_count()
    libraries = env["libraries"]
    assert libraries["pluggy"] and libraries["numpy"]  # core dependencies, from metadata
    assert all(isinstance(v, str) for v in libraries.values())
    assert set(libraries) <= set(provenance.LIBRARIES)
    assert env["suite_git"] is None  # no suite folder given
    json.dumps(env)  # lands in JSON files as it is


def test_version_of():
    assert provenance.version_of("pluggy") == __import__("pluggy").__version__
    assert provenance.version_of("surely-not-an-installed-distribution") is None


def test_environment_does_not_import_heavy_libraries():
    code = ("import sys, harness.provenance as p; p.environment(); "
            "print(sorted({'torch', 'transformers', 'numpy', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def git(folder, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def no_outer_repo(tmp_path, monkeypatch):
    """tmp_path is never taken for part of a repository above it."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


@needs_git
def test_git_revision_clean_and_dirty(no_outer_repo):
    repo = no_outer_repo / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "suite.toml").write_text('name = "x"\n')
    git(repo, "add", "suite.toml")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")
    assert provenance.git_revision(repo) == {"commit": head, "dirty": False}
    (repo / "sub").mkdir()
    assert provenance.git_revision(repo / "sub") == {"commit": head, "dirty": False}  # any folder inside
    (repo / "suite.toml").write_text('name = "y"\n')
    assert provenance.git_revision(repo) == {"commit": head, "dirty": True}
    env = provenance.environment(repo)
    assert env["suite_git"] == {"commit": head, "dirty": True}


@needs_git
def test_git_revision_untracked_file_is_dirty(no_outer_repo):
    repo = no_outer_repo / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-q", "-m", "a")
    (repo / "new.toml").write_text("x")
    assert provenance.git_revision(repo)["dirty"] is True


@needs_git
def test_git_revision_outside_a_repository(no_outer_repo):
    folder = no_outer_repo / "plain"
    folder.mkdir()
    assert provenance.git_revision(folder) is None
    repo = no_outer_repo / "empty-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert provenance.git_revision(repo) is None  # no commit yet


def test_git_revision_of_a_missing_folder(tmp_path):
    assert provenance.git_revision(tmp_path / "missing") is None


def test_git_revision_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert provenance.git_revision(tmp_path) is None


def test_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("UNRELATED_THREADS", "9")
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    out = provenance.threads()
    assert out["cpu_count"] == os.cpu_count()
    assert out["env"].get("OMP_NUM_THREADS") == "3" and "MKL_NUM_THREADS" not in out["env"]
    assert "UNRELATED_THREADS" not in out["env"]
    if hasattr(os, "sched_getaffinity"):
        assert out["affinity"] == sorted(os.sched_getaffinity(0)) and out["affinity"]
    assert "torch_intra_op" not in out


def test_threads_reports_torch_when_loaded(monkeypatch):
    fake = types.SimpleNamespace(get_num_threads=lambda: 7)
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert provenance.threads()["torch_intra_op"] == 7


def test_loaded_libraries(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "transformers", raising=False)
    assert provenance.loaded_libraries() == {}
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert provenance.loaded_libraries() == {"torch": provenance.version_of("torch")}


def test_cpu_and_memory():
    assert isinstance(provenance.cpu_model(), str)
    memory = provenance.memory_bytes()
    if os.path.exists("/proc/meminfo"):
        assert memory > 2**20


def _evil_script(folder, marker):
    """An executable that leaves ``marker`` behind when anything runs it (and passes its input on,
    as a filter would)."""
    script = folder / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    return script


@needs_git
def test_git_revision_runs_no_program_the_repository_names(no_outer_repo):
    """A stranger's repository: its .git/config names an fsmonitor hook and a clean filter for
    every file. ``git status`` would run both (the filter on a file whose stat data changed);
    provenance runs neither, and still records the commit and the change."""
    repo = no_outer_repo / "stranger"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "suite.toml").write_text('name = "x"\n')
    git(repo, "add", "suite.toml")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")
    marker = no_outer_repo / "ran"
    script = _evil_script(no_outer_repo, marker)
    git(repo, "config", "core.fsmonitor", str(script))
    git(repo, "config", "filter.evil.clean", str(script))
    git(repo, "config", "filter.evil.required", "true")
    git(repo, "config", "core.hooksPath", str(no_outer_repo))
    (repo / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    (repo / "suite.toml").write_text('name = "y"\n')  # stat data changed: a clean filter would run
    assert provenance.git_revision(repo) == {"commit": head, "dirty": True}
    assert not marker.exists()
    # what git itself does with that config: the check above would fail without the precautions
    subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, timeout=30)
    assert marker.exists()


@needs_git
def test_git_revision_ignores_git_dir_of_the_environment(no_outer_repo, monkeypatch):
    """Started from a git hook, the harness inherits GIT_DIR: the suite's own repository still counts."""
    repo, other = no_outer_repo / "repo", no_outer_repo / "other"
    for folder in (repo, other):
        folder.mkdir()
        git(folder, "init", "-q")
        (folder / "a").write_text(folder.name)
        git(folder, "add", "a")
        git(folder, "commit", "-q", "-m", folder.name)
    head = git(repo, "rev-parse", "HEAD")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert provenance.git_revision(repo) == {"commit": head, "dirty": False}
