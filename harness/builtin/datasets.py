"""Built-in dataset providers: ``irds`` (an ir_datasets id), ``beir`` (a BEIR folder) and ``trec``
(topics, qrels and corpus files).

Each returns the collection as its source has it: raw grades, every query, every document;
``harness.datasets.load_dataset`` then applies a suite's grade mapping, query subset and fields.
Every file may be gzip-compressed. A problem in a file raises ``DatasetError`` naming the file and
line. docs/datasets.md describes the formats.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..collection import Collection, Document
from ..components import Context, DatasetProvider
from ..datasets import DatasetError
from ..hookspecs import hookimpl
from ..params import Param, did_you_mean
from ..trecfiles import TrecFormatError, read_qrels

# ---------------------------------------------------------------- reading files


def _is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False  # the reader that opens it next says why


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) of a UTF-8 text file, gzip-compressed or not."""
    opener = gzip.open if _is_gzip(path) else open
    number = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                # Decoded line by line so an encoding error names its line.
                line = raw.decode("utf-8").rstrip("\r\n")
                yield number, line.lstrip("\ufeff") if number == 1 else line
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, expected a file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}:{number}: not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz file
        raise DatasetError(f"{path}: cannot read it ({exc})") from None


def _first_line(path: Path) -> str:
    """The first non-blank line, to tell a file's format."""
    for _, line in _lines(path):
        if line.strip():
            return line.strip()
    raise DatasetError(f"{path}: empty file")


def _plain_or_gz(path: Path) -> Path:
    """``path``, or ``path.gz`` when only the compressed file exists."""
    gz = path.with_name(path.name + ".gz")
    return gz if not path.exists() and gz.exists() else path


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            why = f"malformed JSON ({exc.msg}, column {exc.colno})"
            raise DatasetError(f"{path}:{number}: {why}") from None
        if not isinstance(record, dict):
            why = f"expected a JSON object, got {type(record).__name__}"
            raise DatasetError(f"{path}:{number}: {why}")
        yield number, record


def _field(record: dict, keys: tuple[str, ...], path: Path, number: int, what: str) -> str:
    """The first of ``keys`` that a JSONL record has, as a string."""
    for key in keys:
        if record.get(key) is not None:
            return str(record[key])
    wanted = " or ".join(repr(k) for k in keys)
    has = ", ".join(record) or "no keys"
    raise DatasetError(f"{path}:{number}: no {what} ({wanted}); the record has {has}")


def _unique(seen: dict[str, int], key: str, path: Path, number: int, what: str) -> None:
    if key in seen:
        raise DatasetError(f"{path}:{number}: duplicate {what} {key!r} (first at line {seen[key]})")
    seen[key] = number


def _jsonl_docs(path: Path, id_keys: tuple[str, ...], text_keys: tuple[str, ...]) -> list[Document]:
    docs, seen = [], {}
    for number, record in _jsonl(path):
        doc_id = _field(record, id_keys, path, number, "document id")
        _unique(seen, doc_id, path, number, "document id")
        text = _field(record, text_keys, path, number, "text")
        docs.append(Document(doc_id, text, str(record.get("title") or "")))
    return docs


def _jsonl_queries(
    path: Path, id_keys: tuple[str, ...], text_keys: tuple[str, ...]
) -> dict[str, str]:
    queries, seen = {}, {}
    for number, record in _jsonl(path):
        qid = _field(record, id_keys, path, number, "query id")
        _unique(seen, qid, path, number, "query id")
        queries[qid] = _field(record, text_keys, path, number, "text")
    return queries


def _sgml_blocks(path: Path, tag: str) -> Iterator[tuple[int, str]]:
    """(line where it opens, inner text) of each ``<tag>…</tag>`` element, tag case ignored."""
    opening, closing = re.compile(f"<{tag}>", re.I), re.compile(f"</{tag}>", re.I)
    start, parts = 0, []
    for number, line in _lines(path):
        while line:
            if not start:
                found = opening.search(line)
                if not found:
                    break
                start, line = number, line[found.end():]
                continue
            close, reopen = closing.search(line), opening.search(line)
            if reopen and (not close or reopen.start() < close.start()):
                raise DatasetError(f"{path}:{number}: <{tag}> opened at line {start} is not closed")
            if not close:
                parts.append(line)
                break
            parts.append(line[: close.start()])
            yield start, "\n".join(parts)
            start, parts, line = 0, [], line[close.end():]
    if start:
        raise DatasetError(f"{path}:{start}: <{tag}> is never closed")


