"""Query banks (harness/banks.py): every source on tiny collections with known answers, seeding,
the no-leak guarantee (a property test), errors naming the source, ``split:`` through the dataset
provider, ``ctx.query_bank`` in a suite run, and CISI's unjudged queries."""

from __future__ import annotations

import json
import random

import pytest
from fakes import WordOverlap, registry_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.banks import (
    BankSource,
    QueryBank,
    QueryBankError,
    clear_cache,
    first_sentence,
    normalized,
    parse_source,
    query_bank,
)
from harness.collection import Collection, Document
from harness.components import Context
from harness.datasets import DatasetSpec, load_dataset
from harness.errors import HarnessError
from harness.params import Param
from harness.runner import run_suite
from harness.suite import SuiteError, load_suite


def tiny() -> Collection:
    """8 queries, 4 judged (q1..q4); q6 repeats q2's text in other case and spacing; documents with
    and without titles, one titled like an evaluated query, two with the same title."""
    docs = [
        Document("d1", "Wing flutter at speed. It shakes the wing!", "Wings"),
        Document("d2", "Heat transfer in a boundary layer", ""),
        Document("d3", "Buckling of shells? Thin ones.", "Cylindrical shells"),  # = q4's text
        Document("d4", "  ", "Nozzles"),
        Document("d5", "Noise of jets. Loud.", "Wings"),  # a title already seen
        Document("d6", "", ""),
    ]
    queries = {f"q{i}": text for i, text in enumerate(
        ["wing flutter", "heat transfer", "supersonic flow", "cylindrical shells", "boundary layer",
         "  HEAT   transfer ", "jet noise", "thin plates"], 1)}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d4": 1}, "q4": {"d3": 2}}
    return Collection("tiny", docs, queries, qrels)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


# -- sources, with known answers ------------------------------------------------------------------


def test_unjudged_holds_the_queries_without_judgments_less_identical_texts():
    bank = query_bank(tiny(), "unjudged")
    assert dict(bank.queries) == {"q5": "boundary layer", "q7": "jet noise", "q8": "thin plates"}  # q6 = q2's text
    assert bank.describe()["dropped"] == {"evaluated_id": 0, "evaluated_text": 1, "blank": 0}
    assert bank.for_query("q1") is bank and bank.for_query("q5") is bank
    assert len(bank) == 3 and "q5" in bank and bank.ids == ["q5", "q7", "q8"]


def test_pseudo_titles_skip_untitled_documents_repeats_and_evaluated_texts():
    bank = query_bank(tiny(), "pseudo:title")
    # d2, d6: no title; d3's title is q4's text; d5's title repeats d1's.
    assert dict(bank.queries) == {"pseudo:d1": "Wings", "pseudo:d4": "Nozzles"}
    assert bank.describe()["documents"] == 6


def test_pseudo_first_sentences():
    bank = query_bank(tiny(), "pseudo:first-sentence")
    assert dict(bank.queries) == {
        "pseudo:d1": "Wing flutter at speed.", "pseudo:d2": "Heat transfer in a boundary layer",
        "pseudo:d3": "Buckling of shells?", "pseudo:d5": "Noise of jets."}  # d4, d6: no text
    assert first_sentence("A 2.5 m wing. Then") == "A 2.5 m wing."
    assert first_sentence("no end\n here") == "no end here"


def test_folds_bank_each_query_on_the_other_folds():
    collection = tiny()
    bank = query_bank(collection, "folds:2", seed=3)
    assert dict(bank.queries) == {q: collection.queries[q] for q in ("q1", "q2", "q3", "q4")}
    assert sorted(q for fold in bank.folds for q in fold) == ["q1", "q2", "q3", "q4"]
    assert [len(fold) for fold in bank.folds] == [2, 2]
    for fold_index, fold in enumerate(bank.folds):
        for qid in fold:
            assert bank.fold_of(qid) == fold_index
            assert set(bank.for_query(qid)) == {"q1", "q2", "q3", "q4"} - set(fold)
            assert bank.for_query(qid).describe()["fold"] == fold_index
    # A query in no fold (an unjudged one) is answered with every evaluated query.
    assert set(bank.for_query("q7")) == {"q1", "q2", "q3", "q4"}
    # Fold assignment: random.Random(seed).shuffle, fold i takes every k-th from the i-th.
    shuffled = ["q1", "q2", "q3", "q4"]
    random.Random(3).shuffle(shuffled)
    assert [set(f) for f in bank.folds] == [set(shuffled[0::2]), set(shuffled[1::2])]


