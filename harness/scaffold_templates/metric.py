"""``harness new-plugin --kind metric``: success at k, 1 when a relevant document is retrieved."""

SUMMARY = "Success: 1 when a relevant document is retrieved within the cutoff, else 0"
DEPENDENCIES: list[str] = []
CONFIG = '''\
    specs = [  # the suite names to check: the family alone, with a cutoff, with a parameter
        "$name",
        "$name@5",
        "$name(rel=2)@10",
    ]
'''
PARAMETERS = (
    "Written `$name` (the whole ranking), `$name@10` (the first 10) or `$name(rel=2)@10` "
    "(grade 2 or more counts as relevant; default 1)."
)
SUITE = '''\
metrics = ["nDCG@10", "$name@10", "$name(rel=2)@10"]'''
EXTRA_FILES: dict[str, str] = {}

COMPONENT = '''\
"""The ``$name`` metric family.

$summary.

Replace the formula with your own and keep the contract (the harness's docs/plugins.md,
"Metric"): ``run`` holds exactly the queries to average over, each ranking in trec_eval's
order (an empty one for a query without results); return one value per query and their mean.
"""

from __future__ import annotations

from harness.sdk import Context, Metric, MetricValue, Param, Run


class $cls(Metric):
    """$summary."""

    name = "$name"
    params = {
        # `@k` in a suite's metric name sets `cutoff`
        "cutoff": Param(int, None, "rank cutoff (the number after @); none: the whole ranking", nullable=True, min=1),
        "rel": Param(int, 1, "minimum grade counted relevant", min=1),
    }
    cutoff_rule = "optional"  # the family alone and with a cutoff (@10) are both valid
    upper_bound = 1.0

    def evaluate(self, qrels: dict, run: Run, ctx: Context) -> MetricValue:
        per_query = {}
        for qid, docs in run.items():
            judged = qrels.get(qid, {})
            top = list(docs)[: self.cutoff] if self.cutoff else list(docs)
            per_query[qid] = 1.0 if any(judged.get(doc, 0) >= self.rel for doc in top) else 0.0
        # summed in query-id order, as trec_eval sums
        mean = sum(per_query[q] for q in sorted(per_query)) / len(per_query) if per_query else 0.0
        return MetricValue(mean, per_query)
'''
