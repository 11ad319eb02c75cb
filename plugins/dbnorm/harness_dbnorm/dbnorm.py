"""``dbnorm``: hubness reduction with a query bank and a gallery bank, as a ranker and a retriever.

Both read the nested dense retriever's vectors (``encoder``, through ``ctx.encoder``: from its
embedding cache, never from a first stage's run or artifacts), score each query against every
document, normalise the scores by ``method`` (normalize.py) with the banks, and return

* the ranker: the candidates it is given (a first stage's top ``depth``), in the normalised order;
* the retriever: the top k of the whole collection.

The banks: queries from the SDK's query banks (``query_bank``; ``folds:<k>`` answers each query
with the other folds' bank, so no evaluated query normalises itself), encoded with the same model
and kept in its cache; the gallery bank, ``gallery_size`` documents sampled with the seed.

``tune``: a list of β values; each fold's β (β_q, and β_g for the dual methods, from the grid of
the list) is chosen by nDCG@10 on the *other* folds' judged queries, each of them normalised with
a bank of the folds that are neither its own nor the fold being tuned for. So no query's β ever
saw its own fold's judgments, nor its own text in a bank. Needs ``query_bank = "folds:<k>"``, k ≥ 3.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping

from harness.sdk import (
    REQUIRED,
    BankSource,
    ComponentError,
    Context,
    Embedder,
    Param,
    Ranker,
    Retriever,
    Run,
    encoder_for,
    supports,
)

from . import normalize

PARAMS = {
    "encoder": Param("retriever", REQUIRED, "the dense retriever whose vectors are normalised: a table like a "
                     "pipeline's retriever, {plugin = \"dense\", model = \"...\"}"),
    "method": Param(str, "dualis", "is | dis | dualis | dualdis (DBNorm's normalisations) | csls (baseline)",
                    choices=normalize.METHODS),
    "beta_query": Param(float, 20.0, "β of the query-bank term (inverse temperature)", min=0),
    "beta_gallery": Param(float, 20.0, "β of the gallery-bank term (dualis, dualdis)", min=0),
    "query_bank": BankSource(str, "folds:5", "where the bank queries come from (docs/plugins.md, Query banks)"),
    "query_bank_size": Param(int, None, "bank queries drawn (per fold for folds:<k>); default all", nullable=True,
                             min=1),
    "gallery_size": Param(int, 1000, "documents sampled into the gallery bank (dualis, dualdis); null: every "
                          "document", nullable=True, min=2),
    "activation_k": Param(int, 1, "dis, dualdis: a bank item's top activation_k documents enter the activation "
                          "set", min=1),
    "csls_k": Param(int, 10, "csls: neighbourhood size of r_T and r_S", min=1),
    "tune": Param(float, [], "β values to choose from per fold on the other folds' judged queries (nDCG@10); "
                  "empty: use beta_query and beta_gallery", many=True, min=0),
    "seed": Param(int, None, "seed of the bank samples; default the suite's", nullable=True),
}


class Normaliser:
    """What the ranker and the retriever share: the banks, β per fold, the normalised rows."""

    params = PARAMS

    @classmethod
    def check_config(cls, params: dict, base_dir) -> list[tuple[str, str]]:
        found = []
        encoder = params.get("encoder")
        cls = getattr(encoder, "cls", None)
        # refused here, not when a cell runs: a retriever without vectors (bm25) cannot be normalised
        if cls is not None and not supports(cls, Embedder):
            found.append(("encoder", f"retriever {getattr(encoder, 'plugin', cls.__name__)!r} cannot hand out its "
                                     "vectors (no Embedder capability: embed_corpus, embed_queries); use a dense "
                                     "retriever such as \"dense\""))
        if params.get("tune"):
            source = params.get("query_bank", "")
            # stripped as the bank sources parse it: " folds:5 " is a valid bank
            kind, _, arg = str(source).strip().partition(":")
            if params.get("method") == "csls":
                found.append(("tune", "csls has no β to tune"))
            elif kind != "folds" or not arg.strip().isdigit() or int(arg) < 3:
                found.append(("tune", f"tuning needs query_bank = \"folds:<k>\" with k >= 3 (a fold to tune for, "
                                      f"one to tune on, one for the bank), got {source!r}"))
        return found

    def identity(self, ctx: Context) -> dict:
        ident = dict(super().identity(ctx))
        if ctx.collection is not None:  # the output depends on the bank: key the caches by it
            ident["bank"] = ctx.query_bank(self.query_bank, self.query_bank_size, self.seed, record=False).fingerprint
        return ident

    # -- making ready ----------------------------------------------------------------------

    def _prepare(self, collection, ctx: Context) -> None:
        encoder = encoder_for(ctx, self.encoder)
        ids, vectors = encoder.corpus(collection)
        if not ids:  # nothing to normalise: dis would fail on an empty argmax, the others return nothing
            raise ComponentError(f"{self.kind} 'dbnorm': the collection {collection.name!r} has no documents")
        self._columns = normalize.trec_columns(ids)  # ties in trec_eval's order: see normalize.py
        self._ids = [ids[i] for i in self._columns]
        self._column_of = {doc: i for i, doc in enumerate(self._ids)}
        self._docs = vectors[self._columns]
        self._bank = ctx.query_bank(self.query_bank, self.query_bank_size, self.seed)
        texts = list(self._bank.queries.values())
        self._bank_rows = {qid: i for i, qid in enumerate(self._bank.queries)}
        self._bank_vectors = encoder.queries(texts)
        self._gallery = self._sample_gallery(ctx)
        self._stats_cache: dict[tuple, object] = {}
        self._betas = self._tuned(collection, ctx) if self.tune else {}
        ctx.phase["dbnorm"] = {"method": self.method, "documents": len(self._ids), "bank": len(texts),
                               "gallery": len(self._gallery) if self._gallery is not None else None,
                               "betas": {str(k): v for k, v in self._betas.items()} or None}

    def _sample_gallery(self, ctx: Context):
        import numpy as np

        if self.method not in ("dualis", "dualdis"):
            return None
        n = len(self._ids)
        if n < 2:  # a document's gallery term leaves itself out: with one document its sum is empty (+inf)
            raise ComponentError(f"{self.kind} 'dbnorm': method {self.method!r} needs a gallery bank of at least 2 "
                                 f"documents; the collection has {n}")
        seed = ctx.seed if self.seed is None else self.seed
        if self.gallery_size is None or self.gallery_size >= n:
            return np.arange(n)
        # sampled over corpus order's ids, so the sample does not depend on the column order
        picked = random.Random(f"{seed}:gallery").sample(sorted(self._ids), self.gallery_size)
        return np.array(sorted(self._column_of[d] for d in picked), dtype=np.int64)

    # -- the banks' contributions, cached per (bank, β) --------------------------------------

    def _bank_of(self, qids: tuple[str, ...]):
        return self._bank_vectors[[self._bank_rows[q] for q in qids]]

    def _stats(self, bank_ids: tuple[str, ...], beta_q: float, beta_g: float) -> dict:
        """What ``normalized`` needs for one query bank (by its ids) and β pair; each part cached
        on what it depends on (tuning asks for many β pairs of few banks)."""
        if not bank_ids:
            raise ComponentError(f"{self.kind} 'dbnorm': a query has an empty bank")
        out: dict = {}
        if self.method == "csls":
            out["r_bank"] = self._cached(("r", bank_ids), lambda: normalize.mean_top_k(
                self._bank_of(bank_ids) @ self._docs.T, self.csls_k, axis=0))
            return out
        out["log_q"] = self._cached(("lse", bank_ids, beta_q), lambda: normalize.column_logsumexp(
            self._bank_of(bank_ids), self._docs, beta_q))
        if self.method in ("dualis", "dualdis"):
            out["log_g"] = self._cached(("gallery-lse", beta_g), lambda: normalize.column_logsumexp(
                self._docs[self._gallery], self._docs, beta_g, exclude=self._gallery))
        if self.method in ("dis", "dualdis"):
            active = self._cached(("active", bank_ids), lambda: normalize.activation_set(
                self._bank_of(bank_ids), self._docs, self.activation_k))
            if self.method == "dualdis":
                active = active | self._cached(("gallery-active",), lambda: normalize.activation_set(
                    self._docs[self._gallery], self._docs, self.activation_k, exclude=self._gallery))
            out["active"] = active
        return out

    def _cached(self, key: tuple, compute):
        if key not in self._stats_cache:
            self._stats_cache[key] = compute()
        return self._stats_cache[key]

    def _normalized(self, S, bank_ids, beta_q, beta_g):
        return normalize.normalized(self.method, S, beta_query=beta_q, beta_gallery=beta_g, csls_k=self.csls_k,
                                    **self._stats(bank_ids, beta_q, beta_g))

    # -- β per fold -------------------------------------------------------------------------

    def _tuned(self, collection, ctx: Context) -> dict:
        """{fold (None: queries in no fold): (β_q, β_g)}, each chosen on the other folds."""
        folds = self._bank.folds if self._bank.folds else ()
        if len(folds) < 3:
            raise ComponentError(f"{self.kind} 'dbnorm': tune needs query_bank = \"folds:<k>\" with k >= 3, "
                                 f"got {self.query_bank!r}")
        grid = sorted(set(self.tune))
        pairs = list(itertools.product(grid, grid if self.method in ("dualis", "dualdis") else [self.beta_gallery]))
        rows = {q: i for i, q in enumerate(self._bank.queries)}
        S_all = self._similarities(self._bank_vectors)
        chosen, record = {}, {}
        for target in [*range(len(folds)), None]:
            best = None
            plan = self.tuning_plan(target, collection.qrels)
            for beta_q, beta_g in pairs:
                total = count = 0
                for tuning, bank_ids in plan:
                    scores = self._normalized(S_all[[rows[q] for q in tuning]], bank_ids, beta_q, beta_g)
                    gains = [{self._column_of[d]: float(v) for d, v in collection.qrels[q].items()
                              if v > 0 and d in self._column_of} for q in tuning]
                    total += normalize.ndcg_at(scores, gains) * len(tuning)  # weighted by queries
                    count += len(tuning)
                score = total / count if count else 0.0
                if best is None or score > best[0] + 1e-12:  # ties: the smaller β (the grid's order)
                    best = (score, beta_q, beta_g)
            chosen[target] = (best[1], best[2])
            record[str(target)] = {"beta_query": best[1], "beta_gallery": best[2], "nDCG@10": round(best[0], 6)}
        ctx.phase["tuning"] = record
        return chosen

    def tuning_plan(self, target: int | None, qrels: dict) -> list[tuple[list[str], tuple[str, ...]]]:
        """How β is chosen for the queries of fold ``target`` (None: queries in no fold): per
        other fold, its judged queries and the bank they are normalised with, which holds
        neither their fold (``for_query``) nor the target fold."""
        bank = self._bank
        # The target fold's texts, compared as the SDK's banks compare them for leaks (whitespace
        # collapsed, case folded): a query of another fold with the same text as one of the target
        # fold's must not sit in a bank that chooses the target fold's β.
        leaked = set() if target is None else {" ".join(bank.queries[q].split()).casefold()
                                               for q in bank.folds[target]}
        plan = []
        for fold, members in enumerate(bank.folds):
            if fold == target:
                continue
            tuning = [q for q in members if any(g > 0 for g in qrels.get(q, {}).values())]
            if tuning:
                others = tuple(b for b, text in bank.for_query(tuning[0]).queries.items()
                               if bank.fold_of(b) != target and " ".join(text.split()).casefold() not in leaked)
                plan.append((tuning, others))
        return plan

    def _betas_for(self, qid: str) -> tuple[float, float]:
        if not self._betas:
            return self.beta_query, self.beta_gallery
        return self._betas[self._bank.fold_of(qid)]

    # -- scoring ----------------------------------------------------------------------------

    def _rows(self, queries: Mapping[str, str], ctx: Context):
        """{qid: normalised scores over every document (in ``self._ids`` order)}."""
        qids = list(queries)
        if not qids:
            return {}
        vectors = encoder_for(ctx, self.encoder).queries([queries[q] for q in qids])
        S = self._similarities(vectors)
        place = {qid: i for i, qid in enumerate(qids)}
        out = {}
        for (bank_ids, beta_q, beta_g), members in self.query_plan(qids).items():
            normalised = self._normalized(S[[place[q] for q in members]], bank_ids, beta_q, beta_g)
            out.update(zip(members, normalised, strict=True))
        return out

    def _similarities(self, vectors):
        """s(q, ·) for each row of ``vectors``, one matrix-vector product per row in float64: a
        float32 matrix product rounds a row differently with the rows batched with it (BLAS
        blocking), and β amplifies that into scores that change with which queries were asked
        together (found by test_adversarial.py)."""
        import numpy as np

        docs = self._docs.astype(np.float64)
        out = np.empty((len(vectors), len(docs)))
        for row, vector in enumerate(vectors.astype(np.float64)):
            out[row] = docs @ vector
        return out

    def query_plan(self, qids) -> dict[tuple, list[str]]:
        """The queries grouped by what normalises them: {(bank ids, β_q, β_g): [qid, ...]}; the
        bank is ``for_query``'s (for folds: the other folds), β the query's fold's."""
        groups: dict[tuple, list[str]] = {}
        for qid in qids:
            groups.setdefault((tuple(self._bank.for_query(qid).queries), *self._betas_for(qid)), []).append(qid)
        return groups