def _clean(text: str) -> str:
    """Whitespace collapsed: line breaks in SGML files are layout, not content."""
    return " ".join(text.split())


_MARKUP = re.compile(r"<[^>]*>")


def _plain(sgml: str) -> str:
    """The text of an SGML fragment, markup (``<P>``) dropped."""
    return _clean(_MARKUP.sub(" ", sgml))


# ---------------------------------------------------------------- irds


class IrdsProvider(DatasetProvider):
    """A dataset from ir_datasets by id, downloaded on first use and cached in IR_DATASETS_HOME."""

    name = "irds"
    source_param = "id"
    params = {"id": Param(str, help="ir_datasets id, e.g. 'cranfield' or 'beir/scifact/test'")}

    def load(self, ctx: Context) -> Collection:
        try:
            import ir_datasets  # reads IR_DATASETS_HOME now, on first import
        except ImportError:
            raise DatasetError("needs ir_datasets: pip install ir_datasets") from None
        with ctx.progress.task(f"ir_datasets {self.id}"), _quiet(ir_datasets):
            dataset = self._lookup(ir_datasets)
            try:
                docs = [
                    Document(d.doc_id, _irds_text(d), getattr(d, "title", "") or "")
                    for d in dataset.docs_iter()
                ]
                queries = {q.query_id: _irds_text(q) for q in dataset.queries_iter()}
                qrels: dict[str, dict[str, int]] = {}
                for row in dataset.qrels_iter():
                    qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.relevance)
            except Exception as exc:
                if "download" not in str(exc).lower():
                    raise
                raise DatasetError(_download_help(self.id, exc)) from exc
        metadata = {"ir_datasets": ir_datasets.__version__}
        return Collection(self.id, docs, queries, qrels, metadata=metadata)

    def _lookup(self, ir_datasets):
        try:
            dataset = ir_datasets.load(self.id)
        except KeyError:
            hint = did_you_mean(self.id, list(ir_datasets.registry))
            raise DatasetError(
                f"unknown ir_datasets id {self.id!r}{hint}; see https://ir-datasets.com for the ids"
            ) from None
        present = {
            "documents": dataset.has_docs(),
            "queries": dataset.has_queries(),
            "qrels": dataset.has_qrels(),
        }
        missing = [part for part, has in present.items() if not has]
        if missing:
            subsets = [i for i in ir_datasets.registry if i.startswith(self.id + "/")][:5]
            hint = f"; choose a subset such as {', '.join(subsets)}" if subsets else ""
            raise DatasetError(f"ir_datasets id {self.id!r} has no {', '.join(missing)}{hint}")
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


# ---------------------------------------------------------------- beir


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
        queries = _jsonl_queries(_plain_or_gz(folder / "queries.jsonl"), ("_id",), ("text",))
        queries = {q: text for q, text in queries.items() if q in qrels or q not in elsewhere}
        docs = _jsonl_docs(_plain_or_gz(folder / "corpus.jsonl"), ("_id",), ("text",))
        return Collection(folder.name, docs, queries, qrels, metadata={"split": self.split})


_SPLIT_FILE = re.compile(r"(.+)\.tsv(?:\.gz)?")


def _beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id<TAB>corpus-id<TAB>score`` lines; the first is a header unless its score is an
    integer."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in _lines(path):
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


# ---------------------------------------------------------------- trec


# The query text each topic_field takes, by SGML tag.
TOPIC_TAGS = {"title": "title", "description": "desc", "narrative": "narr"}


class TrecProvider(DatasetProvider):
    """TREC-style files: topics (SGML, TSV or JSONL), a qrels file, a corpus (JSONL or SGML)."""

    name = "trec"
    # The topics file names a TREC test collection best ("trec:topics.401-450.txt"); qrels and
    # corpus are still given as parameters.
    source_param = "topics"
    params = {
        "topics": Param(str, help="topics: TREC SGML <top>, TSV 'qid<TAB>text' or JSONL"),
        "qrels": Param(str, help="qrels file 'qid iter docid grade'"),
        "corpus": Param(str, help="corpus: JSONL or TREC SGML <DOC>"),
        "topic_field": Param(
            str, "title", choices=tuple(TOPIC_TAGS), help="which field of SGML topics is the query"
        ),
    }

    def load(self, ctx: Context) -> Collection:
        topics = ctx.resolve_path(self.topics)
        queries = _read_topics(topics, self.topic_field)
        qrels = _trec_qrels(ctx.resolve_path(self.qrels))
        docs = _read_corpus(ctx.resolve_path(self.corpus))
        metadata = {"topic_field": self.topic_field}
        return Collection(topics.name, docs, queries, qrels, metadata=metadata)


