"""harness/corpus.py: documents on disk read back exactly as the list they were written from, and
the built-in providers give the same collection whichever store holds it."""

from __future__ import annotations

import gc
import json
import pickle
from pathlib import Path

import pytest

from harness.collection import Collection, Document
from harness.components import Context
from harness.corpus import SPILL_AT, DiskDocuments, DocumentWriter, gather_documents
from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import load_registry

DOCS = [
    Document("d1", "wing lift", "Wings"),
    Document("d2", "heat transfer", ""),
    Document("d3", "", "Only title"),
    Document("é-4", "naïve café — 東京 \U0001f600 and a NUL \x00 inside", "tab\there"),
    Document("d5", "a long title", "x" * 10_000),
]


def written(tmp_path: Path, docs=DOCS) -> DiskDocuments:
    writer = DocumentWriter(tmp_path / "corpus")
    for doc in docs:
        writer.add(doc)
    return writer.close()


def test_reads_back_every_document_exactly(tmp_path):
    disk = written(tmp_path)
    assert len(disk) == len(DOCS)
    assert list(disk) == DOCS
    assert [disk[i] for i in range(len(DOCS))] == DOCS
    assert disk[-1] == DOCS[-1] and disk[1:4] == DOCS[1:4] and disk[::2] == DOCS[::2] and disk[3:1] == []
    assert disk.ids == [d.id for d in DOCS]
    with pytest.raises(IndexError):
        disk[len(DOCS)]
    with pytest.raises(IndexError):
        disk[-len(DOCS) - 1]


def test_collection_on_disk_equals_the_list(tmp_path):
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"é-4": 1}}
    queries = {"q1": "wing", "q2": "café"}
    for fields in (("title", "text"), ("text",), ("title",)):
        memory = Collection("c", list(DOCS), queries, qrels, fields)
        disk = Collection("c", written(tmp_path / "-".join(fields)), queries, qrels, fields)
        assert disk.on_disk and not memory.on_disk
        assert disk.doc_ids == memory.doc_ids
        assert list(disk.texts()) == memory.texts()
        assert disk.texts()[1:4] == memory.texts()[1:4] and disk.texts()[-1] == memory.texts()[-1]
        assert len(disk.texts()) == len(DOCS)
        assert disk.corpus_fingerprint == memory.corpus_fingerprint
        assert disk.fingerprint == memory.fingerprint
        assert disk.doc("é-4") == memory.doc("é-4") and disk.text("d3") == memory.text("d3")
        described = disk.describe()
        assert described.pop("storage") == "disk"
        expected = memory.describe()
        assert expected.pop("storage") == "memory"
        assert described == expected


def test_many_documents_across_read_chunks(tmp_path):
    docs = [Document(f"d{i}", f"text {i} " * (i % 7), f"t{i}" if i % 3 else "") for i in range(20_000)]
    disk = written(tmp_path, docs)
    assert list(disk) == docs
    texts = Collection("c", disk, {"q": "x"}, {"q": {"d1": 1}}).texts()
    assert list(texts) == [Collection("c", docs, {"q": "x"}, {"q": {"d1": 1}}).contents(d) for d in docs]
    assert texts[8190:8200] == [" ".join(p for p in (d.title, d.text) if p) for d in docs[8190:8200]]


def test_a_lone_surrogate_is_kept(tmp_path):
    # The providers refuse one (it cannot be written as UTF-8); a component's own writer may not.
    doc = Document("d", "lone surrogate \ud800 from a JSON escape")
    assert list(written(tmp_path, [doc])) == [doc]


def test_pickles_as_its_folder(tmp_path):
    disk = written(tmp_path)
    again = pickle.loads(pickle.dumps(disk))
    assert again.folder == disk.folder and list(again) == DOCS


def test_empty_corpus(tmp_path):
    disk = written(tmp_path, [])
    assert len(disk) == 0 and list(disk) == [] and disk[0:5] == [] and not disk


