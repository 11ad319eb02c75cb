"""``leaderboard.md`` and ``leaderboard.csv``, rendered from the leaderboard dict (analysis.py).

Markdown is for people: rounded values, intervals in brackets, one-character markers and a
legend under the table. CSV is for tools: full precision, one column per number.
"""

from __future__ import annotations

import csv
import io

from ..measure.hardware import describe
from . import compressed_view, stages

LEFT = ("dataset", "pipeline", "device", "hardware", "status", "group", "Pareto")
SHORT = {"p50 ms": "p50", "p95 ms": "p95", "QPS": "QPS", "peak MiB": "MiB"}
AXIS_WORDS = {"p50 ms": "p50 latency", "p95 ms": "p95 latency", "QPS": "throughput", "peak MiB": "peak memory"}
COUNTER = "costs."  # cost counter columns (table.py): costs.<name>, mean per query
CACHED_MARK = "†"  # a count recorded when an earlier run computed the stage (served from the cache)


def axis_short(axis: str) -> str:
    """A Pareto axis as a badge: ``p50``, ``QPS``, ``pairs_scored``."""
    return SHORT.get(axis) or axis.removeprefix(COUNTER)


def axis_words(axis: str) -> str:
    """A Pareto axis in words: ``p50 latency``, ``pairs_scored per query``."""
    return AXIS_WORDS.get(axis) or f"{axis.removeprefix(COUNTER)} per query"


