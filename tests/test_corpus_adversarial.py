"""Adversarial checks of harness/corpus.py: odd characters, None titles, failing sources, damaged or
deleted folders, workers killed while holding a corpus on disk, and sequence edge cases. A corpus
on disk must give the very documents, fingerprints and results of the same corpus in memory."""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.collection import Collection, Document
from harness.components import Context
from harness.corpus import DiskDocuments, gather_documents
from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import load_registry

ODD = [
    Document("nul", "a\x00b\x00", "t\x00"),
    Document("cr", "line\rbreak\r\n and \n", "\r"),
    Document("sep", "para\u2028graph\u2029end\x85", "\u2028"),
    Document("emoji", "\U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467 e\u0301 \ufeff", "\U0001f600"),
    Document("empty", "", ""),
    Document("ws", " ", " "),
    Document("long", "\u00e9" * 300_000, "x" * 70_000),
    Document("bidi", "\u202eabc\u202c \U0010ffff", "\ufffe\uffff"),
    Document("last", "x", ""),
]


@pytest.fixture
def tmpdir_here(tmp_path, monkeypatch):
    """tempfile's folder (and the children's TMPDIR) is a fresh one under tmp_path."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def on_disk(docs, store="disk"):
    return gather_documents(iter(docs), store)


def test_every_odd_character_reads_back(tmpdir_here):
    disk = on_disk(ODD)
    assert list(disk) == ODD
    assert [disk[i] for i in range(-len(ODD), 0)] == ODD
    for fields in (("title", "text"), ("text",), ("title",), ("text", "title")):
        memory = Collection("c", list(ODD), {"q": "x"}, {"q": {"nul": 1}}, fields)
        stored = Collection("c", disk, {"q": "x"}, {"q": {"nul": 1}}, fields)
        assert list(stored.texts()) == memory.texts()
        assert stored.corpus_fingerprint == memory.corpus_fingerprint


def test_a_none_title_has_the_fingerprint_of_an_empty_one_in_either_store(tmpdir_here):
    # A plugin provider may hand Context.documents titles of None (Collection's checks allow it):
    # the corpus fingerprint keys every cache, so it must not depend on the store.
    docs = [Document("d1", "wing", None), Document("d2", "lift", "Title")]
    memory = Context(corpus_store="memory").documents(iter(docs))
    disk = Context(corpus_store="disk").documents(iter(docs))
    fingerprints = {Collection("c", d, {"q": "x"}, {"q": {"d1": 1}}).corpus_fingerprint for d in (memory, disk)}
    assert len(fingerprints) == 1
    assert list(memory) == list(disk)


def test_documents_of_another_type_with_none_titles(tmpdir_here):
    # A provider's own record type with the three attributes (a named tuple): read by attribute.
    from collections import namedtuple

    Doc = namedtuple("Doc", "id text title")
    docs = [Doc("d1", "wing", None), Doc("d2", "lift", "T")]
    stored = {store: gather_documents(iter(docs), store) for store in ("memory", "disk")}
    read = {store: [(d.id, d.text, d.title) for d in docs] for store, docs in stored.items()}
    assert read["memory"] == read["disk"] == [("d1", "wing", ""), ("d2", "lift", "T")]


def test_indexing_with_what_is_not_an_integer_is_a_type_error(tmpdir_here):
    disk = on_disk(ODD)
    for bad in (1.0, "1", None, (1,)):
        with pytest.raises(TypeError):
            list(ODD)[bad]
        with pytest.raises(TypeError):
            disk[bad]
        with pytest.raises(TypeError):
            disk.texts(("text",))[bad]


def test_slices_of_every_shape_match_the_list(tmpdir_here):
    disk = on_disk(ODD)
    texts = disk.texts(("title", "text"))
    expected_texts = [" ".join(p for p in (d.title, d.text) if p) for d in ODD]
    n = len(ODD)
    bounds = [None, 0, 1, 3, n - 1, n, n + 5, -1, -3, -n, -n - 5, 10**20, -(10**20)]
    for start in bounds:
        for stop in bounds:
            for step in (None, 1, 2, 3, -1, -2, n + 1, -(n + 1)):
                s = slice(start, stop, step)
                assert disk[s] == ODD[s], s
                assert texts[s] == expected_texts[s], s
    with pytest.raises(ValueError):
        disk[::0]
    import numpy as np

    assert disk[np.int64(-1)] == ODD[-1] and disk[True] == ODD[1]
    assert len(texts) == n and len(disk.texts(("text",))) == n
    assert list(reversed(disk)) == ODD[::-1] and ODD[3] in disk and disk.index(ODD[3]) == 3
    assert disk.count(ODD[0]) == 1


def test_len_and_iteration_of_texts_across_chunks(tmpdir_here):
    from harness import corpus

    docs = [Document(f"d{i}", "t" * (i % 3), ["", None, "T"][i % 3]) for i in range(corpus._CHUNK * 2 + 3)]
    disk = on_disk(docs)
    memory = Collection("c", docs, {"q": "x"}, {"q": {"d1": 1}})
    stored = Collection("c", disk, {"q": "x"}, {"q": {"d1": 1}})
    assert len(stored.texts()) == len(docs)
    assert list(stored.texts()) == memory.texts()


def test_a_source_failing_midway_leaves_no_folder_and_no_open_file(tmpdir_here):
    def fds():
        return len(os.listdir("/proc/self/fd"))

    def documents():
        yield from ODD
        raise RuntimeError("the source broke")

    gc.collect()
    before = fds()
    with pytest.raises(RuntimeError, match="the source broke"):
        gather_documents(documents(), "disk")
    assert list(tmpdir_here.iterdir()) == []
    assert fds() == before  # the writer's files are closed, not left to the garbage collector

    with pytest.raises(RuntimeError, match="the source broke"):
        gather_documents(documents(), "auto", limit=2)  # spilled, then broke
    assert list(tmpdir_here.iterdir()) == [] and fds() == before

    with pytest.raises(KeyboardInterrupt):
        def interrupted():
            yield ODD[0]
            raise KeyboardInterrupt
        gather_documents(interrupted(), "disk")
    assert list(tmpdir_here.iterdir()) == [] and fds() == before


def test_a_bad_document_midway_leaves_no_folder(tmpdir_here):
    for bad in (Document(7, "x"), Document("d", b"bytes"), Document("d", "x", 3), Document("d", "x", ["t"])):
        with pytest.raises(ValueError, match="not a string"):
            gather_documents(iter([ODD[0], bad]), "disk")
        assert list(tmpdir_here.iterdir()) == []


def test_a_folder_deleted_while_in_use_still_reads(tmpdir_here):
    import shutil

    disk = on_disk(ODD)
    shutil.rmtree(disk.folder)
    assert list(disk) == ODD  # the mappings hold the unlinked files
    del disk
    gc.collect()  # the finalizer copes with a folder already gone


def test_a_truncated_offsets_file_is_refused_with_its_name(tmpdir_here):
    import shutil

    disk = on_disk(ODD)
    for damage in ("title.offsets.npy", "id.bin", "text.offsets.npy"):
        again = tmpdir_here / damage
        shutil.copytree(disk.folder, again)
        path = again / damage
        path.write_bytes(path.read_bytes()[:-3])
        with pytest.raises(ValueError, match=damage.replace(".", r"\.")):
            DiskDocuments(again)


def test_pickled_into_a_fresh_process(tmpdir_here):
    disk = on_disk(ODD)
    code = ("import pickle, sys\n"
            "docs = pickle.load(sys.stdin.buffer)\n"
            "sys.stdout.buffer.write(pickle.dumps([list(docs), list(docs.texts(('title', 'text')))]))\n")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(disk), capture_output=True, check=True)
    docs, texts = pickle.loads(out.stdout)
    assert docs == ODD and texts == [" ".join(p for p in (d.title, d.text) if p) for d in ODD]
    assert disk.folder.is_dir()  # the child's copy owns nothing: its exit removes nothing
    folder = disk.folder
    del disk
    gc.collect()
    assert not folder.exists()


def test_a_process_killed_while_holding_a_corpus_leaves_nothing_behind(tmpdir_here):
    """A cell worker killed by its timeout (SIGKILL) runs no finalizer: its corpus folder, as large
    as the corpus, stays in TMPDIR unless the next one to gather a corpus clears it away."""
    code = ("import os, signal\n"
            "from harness.collection import Document\n"
            "from harness.corpus import gather_documents\n"
            "docs = gather_documents(iter([Document('d', 'x')]), 'disk')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmpdir_here)})
    assert proc.returncode == -9
    assert len(list(tmpdir_here.iterdir())) == 1  # the dead process's folder
    live = on_disk(ODD)  # the next corpus gathered sweeps it away, and only it
    assert list(tmpdir_here.iterdir()) == [live.folder]
    other = on_disk(ODD[:2])  # a live corpus is never swept
    assert sorted(tmpdir_here.iterdir()) == sorted([live.folder, other.folder])
    assert list(live) == ODD and list(other) == ODD[:2]


def test_a_folder_being_made_by_another_process_is_not_swept(tmpdir_here):
    # Another process's folder without its lock yet (just made) is left alone.
    (tmpdir_here / "harness-corpus-young").mkdir()
    on_disk(ODD)
    assert (tmpdir_here / "harness-corpus-young").is_dir()


# -- providers and whole runs ---------------------------------------------------------------------


def beir_folder(tmp_path: Path, docs) -> Path:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "wing"}\n{"_id": "q2", "text": "heat"}\n',
                                          encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnul\t2\nq2\tcr\t1\n",
                                               encoding="utf-8")
    return folder


def test_beir_with_odd_texts_and_null_titles_is_the_same_in_either_store(tmp_path, tmpdir_here):
    folder = beir_folder(tmp_path, ODD)
    # null titles and a missing title key, beside the others
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write('{"_id": "nulltitle", "title": null, "text": "a"}\n{"_id": "notitle", "text": "b"}\n')
    loaded = {store: load_dataset(DatasetSpec(name="d", provider="beir", params={"path": str(folder)},
                                              corpus_store=store), load_registry(), tmp_path)
              for store in ("memory", "disk", "auto")}
    assert loaded["disk"].on_disk and not loaded["memory"].on_disk and not loaded["auto"].on_disk
    assert list(loaded["disk"].docs) == list(loaded["memory"].docs)
    assert len({c.fingerprint for c in loaded.values()}) == 1
    assert loaded["disk"].describe()["checks"] == loaded["memory"].describe()["checks"]


@pytest.mark.parametrize("line, match", [
    ('{"_id": "a b", "text": "x"}', r"corpus\.jsonl:10: document id 'a b' is empty or holds whitespace"),
    ('{"_id": "nul", "text": "x"}', r"corpus\.jsonl:10: duplicate document id 'nul' \(first at line 1\)"),
    ('{"_id": "x", "text": 3}', r"corpus\.jsonl:10: text 'text' must be a string"),
    ('{"_id": "x", "text": "\\ud800"}', r"corpus\.jsonl:10: a lone surrogate U\+D800"),
    ('{"_id": "x", "text": "y", "title": 5}', r"corpus\.jsonl:10: title must be a string"),
    ("not json", r"corpus\.jsonl:10: malformed JSON"),
])
def test_bad_lines_on_disk_name_the_file_and_line_and_leave_nothing(tmp_path, tmpdir_here, line, match):
    folder = beir_folder(tmp_path, ODD)
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write(line + "\n")
    for store in ("memory", "disk"):
        spec = DatasetSpec(name="d", provider="beir", params={"path": str(folder)}, corpus_store=store)
        with pytest.raises(DatasetError, match=match):
            load_dataset(spec, load_registry(), tmp_path)
        gc.collect()
        assert list(tmpdir_here.iterdir()) == []


def test_a_corpus_rejected_after_gathering_leaves_nothing(tmp_path, tmpdir_here):
    # An id with a control character that the BEIR reader lets through would be refused by
    # contents_problem after the corpus is on disk: the folder must go with the error.
    folder = beir_folder(tmp_path, ODD)
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": 5}\n', encoding="utf-8")
    spec = DatasetSpec(name="d", provider="beir", params={"path": str(folder)}, corpus_store="disk")
    with pytest.raises(DatasetError):
        load_dataset(spec, load_registry(), tmp_path)
    gc.collect()
    assert list(tmpdir_here.iterdir()) == []


def test_a_forked_child_dropping_its_copy_removes_nothing(tmpdir_here):
    # A fork (a tokenizer pool, a data loader's workers) inherits the finalizer; its copy going
    # must not remove the folder the parent still reads.
    disk = on_disk(ODD)
    pid = os.fork()
    if pid == 0:  # the child: run every finalizer, as its garbage collection or exit would
        code = 0
        try:
            import weakref

            for f in list(weakref.finalize._registry):
                f()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert disk.folder.is_dir() and list(disk) == ODD


# -- cell workers ---------------------------------------------------------------------------------

WORKER_SUITE = """
name = "iso"
k = 5
metrics = ["AP"]

