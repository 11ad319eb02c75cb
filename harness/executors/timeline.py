"""Which jobs of a run ran at the same time, anywhere in the cluster: the ``alongside`` list of every
cell result the Dask executor writes."""

from __future__ import annotations

import time


class Timeline:
    """When each job ran and where, to say which ran alongside which (start events come early,
    from the workers; a job's end comes with its reply)."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}

    def started(self, job: str, at: float, worker: dict) -> None:
        known = self.jobs.get(job)
        if known and known.get("start") is not None and known["start"] >= at:
            return  # the start event of an attempt whose reply came first: already complete here
        self.jobs[job] = {"start": at, "end": None, "worker": worker}

    def finished(self, job: str, start: float | None, end: float | None, worker: dict | None) -> None:
        """The job's reply came (``start``/``end`` from its worker), or it ended without one (its
        worker died): then it ran from its start event until now, as far as anyone knows."""
        if worker is None:
            known = self.jobs.get(job)
            if known and known.get("end") is None:
                known["end"] = time.time()
            return
        self.jobs[job] = {"start": start, "end": end, "worker": worker}

    def alongside(self, job: str) -> list[dict]:
        """Other jobs whose time overlapped ``job``'s last attempt: id, worker address and host."""
        me = self.jobs.get(job)
        if not me or me.get("start") is None:
            return []
        end = me["end"] if me["end"] is not None else float("inf")
        return [{"job": other, "worker": t["worker"]["address"], "host": t["worker"]["host"]}
                for other, t in sorted(self.jobs.items())
                if other != job and t.get("start") is not None and t["start"] < end
                and (t["end"] is None or t["end"] > me["start"])]