def test_folds_never_bank_a_text_of_the_own_fold():
    queries = {"a": "same text", "b": "Same  text", "c": "other", "d": "more"}
    collection = Collection("dup", [Document("d", "x")], queries,
                            {q: {"d": 1} for q in "abcd"})
    bank = query_bank(collection, "folds:4")
    assert all(len(f) == 1 for f in bank.folds)
    assert set(bank.for_query("a")) == {"c", "d"}  # b has a's text
    assert set(bank.for_query("c")) == {"a", "b", "d"}


def test_folds_size_applies_to_each_folds_bank():
    collection = many(judged=30, unjudged=0)
    bank = query_bank(collection, "folds:3", size=5, seed=1)
    assert len(bank) == 30 and [len(b) for b in bank.fold_banks] == [5, 5, 5]
    for qid in collection.qrels:
        assert not set(bank.for_query(qid)) & set(bank.folds[bank.fold_of(qid)])
    with pytest.raises(QueryBankError, match=r"query bank 'folds:3': size 21 is more than the 20 queries fold 0"):
        query_bank(collection, "folds:3", size=21)


# -- seeding --------------------------------------------------------------------------------------


def many(judged=20, unjudged=50) -> Collection:
    queries = {f"q{i:03d}": f"query number {i}" for i in range(judged + unjudged)}
    qrels = {f"q{i:03d}": {"d": 1} for i in range(judged)}
    return Collection("many", [Document("d", "text")], queries, qrels)


def test_sampling_is_seeded_and_kept_in_source_order():
    collection = many()
    first = query_bank(collection, "unjudged", size=10, seed=7)
    clear_cache()
    again = query_bank(collection, "unjudged", size=10, seed=7)
    assert first == again and first.ids == again.ids and first is not again
    assert first.ids == sorted(first.ids)  # source order
    picked = set(random.Random(7).sample(range(50), 10))  # the documented draw
    assert first.ids == [f"q{20 + i:03d}" for i in range(50) if i in picked]
    others = {tuple(query_bank(collection, "unjudged", size=10, seed=seed).ids) for seed in range(5)}
    assert len(others) == 5  # different seeds draw differently
    description = first.describe()
    counts = (description["size"], description["seed"], description["queries"], description["available"])
    assert counts == (10, 7, 10, 50)
    assert description["sampling"] == "random.Random(seed).sample, kept in source order"
    assert query_bank(collection, "unjudged").describe()["sampling"] is None


def test_banks_pickle_and_are_read_only():
    import pickle

    bank = query_bank(many(judged=9, unjudged=0), "folds:3", size=2)
    again = pickle.loads(pickle.dumps(bank))
    assert again == bank and again.describe() == bank.describe()
    assert [dict(b.queries) for b in again.fold_banks] == [dict(b.queries) for b in bank.fold_banks]
    assert again.for_query("q000") == bank.for_query("q000")
    with pytest.raises(TypeError):
        bank.queries["x"] = "y"


def test_folds_are_seeded():
    collection = many(judged=12, unjudged=0)
    assert query_bank(collection, "folds:3", seed=1).folds == query_bank(collection, "folds:3", seed=1).folds
    assert len({query_bank(collection, "folds:3", seed=s).folds for s in range(4)}) > 1


