"""``irds``: a dataset from ir_datasets by id."""

from __future__ import annotations

import contextlib
import logging
import os

from ..collection import Collection, Document
from ..components import Context, DatasetProvider
from ..datasets import DatasetError
from ..params import Param, did_you_mean


class IrdsProvider(DatasetProvider):
    """A dataset from ir_datasets by id, downloaded on first use and cached in IR_DATASETS_HOME."""

    name = "irds"
    source_param = "id"
    params = {"id": Param(str, help="ir_datasets id, e.g. 'cranfield' or 'beir/scifact/test'")}

    def load(self, ctx: Context) -> Collection:
        ir_datasets = _import()  # reads IR_DATASETS_HOME now, on first import
        with ctx.progress.task(f"ir_datasets {self.id}"), _quiet(ir_datasets):
            dataset = _lookup(ir_datasets, self.id)
            try:
                docs = ctx.documents(
                    Document(d.doc_id, _irds_text(d), getattr(d, "title", "") or "")
                    for d in dataset.docs_iter()
                )
                queries = {q.query_id: _irds_text(q) for q in dataset.queries_iter()}
                qrels = _qrels(dataset)
            except Exception as exc:
                if "download" not in str(exc).lower():
                    raise
                raise DatasetError(_download_help(self.id, exc)) from exc
        metadata = {"ir_datasets": ir_datasets.__version__}
        return Collection(self.id, docs, queries, qrels, metadata=metadata)

    def split_params(self, split: str) -> dict:
        """Another split's id (a query bank's ``split:<name>``): this id with its last segment
        replaced (``beir/scifact/test`` → ``beir/scifact/train``), ``/<name>`` appended to an id
        without one; a name holding a ``/`` is a whole id."""
        if "/" in split:
            return {"id": split}
        parent = self.id.rsplit("/", 1)[0] if "/" in self.id else self.id
        return {"id": f"{parent}/{split}"}


def irds_qrels(dataset_id: str) -> tuple[dict[str, dict[str, int]], str]:
    """The qrels alone of an ir_datasets id, as ``{qid: {docid: grade}}`` with ir_datasets' raw
    grades, and ir_datasets' version (``harness eval irds:<id> RUN``). Only the qrels are read (no
    documents); ir_datasets downloads them on first use into IR_DATASETS_HOME. Unknown ids,
    ids without qrels and failed downloads raise ``DatasetError``, as the provider's."""
    ir_datasets = _import()
    with _quiet(ir_datasets):
        dataset = _lookup(ir_datasets, dataset_id, ("qrels",))
        try:
            qrels = _qrels(dataset)
        except Exception as exc:
            if "download" not in str(exc).lower():
                raise
            raise DatasetError(_download_help(dataset_id, exc)) from exc
    return qrels, ir_datasets.__version__


def _import():
    try:
        import ir_datasets  # reads IR_DATASETS_HOME now, on first import
    except ImportError:
        raise DatasetError("needs ir_datasets: pip install ir_datasets") from None
    return ir_datasets


def _qrels(dataset) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for row in dataset.qrels_iter():
        qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.relevance)
    return qrels


_PARTS = {"documents": "has_docs", "queries": "has_queries", "qrels": "has_qrels"}


def _lookup(ir_datasets, dataset_id: str, parts: tuple[str, ...] = tuple(_PARTS)):
    """The dataset of ``dataset_id``, which must have each of ``parts``."""
    try:
        dataset = ir_datasets.load(dataset_id)
    except KeyError:
        hint = did_you_mean(dataset_id, list(ir_datasets.registry))
        raise DatasetError(
            f"unknown ir_datasets id {dataset_id!r}{hint}; see https://ir-datasets.com for the ids"
        ) from None
    missing = [part for part in parts if not getattr(dataset, _PARTS[part])()]
    if missing:
        subsets = [i for i in ir_datasets.registry if i.startswith(dataset_id + "/")][:5]
        hint = f"; choose a subset such as {', '.join(subsets)}" if subsets else ""
        raise DatasetError(f"ir_datasets id {dataset_id!r} has no {', '.join(missing)}{hint}")
    return dataset


def _irds_text(record) -> str:
    return record.text if hasattr(record, "text") else record.default_text()


@contextlib.contextmanager
def _quiet(ir_datasets):
    """Keep ir_datasets' logger to errors: it logs each step and download retry to stderr, and
    its failures reach the user as a ``DatasetError`` anyway."""
    # Its logger is set to INFO when first created; create it now so our level sticks.
    logger = ir_datasets.log.easy().logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download_help(dataset_id: str, exc: Exception) -> str:
    reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    home = os.environ.get("IR_DATASETS_HOME") or "~/.ir_datasets"
    return (
        f"ir_datasets could not get the files of {dataset_id!r} ({reason}; no network?). Load it "
        f"once where there is network access and copy its cache folder into IR_DATASETS_HOME "
        f"({home}); ir_datasets reads that variable when first imported, so set it before "
        "starting the harness (see docs/datasets.md, offline use)"
    )
