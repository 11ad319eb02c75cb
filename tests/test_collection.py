"""Collections: contents from fields, fingerprints that follow the content, describe()."""

from __future__ import annotations

import dataclasses

import pytest

from harness.collection import Collection, Document


def make(**changes) -> Collection:
    base = dict(
        name="c",
        docs=[Document("d1", "wing lift", "Wings"), Document("d2", "heat transfer", ""),
              Document("d3", "", "Only title")],
        queries={"q1": "wing", "q2": "heat", "q3": "unjudged"},
        qrels={"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}},
    )
    base.update(changes)
    return Collection(**base)


def fingerprints(c: Collection) -> tuple:
    return c.corpus_fingerprint, c.queries_fingerprint, c.qrels_fingerprint, c.fingerprint


def test_contents_joins_fields_skipping_empty_ones():
    c = make()
    assert c.contents(c.docs[0]) == "Wings wing lift"  # title first, then text
    assert c.contents(c.docs[1]) == "heat transfer"  # no title: no leading space
    assert c.contents(c.docs[2]) == "Only title"
    assert c.texts() == ["Wings wing lift", "heat transfer", "Only title"]
    assert c.text("d1") == "Wings wing lift"
    text_only = make(fields=("text",))
    assert text_only.texts() == ["wing lift", "heat transfer", ""]
    assert make(fields=("text", "title")).text("d1") == "wing lift Wings"


def test_doc_lookup():
    c = make()
    assert c.doc("d2") is c.docs[1]
    with pytest.raises(KeyError):
        c.doc("nope")


def test_judged_queries():
    assert make().judged_queries == ["q1", "q2"]


def test_fingerprints_are_stable():
    a, b = make(), make()
    assert fingerprints(a) == fingerprints(b)
    assert all(len(f) == 16 and int(f, 16) >= 0 for f in fingerprints(a))
    # the name and metadata are labels, not content
    assert fingerprints(make(name="other", metadata={"x": 1})) == fingerprints(a)
    # dict order of queries and qrels does not matter
    reordered = make(queries={"q3": "unjudged", "q2": "heat", "q1": "wing"},
                     qrels={"q2": {"d2": 1}, "q1": {"d2": 0, "d1": 2}})
    assert fingerprints(reordered) == fingerprints(a)


@pytest.mark.parametrize(
    "changes, changed",
    [
        (dict(docs=[Document("d1", "wing lift!", "Wings"), Document("d2", "heat transfer", ""),
                    Document("d3", "", "Only title")]), "corpus"),
        (dict(docs=[Document("d1", "wing lift", "Wing"), Document("d2", "heat transfer", ""),
                    Document("d3", "", "Only title")]), "corpus"),
        (dict(docs=[Document("dX", "wing lift", "Wings"), Document("d2", "heat transfer", ""),
                    Document("d3", "", "Only title")]), "corpus"),
        (dict(docs=[Document("d2", "heat transfer", ""), Document("d1", "wing lift", "Wings"),
                    Document("d3", "", "Only title")]), "corpus"),
        (dict(docs=[Document("d1", "wing lift", "Wings"), Document("d2", "heat transfer", "")]), "corpus"),
        (dict(fields=("text",)), "corpus"),
        (dict(queries={"q1": "wings", "q2": "heat", "q3": "unjudged"}), "queries"),
        (dict(queries={"q1": "wing", "q2": "heat"}), "queries"),
        (dict(qrels={"q1": {"d1": 1, "d2": 0}, "q2": {"d2": 1}}), "qrels"),
        (dict(qrels={"q1": {"d1": 2}, "q2": {"d2": 1}}), "qrels"),
        (dict(qrels={"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}, "q3": {"d3": 1}}), "qrels"),
    ],
)
def test_fingerprints_follow_the_content(changes, changed):
    base, other = make(), make(**changes)
    names = ("corpus", "queries", "qrels")
    # fingerprints() also yields the combined fingerprint last; it changes with any part, so it is left out here
    for name, before, after in zip(names, fingerprints(base), fingerprints(other), strict=False):
        if name == changed:
            assert before != after, name
        else:
            assert before == after, name
    assert base.fingerprint != other.fingerprint


def test_title_and_text_boundaries_are_not_confused():
    a = make(docs=[Document("d1", "b c", "a")])
    b = make(docs=[Document("d1", "c", "a b")])
    assert a.contents(a.docs[0]) == b.contents(b.docs[0])  # same text components see...
    assert a.corpus_fingerprint != b.corpus_fingerprint  # ...but not the same collection


def test_describe():
    c = make(metadata={"source": "test", "version": 2})
    assert c.describe() == {
        "name": "c",
        "documents": 3,
        "queries": 3,
        "judged_queries": 2,
        "judgments": 3,
        "fields": ["title", "text"],
        "storage": "memory",
        "fingerprint": c.fingerprint,
        "corpus_fingerprint": c.corpus_fingerprint,
        "checks": c.data_report().to_dict(),
        "source": "test",
        "version": 2,
    }


def test_documents_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Document("d", "t").text = "x"
