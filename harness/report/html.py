"""``report.html``: the nightly report as one self-contained page (the leaderboard's page frame).

The verdict first (regressions, then improvements), then the full comparison of the latest run
with its reference, then the trends: per dataset, one plot of a metric (choose which) and one
per cost figure, a line per pipeline over the runs, regressed pipelines ringed at the latest run.
"""

from __future__ import annotations

from html import escape

from ..leaderboard.page import bullets, cell, number, page, table, text_cell
from ..leaderboard.render import CORRECTED

CAPTIONS = {"p50 ms": "error bars: the bootstrap interval of the percentile",
            "p95 ms": "error bars: the bootstrap interval of the percentile",
            "QPS": "error bars: the slowest to the fastest batch",
            "peak MiB": "one peak per run: no error bars"}

DRAW = r"""
function draw(data) {
  document.querySelectorAll("figure[data-plot=trend]").forEach(fig => {
    const host = fig.querySelector(".canvas"), select = fig.querySelector("select");
    const render = () => { host.replaceChildren();
      trend(host, data, fig.dataset.dataset, fig.dataset.device, select ? select.value : fig.dataset.quantity); };
    if (select) select.addEventListener("change", render);
    render();
  });
}
function trend(host, data, dataset, device, quantity) {
  const t = data.trends.find(t => t.dataset === dataset && t.device === device && t.quantity === quantity);
  const runs = data.runs.map(r => r.run_id), last = runs.length - 1;
  const series = t.series.map(s => ({name: s.pipeline + (s.regressed ? " ▼" : ""), line: true,
    points: s.values.map((v, i) => v === null ? null : {x: i, y: v, ylo: s.low[i], yhi: s.high[i],
      ring: s.regressed && i === last, label: `${s.pipeline}, run ${runs[i]}: ${H.fmt(v)}`}).filter(p => p)}));
  const better = t.kind === "cost" ? (t.lower_is_better ? "lower is better" : "higher is better") : "higher is better";
  H.chart(host, {title: `${dataset}: ${quantity} (${better})`, ylabel: quantity, xcats: runs, series,
                 width: 600, height: 330, right: 150, legendOutside: true});
}
"""


def render_report_html(report: dict) -> str:
    title = f"{report['suite']}: report over {len(report['runs'])} run(s)"
    status = {"regressed": '<span class="badge bad">regressed</span>', "ok": '<span class="badge good">ok</span>',
              "no reference": '<span class="badge">nothing to compare</span>'}[report["status"]]
    meta = [f"status {status}", f"results folder {escape(report['results_dir'])}",
            f"latest run {escape(report['latest'])}; reference "
            + (f"{escape(report['reference'])} ({'pinned' if report['reference_pinned'] else 'the previous run'})"
               if report["reference"] else "none")]
    parts = [f"<h1>{escape(title)}</h1>", bullets(meta)]
    comparison = report["comparison"]
    if comparison:
        s = comparison["settings"]
        parts.append(bullets([escape(
            f"quality: paired {'t-test' if s['stats']['test'] == 't' else 'permutation test'} on per-query values, "
            f"two-sided, {CORRECTED[s['stats']['correction']]} over every comparison, alpha {s['stats']['alpha']}; "
            f"latency and QPS: Mann-Whitney U over per-repetition values (p < {s['cost_alpha']}) or, with too few "
            f"repetitions, non-overlapping intervals, and a change of at least {s['threshold']:.0%}; memory: a "
            f"change of at least {s['threshold']:.0%}")], "note"))
        parts += [f"<h2>Regressions ({len(report['regressions'])})</h2>",
                  _rows_table(report["regressions"], "regressions")]
        if report["improvements"]:
            parts += [f"<h2>Improvements ({len(report['improvements'])})</h2>",
                      _rows_table(report["improvements"], "improvements")]
        parts += ["<h2>Latest run against the reference</h2>", _rows_table(comparison["quality"], "quality"),
                  _rows_table(comparison["cost"], "cost")]
    if report["notes"]:
        parts += ["<h2>Notes</h2>", bullets([escape(n) for n in report["notes"]], "note")]
    parts += ["<h2>Trends</h2>", _trend_figures(report)]
    return page(title, "\n".join(parts), report, DRAW)


def _rows_table(rows: list[dict], ident: str) -> str:
    if not rows:
        return "<p class=note>None.</p>"
    headers = [("dataset", "text"), ("pipeline", "text"), ("device", "text"), ("metric / figure", "text"),
               ("reference", ""), ("latest", ""), ("change", ""), ("p", ""), ("verdict", "text"), ("how", "text")]
    out = []
    for r in rows:
        quality = "metric" in r
        digits = 4 if quality else 3
        if quality:
            change = number(r.get("difference"), 4)
            sort = r.get("difference")
        else:
            change = "-" if r.get("change") is None else f"{r['change']:+.1%}"
            sort = r.get("change")
        p = r.get("p_adjusted") if quality else r.get("p_value")
        how = r.get("reason") or ("" if quality else r.get("method")) or ""
        how += f"; machine busy ({r['busy']})" if r.get("busy") else ""
        verdict = {"regressed": "bad", "improved": "good"}.get(r["verdict"], "")
        cells = [text_cell(r["dataset"]), text_cell(r["pipeline"]), text_cell(r["device"]),
                 text_cell(r.get("metric") or r.get("figure")), cell(number(r["old"], digits), r["old"]),
                 cell(number(r["new"], digits), r["new"]), cell(change, sort),
                 cell("-" if p is None else f"{p:.3g}", p),
                 cell(f'<span class="badge {verdict}">{escape(r["verdict"])}</span>', None, "text"), text_cell(how)]
        out.append((cells, ""))
    return '<div class="wrap">' + table(headers, out, ident) + "</div>"


def _trend_figures(report: dict) -> str:
    if len(report["runs"]) < 1 or not report["trends"]:
        return "<p class=note>No values to plot.</p>"
    out = []
    places = list(dict.fromkeys((t["dataset"], t["device"]) for t in report["trends"]))
    for dataset, device in places:
        mine = [t for t in report["trends"] if (t["dataset"], t["device"]) == (dataset, device)]
        figures = []
        metrics = [t["quantity"] for t in mine if t["kind"] == "metric"]
        if metrics:
            options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in metrics)
            figures.append(f'<figure data-plot="trend" data-dataset="{escape(dataset)}" data-device="{escape(device)}">'
                           f'<div class="canvas"></div><figcaption>metric: <select>{options}</select> '
                           "(error bars: the leaderboard's bootstrap interval, where computed)</figcaption></figure>")
        for t in mine:
            if t["kind"] == "cost":
                figures.append(f'<figure data-plot="trend" data-dataset="{escape(dataset)}" '
                               f'data-device="{escape(device)}" data-quantity="{escape(t["quantity"])}">'
                               f'<div class="canvas"></div><figcaption>{CAPTIONS[t["quantity"]]}</figcaption></figure>')
        out.append(f"<h3>{escape(dataset)} ({escape(device)})</h3><div class=\"plots\">{''.join(figures)}</div>")
    return "\n".join(out)
