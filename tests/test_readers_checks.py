"""Inputs checked, not guessed (issue 13, item 5): every reader of run, qrels, topics and corpus
files handles a byte order mark, refuses control characters in ids, non-string text, ``1_000``
numbers and empty files, reads ``#``-leading query ids as ids, and a qrels file without a single
positive grade is refused with the layout it more likely has. Each test failed before the change.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import threading
from pathlib import Path

import pytest
from tinydata import write_beir

from harness.collection import Collection, Document
from harness.components import Context, DatasetProvider
from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.params import Param
from harness.plugins import ComponentInfo, PluginInfo, Registry, load_registry
from harness.trecfiles import TrecFormatError, read_qrels, read_run

BOM = codecs.BOM_UTF8


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def beir(tmp_path: Path, **files: str | bytes) -> Path:
    """The tiny BEIR folder with some files replaced (``qrels`` is qrels/test.tsv)."""
    folder = write_beir(tmp_path / "b")
    for name, data in files.items():
        write(folder / ("qrels/test.tsv" if name == "qrels" else f"{name}.jsonl"), data)
    return folder


def load_beir(registry, tmp_path, folder: Path) -> Collection:
    return load_dataset(DatasetSpec("b", "beir", {"path": str(folder)}), registry, tmp_path)


def trec_files(tmp_path: Path, topics: str | bytes = "q1\twing flutter\n",
               qrels: str | bytes = "q1 0 d1 1\n", corpus: str | bytes = '{"id": "d1", "text": "wing"}\n'):
    return {"topics": str(write(tmp_path / "topics.txt", topics)), "qrels": str(write(tmp_path / "qrels.txt", qrels)),
            "corpus": str(write(tmp_path / "corpus.jsonl", corpus))}


# -- byte order mark ----------------------------------------------------------------------------

def test_a_bom_keeps_the_first_query_of_a_run_and_a_qrels_file(tmp_path):
    run = read_run(write(tmp_path / "run", BOM + b"q1 Q0 d1 1 2.0 t\nq2 Q0 d1 1 1.0 t\n"))
    assert list(run) == ["q1", "q2"]
    assert read_qrels(write(tmp_path / "qrels", BOM + b"q1 0 d1 1\nq2 0 d2 1\n")) == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_a_bom_in_every_dataset_file(registry, tmp_path):
    folder = write_beir(tmp_path / "b")
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        write(folder / name, BOM + (folder / name).read_bytes())
    collection = load_beir(registry, tmp_path, folder)
    assert "d1" in {d.id for d in collection.docs} and "q1" in collection.queries and "q1" in collection.qrels
    params = trec_files(tmp_path, topics=BOM + b"q1\twing\n", qrels=BOM + b"q1 0 d1 1\n",
                        corpus=BOM + b'{"id": "d1", "text": "wing"}\n')
    collection = load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)
    assert list(collection.queries) == ["q1"] and collection.qrels == {"q1": {"d1": 1}}


def test_a_bom_inside_a_file_is_refused(tmp_path):
    path = write(tmp_path / "run", b"q1 Q0 d1 1 2.0 t\n" + BOM + b"q2 Q0 d1 1 1.0 t\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:2: a byte order mark")):
        read_run(path)


# -- control characters and Unicode spaces in ids ------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\x7f", "\x85", "\x0b"])
def test_a_control_character_in_a_run_or_qrels_id_names_file_and_line(tmp_path, char):
    run = write(tmp_path / "run", f"q1 Q0 d1 1 2.0 t\nq1 Q0 d{char}2 2 1.0 t\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{run}:2: the control character U+{ord(char):04X}")):
        read_run(run)
    qrels = write(tmp_path / "qrels", f"q1 0 d1 1\nq{char}1 0 d2 1\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{qrels}:2: the control character")):
        read_qrels(qrels)


def test_a_nul_no_longer_collides_two_ids(tmp_path):
    """trec_eval reads C strings: 'd1\\0x' is 'd1', the same document as 'd1'."""
    path = write(tmp_path / "run", "q1 Q0 d1 1 2.0 t\nq1 Q0 d1\x00x 2 1.0 t\n")
    with pytest.raises(TrecFormatError, match="U\\+0000"):
        read_run(path)


def test_a_unicode_space_python_splits_on_is_refused(tmp_path):
    path = write(tmp_path / "run", "q1 Q0 d1\u00a0x 1 2.0 t\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:1: the Unicode space U+00A0")):
        read_run(path)


@pytest.mark.parametrize(("name", "line", "expected"), [
    ("corpus", '{"_id": "d\\u0000", "text": "x"}', "document id 'd\\x00' holds the control character U+0000"),
    ("queries", '{"_id": "q\\u0007", "text": "x"}', "query id 'q\\x07' holds the control character U+0007"),
    ("qrels", "q1\td\x011\t1", "corpus id 'd\\x011' holds the control character U+0001"),
    ("qrels", "q1\td 1\t1", "corpus id 'd 1' is empty or holds whitespace"),
])
def test_a_control_character_in_a_beir_id_names_file_and_line(registry, tmp_path, name, line, expected):
    folder = write_beir(tmp_path / "b")
    path = folder / ("qrels/test.tsv" if name == "qrels" else f"{name}.jsonl")
    with open(path, "a") as f:
        f.write(line + "\n")
    number = len(path.read_text().splitlines())
    with pytest.raises(DatasetError, match=re.escape(f"{path}:{number}: {expected}")):
        load_beir(registry, tmp_path, folder)


def test_a_control_character_in_a_tsv_topic_id(registry, tmp_path):
    params = trec_files(tmp_path, topics="q1\twing\nq\x002\tflutter\n")
    with pytest.raises(DatasetError, match=re.escape(f"{params['topics']}:2: query id 'q\\x002' holds the control")):
        load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)


# -- what a provider returns, whatever the provider -----------------------------------------------

class Returns(DatasetProvider):
    """Returns the collection it is told to, broken in one way."""

    name = "returns"
    params = {"broken": Param(str)}

    def load(self, ctx):
        docs = [Document("d1", "wing"), Document("d2", "flutter")]
        queries, qrels = {"q1": "wing"}, {"q1": {"d1": 1}}
        if self.broken == "list-text":
            docs[1] = Document("d2", ["wing", "flutter"])
        elif self.broken == "title":
            docs[1] = Document("d2", "x", 7)
        elif self.broken == "query-text":
            queries["q1"] = {"text": "wing"}
        elif self.broken == "nul-id":
            docs[1] = Document("d\x002", "x")
        elif self.broken == "space-id":
            queries["q 1"] = "x"
        elif self.broken == "int-id":
            docs[1] = Document(2, "x")
        elif self.broken == "twice":
            docs[1] = Document("d1", "x")
        elif self.broken == "float-grade":
            qrels["q1"]["d1"] = 1.5
        return Collection("r", docs, queries, qrels)


RETURNS = Registry([PluginInfo("tests", "tests", "0", components=[
    ComponentInfo("dataset", "returns", Returns, "tests", "tests", "0")])])


@pytest.mark.parametrize(("broken", "expected"), [
    ("list-text", "document 'd2' with a text that is not a string: list ['wing', 'flutter']"),
    ("title", "document 'd2' with a title that is not a string: int 7"),
    ("query-text", "query 'q1' with a text that is not a string: dict"),
    ("nul-id", "document id 'd\\x002', which holds a control character (U+0000)"),
    ("space-id", "query id 'q 1', which holds whitespace (U+0020)"),
    ("int-id", "a document id that is not a string: int 2"),
    ("twice", "document 'd1' twice"),
    ("float-grade", "a grade that is not an integer for query 'q1', document 'd1': 1.5"),
])
def test_what_any_provider_returns_is_checked(tmp_path, broken, expected):
    """ir_datasets and plugin providers included: checked once, on the whole lists."""
    with pytest.raises(DatasetError, match=re.escape(f"dataset 'r': provider 'returns' returned {expected}")):
        load_dataset(DatasetSpec("r", "returns", {"broken": broken}), RETURNS, tmp_path)


@pytest.mark.parametrize(("name", "record", "expected"), [
    ("corpus", {"_id": "d9", "text": ["wing", "flutter"]}, "text 'text' must be a string, got a list"),
    ("corpus", {"_id": "d9", "text": 7}, "text 'text' must be a string, got a number (7)"),
    ("corpus", {"_id": "d9", "title": ["a"], "text": "x"}, "title must be a string, got a list"),
    ("corpus", {"_id": ["d9"], "text": "x"}, "document id '_id' must be a string or an integer, got a list"),
    ("corpus", {"_id": True, "text": "x"}, "document id '_id' must be a string or an integer, got a boolean"),
    ("queries", {"_id": "q9", "text": {"en": "x"}}, "text 'text' must be a string, got an object"),
])
def test_non_string_text_in_a_jsonl_file_names_file_and_line(registry, tmp_path, name, record, expected):
    folder = write_beir(tmp_path / "b")
    path = folder / f"{name}.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    number = len(path.read_text().splitlines())
    with pytest.raises(DatasetError, match=re.escape(f"{path}:{number}: {expected}")):
        load_beir(registry, tmp_path, folder)


def test_integer_ids_are_still_read_as_strings(registry, tmp_path):
    folder = write_beir(tmp_path / "b")
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": 9, "text": "x"}) + "\n")
    assert "9" in {d.id for d in load_beir(registry, tmp_path, folder).docs}


# -- numbers as trec_eval reads them ------------------------------------------------------------

@pytest.mark.parametrize("score", ["1_000", "1_0.5", "\u0661", "\uff11.5"])
def test_a_run_score_python_reads_otherwise_than_trec_eval(tmp_path, score):
    path = write(tmp_path / "run", f"q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 {score} t\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:2: score {score!r} is not a plain number")):
        read_run(path)


@pytest.mark.parametrize("grade", ["1_0", "\u0662"])
def test_a_qrels_grade_python_reads_otherwise_than_trec_eval(tmp_path, grade):
    path = write(tmp_path / "qrels", f"q1 0 d1 1\nq1 0 d2 {grade}\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:2: grade {grade!r} is not a plain number")):
        read_qrels(path)


def test_a_beir_score_with_an_underscore(registry, tmp_path):
    folder = beir(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1_0\n")
    with pytest.raises(DatasetError, match=re.escape(f"{folder / 'qrels/test.tsv'}:2: score '1_0' is not an integer")):
        load_beir(registry, tmp_path, folder)


def test_a_numeric_first_line_is_not_taken_for_a_header(registry, tmp_path):
    folder = beir(tmp_path, qrels="q1\td1\t1_0\nq1\td3\t1\n")
    with pytest.raises(DatasetError, match=re.escape(":1: score '1_0' is not an integer")):
        load_beir(registry, tmp_path, folder)


# -- empty files --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n\n", "   \n", "\ufeff"])
def test_an_empty_run_or_qrels_file_is_refused(tmp_path, text):
    path = write(tmp_path / "f", text)
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}: empty file, expected run lines")):
        read_run(path)
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}: empty file, expected qrels lines")):
        read_qrels(path)
    assert len(read_run(path, allow_empty=True)) == 0  # a cached run of queries that retrieved nothing


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("corpus", "", "corpus.jsonl: empty file"),
    ("corpus", "\n  \n", "corpus.jsonl: empty file"),
    ("queries", "", "queries.jsonl: empty file"),
    ("qrels", "query-id\tcorpus-id\tscore\n", "test.tsv: empty file"),
    ("qrels", "", "test.tsv: empty file"),
])
def test_an_empty_beir_file_is_named(registry, tmp_path, name, data, expected):
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_beir(registry, tmp_path, beir(tmp_path, **{name: data}))


@pytest.mark.parametrize("which", ["topics", "qrels", "corpus"])
def test_an_empty_trec_file_is_named(registry, tmp_path, which):
    params = trec_files(tmp_path, **{which: ""})
    with pytest.raises(DatasetError, match=re.escape(f"{params[which]}: empty file")):
        load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)


# -- '#' is part of an id -----------------------------------------------------------------------

def test_query_ids_beginning_with_a_hash_are_ids(tmp_path):
    """trec_eval 9 (inside pytrec_eval) has no comment lines in run and qrels files."""
    run = read_run(write(tmp_path / "run", "#1 Q0 d1 1 2.0 t\n#1 Q0 d2 2 1.0 t\n2 Q0 d1 1 1.0 t\n"))
    assert list(run) == ["#1", "2"] and run.ranked("#1") == [("d1", 2.0), ("d2", 1.0)]
    assert read_qrels(write(tmp_path / "qrels", "#1 0 d1 1\n2 0 d2 1\n")) == {"#1": {"d1": 1}, "2": {"d2": 1}}


def test_a_comment_line_is_a_malformed_line_with_a_hint(tmp_path):
    path = write(tmp_path / "run", "# produced by bm25\nq1 Q0 d1 1 2.0 t\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:1: expected 6 columns")) as caught:
        read_run(path)
    assert "a line starting with '#' is data here" in str(caught.value)


# -- a qrels file without a positive grade --------------------------------------------------------

def test_qrels_in_a_qid_docid_grade_layout_are_refused_with_the_layout_named(tmp_path):
    """'qid docid grade 0': trec_eval reads the grade as the doc id and every grade as 0."""
    path = write(tmp_path / "qrels", "q1 d1 1 0\nq1 d2 0 0\nq2 d3 2 0\nq2 d4 1 0\n")
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}: no positive judgment: all 4 grades")) as caught:
        read_qrels(path)
    assert "column 3 holds only the numbers 0, 1, 2 and column 2 varies like document ids" in str(caught.value)
    assert "'qid docid grade ...'" in str(caught.value)


def test_qrels_with_the_grades_in_the_iter_column(tmp_path):
    path = write(tmp_path / "qrels", "q1 1 d1 0\nq1 2 d2 0\n")
    with pytest.raises(TrecFormatError, match="column 2 \\(iter, ignored\\) holds positive numbers"):
        read_qrels(path)


def test_qrels_judging_everything_not_relevant(registry, tmp_path):
    path = write(tmp_path / "qrels", "q1 0 d1 0\nq1 0 d2 -1\n")
    with pytest.raises(TrecFormatError, match=r"no positive judgment: all 2 grades .* are 0 or less"):
        read_qrels(path)
    folder = beir(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t0\n")
    with pytest.raises(DatasetError, match=re.escape("test.tsv: no positive judgment: all 1 scores")):
        load_beir(registry, tmp_path, folder)


def test_a_grade_mapping_that_leaves_no_positive_judgment(registry, tmp_path):
    spec = DatasetSpec("b", "beir", {"path": str(write_beir(tmp_path / "b"))}, grades={1: 0, 2: 0})
    with pytest.raises(DatasetError, match="no positive judgment after the grade mapping"):
        load_dataset(spec, registry, tmp_path)


def test_an_all_zero_other_split_does_not_stop_this_one(registry, tmp_path):
    folder = write_beir(tmp_path / "b")
    write(folder / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\n")
    assert load_beir(registry, tmp_path, folder).qrels


# -- fields -------------------------------------------------------------------------------------

def test_empty_fields_are_refused(registry, tmp_path):
    spec = DatasetSpec("b", "beir", {"path": str(write_beir(tmp_path / "b"))}, fields=())
    with pytest.raises(DatasetError, match="fields must be a non-empty list"):
        load_dataset(spec, registry, tmp_path)
    with pytest.raises(ValueError, match="fields must name one or more of text, title"):
        Collection("c", [], {}, {}, fields=())
    with pytest.raises(ValueError, match="fields must name"):
        Collection("c", [], {}, {}, fields=("body",))


def test_empty_fields_in_a_suite_are_refused(tmp_path):
    """Needs harness/suite/check.py to tell ``fields = []`` from no ``fields`` (see the report)."""
    from harness.suite import validate

    folder = write_beir(tmp_path / "b")
    suite = tmp_path / "s.toml"
    suite.write_text(f'name = "s"\nmetrics = ["P@1"]\n[[datasets]]\nsource = "beir:{folder}"\nfields = []\n'
                     '[[pipelines]]\nname = "bm25"\nretriever = { plugin = "bm25" }\n')
    problems = validate(suite)
    assert any("fields" in str(p) for p in problems), problems


# -- carriage returns, files that are not regular files, lone surrogates, BEIR headers -------------
# (issue 13 follow-up: an adversarial tester's findings 1-5; each test failed, or hung, before.)

LONE_CR = "CR-only line ends are not supported: convert the file to LF line ends"


@pytest.mark.parametrize(("data", "line"), [
    (b"q1 Q0 d\r9 1 2.0 r\n", 1),  # Python split the doc id at the CR: 'd', trec_eval read 'd\r9'
    (b"q1 Q0 d2 1 2.0 r\rq1 Q0 d1 2 1.0 r\rq2 Q0 d3 1 1 r\r", 1),  # CR-only: one line, every measure 0
    (b"q1 Q0 d2 1 2.0 r\r\nq1 Q0 d1 2 1.0 r\r\r\n", 2),  # a CR before a CRLF is a lone one
])
def test_a_lone_carriage_return_in_a_run_names_file_and_line(tmp_path, data, line):
    path = write(tmp_path / "run", data)
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:{line}: a carriage return (CR)") + ".*" + LONE_CR):
        read_run(path)


@pytest.mark.parametrize("data", [b"q1 0 d\r1 1\n", b"q1 0 d1 1\rq1 0 d2 0\r"])
def test_a_lone_carriage_return_in_qrels_names_file_and_line(tmp_path, data):
    path = write(tmp_path / "qrels", data)
    with pytest.raises(TrecFormatError, match=re.escape(f"{path}:1: a carriage return (CR)") + ".*" + LONE_CR):
        read_qrels(path)


def test_crlf_run_and_qrels_files_still_read(tmp_path):
    run = read_run(write(tmp_path / "run", b"q1 Q0 d2 1 2.0 r\r\nq1 Q0 d1 2 1.0 r\r\n"))
    assert dict(run["q1"]) == {"d2": 2.0, "d1": 1.0}
    assert read_qrels(write(tmp_path / "qrels", b"q1 0 d1 1\r\nq1 0 d2 0\r\n")) == {"q1": {"d1": 1, "d2": 0}}


@pytest.mark.parametrize(("which", "data", "line"), [
    ("topics", b"q1\twing flutter\rq2\tflutter\r", 1),  # used to be one query: 'q1', the whole file
    ("topics", b"q1\twing\r\nq2\tflut\rter\r\n", 2),
    ("topics", b"<top>\r<num> Number: 1\r<title> wing\r</top>\r", 1),
    ("topics", b'{"_id": "q1", "text": "wing"}\r{"_id": "q2", "text": "x"}\r', 1),
    ("qrels", b"q1 0 d1 1\rq1 0 d2 1\r", 1),
])
def test_a_lone_carriage_return_in_trec_files_names_file_and_line(registry, tmp_path, which, data, line):
    params = trec_files(tmp_path, **{which: data})
    expected = re.escape(f"{params[which]}:{line}: a carriage return (CR)") + ".*" + LONE_CR
    with pytest.raises(DatasetError, match=expected):
        load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)


def test_crlf_trec_files_and_a_cr_in_an_sgml_corpus_still_read(registry, tmp_path):
    corpus = b"<DOC>\r<DOCNO> d1 </DOCNO>\r<TEXT>wing\rflutter</TEXT>\r</DOC>\r"  # a CR is whitespace here
    params = trec_files(tmp_path, topics=b"q1\twing flutter\r\n", qrels=b"q1 0 d1 1\r\n", corpus=corpus)
    collection = load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)
    assert collection.queries == {"q1": "wing flutter"}
    assert collection.qrels == {"q1": {"d1": 1}}
    assert [(d.id, d.text) for d in collection.docs] == [("d1", "wing flutter")]


@pytest.mark.parametrize(("name", "data", "line"), [
    ("qrels", b"query-id\tcorpus-id\tscore\nq1\td\r1\t1\n", 2),
    ("qrels", b"query-id\tcorpus-id\tscore\rq1\td1\t1\r", 1),
    ("queries", b'{"_id": "q1", "text": "wing"}\r{"_id": "q2", "text": "x"}\r', 1),
    ("corpus", b'{"_id": "d1", "text": "wing"}\n{"_id": "d2",\r"text": "x"}\n', 2),
])
def test_a_lone_carriage_return_in_a_beir_file_names_file_and_line(registry, tmp_path, name, data, line):
    folder = beir(tmp_path, **{name: data})
    path = folder / ("qrels/test.tsv" if name == "qrels" else f"{name}.jsonl")
    with pytest.raises(DatasetError, match=re.escape(f"{path}:{line}: a carriage return (CR)") + ".*" + LONE_CR):
        load_beir(registry, tmp_path, folder)


def test_crlf_beir_files_still_read(registry, tmp_path):
    folder = write_beir(tmp_path / "b")
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels/test.tsv"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    expected = load_beir(registry, tmp_path / "1", write_beir(tmp_path / "plain"))
    collection = load_beir(registry, tmp_path / "2", folder)
    assert (collection.queries, collection.qrels) == (expected.queries, expected.qrels)
    assert [(d.id, d.text) for d in collection.docs] == [(d.id, d.text) for d in expected.docs]


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _without_hanging(read, fifo: Path):
    """``read()``'s exception; a read that blocks on the named pipe fails the test (and is released)."""
    box: list[BaseException] = []

    def target():
        try:
            read()
        except BaseException as exc:  # handed to the test
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a writer that closes: the reader sees EOF
        thread.join(10)
        pytest.fail("reading a named pipe blocked")
    assert box, "a named pipe was read as a file"
    return box[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("reader", [read_run, read_qrels])
def test_a_named_pipe_as_a_run_or_qrels_file_is_refused(tmp_path, reader):
    fifo = _fifo(tmp_path)
    exc = _without_hanging(lambda: reader(fifo), fifo)
    assert isinstance(exc, TrecFormatError)
    assert str(exc) == f"{fifo}: not a regular file (a named pipe)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("which", ["topics", "qrels", "corpus"])
def test_a_named_pipe_as_a_trec_file_is_refused(registry, tmp_path, which):
    params = trec_files(tmp_path)
    Path(params[which]).unlink()
    os.mkfifo(params[which])
    exc = _without_hanging(lambda: load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path),
                           Path(params[which]))
    assert isinstance(exc, DatasetError)
    assert str(exc).endswith(f" {params[which]}: not a regular file (a named pipe)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl"])
