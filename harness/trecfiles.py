"""Reading and writing TREC run and qrels files, as trec_eval reads them.

Run lines: ``qid Q0 docid rank score tag`` (whitespace-separated; columns after the sixth are
ignored; the rank column is ignored, as trec_eval does). Qrels lines: ``qid iter docid grade``
(graded and negative grades allowed). Blank lines are skipped. Every other line is data: trec_eval 9
(the one inside pytrec_eval) has no comment lines, so a query id may begin with ``#``.

Checked, not guessed (docs/datasets.md, "What is checked"): only a regular file is read (a named
pipe would block for ever, a folder is named as one); a UTF-8 byte order mark at the start is
dropped; a carriage return that is not part of a CRLF line end is refused (CR-only line ends would
make one line of the file); control characters (NUL included), a byte order mark further on and the Unicode spaces that
Python splits on but trec_eval does not are refused; scores and grades are plain ASCII numbers
(Python reads ``1_000`` as 1000, trec_eval as 1); an empty file is refused, and so is a qrels file
without a single positive grade (its likely layout named). Problems raise ``TrecFormatError``
naming the file and line. The checks run over the whole text at once (str and bytes methods, one
regular expression), not character by character; the lines are then read in slices of some
thousand, each split at once and checked as a whole, and only a file that fails a check is read
again line by line, to name the line (see "the whole file at once" below).
"""

from __future__ import annotations

import codecs
import math
import os
import re
import stat
from collections.abc import Iterator
from itertools import groupby
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


# Characters no TREC file may hold: C0 and C1 controls but tab, line feed and carriage return; a
# byte order mark past the start (two files joined?); the Unicode spaces that Python's split()
# separates columns on and trec_eval (C's isspace on bytes) does not.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00a0\u1680\u2000-\u200a"
                    "\u2028\u2029\u202f\u205f\u3000\ufeff]")
# The bytes that are fine in an ASCII file: deleting them leaves the control bytes (a fast test).
_ASCII_SAFE = bytes(b for b in range(256) if not ((b < 32 and b not in (9, 10, 13)) or b == 127))


def unsafe_character(char: str) -> str:
    """What is wrong with a character ``UNSAFE`` matched, for a message."""
    code = f"U+{ord(char):04X}"
    if char == "\ufeff":
        return f"a byte order mark ({code}) inside the text (two files joined?)"
    if char.isspace() and ord(char) > 0x9F:
        return f"the Unicode space {code}, which Python would split columns on and trec_eval does not"
    return f"the control character {code}"


