"""Synthesised run folders for leaderboard, report and compare tests.

Written with the results helpers in the exact layout a real run leaves (manifest, cells), with
per-query values and cost figures chosen by the test: known effects, seeded noise, and several
runs of history in milliseconds. Real runs of tiny suites cover what only a run can produce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.results import CELL_SCHEMA, MANIFEST, RUN_SCHEMA, cell_path, write_json

MIB = 2**20
HARDWARE = {"cpu": "Test CPU", "cores": 2, "memory_gib": 4, "machine": "x86_64", "gpus": [], "hash": "aaaaaaaaaaaa"}


def queries(n: int) -> list[str]:
    return [f"q{i:03d}" for i in range(n)]


def values(base: np.ndarray, shift: float = 0.0, noise: float = 0.0, seed: int = 0) -> dict[str, float]:
    """Per-query values: ``base`` shifted, plus seeded noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    out = np.clip(base + shift + rng.normal(0.0, noise, base.size), 0.0, 1.0)
    return {q: float(v) for q, v in zip(queries(base.size), out, strict=True)}


def latency(p50: list[float], p95: list[float] | None = None, qps: list[float] | None = None) -> dict:
    """A cell's ``latency`` block from per-repetition values (figures: their medians; intervals:
    their range), shaped as measure/latency.py writes it."""
    p95 = p95 or [v * 1.5 for v in p50]

    def fig(reps, unit):
        return {"value": float(np.median(reps)), "unit": unit, "method": "synthetic", "samples": len(reps),
                "ci": {"low": min(reps), "high": max(reps), "confidence": 0.95, "method": "synthetic"}}

    out = {"modes": ["single-stream"], "queries": 10,
           "single_stream": {"passes": len(p50), "latency": {"p50": fig(p50, "ms"), "p95": fig(p95, "ms")},
                             "repetitions": {"unit": "ms", "p50": list(p50), "p95": list(p95)}}}
    if qps:
        out["modes"].append("offline")
        out["offline"] = {"qps": {"value": float(np.median(qps)), "unit": "queries/s", "method": "synthetic",
                                  "samples": len(qps), "spread": {"min": min(qps), "max": max(qps)}},
                          "repetitions": {"unit": "queries/s", "qps": list(qps)}}
    return out


def cell(dataset: str, pipeline: str, per_query: dict[str, dict[str, float]] | None = None, *,
         device: str = "cpu", status: str = "ok", cost: dict | None = None, memory_mib: float | None = None,
         hardware: dict | None = None, key: str | None = None, base: str | None = None,
         pipeline_config: dict | None = None, phases: dict | None = None) -> dict:
    """A cell result; ``per_query`` is ``{metric: {query: value}}``; ``pipeline_config`` is what
    ``config.pipeline`` records (the stages' resolved configuration), ``phases`` the phase records."""
    per_query = per_query or {}
    result = {
        "schema": CELL_SCHEMA,
        "cell": {"id": f"{dataset}/{pipeline}/{device}", "key": key or f"key-{pipeline}",
                 "slug": f"{dataset}__{pipeline}__{device}".replace("[", "_").replace("]", "_").replace("=", "-"),
                 "dataset": dataset, "pipeline": pipeline, "base": base or pipeline, "sweep": {}, "device": device},
        "status": status,
        "error": None if status == "ok" else {"phase": "retrieve", "type": "RuntimeError", "message": "boom"},
        "config": {"seed": 0, **({"pipeline": pipeline_config} if pipeline_config is not None else {})},
        "metrics": {m: float(np.mean(list(v.values()))) for m, v in per_query.items()} if status == "ok" else {},
        "per_query": per_query if status == "ok" else {},
        "phases": phases or {},
        "hardware": hardware or HARDWARE,
    }
    if cost:
        result["latency"] = cost
    if memory_mib is not None:
        result["memory"] = {"peak_rss": {"value": memory_mib * MIB, "unit": "bytes", "method": "synthetic"}}
    return result


def write_run(root: Path, run_id: str, cells: list[dict], *, suite: str = "synth", metrics=("nDCG@10",),
              stats: dict | None = None, status: str = "finished", hardware: dict | None = None) -> Path:
    """A run folder ``root/suite/run_id`` holding ``cells``; returns its path."""
    run_dir = Path(root) / suite / run_id
    manifest = {
        "schema": RUN_SCHEMA, "suite": suite, "run_id": run_id, "status": status,
        "started": f"{run_id}T00:00:00Z", "finished": f"{run_id}T00:01:00Z" if status == "finished" else None,
        "harness": "0.1.0", "k": 100, "metrics": list(metrics), "stats": stats or {}, "measure": {},
        "executor": {"isolation": "none"}, "output": {"leaderboard": ["md", "csv", "json", "html"]},
        "datasets": list(dict.fromkeys(c["cell"]["dataset"] for c in cells)),
        "pipelines": list(dict.fromkeys(c["cell"]["pipeline"] for c in cells)),
        "cells": {c["cell"]["id"]: c["cell"]["slug"] for c in cells},
        "environment": {"python": "3.11", "host": "test", "cpu": "Test CPU"},
        "hardware": hardware or HARDWARE,
    }
    write_json(run_dir / MANIFEST, manifest)
    for c in cells:
        write_json(cell_path(run_dir, c["cell"]["slug"]), c)
    return run_dir
