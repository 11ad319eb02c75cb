"""``smoothed``: a ranker smoothed by random word substitution (CertDR, Wu et al. 2022).

It wraps any ranker that scores pairs (``Param("ranker")``, scored through ``ctx.scorer``: checked
and counted into the cell's ``scorer_calls`` / ``pairs_scored``). A candidate d of query q scores

    ĝ(q, d) = (1/n) Σ_i h(f(q, d_i)),    d_1 … d_n smoothed samples of d (smoothing.py)

f the nested ranker's score and h the fixed transform to [0, 1]. Only the scored document is
perturbed (the threat model attacks one target document, never the corpus or the query), and a
document's samples are the same for every query: each query that has d among its candidates
scores the same n texts, one scorer call of n texts per (query, document).

The estimates (n, mean, variance per pair) are what ``CertTopK`` / ``CertRadius``
(certified.py) certify with. The ranker publishes them as the ``smoothing`` artifact (``prepare``
publishes it, so a cell whose run came from the run cache has it too); they are kept in memory and
in the artifact cache (kind ``smoothing``), one entry per query and candidate set, keyed by
everything that decides them: the nested ranker (its plugin, distribution version and
identity), the smoothing parameters, the synonym table's content, the corpus and the query text.
A metric asking for pairs the stage did not score gets them computed the same way (the same
seeded samples), so its value never depends on what was cached.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.sdk import ComponentError, Context, Param, Ranker, Run, cache_key, scorer_for

from .bounds import DocStats
from .smoothing import TRANSFORMS, Slots, Transform, slots
from .synsets import SET_MODES, SynonymTable, load_table

SMOOTHING = "smoothing"  # the artifact's name
STATS_FORMAT = 1  # bumped when what a stats entry holds changes meaning


class Smoothed(Ranker):
    """Randomized smoothing (CertDR): a nested ranker's mean transformed score over random synonym substitutions."""

    name = "smoothed"
    publishes = (SMOOTHING,)
    params = {
        "ranker": Param("ranker", help="the ranker smoothed (it must score pairs: score_pairs)"),
        "samples": Param(int, 1000, "smoothed samples per document (n)", min=2),
        "seed": Param(int, None, "seed of the samples (default: the suite's seed)", nullable=True),
        "table": Param(str, None, "synonym table file, synonyms.tsv format (default: the plugin's "
                       "synonyms.tsv)", nullable=True),
        "sets": Param(str, "listed", "perturbation set of a word: its listed replacements and itself "
                      "('listed'), or its connected component in the synonym graph ('component')",
                      choices=SET_MODES),
        "transform": Param(str, "minmax", "fixed map of scores to [0, 1]: 'minmax' (low, high) or "
                           "'sigmoid' (center, scale)", choices=TRANSFORMS),
        "low": Param(float, 0.0, "minmax: the score mapped to 0 (lower scores too)"),
        "high": Param(float, 1.0, "minmax: the score mapped to 1 (higher scores too)"),
        "center": Param(float, 0.0, "sigmoid: the score mapped to 0.5"),
        "scale": Param(float, 1.0, "sigmoid: the score difference that moves the logit by 1", min=1e-12),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._table: SynonymTable | None = None
        self._slots: dict[str, Slots] = {}
        self._memo: dict[tuple[str, str], DocStats] = {}  # (query text, doc id) -> estimate
        self._collection = None
        self.transformer = Transform(self.transform, self.low, self.high, self.center, self.scale)

    @classmethod
    def check_config(cls, params: dict, base_dir: Path) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if params["transform"] == "minmax" and not params["high"] > params["low"]:
            problems.append(("high", f"must be greater than low ({params['low']}), got {params['high']}"))
        if params.get("table") is not None:
            path = Path(params["table"]).expanduser()
            try:
                load_table(path if path.is_absolute() else base_dir / path)
            except ComponentError as exc:
                problems.append(("table", str(exc)))
        return problems

    # -- configuration -----------------------------------------------------------------------

    def synonyms(self, ctx: Context) -> SynonymTable:
        if self._table is None:
            self._table = load_table(None if self.table is None else ctx.resolve_path(self.table))
        return self._table

    def seed_of(self, ctx: Context) -> int:
        return ctx.seed if self.seed is None else self.seed

    def identity(self, ctx: Context) -> dict:
        """The parameters, the seed in effect (the suite's when unset) and the table's content."""
        return {**super().identity(ctx), "seed": self.seed_of(ctx), "table_sha256": self.synonyms(ctx).fingerprint}

    # -- the stage ---------------------------------------------------------------------------

    def prepare(self, collection, ctx: Context) -> None:
        if self.transform == "minmax" and not self.high > self.low:
            raise ComponentError(f"ranker 'smoothed': high ({self.high}) must be greater than low ({self.low})")
        self.synonyms(ctx)
        if self._collection is None or self._collection.fingerprint != collection.fingerprint:
            self._collection, self._slots, self._memo = collection, {}, {}
        ctx.artifacts[SMOOTHING] = SmoothingArtifact(self)

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        wanted = {qid: [doc for doc, _ in candidates.ranked(qid)] for qid in candidates}
        stats, record = self.estimates(queries, wanted, ctx)
        ctx.phase[SMOOTHING] = record
        return Run.from_scores({qid: {doc: stats[qid][doc].mean for doc in docs} for qid, docs in wanted.items()})

    # -- estimates ---------------------------------------------------------------------------

    def estimates(self, queries: Mapping[str, str], wanted: Mapping[str, Sequence[str]],
                  ctx: Context) -> tuple[dict[str, dict[str, DocStats]], dict]:
        """``{qid: {doc: DocStats}}`` for the documents ``wanted`` per query, from memory, the
        artifact cache, or scored (documents in turn, each document's samples scored for every
        query that wants it); and a record of what was done."""
        record = {"samples": self.samples, "pairs": 0, "documents_sampled": 0, "from_memory": 0, "from_cache": 0}
        out: dict[str, dict[str, DocStats]] = {}
        todo: dict[str, list[str]] = {}  # doc -> qids still without an estimate
        for qid, docs in wanted.items():
            text = queries[qid]
            known = {doc: self._memo[(text, doc)] for doc in docs if (text, doc) in self._memo}
            record["from_memory"] += len(known)
            if len(known) < len(docs):
                cached = self._read(ctx, text, docs)
                if cached is not None:
                    record["from_cache"] += len(cached) - len(known)
                    known = cached
                    self._memo.update(((text, doc), s) for doc, s in cached.items())
            out[qid] = known
            for doc in docs:
                if doc not in known:
                    todo.setdefault(doc, []).append(qid)
        if todo:
            scorer = scorer_for(ctx, self.ranker)
            with ctx.progress.task(f"smoothed: {self.samples} samples of {len(todo)} documents",
                                   total=len(todo)) as advance:
                for doc in sorted(todo):  # sorted: the same calls in the same order in every run
                    texts = self.samples_of(doc, ctx)
                    record["documents_sampled"] += 1
                    for qid in todo[doc]:
                        scores = scorer.score(queries[qid], texts, qid=qid)
                        stats = DocStats.of(self.transformer(scores))
                        self._memo[(queries[qid], doc)] = out[qid][doc] = stats
                        record["pairs"] += len(texts)
                    advance(1)
            for qid, docs in wanted.items():
                if any(qid in todo.get(doc, ()) for doc in docs):
                    self._write(ctx, queries[qid], {doc: out[qid][doc] for doc in docs})
        return out, record

    def slots_of(self, doc: str, ctx: Context) -> Slots:
        """The document's text (as the pipeline's rankers see it) cut at its substitutable words."""
        if doc not in self._slots:
            try:
                text = self._collection.text(doc)
            except KeyError:
                raise ComponentError(f"ranker 'smoothed': candidate {doc!r} is not a document of the collection") \
                    from None
            self._slots[doc] = slots(text, self.synonyms(ctx), self.sets)
        return self._slots[doc]

    def samples_of(self, doc: str, ctx: Context) -> list[str]:
        """The document's n smoothed samples: seeded by (seed, document id), the same in every process."""
        rng = random.Random(f"{self.seed_of(ctx)}\x00{doc}")  # a str seed hashes with SHA-512: stable
        return self.slots_of(doc, ctx).samples(self.samples, rng)

    # -- the artifact cache ------------------------------------------------------------------

    def _key(self, ctx: Context, query: str, docs: Sequence[str]) -> str:
        nested = scorer_for(ctx, self.ranker).ranker
        return cache_key("smoothed-stats", STATS_FORMAT, _version(type(self)), _code(type(self)), self.identity(ctx),
                         {"plugin": type(nested).name, "version": _version(type(nested)), "code": _code(type(nested)),
                          "identity": nested.identity(ctx)},
                         self._collection.fingerprint, query, sorted(docs))

    def _read(self, ctx: Context, query: str, docs: Sequence[str]) -> dict[str, DocStats] | None:
        if ctx.cache is None:
            return None
        path = ctx.cache.get(SMOOTHING, self._key(ctx, query, docs))
        if path is None:
            return None
        data = json.loads((path / "stats.json").read_text())
        return {doc: DocStats(*data[doc]) for doc in docs}

    def _write(self, ctx: Context, query: str, stats: dict[str, DocStats]) -> None:
        if ctx.cache is None:
            return
        data = {doc: [s.n, s.mean, s.variance] for doc, s in stats.items()}  # floats round-trip in JSON
        with ctx.cache.write(SMOOTHING, self._key(ctx, query, list(stats)), query=query[:200]) as folder:
            (folder / "stats.json").write_text(json.dumps(data, sort_keys=True))


class SmoothingArtifact:
    """What ``smoothed`` publishes for the certification metrics: its estimates and budgets."""

    def __init__(self, ranker: Smoothed):
        self._ranker = ranker

    @property
    def samples(self) -> int:
        return self._ranker.samples

    def describe(self, ctx: Context) -> dict:
        r = self._ranker
        return {"samples": r.samples, "seed": r.seed_of(ctx), "sets": r.sets, "table": r.synonyms(ctx).source,
                "transform": r.transformer.describe()}

    def estimates(self, queries: Mapping[str, str], wanted: Mapping[str, Sequence[str]],
                  ctx: Context) -> tuple[dict[str, dict[str, DocStats]], dict]:
        return self._ranker.estimates(queries, wanted, ctx)

    def budget(self, doc: str, radius: int, ctx: Context) -> float:
        """Δ_R of the document (smoothing.py)."""
        return self._ranker.slots_of(doc, ctx).budget(radius)

    def attackable(self, doc: str, ctx: Context) -> int:
        """How many slots of the document an attacker can move (β < 1): Δ_R is constant beyond."""
        return sum(beta < 1.0 for beta in self._ranker.slots_of(doc, ctx).overlaps)


@cache
def _code(cls: type) -> str:
    """A hash of the source files of ``cls``'s package: an editable install's version does not
    follow edits of its code, so the cache keys take the code itself."""
    module = sys.modules.get(cls.__module__)
    folder = Path(module.__file__).parent if module is not None and getattr(module, "__file__", None) else None
    if folder is None:
        return "unknown"
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*.py")):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _version(cls: type) -> str:
    """The installed version of the distribution providing ``cls`` ('unknown' outside one)."""
    top = cls.__module__.split(".")[0]
    for dist in _distributions().get(top, []):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
