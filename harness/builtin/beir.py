"""``beir``: a folder in the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""

from __future__ import annotations

import re
from pathlib import Path

from ..collection import Collection
from ..components import Context, DatasetProvider
from ..datasets import DatasetError
from ..params import Param, did_you_mean
from .files import jsonl_docs, jsonl_queries, lines, plain_or_gz


class BeirProvider(DatasetProvider):
    """A folder in the BEIR layout: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""

    name = "beir"
    source_param = "path"
    params = {
        "path": Param(str, help="the folder; relative paths start at the suite file's folder"),
        "split": Param(str, "test", help="which qrels/<split>.tsv to evaluate"),
    }

    def load(self, ctx: Context) -> Collection:
        folder = ctx.resolve_path(self.path)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder")
        split_files = {
            m.group(1): p
            for p in sorted((folder / "qrels").glob("*"))
            if (m := _SPLIT_FILE.fullmatch(p.name)) and p.is_file()
        }
        if self.split not in split_files:
            hint = did_you_mean(self.split, split_files)
            raise DatasetError(
                f"no split {self.split!r} in {folder / 'qrels'}{hint}; "
                f"available: {', '.join(split_files) or 'none'}"
            )
        qrels = _beir_qrels(split_files[self.split])
        # queries.jsonl holds the queries of every split (MS MARCO's 500k training queries with
        # its dev ones): keep this split's queries and the unjudged ones, as CISI has.
        elsewhere = {
            qid for name, p in split_files.items() if name != self.split for qid in _beir_qrels(p)
        }
        queries = jsonl_queries(plain_or_gz(folder / "queries.jsonl"), ("_id",), ("text",))
        queries = {q: text for q, text in queries.items() if q in qrels or q not in elsewhere}
        docs = jsonl_docs(plain_or_gz(folder / "corpus.jsonl"), ("_id",), ("text",))
        return Collection(folder.name, docs, queries, qrels, metadata={"split": self.split})

    def split_params(self, split: str) -> dict:
        """The same folder's ``qrels/<split>.tsv`` (a query bank's ``split:<name>``)."""
        return {**self.config, "split": split}


_SPLIT_FILE = re.compile(r"(.+)\.tsv(?:\.gz)?")


def _beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id<TAB>corpus-id<TAB>score`` lines; the first is a header unless its score is an
    integer."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in lines(path):
        if not line.strip():
            continue
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) != 3:
            raise DatasetError(
                f"{path}:{number}: expected 3 tab-separated columns 'query-id corpus-id score', "
                f"got {len(cols)}"
            )
        qid, docid, score = cols
        try:
            grade = int(score)
        except ValueError:
            if number == 1:
                continue
            raise DatasetError(f"{path}:{number}: score {score!r} is not an integer") from None
        docs = qrels.setdefault(qid, {})
        if docs.get(docid, grade) != grade:
            twice = f"query {qid!r}, document {docid!r} judged twice ({docs[docid]} and {grade})"
            raise DatasetError(f"{path}:{number}: {twice}")
        docs[docid] = grade
    return qrels




# The query text each topic_field takes, by SGML tag.