def regular_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file, or None: it must exist and be a regular file (opening
    a named pipe blocks until someone writes to it; a folder or a device is no file either)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except OSError as exc:  # no permission on a folder above it, a name too long, ...
        return f"cannot read: {exc.strerror or exc}"
    except ValueError as exc:  # a NUL in the name
        return f"cannot read: {exc}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, expected a file"
    kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return f"not a regular file ({kind})"


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a regular file; anything else (missing, a folder, a named pipe) raises
    ``TrecFormatError`` naming the path."""
    problem = regular_file_problem(path)
    if problem:
        raise TrecFormatError(f"{path}: {problem}")
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:  # removed since
        raise TrecFormatError(f"{path}: no such file") from None
    except OSError as exc:  # no permission, ...
        raise TrecFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


# What a lone carriage return (one not followed by a line feed) is refused with: trec_eval and
# Python's split() disagree on it (Python splits columns there), and a file with CR-only line ends
# (classic Mac OS) would be one line.
LONE_CR = ("a carriage return (CR) that is not part of a CRLF line end; CR-only line ends are not supported: "
           "convert the file to LF line ends (CRLF is read too)")
_LONE_CR = re.compile(r"\r(?!\n)")


def _text(path: Path, notes: list[str] | None = None) -> str:
    """The file's text: UTF-8, a leading byte order mark dropped (and said in ``notes``: trec_eval
    would read it as part of the first query id), no unsafe character, no lone carriage return."""
    return _read_text(path, notes)[1]


def _read_text(path: Path, notes: list[str] | None = None) -> tuple[bytes, str]:
    """``(data, text)``: the file's bytes (less a leading byte order mark) and ``_text``'s text."""
    data = read_file_bytes(path)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        if notes is not None:
            notes.append(f"{path} begins with a UTF-8 byte order mark, ignored here; trec_eval would read it "
                         "as part of the first query id, and so give that query other values")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TrecFormatError(f"{path}: not UTF-8 text at line {line} ({exc.reason} at byte {exc.start})") from None
    # ASCII text (the usual) needs only the bytes test; other text the regular expression.
    if data.translate(None, _ASCII_SAFE) or not text.isascii():
        found = UNSAFE.search(text)
        if found:
            line = text.count("\n", 0, found.start()) + 1
            raise TrecFormatError(f"{path}:{line}: {unsafe_character(found.group())}")
    # CRLF files have as many CRs as CRLFs: two counts, the regular expression only when they differ.
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        found = _LONE_CR.search(text)
        line = text.count("\n", 0, found.start()) + 1
        raise TrecFormatError(f"{path}:{line}: {LONE_CR}")
    return data, text


def _plain_numbers(tokens: list[str]) -> bool:
    """Whether numbers Python has read are as trec_eval reads them: ASCII, no ``_`` (Python reads
    ``1_000`` as 1000 and ``١`` as 1, C's atof and atol read 1 and 0)."""
    joined = "".join(tokens)
    return "_" not in joined and joined.isascii()


def _number_problem(path: Path, text: str, column: int, kind: str) -> TrecFormatError:
    """The first line whose ``column`` Python read as a number that trec_eval reads otherwise."""
    for number, line in enumerate(text.split("\n"), 1):
        cols = line.split()
        if len(cols) > column and ("_" in cols[column] or not cols[column].isascii()):
            return TrecFormatError(f"{path}:{number}: {kind} {cols[column]!r} is not a plain number "
                                   "(digits, sign, point, exponent; trec_eval reads '1_000' as 1)")
    raise AssertionError("no such line")  # pragma: no cover


def _comment_hint(cols: list[str]) -> str:
    return ("; a line starting with '#' is data here, as trec_eval 9 and pytrec_eval read it: remove "
            "the comment" if cols and cols[0].startswith("#") else "")


def read_run(path: str | os.PathLike, *, allow_empty: bool = False, notes: list[str] | None = None) -> Run:
    """A run file as a ``Run`` (each query in trec_eval's order). An empty file raises unless
    ``allow_empty`` (a cached run of queries that retrieved nothing). What was read otherwise than
    trec_eval reads it (a byte order mark) is said in ``notes``, when given."""
    path = Path(path)
    data, text = _read_text(path, notes)
    run = _fast_run(data, text)
    if run is not None:
        return run
    return _read_run_lines(path, text, allow_empty)


def _read_run_lines(path: Path, text: str, allow_empty: bool) -> Run:
    """``read_run`` line by line: the reader that finds (and names the line of) any problem."""
    per_query: dict[str, dict[str, float]] = {}
    scores: list[str] = []
    keep, qid, docs = scores.append, None, {}
    for number, line in enumerate(text.split("\n"), 1):
        cols = line.split()
        if len(cols) < 6:
            if not cols:
                continue
            raise TrecFormatError(f"{path}:{number}: expected 6 columns 'qid Q0 docid rank score tag', "
                                  f"got {len(cols)}{_comment_hint(cols)}")
        if cols[0] != qid:  # runs come query by query: one look-up per query, not per line
            qid = cols[0]
            docs = per_query.get(qid)
            if docs is None:
                docs = per_query[qid] = {}
        before = len(docs)
        try:
            docs[cols[2]] = float(cols[4])
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: score {cols[4]!r} is not a number{_comment_hint(cols)}") from None
        if len(docs) == before:
            raise TrecFormatError(f"{path}:{number}: document {cols[2]!r} appears twice for query {qid!r}")
        keep(cols[4])
    if not per_query:
        if allow_empty:
            return Run.from_scores({})
        raise TrecFormatError(f"{path}: empty file, expected run lines")
    if not _plain_numbers(scores):
        raise _number_problem(path, text, 4, "score")
    # A sum of finite scores is finite unless it overflows (then the lines are looked at anyway).
    if not math.isfinite(sum(map(sum, map(dict.values, per_query.values())))):
        for number, line in enumerate(text.split("\n"), 1):
            cols = line.split()
            if len(cols) >= 6 and not math.isfinite(float(cols[4])):
                raise TrecFormatError(f"{path}:{number}: score {cols[4]!r} is not finite")
    try:
        return Run.from_scores(per_query)
    except ValueError as exc:
        raise TrecFormatError(f"{path}: {exc}") from None


def read_qrels(path: str | os.PathLike, *, notes: list[str] | None = None) -> dict[str, dict[str, int]]:
    """A qrels file as ``{qid: {docid: grade}}``. A file without a single positive grade (every
    measure would be 0) raises, naming the layout it more likely has; ``notes`` as ``read_run``'s."""
    path = Path(path)
    data, text = _read_text(path, notes)
    qrels = _fast_qrels(data, text)
    if qrels is not None:
        return qrels
    return _read_qrels_lines(path, text, notes)


def _read_qrels_lines(path: Path, text: str, notes: list[str] | None) -> dict[str, dict[str, int]]:
    """``read_qrels`` line by line: the reader that finds (and names the line of) any problem."""
    qrels: dict[str, dict[str, int]] = {}
    grades: list[str] = []
    repeated: list[str] = []  # "file:line" of judgments given again with the same grade
    for number, line in enumerate(text.split("\n"), 1):
        cols = line.split()
        if len(cols) != 4:
            if not cols:
                continue
            raise TrecFormatError(
                f"{path}:{number}: expected 4 columns 'qid iter docid grade', got {len(cols)}{_comment_hint(cols)}"
            )
        qid, _, docid, grade = cols
        try:
            value = int(grade)
        except ValueError:
            raise TrecFormatError(f"{path}:{number}: grade {grade!r} is not an integer{_comment_hint(cols)}") from None
        if grade_problem(value):
            raise TrecFormatError(f"{path}:{number}: {grade_problem(value)}")
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            if docs[docid] != value:
                raise TrecFormatError(
                    f"{path}:{number}: query {qid!r}, document {docid!r} judged twice "
                    f"({docs[docid]} and {value})"
                )
            repeated.append(f"line {number} (query {qid!r}, document {docid!r})")
        docs[docid] = value
        grades.append(grade)
    if not qrels:
        raise TrecFormatError(f"{path}: empty file, expected qrels lines 'qid iter docid grade'")
    if repeated and notes is not None:
        notes.append(f"{path}: {len(repeated)} judgment(s) repeated with the same grade, read once (first at "
                     f"{repeated[0]}); trec_eval refuses a qrels file that judges a document twice")
    if not _plain_numbers(grades):
        raise _number_problem(path, text, 3, "grade")
    if not any(g > 0 for docs in qrels.values() for g in docs.values()):
        raise TrecFormatError(f"{path}: {no_positive_judgment(text)}")
    return qrels


# -- the whole file at once ------------------------------------------------------------------------
#
# The readers first take the file in slices of some thousand lines, each split at once
# (``str.split()`` in C; a slice's objects reuse the memory the last one freed, where a whole large
# file split at once would be millions of objects in fresh memory), with the checks as operations
# on a whole slice: the columns of each line told by the slice's whitespace (one bytes.translate;
# numpy over its bytes where the columns are not separated by single spaces), one join for the
# numbers, one conversion of them all, one dict update per query. When any check fails (or the
# file is empty) they return None and the line by line reader reads the file again: it finds the
# problem, and names its line, as it always has.

_SLICE = 1 << 14  # characters split at a time
_NOT_SPACE = bytes(range(33, 256))  # past _read_text, the bytes up to 32 are the whitespace


def _columns_per_line(raw, width: int) -> bool:
    """Whether each non-blank line of ``raw`` (the bytes of a slice of text, a uint8 array) has
    exactly ``width`` columns. Past ``_read_text``'s checks the only bytes up to 32 are space, tab,
    CR (of a CRLF) and LF: what ``str.split()`` separates columns on (no byte of a multi-byte
    character is one)."""
    import numpy as np

    n = len(raw)
    space = raw <= 32
    begins = np.empty(n, dtype=bool)  # where a column begins
    begins[0] = not space[0]
    np.greater(space[:-1], space[1:], out=begins[1:])
    lines = np.flatnonzero(raw == 10) + 1
    lines = np.concatenate(([0], lines[lines < n]))  # where each line begins
    per_line = np.add.reduceat(begins.view(np.int8), lines, dtype=np.int64)
    return not ((per_line != width) & (per_line != 0)).any()


def _fast_read(data: bytes, text: str, width: int, doc: int, number: int, convert) -> dict[str, dict] | None:
    """``{qid: {docid: convert(column number)}}`` (column 0 the query, ``doc`` the document), each
    query's lines in file order; None when a check fails: a line without exactly ``width``
    columns, a number that is not plain or that ``convert`` refuses, a sum of numbers that is not
    finite, a document twice for a query, no line at all."""
    import numpy as np

    out: dict[str, dict] = {}
    ascii = text.isascii()  # then a byte per character: a slice of text is the same slice of data
    layout = b" " * (width - 1) + b"\n"  # a line's whitespace where single spaces separate columns
    at, size, find = 0, len(text), text.find
    while at < size:
        end = find("\n", at + _SLICE)
        end = size if end < 0 else end + 1
        chunk = text[at:end]
        piece = data[at:end] if ascii else chunk.encode()
        at = end
        tokens = chunk.split()
        if not tokens:
            continue
        # Each line has exactly ``width`` columns when its whitespace is ``layout`` (at most
        # ``width`` columns then) and there are ``width`` times as many columns as lines; else
        # numpy counts the columns of each line.
        spaces = piece.translate(None, _NOT_SPACE)
        lines = spaces.count(layout)
        if (lines * width != len(spaces) or lines * width != len(tokens)) and not _columns_per_line(
                np.frombuffer(piece, dtype=np.uint8), width):
            return None
        numbers = tokens[number::width]
        joined = "".join(numbers)
        if "_" in joined or not joined.isascii():
            return None
        try:
            values = list(map(convert, numbers))
        except ValueError:
            return None
        if convert is float and not math.isfinite(sum(values)):  # a finite sum overflowing: line by line
            return None
        queries, docs = tokens[0::width], tokens[doc::width]
        if queries.count(queries[0]) == len(queries):
            groups: list[tuple[str, int]] = [(queries[0], len(queries))]
        else:
            groups = [(qid, len(list(group))) for qid, group in groupby(queries)]
        i = 0
        for qid, n in groups:
            known = out.get(qid)
            if known is None:
                known = out[qid] = {}
            before = len(known)
            known.update(zip(docs[i:i + n], values[i:i + n], strict=True) if len(groups) > 1
                         else zip(docs, values, strict=True))
            if len(known) != before + n:
                return None
            i += n
    return out or None


def _fast_run(data: bytes, text: str) -> Run | None:
    """The run, read in slices (see above), or None."""
    per_query = _fast_read(data, text, 6, 2, 4, float)
    if per_query is None:
        return None
    try:
        return Run.from_scores(per_query)
    except ValueError:  # pragma: no cover - checked as read
        return None


def _fast_qrels(data: bytes, text: str) -> dict[str, dict[str, int]] | None:
    """The qrels, read in slices (see above), or None."""
    qrels = _fast_read(data, text, 4, 2, 3, int)
    if qrels is None:
        return None
    low, high = GRADE_RANGE
    grades = [min(map(min, map(dict.values, qrels.values()))), max(map(max, map(dict.values, qrels.values())))]
    if grades[0] < low or grades[1] > high or grades[1] <= 0:
        return None
    return qrels


def no_positive_judgment(text: str) -> str:
    """The message for a qrels file (``qid iter docid grade``) without a grade above 0: every
    measure would be 0. Says which layout the columns more likely have."""
    rows = [cols for cols in map(str.split, text.split("\n")) if len(cols) == 4]
    iters = {r[1] for r in rows}
    docids = {r[2] for r in rows}
    why = (f"no positive judgment: all {len(rows)} grades (column 4 of 'qid iter docid grade') are 0 or "
           "less, so every measure would be 0")
    if all(re.fullmatch(r"[+-]?[0-9]+", d) for d in docids) and len(iters) > len(docids):
        shown = ", ".join(sorted(docids, key=lambda d: int(d))[:5])
        why += (f"; column 3 holds only the numbers {shown} and column 2 varies like document ids: "
                "is the file 'qid docid grade ...'? trec_eval reads 'qid iter docid grade'")
    elif any(re.fullmatch(r"[+]?[0-9]*[1-9][0-9]*", i) for i in iters):
        why += "; column 2 (iter, ignored) holds positive numbers: are the grades there?"
    return why


def format_run(run: Run, tag: str) -> str:
    """The run as TREC text; scores written exactly (shortest round-trip repr)."""
    return "".join(run_text(run, tag))


def run_text(run: Run, tag: str) -> Iterator[str]:
    """The run as TREC text, one query's lines at a time: what writers stream to a file, so that
    a run of millions of lines is never one string (nor a list of them) in memory."""
    tag = "".join(tag.split()) or "harness"
    for qid, docs in run.items():
        qid = _id(qid, first=True)
        yield "".join(f"{qid} Q0 {_id(docid)} {rank} {float(score)!r} {tag}\n"  # a float's repr, whatever type
                      for rank, (docid, score) in enumerate(docs.items(), 1))


def format_qrels(qrels: dict[str, dict[str, int]]) -> str:
    return "".join(
        f"{_id(qid, first=True)} 0 {_id(docid)} {grade}\n"
        for qid, docs in qrels.items()
        for docid, grade in docs.items()
    )


def _id(value: str, first: bool = False) -> str:
    """An id as a column. Whitespace would shift the columns after it, and trec_eval 10 reads a
    line starting with ``#`` as a comment, so such ids raise instead of writing a file that misreads."""
    if value.split() != [value] or (first and value.startswith("#")):
        raise ValueError(f"id {value!r} cannot be written to a TREC file")
    return value


# ---------------------------------------------------------------- qrels in any layout (harness eval)

QRELS_FORMATS = ("trec", "beir", "irds")
IRDS_PREFIX = "irds:"
_OTHERWISE = "; if the lines disagree, choose a format with --qrels-format"
_FORMAT_NAMES = {"trec": "TREC qrels", "beir": "BEIR qrels", "irds": "ir_datasets qrels"}
_LAYOUTS = ("TREC qrels have 4 whitespace-separated columns 'qid iter docid grade', BEIR qrels "
            "(qrels/<split>.tsv) 3 tab-separated columns 'query-id corpus-id score' under that header")


def load_qrels(source: str | os.PathLike, qrels_format: str | None = None, *,
               notes: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Qrels as ``{qid: {docid: grade}}`` from a TREC qrels file, a BEIR qrels file
    (``qrels/<split>.tsv``) or an ir_datasets id (``irds:<id>``): ``qrels_format`` (``trec``,
    ``beir``, ``irds``) or, when None, told by the source: an ``irds:`` prefix is an ir_datasets id;
    a file by its first non-blank line (4 columns: TREC; 3 tab-separated columns, a BEIR header or a
    judgment: BEIR). A line that fits neither, and a file that is also an ``irds:`` id, raise
    ``TrecFormatError`` naming the file and line; so does any problem the format's reader finds,
    with the format it was read as and why. Each reader's checks apply (``read_qrels``,
    ``harness.builtin.beir.read_beir_qrels``), then, for BEIR and ir_datasets, the grade range and
    at least one positive grade, as for TREC."""
    if qrels_format is not None and qrels_format not in QRELS_FORMATS:
        raise TrecFormatError(f"unknown qrels format {qrels_format!r}; expected one of {', '.join(QRELS_FORMATS)}")
    text = os.fspath(source)
    if qrels_format == "irds" or (qrels_format is None and text.startswith(IRDS_PREFIX)):
        if qrels_format is None and not regular_file_problem(text):
            raise TrecFormatError(f"{text}: both a file and an ir_datasets id: choose with --qrels-format "
                                  "trec|beir (the file) or irds (the id)")
        return _irds_qrels(text.removeprefix(IRDS_PREFIX), notes)
    problem = regular_file_problem(text)
    if problem:
        hint = (f" (an ir_datasets id is read with the prefix {IRDS_PREFIX!r}: {IRDS_PREFIX}{text})"
                if problem == "no such file" and qrels_format is None and _looks_like_irds_id(text) else "")
        raise TrecFormatError(f"{text}: {problem}{hint}")
    if qrels_format is None:
        qrels_format, why = _detect_qrels_format(Path(text))
    else:
        why = f", as --qrels-format {qrels_format} asks"
    try:
        if qrels_format == "trec":
            return _read_trec_qrels(Path(text), notes)
        from .builtin.beir import read_beir_qrels, require_positive

        qrels = read_beir_qrels(Path(text))
        require_positive(Path(text), qrels)
        _check_grades(text, qrels)
        return qrels
    except HarnessError as exc:
        raise TrecFormatError(f"{exc}; read as {_FORMAT_NAMES[qrels_format]}{why}") from None


def _read_trec_qrels(path: Path, notes: list[str] | None) -> dict[str, dict[str, int]]:
    from .builtin.files import is_gzip

    if is_gzip(path):  # read_qrels opens plain text only: the trec provider's reader decompresses
        from .builtin.trec import _trec_qrels

        return _trec_qrels(path)
    return read_qrels(path, notes=notes)


def _detect_qrels_format(path: Path) -> tuple[str, str]:
    """(format, why) of a qrels file, told by its first non-blank line; raises when it fits none."""
    from .builtin.files import lines

    try:
        for number, line in lines(path, lone_cr=True):  # the reader chosen refuses a lone CR itself
            columns = line.split()
            if not columns:
                continue
            tabbed = [c.strip() for c in line.strip().split("\t")]
            where = f"line {number}"
            if len(columns) == 4:
                return "trec", f" (told by {where}: 4 columns, as 'qid iter docid grade'{_OTHERWISE})"
            if len(tabbed) == 3 and all(tabbed):
                header = [c.lower() for c in tabbed] == ["query-id", "corpus-id", "score"]
                what = ("the header 'query-id corpus-id score'" if header
                        else "3 tab-separated columns, as 'query-id corpus-id score'")
                return "beir", f" (told by {where}: {what}{_OTHERWISE})"
            if len(columns) == 3:
                raise TrecFormatError(
                    f"{path}:{number}: 3 columns not separated by tabs: BEIR qrels separate "
                    "'query-id corpus-id score' with tabs, TREC qrels have 4 columns 'qid iter docid grade'; "
                    "convert the file, or force a format with --qrels-format trec|beir")
            raise TrecFormatError(
                f"{path}:{number}: cannot tell the qrels format from a line of {len(columns)} column(s): "
                f"{_LAYOUTS}; force a format with --qrels-format trec|beir{_comment_hint(columns)}")
    except HarnessError as exc:
        if isinstance(exc, TrecFormatError):
            raise
        raise TrecFormatError(str(exc)) from None  # not UTF-8, a corrupt .gz file: named by line
    raise TrecFormatError(f"{path}: empty file, expected qrels lines ({_LAYOUTS})")


def _irds_qrels(dataset_id: str, notes: list[str] | None) -> dict[str, dict[str, int]]:
    from .builtin.irds import irds_qrels

    if not dataset_id:
        raise TrecFormatError(f"{IRDS_PREFIX!r}: expected an ir_datasets id after it, e.g. {IRDS_PREFIX}cranfield")
    source = f"{IRDS_PREFIX}{dataset_id}"
    try:
        qrels, version = irds_qrels(dataset_id)
    except HarnessError as exc:
        raise TrecFormatError(f"{source}: {exc}") from None
    if not qrels:
        raise TrecFormatError(f"{source}: ir_datasets gave no judgments")
    _check_grades(source, qrels)
    if not any(g > 0 for docs in qrels.values() for g in docs.values()):
        raise TrecFormatError(f"{source}: no positive judgment: every grade is 0 or less, so every measure would be 0")
    if notes is not None:
        count = sum(map(len, qrels.values()))
        grades = sorted({g for docs in qrels.values() for g in docs.values()})
        notes.append(f"{source}: {count} judgments of {len(qrels)} queries from ir_datasets {version}, with its "
                     f"raw grades ({', '.join(map(str, grades[:10]))}{', ...' if len(grades) > 10 else ''}); "
                     "a suite's 'grades' mapping is not applied here")
    return qrels


def _check_grades(source: str, qrels: dict[str, dict[str, int]]) -> None:
    for qid, docs in qrels.items():
        for docid, grade in docs.items():
            problem = grade_problem(grade)
            if problem:
                raise TrecFormatError(f"{source}: query {qid!r}, document {docid!r}: {problem}")


def _looks_like_irds_id(text: str) -> bool:
    """Whether a missing file's name could be an ir_datasets id (``cranfield``, ``beir/scifact/test``)."""
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9_.-]*(/[a-z0-9_.-]+)*", text)) and "." not in text.rsplit("/", 1)[-1]
