"""Intervals, tests against the baseline, tie groups and macro means for the leaderboard's rows.

Thin glue over ``harness.stats``: it picks each cell's per-query values, calls the statistics
with the run's settings and writes what they return into the rows (``stats``, ``group``). A
``StatsError`` (too few queries, query sets that differ) becomes a note naming the dataset and
metric: the leaderboard is still written, without that statistic.
"""

from __future__ import annotations

from ..stats import (
    StatsError,
    bootstrap_ci,
    compare_to_baseline,
    mean_across_datasets,
    paired_differences,
    rank_groups,
)

BASELINE_MARK = "◆"
HIGHER, LOWER = "▲", "▼"
MACRO = "macro: unweighted mean of the per-dataset means (each dataset counts equally)"


def _key(row: dict) -> tuple[str, str, str]:
    return row["dataset"], row["pipeline"], row["device"]


def _per_query(rows: list[dict], by_key: dict, metric: str) -> dict[str, dict]:
    """``{pipeline: {query: value}}`` of the rows' cells that finished and kept per-query values."""
    out = {}
    for row in rows:
        values = by_key[_key(row)].per_query.get(metric) if row["status"] == "ok" else None
        if values:
            out[row["pipeline"]] = values
    return out


def _lacking_per_query(ok: list[dict], by_key: dict, metrics: list[str]) -> list[str]:
    """Pipelines without per-query values where they should have them: none kept at all, or none
    for a metric that other cells give per query. Corpus-level metrics (RankMe: no cell has
    per-query values) and unavailable ones (a value of None) are not lacking anything."""
    per_query_metrics = [m for m in metrics if any(_per_query([r], by_key, m) for r in ok)]
    lacking = set()
    for row in ok:
        cell = by_key[_key(row)]
        kept = cell.per_query
        values = cell.metrics
        if not kept or any(values.get(m) is not None and not kept.get(m) for m in per_query_metrics):
            lacking.add(row["pipeline"])
    return sorted(lacking)


def group_statistics(rows: list[dict], by_key: dict, metrics: list[str], interval_metrics: list[str],
                     baseline: str | None, s, notes: list[str]) -> dict:
    """Fill ``stats`` and ``group`` of one dataset's rows (one device); return the tie groups and
    the per-query differences against the baseline (primary metric) for the JSON's top level."""
    where = f"{rows[0]['dataset']} ({rows[0]['device']})"
    ok = [r for r in rows if r["status"] == "ok"]
    by_name = {r["pipeline"]: r for r in ok}
    out: dict = {"letters": None, "differences": None}
    lacking = _lacking_per_query(ok, by_key, metrics)
    if lacking:
        notes.append(f"{where}: no per-query values for {', '.join(lacking)} (output.per_query = false?): "
                     "no intervals or tests for them")
    if baseline and baseline not in by_name:
        notes.append(f"{where}: the baseline {baseline!r} has no result here (failed or not run): no comparisons")
    for metric in metrics:
        per_query = _per_query(ok, by_key, metric)
        for row in ok:
            row["stats"][metric] = {"interval": None, "vs_baseline": None, "marker": ""}
        if metric in interval_metrics:
            for name, values in per_query.items():
                try:
                    ci = bootstrap_ci(values, confidence=s.confidence, samples=s.bootstrap_samples, seed=s.seed)
                except StatsError as exc:
                    notes.append(f"{where}, {metric}, {name}: no interval ({exc})")
                    continue
                by_name[name]["stats"][metric]["interval"] = {"low": ci.low, "high": ci.high,
                                                              "confidence": ci.confidence, "n": ci.n}
        if baseline in per_query and len(per_query) > 1:
            _against_baseline(per_query, baseline, metric, by_name, s, notes, where)
        if metric == metrics[0] and len(per_query) > 1:
            out["letters"] = _letters(per_query, metric, by_name, s, notes, where)
            if baseline in per_query:
                out["differences"] = _differences(per_query, baseline, metric, by_name)
    return out


def _against_baseline(per_query, baseline, metric, by_name, s, notes, where) -> None:
    try:
        comparisons = compare_to_baseline(per_query, baseline, test=s.test, correction=s.correction, alpha=s.alpha,
                                          samples=s.permutation_samples, seed=s.seed, systems=list(per_query))
    except StatsError as exc:
        notes.append(f"{where}, {metric}: no tests against the baseline ({exc})")
        return
    by_name[baseline]["stats"][metric]["marker"] = BASELINE_MARK
    for c in comparisons:
        mark = (HIGHER if c.direction == "higher" else LOWER if c.direction == "lower" else "") if c.significant else ""
        by_name[c.system]["stats"][metric].update(marker=mark, vs_baseline={
            "baseline": baseline, "mean_difference": c.mean_difference, "p_value": c.p_value,
            "p_adjusted": c.p_adjusted, "significant": c.significant, "direction": c.direction,
            "test": c.result.test, "correction": c.correction, "family_size": c.family_size})


