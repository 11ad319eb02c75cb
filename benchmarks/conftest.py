"""Fixtures the torch benchmarks share."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Both sides on one intra-op thread, timed in CPU seconds: on a shared 2-core machine, other
    processes would otherwise decide the ratio (a descheduled OpenMP thread stalls the other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