def test_a_named_pipe_in_a_beir_folder_is_refused(registry, tmp_path, name):
    folder = write_beir(tmp_path / "b")
    (folder / name).unlink()
    os.mkfifo(folder / name)
    exc = _without_hanging(lambda: load_beir(registry, tmp_path, folder), folder / name)
    assert isinstance(exc, DatasetError)
    assert str(exc).endswith(f" {folder / name}: not a regular file (a named pipe)")


def test_a_folder_as_a_run_or_qrels_file_is_named(tmp_path):
    with pytest.raises(TrecFormatError, match=re.escape(f"{tmp_path}: is a folder, expected a file")):
        read_run(tmp_path)
    with pytest.raises(TrecFormatError, match=re.escape(f"{tmp_path}: is a folder, expected a file")):
        read_qrels(tmp_path)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p.mkdir(), "is a folder, expected a file"),
    (lambda p: None, "no such file"),
    (lambda p: os.mkfifo(p), "not a regular file (a named pipe)"),
])
def test_the_trec_run_retriever_names_a_path_that_is_no_file(registry, tmp_path, make, expected):
    path = tmp_path / "run"
    make(path)
    retriever = registry.get("retriever", "trec-run")(path="run")
    ctx = Context(base_dir=tmp_path)
    for step in (lambda: retriever.identity(ctx), lambda: retriever.index(None, ctx)):
        exc = _without_hanging(step, path)  # a cell failed with a bare IsADirectoryError, or hung
        assert isinstance(exc, TrecFormatError)  # a HarnessError: one 'error:' line naming the path
        assert str(exc) == f"{path}: {expected}"


