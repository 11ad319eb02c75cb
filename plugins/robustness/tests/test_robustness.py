"""Tests of the robustness metrics: the conformance kit on each family, the perturbations, the
definitions on a hand-computed example and on an identity perturbation, and a suite where the
perturbed run is computed once and read from the artifact cache by the next run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from harness_lexical import BM25
from harness_robustness import RankShift, RelSetChange, perturb_collection, synonym_table
from harness_robustness import perturb as perturb_module

from harness.collection import Collection, Document
from harness.components import Context
from harness.datasets import load_dataset
from harness.metrics import evaluate, parse_metric
from harness.plugins import load_registry
from harness.ranking import Run
from harness.runner import run_suite
from harness.suite import load_suite, validate
from harness.testing import MetricContract, registry_with, tiny_collection, write_beir
from harness.trecfiles import read_run


def bm25_pipeline(k: int = 10):
    """A ``pipeline`` artifact as the runner provides it, for a bm25 pipeline: ``rerun(collection,
    name)`` indexes the collection with a fresh bm25 and answers all its queries. Records its calls."""

    def rerun(collection: Collection, name: str = "rerun") -> Run:
        rerun.calls.append((collection, name))
        bm25, ctx = BM25(), Context(collection=collection)
        bm25.index(collection, ctx)
        return bm25.retrieve(collection.queries, k, ctx)

    rerun.calls = []
    return rerun


# -- the conformance kit -----------------------------------------------------------------------


class RobustnessContract(MetricContract):
    """The kit's context lacks what these metrics require: the cell's collection (what they
    perturb) and the ``pipeline`` artifact (what they rerun). A bm25 pipeline provides both, so
    every rule applies as it stands; the kit's runs are compared with bm25's perturbed run."""

    def make_context(self):
        return Context(collection=tiny_collection(), artifacts={"pipeline": bm25_pipeline()})


class TestRankShift(RobustnessContract):
    component = RankShift
    specs = ["RankShift", "RankShift@5", "RankShift(noise=0.2,synonyms=0.0)@10",
             {"metric": "RankShift@3", "rel": 2, "seed": 7}]


class TestRelSetChange(RobustnessContract):
    component = RelSetChange
    specs = ["RelSetChange", "RelSetChange@5", {"metric": "RelSetChange@10", "noise": 0.0, "synonyms": 1.0}]


def test_the_plugin_is_installed_and_loads():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-robustness"})
    assert registry.broken() == [] and registry.conflicts() == []
    for name in ("RankShift", "RelSetChange"):
        assert registry.find("metric", name).distribution == "ir-harness-robustness"


def test_default_cutoffs_and_labels():
    registry = registry_with(RankShift, RelSetChange)
    assert parse_metric("RankShift", registry).label == "RankShift@100"
    assert parse_metric("RelSetChange", registry).label == "RelSetChange@10"
    assert parse_metric("RankShift(noise=0.1)@10", registry).label == "RankShift(noise=0.1)@10"


# -- the perturbations ---------------------------------------------------------------------------


def texts(collection: Collection) -> dict[str, tuple[str, str]]:
    return {doc.id: (doc.title, doc.text) for doc in collection.docs}


def test_perturbation_is_determined_by_the_seed():
    collection = tiny_collection()
    first, counts = perturb_collection(collection, noise=0.2, synonyms=0.5, seed=3)
    again, counts_again = perturb_collection(tiny_collection(), noise=0.2, synonyms=0.5, seed=3)
    assert texts(first) == texts(again) and counts == counts_again
    assert texts(perturb_collection(collection, 0.2, 0.5, seed=4)[0]) != texts(first)
    # each document by a generator of its own: the corpus order and the other documents do not matter
    reversed_order = Collection("r", collection.docs[::-1], collection.queries, collection.qrels)
    assert texts(perturb_collection(reversed_order, 0.2, 0.5, seed=3)[0]) == texts(first)
    alone = Collection("one", [collection.docs[2]], collection.queries, collection.qrels)
    assert texts(perturb_collection(alone, 0.2, 0.5, seed=3)[0]) == {"d03": texts(first)["d03"]}


def test_perturbed_collection_keeps_ids_queries_judgments_and_fields():
    collection = tiny_collection()
    perturbed, counts = perturb_collection(collection, noise=0.3, synonyms=1.0, seed=0)
    assert [d.id for d in perturbed.docs] == [d.id for d in collection.docs]
    assert perturbed.queries == collection.queries and perturbed.qrels == collection.qrels
    assert perturbed.fields == collection.fields
    assert perturbed.metadata["perturbation"] == {"noise": 0.3, "synonyms": 1.0, "seed": 0}
    assert perturbed.corpus_fingerprint != collection.corpus_fingerprint
    changed = sum(texts(perturbed)[d] != texts(collection)[d] for d in texts(collection))
    assert counts.documents_changed == changed > 0
    assert counts.characters_edited > 0 and counts.words_substituted > 0


def test_zero_rates_are_the_identity():
    collection = tiny_collection()
    perturbed, counts = perturb_collection(collection, noise=0.0, synonyms=0.0, seed=5)
    assert texts(perturbed) == texts(collection)
    assert perturbed.corpus_fingerprint == collection.corpus_fingerprint  # so its run is the cell's, cached
    assert counts.as_dict() == {"documents_changed": 0, "characters_edited": 0, "words_substituted": 0}


def test_the_shipped_synonym_list_is_loaded():
    table = synonym_table()
    assert len(table) > 150
    assert table["aircraft"] == ("airplane", "plane") and table["flow"] == ("stream", "current")
    assert all(word == word.lower() and replacements for word, replacements in table.items())


def test_synonyms_replace_listed_words_in_their_case():
    doc = Document("x", "Heat FLOW over the wing; boundary layers", "Supersonic Flow")
    collection = Collection("c", [doc], {"q": "flow"}, {"q": {"x": 1}})
    perturbed, counts = perturb_collection(collection, noise=0.0, synonyms=1.0, seed=0)
    title, text = perturbed.docs[0].title, perturbed.docs[0].text
    assert title.split()[0] == "Ultrasonic" and title.split()[1] in ("Stream", "Current")
    words = text.split()
    assert words[0] == "Warmth" and words[1] in ("STREAM", "CURRENT") and words[4] == "airfoil;"
    assert words[5] in ("border", "edge") and words[2:4] == ["over", "the"] and words[6] == "layers"  # listed words
    assert counts.words_substituted == 6 and counts.characters_edited == 0


def test_non_ascii_text_survives(monkeypatch):
    doc = Document("u", "crème brûlée, Ωμέγα λάμδα 東京 大学 🚀 naïve", "Café")
    collection = Collection("c", [doc], {"q": "café"}, {"q": {"u": 1}})
    same, _ = perturb_collection(collection, noise=0.0, synonyms=1.0, seed=0)
    assert same.docs[0] == doc  # no listed word: untouched, accents and all
    noisy, counts = perturb_collection(collection, noise=0.5, synonyms=0.0, seed=0)
    text = noisy.docs[0].text
    assert counts.characters_edited > 0 and text != doc.text
    text.encode("utf-8")  # still valid text
    # only letters are edited: the emoji, spaces and punctuation are kept, in order
    assert [c for c in text if not c.isalpha()] == [c for c in doc.text if not c.isalpha()]
    # words are matched in any script, and replaced in their case
    monkeypatch.setattr(perturb_module, "synonym_table", lambda: {"ωμέγα": ("άλφα",), "東京": ("京都",)})
    swapped, counts = perturb_collection(collection, noise=0.0, synonyms=1.0, seed=0)
    assert swapped.docs[0].text == "crème brûlée, Άλφα λάμδα 京都 大学 🚀 naïve"
    assert counts.words_substituted == 2


# -- the definitions -------------------------------------------------------------------------------

QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "z": 1}, "q2": {"e": 1}, "q3": {"f": 0}}
ORIGINAL = Run.from_ranked({"q1": [("a", 5.0), ("x", 4.0), ("b", 3.0), ("c", 2.0), ("z", 1.0)],
                            "q2": [("e", 2.0), ("y", 1.0)], "q3": [("f", 1.0)]})
PERTURBED = Run.from_ranked({"q1": [("x", 5.0), ("b", 4.0), ("c", 3.0), ("a", 2.0), ("z", 1.0)],
                             "q2": [("y", 2.0), ("e", 1.0)]})  # q3: nothing retrieved


def replayed(run: Run):
    """A ``pipeline`` artifact that returns ``run`` whatever the collection, recording its calls."""

    def rerun(collection, name="rerun"):
        rerun.calls.append(name)
        return run

    rerun.calls = []
    return rerun


def test_hand_computed_values():
    rerun = replayed(PERTURBED)
    ctx = Context(collection=tiny_collection(), artifacts={"pipeline": rerun})
    specs = ["RankShift@3", "RelSetChange@3", "RankShift(rel=2)@3", "RankShift@5", "RelSetChange@5"]
    values = evaluate([parse_metric(s) for s in specs], QRELS, ORIGINAL, ctx)
    # @3, q1: a 1 -> 4 (beyond the cutoff: 3 + 1), b 3 -> 2, z beyond it in both (left out):
    # (3 + 1) / 2 = 2; q2: e 1 -> 2; q3: nothing relevant, 0
    assert values["RankShift@3"].per_query == {"q1": 2.0, "q2": 1.0, "q3": 0.0}
    assert values["RankShift@3"].aggregate == pytest.approx(1.0)
    # q1's relevant top 3 was {a, b} and is {b}; q2's is {e} in both
    assert values["RelSetChange@3"].per_query == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert values["RelSetChange@3"].aggregate == pytest.approx(1 / 3)
    # grade 2 and up: a alone moves (3); q2's e is not relevant at that grade
    assert values["RankShift(rel=2)@3"].per_query == {"q1": 3.0, "q2": 0.0, "q3": 0.0}
    # @5, q1: a 1 -> 4, b 3 -> 2, z 5 -> 5: (3 + 1 + 0) / 3; the relevant set {a, b, z} is kept
    assert values["RankShift@5"].per_query == pytest.approx({"q1": 4 / 3, "q2": 1.0, "q3": 0.0})
    assert values["RankShift@5"].aggregate == pytest.approx(7 / 9)
    assert values["RelSetChange@5"].aggregate == 0.0
    # one perturbation, one rerun for the five metrics; its description in each one's details
    assert rerun.calls == ["perturbed"]
    perturbation = values["RankShift@3"].details["perturbation"]
    assert {key: perturbation[key] for key in ("noise", "synonyms", "seed")} == {"noise": 0.05, "synonyms": 0.5,
                                                                                  "seed": 0}
    assert perturbation["documents_changed"] > 0


def test_each_perturbation_reruns_once():
    rerun = replayed(PERTURBED)
    ctx = Context(collection=tiny_collection(), seed=9, artifacts={"pipeline": rerun})
    specs = ["RankShift@3", "RelSetChange@3", "RankShift(noise=0.0)@3", "RelSetChange(seed=9)@3"]
    values = evaluate([parse_metric(s) for s in specs], QRELS, ORIGINAL, ctx)
    assert rerun.calls == ["perturbed", "perturbed"]  # the runner names the second apart
    assert values["RelSetChange(seed=9)@3"].details["perturbation"]["seed"] == 9  # the suite's seed: the same
    assert values["RankShift(noise=0.0)@3"].details["perturbation"]["characters_edited"] == 0


def test_without_the_pipeline_artifact_they_are_unavailable():
    values = evaluate([parse_metric("RankShift@10"), parse_metric("RelSetChange@10")], QRELS, ORIGINAL,
                      Context(collection=tiny_collection()))
    assert {v.details["unavailable"] for v in values.values()} == {"needs pipeline"}
    assert all(v.aggregate is None for v in values.values())


def test_robustness_is_zero_for_an_identity_perturbation():
    collection = tiny_collection()
    rerun = bm25_pipeline()
    original = rerun(collection)
    ctx = Context(collection=collection, artifacts={"pipeline": rerun})
    metrics = [parse_metric(s) for s in ("RankShift(noise=0.0,synonyms=0.0)@10",
                                         "RelSetChange(noise=0.0,synonyms=0.0)@10")]
    values = evaluate(metrics, collection.qrels, original, ctx)
    assert [name for _, name in rerun.calls] == ["rerun", "perturbed"]
    assert rerun.calls[1][0].docs == collection.docs  # bm25 really ran again, on the same documents
    for value in values.values():
        assert value.aggregate == 0.0 and set(value.per_query.values()) == {0.0}
        assert value.details["perturbation"]["documents_changed"] == 0


# -- in a suite -----------------------------------------------------------------------------------

SUITE = """
name = "robust"
k = 10
seed = 1
metrics = ["nDCG@10", "RankShift@10", "RelSetChange@10", {metric = "RankShift@10", noise = 0.0, synonyms = 0.0}]

