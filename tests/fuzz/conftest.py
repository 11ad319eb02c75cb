"""Fixtures of the regression corpus: the real results folder that results cases tamper with
(made once per session, by running corpus.BASE_SUITE twice with the badplugins' well-behaved
components and bm25), and the ``fuzz`` marker."""

from __future__ import annotations

import pytest

from . import check


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: the generated regression corpus of bad inputs (tests/fuzz)")


@pytest.fixture(scope="session")
def fuzz_base(tmp_path_factory):
    return check.make_base_results(tmp_path_factory.mktemp("fuzz-base"))
