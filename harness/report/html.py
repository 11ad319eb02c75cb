"""``report.html``: the nightly report as one self-contained page (the leaderboard's page frame).

The verdict first (regressions, then improvements), then the full comparison of the latest run
with its reference, then the trends: per dataset, one plot of a metric (choose which) and one
per cost figure, a line per pipeline over the runs on a time axis (the runs' start times), regressed
pipelines ringed at the latest run. As in asv's pages, each point links to its run's leaderboard
(``<run>/leaderboard.html``, relative to the page), a red triangle marks every regression
``harness report`` flagged on the night it ran (``past_regressions``), and dashed lines mark where
the hardware fingerprint (red) or the harness version (grey) changed. Then the history's
regressions and changes as tables. Points, lines and bands stay light enough for a year of nightly
runs (error bars become a band beyond 60 runs).
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
  const axis = timeline(data.runs), flags = {};
  for (const r of data.past_regressions)
    flags[[r.run_id, r.dataset, r.device, r.pipeline, r.metric || r.figure].join("\u0000")] = r;
  document.querySelectorAll("figure[data-plot=trend]").forEach(fig => {
    const host = fig.querySelector(".canvas"), select = fig.querySelector("select");
    const render = () => { host.replaceChildren(); trend(host, data, axis, flags, fig.dataset.dataset,
      fig.dataset.device, select ? select.value : fig.dataset.quantity); };
    if (select) select.addEventListener("change", render);
    render();
  });
}
// Each run's x: its start time (seconds) when every run has one, in order; else its position.
function timeline(runs) {
  const t = runs.map(r => r.time);
  const timed = t.every((v, i) => v !== null && v !== undefined && (i === 0 || v > t[i - 1]));
  const x = timed ? t : runs.map((_, i) => i);
  const lo = x[0], hi = x[x.length - 1], pad = hi > lo ? (hi - lo) * 0.02 : (timed ? 43200 : 1);
  return {timed, x, domain: [lo - pad, hi + pad]};
}
// Date ticks over [lo, hi] (seconds, UTC): hours, days or weeks; months or years for long spans.
function timeTicks(lo, hi) {
  const D = 86400, span = hi - lo, out = [];
  const iso = s => new Date(s * 1000).toISOString();
  const step = [3600, 3 * 3600, 6 * 3600, 12 * 3600, D, 2 * D, 7 * D, 14 * D].find(s => span / s <= 7);
  if (step) {
    for (let t = Math.ceil(lo / step) * step; t <= hi; t += step)
      out.push({v: t, label: step < D ? iso(t).slice(5, 16).replace("T", " ") : iso(t).slice(0, 10)});
    return out;
  }
  const months = [1, 2, 3, 6, 12, 24, 60, 120].find(k => span / (k * 30.44 * D) <= 7) || 240;
  const d = new Date(lo * 1000);
  let m = Math.ceil((d.getUTCFullYear() * 12 + d.getUTCMonth() + 1) / months) * months;
  const first = k => Date.UTC(Math.floor(k / 12), k % 12) / 1000;  // the first day of month k (year * 12 + month)
  for (let t = first(m); t <= hi; m += months, t = first(m))
    out.push({v: t, label: months < 12 ? iso(t).slice(0, 7) : iso(t).slice(0, 4)});
  return out;
}
function when(run) { return run.started ? ` (${String(run.started).replace("T", " ").slice(0, 16)})` : ""; }
function trend(host, data, axis, flags, dataset, device, quantity) {
  const t = data.trends.find(t => t.dataset === dataset && t.device === device && t.quantity === quantity);
  const runs = data.runs, n = runs.length, last = n - 1, W = 700, Ht = 340;
  const m = {l: 64, r: 160, t: 40, b: 48}, many = n > 60;
  const better = t.kind === "cost" ? (t.lower_is_better ? "lower is better" : "higher is better") : "higher is better";
  const svg = H.el("svg", {viewBox: `0 0 ${W} ${Ht}`, width: W, height: Ht, role: "img"}, host);
  H.el("text", {x: m.l, y: 14, class: "title"}, svg, `${dataset}: ${quantity} (${better})`);
  const ys = H.extent(t.series.flatMap(s => [...s.values, ...s.low, ...s.high]), false);
  const X = H.scale(axis.domain, [m.l, W - m.r], false), Y = H.scale(ys, [Ht - m.b, m.t], false);
  const grid = H.el("g", {class: "axis"}, svg), yt = H.ticks(ys[0], ys[1], false);
  for (const v of yt) {
    H.el("line", {x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: "grid"}, grid);
    H.el("text", {x: m.l - 6, y: Y(v) + 4, "text-anchor": "end"}, grid, H.tickfmt(v, yt, false));
  }
  const xt = axis.timed ? timeTicks(...axis.domain)
    : H.ticks(...axis.domain, false).filter(v => Number.isInteger(v) && v >= 0 && v < n)
      .map(v => ({v, label: runs[v].run_id}));
  for (const {v, label} of xt) {
    H.el("line", {x1: X(v), x2: X(v), y1: m.t, y2: Ht - m.b, class: "grid"}, grid);
    H.el("text", {x: X(v), y: Ht - m.b + 16, "text-anchor": "middle"}, grid, label);
  }
  H.el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: Ht - m.t - m.b, class: "frame"}, grid);
  H.el("text", {x: (m.l + W - m.r) / 2, y: Ht - 6, "text-anchor": "middle", class: "label"}, grid,
    axis.timed ? "run start (UTC)" : "run");
  H.el("text", {transform: `translate(14,${(m.t + Ht - m.b) / 2}) rotate(-90)`, "text-anchor": "middle",
    class: "label"}, grid, quantity);
  // What changed between two runs (machine, harness version): a dashed line between them, labelled on top.
  let changes = 0;
  runs.forEach((r, i) => {
    if (!i || !r.changes.length) return;
    const x = (X(axis.x[i - 1]) + X(axis.x[i])) / 2, kinds = r.changes.map(c => c.kind);
    const g = H.el("g", {class: "change " + kinds.join(" ")}, svg);
    H.el("line", {x1: x, x2: x, y1: m.t - 10, y2: Ht - m.b, stroke: kinds.includes("hardware") ? "#c62828" : "#777",
      "stroke-dasharray": "4 3"}, g);
    H.el("text", {x: x + 2, y: m.t - 12, class: "label"}, g,
      kinds.map(k => k === "harness" ? "v" + r.harness : "hw").join(" "));
    H.el("title", {}, g, `before run ${r.run_id}${when(r)}:\n` + r.changes.map(c => c.text).join("\n"));
    changes += 1;
  });
  let drawn = 0, marked = 0, linked = 0;
  t.series.forEach((s, k) => {
    const color = H.palette[k % H.palette.length], g = H.el("g", {class: "series"}, svg);
    let d = "", band = "", gap = true;
    s.values.forEach((v, i) => { if (v === null) { gap = true; return; }
      d += `${gap ? "M" : "L"}${X(axis.x[i]).toFixed(1)},${Y(v).toFixed(1)}`; gap = false; });
    if (d) H.el("path", {d, fill: "none", stroke: color, "stroke-width": many ? 1 : 1.5}, g);
    if (many) {  // intervals as a band: a year of error bars would be a smudge
      let top = [], bottom = [];
      const flush = () => { if (top.length > 1) band += "M" + top.join("L") + "L" + bottom.reverse().join("L") + "Z";
        top = []; bottom = []; };
      s.values.forEach((v, i) => { if (v === null || s.low[i] === null || s.high[i] === null) { flush(); return; }
        top.push(`${X(axis.x[i]).toFixed(1)},${Y(s.high[i]).toFixed(1)}`);
        bottom.push(`${X(axis.x[i]).toFixed(1)},${Y(s.low[i]).toFixed(1)}`); });
      flush();
      if (band) H.el("path", {d: band, fill: color, opacity: 0.15, stroke: "none"}, g);
    }
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x = X(axis.x[i]), y = Y(v), run = runs[i];
      if (!many && s.low[i] !== null && s.high[i] !== null)
        H.el("line", {x1: x, x2: x, y1: Y(s.low[i]), y2: Y(s.high[i]), stroke: color, class: "bar"}, g);
      const ring = s.regressed && i === last;
      const parent = run.leaderboard ? H.el("a", {href: run.leaderboard, class: "run"}, g) : g;
      if (run.leaderboard) linked += 1;
      const c = H.el("circle", {cx: x, cy: y, r: ring ? 6 : many ? 2.5 : 4, fill: ring ? "white" : color, stroke: color,
        "stroke-width": ring ? 3 : 1, class: "mark"}, parent);
      H.el("title", {}, c, `${s.pipeline}, run ${run.run_id}${when(run)}: ${H.fmt(v)}` +
        (run.leaderboard ? "\nclick: the run's leaderboard" : ""));
      drawn += 1;
    });
    for (const i of s.flagged) {  // a red triangle over the point, pointing the way it got worse
      const r = flags[[runs[i].run_id, dataset, device, s.pipeline, quantity].join("\u0000")], v = s.values[i];
      if (!r || v === null) continue;
      const x = X(axis.x[i]), y = Y(v), up = r.new < r.old ? 1 : -1, tip = y - up * 8, base = y - up * 17;
      const mark = H.el("path", {d: `M${x - 5},${base}L${x + 5},${base}L${x},${tip}Z`, class: "regression",
        fill: "#c62828", stroke: "white", "stroke-width": 0.5}, svg);
      const change = r.difference !== undefined ? `${r.difference >= 0 ? "+" : ""}${H.fmt(r.difference)}`
        : `${r.change >= 0 ? "+" : ""}${(100 * r.change).toFixed(1)}%`;
      H.el("title", {}, mark, `regression flagged on run ${r.run_id} against ${r.reference}: ${s.pipeline} ` +
        `${quantity} ${H.fmt(r.old)} → ${H.fmt(r.new)} (${change})`);
      marked += 1;
    }
  });
  H.legend(svg, t.series.map((s, k) => ({name: s.pipeline + (s.regressed ? " ▼" : ""),
    color: H.palette[k % H.palette.length]})), W - 4, m.t + 6);
  host.setAttribute("data-drawn", String(drawn));
  host.setAttribute("data-regressions", String(marked));
  host.setAttribute("data-changes", String(changes));
  host.setAttribute("data-links", String(linked));
}
"""

