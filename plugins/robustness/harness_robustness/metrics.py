"""``RankShift`` and ``RelSetChange``: how relevant documents move when the documents are perturbed.

Both re-run the cell's pipeline on a perturbed copy of the collection (perturb.py), through the
``pipeline`` artifact the runner provides (``rerun(collection) -> Run``: the same retriever and
ranker, fresh, with the suite's k), and compare, per query, where the relevant documents (grade >=
``rel``) rank in the cell's run and in the perturbed one, within the first ``cutoff`` ranks:

* ``RankShift@c``: the mean of |r − r'| over the query's relevant documents that rank within c in
  either run, a document beyond c (or not retrieved) counting as rank c + 1; 0 for a query with
  none. Lower is more robust; at most c.
* ``RelSetChange@c``: 1 when the set of relevant documents within the first c ranks changed, else
  0; averaged, the share of queries whose top-c relevant set changed.

Every judged query gets a value (a query without relevant documents: 0), as trec_eval -c averages.
Metrics of one suite with the same perturbation (``noise``, ``synonyms``, ``seed``) share one
rerun. Cost: a full run of the pipeline on the perturbed corpus (indexing included: for a dense
retriever that is encoding the corpus again), cached like any run under the perturbed corpus's
fingerprint, so a second run of the suite reads it from the cache.
"""

from __future__ import annotations

from harness.sdk import Context, Metric, MetricValue, Param, Run

from .perturb import perturb_collection

PIPELINE = "pipeline"


class Robustness(Metric):
    """Base of the robustness families: one rerun per perturbation serves all of them."""

    params = {
        "cutoff": Param(int, 10, "ranks compared (the number after @)", min=1),
        "noise": Param(float, 0.05, "probability that a letter is edited (deleted, doubled by an insertion, "
                       "swapped)", min=0, max=1),
        "synonyms": Param(float, 0.5, "probability that a word of the synonym list is replaced", min=0, max=1),
        "seed": Param(int, None, "seed of the perturbation (default: the suite's seed)", nullable=True),
        "rel": Param(int, 1, "minimum grade counted relevant", min=1),
    }
    cutoff_rule = "optional"
    requires = (PIPELINE,)

    @classmethod
    def evaluate_batch(cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context) -> dict[str, MetricValue]:
        if ctx.collection is None:
            raise ValueError("robustness metrics need the cell's collection (ctx.collection)")
        reruns, out = {}, {}
        for metric in metrics:
            seed = ctx.seed if metric.seed is None else metric.seed
            key = (metric.noise, metric.synonyms, seed)
            if key not in reruns:
                perturbed, counts = perturb_collection(ctx.collection, metric.noise, metric.synonyms, seed)
                rerun = ctx.artifacts[PIPELINE](perturbed, name="perturbed")
                reruns[key] = (rerun, {"noise": metric.noise, "synonyms": metric.synonyms, "seed": seed,
                                       **counts.as_dict()})
            perturbed_run, perturbation = reruns[key]
            per_query = {qid: metric.compare(qrels.get(qid, {}), docs, perturbed_run.scores.get(qid, {}))
                         for qid, docs in run.items()}
            mean = sum(per_query[q] for q in sorted(per_query)) / len(per_query) if per_query else 0.0
            out[metric.label] = MetricValue(mean, per_query, {"perturbation": perturbation})
        return out

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        return self.evaluate_batch([self], qrels, run, ctx)[self.label]

    def relevant_ranks(self, judged: dict[str, int], docs: dict[str, float]) -> dict[str, int]:
        """Ranks (1-based) of the relevant documents within the cutoff."""
        top = list(docs)[: self.cutoff]
        return {doc: rank for rank, doc in enumerate(top, 1) if judged.get(doc, 0) >= self.rel}

    def compare(self, judged: dict[str, int], original: dict[str, float], perturbed: dict[str, float]) -> float:
        raise NotImplementedError


class RankShift(Robustness):
    """Rank shift: the mean absolute change of relevant documents' ranks when the documents are perturbed."""

    name = "RankShift"
    params = {**Robustness.params, "cutoff": Param(int, 100, "ranks compared (the number after @); a relevant "
                                                   "document beyond them counts as rank cutoff + 1", min=1)}
    upper_bound = None  # the cutoff

    def compare(self, judged, original, perturbed):
        before, after = self.relevant_ranks(judged, original), self.relevant_ranks(judged, perturbed)
        moved = before.keys() | after.keys()
        if not moved:
            return 0.0
        beyond = self.cutoff + 1
        return sum(abs(before.get(d, beyond) - after.get(d, beyond)) for d in sorted(moved)) / len(moved)


class RelSetChange(Robustness):
    """Relevant-set change: 1 when the relevant documents within the cutoff differ after perturbing the documents."""

    name = "RelSetChange"
    upper_bound = 1.0

    def compare(self, judged, original, perturbed):
        return float(self.relevant_ranks(judged, original).keys() != self.relevant_ranks(judged, perturbed).keys())
