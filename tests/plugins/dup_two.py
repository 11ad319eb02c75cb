"""One of two plugins (distributions harness-test-one and harness-test-two) that both provide a
retriever named ``dense``."""

import harness
from harness.components import Retriever


class Dense(Retriever):
    """The ``dense`` retriever of distribution harness-test-two."""

    name = "dense"


@harness.hookimpl
def harness_retrievers():
    return [Dense]
