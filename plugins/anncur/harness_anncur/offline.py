"""The offline part of ANNCUR: every anchor query scored exactly against every document (R).

This is indexing work, done once per (scorer, anchor queries, corpus) and kept in the artifact
cache (kind ``anncur-anchor-scores``): sweeping ``anchor_docs``, ``budget`` or the anchor
strategy reuses it. The key holds what decides R: the scorer (its class, distribution version and
identity: a model's files by their hash), the anchor queries (ids and texts, in order), the
corpus fingerprint (documents and fields). The scorer's calls are counted as unattributed work
(``qid=None``), apart from the per-query figures.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from harness.sdk import Context, Scorer, cache_key

KIND = "anncur-anchor-scores"
# Bump when R's content changes in a way the key does not show.
FORMAT = 1


@dataclass(frozen=True)
class AnchorScores:
    """R: ``matrix[i, j]`` is the exact score of anchor query ``rows[i]`` against document
    ``doc_ids[j]`` (corpus order), float64."""

    rows: tuple[str, ...]
    doc_ids: tuple[str, ...]
    matrix: object

    @functools.cached_property
    def row_of(self) -> dict[str, int]:
        return {qid: i for i, qid in enumerate(self.rows)}


def scorer_identity(scorer: Scorer, ctx: Context) -> dict:
    """What decides a nested scorer's scores: its class, the version of the distribution that
    ships it, and its identity (parameters; a model's files by their hash)."""
    cls = type(scorer.ranker)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "distribution": _distribution(cls.__module__),
            "identity": scorer.ranker.identity(ctx)}


@functools.cache
def _distribution(module: str) -> list[str]:
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    out = []
    for name in sorted(packages_distributions().get(module.partition(".")[0], [])):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return out


def anchor_key(scorer: dict, queries: Mapping[str, str], corpus_fingerprint: str) -> str:
    return cache_key(KIND, FORMAT, scorer, list(queries.items()), corpus_fingerprint)


def anchor_scores(queries: Mapping[str, str], collection, scorer: Scorer, ctx: Context, key: str) -> AnchorScores:
    """R for ``queries`` against every document of ``collection``: from the cache, else scored
    (one scorer call per anchor query, unattributed) and stored. The outcome goes into
    ``ctx.phase["anchor_scores"]``."""
    import numpy as np

    doc_ids = list(collection.doc_ids)
    record = ctx.phase["anchor_scores"] = {"cache": "off" if ctx.cache is None else "miss", "key": key,
                                           "queries": len(queries), "documents": len(doc_ids)}
    folder = ctx.cache.get(KIND, key) if ctx.cache is not None else None
    if folder is not None:
        rows = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        cached_ids = json.loads((folder / "doc_ids.json").read_text(encoding="utf-8"))
        if rows == list(queries) and cached_ids == doc_ids:
            record.update(cache="hit", built=ctx.cache.info(folder))
            return AnchorScores(tuple(rows), tuple(doc_ids), np.load(folder / "scores.npy", allow_pickle=False))
        record["discarded"] = "rows or document ids differ from the ones asked"  # would be a key bug
    elif ctx.cache is not None and key in ctx.cache.discarded:
        record["discarded"] = ctx.cache.discarded[key]
    texts = collection.texts()
    matrix = np.empty((len(queries), len(doc_ids)), dtype=np.float64)
    started = time.perf_counter()
    with ctx.progress.task("anncur: scoring anchor queries against the corpus", total=len(queries)) as advance:
        for i, text in enumerate(queries.values()):
            matrix[i] = scorer.score(text, texts, qid=None)  # offline work: no evaluated query's cost
            advance(1)
    seconds = round(time.perf_counter() - started, 3)
    record.update(pairs_scored=int(matrix.size), seconds=seconds)
    if ctx.cache is not None:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with ctx.cache.write(KIND, key, created=created, queries=len(queries), documents=len(doc_ids),
                             seconds=seconds) as out:
            np.save(out / "scores.npy", matrix, allow_pickle=False)
            (out / "rows.json").write_text(json.dumps(list(queries), ensure_ascii=False), encoding="utf-8")
            (out / "doc_ids.json").write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")
    return AnchorScores(tuple(queries), tuple(doc_ids), matrix)