def render_report_html(report: dict) -> str:
    title = f"{report['suite']}: report over {len(report['runs'])} run(s)"
    status = {"regressed": '<span class="badge bad">regressed</span>', "ok": '<span class="badge good">ok</span>',
              "no reference": '<span class="badge">nothing to compare</span>'}[report["status"]]
    links = {r["run_id"]: r.get("leaderboard") for r in report["runs"]}
    meta = [f"status {status}", f"results folder {escape(report['results_dir'])}",
            f"latest run {_run_link(report['latest'], links)}; reference "
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
    parts += ["<h2>Trends</h2>", bullets([
        "Each point is a run: hover for its value, click for its leaderboard. "
        "▼ (red triangle): a regression <code>harness report</code> flagged on the night of that run, against the "
        "run before it (the same rules); a ringed point: a regression of the latest run against the reference. "
        "Dashed lines: the hardware fingerprint (red, labelled hw) or the harness version (grey) changed between "
        "two runs; cost figures are not compared across hardware."], "note"), _trend_figures(report)]
    past = report.get("past_regressions") or []
    parts += [f"<h2>Regressions in the history ({len(past)})</h2>",
              bullets(["Every regression <code>harness report</code> flagged, night by night: each run against the "
                       "run before it."], "note"),
              _rows_table(past, "history", links)]
    changes = [f"run {_run_link(r['run_id'], links)}: {escape(c['text'])}"
               for r in report["runs"] for c in r["changes"]]
    parts += [f"<h2>Changes of machine or harness version ({len(changes)})</h2>",
              bullets(changes) if changes else "<p class=note>None.</p>"]
    return page(title, "\n".join(parts), report, DRAW)


def _run_link(run_id: str, links: dict) -> str:
    """A run's id, linked to its leaderboard where it has one."""
    link = links.get(run_id)
    return f'<a href="{escape(link)}">{escape(run_id)}</a>' if link else escape(run_id)


def _rows_table(rows: list[dict], ident: str, links: dict | None = None) -> str:
    """Comparison rows; with ``links`` (run id -> leaderboard link), rows of ``past_regressions``:
    the run and its reference first."""
    if not rows:
        return "<p class=note>None.</p>"
    headers = [("dataset", "text"), ("pipeline", "text"), ("device", "text"), ("metric / figure", "text"),
               ("reference", ""), ("latest", ""), ("change", ""), ("p", ""), ("verdict", "text"), ("how", "text")]
    if links is not None:
        headers = [("run", "text"), ("against", "text"), *headers[:4], ("before", ""), ("after", ""), *headers[6:]]
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
        if links is not None:
            cells = [cell(_run_link(r["run_id"], links), r["run_id"], "text"), text_cell(r["reference"]), *cells]
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
                           "(error bars or band: the leaderboard's bootstrap interval, where computed)"
                           "</figcaption></figure>")
        for t in mine:
            if t["kind"] == "cost":
                figures.append(f'<figure data-plot="trend" data-dataset="{escape(dataset)}" '
                               f'data-device="{escape(device)}" data-quantity="{escape(t["quantity"])}">'
                               f'<div class="canvas"></div><figcaption>{CAPTIONS[t["quantity"]]}</figcaption></figure>')
        out.append(f"<h3>{escape(dataset)} ({escape(device)})</h3><div class=\"plots\">{''.join(figures)}</div>")
    return "\n".join(out)
