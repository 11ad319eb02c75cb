"""The conformance kit (``harness.testing``) catches every rule it states, and only that rule.

Each rule has a component in ``tests/plugins/nonconforming/`` that breaks it and nothing else;
pytester runs the kit's contract on it as a plugin author's test file would, and the outcome
must be exactly one failure: that rule's test. The conforming baselines pass every rule, and so
do the harness's own components (the built-in metrics and providers, the fakes' retrievers).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import testing

pytest_plugins = ["pytester"]

NONCONFORMING = Path(__file__).parent / "plugins" / "nonconforming"
DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
KINDS = {  # kind: (contract, module of its fixtures in tests/plugins/nonconforming)
    "retriever": ("RetrieverContract", "bad_retrievers"),
    "ranker": ("RankerContract", "bad_rankers"),
    "compressor": ("CompressorContract", "bad_compressors"),
    "metric": ("MetricContract", "bad_metrics"),
    "dataset": ("DatasetContract", "bad_datasets"),
}
# Once the core registers harness.testing.plugin under pytest11, pytest loads it itself, and
# naming it again with -p would register the module twice.
REGISTERED = any(ep.value == "harness.testing.plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
PLUGIN_ARGS = [] if REGISTERED else ["-p", "harness.testing.plugin"]


def fixtures(kind: str):
    sys.path.insert(0, str(NONCONFORMING))
    try:
        return importlib.import_module(KINDS[kind][1])
    finally:
        sys.path.remove(str(NONCONFORMING))


def rules(kind: str) -> list[str]:
    contract = getattr(testing, KINDS[kind][0])
    return sorted(name for name, _ in inspect.getmembers(contract, inspect.isfunction) if name.startswith("test_"))


def run_contract(pytester, kind: str, cls: str) -> dict[str, str]:
    """Run ``kind``'s contract on fixture class ``cls`` as an author's test file would; the
    outcome of each rule by name."""
    contract, module = KINDS[kind]
    if kind == "compressor":
        pytest.importorskip("torch")
    pytester.syspathinsert(NONCONFORMING)
    pytester.makepyfile(test_component=f"""
        from harness.testing import {contract}
        from {module} import {cls}

        class TestComponent({contract}):
            component = {cls}
        """)
    result = pytester.inline_run("-p", "no:cacheprovider", *PLUGIN_ARGS)
    outcomes = {}
    for report in result.getreports("pytest_runtest_logreport"):
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.failed or (report.skipped and report.when == "setup") or report.when == "call":
            outcomes.setdefault(name, report.outcome)
    return outcomes


@pytest.fixture(scope="module")
def preloaded():
    """torch, imported before pytester snapshots ``sys.modules`` (module scope sets it up
    first): pytester drops the modules a test imported, and torch does not survive being
    imported twice in one process."""
    try:
        import torch  # noqa: F401
    except ImportError:
        pass


CASES = [(kind, rule) for kind in KINDS for rule in rules(kind)]


@pytest.mark.parametrize(("kind", "rule"), CASES, ids=[f"{k}-{r}" for k, r in CASES])
def test_the_kit_catches_exactly_the_broken_rule(preloaded, pytester, kind, rule):
    breaker = fixtures(kind).BREAKS[rule]
    outcomes = run_contract(pytester, kind, breaker.__name__)
    assert set(outcomes) == set(rules(kind))
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert failed == [rule], f"{breaker.__name__} ({breaker.__doc__.strip()}) failed {failed}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_has_a_breaking_fixture(kind):
    assert sorted(fixtures(kind).BREAKS) == rules(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_conforming_baseline_passes_every_rule(preloaded, pytester, kind):
    outcomes = run_contract(pytester, kind, "Good")
    assert outcomes == dict.fromkeys(rules(kind), "passed")


def test_the_kit_passes_the_harness_own_components(preloaded, pytester):
    """Real components: the built-in metric families and providers, the test fakes."""
    pytester.syspathinsert(Path(__file__).parent)
    pytester.makepyfile(test_builtins="""
        from harness.builtin.measures import AP, RR, Bpref, Judged, P, R, Rprec, nDCG
        from harness.builtin.beir import BeirProvider
        from harness.testing import DatasetContract, MetricContract, RankerContract, RetrieverContract
        from fakes import Reverse, WordOverlap

        class TestNDCG(MetricContract):
            component = nDCG
            specs = ["nDCG", "nDCG@5", "nDCG(judged_only=True)@10"]

        class TestP(MetricContract):
            component = P

        class TestRR(MetricContract):
            component = RR
            specs = ["RR@3", "RR(rel=2)"]

        class TestOthers(MetricContract):
            component = AP

        class TestRprec(MetricContract):
            component = Rprec

        class TestR(MetricContract):
            component = R

        class TestBpref(MetricContract):
            component = Bpref

        class TestJudged(MetricContract):
            component = Judged

        class TestOverlap(RetrieverContract):
            component = WordOverlap

        class TestReverse(RankerContract):
            component = Reverse

        class TestBeir(DatasetContract):
            component = BeirProvider
            params = {"path": "tiny-beir"}

            @classmethod
            def setup_class(cls):
                import json, pathlib
                from harness.testing import tiny_collection
                folder, c = pathlib.Path(__file__).parent / "tiny-beir", tiny_collection()
                (folder / "qrels").mkdir(parents=True)
                docs = [{"_id": d.id, "title": d.title, "text": d.text} for d in c.docs]
                (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\\n" for d in docs))
                queries = [{"_id": q, "text": t} for q, t in c.queries.items()]
                (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\\n" for q in queries))
                lines = [f"{q}\\t{d}\\t{g}\\n" for q, judged in c.qrels.items() for d, g in judged.items()]
                (folder / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\n" + "".join(lines))
        """)
    result = pytester.inline_run("-p", "no:cacheprovider", *PLUGIN_ARGS)
    passed, skipped, failed = result.listoutcomes()
    assert not failed, [r.longreprtext[-2000:] for r in failed]
    # the fakes' overlap has no save/load: that one rule has nothing to check
    assert [r.nodeid.rsplit("::", 2)[-2:] for r in skipped] == [["TestOverlap", "test_index_persistence"]]
    expected = 8 * len(rules("metric")) + len(rules("retriever")) - 1 + len(rules("ranker")) + len(rules("dataset"))
    assert len(passed) == expected


def test_the_plugin_fixtures(preloaded, pytester):
    pytester.makepyfile(test_fixtures="""
        import math
        from harness.components import Context
        from harness.ranking import Run

        def test_collection(harness_collection, harness_context, harness_candidates, harness_edge_queries):
            assert len(harness_collection.docs) == 12 and harness_context.collection is harness_collection
            assert isinstance(harness_context, Context) and harness_context.cache is not None
            assert isinstance(harness_candidates, Run) and set(harness_candidates) == set(harness_collection.queries)
            assert all(len(docs) == 6 for docs in harness_candidates.scores.values())
            assert "" in harness_edge_queries.values()

        def test_model(harness_tiny_model):
            import torch
            y = harness_tiny_model(torch.ones(2, 16))
            assert tuple(y.shape) == (2, 8) and all(math.isfinite(v) for v in y.flatten().tolist())

        def test_registry(harness_registry):
            from harness.metrics import parse_metric
            from harness.builtin.measures import nDCG
            assert parse_metric("nDCG@10", harness_registry()).label == "nDCG@10"
        """)
    result = pytester.inline_run("-p", "no:cacheprovider", *PLUGIN_ARGS)
    result.assertoutcome(passed=3)


def test_the_tiny_collection_has_its_edge_cases():
    collection = testing.tiny_collection()
    from harness.testing.data import duplicate_groups

    assert duplicate_groups(collection) == [["d04", "d09"]]
    assert any(not collection.contents(d) for d in collection.docs)
    assert any(not collection.text(d.id).isascii() for d in collection.docs)
    assert all(text.isascii() and text.strip() for text in collection.queries.values())
    assert set(collection.qrels) <= set(collection.queries)
    assert any(d not in {doc.id for doc in collection.docs} for judged in collection.qrels.values() for d in judged)
    again = testing.tiny_collection()
    assert again is not collection and again.fingerprint == collection.fingerprint


def test_importing_the_kit_stays_light():
    code = textwrap.dedent("""
        import sys
        import harness.testing, harness.testing.plugin
        from harness.testing import CompressorContract, RetrieverContract, tiny_collection
        print(sorted(m for m in ("torch", "numpy", "pandas") if m in sys.modules))
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_rule_is_listed_in_the_docs():
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## Conformance kit\n")
    section = text[start : text.index("\n## ", start + 1)]
    missing = [f"{kind}: {rule}" for kind in KINDS for rule in rules(kind) if f"`{rule}`" not in section]
    assert not missing, f"docs/plugins.md, 'Conformance kit', does not list {missing}"
