"""One shape for every cost figure in a result, so each number says how it was measured."""

from __future__ import annotations

from typing import Any


def figure(value: Any, unit: str, method: str, *, samples: int = 1, warmup: int = 0, threads: int | None = None,
           device: str = "cpu", **extra: Any) -> dict:
    """``{"value", "unit", "method", "samples", "warmup", "threads", "device", ...extra}``.

    ``samples`` is how many measurements the value summarises, ``warmup`` how many untimed calls
    preceded them, ``threads`` the intra-op thread count in effect, ``device`` the resolved device
    (``cpu``, ``cuda:0``); ``extra`` holds what only some figures have (a confidence interval).
    """
    return {"value": value, "unit": unit, "method": method, "samples": samples, "warmup": warmup,
            "threads": threads, "device": device, **extra}