def _single(values):
    """Scores as single-precision values held in float64: what trec_eval compares, so the order
    the run is sorted in is the order trec_eval reads."""
    import numpy as np

    with np.errstate(over="ignore"):
        out = values.astype(np.float32).astype(np.float64)
    if not np.isfinite(out).all():
        # β·s beyond single precision (β ≈ 1e38), or vectors so large their dot products overflow:
        # said here, not as the Run's ValueError about one score
        raise ComponentError("dbnorm: normalised scores are not finite in single precision: beta_query or "
                             "beta_gallery (or the encoder's vectors) too large")
    return out


class DBNorm(Normaliser, Ranker):
    """DBNorm: a first stage's candidates reordered by dense similarities normalised with query and gallery banks."""

    name = "dbnorm"
    publishes = ()

    def prepare(self, collection, ctx: Context) -> None:
        self._prepare(collection, ctx)

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        unknown = [qid for qid in candidates if qid not in queries]
        if unknown:  # a KeyError traceback otherwise
            raise ComponentError(f"ranker 'dbnorm': the candidates hold query {unknown[0]!r}, which is not among the "
                                 "queries given")
        asked = {qid: queries[qid] for qid in candidates if candidates[qid]}
        rows = self._rows(asked, ctx)
        out = {}
        for qid, row in rows.items():
            docs = list(candidates[qid])
            missing = [d for d in docs if d not in self._column_of]
            if missing:
                raise ComponentError(f"ranker 'dbnorm': candidate {missing[0]!r} of query {qid!r} is not a document "
                                     "of the collection")
            scores = _single(row[[self._column_of[d] for d in docs]])
            out[qid] = dict(zip(docs, scores.tolist(), strict=True))
        return Run.from_scores(out)


class DBNormRetriever(Normaliser, Retriever):
    """DBNorm over the whole collection: the top k by dense similarities normalised with query and gallery banks."""

    name = "dbnorm"
    publishes = ()

    def index(self, collection, ctx: Context) -> None:
        self._prepare(collection, ctx)

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        import numpy as np

        rows = self._rows(queries, ctx)
        qids = list(rows)
        if not qids:
            return Run.from_scores({q: {} for q in queries})
        scores = _single(np.stack([rows[q] for q in qids]))
        k = min(k, scores.shape[1])
        # stable: equal scores keep the column order, document id descending (trec_eval's)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return Run.from_topk(qids, self._ids, order, np.take_along_axis(scores, order, axis=1))
