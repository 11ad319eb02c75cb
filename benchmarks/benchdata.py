"""What several benchmarks share: where ../shared is, and the texts they encode.

Imported by base name (``from benchdata import ...``): pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

SHARED = Path(os.environ.get("HARNESS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
CRANFIELD = SHARED / "datasets" / "cranfield"


def cranfield_texts(n: int) -> list[str]:
    """The first ``n`` Cranfield abstracts, or seeded synthetic sentences where ../shared is absent."""
    corpus = CRANFIELD / "corpus.jsonl"
    if corpus.is_file():
        with open(corpus, encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]
    rng, words = random.Random(0), "flow wing heat shock layer boundary pressure lift drag mach".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 200))) for _ in range(n)]


def unit_vectors(queries: int, docs: int, dim: int):
    """Seeded random unit-length query and document vectors (torch), as the search benchmarks use."""
    import torch

    generator = torch.Generator().manual_seed(0)
    unit = torch.nn.functional.normalize
    return (unit(torch.randn(queries, dim, generator=generator), dim=1),
            unit(torch.randn(docs, dim, generator=generator), dim=1))
