"""ir-harness-fusion: rank fusion of several retrievers (``rrf``, ``combsum``, ``combmnz``).

The harness imports this module every time it starts (the ``harness`` entry point in
pyproject.toml), for ``harness plugins`` too: it imports nothing heavy.
"""


from harness.sdk import hookimpl

from .fusion import RRF, CombMNZ, CombSUM, Fusion

__all__ = ["RRF", "CombMNZ", "CombSUM", "Fusion", "harness_retrievers"]


@hookimpl
def harness_retrievers():
    return [RRF, CombSUM, CombMNZ]
