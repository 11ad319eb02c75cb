"""``leaderboard.html``: the leaderboard dict as one self-contained page.

Sections: provenance, the sortable leaderboard (intervals, markers, groups, Pareto badges), the
mean across datasets, each compressed pipeline beside its parent (deltas, ratios, verdicts), each
cascade stage by stage (stages.py: quality, candidate recall, ceiling, flags),
quality against cost per dataset (error bars: the metric's bootstrap interval and the latency
percentile's, or the batches' QPS range; the Pareto front as a dashed staircase, its pipelines as
rings), and each pipeline's per-query differences from the baseline.
"""

from __future__ import annotations

from html import escape

from . import compressed_view, stages
from .page import bullets, cell, number, page, table, text_cell
from .render import (
    axis_short,
    axis_words,
    cell_text,
    legend,
    metrics_source,
    short_labels,
    statistics_text,
    table_columns,
)

DRAW = r"""
function draw(data) {
  const q = data.primary;
  document.querySelectorAll("figure[data-plot=scatter]").forEach(fig => {
    const select = fig.querySelector("select"), host = fig.querySelector(".canvas");
    const render = () => { host.replaceChildren(); scatter(host, data, fig.dataset.dataset, fig.dataset.device,
                                                            select.value, fig.dataset.fronts); };
    select.addEventListener("change", render);
    render();
  });
  data.differences.forEach((group, g) => group.systems.forEach((s, k) => {
    const host = document.getElementById(`diff-${g}-${k}`);
    H.bars(host, {title: `${s.pipeline} − ${group.baseline} ${s.marker || ""}`, values: s.differences,
                  labels: s.queries, ylabel: q});
  }));
}
function scatter(host, data, dataset, device, axis, fronts) {
  const entries = fronts === "recall" ? data.recall : data.pareto;
  const q = entries.length ? entries[0].quality : data.primary;
  const rows = data.rows.filter(r => r.dataset === dataset && r.device === device && r.status === "ok"
                                     && r.values[axis] != null && r.values[q] != null);
  const entry = entries.find(p => p.dataset === dataset && p.device === device);
  const front = entry && entry.axes[axis] ? entry.axes[axis].front : [];
  const series = rows.map(r => {
    const iv = (r.stats[q] || {}).interval, sp = r.spread[axis];
    return {name: r.pipeline, legend: false, points: [{x: r.values[axis], y: r.values[q], text: r.pipeline,
      xlo: sp ? sp[0] : null, xhi: sp ? sp[1] : null, ylo: iv ? iv.low : null, yhi: iv ? iv.high : null,
      ring: front.includes(r.pipeline),
      label: `${r.pipeline}: ${q} ${H.fmt(r.values[q])}, ${axis} ${H.fmt(r.values[axis])}`}]};
  });
  series.push({name: "Pareto front", color: "#555", line: true, step: true, dash: "5 3", markers: false,
               points: rows.filter(r => front.includes(r.pipeline)).map(r => ({x: r.values[axis], y: r.values[q]}))});
  const xs = rows.map(r => r.values[axis]).filter(x => x > 0);
  const log = xs.length > 1 && Math.max(...xs) / Math.min(...xs) > 20;
  H.chart(host, {title: `${dataset}: ${q} against ${axis}`, ylabel: q, xlog: log, series, right: 70,
                 xlabel: axis + (axis === "QPS" ? " (higher is better)" : " (lower is better)")});
}
"""


def render_html(data: dict) -> str:
    run = data["run"]
    title = f"{run.get('suite')} — run {run.get('run_id')}"
    parts = [f"<h1>{escape(title)}</h1>", bullets(_meta(data))]
    if data["rows"]:
        notes = [escape(x.replace("`", "")) for x in legend(data, table_columns(data))]
        parts += ["<h2>Leaderboard</h2>", _main_table(data), bullets(notes, "note")]
        parts += _macro(data) + _compressed(data) + stages.html(data) + _scatter_section(data)
        parts += _difference_section(data)
    else:
        parts.append("<p>No cell results.</p>")
    if data["notes"]:
        parts += ["<h2>Notes</h2>", bullets([escape(n) for n in data["notes"]], "note")]
    return page(title, "\n".join(parts), data, DRAW)


