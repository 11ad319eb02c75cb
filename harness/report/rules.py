"""When a change between two runs of a pipeline counts: the rules ``compare`` and ``report`` apply.

* **Quality**: the paired test of the run's ``[stats]`` settings on the per-query values of each
  metric (the same judged queries in both runs), two-sided; the p-values of every comparison
  made together are corrected together (``[stats] correction``). A significant drop regressed,
  a significant rise improved.
* **Latency and throughput**: in the manner of asv (airspeed velocity), a change counts when it
  is beyond noise *and* large enough to matter. Beyond noise: a Mann-Whitney U test
  over the per-repetition values the cells keep (p50/p95 of each single-stream pass, QPS of each
  offline batch), two-sided, below ``cost_alpha`` — when there are too few repetitions for the test ever to
  reach it, asv's fallback: the two runs' intervals (bootstrap intervals of the percentile; the
  slowest-to-fastest batch range of QPS) do not overlap. Large enough: the relative change of
  the figure is at least ``threshold``.
* **Memory**: one peak per cell and run, so there is no noise estimate; the relative change
  alone decides (as asv does for its memory benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from ..cellresult import CellResult, Figure, Latency
from ..stats import StatsError, adjust, paired_test
from ..stats.settings import StatsSettings

MIB = 2**20
FIGURES = ("p50 ms", "p95 ms", "QPS", "peak MiB")
LOWER_IS_BETTER = {"p50 ms": True, "p95 ms": True, "QPS": False, "peak MiB": True}


@dataclass(frozen=True)
class Rules:
    """The settings of the rules: the run's ``[stats]`` and the cost thresholds."""

    stats: StatsSettings
    threshold: float = 0.05  # minimum relative change of a cost figure
    cost_alpha: float = 0.01  # the rank test's significance level
    mixed_hardware: bool = False

    def to_dict(self) -> dict:
        return {"stats": self.stats.to_dict(), "threshold": self.threshold, "cost_alpha": self.cost_alpha,
                "mixed_hardware": self.mixed_hardware}


def quality_rows(pairs: list[tuple[CellResult, CellResult]], metrics: list[str], rules: Rules) -> list[dict]:
    """One row per (cell pair, metric): old and new means, the paired test, corrected p, verdict."""
    s = rules.stats
    rows, tested = [], []
    for old, new in pairs:
        for metric in metrics:
            a = old.per_query.get(metric)
            b = new.per_query.get(metric)
            row = {**_where(new), "metric": metric, "old": old.metrics.get(metric),
                   "new": new.metrics.get(metric), "p_value": None, "p_adjusted": None,
                   "test": s.test, "verdict": "not compared", "reason": None}
            if row["old"] is None or row["new"] is None:
                continue
            row["difference"] = row["new"] - row["old"]
            if not a or not b:
                row["reason"] = "no per-query values (output.per_query = false)"
            else:
                try:
                    result = paired_test(a, b, test=s.test, samples=s.permutation_samples, seed=s.seed)
                    row["p_value"] = result.p_value
                    tested.append(row)
                except StatsError as exc:
                    row["reason"] = f"not paired: {exc}"
            rows.append(row)
    for row, p in zip(tested, adjust([r["p_value"] for r in tested], s.correction), strict=True):
        row["p_adjusted"] = p
        significant = p <= s.alpha
        row["verdict"] = ("regressed" if row["difference"] < 0 else "improved" if row["difference"] > 0
                          else "unchanged") if significant else "unchanged"
    return rows


def cost_rows(pairs: list[tuple[CellResult, CellResult]], rules: Rules) -> list[dict]:
    """One row per (cell pair, cost figure both results have)."""
    rows = []
    for old, new in pairs:
        same = _hash(old) == _hash(new)
        for name in FIGURES:
            x, y = figure_value(old, name), figure_value(new, name)
            if x is None or y is None:
                continue
            row = {**_where(new), "figure": name, "old": x, "new": y, "ratio": y / x if x else None,
                   "p_value": None, "method": None, "verdict": "not compared", "reason": None,
                   "busy": busy(old) or busy(new)}
            if not same and not rules.mixed_hardware:
                row["reason"] = "measured on different hardware (--mixed-hardware compares anyway)"
            else:
                _judge(row, old, new, rules)
            rows.append(row)
    return rows