[[datasets]]
name = "tiny"
source = "beir:{beir}"

[[pipelines]]
name = "bm25"
retriever = {plugin = "bm25"}
"""
IDENTITY = "RankShift(noise=0.0,synonyms=0.0)@10"




def expected_values(suite, run_file) -> dict[str, float]:
    """RankShift@10 and RelSetChange@10 computed here, from the perturbation and bm25 directly."""
    collection = load_dataset(suite.datasets[0], load_registry(), suite.base_dir)
    perturbed, _ = perturb_collection(collection, noise=0.05, synonyms=0.5, seed=1)
    bm25, ctx = BM25(), Context(collection=perturbed)
    bm25.index(perturbed, ctx)
    after, before = bm25.retrieve(perturbed.queries, 10, ctx), read_run(run_file)
    out = {}
    for metric in (RankShift(cutoff=10), RelSetChange(cutoff=10)):
        values = [metric.compare(judged, before.scores.get(q, {}), after.scores.get(q, {}))
                  for q, judged in collection.qrels.items()]
        out[metric.label] = sum(values) / len(values)
    return out


def test_a_suite_reruns_the_pipeline_on_the_perturbed_corpus_once(tmp_path):
    beir = write_beir(tmp_path / "tiny", tiny_collection())
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(textwrap.dedent(SUITE).replace("{beir}", str(beir)))
    suite = load_suite(suite_file)
    first = run_suite(suite, results_dir=tmp_path / "results")
    assert not first.failed, [r["error"] for r in first.failed]
    cell = first.results[0]
    phases = cell["phases"]
    assert phases["perturbed.index"]["cache"] == "miss" and phases["perturbed.retrieve"]["cache"] == "miss"
    # the identity perturbation is the cell's own corpus: its run is the one the cell just stored
    assert phases["perturbed-2.retrieve"]["cache"] == "hit"
    metrics = cell["metrics"]
    assert metrics[IDENTITY] == 0.0
    expected = expected_values(suite, first.run_dir / cell["run_file"])
    assert metrics["RankShift@10"] == pytest.approx(expected["RankShift@10"], abs=1e-12)
    assert metrics["RelSetChange@10"] == pytest.approx(expected["RelSetChange@10"], abs=1e-12)
    assert metrics["RankShift@10"] > 0  # the perturbation moved something on this corpus
    details = cell["evaluation"]["details"]["RankShift@10"]["perturbation"]
    assert details["seed"] == 1 and details["documents_changed"] > 0
    assert set(cell["per_query"]["RelSetChange@10"]) == set(tiny_collection().qrels)  # every judged query, q5 too

    again = run_suite(load_suite(suite_file), results_dir=tmp_path / "results", new=True)
    cached = again.results[0]
    assert cached["status"] == "ok", cached["error"]
    # the perturbed run comes from the artifact cache: nothing indexed or retrieved again
    assert cached["phases"]["retrieve"]["cache"] == "hit"
    assert cached["phases"]["perturbed.retrieve"]["cache"] == "hit"
    assert "perturbed.index" not in cached["phases"]
    assert cached["metrics"] == metrics


EXAMPLE = Path(__file__).resolve().parents[3] / "suites" / "robustness.toml"


def test_the_repositorys_example_suite_validates():
    """suites/robustness.toml (bm25 and dense on Cranfield) names these metrics as they parse."""
    if not EXAMPLE.parent.is_dir():
        pytest.skip("the plugin is tested outside the harness's repository: no suites/ folder")
    assert validate(EXAMPLE) == []
    assert [m.label for m in load_suite(EXAMPLE).metrics] == ["nDCG@10", "RankShift@10", "RelSetChange@10"]
