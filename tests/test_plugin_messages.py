"""What the harness says about plugins a user already has: a name its broken plugin may have
provided, a conflict with a built-in, ``@hookimpl(specname=...)``, and the conformance kit's
default inputs for a model that takes token ids (issue 17, "Inputs users already have").

Third-party plugins are stand-in entry points as in ``test_plugins.py``: nothing is installed.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
from harness import plugins
from harness.components import Metric, MetricValue, Retriever
from harness.plugins import ALLOW_ENV, DISABLE_ENV, MODULES_ENV, PluginError, load_registry
from harness.suite import validate
from harness.testing import CompressorContract, tiny_model
from harness.testing.compressor import default_input

FIXTURES = Path(__file__).parent / "plugins"


@dataclass
class Dist:
    name: str
    version: str


@dataclass
class EntryPoint:
    """An ``importlib.metadata.EntryPoint`` stand-in whose ``load()`` returns ``obj`` (or raises
    it, when it is an exception)."""

    name: str
    obj: object
    dist: Dist
    group: str = "harness"
    value: str = "-"

    def load(self):
        if isinstance(self.obj, BaseException):
            raise self.obj
        return self.obj


@pytest.fixture
def installed(monkeypatch):
    for var in (DISABLE_ENV, ALLOW_ENV, MODULES_ENV):
        monkeypatch.delenv(var, raising=False)

    def install(*eps):
        monkeypatch.setattr(plugins, "_entry_points", lambda: list(eps))
        plugins.reset_registry()

    yield install
    plugins.reset_registry()


def module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


class Dense(Retriever):
    """A stand-in dense retriever."""

    name = "dense"

    def retrieve(self, queries, k, ctx):
        raise NotImplementedError


class Hits(Metric):
    """Documents retrieved per query."""

    name = "Hits"
    upper_bound = None

    def evaluate(self, qrels, run, ctx):
        per_query = {q: float(len(run.ranked(q))) for q in qrels}
        return MetricValue(sum(per_query.values()) / max(len(per_query), 1), per_query)


NO_TORCH = ModuleNotFoundError("No module named 'torch'")


def unknown(registry, kind: str, name: str) -> str:
    with pytest.raises(PluginError) as raised:
        registry.find(kind, name)
    return str(raised.value)


# -- a name a broken plugin may have provided ---------------------------------------------------


def test_unknown_name_says_which_plugin_failed_to_load_and_why(installed):
    installed(EntryPoint("dense", NO_TORCH, Dist("harness-dense", "1.0")))
    message = unknown(load_registry(env={}), "retriever", "dense")
    assert message == (
        "no retriever named 'dense'; installed: trec-run; note: plugin 'dense' (harness-dense 1.0) "
        "failed to load: ModuleNotFoundError: No module named 'torch' — it may provide it "
        "(`harness plugins` lists broken plugins)"
    )


def test_a_plugin_that_failed_to_load_may_provide_any_kind(installed):
    installed(EntryPoint("extras", NO_TORCH, Dist("harness-extras", "0.3")))
    registry = load_registry(env={})
    for kind, name in [("ranker", "x"), ("metric", "ERR"), ("compressor", "gptq"), ("dataset", "msmarco")]:
        assert "plugin 'extras' (harness-extras 0.3) failed to load" in unknown(registry, kind, name)


def test_a_hook_that_failed_may_hide_only_its_kind(installed):
    def harness_retrievers():
        raise RuntimeError("no GPU visible")

    plugin = module("gpu", harness_retrievers=harness.hookimpl(harness_retrievers),
                    harness_metrics=harness.hookimpl(lambda: [Hits]))
    installed(EntryPoint("gpu", plugin, Dist("harness-gpu", "2.0")))
    registry = load_registry(env={})
    message = unknown(registry, "retriever", "dense")
    assert ("note: plugin 'gpu' (harness-gpu 2.0) is broken: harness_retrievers raised RuntimeError: "
            "no GPU visible — it may provide it") in message
    assert "note" not in unknown(registry, "ranker", "dense")  # its rankers are all there
    assert registry.find("metric", "Hits").distribution == "harness-gpu"


def test_a_misspelt_hook_may_hide_the_kind_it_resembles(installed):
    plugin = module("typo", harness_retreivers=harness.hookimpl(lambda: [Dense]))
    installed(EntryPoint("typo", plugin, Dist("harness-typo", "0.1")))
    registry = load_registry(env={})
    assert "harness_retreivers is not a harness hook (did you mean 'harness_retrievers'?) — it may provide it" in (
        unknown(registry, "retriever", "dense"))
    assert "note" not in unknown(registry, "metric", "ERR")


def test_plugins_named_like_the_component_come_first(installed):
    installed(EntryPoint("a-other", NO_TORCH, Dist("harness-other", "1")),
              EntryPoint("dense", NO_TORCH, Dist("harness-dense", "1")))
    message = unknown(load_registry(env={}), "retriever", "dense")
    assert message.index("plugin 'dense'") < message.index("plugin 'a-other'")


def test_no_note_without_a_broken_plugin(installed):
    installed()
    assert unknown(load_registry(env={}), "retriever", "dense") == "no retriever named 'dense'; installed: trec-run"


def test_suite_validation_says_so_too(installed, tmp_path):
    installed(EntryPoint("dense", NO_TORCH, Dist("harness-dense", "1.0")))
    plugins.reset_registry()
    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\nmetrics = ["nDCG@10"]\n[[datasets]]\nsource = "beir:data"\n'
                     '[[pipelines]]\nname = "d"\nretriever = { plugin = "dense" }\n'
                     'ranker = { plugin = "cross-encoder" }\n')
    problems = validate(suite, registry=load_registry(env={}))
    text = "\n".join(p.message for p in problems)
    assert "no retriever named 'dense'" in text and "no ranker named 'cross-encoder'" in text, text
    assert text.count("plugin 'dense' (harness-dense 1.0) failed to load: ModuleNotFoundError") == 2, text


def test_broken_note_is_there_for_other_messages_to_use(installed):
    installed(EntryPoint("dense", NO_TORCH, Dist("harness-dense", "1.0")))
    registry = load_registry(env={})
    assert registry.broken_note("metric", "ERR").startswith("; note: plugin 'dense' (harness-dense 1.0) failed")
    assert load_registry(env={DISABLE_ENV: "1"}).broken_note("metric", "ERR") == ""


# -- conflicts with a built-in -------------------------------------------------------------------


def test_conflict_with_a_builtin_says_what_to_do_instead_of_uninstalling_it(installed):
    shadow = module("shadow", harness_dataset_providers=harness.hookimpl(lambda: [OtherBeir]))
    installed(EntryPoint("shadow", shadow, Dist("harness-shadow", "1.0")))
    message = unknown(load_registry(env={}), "dataset", "beir")
    assert message.startswith("dataset 'beir' is provided by both ir-harness ")
    assert "(built-in 'harness.builtin.datasets') and harness-shadow 1.0 (plugin 'shadow')" in message
    assert "uninstall one" not in message
    assert "a built-in always loads and cannot be uninstalled" in message
    assert f"uninstall harness-shadow, or load the other plugins without it: {ALLOW_ENV}=" in message
    assert f"but 'shadow' ({DISABLE_ENV}=1 when there is none)" in message
    # the advice works
    assert load_registry(env={ALLOW_ENV: "nothing-else"}).conflicts() == []
    assert load_registry(env={DISABLE_ENV: "1"}).conflicts() == []


def test_conflict_with_a_builtin_from_a_plugin_module(installed, monkeypatch):
    installed()
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delitem(sys.modules, "shadows_builtin", raising=False)
    registry = load_registry(env={MODULES_ENV: "shadows_builtin"})
    message = unknown(registry, "dataset", "beir")
    assert f"(module 'shadows_builtin' of {MODULES_ENV})" in message
    assert f"remove 'shadows_builtin' from {MODULES_ENV}" in message and "uninstall" in message
    assert ALLOW_ENV not in message  # it would not help: plugin modules load whatever it says


def test_conflict_between_two_plugins_keeps_its_advice(installed):
    one = module("one", harness_retrievers=harness.hookimpl(lambda: [Dense]))
    two = module("two", harness_retrievers=harness.hookimpl(lambda: [Dense]))
    installed(EntryPoint("one", one, Dist("harness-one", "1")), EntryPoint("two", two, Dist("harness-two", "2")))
    assert unknown(load_registry(env={}), "retriever", "dense") == (
        "retriever 'dense' is provided by both harness-one 1 (plugin 'one') and harness-two 2 (plugin 'two'); "
        f"uninstall one, or choose with {ALLOW_ENV}=<plugin,...>"
    )


class OtherBeir(harness.components.DatasetProvider):
    """Another ``beir``."""

    name = "beir"


# -- @hookimpl(specname=...) ---------------------------------------------------------------------


def test_specname_names_the_hook_a_function_implements(installed):
    @harness.hookimpl(specname="harness_metrics")
    def my_metrics():
        return [Hits]

    installed(EntryPoint("named", module("named", my_metrics=my_metrics), Dist("harness-named", "1")))
    registry = load_registry(env={})
    assert registry.broken() == []
    assert registry.find("metric", "Hits").distribution == "harness-named"


def test_a_misspelt_specname_is_reported(installed):
    @harness.hookimpl(specname="harness_metric")
    def my_metrics():
        return [Hits]

    installed(EntryPoint("named", module("named", my_metrics=my_metrics), Dist("harness-named", "1")))
    registry = load_registry(env={})
    (broken,) = registry.broken()
    assert broken.errors == [
        "my_metrics (specname 'harness_metric') is not a harness hook (did you mean 'harness_metrics'?)"
    ]
    assert "it may provide it" in unknown(registry, "metric", "Hits")


# -- the conformance kit's default inputs -------------------------------------------------------


def embedding_model(vocab: int = 50, dim: int = 12):
    import torch

    torch.manual_seed(0)

    class Bag(torch.nn.Module):
        """Token ids → mean of their embeddings → a linear layer."""

        def __init__(self):
            super().__init__()
            self.tokens = torch.nn.Embedding(vocab, dim)
            self.out = torch.nn.Linear(dim, 4)

        def forward(self, ids):
            return self.out(self.tokens(ids).mean(dim=1))

    return Bag().eval()


def tiny_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    import torch

    torch.manual_seed(0)
    return transformers.BertModel(config).eval()


def test_default_input_is_token_ids_for_a_model_that_starts_with_an_embedding():
    torch = pytest.importorskip("torch")
    ids = default_input(embedding_model(vocab=50))
    assert ids.dtype == torch.int64 and tuple(ids.shape) == (4, 8)
    assert 0 <= int(ids.min()) and int(ids.max()) < 50
    assert torch.equal(ids, default_input(embedding_model(vocab=50)))  # seeded


def test_default_input_is_floats_otherwise():
    torch = pytest.importorskip("torch")
    x = default_input(tiny_model(d_in=16), seed=7)
    assert x.dtype == torch.float32 and tuple(x.shape) == (4, 16)
    plain = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU())
    assert tuple(default_input(plain).shape) == (4, 5)  # no d_in: the first Linear's in_features
    # a model whose first layer is linear takes floats, even with an embedding further in
    mixed = torch.nn.ModuleDict({"proj": torch.nn.Linear(6, 6), "pos": torch.nn.Embedding(10, 6)})
    assert default_input(mixed).is_floating_point()
    with pytest.raises(TypeError, match="override example_input"):
        default_input(torch.nn.Conv1d(2, 2, 3))


def test_default_input_for_a_bert_style_model_is_in_its_vocabulary():
    torch = pytest.importorskip("torch")
    ids = default_input(tiny_bert())
    assert ids.dtype == torch.int64 and int(ids.max()) < 64


class EmbeddingModels(CompressorContract):
    """The kit's rules on models that take token ids, with no ``example_input`` of their own."""

    def make_modules(self):
        return {"bag": embedding_model(), "bert": tiny_bert()}


