"""ir-harness-anncur: ``anncur`` (CUR-approximated k-NN for an expensive pair scorer) and
``exhaustive`` (every document scored by that scorer: the exact reference).

The harness imports this module every time it starts (the ``harness`` entry point in
pyproject.toml), for ``harness plugins`` too: it imports nothing heavy (numpy loads inside the
methods).
"""

from harness.sdk import hookimpl

from .anncur import Anncur
from .exhaustive import Exhaustive

__all__ = ["Anncur", "Exhaustive", "harness_retrievers"]


@hookimpl
def harness_retrievers():
    return [Anncur, Exhaustive]
