"""The leaderboard's numbers, computed once per run: ``leaderboard.json`` (``harness.leaderboard/1``).

Every renderer (Markdown, CSV, HTML) reads this dict and nothing else, so the four outputs
cannot disagree. Statistics come from ``harness.stats`` with the run's ``[stats]`` settings; the
families they correct over are those docs/statistics.md defines: one metric on one dataset (and
device). What could not be computed is said in ``notes``, never left silently blank.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..cellresult import CellResult, as_results
from ..collection import DataReport
from ..stats import StatsError, stats_settings
from .compressed import compressed_section
from .pareto import fronts
from .significance import group_statistics, macro_means
from .stages import section as stages_section
from .table import COST_AXES, base_rows, cached_counts, cost_spread, hardware_refusal, metric_labels

SCHEMA = "harness.leaderboard/1"
KEYS = ("dataset", "pipeline", "device", "status")


def analyse(manifest: dict, cells: list[CellResult], *, mixed_hardware: bool = False, baseline: str | None = None,
            intervals: str | None = None, margin: float | None = None, margin_metric: str | None = None) -> dict:
    """The leaderboard of one run as a JSON-ready dict; ``baseline``, ``intervals``, ``margin`` and
    ``margin_metric`` override the run's ``[stats]`` settings (``harness leaderboard --baseline``...)."""
    cells = as_results(cells)
    metrics = metric_labels(manifest, cells)
    primary = metrics[0] if metrics else None
    notes: list[str] = []
    settings = run_settings(manifest, cells, notes)
    listed = manifest.get("cells") if isinstance(manifest.get("cells"), dict) else {}
    missing = [cell_id for cell_id in listed if cell_id not in {c.cell.id for c in cells}]
    if missing:  # load_run leaves them out of an unfinished run only (a finished one is damaged)
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        notes.append(f"run {manifest.get('status') or 'unfinished'}: {len(missing)} of {len(listed)} cells have no "
                     f"result yet ({shown}), so they are not in this leaderboard")
    notes.extend(data_notes(cells))
    notes.extend(failed_metric_notes(cells))
    if baseline is not None:
        settings = replace(settings, baseline=baseline)
    if intervals is not None:
        settings = replace(settings, intervals=intervals)
    if margin is not None:
        settings = replace(settings, margin=margin)
    if margin_metric is not None:
        settings = replace(settings, margin_metric=margin_metric)
    refusal = None if mixed_hardware else hardware_refusal(cells)
    flat = base_rows(manifest, cells, mixed_hardware)
    columns = [c for c in (flat[0] if flat else {}) if c in KEYS or any(r.get(c) is not None for r in flat)]
    by_key = {(c.cell.dataset, c.cell.pipeline, c.cell.device): c for c in cells}
    rows = []
    for row in flat:
        cell = by_key[(row["dataset"], row["pipeline"], row["device"])]
        rows.append({**{k: row[k] for k in KEYS},
                     "values": {c: row[c] for c in columns if c not in KEYS},
                     "spread": {} if refusal else cost_spread(cell),
                     "cached_counts": cached_counts(cell),  # counter columns counted in an earlier run
                     "stats": {}, "group": None, "pareto": []})
    chosen, baseline_note = resolve_baseline(settings.baseline, manifest, cells)
    if baseline_note:
        notes.append(baseline_note)
    interval_metrics = metrics if settings.intervals == "all" else metrics[:1]
    recall = recall_metric(metrics)
    groups, differences, pareto, recall_fronts = [], [], [], []
    for (dataset, device), members in _grouped(rows).items():
        found = group_statistics(members, by_key, metrics, interval_metrics, chosen, settings, notes)
        if found["letters"]:
            groups.append({"dataset": dataset, "device": device, **found["letters"]})
        if found["differences"]:
            differences.append({"dataset": dataset, "device": device, **found["differences"]})
        named = [{"name": r["pipeline"], **r} for r in members]
        axes, why = fronts(named, primary, refusal)
        for axis, front in axes.items():
            for r in members:
                if r["pipeline"] in front["front"]:
                    r["pareto"].append(axis)
        pareto.append({"dataset": dataset, "device": device, "quality": primary, "axes": axes, "note": why})
        if recall:
            axes, why = fronts(named, recall, refusal)
            axes = dict(sorted(axes.items(), key=lambda item: item[0] != "QPS"))  # ann-benchmarks' x axis first
            recall_fronts.append({"dataset": dataset, "device": device, "quality": recall, "axes": axes, "note": why})
    macro = macro_means(rows, by_key, metrics, interval_metrics, settings, notes)
    compressed = compressed_section(rows, by_key, cells, metrics, settings, notes)
    return {
        "schema": SCHEMA,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": _run_info(manifest),
        "metrics": metrics,
        # who provided each metric, and the header's words for it (render.py, html.py)
        "metric_providers": (providers := metric_providers(manifest, cells, metrics)),
        "metrics_source": metrics_source(metrics, providers),
        "primary": primary,
        "datasets": list(dict.fromkeys(r["dataset"] for r in rows)),
        "columns": columns,
        "settings": {**settings.to_dict(), "interval_metrics": interval_metrics},
        "baseline": {"requested": settings.baseline, "pipeline": chosen, "note": baseline_note},
        "cost": {"shown": any(a in columns for a in COST_AXES), "refusal": refusal, "mixed_hardware": mixed_hardware},
        "rows": rows,
        "groups": groups,
        "differences": differences,
        "pareto": pareto,
        # the ann-benchmarks view: recall of the exact top-k against each cost (absent unless a
        # suite measures ExactRecall beside another primary metric)
        "recall": recall_fronts,
        "macro": macro,
        "compressed": compressed,
        "stages": stages_section(rows, by_key, primary),  # cascades stage by stage (stages.py)
        "notes": notes,
    }