@pytest.mark.parametrize("field", ["id", "text", "title"])
def test_writer_refuses_what_is_not_a_string_and_removes_its_folder(tmp_path, field):
    writer = DocumentWriter(tmp_path / "corpus")
    writer.add(DOCS[0])
    bad = {"id": Document(7, "x"), "text": Document("d", ["a list"]), "title": Document("d", "x", 3)}[field]
    with pytest.raises(ValueError, match=f"with a {field} that is not a string"):
        writer.add(bad)
    assert not (tmp_path / "corpus").exists()


def test_damaged_files_are_refused(tmp_path):
    disk = written(tmp_path)
    with open(disk.folder / "text.bin", "ab") as f:
        f.write(b"extra")
    with pytest.raises(ValueError, match=r"text\.bin: .* bytes, its offsets say"):
        DiskDocuments(disk.folder)


def test_gather_spills_beyond_the_limit(tmp_path):
    assert gather_documents(iter(DOCS), "auto", limit=len(DOCS)) == DOCS  # at the limit: a list
    spilled = gather_documents(iter(DOCS), "auto", limit=2)
    assert isinstance(spilled, DiskDocuments) and list(spilled) == DOCS
    assert isinstance(gather_documents(iter(DOCS), "disk"), DiskDocuments)
    assert gather_documents(iter(DOCS), "memory", limit=1) == DOCS
    assert SPILL_AT == 500_000
    with pytest.raises(ValueError, match="corpus_store must be one of auto, memory, disk"):
        gather_documents(DOCS, "ram")


def test_gather_consumes_a_generator_once_without_holding_it(tmp_path):
    held = []

    def documents():
        for doc in DOCS:
            held.append(doc)
            yield doc

    disk = gather_documents(documents(), "disk")
    assert held == DOCS and list(disk) == DOCS


def test_the_folder_goes_with_the_corpus():
    disk = gather_documents(iter(DOCS), "disk")
    folder = disk.folder
    assert folder.is_dir()
    del disk
    gc.collect()
    assert not folder.exists()


def test_a_failing_source_leaves_no_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def documents():
        yield DOCS[0]
        raise DatasetError("corpus.jsonl:2: duplicate document id 'd1'")

    with pytest.raises(DatasetError, match="duplicate"):
        gather_documents(documents(), "disk")
    assert list(tmp_path.iterdir()) == []


# -- providers --------------------------------------------------------------------------------


def beir_folder(tmp_path: Path, docs=DOCS) -> Path:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "wing"}\n{"_id": "q2", "text": "heat"}\n',
                                          encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\n", encoding="utf-8")
    return folder


def trec_files(tmp_path: Path) -> dict:
    sgml = "".join(f"<DOC>\n<DOCNO>{d.id}</DOCNO>\n<TITLE>{d.title or 'none'}</TITLE>\n"
                   f"<TEXT>{d.text or 'x'}</TEXT>\n</DOC>\n" for d in DOCS[:3])
    (tmp_path / "corpus.sgml").write_text(sgml, encoding="utf-8")
    (tmp_path / "topics.tsv").write_text("q1\twing\n", encoding="utf-8")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n", encoding="utf-8")
    return {"topics": "topics.tsv", "qrels": "qrels.txt", "corpus": "corpus.sgml"}


@pytest.mark.parametrize("provider", ["beir", "trec", "synthetic"])
def test_providers_give_the_same_collection_in_either_store(tmp_path, provider):
    params = {"beir": lambda: {"path": str(beir_folder(tmp_path))},
              "trec": lambda: trec_files(tmp_path),
              "synthetic": lambda: {"documents": "3k", "topics": 20}}[provider]()
    loaded = {}
    for store in ("memory", "disk"):
        spec = DatasetSpec(name="d", provider=provider, params=params, corpus_store=store)
        loaded[store] = load_dataset(spec, load_registry(), tmp_path)
    memory, disk = loaded["memory"], loaded["disk"]
    assert disk.on_disk and not memory.on_disk
    assert list(disk.docs) == list(memory.docs)
    assert disk.fingerprint == memory.fingerprint and disk.queries == memory.queries and disk.qrels == memory.qrels


