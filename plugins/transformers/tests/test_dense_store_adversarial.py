"""Adversarial checks of the dense store and of corpora on disk through every first-party plugin
that reads documents: the same runs and values from either store, in a worker process too; no
cache (ordinary arrays); two fillers of one embeddings key."""

from __future__ import annotations

import json
import threading

import numpy as np
import torch
from harness_transformers import Dense

from harness.cache import ArtifactCache
from harness.components import Context
from harness.testing.data import on_disk

from .helpers import run_in_both_stores

SUITE = '''name = "store"
k = 10
metrics = ["nDCG@10", "AP", "RankShift@5", "RelSetChange@5", "RankMe", "hubness", "antihubs",
           "RunHubness@5", "HubShare@5", "Judged@10"]
[[datasets]]
source = "beir:{beir}"
corpus_store = "STORE"
[[pipelines]]
name = "bm25"
retriever = {{plugin = "bm25"}}
[[pipelines]]
name = "dense"
retriever = {{plugin = "dense", model = "{enc}", batch_size = 4}}
[[pipelines]]
name = "rerank"
retriever = {{plugin = "bm25"}}
ranker = {{plugin = "bi-encoder", model = "{enc}", depth = 5}}
[[pipelines]]
name = "cross"
retriever = {{plugin = "bm25"}}
ranker = {{plugin = "cross-encoder", model = "{cross}", depth = 5}}
[[pipelines]]
name = "late"
retriever = {{plugin = "bm25"}}
ranker = {{plugin = "late-interaction", model = "{enc}", depth = 5}}
[[pipelines]]
name = "exhaustive"
retriever = {{plugin = "exhaustive", scorer = {{plugin = "late-interaction", model = "{enc}"}}}}
[[pipelines]]
name = "dbnorm"
retriever = {{plugin = "dbnorm", query_bank = "pseudo:first-sentence", encoder = {{plugin = "dense", model = "{enc}"}}}}
[output]
run_files = true
'''


