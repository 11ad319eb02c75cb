"""Helpers for the transformers plugin's tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.collection import Collection
from harness.plugins import ComponentInfo, PluginInfo, Registry, load_registry

WORDS = (
    "the a of and to in is for on with by at from air wing flow pressure heat boundary layer shock "
    "mach number body surface jet nozzle plate cylinder shell buckling flutter supersonic subsonic "
    "laminar turbulent transfer drag lift speed high low wave theory experimental results effect"
).split()


def sentences(n: int, seed: int = 0, longest: int = 60) -> list[str]:
    """``n`` texts of 1..longest words from the tiny vocabulary, lengths spread out."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, longest))) for _ in range(n)]


def write_beir(folder: Path, collection: Collection) -> Path:
    """``collection`` as a BEIR folder (every query judged, so every one is evaluated)."""
    folder.mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc in collection.docs:
            f.write(json.dumps({"_id": doc.id, "title": "", "text": doc.text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in collection.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\td{i:02d}\t1" for i, q in enumerate(collection.queries)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def registry_with(*classes: type) -> Registry:
    """The installed plugins plus test components (from a distribution named 'tests')."""
    registry = load_registry()
    fake = PluginInfo("tests.transformers", "tests", "0.0.1")
    fake.components = [ComponentInfo(c.kind, c.name, c, fake.name, fake.distribution, fake.version)
                       for c in classes]
    return Registry(registry.plugins + [fake])


def run_in_both_stores(tmp_path: Path, text: str, overrides_disk=()) -> tuple[dict, dict]:
    """The suite ``text`` (``STORE`` in it replaced by ``memory``, then ``disk``) run with each
    corpus store, each in its own results and cache folders: (run files by name, (metrics,
    per-query values) by pipeline), per store. Fails on a failed cell or a wrong ``storage``."""
    from harness.runner import run_suite
    from harness.suite import load_suite

    runs, values = {}, {}
    for store in ("memory", "disk"):
        path = tmp_path / f"{store}.toml"
        path.write_text(text.replace("STORE", store), encoding="utf-8")
        overrides = [f'output.dir="{tmp_path / store}"', f'output.cache_dir="{tmp_path / store}-cache"']
        suite = load_suite(path, overrides + (list(overrides_disk) if store == "disk" else []))
        outcome = run_suite(suite)
        assert not outcome.failed, [(r.cell.pipeline, r.error) for r in outcome.failed]
        assert {r.dataset["storage"] for r in outcome.results} == {store}
        runs[store] = {p.name: p.read_bytes() for p in sorted((tmp_path / store).glob("*/*/runs/*"))}
        values[store] = {r.cell.pipeline: (r.metrics, r.per_query) for r in outcome.results}
    return runs, values
