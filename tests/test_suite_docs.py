"""docs/suite-format.md documents every suite key the validator accepts, and its example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import suite as schema
from harness.suite.sections import SECTIONS

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


# Defaults the docs state in words, with the value each stands for in the settings dataclasses.
WORDED_DEFAULTS = {
    ("stats", "seed"): ("the suite's `seed`", None),
    ("stats", "margin_metric"): ("the suite's first metric", None),
    ("measure", "threads"): ("library default", None),
    ("measure", "index_threads"): ("`threads`", None),
    ("measure", "isolation"): ("`subprocess` when `memory` is true or a `timeout` is set, else `none`", None),
    ("output", "leaderboard"): ("all four", ["md", "csv", "json", "html"]),
    ("output", "cache_dir"): ("`<dir>/.cache`", None),
    ("execution", "workers"): ("cores / `measure.threads`", None),
}


def documented_defaults(text: str, section: str) -> dict[str, str]:
    """Key → default column of the ``## `[section]` `` table."""
    body = text.split(f"\n## `[{section}]`\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([A-Za-z_]+)` \| [^|]* \| ([^|]*?) \|", body, flags=re.M))


def documented_value(cell: str):
    """The value a default cell states: none, a TOML literal in backticks, else the words themselves."""
    from harness.suite.text import tomllib  # tomli before Python 3.11

    if cell == "none":
        return None
    literal = re.fullmatch(r"`([^`]*)`", cell)
    if literal:
        try:
            return tomllib.loads(f"v = {literal.group(1)}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    return WORDED_DEFAULTS


@pytest.mark.parametrize("section", SECTIONS)
def test_documented_defaults_are_the_declared_ones(section):
    """Each key of [stats], [measure], [output], [execution] defaults, in docs/suite-format.md, to
    what its dataclass declares (harness/suite/sections.py)."""
    documented = documented_defaults(DOC.read_text(), section)
    declared = SECTIONS[section]().to_dict()
    assert set(documented) == set(declared)
    for key, default in declared.items():
        value = documented_value(documented[key])
        if value is WORDED_DEFAULTS:  # in words: the words are the ones listed above, for this default
            assert (section, key) in WORDED_DEFAULTS, f"{section}.{key}: {documented[key]!r} says which value?"
            assert WORDED_DEFAULTS[section, key] == (documented[key], default), f"{section}.{key}"
        else:
            assert (section, key) not in WORDED_DEFAULTS, f"{section}.{key} is now written as a value"
            assert value == default and type(value) is type(default), f"{section}.{key}: docs {documented[key]}"