def test_every_plugin_reading_documents_gives_the_same_from_either_store(tiny_encoder, tiny_cross, beir,
                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    text = SUITE.format(beir=beir, enc=tiny_encoder, cross=tiny_cross)
    runs, values = run_in_both_stores(tmp_path, text)
    assert len(runs["memory"]) == 7 and runs["memory"] == runs["disk"]
    assert values["memory"] == values["disk"]
    import gc

    gc.collect()
    assert not list((tmp_path / "tmp").glob("harness-corpus-*"))


def test_a_disk_corpus_in_worker_processes_gives_the_same(tiny_encoder, beir, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    text = f'''name = "store"
k = 10
metrics = ["nDCG@10", "RankShift@5"]
[[datasets]]
source = "beir:{beir}"
corpus_store = "STORE"
[[pipelines]]
name = "bm25"
retriever = {{plugin = "bm25"}}
[[pipelines]]
name = "dense"
retriever = {{plugin = "dense", model = "{tiny_encoder}", batch_size = 4}}
[output]
run_files = true
'''
    runs, values = run_in_both_stores(tmp_path, text, ['measure.isolation="subprocess"', "measure.threads=1"])
    assert len(runs["memory"]) == 2 and runs["memory"] == runs["disk"] and values["memory"] == values["disk"]
    assert not list((tmp_path / "tmp").glob("harness-corpus-*"))  # each worker removed its own


def test_without_a_cache_the_vectors_are_an_ordinary_array(tiny_encoder, collection):
    disk = Dense(model=str(tiny_encoder), batch_size=4)
    disk.identity(Context())
    disk.index(on_disk(collection), Context())
    memory = Dense(model=str(tiny_encoder), batch_size=4)
    memory.identity(Context())
    memory.index(collection, Context())
    assert torch.equal(disk._docs, memory._docs)
    array = disk._docs.numpy()
    base = array
    while getattr(base, "base", None) is not None:
        base = base.base
    assert not isinstance(base, np.memmap) and not isinstance(array, np.memmap)


def test_two_fillers_of_one_key_at_once(tiny_encoder, collection, tmp_path):
    """Two components in two threads (one process) encode the same corpus into one cache: each
    gets the right vectors, the cache holds one good entry and no staging file."""
    reference = Dense(model=str(tiny_encoder), batch_size=4)
    reference.identity(Context())
    reference.index(collection, Context())
    cache = ArtifactCache(tmp_path / "cache")
    got, errors = {}, []
    barrier = threading.Barrier(2)

    def fill(i):
        try:
            ctx = Context(cache=cache)
            dense = Dense(model=str(tiny_encoder), batch_size=4)
            dense.identity(ctx)
            barrier.wait()
            dense.index(on_disk(collection) if i else collection, ctx)
            got[i] = dense._docs.clone()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert torch.equal(got[0], reference._docs) and torch.equal(got[1], reference._docs)
    entries = [p for p in (tmp_path / "cache" / "embeddings").iterdir()]
    assert len([p for p in entries if not p.name.startswith(".")]) == 1
    assert not [p for p in entries if p.name.startswith(".filling-")]
    (entry,) = [p for p in entries if not p.name.startswith(".")]
    assert np.array_equal(np.load(entry / "embeddings.npy"), reference._docs.numpy())
    assert json.loads((entry / "doc_ids.json").read_text()) == collection.doc_ids


def test_a_damaged_entry_is_rebuilt_not_served(tiny_encoder, collection, tmp_path):
    ctx = Context(cache=ArtifactCache(tmp_path))
    first = Dense(model=str(tiny_encoder), batch_size=4)
    first.identity(ctx)
    first.index(on_disk(collection), ctx)
    expected = first._docs.clone()
    (entry,) = [p for p in (tmp_path / "embeddings").iterdir() if not p.name.startswith(".")]
    data = bytearray((entry / "embeddings.npy").read_bytes())
    data[-4:] = b"\xff\xff\xff\x7f"
    (entry / "embeddings.npy").write_bytes(bytes(data))
    again_ctx = Context(cache=ArtifactCache(tmp_path))
    again = Dense(model=str(tiny_encoder), batch_size=4)
    again.identity(again_ctx)
    again.index(on_disk(collection), again_ctx)
    assert again_ctx.phase["embeddings"]["cache"] == "miss"
    assert torch.equal(again._docs, expected)


def test_changing_the_vectors_in_place_never_reaches_the_entry(tiny_encoder, collection, tmp_path):
    ctx = Context(cache=ArtifactCache(tmp_path))
    dense = Dense(model=str(tiny_encoder), batch_size=4)
    dense.identity(ctx)
    dense.index(on_disk(collection), ctx)
    expected = dense._docs.clone()
    dense._docs.mul_(0)  # a component normalising, say, in place
    again_ctx = Context(cache=ArtifactCache(tmp_path))
    again = Dense(model=str(tiny_encoder), batch_size=4)
    again.identity(again_ctx)
    again.index(collection, again_ctx)
    assert again_ctx.phase["embeddings"]["cache"] == "hit"  # served, not discarded as damaged
    assert torch.equal(again._docs, expected)


def test_two_processes_fill_one_key_at_once(tiny_encoder, collection, tmp_path):
    import subprocess
    import sys

    reference = Dense(model=str(tiny_encoder), batch_size=4)
    reference.identity(Context())
    reference.index(collection, Context())
    np.save(tmp_path / "reference.npy", reference._docs.numpy())
    docs = [[d.id, d.text] for d in collection.docs]
    (tmp_path / "docs.json").write_text(json.dumps(docs), encoding="utf-8")
    code = f'''
import json, sys, time
import numpy as np
from harness.cache import ArtifactCache
from harness.collection import Collection, Document
from harness.components import Context
from harness.sdk import gather_documents
from harness_transformers import Dense
docs = [Document(i, t) for i, t in json.load(open({str(tmp_path / "docs.json")!r}))]
store = sys.argv[1]
collection = Collection("tiny", gather_documents(iter(docs), store), {{"q1": "x"}}, {{"q1": {{"d01": 1}}}},
                        fields=("text",))
ctx = Context(cache=ArtifactCache({str(tmp_path / "cache")!r}))
dense = Dense(model={str(tiny_encoder)!r}, batch_size=4)
dense.identity(ctx)
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
dense.index(collection, ctx)
assert np.array_equal(dense._docs.numpy(), np.load({str(tmp_path / "reference.npy")!r})), "vectors differ"
'''
    import time

    start = str(time.time() + 4)
    procs = [subprocess.Popen([sys.executable, "-c", code, store, start], stderr=subprocess.PIPE)
             for store in ("memory", "disk", "disk")]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    entries = list((tmp_path / "cache" / "embeddings").iterdir())
    good = [p for p in entries if not p.name.startswith(".")]
    assert len(good) == 1 and not [p for p in entries if p.name.startswith(".filling-")], entries
    assert np.array_equal(np.load(good[0] / "embeddings.npy"), reference._docs.numpy())