def test_a_provider_error_on_disk_still_names_the_line(tmp_path):
    folder = beir_folder(tmp_path, [*DOCS, DOCS[1]])
    spec = DatasetSpec(name="d", provider="beir", params={"path": str(folder)}, corpus_store="disk")
    with pytest.raises(DatasetError, match=r"corpus.jsonl:6: duplicate document id 'd2' \(first at line 2\)"):
        load_dataset(spec, load_registry(), tmp_path)


def test_the_suite_key_is_checked_and_kept_out_of_cell_keys(tmp_path):
    from harness.runner import cell_key
    from harness.suite import SuiteError, load_suite

    def load_suite_text(text, folder):
        path = folder / "suite.toml"
        path.write_text(text, encoding="utf-8")
        return load_suite(path)

    text = '''name = "s"
metrics = ["nDCG@10"]
[[datasets]]
source = "synthetic:1k"
corpus_store = "%s"
[[pipelines]]
name = "p"
retriever = { plugin = "bm25" }
'''
    suites = {store: load_suite_text(text % store, tmp_path) for store in ("memory", "disk")}
    assert suites["disk"].datasets[0].corpus_store == "disk"
    keys = {store: cell_key(s, s.cells()[0]) for store, s in suites.items()}
    assert keys["memory"] == keys["disk"]
    with pytest.raises(SuiteError, match="corpus_store"):
        load_suite_text(text % "ram", tmp_path)


# -- the synthetic provider's memory check, on disk -----------------------------------------


def test_synthetic_sizes_are_checked_for_the_store_they_go_to(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    import harness.synthetic as synthetic
    from harness.synthetic import SyntheticSpec

    monkeypatch.setattr(synthetic, "physical_memory", lambda: 4 * 10**9)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**12, 0, 100 * 10**9))
    spec = SyntheticSpec(documents=10_000_000, queries=10)
    assert [key for key, _ in spec.problems()] == ["documents"]  # 7 GB of strings in memory
    assert spec.problems(on_disk=True) == []  # ids only in memory, 5.5 GB on disk
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**12, 0, 10**9))
    (problem,) = spec.problems(on_disk=True)
    assert problem[0] == "documents" and "on disk, more than the 1.0 GB free" in problem[1] and "TMPDIR" in problem[1]
    # The provider decides by its store: auto puts 10M documents on disk.
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**12, 0, 100 * 10**9))
    loaded = []
    monkeypatch.setattr(synthetic, "generate", lambda spec, **kw: loaded.append(kw["on_disk"]))
    import harness.builtin.synthetic as provider

    monkeypatch.setattr(provider, "generate", synthetic.generate)
    for store, on_disk in (("auto", True), ("disk", True)):
        provider.SyntheticProvider(documents="10M", topics=10).load(
            Context(corpus_store=store))
        assert loaded[-1] is on_disk
    with pytest.raises(DatasetError, match="GB of memory"):
        provider.SyntheticProvider(documents="10M", topics=10).load(
            Context(corpus_store="memory"))


def test_the_on_disk_estimate_bounds_what_generating_holds():
    import tracemalloc

    from harness.synthetic import SyntheticSpec, generate

    spec = SyntheticSpec(documents=150_000, queries=20)
    tracemalloc.start()
    try:
        collection = generate(spec, gather=lambda docs: gather_documents(docs, "disk"), on_disk=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert collection.on_disk and len(collection.docs) == 150_000
    assert peak <= spec.estimated_bytes(on_disk=True) < spec.estimated_bytes(), (peak, spec.estimated_bytes(True))