def test_banks_are_cached_per_source_size_seed_and_collection():
    collection = many()
    bank = query_bank(collection, "unjudged", size=5, seed=0)
    assert query_bank(collection, "unjudged", size=5, seed=0) is bank
    assert query_bank(many(), "unjudged", size=5, seed=0) is bank  # same content, same fingerprint
    assert query_bank(collection, "unjudged", size=5, seed=1) is not bank
    assert query_bank(collection, "unjudged", size=6, seed=0) is not bank
    changed = many()
    changed.queries["q069"] = "something else"
    assert query_bank(changed, "unjudged", size=5, seed=0) is not bank


# -- the guarantee: no evaluated query, by id or by text ----------------------------------------

WORDS = st.sampled_from(["wing", "Wing", "heat", "flow", "shell", " ", "jet", "noise"])
TEXT = st.lists(WORDS, min_size=0, max_size=3).map(" ".join)


@st.composite
def collections(draw):
    n = draw(st.integers(2, 14))
    texts = draw(st.lists(TEXT, min_size=n, max_size=n))
    queries = {f"q{i}": t for i, t in enumerate(texts)}
    judged = draw(st.lists(st.sampled_from(sorted(queries)), min_size=1, unique=True))
    docs = [Document(f"d{i}", draw(TEXT) + draw(st.sampled_from(["", ". more", "!"])), draw(TEXT))
            for i in range(draw(st.integers(1, 8)))]
    # Documents whose id is a query's: pseudo ids never collide with evaluated ids regardless.
    return Collection("h", docs, queries, {q: {"d0": 1} for q in judged})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collection=collections(), size=st.one_of(st.none(), st.integers(1, 6)), seed=st.integers(0, 3),
       source=st.sampled_from(["unjudged", "pseudo:title", "pseudo:first-sentence", "folds:2", "folds:3"]))
def test_no_bank_ever_holds_an_evaluated_query(collection, size, seed, source):
    try:
        bank = query_bank(collection, source, size, seed)
    except QueryBankError as exc:  # nothing left to bank, or fewer than size: said, naming the source
        assert str(exc).startswith(f"query bank {source!r}: ")
        return
    evaluated = set(collection.qrels)
    texts = {normalized(collection.queries[q]) for q in evaluated}
    assert all(text.strip() for text in bank.queries.values())
    if source.startswith("folds"):
        assert set(bank.queries) <= evaluated
        for qid in evaluated:
            # A query with blank text is in no fold (never banked): its own fold is itself.
            own = bank.folds[bank.fold_of(qid)] if bank.fold_of(qid) is not None else (qid,)
            assert bank.fold_of(qid) is not None or not collection.queries[qid].strip()
            banked = bank.for_query(qid)
            assert not set(banked) & set(own)
            own_texts = {normalized(collection.queries[q]) for q in own}
            assert not {normalized(t) for t in banked.queries.values()} & own_texts
            assert size is None or len(banked) == size
        return
    assert not set(bank.queries) & evaluated
    assert not {normalized(t) for t in bank.queries.values()} & texts
    assert size is None or len(bank) == size


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, message", [
    ("bogus", "query bank 'bogus': unknown source; accepted: split:<name>, unjudged, pseudo:title, "
              "pseudo:first-sentence, folds:<k>"),
    ("unjuged", "query bank 'unjuged': unknown source (did you mean 'unjudged'?)"),
    ("pseudo:abstract", "query bank 'pseudo:abstract': write pseudo:title or pseudo:first-sentence"),
    ("folds:1", "query bank 'folds:1': k-fold needs k >= 2, got 1"),
    ("folds:x", "query bank 'folds:x': write folds:<k>, k an integer >= 2"),
    ("split:", "query bank 'split:': write split:<name>"),
    (3, "query bank '3': a source is a string"),
])
def test_a_bad_source_fails_naming_it(source, message):
    with pytest.raises(QueryBankError) as caught:
        query_bank(tiny(), source)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, HarnessError)