@pytest.mark.parametrize(("name", "line", "char"), [
    ("corpus", '{"_id": "d\\ud800", "text": "x"}', "D800"),
    ("corpus", '{"_id": "d9", "text": "wing \\udfff flutter"}', "DFFF"),
    ("corpus", '{"_id": "d9", "text": "x", "title": "\\uDBFF"}', "DBFF"),
    ("queries", '{"_id": "q\\ud800", "text": "x"}', "D800"),
    ("queries", '{"_id": "q9", "text": "\\ude00\\ud83d"}', "DE00"),  # a pair in the wrong order
])
def test_a_lone_surrogate_in_json_names_file_and_line(registry, tmp_path, name, line, char):
    folder = write_beir(tmp_path / "b")
    path = folder / f"{name}.jsonl"
    with open(path, "a") as f:
        f.write(line + "\n")
    number = len(path.read_text().splitlines())
    with pytest.raises(DatasetError, match=re.escape(f"{path}:{number}: a lone surrogate U+{char}")):
        load_beir(registry, tmp_path, folder)


def test_a_surrogate_pair_and_an_escaped_backslash_are_still_read(registry, tmp_path):
    folder = write_beir(tmp_path / "b")
    with open(folder / "queries.jsonl", "a") as f:
        f.write('{"_id": "q9", "text": "wing \\ud83d\\ude00 \\\\ud800"}\n')  # an emoji, the text '\ud800'
    collection = load_beir(registry, tmp_path, folder)
    assert collection.queries["q9"] == "wing \U0001f600 \\ud800"


@pytest.mark.parametrize("score", ["NaN", "nan", "inf", "-Infinity", "\uff11", "\u0661", "1.0", "?"])
def test_a_first_line_that_is_no_header_is_a_judgment(registry, tmp_path, score):
    folder = beir(tmp_path, qrels=f"q1\td1\t{score}\nq1\td3\t1\n")
    expected = f"{folder / 'qrels/test.tsv'}:1: score {score!r} is not an integer"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_beir(registry, tmp_path, folder)


@pytest.mark.parametrize("header", ["query-id\tcorpus-id\tscore", "qid\tdocid\trelevance", "q\td\tRelevance score"])
def test_a_header_with_a_word_for_the_score_is_skipped(registry, tmp_path, header):
    collection = load_beir(registry, tmp_path, beir(tmp_path, qrels=f"{header}\nq1\td1\t1\n"))
    assert collection.qrels == {"q1": {"d1": 1}}
