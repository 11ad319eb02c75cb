"""The "Stages" table: each cascade (a pipeline of two stages or more) stage by stage.

Read from each cell result's ``stages`` list (``harness.cell/2``; a result without one, or with
a single stage, has no rows here): per stage its time and cache state, the quality after it on
the suite's first metric, the recall of the candidates it was handed and its ceiling, the metric
of an oracle reordering of those candidates (harness/attribution.py, docs/metrics.md). Two flags
make the bottleneck visible:

* ``below ceiling`` (``▽``): a reranking stage whose quality is more than ``BELOW_CEILING`` below
  its ceiling: a better reranker of the same candidates would gain that much;
* ``caps`` (``⊤``): a first stage whose candidate recall, the input recall of the stage after it,
  is below ``LOW_RECALL``: fewer than that share of the relevant documents reach any later stage.

``section`` makes the leaderboard dict's ``stages`` entry; ``markdown``, ``html`` and ``csv_text``
render it. docs/leaderboards.md ("Stages") describes the table.
"""

from __future__ import annotations

import csv
import io
from html import escape

BELOW_CEILING = 0.10  # a reranker more than this below its ceiling (metric units) is flagged
LOW_RECALL = 0.5  # a first stage handing on a smaller share of the relevant documents caps the rest
FLAGS = {"below ceiling": "▽", "caps": "⊤"}
CLASSES = {"below ceiling": "below-ceiling", "caps": "caps"}
CSV_FILE = "leaderboard-stages.csv"
CSV_COLUMNS = ("dataset", "pipeline", "device", "stage", "kind", "plugin", "compressors", "depth", "cache",
               "seconds", "metric", "quality", "input_recall", "ceiling", "gap", "flags")
COLUMNS = ("stage", "kind", "plugin", "depth", "cache", "seconds", "quality", "input recall", "ceiling",
           "gap", "flag")
RULES = {
    "below ceiling": f"a stage after the first whose quality is more than {BELOW_CEILING} below its ceiling "
                     f"(ceiling - quality > {BELOW_CEILING}): a better ordering of the same candidates would "
                     "gain more than that",
    "caps": f"a first stage whose candidate recall (the input recall of the stage after it) is below "
            f"{LOW_RECALL}: fewer than that share of the relevant documents reach any later stage",
}


def records(cell) -> list[dict]:
    """A cell result's stage records as plain dicts (``harness.cell/2``), or none."""
    found = cell.get("stages") if hasattr(cell, "get") else None
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def section(rows: list[dict], by_key: dict, primary: str | None) -> dict | None:
    """The leaderboard dict's ``stages`` entry: ``None`` when no finished cell is a cascade, else the
    thresholds, the rules in words and one row per (dataset, pipeline, device, stage), cascades in
    leaderboard order."""
    out = []
    for row in rows:
        cell = by_key[(row["dataset"], row["pipeline"], row["device"])]
        found = records(cell)
        if row["status"] != "ok" or len(found) < 2:
            continue
        stage_rows = [_row(row, i, record) for i, record in enumerate(found)]
        _flag(stage_rows)
        out += stage_rows
    if not out:
        return None
    metric = next((r["metric"] for r in out if r["metric"]), primary)
    return {"metric": metric, "below_ceiling": BELOW_CEILING, "low_recall": LOW_RECALL, "rules": RULES,
            "rows": out}


def _row(cell_row: dict, index: int, record: dict) -> dict:
    quality, ceiling = _number(record.get("quality")), _number(record.get("ceiling"))
    return {
        "dataset": cell_row["dataset"], "pipeline": cell_row["pipeline"], "device": cell_row["device"],
        "stage": record["stage"] if isinstance(record.get("stage"), int) else index,
        "kind": record.get("kind"),
        "plugin": record.get("plugin"),
        "compressors": _compressors(record.get("compressors")),
        "depth": record.get("depth"),
        "cache": record.get("cache"),
        "seconds": _number(record.get("seconds")),
        "metric": record.get("metric"),
        "quality": quality,
        "input_recall": _number(record.get("input_recall")),
        "ceiling": ceiling,
        "gap": ceiling - quality if ceiling is not None and quality is not None else None,
        "flags": [],
    }


def _flag(stage_rows: list[dict]) -> None:
    """The flags of one cascade's rows (the module docstring's two rules)."""
    for row in stage_rows[1:]:
        if row["gap"] is not None and row["gap"] > BELOW_CEILING:
            row["flags"].append("below ceiling")
    recall = stage_rows[1]["input_recall"]
    if recall is not None and recall < LOW_RECALL:
        stage_rows[0]["flags"].append("caps")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _compressors(value) -> list[str]:
    """Compressor names: a record lists them as names or as tables with ``plugin``."""
    if not isinstance(value, list):
        return []
    return [str(c.get("plugin")) if isinstance(c, dict) else str(c) for c in value]


