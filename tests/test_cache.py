"""The artifact cache: stable keys, entries that appear whole or not at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cache import COMPLETE, ArtifactCache, cache_key


def test_cache_key_is_stable_and_short():
    key = cache_key("retrieve", {"plugin": "bm25", "k1": 0.9, "b": 0.4}, "abc", 100)
    assert key == cache_key("retrieve", {"b": 0.4, "k1": 0.9, "plugin": "bm25"}, "abc", 100)  # dict order
    assert len(key) == 24 and int(key, 16) >= 0
    # fixed across processes and versions: a change here invalidates every cache on disk
    assert cache_key("x", 1) == cache_key("x", 1)


@pytest.mark.parametrize(
    "other",
    [
        ("retrieve", {"plugin": "bm25", "k1": 1.0}, "abc", 100),
        ("retrieve", {"plugin": "bm25", "k1": 0.9}, "abd", 100),
        ("retrieve", {"plugin": "bm25", "k1": 0.9}, "abc", 10),
        ("index", {"plugin": "bm25", "k1": 0.9}, "abc", 100),
        ("retrieve", {"plugin": "bm25", "k1": 0.9, "extra": None}, "abc", 100),
        ("retrieve", {"plugin": "bm25", "k1": 0.9}, "abc", "100"),  # types count
        ({"plugin": "bm25", "k1": 0.9}, "retrieve", "abc", 100),  # order of parts counts
    ],
)
def test_cache_key_is_sensitive(other):
    assert cache_key("retrieve", {"plugin": "bm25", "k1": 0.9}, "abc", 100) != cache_key(*other)


def test_cache_key_list_order_counts_and_unicode():
    assert cache_key([1, 2]) != cache_key([2, 1])
    assert cache_key("café") != cache_key("cafe")


def test_cache_key_default_for_other_objects():
    class Thing:
        def __init__(self, v):
            self.v = v

        def __str__(self):
            return f"Thing({self.v})"

    assert cache_key(Thing(1)) == cache_key("Thing(1)")  # str() by default
    assert cache_key(Thing(1)) != cache_key(Thing(2))
    assert cache_key(Path("a/b")) == cache_key("a/b")


def test_cache_key_stands_a_spec_for_its_config():
    """Objects with ``config()`` (a suite's stage spec) are keyed by their configuration, so the
    index key is the same whether a stage spec or its config dict goes in."""

    class Spec:
        def config(self):
            return {"plugin": "bm25", "k1": 0.9}

    assert cache_key("index", Spec()) == cache_key("index", {"plugin": "bm25", "k1": 0.9})


def test_one_cache_key_function():
    """Every cache key is made by cache.cache_key: no module hashes keys of its own."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*root.glob("harness/**/*.py"), *root.glob("plugins/*/harness_*/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        own_function = path.name != "cache.py" and re.search(r"def \w*cache_key\(", text)
        if own_function or re.search(r"cache_key\([^()]*default=", text):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


def leftovers(root: Path, kind: str) -> list[str]:
    return sorted(p.name for p in (root / kind).iterdir() if p.name.startswith("."))


def test_write_then_get(tmp_path):
    cache = ArtifactCache(tmp_path / "c")
    assert cache.get("runs", "k1") is None
    with cache.write("runs", "k1", seconds=1.5, host="h") as folder:
        assert cache.get("runs", "k1") is None  # not visible while being written
        (folder / "run.trec").write_text("q Q0 d 1 1.0 t\n")
        (folder / "sub").mkdir()
        (folder / "sub" / "x.json").write_text("{}")
    entry = cache.get("runs", "k1")
    assert entry == tmp_path / "c" / "runs" / "k1"
    assert (entry / "run.trec").read_text() == "q Q0 d 1 1.0 t\n"
    assert (entry / "sub" / "x.json").is_file()
    assert cache.info(entry) == {"seconds": 1.5, "host": "h"}
    assert leftovers(tmp_path / "c", "runs") == []


def test_failed_write_leaves_no_entry_and_no_temp_folder(tmp_path):
    cache = ArtifactCache(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with cache.write("indexes", "k") as folder:
            (folder / "half.bin").write_bytes(b"12")
            raise RuntimeError("boom")
    assert cache.get("indexes", "k") is None
    assert not (tmp_path / "indexes" / "k").exists()
    assert list((tmp_path / "indexes").iterdir()) == []


def test_failed_rewrite_keeps_the_old_entry(tmp_path):
    cache = ArtifactCache(tmp_path)
    with cache.write("runs", "k", n=1) as folder:
        (folder / "v").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with cache.write("runs", "k", n=2) as folder:
            (folder / "v").write_text("new")
            raise KeyboardInterrupt
    entry = cache.get("runs", "k")
    assert (entry / "v").read_text() == "old" and cache.info(entry) == {"n": 1}
    assert leftovers(tmp_path, "runs") == []


def test_rewrite_replaces_the_entry(tmp_path):
    cache = ArtifactCache(tmp_path)
    with cache.write("runs", "k", n=1) as folder:
        (folder / "old-only").write_text("1")
        (folder / "v").write_text("old")
    with ArtifactCache(tmp_path, enabled=False).write("runs", "k", n=2) as folder:  # as --force
        (folder / "v").write_text("new")
    entry = cache.get("runs", "k")
    assert (entry / "v").read_text() == "new"
    assert not (entry / "old-only").exists()  # replaced, not merged
    assert cache.info(entry) == {"n": 2}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["k"]


def test_folder_without_complete_marker_is_a_miss(tmp_path):
    (tmp_path / "runs" / "k").mkdir(parents=True)
    (tmp_path / "runs" / "k" / "run.trec").write_text("x")
    assert ArtifactCache(tmp_path).get("runs", "k") is None


def test_disabled_cache_misses_but_still_writes(tmp_path):
    disabled = ArtifactCache(tmp_path, enabled=False)
    with disabled.write("runs", "k", n=1) as folder:
        (folder / "v").write_text("x")
    assert disabled.get("runs", "k") is None
    assert (tmp_path / "runs" / "k" / COMPLETE).is_file()
    assert ArtifactCache(tmp_path).get("runs", "k") == tmp_path / "runs" / "k"  # next run can use it


def test_kinds_and_keys_are_separate(tmp_path):
    cache = ArtifactCache(tmp_path)
    with cache.write("runs", "k"):
        pass
    assert cache.get("indexes", "k") is None
    assert cache.get("runs", "other") is None
    assert cache.get("runs", "k") is not None


def test_info_serialises_other_objects_with_str(tmp_path):
    cache = ArtifactCache(tmp_path)
    with cache.write("runs", "k", where=Path("/x/y"), n=[1, 2]):
        pass
    entry = cache.get("runs", "k")
    assert cache.info(entry) == {"where": "/x/y", "n": [1, 2]}
    assert json.loads((entry / COMPLETE).read_text()) == {**cache.info(entry), "files": {}}


@pytest.mark.parametrize("damage, reason", [
    (lambda f: f.write_bytes(f.read_bytes()[:-3]), "truncated"),
    (lambda f: f.write_bytes(b"X" + f.read_bytes()[1:]), "corrupt"),
    (lambda f: f.unlink(), "missing"),
])
def test_damaged_entries_are_discarded_never_used(tmp_path, damage, reason):
    cache = ArtifactCache(tmp_path)
    with cache.write("embeddings", "k1") as folder:
        (folder / "vectors.npy").write_bytes(bytes(range(200)))
    damage(cache.root / "embeddings" / "k1" / "vectors.npy")
    assert cache.get("embeddings", "k1") is None
    assert reason in cache.discarded["k1"]
    assert not (cache.root / "embeddings" / "k1").exists()  # the caller rebuilds it


def test_a_concurrent_writer_of_the_same_key_keeps_the_first_entry(tmp_path):
    cache = ArtifactCache(tmp_path)
    with cache.write("runs", "k", who="first") as first:
        (first / "run.trec").write_text("a\n")
        with cache.write("runs", "k", who="second") as second:  # finishes while the first writes
            (second / "run.trec").write_text("a\n")
    entry = cache.get("runs", "k")
    assert cache.info(entry)["who"] == "second"  # the first writer found it complete and kept it
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["k"]  # no temporary folders left


def test_force_replaces_an_intact_entry(tmp_path):
    with ArtifactCache(tmp_path).write("runs", "k", who="old") as folder:
        (folder / "run.trec").write_text("a\n")
    with ArtifactCache(tmp_path, enabled=False).write("runs", "k", who="new") as folder:
        (folder / "run.trec").write_text("b\n")
    cache = ArtifactCache(tmp_path)
    assert cache.info(cache.get("runs", "k"))["who"] == "new"