[[datasets]]
source = "beir:{beir}"
corpus_store = "disk"

[[pipelines]]
name = "FIRST"
retriever = {FIRST_PLUGIN}

[[pipelines]]
name = "SECOND"
retriever = {SECOND_PLUGIN}
"""


def run_workers(write_suite, tmp_path, first, second, overrides):
    from fakes import registry_with

    from harness.runner import run_suite
    from harness.suite import load_suite

    table = {"sleepy": 'plugin = "sleepy", seconds = 60'}
    first, second = (table.get(p, f'plugin = "{p}"') for p in (first, second))
    body = (WORKER_SUITE.replace("FIRST_PLUGIN", first).replace("SECOND_PLUGIN", second)
            .replace('"FIRST"', '"first"').replace('"SECOND"', '"second"'))
    registry = registry_with()
    suite = load_suite(write_suite(body), overrides, registry=registry)
    return run_suite(suite, results_dir=tmp_path / "results", registry=registry, new=True)


@pytest.fixture
def plugins(monkeypatch):
    from fakes import plugin_env

    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", plugin_env()["HARNESS_PLUGIN_MODULES"])


def test_workers_on_a_disk_corpus_give_the_same_results_and_leave_nothing(plugins, write_suite, tmp_path,
                                                                          tmpdir_here):
    inline = run_workers(write_suite, tmp_path / "a", "overlap", "two-step", ['measure.isolation="none"'])
    isolated = run_workers(write_suite, tmp_path / "b", "overlap", "two-step",
                           ['measure.isolation="subprocess"', "measure.threads=1"])
    for a, b in zip(inline.results, isolated.results, strict=True):
        assert a["status"] == b["status"] == "ok" and a["metrics"] == b["metrics"]
        assert a["dataset"]["storage"] == b["dataset"]["storage"] == "disk"
    gc.collect()
    assert not list(tmpdir_here.glob("harness-corpus-*"))


def test_a_worker_killed_at_its_timeout_leaves_its_corpus_to_the_next(plugins, write_suite, tmp_path, tmpdir_here):
    # The killed worker runs no finalizer; the next worker to gather a corpus sweeps its folder.
    outcome = run_workers(write_suite, tmp_path, "sleepy", "overlap", ["measure.timeout=1"])
    timed_out, ok = outcome.results
    assert timed_out["error"]["type"] == "Timeout" and ok["status"] == "ok"
    assert not list(tmpdir_here.glob("harness-corpus-*"))


def test_the_last_worker_killed_leaves_nothing_behind(plugins, write_suite, tmp_path, tmpdir_here):
    outcome = run_workers(write_suite, tmp_path, "overlap", "sleepy", ["measure.timeout=1"])
    assert outcome.results[1]["error"]["type"] == "Timeout"
    assert not list(tmpdir_here.glob("harness-corpus-*"))


def test_an_error_after_the_corpus_is_on_disk_does_not_keep_it(tmp_path, tmpdir_here):
    # The runner keeps a dataset's DatasetError for each of its cells: the error's traceback must
    # not hold the corpus (and its folder, as large as the corpus) that was read before it.
    folder = beir_folder(tmp_path, ODD)
    (folder / "queries.jsonl").write_text('{"_id": "q0", "text": "x"}\n{"_id": "q1", "text": "wing"}\n',
                                          encoding="utf-8")
    spec = DatasetSpec(name="d", provider="beir", params={"path": str(folder)}, corpus_store="disk",
                       queries={"first": 1})
    with pytest.raises(DatasetError, match="none of the queries evaluated has relevance judgments") as caught:
        load_dataset(spec, load_registry(), tmp_path)
    kept = caught.value
    gc.collect()
    assert list(tmpdir_here.iterdir()) == [] and kept.__traceback__ is not None


def test_a_provider_failing_after_its_documents_does_not_keep_them(tmp_path, tmpdir_here):
    from harness.components import DatasetProvider

    class Late(DatasetProvider):
        name = "late"
        params = {}

        def load(self, ctx):
            docs = ctx.documents(iter(ODD))
            assert len(docs) == len(ODD)
            raise OSError("the topics server went away")

    registry = load_registry()
    original = registry.get

    def get(kind, name):
        return Late if (kind, name) == ("dataset", "late") else original(kind, name)

    registry.get = get
    spec = DatasetSpec(name="d", provider="late", params={}, corpus_store="disk")
    with pytest.raises(DatasetError, match="OSError: the topics server went away") as caught:
        load_dataset(spec, registry, tmp_path)
    kept = caught.value
    gc.collect()
    assert list(tmpdir_here.iterdir()) == [] and kept.__cause__ is not None


def test_validate_with_a_disk_corpus(capsys, tmp_path, tmpdir_here):
    from harness import cli

    folder = beir_folder(tmp_path, ODD)
    suite = tmp_path / "suite.toml"
    suite.write_text(f'''name = "s"
metrics = ["AP"]
[[datasets]]
source = "beir:{folder}"
corpus_store = "disk"
[[pipelines]]
name = "bm25"
retriever = {{plugin = "bm25"}}
''', encoding="utf-8")
    assert cli.main(["validate", str(suite)]) == 0
    out = capsys.readouterr().out
    assert f"{len(ODD)} documents" in out
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write('{"_id": "cr", "text": "again"}\n')
    code = cli.main(["validate", str(suite)])
    err = capsys.readouterr().err
    assert code == 2 and f"corpus.jsonl:{len(ODD) + 1}: duplicate document id 'cr'" in err
    gc.collect()
    assert list(tmpdir_here.iterdir()) == []


# -- the conformance kit on a corpus on disk ------------------------------------------------------

from harness.testing import RankerContract, RetrieverContract  # noqa: E402
from harness.testing.data import tiny_collection  # noqa: E402


def disk_copy(collection: Collection) -> Collection:
    return Collection(collection.name, gather_documents(iter(collection.docs), "disk"), collection.queries,
                      collection.qrels, collection.fields, dict(collection.metadata))


def test_the_kits_collection_on_disk_is_the_same():
    memory, disk = tiny_collection(), disk_copy(tiny_collection())
    assert disk.on_disk and disk.fingerprint == memory.fingerprint
    assert list(disk.texts()) == memory.texts() and disk.data_report() == memory.data_report()


class TestBM25OnDisk(RetrieverContract):
    from harness_lexical.bm25 import BM25 as component

    def make_collection(self) -> Collection:
        return disk_copy(tiny_collection())


class TestBM25RankerOnDisk(RankerContract):
    from harness_lexical.pairs import BM25Scorer as component

    def make_collection(self) -> Collection:
        return disk_copy(tiny_collection())