def _hash(cell: CellResult) -> str | None:
    return cell.hardware.hash if cell.hardware else None


def _judge(row: dict, old: CellResult, new: CellResult, rules: Rules) -> None:
    name, lower = row["figure"], LOWER_IS_BETTER[row["figure"]]
    change = row["new"] / row["old"] - 1 if row["old"] else 0.0
    worse = change > 0 if lower else change < 0
    a, b = repetitions(old, name), repetitions(new, name)
    if name == "peak MiB":
        beyond, row["method"] = True, "one peak per run: the relative change alone decides"
    elif a and b and _reachable(len(a), len(b), rules.cost_alpha):
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(b, a, alternative="two-sided").pvalue)
        row["p_value"], row["method"] = p, f"Mann-Whitney U, two-sided, {len(a)} vs {len(b)} repetitions"
        beyond = p < rules.cost_alpha
    else:
        ia, ib = interval(old, name), interval(new, name)
        if ia is None or ib is None:
            row["reason"] = "no repetitions or intervals recorded for this figure"
            return
        beyond = ia[1] < ib[0] or ib[1] < ia[0]
        row["method"] = "intervals do not overlap (too few repetitions for the rank test)"
    row["change"] = change
    big = abs(change) >= rules.threshold
    row["verdict"] = ("regressed" if worse else "improved") if beyond and big else "unchanged"


def busy(cell: CellResult) -> str | None:
    """Why the machine looked busy while the cell ran, or None: a 1-minute load average above the
    machine's cores at the cell's start or end means something else competed for the CPUs. Said
    beside a verdict (rerun before trusting it), never changing it: the load average is coarse."""
    load = cell.execution.load_average if cell.execution else None
    cores = cell.hardware.cores if cell.hardware else None
    values = [figure.value for figure in ((load.start, load.end) if load else ()) if figure is not None]
    peak = max((v for v in values if v is not None), default=None)
    if peak is None or not cores or peak <= cores:
        return None
    return f"load average {peak:g} on {cores} cores, cell started {cell.started or '?'}"


def _reachable(n: int, m: int, alpha: float) -> bool:
    """Whether the exact two-sided test of n vs m values can reach p < alpha at all (asv's check:
    with 3 repetitions each the smallest p-value is 0.1, so the test could never say "different")."""
    return 2 / comb(n + m, min(n, m)) < alpha


def _where(cell: CellResult) -> dict:
    info = cell.cell
    return {"dataset": info.dataset, "pipeline": info.pipeline, "device": info.device}


def _latency(cell: CellResult) -> Latency | None:
    return cell.latency if cell.ok else None


def _figure(cell: CellResult, name: str) -> Figure | None:
    latency = _latency(cell)
    if name in ("p50 ms", "p95 ms"):
        return latency.single_stream.latency.get(name[:3]) if latency and latency.single_stream else None
    if name == "QPS":
        return latency.offline.qps if latency and latency.offline else None
    return cell.memory.peak_rss if cell.ok and cell.memory else None


def figure_value(cell: CellResult, name: str) -> float | None:
    found = _figure(cell, name)
    if found is None or found.value is None:
        return None
    return found.value / MIB if name == "peak MiB" else found.value


def repetitions(cell: CellResult, name: str) -> list[float] | None:
    """The per-repetition values a cell kept for a figure (None for results from before they were)."""
    latency = _latency(cell)
    if name in ("p50 ms", "p95 ms"):
        kept = latency.single_stream.repetitions if latency and latency.single_stream else None
        return getattr(kept, name[:3]) if kept else None
    if name == "QPS":
        kept = latency.offline.repetitions if latency and latency.offline else None
        return kept.qps if kept else None
    return None


def interval(cell: CellResult, name: str) -> tuple[float, float] | None:
    found = _figure(cell, name) if name != "peak MiB" else None
    if found is None:
        return None
    if name in ("p50 ms", "p95 ms"):
        return (found.ci.low, found.ci.high) if found.ci else None
    return (found.spread.min, found.spread.max) if found.spread else None