_TOPIC_PART = re.compile(
    r"<(num|title|desc|narr)>(.*?)(?=</?(?:num|title|desc|narr|top)>|\Z)", re.I | re.S
)
_TOPIC_LABEL = re.compile(r"^\s*(?:number|topic|description|narrative)\s*:", re.I)


def _read_topics(path: Path, field: str) -> dict[str, str]:
    first = _first_line(path)
    if first.startswith("{"):
        return _jsonl_queries(path, ("_id", "id", "query_id"), ("text", "query"))
    if re.match(r"<top>", first, re.I):
        return _sgml_topics(path, field)
    return _tsv_topics(path)


def _sgml_topics(path: Path, field: str) -> dict[str, str]:
    queries, seen = {}, {}
    tag = TOPIC_TAGS[field]
    for number, block in _sgml_blocks(path, "top"):
        parts = {
            name.lower(): _clean(_TOPIC_LABEL.sub("", text))
            for name, text in _TOPIC_PART.findall(block)
        }
        qid = parts.get("num")
        if not qid:
            raise DatasetError(f"{path}:{number}: topic without <num>")
        _unique(seen, qid, path, number, "topic")
        if not parts.get(tag):
            why = f"topic {qid} has no <{tag}> text (topic_field = {field!r})"
            raise DatasetError(f"{path}:{number}: {why}")
        queries[qid] = parts[tag]
    return queries


def _tsv_topics(path: Path) -> dict[str, str]:
    queries, seen = {}, {}
    for number, line in _lines(path):
        if not line.strip():
            continue
        qid, tab, text = line.partition("\t")
        if not tab:
            why = "expected 'qid<TAB>text' (or SGML or JSONL topics)"
            raise DatasetError(f"{path}:{number}: {why}")
        _unique(seen, qid.strip(), path, number, "query id")
        queries[qid.strip()] = text.strip()
    return queries


def _trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    try:
        if not _is_gzip(path):
            return read_qrels(path)
        # read_qrels opens plain text only: hand it a decompressed copy, and name the real file.
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.stem
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            try:
                return read_qrels(plain)
            except TrecFormatError as exc:
                raise TrecFormatError(str(exc).replace(str(plain), str(path))) from None
    except TrecFormatError as exc:
        raise DatasetError(str(exc)) from None


_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.I | re.S)
_TEXT = re.compile(r"<TEXT>(.*?)</TEXT>", re.I | re.S)
_TITLE = re.compile(r"<(TITLE|HEADLINE)>(.*?)</\1>", re.I | re.S)


def _read_corpus(path: Path) -> list[Document]:
    first = _first_line(path)
    if first.startswith("{"):
        return _jsonl_docs(path, ("_id", "id", "docno", "doc_id"), ("text", "contents", "body"))
    if first.startswith("<"):
        docs = _sgml_docs(path)
        if docs:
            return docs
        raise DatasetError(f"{path}: no <DOC> element")
    raise DatasetError(
        f"{path}: cannot tell the format from {first[:40]!r}; expected JSONL or TREC <DOC> SGML"
    )


def _sgml_docs(path: Path) -> list[Document]:
    docs, seen = [], {}
    for number, block in _sgml_blocks(path, "DOC"):
        docno = _DOCNO.search(block)
        if not docno or not docno.group(1).strip():
            raise DatasetError(f"{path}:{number}: <DOC> without <DOCNO>")
        doc_id = docno.group(1).strip()
        _unique(seen, doc_id, path, number, "DOCNO")
        title = _TITLE.search(block)
        texts = _TEXT.findall(block)
        # Without <TEXT> (as in Vaswani) the whole element but its DOCNO and title is the text.
        body = " ".join(texts) if texts else _TITLE.sub(" ", _DOCNO.sub(" ", block))
        docs.append(Document(doc_id, _plain(body), _plain(title.group(2)) if title else ""))
    return docs


@hookimpl
def harness_dataset_providers():
    return [IrdsProvider, BeirProvider, TrecProvider]
