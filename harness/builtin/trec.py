"""``trec``: TREC-style topics, qrels and corpus files (SGML, TSV, JSONL; plain or gzip)."""

from __future__ import annotations

import gzip
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..collection import Collection, Document
from ..components import Context, DatasetProvider
from ..datasets import DatasetError
from ..params import Param
from ..trecfiles import TrecFormatError, read_qrels
from .files import clean, first_line, is_gzip, jsonl_docs, jsonl_queries, lines, plain, sgml_blocks, unique

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
        docs = _read_corpus(ctx.resolve_path(self.corpus), ctx.documents)
        metadata = {"topic_field": self.topic_field}
        return Collection(topics.name, docs, queries, qrels, metadata=metadata)


_TOPIC_PART = re.compile(
    r"<(num|title|desc|narr)>(.*?)(?=</?(?:num|title|desc|narr|top)>|\Z)", re.I | re.S
)
_TOPIC_LABEL = re.compile(r"^\s*(?:number|topic|description|narrative)\s*:", re.I)


def _read_topics(path: Path, field: str) -> dict[str, str]:
    first = first_line(path)
    if first.startswith("{"):
        return jsonl_queries(path, ("_id", "id", "query_id"), ("text", "query"))
    if re.match(r"<top>", first, re.I):
        return _sgml_topics(path, field)
    return _tsv_topics(path)


def _sgml_topics(path: Path, field: str) -> dict[str, str]:
    queries, seen = {}, {}
    tag = TOPIC_TAGS[field]
    for number, block in sgml_blocks(path, "top"):
        parts = {
            name.lower(): clean(_TOPIC_LABEL.sub("", text))
            for name, text in _TOPIC_PART.findall(block)
        }
        qid = parts.get("num")
        if not qid:
            raise DatasetError(f"{path}:{number}: topic without <num>")
        unique(seen, qid, path, number, "topic")
        if not parts.get(tag):
            why = f"topic {qid} has no <{tag}> text (topic_field = {field!r})"
            raise DatasetError(f"{path}:{number}: {why}")
        queries[qid] = parts[tag]
    return queries


def _tsv_topics(path: Path) -> dict[str, str]:
    queries, seen = {}, {}
    for number, line in lines(path):
        if not line.strip():
            continue
        qid, tab, text = line.partition("\t")
        if not tab:
            why = "expected 'qid<TAB>text' (or SGML or JSONL topics)"
            raise DatasetError(f"{path}:{number}: {why}")
        unique(seen, qid.strip(), path, number, "query id")
        queries[qid.strip()] = text.strip()
    return queries


def _trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    try:
        if not is_gzip(path):
            return read_qrels(path)
        # read_qrels opens plain text only: hand it a decompressed copy, and name the real file.
        try:
            data = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz file
            raise DatasetError(f"{path}: cannot read it ({exc})") from None
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / path.stem
            plain.write_bytes(data)
            try:
                return read_qrels(plain)
            except TrecFormatError as exc:
                raise TrecFormatError(str(exc).replace(str(plain), str(path))) from None
    except TrecFormatError as exc:
        raise DatasetError(str(exc)) from None


_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.I | re.S)
_TEXT = re.compile(r"<TEXT>(.*?)</TEXT>", re.I | re.S)
_TITLE = re.compile(r"<(TITLE|HEADLINE)>(.*?)</\1>", re.I | re.S)


def _read_corpus(path: Path, gather=list) -> Sequence[Document]:
    # A carriage return in an SGML corpus is whitespace in a document's text (clean() drops it), and
    # its elements may share a line: read even with CR-only line ends. JSONL is read as any JSONL.
    first = first_line(path, lone_cr=True)
    if first.startswith("{"):
        return jsonl_docs(path, ("_id", "id", "docno", "doc_id"), ("text", "contents", "body"), gather)
    if first.startswith("<"):
        docs = gather(_sgml_docs(path))
        if docs:
            return docs
        raise DatasetError(f"{path}: no <DOC> element")
    raise DatasetError(
        f"{path}: cannot tell the format from {first[:40]!r}; expected JSONL or TREC <DOC> SGML"
    )


def _sgml_docs(path: Path) -> Iterator[Document]:
    seen: dict[str, int] = {}
    for number, block in sgml_blocks(path, "DOC", lone_cr=True):
        docno = _DOCNO.search(block)
        if not docno or not docno.group(1).strip():
            raise DatasetError(f"{path}:{number}: <DOC> without <DOCNO>")
        doc_id = docno.group(1).strip()
        unique(seen, doc_id, path, number, "DOCNO")
        title = _TITLE.search(block)
        texts = _TEXT.findall(block)
        # Without <TEXT> (as in Vaswani) the whole element but its DOCNO and title is the text.
        body = " ".join(texts) if texts else _TITLE.sub(" ", _DOCNO.sub(" ", block))
        yield Document(doc_id, plain(body), plain(title.group(2)) if title else "")
