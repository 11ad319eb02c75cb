"""Components that ship with the core, registered through the same hooks as any plugin.

* ``datasets``: dataset providers ``irds``, ``beir``, ``trec``;
* ``measures``: the trec_eval quality measures (AP, nDCG, P, R, RR, Rprec, Bpref, Judged);
* ``trec_run``: the ``trec-run`` retriever, which replays a TREC run file;
* ``exact``: ``ExactRecall@k``, recall of a reference retriever's exact top k (harness/exact.py).
"""