def _compressors():
    from harness_compress import Half, Int8Dynamic, Svd

    return Half, Int8Dynamic, Svd


try:
    _HALF, _INT8, _SVD = _compressors()
except ImportError:  # the compress plugin is not installed: the first-party fixture instead
    _HALF = _INT8 = _SVD = None


@pytest.mark.skipif(_SVD is None, reason="ir-harness-compress is not installed")
class TestSvdOnTokenModels(EmbeddingModels):
    component = _SVD
    params = {"rank": 4, "skip_non_reducing": False}


@pytest.mark.skipif(_INT8 is None, reason="ir-harness-compress is not installed")
class TestInt8OnTokenModels(EmbeddingModels):
    component = _INT8


@pytest.mark.skipif(_HALF is None, reason="ir-harness-compress is not installed")
class TestHalfOnTokenModels(EmbeddingModels):
    component = _HALF
    params = {"require_native": False}


def test_the_old_float_default_fails_on_a_bert_style_model():
    """What the issue reported, kept as the reason for the default: floats cannot index."""
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, IndexError)):
        tiny_bert()(torch.randn(4, 8))


def test_an_unknown_metric_names_a_plugin_that_failed_to_load(installed):
    from harness.metrics import MetricError, parse_metric

    installed(EntryPoint("errmetrics", NO_TORCH, Dist("harness-err", "1.0")))
    with pytest.raises(MetricError, match=r"no metric named 'ERR'.*plugin 'errmetrics' \(harness-err 1.0\) failed"):
        parse_metric("ERR@10", load_registry(env={}))