@pytest.mark.parametrize("source, size, message", [
    ("unjudged", 4, "query bank 'unjudged': size 4 is more than the 3 queries available"),
    ("unjudged", 0, "query bank 'unjudged': size must be a positive integer or None, got 0"),
    ("pseudo:title", 3, "query bank 'pseudo:title': size 3 is more than the 2 queries available"),
    ("folds:5", None, "query bank 'folds:5': 5 folds need at least 5 evaluated queries with text; the collection "
                      "has 4"),
])
def test_an_impossible_size_fails_naming_the_source(source, size, message):
    with pytest.raises(QueryBankError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        query_bank(tiny(), source, size)


def test_a_collection_without_unjudged_queries_has_no_unjudged_bank():
    collection = many(judged=5, unjudged=0)
    with pytest.raises(QueryBankError, match=r"'unjudged': every query of the collection is judged"):
        query_bank(collection, "unjudged")


def test_bank_source_parameters_are_checked_at_validation():
    param = BankSource(str, "unjudged", "where the queries come from")
    assert param.check("folds:5") is None and param.check("split:train") is None
    assert param.check("folds:one") == "write folds:<k>, k an integer >= 2, e.g. folds:5"
    assert param.check(3) == "must be a str, got int 3"
    assert parse_source(" pseudo:title") == ("pseudo", "title")


# -- split: through the dataset provider --------------------------------------------------------


def write_two_splits(folder):
    """A BEIR folder with qrels/test.tsv (q1, q2) and qrels/train.tsv (t1..t3, q2 judged there too,
    t3 with q1's text)."""
    folder.mkdir()
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(1, 5)]
    queries = {"q1": "wing flutter", "q2": "heat", "t1": "train one", "t2": "train two", "t3": "Wing  Flutter",
               "u1": "never judged"}
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    (folder / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\nt1\td1\t1\nt2\td3\t1\nq2\td4\t1\nt3\td1\t1\n")
    return folder


def test_split_banks_the_other_splits_judged_queries(tmp_path):
    folder = write_two_splits(tmp_path / "two")
    registry = registry_with()
    dataset = DatasetSpec("two", "beir", {"path": str(folder), "split": "test"})
    collection = load_dataset(dataset, registry, tmp_path)
    bank = query_bank(collection, "split:train", dataset=dataset, registry=registry, base_dir=tmp_path)
    # train judges t1, t2, q2, t3: q2 is evaluated (id), t3 has q1's text; u1 is judged nowhere.
    assert dict(bank.queries) == {"t1": "train one", "t2": "train two"}
    described = bank.describe()
    assert described["split"] == "train" and described["split_queries"] == 4
    assert described["dropped"] == {"evaluated_id": 1, "evaluated_text": 1, "blank": 0}
    with pytest.raises(QueryBankError, match=r"'split:dev': dataset 'two\[split:dev\]': no split 'dev' in .*available: "
                       "test, train"):
        query_bank(collection, "split:dev", dataset=dataset, registry=registry, base_dir=tmp_path)
    with pytest.raises(QueryBankError, match=r"'split:test': 'test' is the split being evaluated"):
        query_bank(collection, "split:test", dataset=dataset, registry=registry, base_dir=tmp_path)
    with pytest.raises(QueryBankError, match="needs the dataset entry"):
        query_bank(collection, "split:train")


def test_split_is_refused_where_the_provider_has_no_splits(tmp_path):
    dataset = DatasetSpec("t", "trec", {"topics": "t.tsv", "qrels": "q.txt", "corpus": "c.jsonl"})
    with pytest.raises(QueryBankError, match=r"query bank 'split:train': the dataset provider 'trec' cannot load "
                       r"another split of dataset 't' \(it has no splits\)"):
        query_bank(tiny(), "split:train", dataset=dataset, registry=registry_with())


def test_irds_splits_replace_the_last_id_segment():
    from harness.builtin.irds import IrdsProvider

    assert IrdsProvider(id="beir/scifact/test").split_params("train") == {"id": "beir/scifact/train"}
    assert IrdsProvider(id="cranfield").split_params("train") == {"id": "cranfield/train"}
    assert IrdsProvider(id="msmarco-passage/dev/small").split_params("msmarco-passage/train") == {
        "id": "msmarco-passage/train"}


# -- ctx.query_bank, in and out of a suite --------------------------------------------------------


def test_ctx_query_bank_records_its_description_in_the_phase():
    collection = many()
    ctx = Context(collection=collection, seed=4)
    ctx.phase = {}
    bank = ctx.query_bank("unjudged", size=3)
    assert bank.seed == 4  # the suite's seed by default
    assert ctx.phase["query_banks"] == [bank.describe()]
    ctx.query_bank("unjudged", size=3)  # the same bank again: listed once
    assert len(ctx.phase["query_banks"]) == 1
    assert ctx.query_bank("folds:2", seed=9, record=False).seed == 9
    assert len(ctx.phase["query_banks"]) == 1


class Banked(WordOverlap):
    """WordOverlap that takes a query bank when it indexes (as an anchor-query retriever would)."""

    name = "banked"
    params = {**WordOverlap.params,
              "bank": BankSource(str, "unjudged", "where the bank's queries come from"),
              "size": Param(int, None, "queries banked", nullable=True, min=1)}
    banks: list[QueryBank] = []

    def index(self, collection, ctx):
        super().index(collection, ctx)
        type(self).banks.append(ctx.query_bank(self.bank, self.size))

    def identity(self, ctx):
        return {**self.config, "bank": ctx.query_bank(self.bank, self.size, record=False).fingerprint}


SUITE = """
name = "banks"
k = 5
seed = 3
metrics = ["nDCG@3"]

[[datasets]]
source = "beir:two"

[[pipelines]]
name = "banked"
retriever = {plugin = "banked", bank = "split:train"}

[[pipelines]]
name = "titles"
retriever = {plugin = "banked", bank = "pseudo:title", size = 2}
"""


def test_a_component_gets_banks_through_the_runner(tmp_path):
    write_two_splits(tmp_path / "two")
    (tmp_path / "suite.toml").write_text(SUITE)
    registry = registry_with(Banked, WordOverlap)
    Banked.banks = []
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    results = {r["cell"]["pipeline"]: r for r in outcome.results}
    assert all(r["status"] == "ok" for r in results.values()), [r["error"] for r in results.values()]
    split, titles = Banked.banks
    assert dict(split.queries) == {"t1": "train one", "t2": "train two"} and split.seed == 3
    assert len(titles) == 2 and all(q.startswith("pseudo:") for q in titles)
    recorded = results["banked"]["phases"]["index"]["query_banks"]
    assert recorded == [split.describe()] and recorded[0]["source"] == "split:train"
    assert results["titles"]["phases"]["index"]["query_banks"][0]["size"] == 2


def test_a_bad_bank_source_fails_validation(tmp_path):
    write_two_splits(tmp_path / "two")
    (tmp_path / "suite.toml").write_text(SUITE.replace('bank = "split:train"', 'bank = "folds:two"'))
    with pytest.raises(SuiteError, match=r"pipelines\[0\]\.retriever\.bank: write folds:<k>"):
        load_suite(tmp_path / "suite.toml", registry=registry_with(Banked, WordOverlap))


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.shared
def test_cisi_unjudged_queries(shared_dir):
    folder = shared_dir / "datasets" / "cisi"
    registry = registry_with()
    dataset = DatasetSpec("cisi", "beir", {"path": str(folder)})
    collection = load_dataset(dataset, registry, folder)
    assert (len(collection.queries), len(collection.qrels)) == (112, 76)
    bank = query_bank(collection, "unjudged")
    assert len(bank) == 36 and not set(bank) & set(collection.qrels)
    assert set(bank) == set(collection.queries) - set(collection.qrels)
    sampled = query_bank(collection, "unjudged", size=10, seed=1)
    assert len(sampled) == 10 and set(sampled) <= set(bank)
    folds = query_bank(collection, "folds:5", seed=0)
    assert sorted(len(f) for f in folds.folds) == [15, 15, 15, 15, 16]
    titles = query_bank(collection, "pseudo:title")
    assert 0 < len(titles) <= len(collection.docs)
    with pytest.raises(QueryBankError, match=r"'split:train'.*no split 'train'.*available: test"):
        query_bank(collection, "split:train", dataset=dataset, registry=registry, base_dir=folder)
