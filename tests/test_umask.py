"""Results files honour the umask: 0644 files and 0755 folders under umask 022, 0600 and 0700
under 077 (``write_atomic`` once made every file 0600, as ``tempfile.mkstemp`` does)."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from runfolders import cell, values, write_run

from harness.leaderboard import write_leaderboard
from harness.results import write_atomic, write_json


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                              (0o002, 0o664, 0o775)])
def test_write_atomic_honours_the_umask(tmp_path, mask, file_mode, dir_mode):
    with umask(mask):
        path = tmp_path / "a" / "b" / "file.json"
        write_json(path, {"x": 1})
        write_atomic(path, "{}\n")  # replaced: a new file, the same mode
    assert mode(path) == file_mode
    assert mode(path.parent) == dir_mode and mode(path.parent.parent) == dir_mode
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]  # no temporary left behind


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_a_run_folder_and_its_leaderboard(tmp_path, mask, file_mode, dir_mode):
    cells = [cell("d", name, {"nDCG@10": values(np.linspace(0.1, 0.9, 8), shift, 0.05, seed)})
             for seed, (name, shift) in enumerate((("x", 0.0), ("y", 0.1)))]
    with umask(mask):
        run_dir = write_run(tmp_path / "results", "r", cells)
        written = write_leaderboard(run_dir)
    assert len(written) == 4
    files = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    folders = [p for p in (tmp_path / "results").rglob("*") if p.is_dir()]
    assert len(files) == 1 + 2 + 4 and folders
    assert {oct(mode(p)) for p in files} == {oct(file_mode)}
    assert {oct(mode(p)) for p in folders} == {oct(dir_mode)}


def test_a_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(TypeError):
        write_json(path, {"x": object()})
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\ud800")  # a lone surrogate: not encodable
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_cache_entries_honour_the_umask(tmp_path, mask, file_mode, dir_mode):
    from harness.cache import ArtifactCache

    with umask(mask):
        cache = ArtifactCache(tmp_path / "cache")
        with cache.write("index", "k1") as folder:
            (folder / "data.bin").write_bytes(b"x")
        entry = cache.get("index", "k1")
    assert entry is not None
    assert mode(entry) == dir_mode and mode(entry / "data.bin") == file_mode
    assert [p.name for p in entry.parent.iterdir()] == ["k1"]  # no temporary folder left behind
