"""Fixtures for the core's tests: a tiny BEIR collection (tinydata.py) and a suite writer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tinydata import write_beir


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    """A BEIR folder with 8 documents, 5 queries and graded qrels."""
    return write_beir(tmp_path / "tiny")


@pytest.fixture
def write_suite(tmp_path, tiny_beir):
    """write_suite(body) → path of a suite file; ``{beir}`` in body is the tiny BEIR folder."""

    def write(body: str, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body).replace("{beir}", str(tiny_beir)))
        return path

    return write
