"""The conformance kit's test data: a tiny collection full of edge cases, and helpers around it.

The collection is small enough to reason about by hand and holds what breaks careless
components: two documents with the same text under different ids, an empty document, accents,
Greek, Japanese and an emoji, a judgment of a document the corpus lacks, a query whose only
judgment is negative. Its own queries are plain ASCII, so that a component failing on non-ASCII
or empty queries fails only the rules about those (``NON_ASCII_QUERIES``, ``EMPTY_QUERIES``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from ..cache import ArtifactCache
from ..collection import Collection, Document
from ..components import Context
from ..plugins import DISABLE_ENV, ComponentInfo, PluginInfo, Registry, load_registry
from ..ranking import Run

DOCS = [
    ("d01", "Wings", "wing lift and drag at high speed"),
    ("d02", "Heat", "heat transfer in a boundary layer"),
    ("d03", "Flutter", "flutter of a wing at supersonic speed"),
    ("d04", "Shells", "buckling of thin cylindrical shells"),
    ("d05", "Nozzles", "flow in a supersonic nozzle"),
    ("d06", "Slabs", "heat conduction in composite slabs"),
    ("d07", "Café", "crème brûlée at the café, a naïve résumé"),
    ("d08", "Ωμέγα", "Ωμέγα λάμδα θήτα: supersonic flow"),
    ("d09", "Shells", "buckling of thin cylindrical shells"),  # d04's duplicate
    ("d10", "東京", "東京 大学 wing 研究"),
    ("d11", "", ""),  # an empty document
    ("d12", "Jets", "noise of supersonic jets 🚀"),
]
QUERIES = {
    "q1": "wing flutter at high speed",
    "q2": "heat transfer boundary layer",
    "q3": "supersonic flow",
    "q4": "cylindrical shells buckling",
    "q5": "unrelated words only",
}
QRELS = {
    "q1": {"d03": 2, "d01": 1, "d05": 0},
    "q2": {"d02": 2, "d06": 1},
    "q3": {"d05": 1, "d12": 1, "d08": 1, "d99": 1},  # d99: judged, but not in the corpus
    "q4": {"d04": 2, "d09": 2},
    "q5": {"d01": -1},  # judged, nothing relevant
}
NON_ASCII_QUERIES = {
    "u1": "café brûlée",
    "u2": "Ωμέγα λάμδα",
    "u3": "東京 wing",
    "u4": "naïve résumé 🚀",
}
EMPTY_QUERIES = {"e1": "", "e2": " \t\n"}


def tiny_collection() -> Collection:
    """A fresh copy of the kit's collection (12 documents, 5 queries, graded qrels)."""
    docs = [Document(doc_id, text, title) for doc_id, title, text in DOCS]
    qrels = {qid: dict(judged) for qid, judged in QRELS.items()}
    return Collection("harness-tiny", docs, dict(QUERIES), qrels, metadata={"provider": "harness.testing"})


def small_collection(collection: Collection, size: int = 3) -> Collection:
    """The first ``size`` documents of ``collection`` with all its queries: a corpus smaller
    than any sensible k."""
    docs = collection.docs[:size]
    kept = {d.id for d in docs}
    qrels = {q: {d: g for d, g in judged.items() if d in kept} for q, judged in collection.qrels.items()}
    return Collection(f"{collection.name}-small", docs, dict(collection.queries), qrels, collection.fields)


def duplicate_groups(collection: Collection) -> list[list[str]]:
    """Ids of documents whose contents are identical, in groups of two or more."""
    groups: dict[str, list[str]] = {}
    for doc in collection.docs:
        text = collection.contents(doc)
        if text.strip():
            groups.setdefault(text, []).append(doc.id)
    return [ids for ids in groups.values() if len(ids) > 1]


def candidates(collection: Collection, per_query: int = 6) -> Run:
    """A first-stage run to rerank: ``per_query`` documents per query, picked deterministically
    (each query starts further down the corpus), duplicates included."""
    ids = [d.id for d in collection.docs]
    ranked = {}
    for i, qid in enumerate(collection.queries):
        picked = [ids[(i * 2 + j) % len(ids)] for j in range(min(per_query, len(ids)))]
        ranked[qid] = [(doc, float(per_query - j)) for j, doc in enumerate(picked)]
    return Run.from_ranked(ranked)


def make_context(base_dir: Path, cache_dir: Path | None = None, collection: Collection | None = None) -> Context:
    """A ``Context`` as the runner builds it: seed 0, CPU, an artifact cache of its own."""
    cache = ArtifactCache(cache_dir) if cache_dir is not None else None
    return Context(device="cpu", base_dir=Path(base_dir), seed=0, collection=collection, cache=cache)


def registry_with(*classes: type) -> Registry:
    """The harness's built-in components plus ``classes``, as if one installed plugin provided
    them; no other installed plugin is loaded, so a test does not depend on what else is there."""
    base = load_registry(env={DISABLE_ENV: "1"})
    known = {info.cls for plugin in base.plugins for info in plugin.components}
    info = PluginInfo("harness.testing", "harness-testing", "0")
    info.components = [
        ComponentInfo(c.kind, c.name, c, info.name, info.distribution, info.version) for c in classes if c not in known
    ]
    return Registry([*base.plugins, info])


def installed_registry(distribution: str) -> Registry:
    """The registry as ``harness`` would load it with only ``distribution``'s plugins (and the
    built-in ones): for a plugin's test that it is installed, found and not broken."""
    return load_registry(env={"HARNESS_PLUGINS": distribution})


def close(a: float, b: float) -> bool:
    """Equal up to float noise; NaN equals NaN (a run is compared with itself bit for bit)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def ranking_difference(first: Run, second: Run, queries: Mapping[str, str] | None = None) -> str | None:
    """Where two runs differ (order or score), or None when they agree on ``queries`` (all)."""
    qids = list(queries) if queries is not None else sorted(set(first) | set(second))
    for qid in qids:
        a, b = first.ranked(qid), second.ranked(qid)
        if [d for d, _ in a] != [d for d, _ in b]:
            return f"query {qid!r}: {[d for d, _ in a][:5]} ... then {[d for d, _ in b][:5]} ..."
        for (doc, x), (_, y) in zip(a, b, strict=True):
            if not close(x, y):
                return f"query {qid!r}, document {doc!r}: score {x!r} then {y!r}"
    return None


def write_beir(folder: str | os.PathLike, collection: Collection) -> Path:
    """``collection`` written as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/test.tsv`` with every judgment, zero and negative grades included, so that the
    folder reads back as the same collection), for suites that load it with
    ``source = "beir:<folder>"``; returns ``folder`` as a Path."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc in collection.docs:
            out.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        for qid, text in collection.queries.items():
            out.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    lines = [f"{q}\t{d}\t{g}" for q, judged in collection.qrels.items() for d, g in judged.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n",
                                               encoding="utf-8")
    return folder


def on_disk(collection: Collection) -> Collection:
    """``collection`` with its documents memory-mapped from disk (``corpus.DiskDocuments``), as a
    provider hands over a corpus beyond 500,000 documents; all else the same."""
    import dataclasses

    from ..corpus import gather_documents

    return dataclasses.replace(collection, docs=gather_documents(iter(collection.docs), "disk"))
