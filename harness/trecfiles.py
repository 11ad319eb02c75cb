"""Reading and writing TREC run and qrels files, as trec_eval reads them.

Run lines: ``qid Q0 docid rank score tag`` (whitespace-separated; columns after the sixth are
ignored; the rank column is ignored, as trec_eval does). Qrels lines: ``qid iter docid grade``
(graded and negative grades allowed). Blank lines and lines starting with ``#`` are skipped.
Document and query ids may contain ``#``. Problems raise ``TrecFormatError`` naming the file
and line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import HarnessError
from .ranking import Run


class TrecFormatError(HarnessError, ValueError):
    """A malformed TREC file, with the file and line number in the message."""


# trec_eval's measures (pytrec_eval) take grades as C ints and spend time growing with the square of
# the largest grade: 100,000 takes seconds, 10**6 minutes, and 2**30 crashes the process.
GRADE_RANGE = (-(2**31), 10_000)


def grade_problem(grade: int) -> str | None:
    """Why a relevance grade cannot be evaluated, or None."""
    low, high = GRADE_RANGE
    if low <= grade <= high:
        return None
    return f"grade {grade} is outside {low}..{high}, the grades trec_eval's measures can evaluate"


def _lines(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                stripped = line.strip()
                if stripped and not stripped.startswith("#"):
                    yield number, stripped.split()
    except FileNotFoundError:
        raise TrecFormatError(f"{path}: no such file") from None
    except OSError as exc:  # a folder, no permission, ...
        raise TrecFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TrecFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_run(path: str | os.PathLike) -> Run:
    """A run file as a ``Run`` (each query in trec_eval's order)."""
    path = Path(path)
    per_query: dict[str, dict[str, float]] = {}
    for number, cols in _lines(path):
        if len(cols) < 6:
            raise TrecFormatError(
                f"{path}:{number}: expected 6 columns 'qid Q0 docid rank score tag', got {len(cols)}"
            )
        qid, docid, score = cols[0], cols[2], cols[4]
        try:
            value = float(score)
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: score {score!r} is not a number") from None
        if not math.isfinite(value):
            raise TrecFormatError(f"{path}:{number}: score {score!r} is not finite")
        docs = per_query.setdefault(qid, {})
        if docid in docs:
            raise TrecFormatError(f"{path}:{number}: document {docid!r} appears twice for query {qid!r}")
        docs[docid] = value
    try:
        return Run.from_scores(per_query)
    except ValueError as exc:
        raise TrecFormatError(f"{path}: {exc}") from None


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """A qrels file as ``{qid: {docid: grade}}``."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for number, cols in _lines(path):
        if len(cols) != 4:
            raise TrecFormatError(
                f"{path}:{number}: expected 4 columns 'qid iter docid grade', got {len(cols)}"
            )
        qid, _, docid, grade = cols
        try:
            value = int(grade)
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: grade {grade!r} is not an integer") from None
        if grade_problem(value):
            raise TrecFormatError(f"{path}:{number}: {grade_problem(value)}")
        docs = qrels.setdefault(qid, {})
        if docid in docs and docs[docid] != value:
            raise TrecFormatError(
                f"{path}:{number}: query {qid!r}, document {docid!r} judged twice "
                f"({docs[docid]} and {value})"
            )
        docs[docid] = value
    return qrels


def format_run(run: Run, tag: str) -> str:
    """The run as TREC text; scores written exactly (shortest round-trip repr)."""
    tag = "".join(tag.split()) or "harness"
    lines = []
    for qid, docs in run.items():
        qid = _id(qid, first=True)
        for rank, (docid, score) in enumerate(docs.items(), 1):
            lines.append(f"{qid} Q0 {_id(docid)} {rank} {score!r} {tag}\n")
    return "".join(lines)


def format_qrels(qrels: dict[str, dict[str, int]]) -> str:
    return "".join(
        f"{_id(qid, first=True)} 0 {_id(docid)} {grade}\n"
        for qid, docs in qrels.items()
        for docid, grade in docs.items()
    )


def _id(value: str, first: bool = False) -> str:
    """An id as a column. Whitespace would shift the columns after it, and a line starting with
    ``#`` reads back as a comment, so such ids raise instead of writing a file that misreads."""
    if value.split() != [value] or (first and value.startswith("#")):
        raise ValueError(f"id {value!r} cannot be written to a TREC file")
    return value
