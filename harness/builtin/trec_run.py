"""``trec-run``: a retriever that replays a TREC run file.

Rerankers can then be compared over one fixed first stage (a shared BM25 top-100, say), as BEIR
users do. The file is read as trec_eval reads it; each query keeps its first k documents in
trec_eval's order. Queries absent from the file get no results (and score 0 in every metric).
A file may name queries or documents the collection lacks (a run made on another version of it):
the class declares ``foreign_ids = "drop"``, so the runner drops and counts those (the stage
record's ``foreign``) instead of failing the cell (harness/contracts.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..components import Context, Retriever
from ..hookspecs import hookimpl
from ..params import Param
from ..ranking import Run
from ..trecfiles import read_file_bytes, read_run


class TrecRunRetriever(Retriever):
    """Replays a TREC run file as the first stage."""

    name = "trec-run"
    publishes = ()
    foreign_ids = "drop"  # someone else's file: unknown ids are dropped and counted (contracts.py)
    params = {
        "path": Param(str, help="TREC run file; relative paths start at the suite file's folder"),
    }

    def identity(self, ctx: Context) -> dict:
        # Missing, a folder or a named pipe (which would block) raises TrecFormatError naming it.
        data = read_file_bytes(ctx.resolve_path(self.path))
        return {**self.config, "sha256": hashlib.sha256(data).hexdigest()}

    def index(self, collection, ctx: Context) -> None:
        self._run = read_run(ctx.resolve_path(self.path))

    def retrieve(self, queries: Mapping[str, str], k: int, ctx: Context) -> Run:
        return Run({q: dict(list(self._run[q].items())[:k]) for q in queries if q in self._run})


@hookimpl
def harness_retrievers():
    return [TrecRunRetriever]
