"""The built-in dataset providers ``irds``, ``beir`` and ``trec``, on tiny files and on the shared
collections (Cranfield through ir_datasets and as a BEIR folder must agree)."""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter, namedtuple
from pathlib import Path

import pytest

from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import load_registry

CRANFIELD_GRADES = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}


@pytest.fixture(scope="module")
def registry():
    return load_registry({"HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.fixture
def load(registry, tmp_path):
    def load(provider, base_dir=tmp_path, **params):
        return load_dataset(DatasetSpec("t", provider, params), registry, base_dir)

    return load


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_providers_are_registered(registry):
    for name, source_param in (("irds", "id"), ("beir", "path"), ("trec", "topics")):
        cls = registry.get("dataset", name)
        assert cls.source_param == source_param and source_param in cls.params
        assert cls.summary()


# ---------------------------------------------------------------- beir


@pytest.fixture
def beir(tmp_path) -> Path:
    folder = tmp_path / "data" / "mini"
    write(
        folder / "corpus.jsonl",
        jsonl(
            {"_id": "d1", "title": "Wings", "text": "lift of wings"},
            {"_id": "d2", "title": "", "text": "drag"},
            {"_id": 3, "text": "numeric id, no title"},
        ),
    )
    write(
        folder / "queries.jsonl",
        jsonl(
            {"_id": "q1", "text": "wing lift"},
            {"_id": "q2", "text": "drag", "metadata": {}},
            {"_id": "q3", "text": "judged in train only"},
            {"_id": "q4", "text": "judged nowhere"},
        ),
    )
    write(
        folder / "qrels" / "test.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t3\t0\nq2\td2\t1\n",
    )
    write(folder / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq3\td1\t1\nq1\td2\t1\n")
    return folder


def test_beir_loads_a_folder(load, beir):
    c = load("beir", path=str(beir))
    assert [(d.id, d.title, d.text) for d in c.docs] == [
        ("d1", "Wings", "lift of wings"),
        ("d2", "", "drag"),
        ("3", "", "numeric id, no title"),
    ]
    # q3 is judged only in another split; q4, judged nowhere, stays (as CISI's unjudged queries).
    assert c.queries == {"q1": "wing lift", "q2": "drag", "q4": "judged nowhere"}
    assert c.qrels == {"q1": {"d1": 2, "3": 0}, "q2": {"d2": 1}}
    assert c.metadata["split"] == "test"
    assert c.metadata["provider_params"] == {"path": str(beir)}


def test_beir_split_and_relative_path(load, beir, tmp_path):
    c = load("beir", base_dir=tmp_path / "data", path="mini", split="train")
    assert c.qrels == {"q3": {"d1": 1}, "q1": {"d2": 1}}
    assert set(c.queries) == {"q1", "q3", "q4"}


def test_beir_gzip_corpus_and_headerless_qrels(load, beir):
    write(beir / "corpus.jsonl.gz", (beir / "corpus.jsonl").read_text())
    (beir / "corpus.jsonl").unlink()
    write(beir / "qrels" / "test.tsv", "q1\td1\t1\n")
    c = load("beir", path=str(beir))
    assert len(c.docs) == 3 and c.qrels == {"q1": {"d1": 1}}


def test_beir_unknown_split_lists_the_available_ones(load, beir):
    with pytest.raises(
        DatasetError, match=r"dataset 't': no split 'dev' in .*qrels; available: test, train"
    ):
        load("beir", path=str(beir), split="dev")


def test_beir_missing_folder_and_file(load, beir):
    with pytest.raises(DatasetError, match=r"dataset 't': .*nowhere: no such folder"):
        load("beir", path=str(beir.parent / "nowhere"))
    (beir / "queries.jsonl").unlink()
    with pytest.raises(DatasetError, match=re.escape(f"{beir / 'queries.jsonl'}: no such file")):
        load("beir", path=str(beir))


@pytest.mark.parametrize(
    "file, text, message",
    [
        (
            "corpus.jsonl",
            '{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n',
            r"corpus.jsonl:2: malformed JSON \(Expecting value",
        ),
        ("corpus.jsonl", '["a", "b"]\n', r"corpus.jsonl:1: expected a JSON object, got list"),
        (
            "corpus.jsonl",
            '{"_id": "a", "text": "x"}\n\n{"title": "t", "text": "y"}\n',
            r"corpus.jsonl:3: no document id \('_id'\); the record has title, text",
        ),
        ("corpus.jsonl", '{"_id": "a", "contents": "x"}\n', r"corpus.jsonl:1: no text \('text'\)"),
        (
            "corpus.jsonl",
            '{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}\n{"_id": "a", "text": "z"}\n',
            r"corpus.jsonl:3: duplicate document id 'a' \(first at line 1\)",
        ),
        ("queries.jsonl", '{"text": "x"}\n', r"queries.jsonl:1: no query id \('_id'\)"),
        (
            "queries.jsonl",
            '{"_id": "q1", "text": "x"}\n{"_id": "q1", "text": "y"}\n',
            r"queries.jsonl:2: duplicate query id 'q1' \(first at line 1\)",
        ),
        (
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\thigh\n",
            r"test.tsv:3: score 'high' is not an integer",
        ),
        (
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1 d1 1\n",
            r"test.tsv:2: expected 3 tab-separated columns",
        ),
        (
            "qrels/test.tsv",
            "q1\td1\t1\nq1\td1\t2\n",
            r"test.tsv:2: query 'q1', document 'd1' judged twice \(1 and 2\)",
        ),
    ],
)
def test_beir_file_errors_name_file_and_line(load, beir, file, text, message):
    write(beir / file, text)
    with pytest.raises(DatasetError, match=r"^dataset 't': .*" + message):
        load("beir", path=str(beir))


def test_non_utf8_names_the_line(load, beir):
    (beir / "corpus.jsonl").write_bytes(
        b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xe9"}\n'
    )
    with pytest.raises(DatasetError, match=r"corpus.jsonl:2: not UTF-8 text"):
        load("beir", path=str(beir))


# ---------------------------------------------------------------- trec

SGML_TOPICS = """<top>
<num> Number: 401
<title> foreign minorities, Germany

<desc> Description:
What language and cultural differences impede
the integration of foreign minorities in Germany?

<narr> Narrative:
A relevant document will focus on the causes.
</top>

<TOP><NUM>402</NUM><TITLE>behavioral genetics</TITLE>
<DESC>Description: What is known about genetics?</DESC><NARR>Narrative: Any study.</NARR></TOP>
"""

SGML_CORPUS = """<DOC>
<DOCNO> FT-1 </DOCNO>
<HEADLINE>Minorities
in Germany</HEADLINE>
<TEXT>
Foreign <P>minorities</P>
face barriers.
</TEXT>
</DOC>
<DOC><DOCNO>2</DOCNO> no text element, as in   Vaswani </DOC>
"""

QRELS = "401 0 FT-1 2\n401 0 2 0\n402 0 2 1\n"


@pytest.fixture
def trec(tmp_path) -> dict[str, Path]:
    return {
        "topics": write(tmp_path / "topics.txt", SGML_TOPICS),
        "qrels": write(tmp_path / "qrels.txt", QRELS),
        "corpus": write(tmp_path / "docs.sgml", SGML_CORPUS),
    }


def trec_params(files: dict[str, Path], **changes) -> dict:
    return {key: str(path) for key, path in {**files, **changes}.items()}


def test_trec_sgml(load, trec):
    c = load("trec", **trec_params(trec))
    assert c.queries == {"401": "foreign minorities, Germany", "402": "behavioral genetics"}
    assert [(d.id, d.title, d.text) for d in c.docs] == [
        ("FT-1", "Minorities in Germany", "Foreign minorities face barriers."),
        ("2", "", "no text element, as in Vaswani"),
    ]
    assert c.qrels == {"401": {"FT-1": 2, "2": 0}, "402": {"2": 1}}
    assert c.metadata["topic_field"] == "title"


@pytest.mark.parametrize(
    "field, expected",
    [
        (
            "description",
            {
                "401": "What language and cultural differences impede the integration of "
                "foreign minorities in Germany?",
                "402": "What is known about genetics?",
            },
        ),
        (
            "narrative",
            {"401": "A relevant document will focus on the causes.", "402": "Any study."},
        ),
    ],
)
def test_trec_topic_field(load, trec, field, expected):
    assert load("trec", **trec_params(trec), topic_field=field).queries == expected


def test_trec_tsv_and_jsonl_topics_and_jsonl_corpus_gzipped(load, trec, tmp_path):
    tsv = write(tmp_path / "topics.tsv.gz", "401\tforeign minorities\n\n402\tgenetics\n")
    docs = write(
        tmp_path / "docs.jsonl.gz",
        jsonl(
            {"docno": "FT-1", "contents": "minorities"},
            {"id": 2, "title": "T", "body": "genes"},
        ),
    )
    qrels = write(tmp_path / "qrels.gz", QRELS)
    c = load("trec", **trec_params(trec, topics=tsv, corpus=docs, qrels=qrels))
    assert c.queries == {"401": "foreign minorities", "402": "genetics"}
    assert [(d.id, d.title, d.text) for d in c.docs] == [
        ("FT-1", "", "minorities"),
        ("2", "T", "genes"),
    ]
    assert c.qrels["402"] == {"2": 1}
    topics = write(
        tmp_path / "topics.jsonl",
        jsonl({"query_id": "401", "query": "a"}, {"_id": "402", "text": "b"}),
    )
    assert load("trec", **trec_params(trec, topics=topics)).queries == {"401": "a", "402": "b"}


def test_trec_relative_paths(load, trec, tmp_path):
    c = load("trec", base_dir=tmp_path, topics="topics.txt", qrels="qrels.txt", corpus="docs.sgml")
    assert len(c.docs) == 2


@pytest.mark.parametrize(
    "key, file, text, message",
    [
        ("topics", "t.txt", "<top>\n<title> no number\n</top>\n", r"t.txt:1: topic without <num>"),
        (
            "topics",
            "t.txt",
            "<top><num>1</num><title>a</title></top>\n\n<top>\n<num> 2\n<title> b\n",
            r"t.txt:3: <top> is never closed",
        ),
        (
            "topics",
            "t.txt",
            "<top>\n<num> 1\n<title> a\n<top>\n<num> 2\n<title> b\n</top>\n",
            r"t.txt:4: <top> opened at line 1 is not closed",
        ),
        (
            "topics",
            "t.txt",
            "<top><num>1</num><title>a</title></top>\n<top>\n<num>1</num><title>b</title></top>\n",
            r"t.txt:2: duplicate topic '1' \(first at line 1\)",
        ),
        ("topics", "t.tsv", "1\tfirst\n2 second\n", r"t.tsv:2: expected 'qid<TAB>text'"),
        ("topics", "t.tsv", "", r"t.tsv: empty file"),
        ("topics", "t.jsonl", '{"_id": "1"}\n', r"t.jsonl:1: no text \('text' or 'query'\)"),
        ("corpus", "c.sgml", "<DOC>\n<TEXT>x</TEXT>\n</DOC>\n", r"c.sgml:1: <DOC> without <DOCNO>"),
        (
            "corpus",
            "c.sgml",
            "<DOC><DOCNO>a</DOCNO></DOC>\n<DOC><DOCNO>a</DOCNO></DOC>\n",
            r"c.sgml:2: duplicate DOCNO 'a' \(first at line 1\)",
        ),
        ("corpus", "c.sgml", "<html>nothing</html>\n", r"c.sgml: no <DOC> element"),
        ("corpus", "c.txt", "plain words\n", r"c.txt: cannot tell the format from 'plain words'"),
        (
            "corpus",
            "c.jsonl",
            '{"id": "a", "text": "x"}\n{"id": "b"\n',
            r"c.jsonl:2: malformed JSON",
        ),
        (
            "qrels",
            "q.txt",
            "401 0 FT-1 2\n401 0 2 high\n",
            r"q.txt:2: grade 'high' is not an integer",
        ),
        ("qrels", "q.gz", "401 0 FT-1 2\n401 0 2\n", r"q.gz:2: expected 4 columns"),
    ],
)
def test_trec_errors_name_file_and_line(load, trec, tmp_path, key, file, text, message):
    path = write(tmp_path / file, text)
    with pytest.raises(DatasetError, match=r"^dataset 't': .*" + message):
        load("trec", **trec_params(trec, **{key: path}))


def test_trec_missing_topic_field(load, trec, tmp_path):
    topics = write(tmp_path / "t.txt", "<top>\n<num> 7\n<title> only a title\n</top>\n")
    with pytest.raises(
        DatasetError, match=r"t.txt:1: topic 7 has no <desc> text \(topic_field = 'description'\)"
    ):
        load("trec", **trec_params(trec, topics=topics), topic_field="description")


def test_trec_missing_files(load, trec, tmp_path):
    for key in ("topics", "qrels", "corpus"):
        with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'absent'}: no such file")):
            load("trec", **trec_params(trec, **{key: tmp_path / "absent"}))


# ---------------------------------------------------------------- irds, with a stand-in dataset

Doc = namedtuple("Doc", "doc_id title text")
BodyDoc = namedtuple("BodyDoc", "doc_id body")
BodyDoc.default_text = lambda self: f"body: {self.body}"
Topic = namedtuple("Topic", "query_id title description")
Topic.default_text = lambda self: self.title
Qrel = namedtuple("Qrel", "query_id doc_id relevance iteration")


class FakeIrds:
    def __init__(self, docs, queries, qrels, fail=None):
        self.docs, self.queries, self.qrels, self.fail = docs, queries, qrels, fail

    def has_docs(self):
        return True

    has_queries = has_qrels = has_docs

    def docs_iter(self):
        if self.fail:
            import ir_datasets

            ir_datasets.log.easy().info("download error: retrying")  # what ir_datasets prints
            ir_datasets.log.easy().warn("Download failed")
            raise self.fail
        return iter(self.docs)

    def queries_iter(self):
        return iter(self.queries)

    def qrels_iter(self):
        return iter(self.qrels)


@pytest.fixture
def fake_irds(monkeypatch):
    ir_datasets = pytest.importorskip("ir_datasets")

    def install(dataset):
        monkeypatch.setattr(ir_datasets, "load", lambda dataset_id: dataset)

    return install


def test_irds_fields_and_raw_grades(load, fake_irds):
    fake_irds(
        FakeIrds(
            [Doc("1", "A title", "the text"), BodyDoc("2", "only a body")],
            [Topic("7", "short", "long"), namedtuple("Q", "query_id text")("8", "plain")],
            [Qrel("7", "1", -1, "0"), Qrel("7", "2", 2, "0"), Qrel("8", "1", 1, "0")],
        )
    )
    c = load("irds", id="fake")
    assert [(d.id, d.title, d.text) for d in c.docs] == [
        ("1", "A title", "the text"),
        ("2", "", "body: only a body"),
    ]
    assert c.queries == {"7": "short", "8": "plain"}
    assert c.qrels == {"7": {"1": -1, "2": 2}, "8": {"1": 1}}
    assert "ir_datasets" in c.metadata


def test_irds_download_failure_is_explained_quietly(load, fake_irds, capfd):
    fake_irds(FakeIrds([], [], [], fail=RuntimeError("All download sources failed", ["details"])))
    with pytest.raises(DatasetError) as info:
        load("irds", id="vaswani")
    message = str(info.value)
    assert message.startswith(
        "dataset 't': ir_datasets could not get the files of 'vaswani' "
        "(All download sources failed; no network?)"
    )
    assert "IR_DATASETS_HOME" in message and "docs/datasets.md" in message
    assert capfd.readouterr().err == ""
    assert logging.getLogger("ir_datasets").level == logging.INFO  # restored


def test_irds_unknown_id_suggests_one(load):
    pytest.importorskip("ir_datasets")
    with pytest.raises(
        DatasetError,
        match=r"^dataset 't': unknown ir_datasets id 'cranfeld' \(did you mean 'cranfield'\?\)",
    ):
        load("irds", id="cranfeld")


def test_irds_id_without_queries_suggests_subsets(load):
    pytest.importorskip("ir_datasets")
    with pytest.raises(
        DatasetError,
        match=r"id 'beir' has no documents, queries, qrels; choose a subset such as beir/",
    ):
        load("irds", id="beir")


# ---------------------------------------------------------------- shared collections


def spec(provider: str, grades=None, **params) -> DatasetSpec:
    return DatasetSpec(params.get("id", provider), provider, params, grades=grades)


def judgments(qrels) -> int:
    return sum(len(docs) for docs in qrels.values())


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.shared
def test_beir_cranfield(registry, cranfield_dir):
    c = load_dataset(spec("beir", path="cranfield"), registry, cranfield_dir.parent)
    assert (len(c.docs), len(c.queries), judgments(c.qrels)) == (1400, 225, 1612)
    raw = load_dataset(
        spec("beir", path=str(cranfield_dir), split="test_original_codes"), registry, Path()
    )
    assert judgments(raw.qrels) == 1837


@pytest.mark.shared
@pytest.mark.parametrize(
    "name, docs, queries, judged, pairs",
    [
        ("vaswani", 11429, 93, 93, 2083),
        ("cisi", 1460, 112, 76, 3114),
    ],
)
def test_beir_vaswani_and_cisi(registry, shared_dir, name, docs, queries, judged, pairs):
    folder = shared_dir / "datasets" / name
    c = load_dataset(spec("beir", path=str(folder)), registry, Path())
    assert (len(c.docs), len(c.queries), len(c.qrels), judgments(c.qrels)) == (
        docs,
        queries,
        judged,
        pairs,
    )


@pytest.mark.shared
def test_irds_cranfield_offline(registry, irds_cranfield):
    c = load_dataset(spec("irds", id=irds_cranfield), registry, Path())
    assert (len(c.docs), len(c.queries), judgments(c.qrels)) == (1400, 225, 1837)
    grades = Counter(g for docs in c.qrels.values() for g in docs.values())
    assert grades == {1: 128, 2: 387, 3: 734, 4: 363, -1: 225}  # raw codes, 1 = best


@pytest.mark.shared
def test_irds_cranfield_equals_the_beir_folder(registry, irds_cranfield, cranfield_dir):
    irds = load_dataset(spec("irds", CRANFIELD_GRADES, id=irds_cranfield), registry, Path())
    test = load_dataset(spec("beir", path=str(cranfield_dir)), registry, Path())
    original = load_dataset(
        spec("beir", CRANFIELD_GRADES, path=str(cranfield_dir), split="test_original_codes"),
        registry,
        Path(),
    )
    positive = {q: {d: g for d, g in docs.items() if g > 0} for q, docs in irds.qrels.items()}
    assert positive == test.qrels
    assert irds.qrels == original.qrels
    assert [d.id for d in irds.docs] == [d.id for d in test.docs]
    assert [(squash(d.title), squash(d.text)) for d in irds.docs] == [
        (d.title, d.text) for d in test.docs
    ]
    assert list(irds.queries) == list(test.queries)
    assert {q: squash(t) for q, t in irds.queries.items()} == test.queries