def _meta(data: dict) -> list[str]:
    run, env = data["run"], data["run"]["environment"]
    items = [f"status {escape(str(run.get('status')))}; started {escape(str(run.get('started')))}, finished "
             f"{escape(str(run.get('finished') or '-'))}",
             f"harness {escape(str(run.get('harness')))}; Python {escape(str(env.get('python')))}; host "
             f"{escape(str(env.get('host')))}; CPU {escape(str(env.get('cpu')))}",
             f"retrieval depth k = {run.get('k')}; metrics: {escape(metrics_source(data))}, mean over every judged "
             "query (trec_eval -c)"]
    if data["cost"]["refusal"]:
        items.append(escape(data["cost"]["refusal"]))
    if data["rows"]:
        items.append("statistics: " + escape(statistics_text(data)))
    return items


def _main_table(data: dict) -> str:
    columns = table_columns(data)
    short = short_labels(data["metrics"])
    headers = [(short.get(c, c), "text" if c in ("dataset", "pipeline", "device", "status", "group", "Pareto") else "")
               for c in columns]
    rows = []
    for row in data["rows"]:
        cells = []
        for column in columns:
            if column in data["metrics"]:
                cells.append(_metric_cell(row, column))
            elif column == "Pareto":
                badges = "".join(f'<span class="badge" title="{escape(axis_words(a))}">{escape(axis_short(a))}</span>'
                                 for a in row["pareto"])
                cells.append(cell(badges, len(row["pareto"]) or None, "text"))
            elif column in ("dataset", "pipeline", "device", "status", "group"):
                text = cell_text(row, column, data)
                c = text_cell(text)
                c["cls"] += " name" if column == "pipeline" else ""
                cells.append(c)
            else:
                value = row["values"].get(column)
                cells.append(cell(escape(cell_text(row, column, data)), value if isinstance(value, float) else None))
        row_class = "failed" if row["status"] != "ok" else "front" if row["pareto"] else ""
        rows.append((cells, row_class))
    return '<div class="wrap">' + table(headers, rows, "leaderboard") + "</div>"


def _metric_cell(row: dict, metric: str) -> dict:
    value = row["values"].get(metric)
    stats = row["stats"].get(metric) or {}
    html = number(value)
    if stats.get("interval"):
        html += f' <span class="ci">[{stats["interval"]["low"]:.3f}, {stats["interval"]["high"]:.3f}]</span>'
    mark = stats.get("marker")
    if mark:
        vs = stats.get("vs_baseline") or {}
        tip = f"corrected p = {vs['p_adjusted']:.3g}" if vs.get("p_adjusted") is not None else "the baseline"
        cls = {"▲": "up", "▼": "down"}.get(mark, "base")
        html += f' <span class="{cls}" title="{escape(tip)}">{mark}</span>'
    return cell(html, value if isinstance(value, (int, float)) else None)


def _macro(data: dict) -> list[str]:
    macro = data["macro"]
    if not macro:
        return []
    short = short_labels(data["metrics"])
    headers = [("pipeline", "text"), ("device", "text")] + [(short.get(m, m), "") for m in data["metrics"]]
    rows = []
    for entry in macro["rows"]:
        cells = [text_cell(entry["pipeline"]), text_cell(entry["device"])]
        for metric in data["metrics"]:
            value = entry["metrics"].get(metric) or {}
            html = number(value.get("mean"))
            if value.get("interval"):
                html += f' <span class="ci">[{value["interval"]["low"]:.3f}, {value["interval"]["high"]:.3f}]</span>'
            cells.append(cell(html, value.get("mean")))
        rows.append((cells, ""))
    return [f"<h2>Mean across datasets ({escape(', '.join(macro['datasets']))})</h2>", table(headers, rows, "macro"),
            "<p class=note>Macro average: each dataset counts equally; intervals: stratified bootstrap.</p>"]