def number_text(column: str, value) -> str:
    """Metrics with 4 decimals, seconds and milliseconds with 3, QPS and MiB with 1, gaps as "-"."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if column.startswith(COUNTER) and isinstance(value, (int, float)):
        return f"{value:.4g}" if abs(value) >= 1e6 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, float):
        if column.endswith((" s", " ms")):
            return f"{value:.3f}"
        return f"{value:.1f}" if column in ("QPS", "peak MiB") else f"{value:.4f}"
    return str(value)


def metric_text(row: dict, metric: str) -> str:
    """``0.3736 [0.341, 0.406] ▲``: the mean, its interval when computed, the baseline marker."""
    text = number_text(metric, row["values"].get(metric))
    stats = row["stats"].get(metric) or {}
    if stats.get("interval"):
        text += f" [{stats['interval']['low']:.3f}, {stats['interval']['high']:.3f}]"
    return f"{text} {stats['marker']}" if stats.get("marker") else text


def table_columns(data: dict) -> list[str]:
    """Columns of the main table: the base columns, ``group`` after the primary metric, and
    ``Pareto`` before the status when any front was found."""
    out = []
    for column in data["columns"]:
        if column == "status" and any(p["axes"] for p in data["pareto"]):
            out.append("Pareto")
        out.append(column)
        if column == data["primary"] and any(r["group"] for r in data["rows"]):
            out.append("group")
    return out


def cell_text(row: dict, column: str, data: dict) -> str:
    if column in ("dataset", "pipeline", "device", "status"):
        return row[column]
    if column == "group":
        return row["group"] or "-"
    if column == "Pareto":
        return " ".join(axis_short(a) for a in row["pareto"])
    if column in data["metrics"]:
        return metric_text(row, column)
    text = number_text(column, row["values"].get(column))
    return text + CACHED_MARK if column in row.get("cached_counts", ()) and text != "-" else text


def metrics_source(data: dict) -> str:
    """Who provided the metrics (analysis.py's ``metrics_source``: ``trec_eval measures (pytrec_eval
    0.5) and ERR@10 (ir-harness-robustness 0.1.0)``); a leaderboard dict without it, the old words."""
    return data.get("metrics_source") or "trec_eval measures (pytrec_eval)"


def render_markdown(data: dict) -> str:
    from tabulate import tabulate

    run, env = data["run"], data["run"]["environment"]
    lines = [
        f"# {run.get('suite')} — run {run.get('run_id')}",
        "",
        f"- status: {run.get('status')}; started {run.get('started')}, finished {run.get('finished') or '-'}",
        f"- harness {run.get('harness')}; Python {env.get('python')}; host {env.get('host')}; CPU {env.get('cpu')}",
        f"- retrieval depth k = {run.get('k')}; metrics: {metrics_source(data)}, mean over every "
        "judged query, a query with no results scores 0 (trec_eval -c)",
        "- times: wall seconds of each phase in this run; `cached` = served from the artifact cache or "
        "shared with an earlier cell, not measured here",
    ]
    if any(c in data["columns"] for c in ("p50 ms", "QPS", "peak MiB")):
        lines.append(_cost_line(run))
    if data["cost"]["refusal"]:
        lines.append(f"- {data['cost']['refusal']}")
    if data["rows"]:
        lines.append(f"- statistics: {statistics_text(data)}")
    lines.append("")
    if not data["rows"]:
        return "\n".join(lines + ["No cell results."]) + "\n"
    columns = table_columns(data)
    rows = [[cell_text(row, c, data) for c in columns] for row in data["rows"]]
    align = ["left" if c in LEFT else "right" for c in columns]
    lines += [tabulate(rows, headers=headers(columns, data), tablefmt="github", disable_numparse=True,
                       colalign=align), ""]
    lines += [f"- {line}" for line in legend(data, columns)]
    lines += _macro_section(data) + _pareto_section(data) + _compressed_section(data) + stages.markdown(data)
    if data["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in data["notes"]]
    return "\n".join(lines) + "\n"


CORRECTED = {"holm": "Holm-corrected", "bonferroni": "Bonferroni-corrected", "none": "uncorrected"}


def statistics_text(data: dict) -> str:
    s = data["settings"]
    corrected = CORRECTED.get(s["correction"], s["correction"])
    test = ("paired t-test" if s["test"] == "t"
            else f"paired permutation test ({s['permutation_samples']} sign patterns)")
    parts = [f"{s['confidence']:.0%} percentile-bootstrap intervals of the mean over queries "
             f"({s['bootstrap_samples']} resamples, seed {s['seed']}) for {', '.join(s['interval_metrics'])}"]
    if data["baseline"]["pipeline"]:
        parts.append(f"{test} of each pipeline against the baseline {data['baseline']['pipeline']} on every metric, "
                     f"{corrected} over the pipelines of a dataset, alpha {s['alpha']}")
    else:
        parts.append("no baseline set ([stats] baseline): no markers")
    parts.append(f"groups: every pair tested ({test}, {corrected}) on {data['primary']}, "
                 "shown as a compact letter display")
    return "; ".join(parts)


# A metric label longer than this with arguments in parentheses is shown as ``Family(…)@k`` in
# table headers (ExactRecall's holds its whole reference table); the legend spells it out.
LONG_LABEL = 40


def short_labels(metrics: list[str]) -> dict[str, str]:
    """``{label: header}`` for the labels that are too long to head a column, where the short
    forms stay distinct (two that would collide keep their full labels)."""
    short = {}
    for label in metrics:
        if len(label) > LONG_LABEL and "(" in label and ")" in label:
            short[label] = label[: label.index("(")] + "(…)" + label[label.rindex(")") + 1:]
    counts: dict[str, int] = {}
    for header in short.values():
        counts[header] = counts.get(header, 0) + 1
    return {label: header for label, header in short.items() if counts[header] == 1}


def headers(columns: list[str], data: dict) -> list[str]:
    short = short_labels(data["metrics"])
    return [short.get(c, c) for c in columns]


def legend(data: dict, columns: list[str]) -> list[str]:
    s, out = data["settings"], []
    out += [f"`{header}`: {label}" for label, header in short_labels(data["metrics"]).items() if label in columns]
    if any((r["stats"].get(m) or {}).get("interval") for r in data["rows"] for m in data["metrics"]):
        out.append(f"`[low, high]`: {s['confidence']:.0%} bootstrap interval of the mean over queries")
    if data["baseline"]["pipeline"]:
        out.append(f"▲ / ▼: significantly higher / lower than the baseline ◆ ({data['baseline']['pipeline']}), "
                   f"corrected p ≤ {s['alpha']}; no mark: no significant difference")
    if "group" in columns:
        out.append(f"group: pipelines sharing a letter are not significantly different on {data['primary']} "
                   "(`a` holds the best); a pipeline may hold several letters")
    counters = [c for c in columns if c.startswith(COUNTER)]
    if counters:
        out.append(f"{', '.join(f'`{c}`' for c in counters)}: cost counters the pipeline's components reported, "
                   "mean per query (counts, not timings; the cell JSON has totals and per-query values)")
    if any(r["values"].get(c) is not None for r in data["rows"] for c in r.get("cached_counts", ()) if c in counters):
        out.append(f"{CACHED_MARK}: counted when an earlier run computed the stage (its run served from the "
                   "artifact cache), not in this run")
    if "Pareto" in columns:
        shown = [*AXIS_WORDS, *(c for c in counters if any(c in r["pareto"] for r in data["rows"]))]
        axes = ", ".join(f"{axis_short(a)} = {axis_words(a)}" for a in shown)
        out.append(f"Pareto: on the front of {data['primary']} against that cost, dataset by dataset ({axes}): "
                   "no other pipeline is at least as good on both and better on one")
    return out


def _macro_section(data: dict) -> list[str]:
    from tabulate import tabulate

    macro = data["macro"]
    if not macro:
        return []
    columns = ["pipeline", "device", *data["metrics"]]
    rows = []
    for entry in macro["rows"]:
        row = [entry["pipeline"], entry["device"]]
        for metric in data["metrics"]:
            value = entry["metrics"].get(metric) or {}
            text = number_text(metric, value.get("mean"))
            if value.get("interval"):
                text += f" [{value['interval']['low']:.3f}, {value['interval']['high']:.3f}]"
            row.append(text)
        rows.append(row)
    table = tabulate(rows, headers=headers(columns, data), tablefmt="github", disable_numparse=True,
                     colalign=["left", "left"] + ["right"] * len(data["metrics"]))
    missing = [f"{e['pipeline']} lacks {', '.join(v['missing'])}" for e in macro["rows"]
               for v in list(e["metrics"].values())[:1] if v.get("missing")]
    note = f"- not averaged (a dataset missing): {'; '.join(missing)}" if missing else None
    return ["", f"## Mean across datasets ({', '.join(macro['datasets'])})", "", table, "",
            "- macro average: each dataset counts equally; intervals: stratified bootstrap (queries resampled "
            "within each dataset)", *([note] if note else [])]


def _pareto_section(data: dict) -> list[str]:
    if not data["pareto"] or not data["primary"]:
        return []
    out = ["", f"## Pareto fronts ({data['primary']} against cost)", ""] + _fronts(data, data["pareto"])
    recall = data.get("recall") or []  # absent from leaderboards written before it existed
    if recall:
        label = recall[0]["quality"]
        out += ["", f"## Recall of the exact top-k against cost ({short_labels([label]).get(label, label)}, the "
                "ann-benchmarks view)",
                ""] + _fronts(data, recall)
    return out


def _fronts(data: dict, entries: list[dict]) -> list[str]:
    out = []
    for entry in entries:
        where = entry["dataset"] + (f" ({entry['device']})" if len({r["device"] for r in data["rows"]}) > 1 else "")
        if entry["note"]:
            out.append(f"- {where}: {entry['note']}")
        for axis, front in entry["axes"].items():
            out.append(f"- {where}, {axis_words(axis)} ({axis}): {', '.join(front['front'])}")
    return out


def _compressed_section(data: dict) -> list[str]:
    """Each compressed pipeline beside its parent (compressed_view.py says what the columns hold)."""
    from tabulate import tabulate

    if not compressed_view.pairs(data):
        return []
    columns = compressed_view.columns(data)
    rows = [[compressed_view.text(p, c, data) for c in columns] for p in compressed_view.pairs(data)]
    align = ["left" if c in compressed_view.LEFT else "right" for c in columns]
    table = tabulate(rows, headers=columns, tablefmt="github", disable_numparse=True, colalign=align)
    return ["", "## Compressed vs parent", "", table, "", *(f"- {line}" for line in compressed_view.legend(data))]


def _cost_line(run: dict) -> str:
    measure = run.get("measure") or {}
    n = measure.get("latency_queries")
    sample = f"a seeded sample of up to {n} queries" if n else "all queries"
    hardware = run.get("hardware")
    where = f" on {describe(hardware)}" if hardware else ""
    threads = measure.get("threads") or "default"
    return (f"- cost{where}: p50/p95 ms = single-stream latency per query ({sample}, ≥ "
            f"{measure.get('repetitions')} passes, threads {threads}); QPS = offline, the same queries in one "
            "batch; peak MiB = largest resident memory of the cell's phases (isolation "
            f"{(run.get('executor') or {}).get('isolation')}); methods in each cell's JSON")


def render_csv(data: dict) -> str:
    """One row per cell, full precision: each metric with ``low``/``high`` (intervals),
    ``p_adj`` and ``vs_baseline`` (higher/lower/n.s./baseline) where computed; ``group``; cost;
    ``pareto`` (the fronts the pipeline is on, ``;``-separated); status; then, when the run has
    compressed pipelines with parents, their comparison columns (``compressed_view.csv_columns``)."""
    header: list[str] = []
    for column in data["columns"]:
        if column == "status":
            header += ["pareto"] if any(p["axes"] for p in data["pareto"]) else []
        header.append(column)
        if column in data["metrics"]:
            header += _metric_extras(data, column)
        if column == data["primary"] and any(r["group"] for r in data["rows"]):
            header.append("group")
    extra = compressed_view.csv_columns(data)  # compressed pipelines against their parents
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header + extra)
    for row in data["rows"]:
        found = compressed_view.csv_values(data, row)
        writer.writerow([_csv_value(row, c, data) for c in header] + [_plain(found.get(c)) for c in extra])
    return out.getvalue()


def _plain(value) -> str:
    """A CSV field: floats at full precision, gaps empty."""
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _metric_extras(data: dict, metric: str) -> list[str]:
    extras = []
    if any((r["stats"].get(metric) or {}).get("interval") for r in data["rows"]):
        extras += [f"{metric} low", f"{metric} high"]
    if any((r["stats"].get(metric) or {}).get("marker") for r in data["rows"]) or (
            data["baseline"]["pipeline"] and any(r["stats"].get(metric) for r in data["rows"])):
        extras += [f"{metric} p_adj", f"{metric} vs_baseline"]
    return extras


def _csv_value(row: dict, column: str, data: dict):
    if column in ("dataset", "pipeline", "device", "status"):
        return row[column]
    if column == "group":
        return row["group"] or ""
    if column == "pareto":
        return ";".join(row["pareto"])
    metric, _, part = column.rpartition(" ")
    stats = (row["stats"].get(metric) or {}) if metric in data["metrics"] else None
    if stats is not None and part in ("low", "high"):
        return "" if not stats.get("interval") else repr(stats["interval"][part])
    if stats is not None and part in ("p_adj", "vs_baseline"):
        vs = stats.get("vs_baseline")
        if part == "p_adj":
            return "" if not vs or vs["p_adjusted"] is None else repr(vs["p_adjusted"])
        if stats.get("marker") == "◆":
            return "baseline"
        return "" if not vs else (vs["direction"] if vs["significant"] else "n.s.")
    value = row["values"].get(column)
    return "" if value is None else repr(value) if isinstance(value, float) else value