def cascades(data: dict) -> list[tuple[tuple[str, str, str], list[dict]]]:
    """The section's rows grouped by cascade, ``((dataset, pipeline, device), rows)``, in order."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in (data.get("stages") or {}).get("rows") or []:
        groups.setdefault((row["dataset"], row["pipeline"], row["device"]), []).append(row)
    return list(groups.items())


def headers(data: dict) -> list[str]:
    """The table's column labels: ``quality`` shown as the metric's label, ``input recall`` as
    ``input R@depth``."""
    metric = data["stages"]["metric"] or "quality"
    return [metric if c == "quality" else "input R@depth" if c == "input recall" else c for c in COLUMNS]


def text(row: dict, column: str) -> str:
    """One cell of the table as plain text: metric values with 4 decimals, seconds with 3."""
    if column == "plugin":
        return " + ".join([str(row["plugin"]), *row["compressors"]]) if row["plugin"] else "-"
    if column == "flag":
        return " ".join(f"{FLAGS[f]} {f}" for f in row["flags"])
    key = {"input recall": "input_recall"}.get(column, column)
    value = row.get(key)
    if value is None:
        return "-"
    if column == "seconds":
        return f"{value:.3f}"
    if column == "gap":
        return f"{value:+.4f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def legend(data: dict) -> list[str]:
    section_ = data["stages"]
    metric = section_["metric"]
    return [
        f"{metric}: the metric on the run after the stage (the last stage's is the cell's); input R@depth: "
        "recall of the relevant documents among the candidates the stage reranks (the previous stage's top "
        f"depth); ceiling: {metric} of an oracle reordering of those candidates by their grades; gap: "
        "ceiling − quality",
        f"{FLAGS['below ceiling']} below ceiling: {section_['rules']['below ceiling']}",
        f"{FLAGS['caps']} caps: {section_['rules']['caps']}",
        "cache: miss = computed in this run, hit = read from the artifact cache, memory = shared with an "
        "earlier cell; seconds: wall time of the stage in this run",
    ]


def markdown(data: dict) -> list[str]:
    """The "Stages" section of leaderboard.md: one table per cascade, then the legend."""
    from tabulate import tabulate

    if not data.get("stages"):
        return []
    columns = headers(data)
    align = ["left" if c in ("kind", "plugin", "cache", "flag") else "right" for c in COLUMNS]
    out = ["", f"## Stages ({data['stages']['metric']})", ""]
    for (dataset, pipeline, device), rows in cascades(data):
        table = tabulate([[text(r, c) for c in COLUMNS] for r in rows], headers=columns, tablefmt="github",
                         disable_numparse=True, colalign=align)
        out += [f"### {dataset} / {pipeline} ({device})", "", table, ""]
    return out + [f"- {line}" for line in legend(data)]


def html(data: dict) -> list[str]:
    """The "Stages" section of leaderboard.html: a table per cascade, flagged rows classed."""
    from .page import bullets, cell, table, text_cell

    if not data.get("stages"):
        return []
    columns = headers(data)
    head = [(label, "text" if c in ("kind", "plugin", "cache", "flag") else "")
            for label, c in zip(columns, COLUMNS, strict=True)]
    out = [f"<h2>Stages ({escape(str(data['stages']['metric']))})</h2>"]
    for n, ((dataset, pipeline, device), rows) in enumerate(cascades(data)):
        body = []
        for r in rows:
            cells = []
            for c in COLUMNS:
                if c in ("kind", "plugin", "cache"):
                    cells.append(text_cell(text(r, c)))
                elif c == "flag":
                    badges = "".join(f'<span class="badge bad" title="{escape(data["stages"]["rules"][f])}">'
                                     f"{FLAGS[f]} {escape(f)}</span>" for f in r["flags"])
                    cells.append(cell(badges, len(r["flags"]) or None, "text"))
                else:
                    value = r.get({"input recall": "input_recall"}.get(c, c))
                    cells.append(cell(escape(text(r, c)), value if isinstance(value, (int, float)) else None))
            body.append((cells, " ".join(CLASSES[f] for f in r["flags"])))
        out += [f"<h3>{escape(dataset)} / {escape(pipeline)} ({escape(device)})</h3>",
                '<div class="wrap">' + table(head, body, f"stages-{n}") + "</div>"]
    return out + [bullets([escape(line) for line in legend(data)], "note")]


def csv_text(data: dict) -> str | None:
    """``leaderboard-stages.csv``: one row per stage of every cascade, full precision; None when the
    run has no cascade."""
    if not data.get("stages"):
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in data["stages"]["rows"]:
        writer.writerow([_field(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _field(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)
