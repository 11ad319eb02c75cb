"""harness: evaluation and benchmarking for information retrieval.

The public Python API mirrors the command line::

    import harness
    suite = harness.load_suite("suites/quickstart.toml")   # parse + validate (raises SuiteError)
    problems = harness.validate("suites/quickstart.toml")  # every problem, never raises
    outcome = harness.run(suite)                          # run the cells, write results
    harness.compare(run_a, run_b); harness.report("results/<suite>")  # as the CLI commands
    results = harness.load_results(outcome.run_dir)       # pandas DataFrames

Suites composed in Python instead of a file (harness/compose.py)::

    bm25, ce = harness.stage("bm25"), harness.stage("cross-encoder", model="...")
    suite = harness.compose_suite("cascade", datasets=["irds:cranfield"],
                                  pipelines={"bm25": bm25, "cascade": bm25 >> ce % 100 >> ce % 10})

Importing this package imports no torch, numpy or pandas: the heavy work happens in the
functions, so ``harness --help`` and ``harness plugins`` start instantly.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ir-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from .hookspecs import hookimpl

API = ("compare", "load_results", "load_suite", "report", "run", "validate")  # harness/api.py
COMPOSE = ("Pipeline", "Stage", "compose_suite", "stage")  # harness/compose.py
__all__ = ["__version__", "hookimpl", *API, *COMPOSE]


def __getattr__(name):  # the API loads on first use, keeping `import harness` light
    if name in API:
        from . import api

        return getattr(api, name)
    if name in COMPOSE:
        from . import compose

        return getattr(compose, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")