def recall_metric(metrics: list[str]) -> str | None:
    """The first ``ExactRecall@k`` of the suite when it is not the primary metric (whose fronts
    the leaderboard draws anyway): approximate search and approximated scorers are judged by it."""
    found = next((m for m in metrics if m.partition("@")[0].partition("(")[0] == "ExactRecall"), None)
    return found if metrics and found != metrics[0] else None


def data_notes(cells: list[CellResult]) -> list[str]:
    """A note per non-zero count of each dataset's data report (queries without judgments, judged
    documents not in the corpus, ids differing by zero padding), from its first cell that has one."""
    out, seen = [], set()
    for cell in cells:
        name = cell.cell.dataset
        record = cell.dataset if isinstance(cell.dataset, dict) else {}
        if name in seen or "checks" not in record:
            continue
        seen.add(name)
        try:
            report = DataReport.from_dict(record["checks"])
        except ValueError as exc:
            out.append(f"dataset {name}: its data report in cell {cell.cell.id} is unreadable ({exc})")
            continue
        out.extend(f"dataset {name}: {note}" for note in report.notes())
    return out


def failed_metric_notes(cells: list[CellResult], shown: int = 5) -> list[str]:
    """A note per metric that failed (raised, or returned what is not a value) in a cell that
    finished: its value is blank there, and this says why instead of leaving it silently blank."""
    out = []
    for cell in cells:
        details = (cell.evaluation or {}).get("details") if isinstance(cell.evaluation, dict) else None
        if not cell.ok or not isinstance(details, dict):
            continue
        for label, detail in details.items():
            if isinstance(detail, dict) and detail.get("failed") is True:
                out.append(f"{label} failed in cell {cell.cell.id}: {detail.get('unavailable')}")
    return out[:shown] + ([f"... and {len(out) - shown} more failed metric values"] if len(out) > shown else [])


def run_settings(manifest: dict, cells: list[CellResult], notes: list[str]):
    """The run's resolved ``[stats]`` settings; the seed defaults to the suite's (in each cell's config)."""
    seed = next((c.config.seed for c in cells if c.config.seed is not None), 0) or 0
    try:
        return stats_settings(manifest.get("stats"), seed)
    except ValueError as exc:  # a manifest edited by hand, or from a future version
        notes.append(f"[stats] settings unusable ({exc}): defaults used")
        return stats_settings({}, seed)


