"""``beir``: a folder in the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""

from __future__ import annotations

import re
from pathlib import Path

from ..collection import Collection
from ..components import Context, DatasetProvider
from ..datasets import DatasetError
from ..params import Param, did_you_mean
from .files import id_problem, jsonl_docs, jsonl_queries, lines, plain_or_gz


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
        qrels = read_beir_qrels(split_files[self.split])
        require_positive(split_files[self.split], qrels)
        # queries.jsonl holds the queries of every split (MS MARCO's 500k training queries with
        # its dev ones): keep this split's queries and the unjudged ones, as CISI has.
        elsewhere = {
            qid for name, p in split_files.items() if name != self.split for qid in read_beir_qrels(p)
        }
        queries = jsonl_queries(plain_or_gz(folder / "queries.jsonl"), ("_id",), ("text",))
        queries = {q: text for q, text in queries.items() if q in qrels or q not in elsewhere}
        docs = jsonl_docs(plain_or_gz(folder / "corpus.jsonl"), ("_id",), ("text",), ctx.documents)
        return Collection(folder.name, docs, queries, qrels, metadata={"split": self.split})

    def split_params(self, split: str) -> dict:
        """The same folder's ``qrels/<split>.tsv`` (a query bank's ``split:<name>``)."""
        return {**self.config, "split": split}


_SPLIT_FILE = re.compile(r"(.+)\.tsv(?:\.gz)?")


def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """A BEIR qrels file (``qrels/<split>.tsv``, plain or gzip-compressed) as ``{qid: {docid:
    grade}}``: the provider's reader, and ``harness eval``'s for BEIR qrels.

    ``query-id<TAB>corpus-id<TAB>score`` lines; the first is a header only when its score is
    words (ASCII letters, spaces, ``-``, ``_``: ``score``) and not a number's name (``NaN``,
    ``inf``); else it is a judgment, checked as any (``１`` or ``NaN`` there used to be skipped as a
    header). Scores are plain integers (``1_000`` is refused: Python reads it as 1000); ids hold
    no whitespace or control character. A byte order mark at the start is dropped, a carriage
    return but in a CRLF line end refused (``files.lines``). Problems raise ``DatasetError`` naming
    the file and line."""
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
        if not _INTEGER.fullmatch(score):
            if number == 1 and _HEADER_WORD.fullmatch(score) and score.lower() not in _NUMBER_NAMES:
                continue  # the header
            raise DatasetError(f"{path}:{number}: score {score!r} is not an integer")
        grade = int(score)
        for key, what in ((qid, "query id"), (docid, "corpus id")):
            problem = id_problem(key, what)
            if problem:
                raise DatasetError(f"{path}:{number}: {problem}")
        docs = qrels.setdefault(qid, {})
        if docs.get(docid, grade) != grade:
            twice = f"query {qid!r}, document {docid!r} judged twice ({docs[docid]} and {grade})"
            raise DatasetError(f"{path}:{number}: {twice}")
        docs[docid] = grade
    return qrels


_INTEGER = re.compile(r"[+-]?[0-9]+")
# A header's score column: a word ("score", "relevance"); what merely holds no ASCII digit ("１",
# "NaN") is a judgment to check, not a header to skip.
_HEADER_WORD = re.compile(r"[A-Za-z][A-Za-z _-]*")
_NUMBER_NAMES = {"nan", "inf", "infinity"}


def require_positive(path: Path, qrels: dict[str, dict[str, int]]) -> None:
    """The split evaluated has judgments, and at least one positive (else every measure is 0)."""
    if not qrels:
        raise DatasetError(f"{path}: empty file, expected 'query-id<TAB>corpus-id<TAB>score' lines")
    if not any(g > 0 for docs in qrels.values() for g in docs.values()):
        count = sum(map(len, qrels.values()))
        raise DatasetError(f"{path}: no positive judgment: all {count} scores (column 3 of 'query-id corpus-id "
                           "score') are 0 or less, so every measure would be 0")
