"""``Collection.data_report()``: the counts about a collection's judgments that are silent today
(issue 13, item 5): queries without judgments, judged documents not in the corpus, queries with
no positive judgment, judged queries not among the topics, and ids that differ by zero padding.
"""

from __future__ import annotations

import json
import time

from tinydata import write_beir

from harness.collection import Collection, DataReport, Document
from harness.datasets import DatasetSpec, load_dataset
from harness.plugins import load_registry


def collection(**qrels) -> Collection:
    docs = [Document(i, f"text {i}") for i in ("756", "d1", "d2", "MED-7", "0042")]
    queries = {"1": "a", "2": "b", "3": "c", "4": "d", "7": "e"}
    return Collection("c", docs, queries, qrels or {"1": {"756": 1, "d1": 0}, "2": {"d2": 2}, "3": {"d1": 0},
                                                    "7": {"d1": 1}})


def test_a_clean_collection_reports_nothing_but_its_sizes():
    report = collection().data_report()
    assert isinstance(report, DataReport)
    assert report.unjudged_queries == 1 and report.examples["unjudged_queries"] == ("4",)
    assert report.no_positive_queries == 1 and report.examples["no_positive_queries"] == ("3",)
    assert report.missing_documents == report.padded_documents == report.unknown_queries == 0
    assert (report.queries, report.judged_queries, report.documents, report.judgments) == (5, 4, 5, 5)
    assert report.problems() == {"unjudged_queries": 1, "no_positive_queries": 1}


def test_judged_documents_not_in_the_corpus_are_counted():
    report = collection(**{"1": {"d1": 1, "d9": 1, "d10": 0}, "2": {"d9": 2, "d2": 1}}).data_report()
    assert report.missing_documents == 2 and report.examples["missing_documents"] == ("d9", "d10")
    assert report.missing_judgments == 3 and report.missing_relevant == 2
    assert report.padded_documents == 0


def test_zero_padded_document_ids_are_found_both_ways():
    """qrels '0756' where the corpus has '756'; qrels '42' where the corpus has '0042'; 'MED-007'."""
    report = collection(**{"1": {"0756": 1, "42": 1, "MED-007": 1, "d9": 1}}).data_report()
    assert report.missing_documents == 4 and report.padded_documents == 3
    assert set(report.examples["padded_documents"]) == {("0756", "756"), ("42", "0042"), ("MED-007", "MED-7")}


def test_zero_padded_query_ids_and_unknown_queries():
    report = Collection("c", [Document("d1", "x")], {"1": "a", "7": "b"},
                        {"1": {"d1": 1}, "007": {"d1": 1}, "99": {"d1": 1}}).data_report()
    assert report.unknown_queries == 2 and report.examples["unknown_queries"] == ("007", "99")
    assert report.padded_queries == 1 and report.examples["padded_queries"] == (("007", "7"),)


def test_to_dict_is_plain_json_and_notes_are_sentences():
    report = collection(**{"1": {"0756": 1, "d1": 0}, "2": {"d2": 0}}).data_report()
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["padded_documents"] == 1 and data["examples"]["padded_documents"] == [["0756", "756"]]
    assert all(type(v) is int for k, v in data.items() if k != "examples")
    notes = report.notes()
    assert len(notes) == len(report.problems()) - 2  # judgments and relevant ones: in the missing documents' note
    assert any("1 judged documents are not in the corpus (e.g. '0756')" in n for n in notes)
    assert any("match corpus ids only up to leading zeros (e.g. judged '0756', collection '756')" in n for n in notes)
    assert any("have no judgment of grade 1 or more" in n for n in notes)
    assert all(n.endswith(".") for n in notes)


def test_the_report_is_computed_once():
    c = collection()
    assert c.data_report() is c.data_report()


def test_a_loaded_beir_folder_reports_padding_and_dropped_judgments(tmp_path):
    folder = write_beir(tmp_path / "b")
    with open(folder / "qrels" / "test.tsv", "a") as f:
        f.write("q1\td01\t1\nq9\td1\t1\nq1\tgone\t2\n")
    loaded = load_dataset(DatasetSpec("b", "beir", {"path": str(folder)}), load_registry(), tmp_path)
    report = loaded.data_report()
    assert report.missing_documents == 2 and report.missing_relevant == 2
    assert report.padded_documents == 1 and report.examples["padded_documents"] == (("d01", "d1"),)
    assert report.unknown_queries == 1 and report.examples["unknown_queries"] == ("q9",)
    assert report.no_positive_queries == 0 and report.unjudged_queries == 0


def test_the_report_is_cheap_on_a_large_corpus():
    docs = [Document(str(i), "") for i in range(200_000)]
    qrels = {str(q): {str(q * 7 + j): 1 for j in range(20)} | {f"0{q}": 1} for q in range(2_000)}
    c = Collection("big", docs, {str(q): "x" for q in range(2_000)}, qrels)
    start = time.perf_counter()
    report = c.data_report()
    assert report.missing_documents == 2_000 and report.padded_documents == 2_000
    assert time.perf_counter() - start < 2.0