def resolve_baseline(requested: str | None, manifest: dict, cells: list[CellResult]) -> tuple[str | None, str | None]:
    """(the baseline pipeline, a note): a sweep's base name means its first variant, said so."""
    if not requested:
        return None, None
    names = list(dict.fromkeys([*manifest.get("pipelines", []), *(c.cell.pipeline for c in cells)]))
    if requested in names:
        return requested, None
    variants = [n for n in names if any(c.cell.pipeline == n and c.cell.base == requested for c in cells)]
    if variants:
        return variants[0], (f"baseline {requested!r} is a sweep: its first variant {variants[0]!r} is the "
                             "baseline (name a variant in [stats] baseline to choose another)")
    return None, f"baseline {requested!r} is not a pipeline of this run: no comparisons with a baseline"


def _grouped(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Rows by (dataset, device): the unit a family of tests and a Pareto front span."""
    out: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        out.setdefault((row["dataset"], row["device"]), []).append(row)
    return out


LEGACY_SOURCE = "trec_eval measures (pytrec_eval)"  # what runs that recorded no providers are described as


def metric_providers(manifest: dict, cells: list[CellResult], metrics: list[str]) -> dict[str, list[dict]]:
    """Each metric's providers (cell results' ``metric_providers``, docs/results.md), by label, in
    ``metrics`` order: every distinct record the cells hold (two when a plugin was upgraded between
    a run and its resume), else the manifest's; a metric none records is left out (a run written
    before providers were recorded has none)."""
    out: dict[str, list[dict]] = {}
    for cell in cells:
        for label, record in cell.metric_providers.items():
            entry = record.to_dict() if hasattr(record, "to_dict") else dict(record)
            if entry not in out.setdefault(label, []):
                out[label].append(entry)
    listed = manifest.get("metric_providers")
    if isinstance(listed, dict):
        for label, record in listed.items():
            if label not in out and isinstance(record, dict):
                out[label] = [dict(record)]
    order = {label: i for i, label in enumerate(metrics)}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def metrics_source(metrics: list[str], providers: dict[str, list[dict]]) -> str:
    """Where the metrics come from, for the header: ``trec_eval measures (pytrec_eval 0.5)``,
    ``Judged@10 (computed by ir-harness 0.1.0)``, ``ERR@10 (ir-harness-robustness 0.1.0)``,
    joined; a run without provider records gets the words it always had."""
    if not providers:
        return LEGACY_SOURCE
    groups: dict[str, list[str]] = {}
    for label in [*metrics, *(m for m in providers if m not in metrics)]:
        for record in providers.get(label) or [{}]:
            groups.setdefault(_provider_words(record), []).append(label)
    parts = []
    for words, labels in groups.items():
        if words.startswith("pytrec_eval"):
            parts.append(f"trec_eval measures ({words})")
        else:
            parts.append(f"{', '.join(labels)} ({words})")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _provider_words(record: dict) -> str:
    if record.get("computed_by"):
        return str(record["computed_by"])
    if not record.get("distribution"):
        return "provider not recorded"
    words = " ".join(str(x) for x in (record["distribution"], record.get("version")) if x)
    if record.get("origin") == "built-in":
        return f"computed by {words}"
    plugin = record.get("plugin")
    return words + (f", plugin {plugin}" if plugin and plugin != record["distribution"] and
                    plugin.replace("_", "-") not in record["distribution"] else "")


def _run_info(manifest: dict) -> dict:
    """What the renderers' provenance lines need from the manifest."""
    keys = ("suite", "run_id", "status", "started", "finished", "harness", "k", "measure", "executor", "hardware",
            "pipelines")
    env = manifest.get("environment") or {}
    return {**{k: manifest.get(k) for k in keys},
            "environment": {k: env.get(k) for k in ("python", "host", "cpu", "platform")}}


__all__ = ["SCHEMA", "StatsError", "analyse", "resolve_baseline", "run_settings"]