def _letters(per_query, metric, by_name, s, notes, where) -> dict | None:
    try:
        groups = rank_groups(per_query, test=s.test, correction=s.correction, alpha=s.alpha,
                             samples=s.permutation_samples, seed=s.seed, systems=list(per_query))
    except StatsError as exc:
        notes.append(f"{where}, {metric}: no tie groups ({exc})")
        return None
    for name, letters in groups.letters.items():
        by_name[name]["group"] = letters
    return {"metric": metric, "systems": groups.systems, "letters": groups.letters, "method": groups.method,
            "test": groups.test, "correction": groups.correction, "alpha": groups.alpha,
            "pairs": [{"a": p.a, "b": p.b, "mean_difference": p.result.mean_difference,
                       "p_adjusted": p.p_adjusted, "significant": p.significant} for p in groups.pairs]}


def _differences(per_query, baseline, metric, by_name) -> dict:
    """Each pipeline's per-query differences from the baseline, largest gain first (the HTML's
    difference plot: how many queries gain, how many lose, and by how much)."""
    systems = []
    for name, values in per_query.items():
        if name == baseline:
            continue
        try:
            ids, diff = paired_differences(per_query[baseline], values)
        except StatsError:  # different queries: the tests against the baseline have said so already
            continue
        order = sorted(range(len(diff)), key=lambda i: (-diff[i], ids[i]))
        systems.append({"pipeline": name, "queries": [ids[i] for i in order],
                        "differences": [round(float(diff[i]), 6) for i in order],
                        "mean": float(diff.mean()), "better": int((diff > 0).sum()), "worse": int((diff < 0).sum()),
                        "tied": int((diff == 0).sum()), "marker": by_name[name]["stats"][metric]["marker"]})
    return {"metric": metric, "baseline": baseline, "systems": systems}


def macro_means(rows: list[dict], by_key: dict, metrics: list[str], interval_metrics: list[str], s,
                notes: list[str]) -> dict | None:
    """Each pipeline's mean across the run's datasets (per device), when there are several."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows if r["status"] == "ok"))
    if len(datasets) < 2:
        return None
    out = []
    for device in dict.fromkeys(r["device"] for r in rows):
        ok = [r for r in rows if r["status"] == "ok" and r["device"] == device]
        pipelines = list(dict.fromkeys(r["pipeline"] for r in ok))
        entries = {p: {"pipeline": p, "device": device, "metrics": {}} for p in pipelines}
        for metric in metrics:
            found = _macro(ok, by_key, metric, metric in interval_metrics, datasets, pipelines, s, notes)
            for p, value in found.items():
                entries[p]["metrics"][metric] = value
        out.extend(entries.values())
    first = metrics[0] if metrics else None
    out.sort(key=lambda e: -(e["metrics"].get(first, {}).get("mean") or float("-inf")))
    return {"datasets": datasets, "averaging": MACRO, "rows": out}


def _macro(ok, by_key, metric, interval, datasets, pipelines, s, notes) -> dict:
    """``{pipeline: {mean, interval, missing}}`` for one metric: a stratified bootstrap interval
    where asked for and every cell kept per-query values, else the plain mean of the means."""
    means = {(r["dataset"], r["pipeline"]): r["values"].get(metric) for r in ok}
    per_query = {d: _per_query([r for r in ok if r["dataset"] == d], by_key, metric) for d in datasets}
    complete = all(len(per_query[d]) == sum(r["dataset"] == d for r in ok) for d in datasets)
    if interval and complete:
        try:
            found = mean_across_datasets(per_query, systems=pipelines, confidence=s.confidence,
                                         samples=s.bootstrap_samples, seed=s.seed)
            return {m.system: {"mean": m.mean, "missing": m.missing, "interval": None if m.interval is None else
                               {"low": m.interval.low, "high": m.interval.high, "confidence": m.interval.confidence}}
                    for m in found}
        except StatsError as exc:
            notes.append(f"mean across datasets, {metric}: no interval ({exc})")
    out = {}
    for p in pipelines:
        missing = [d for d in datasets if means.get((d, p)) is None]
        mean = None if missing else sum(means[(d, p)] for d in datasets) / len(datasets)
        out[p] = {"mean": mean, "missing": missing, "interval": None}
    return out
