"""docs/suite-format.md documents every suite key the validator accepts, and its example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import suite as schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "suite-format.md"
TABLES = {
    "top-level": schema.TOP, "[stats]": schema.STATS, "[measure]": schema.MEASURE,
    "[output]": schema.OUTPUT, "[[datasets]]": schema.DATASET, "[[pipelines]]": schema.PIPELINE,
    "[execution]": schema.EXECUTION, "ranker stage": schema.STAGE_CORE["ranker"],
    "retriever stage": schema.STAGE_CORE["retriever"],
}


def documented_keys(text: str) -> set[str]:
    """First-column keys of the Markdown tables: | `key` | ..."""
    return set(re.findall(r"^\| `([A-Za-z_]+)` \|", text, flags=re.M))


@pytest.mark.parametrize("table", TABLES)
def test_every_key_is_documented(table):
    missing = set(TABLES[table]) - documented_keys(DOC.read_text())
    assert not missing, f"{table} keys missing from docs/suite-format.md: {sorted(missing)}"


def test_checker_finds_undocumented_keys():
    assert documented_keys("| `k` | integer |\n| `seed` | x |\n") == {"k", "seed"}


def test_complete_example_is_valid(tmp_path, tiny_beir):
    from fakes import registry_with

    example = re.search(r"## A complete example\n\n```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    # point the example's files at local stand-ins
    example = example.replace('source = "irds:cranfield"', f'source = "beir:{tiny_beir}"')
    example = example.replace("../../shared/datasets/vaswani", str(tiny_beir))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bm25-top100.trec").write_text("q1 Q0 d1 1 2.0 x\n")
    path = tmp_path / "example.toml"
    path.write_text(example)
    from harness.suite import load_suite

    suite = load_suite(path, registry=registry_with())
    assert len(suite.pipelines) == 8 and len(suite.cells()) == 16
