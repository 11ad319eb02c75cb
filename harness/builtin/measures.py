"""The built-in quality metrics, computed exactly as trec_eval computes them.

Every family but ``Judged`` is delegated to pytrec_eval (trec_eval's own C code), called directly
rather than through ir_measures: its Python providers for ``RR@k`` and ``Judged`` re-sort every
ranking, which makes a 5,000-query × 1,000-document evaluation with them cost 3.2 to 3.4 times as
much (measured), and they break score ties by ascending document id, where trec_eval takes the
descending one. Here instead:

* ``RR@k`` is pytrec_eval's ``recip_rank`` where that is at least 1/k (the first relevant
  document within the first k, in trec_eval's own order), else 0: the value ``recip_rank`` gives
  on each query's first k documents, without cutting the run;
* ``Judged@k`` is computed here, with ir_measures' definition, on the run's own order, which
  ``Run`` reads exactly as trec_eval's (see ``harness/ranking.py``).

All families share one ``evaluate_batch``: one pytrec_eval evaluator per distinct (``rel``,
``judged_only``), so a suite's metrics cost one pass over the run, which pytrec_eval gets as
``Run._trec_input`` makes it (the scores as given, or rank-encoded). docs/metrics.md has the
details.
"""

from __future__ import annotations

from itertools import islice
from typing import ClassVar

from ..components import Context, Metric, MetricValue
from ..hookspecs import hookimpl
from ..params import Param
from ..ranking import Run

CUTOFF = Param(int, None, nullable=True, min=1, help="rank cutoff k (the number after @)")
# pytrec_eval refuses a relevance level below 1.
REL = Param(int, 1, min=1, help="minimum grade counted relevant (trec_eval -l)")
JUDGED_ONLY = Param(
    bool, False, help="drop unjudged documents from each ranking first (trec_eval -J)"
)


def trec_mean(per_query: dict[str, float]) -> float:
    """trec_eval's ``all``: the values summed in its query order (ids sorted as strings), divided
    by their number; summing in that order reproduces its last bit too."""
    return sum(per_query[q] for q in sorted(per_query)) / len(per_query) if per_query else 0.0


class TrecEvalMetric(Metric):
    """Base of the built-in families; see the module docstring."""

    # pytrec_eval's measure without a cutoff, and its name with one ("map", "map_cut" → map_cut.10).
    # A family pytrec_eval cannot cut (recip_rank) is cut by truncating the run instead.
    measure: ClassVar[str] = ""
    cut_measure: ClassVar[str | None] = None

    def request(self) -> str:
        """The measure as pytrec_eval is asked for it: ``map``, ``map_cut.10``."""
        cutoff = self.config.get("cutoff")
        return f"{self.cut_measure}.{cutoff}" if cutoff and self.cut_measure else self.measure

    def truncation(self) -> int | None:
        """The depth the run is cut to first, for a cutoff pytrec_eval cannot apply itself."""
        return None if self.cut_measure else self.config.get("cutoff")

    @classmethod
    def evaluate_batch(
        cls, metrics: list[Metric], qrels: dict, run: Run, ctx: Context
    ) -> dict[str, MetricValue]:
        groups: dict[tuple[int, bool], list[TrecEvalMetric]] = {}
        values: dict[str, dict[str, float]] = {}
        for m in metrics:
            if isinstance(m, Judged):
                values[m.label] = m.judged_rates(qrels, run)
            else:
                key = (m.config.get("rel", 1), m.config.get("judged_only", False))
                groups.setdefault(key, []).append(m)
        data = run._trec_input(qrels) if groups else None
        negative = negative_queries(qrels) if groups else None
        for (rel, judged_only), group in groups.items():
            values.update(_pytrec_eval(group, qrels, run, data, rel, judged_only, negative))
        return {m.label: MetricValue(trec_mean(values[m.label]), values[m.label]) for m in metrics}