def _compressed(data: dict) -> list[str]:
    """Compressed vs parent: the Markdown table's cells, sortable by their numbers."""
    if not compressed_view.pairs(data):
        return []
    columns = compressed_view.columns(data)
    headers = [(c, "text" if c in compressed_view.LEFT else "") for c in columns]
    rows = []
    for pair in compressed_view.pairs(data):
        cells = []
        for column in columns:
            content = escape(compressed_view.text(pair, column, data))
            if column == compressed_view.VERDICT and pair["verdict"]:
                content = f'<span class="{compressed_view.CLASSES[pair["verdict"]["verdict"]]}">{content}</span>'
            sort = compressed_view.sort_value(pair, column)
            cells.append(cell(content, sort, "text" if column in compressed_view.LEFT else ""))
        rows.append((cells, "failed" if pair["status"] != "ok" else ""))
    notes = [escape(line.replace("`", "")) for line in compressed_view.legend(data)]
    return ["<h2>Compressed vs parent</h2>", '<div class="wrap">' + table(headers, rows, "compressed") + "</div>",
            bullets(notes, "note")]


def _scatter_section(data: dict) -> list[str]:
    out = [f"<h2>Quality against cost ({escape(str(data['primary']))})</h2>"] + _scatters(data["pareto"], "pareto")
    recall = data.get("recall") or []  # absent from leaderboards written before it existed
    if recall:
        label = recall[0]["quality"]
        out += [f"<h2>Recall of the exact top-k against cost ({escape(short_labels([label]).get(label, label))}, the "
                "ann-benchmarks view)</h2>"] + _scatters(recall, "recall")
    return out


def _scatters(entries: list[dict], fronts: str) -> list[str]:
    """One scatter per dataset (and device) of ``entries`` (``data[fronts]``), an axis selector each."""
    out, figures = [], []
    for entry in entries:
        where = escape(entry["dataset"] + ("" if entry["device"] == "cpu" else f" ({entry['device']})"))
        if entry["note"]:
            out.append(f"<p class=note>{where}: {escape(entry['note'])}</p>")
            continue
        options = "".join(f'<option value="{escape(a)}">{escape(axis_words(a))} ({escape(a)})</option>'
                          for a in entry["axes"])
        figures.append(f'<figure data-plot="scatter" data-fronts="{fronts}" data-dataset="{escape(entry["dataset"])}" '
                       f'data-device="{escape(entry["device"])}"><div class="canvas"></div><figcaption>{where}: '
                       f'x axis <select>{options}</select>. Error bars: the metric\'s bootstrap interval, the '
                       "latency percentile's bootstrap interval, or the slowest to fastest batch (QPS). Rings and "
                       "the dashed staircase: the Pareto front.</figcaption></figure>")
    if figures:
        out.append('<div class="plots">' + "".join(figures) + "</div>")
    return out


def _difference_section(data: dict) -> list[str]:
    out = ["<h2>Per-query differences against the baseline</h2>"]
    if not data["baseline"]["pipeline"]:
        out.append("<p class=note>No baseline: set [stats] baseline in the suite (or harness leaderboard "
                   "--baseline NAME) to see them.</p>")
        return out
    if not data["differences"]:
        out.append("<p class=note>No per-query differences: the baseline has no per-query values here.</p>")
    for g, group in enumerate(data["differences"]):
        out.append(f"<h3>{escape(group['dataset'])} ({escape(group['device'])}): {escape(group['metric'])}, "
                   f"each pipeline minus {escape(group['baseline'])}, one bar per query</h3>")
        figures = []
        for k, s in enumerate(group["systems"]):
            caption = (f"{s['better']} queries better, {s['worse']} worse, {s['tied']} tied; mean difference "
                       f"{s['mean']:+.4f}")
            figures.append(f'<figure data-plot="differences"><div id="diff-{g}-{k}"></div>'
                           f"<figcaption>{escape(caption)}</figcaption></figure>")
        out.append('<div class="plots">' + "".join(figures) + "</div>")
    return out
