"""The JavaScript every HTML page embeds: error capture, sortable tables and a small SVG plotter.

Written here rather than fetched from a CDN so that a page opens offline, from a CI artifact or
an e-mail attachment, exactly as it was rendered. The plotter draws what the pages need and no
more: points with error bars, lines (optionally as steps), categorical or log axes, bars.

Pages signal what happened for tests and people alike: a ``<pre id="errors">`` shows any script
error (and ``body[data-errors]`` counts them), each drawn plot gets ``data-drawn`` (the number of
marks it drew), and ``body[data-ready]`` is set once every plot ran.
"""

SCRIPT = r"""
"use strict";
const H = {SVG: "http://www.w3.org/2000/svg", errors: 0,
  palette: ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22"]};
H.fail = function (message) {
  const box = document.getElementById("errors");
  H.errors += 1;
  document.body.setAttribute("data-errors", String(H.errors));
  if (box) { box.hidden = false; box.textContent += message + "\n"; }
};
window.addEventListener("error", e => H.fail("error: " + e.message + " (line " + e.lineno + ")"));
window.addEventListener("unhandledrejection", e => H.fail("unhandled: " + e.reason));

H.el = function (tag, attrs, parent, text) {
  const node = document.createElementNS(H.SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
};
H.fmt = function (v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};
// Nice tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten (log: powers of ten).
H.ticks = function (lo, hi, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(Math.pow(10, e));
    return out.filter(t => t >= lo * 0.999 && t <= hi * 1.001);
  }
  const raw = (hi - lo) / 5 || 1, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
};
// A tick's label with as many decimals as the step between ticks needs (0.9, 0.95, 1 -> 0.90, 0.95, 1.00).
H.tickfmt = function (t, ticks, log) {
  if (log || ticks.length < 2) return H.fmt(t);
  const step = Math.abs(ticks[1] - ticks[0]), digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step))));
  return Math.abs(t) >= 1e5 ? t.toExponential(1) : t.toFixed(digits);
};
H.extent = function (values, log) {
  let v = values.filter(x => x !== null && x !== undefined && Number.isFinite(x) && (!log || x > 0));
  if (!v.length) v = [log ? 1 : 0];
  let lo = Math.min(...v), hi = Math.max(...v);
  if (log) return [lo / 1.25, hi * 1.25];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  return [lo - pad, hi + pad];
};
H.scale = function (d, r, log) {
  const f = log ? Math.log10 : (x => x), a = f(d[0]), b = f(d[1]);
  return x => r[0] + (f(x) - a) / ((b - a) || 1) * (r[1] - r[0]);
};

// spec: {title, xlabel, ylabel, xlog, xcats: [labels] (categorical x: point x = index),
//        right (margin), legendOutside (legend in the right margin),
//        series: [{name, color, line, step, dash, markers, legend,
//                  points: [{x, y, xlo, xhi, ylo, yhi, label, text, ring}]}]}
H.chart = function (host, spec) {
  const W = spec.width || 560, Ht = spec.height || 340;
  const m = {l: 64, r: spec.right || 16, t: 28, b: spec.xcats ? 92 : 44};
  const svg = H.el("svg", {viewBox: `0 0 ${W} ${Ht}`, width: W, height: Ht, role: "img"}, host);
  H.el("text", {x: m.l, y: 16, class: "title"}, svg, spec.title || "");
  const pts = spec.series.flatMap(s => s.points);
  const xs = spec.xcats ? [-0.5, spec.xcats.length - 0.5]
    : H.extent(pts.flatMap(p => [p.x, p.xlo, p.xhi]), spec.xlog);
  const ys = H.extent(pts.flatMap(p => [p.y, p.ylo, p.yhi]), false);
  const X = H.scale(xs, [m.l, W - m.r], spec.xlog && !spec.xcats), Y = H.scale(ys, [Ht - m.b, m.t], false);
  const axis = H.el("g", {class: "axis"}, svg);
  const yt = H.ticks(ys[0], ys[1], false);
  for (const t of yt) {
    H.el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid"}, axis);
    H.el("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, axis, H.tickfmt(t, yt, false));
  }
  const xt = spec.xcats ? spec.xcats.map((_, i) => i) : H.ticks(xs[0], xs[1], spec.xlog);
  for (const t of xt) {
    H.el("line", {x1: X(t), x2: X(t), y1: m.t, y2: Ht - m.b, class: "grid"}, axis);
    const label = spec.xcats ? spec.xcats[t] : H.tickfmt(t, xt, spec.xlog);
    const attrs = spec.xcats ? {transform: `translate(${X(t) + 4},${Ht - m.b + 8}) rotate(40)`}
      : {x: X(t), y: Ht - m.b + 16, "text-anchor": "middle"};
    H.el("text", attrs, axis, label);
  }
  H.el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: Ht - m.t - m.b, class: "frame"}, axis);
  H.el("text", {x: (m.l + W - m.r) / 2, y: Ht - 4, "text-anchor": "middle", class: "label"}, axis,
    (spec.xlabel || "") + (spec.xlog && !spec.xcats ? " (log scale)" : ""));
  H.el("text", {transform: `translate(14,${(m.t + Ht - m.b) / 2}) rotate(-90)`, "text-anchor": "middle",
    class: "label"}, axis, spec.ylabel || "");
  let drawn = 0;
  spec.series.forEach((s, k) => {
    const color = s.color || H.palette[k % H.palette.length], g = H.el("g", {class: "series"}, svg);
    const sorted = s.line ? [...s.points].sort((a, b) => a.x - b.x) : [];
    if (sorted.length > 1) {
      let d = "";
      sorted.forEach((p, i) => {
        if (i && s.step) d += `H${X(p.x)}V${Y(p.y)}`; else d += `${i ? "L" : "M"}${X(p.x)},${Y(p.y)}`;
      });
      H.el("path", {d, fill: "none", stroke: color, "stroke-width": 1.5, "stroke-dasharray": s.dash || ""}, g);
    }
    for (const p of s.points) {
      if (p.xlo != null && p.xhi != null) H.el("line", {x1: X(p.xlo), x2: X(p.xhi), y1: Y(p.y), y2: Y(p.y),
        stroke: color, class: "bar"}, g);
      if (p.ylo != null && p.yhi != null) H.el("line", {x1: X(p.x), x2: X(p.x), y1: Y(p.ylo), y2: Y(p.yhi),
        stroke: color, class: "bar"}, g);
      if (s.markers === false) continue;
      const c = H.el("circle", {cx: X(p.x), cy: Y(p.y), r: p.ring ? 6 : 4, fill: p.ring ? "white" : color,
        stroke: color, "stroke-width": p.ring ? 3 : 1, class: "mark"}, g);
      H.el("title", {}, c, p.label || `${s.name}: ${H.fmt(p.x)}, ${H.fmt(p.y)}`);
      if (p.text) H.el("text", {x: X(p.x) + 7, y: Y(p.y) - 6, class: "pointlabel"}, g, p.text);
      drawn += 1;
    }
  });
  H.legend(svg, spec.series.filter(s => s.name && s.legend !== false), spec.legendOutside ? W - 4 : W - m.r - 8,
    m.t + 6);
  host.setAttribute("data-drawn", String(drawn));
  return drawn;
};
H.legend = function (svg, series, right, top) {
  const g = H.el("g", {class: "legend"}, svg);
  series.forEach((s, k) => {
    const y = top + 14 * k, color = s.color || H.palette[k % H.palette.length];
    H.el("text", {x: right - 14, y: y + 4, "text-anchor": "end"}, g, s.name);
    if (s.markers === false) H.el("line", {x1: right - 12, x2: right, y1: y, y2: y, stroke: color,
      "stroke-dasharray": s.dash || "", "stroke-width": 1.5}, g);
    else H.el("circle", {cx: right - 5, cy: y, r: 4, fill: color}, g);
  });
};
// spec: {title, ylabel, values: [number], labels: [string]}: one bar per value, from zero.
H.bars = function (host, spec) {
  const W = spec.width || 380, Ht = spec.height || 200, m = {l: 52, r: 8, t: 24, b: 22};
  const svg = H.el("svg", {viewBox: `0 0 ${W} ${Ht}`, width: W, height: Ht, role: "img"}, host);
  H.el("text", {x: m.l, y: 15, class: "title"}, svg, spec.title || "");
  const lim = (Math.max(0, ...spec.values.map(Math.abs)) || 0.1) * 1.1;  // all ties: a readable empty axis
  const Y = H.scale([-lim, lim], [Ht - m.b, m.t], false), n = spec.values.length || 1;
  const w = (W - m.l - m.r) / n, axis = H.el("g", {class: "axis"}, svg);
  const yt = H.ticks(-lim, lim, false);
  for (const t of yt) {
    H.el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: t === 0 ? "zero" : "grid"}, axis);
    H.el("text", {x: m.l - 5, y: Y(t) + 4, "text-anchor": "end"}, axis, H.tickfmt(t, yt, false));
  }
  H.el("text", {x: (m.l + W - m.r) / 2, y: Ht - 6, "text-anchor": "middle", class: "label"}, axis,
    spec.xlabel || "queries, largest gain first");
  let drawn = 0;
  spec.values.forEach((v, i) => {
    const y0 = Y(0), y1 = Y(v);
    const r = H.el("rect", {x: m.l + i * w, y: Math.min(y0, y1), width: Math.max(w - (w > 3 ? 1 : 0), 0.5),
      height: Math.max(Math.abs(y1 - y0), v === 0 ? 0 : 0.5), class: v > 0 ? "gain" : "loss"}, svg);
    H.el("title", {}, r, `${spec.labels[i]}: ${v > 0 ? "+" : ""}${H.fmt(v)}`);
    drawn += 1;
  });
  host.setAttribute("data-drawn", String(drawn));
  return drawn;
};
// Click a header to sort by its column (cells' data-v: numbers sort as numbers, blanks last).
H.sortable = function (table) {
  table.querySelectorAll("th").forEach((th, col) => {
    th.addEventListener("click", () => {
      const body = table.tBodies[0], rows = [...body.rows], down = th.getAttribute("data-order") !== "desc";
      table.querySelectorAll("th").forEach(h => h.removeAttribute("data-order"));
      th.setAttribute("data-order", down ? "desc" : "asc");
      const key = r => { const c = r.cells[col]; const v = c ? (c.getAttribute("data-v") ?? c.textContent) : "";
        return v === "" || v === "-" ? null : (Number.isNaN(Number(v)) ? v : Number(v)); };
      rows.sort((a, b) => { const x = key(a), y = key(b);
        if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1); });
      rows.forEach(r => body.appendChild(r));
    });
  });
};
H.run = function (draw) {
  document.querySelectorAll("table.sortable").forEach(H.sortable);
  const data = JSON.parse(document.getElementById("data").textContent);
  try { draw(data); } catch (e) { H.fail("error: " + e.message); }
  document.body.setAttribute("data-plots", String(document.querySelectorAll("[data-drawn]").length));
  document.body.setAttribute("data-ready", "1");
};
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; }
ul.meta { color: #555; padding-left: 18px; } ul.meta li { margin: 2px 0; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[data-order=desc]::after { content: " ▼"; } th[data-order=asc]::after { content: " ▲"; }
td.text, th.text { text-align: left; }
td .ci { color: #777; font-size: 12px; } .up { color: #1a7f37; } .down { color: #c62828; } .base { color: #555; }
tr.failed td { color: #999; } tr.front td.name { font-weight: 600; }
tr.below-ceiling td, tr.caps td { background: #fff8e1; }
.badge { display: inline-block; background: #e8f0fe; color: #174ea6; border-radius: 3px; padding: 0 4px;
  margin-right: 2px; font-size: 12px; }
.bad { background: #fde7e9; color: #a50e0e; } .good { background: #e6f4ea; color: #137333; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figcaption { color: #555; font-size: 12px; max-width: 560px; }
svg { background: white; } svg text { font-size: 11px; fill: #333; } svg .title { font-weight: 600; font-size: 12px; }
svg .label { fill: #555; } svg .pointlabel { font-size: 10px; fill: #444; }
svg .grid { stroke: #eee; } svg .zero { stroke: #888; } svg .frame { fill: none; stroke: #bbb; }
svg .bar { stroke-width: 1.2; opacity: 0.7; } svg .gain { fill: #2e7d32; } svg .loss { fill: #c62828; }
div.wrap { overflow-x: auto; max-width: 100%; }
pre#errors { background: #fde7e9; color: #a50e0e; padding: 8px; } .note { color: #555; }
"""