# The measures whose value trec_eval gives a query with an empty ranking, or with no judgment of
# grade >= 0, is 0: each is a sum over retrieved relevant documents (or gains) divided by
# something, and such a query retrieves no relevant document (a negatively judged document is
# "unjudged in pool" to trec_eval, never relevant, and gains nothing in nDCG). Measures that are
# counts (num_rel, num_ret, ...) are not here: they are not 0 on such queries.
ZERO_WITHOUT_RELEVANT = frozenset({"map", "map_cut", "ndcg", "ndcg_cut", "P", "recall", "recip_rank", "Rprec",
                                   "bpref", "success", "set_P", "set_recall", "set_map", "set_F", "Rprec_mult"})


def unsafe_queries(qrels: dict, ranking: dict, negative: set[str] | None = None) -> list[str]:
    """The queries of ``ranking`` that pytrec_eval must not be given: those with an empty ranking,
    and those whose every judgment is negative (``negative``, when computed already).

    trec_eval keeps per-query buffers in static variables across queries and evaluators. For the
    first such query in a process it fails to allocate them (a request for 0 elements returns
    NULL), and a second measure on the same query then reads the cached NULL: pytrec_eval
    segfaults (``map`` with ``bpref`` on an empty ranking). Later on, a query with only negative
    judgments reuses the previous query's relevance levels (its count of levels is never reset),
    read from a freed buffer: nDCG can then loop for ever. Their values are known without
    trec_eval (``ZERO_WITHOUT_RELEVANT``), so they are computed here instead."""
    if negative is None:
        negative = negative_queries(qrels)
    return [q for q, docs in ranking.items() if not docs or q in negative]


def negative_queries(qrels: dict) -> set[str]:
    """Queries with judgments, all of them negative (no grade >= 0)."""
    return {q for q, judged in qrels.items() if judged and max(judged.values()) < 0}


def _pytrec_eval(
    metrics: list[TrecEvalMetric], qrels: dict, run: Run, data: dict, rel: int, judged_only: bool,
    negative: set[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per-query values of ``metrics`` (label → qid → value), sharing evaluators; ``data`` is the
    run as pytrec_eval takes it (``run._trec_input(qrels)``); ``negative``: ``negative_queries``.
    Queries pytrec_eval would crash or hang on (``unsafe_queries``) get their values here."""
    import pytrec_eval  # imports numpy: loaded only when something is evaluated

    if negative is None:
        negative = negative_queries(qrels)

    def evaluate(measures: set[str], ranking: dict) -> dict:
        unsafe = unsafe_queries(qrels, ranking, negative)
        if unsafe:
            direct = {m.replace(".", "_") for m in measures}
            unknown = sorted(m for m in measures if m.split(".")[0] not in ZERO_WITHOUT_RELEVANT)
            if unknown:
                raise ValueError(f"pytrec_eval cannot evaluate {', '.join(unknown)} safely on {len(unsafe)} "
                                 f"quer{'y' if len(unsafe) == 1 else 'ies'} with an empty ranking or only negative "
                                 f"judgments (e.g. {unsafe[0]!r}), and its value there is not known to be 0")
            skip = set(unsafe)
            given, ranking = ranking, {q: docs for q, docs in ranking.items() if q not in skip}
        out = _evaluate(measures, ranking) if ranking else {}
        if not unsafe:
            return out
        for qid in unsafe:
            if qid in qrels:  # pytrec_eval answers only for judged queries
                out[qid] = dict.fromkeys(direct, 0.0)
        return {q: out[q] for q in given if q in out}  # in the run's order, as pytrec_eval answers

    def _evaluate(measures: set[str], ranking: dict) -> dict:
        evaluator = pytrec_eval.RelevanceEvaluator(
            qrels, measures, relevance_level=rel, judged_docs_only_flag=judged_only
        )
        try:
            return evaluator.evaluate(ranking)
        except TypeError:  # ids or scores of a type it refuses (an int id, a Fraction): as read
            scores = run.scores
            if ranking is scores:
                raise
            return evaluator.evaluate({q: scores.get(q, {}) for q in ranking})

    out: dict[str, dict[str, float]] = {}
    requests: dict[str, tuple[str, int | None]] = {}  # label → (measure asked, RR's cutoff)
    truncated = []
    for m in metrics:
        cut = m.truncation()
        if cut is None:
            requests[m.label] = (m.request(), None)
        elif m.measure == "recip_rank":
            requests[m.label] = (m.measure, cut)
        else:
            truncated.append(m)
    if requests:
        results = evaluate({request for request, _ in requests.values()}, data)
        for label, (request, cut) in requests.items():
            key = request.replace(".", "_")  # pytrec_eval reports P.10 as P_10
            if cut is None:
                out[label] = {q: v[key] for q, v in results.items()}
            else:
                out[label] = {q: _within(v[key], cut) for q, v in results.items()}
    for m in truncated:  # a family pytrec_eval cannot cut but RR: evaluated on the first k
        results = evaluate({m.measure}, _heads(run, m.truncation(), qrels if judged_only else None))
        out[m.label] = {q: v[m.measure] for q, v in results.items()}
    return out


def _within(rr: float, k: int) -> float:
    """RR@k from RR: trec_eval's ``1.0 / rank`` when rank <= k, else 0 (what ``recip_rank`` gives
    on the first k documents: the same rank, -J's filter included, as the same double)."""
    return rr if rr > 0 and round(1 / rr) <= k else 0.0


def _heads(run: Run, k: int, judged: dict | None) -> dict[str, dict[str, float]]:
    """Each query's first k documents in trec_eval's order; with ``judged``, the first k of those
    trec_eval -J keeps (judged with a grade >= 0), so the cutoff applies after -J's filter."""
    if judged is None:
        return {q: dict(islice(docs.items(), k)) for q, docs in run.items()}
    out = {}
    for q, docs in run.items():
        grades = judged.get(q, {})
        out[q] = dict(islice(((d, s) for d, s in docs.items() if grades.get(d, -1) >= 0), k))
    return out


class AP(TrecEvalMetric):
    """Average precision (trec_eval map, map_cut.k).

    The mean, over the query's relevant documents, of the precision at each one's rank (0 for
    those not retrieved, or not within the cutoff).
    """

    name = "AP"
    params = {"cutoff": CUTOFF, "rel": REL, "judged_only": JUDGED_ONLY}
    measure, cut_measure = "map", "map_cut"


class nDCG(TrecEvalMetric):
    """Normalised discounted cumulative gain (trec_eval ndcg, ndcg_cut.k).

    DCG with gain = grade (negative grades gain 0) and discount log2(rank + 1), divided by the DCG
    of the ideal ranking of the judged documents. Grades are gains, so there is no ``rel``.
    """

    name = "nDCG"
    params = {"cutoff": CUTOFF, "judged_only": JUDGED_ONLY}
    measure, cut_measure = "ndcg", "ndcg_cut"


class P(TrecEvalMetric):
    """Precision at k (trec_eval P.k).

    Relevant documents among the first k, divided by k (missing ranks count as not relevant).
    """

    name = "P"
    params = {"cutoff": CUTOFF, "rel": REL, "judged_only": JUDGED_ONLY}
    cutoff_rule = "required"
    measure, cut_measure = "P", "P"


class R(TrecEvalMetric):
    """Recall at k (trec_eval recall.k).

    Relevant documents among the first k, divided by the number of relevant documents judged.
    """

    name = "R"
    params = {"cutoff": CUTOFF, "rel": REL, "judged_only": JUDGED_ONLY}
    cutoff_rule = "required"
    measure, cut_measure = "recall", "recall"


class RR(TrecEvalMetric):
    """Reciprocal rank of the first relevant document (trec_eval recip_rank).

    1 / rank of the first relevant document; 0 when none is retrieved (within the cutoff).
    """

    name = "RR"
    params = {"cutoff": CUTOFF, "rel": REL, "judged_only": JUDGED_ONLY}
    measure = "recip_rank"


class Rprec(TrecEvalMetric):
    """Precision at rank R, R being the number of relevant documents (trec_eval Rprec)."""

    name = "Rprec"
    params = {"rel": REL, "judged_only": JUDGED_ONLY}
    cutoff_rule = "none"
    measure = "Rprec"


class Bpref(TrecEvalMetric):
    """Binary preference, robust to unjudged documents (trec_eval bpref).

    Each relevant document retrieved adds 1 - min(n, R) / min(R, N), n being the judged
    non-relevant documents ranked above it; the sum is divided by R, the number of relevant
    documents. N counts the judged non-relevant documents (0 <= grade < rel); unjudged and
    negatively judged documents are ignored.
    """

    name = "Bpref"
    params = {"rel": REL}
    cutoff_rule = "none"
    measure = "bpref"


class Judged(TrecEvalMetric):
    """Share of the top k documents that have a judgment (ir_measures Judged@k).

    Documents judged with any grade (negative ones included) among the first min(k, retrieved)
    documents, divided by that number; the whole ranking without a cutoff; 0 for an empty
    ranking. Computed here: pytrec_eval has no such measure.
    """

    name = "Judged"
    params = {"cutoff": CUTOFF}

    def judged_rates(self, qrels: dict, run: Run) -> dict[str, float]:
        out = {}
        for q, head in (run.truncate(self.cutoff) if self.cutoff else run).items():
            grades = qrels.get(q)
            if grades:  # the queries pytrec_eval evaluates: in the run and judged
                out[q] = sum(d in grades for d in head) / len(head) if head else 0.0
        return out


FAMILIES = [AP, nDCG, P, R, RR, Rprec, Bpref, Judged]

# -- other tools' names (docs/metrics.md, "Aliases") --------------------------------------------------
# Each name below computes exactly the value of the family it names: a suite may write it, and the
# metric is recorded under the family's canonical label (``Recall@100`` → ``R@100``). Resolved by
# ``harness.metrics.parse_metric`` after the installed families' own names, and in any letter case.

# Names written like a family (a cutoff after @, parameters in parentheses): ir_measures' own aliases
# (MAP, NDCG, Precision, Recall, MRR, RPrec, BPref) and trec_eval's measures without a cutoff.
ALIASES: dict[str, str] = {
    "MAP": "AP",  # ir_measures
    "map": "AP",  # trec_eval map (over the whole ranking; map@k is map_cut.k)
    "NDCG": "nDCG",  # ir_measures
    "ndcg": "nDCG",  # trec_eval ndcg: no cutoff (ndcg_cut.k has one)
    "Precision": "P",  # ir_measures
    "Recall": "R",  # ir_measures
    "MRR": "RR",  # ir_measures; MRR@10 is RR@10
    "recip_rank": "RR",  # trec_eval
    "RPrec": "Rprec",  # ir_measures
    "BPref": "Bpref",  # ir_measures
    "bpref": "Bpref",  # trec_eval
}

# trec_eval's measures with a cutoff, written name_k or name.k (trec_eval's and pytrec_eval's
# spellings) or name@k: the family at cutoff k. Without a cutoff they name a set of cutoffs in
# trec_eval (P: P.5 to P.1000), so there they are refused, saying what to write.
TREC_CUT: dict[str, str] = {"map_cut": "AP", "ndcg_cut": "nDCG", "P": "P", "recall": "R"}

# ir_measures and trec_eval measures that no built-in family computes (name → the tool): said so in the
# error instead of a did-you-mean (which would point at a different measure: gm_map is not map, success_1 not P@1).
NO_EQUIVALENT: dict[str, str] = {
    **dict.fromkeys(["ERR", "nERR_IA", "ERR_IA", "NERR8", "NERR9", "NERR10", "NERR11", "Success",
                     "NumRel", "NumRet", "NumRelRet", "NumQ", "SetP", "SetRelP", "SetR", "SetF", "SetAP", "IPrec",
                     "RBP", "SDCG", "alpha_nDCG", "alpha_DCG", "NRBP", "nNRBP", "AP_IA", "MAP_IA", "P_IA",
                     "StRecall", "BPM", "INST", "INSQ", "Compat", "Accuracy"], "ir_measures"),
    **dict.fromkeys(["num_q", "num_ret", "num_rel", "num_rel_ret", "num_nonrel_judged_ret", "gm_map", "gm_bpref",
                     "Rprec_mult", "iprec_at_recall", "11pt_avg", "success", "set_P", "set_recall", "set_map",
                     "set_F", "set_relative_P", "relative_P", "utility", "binG", "G", "ndcg_rel", "Rndcg",
                     "relstring", "runid"], "trec_eval"),
    "infAP": "ir_measures and trec_eval",
}


@hookimpl
def harness_metrics():
    return FAMILIES
