"""The HTML pages open in headless Chromium: tables and plots render, no script error, no network.

Pages mark what they drew (``data-drawn`` per plot, ``body[data-plots]``, ``body[data-ready]``)
and catch every script error into ``<pre id="errors">`` and ``body[data-errors]``; the dumped
DOM is read back here. Chromium's own log is scanned for console messages too, and a
screenshot must be a real picture. Without Chromium these tests skip, or fail under
``HARNESS_REQUIRE_BROWSER=1`` (``.ci/run`` sets it).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from fakes import registry_with
from runfolders import cell, latency, values, write_run
from test_leaderboard import SUITE as LEADERBOARD_SUITE
from test_report import noisy_history

from harness.leaderboard import write_leaderboard
from harness.leaderboard.page import page
from harness.report import write_report
from harness.runner import run_suite
from harness.suite import load_suite

# The leaderboard tests' suite (two datasets, a failing pipeline), with statistics and cost.
SUITE = LEADERBOARD_SUITE.replace('name = "lb"', 'name = "html"') + """
[stats]
baseline = "bm25"
bootstrap_samples = 500

[measure]
latency = ["single-stream", "offline"]
memory = true
isolation = "none"
warmup = 1
repetitions = 3
min_duration = 0
bootstrap_samples = 50
"""


class Dom(HTMLParser):
    """Elements' attributes by id and tag, and the text of ``#errors``."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.errors, self._in_errors = "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        self._in_errors = attrs.get("id") == "errors"

    def handle_endtag(self, tag):
        self._in_errors = False

    def handle_data(self, data):
        if self._in_errors:
            self.errors += data

    def find(self, tag, **attrs) -> list[dict]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def with_attr(self, name: str) -> list[dict]:
        return [a for _, a in self.elements if name in a]


def rendered(browser, path: Path) -> Dom:
    """The page's DOM after its scripts ran, checked for errors of every kind."""
    text, log = browser.dump_dom(path)
    dom = Dom(text)
    body = dom.find("body")[0]
    assert "data-errors" not in body and dom.errors == "", dom.errors
    assert body.get("data-ready") == "1"
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    return dom


def png_size_and_colours(path: Path) -> tuple[tuple[int, int], int]:
    """(width, height) and the number of distinct byte values of the image data: a blank page has
    a handful, a page with tables and plots hundreds."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, k = [], 8
    while k < len(data):
        length, kind = struct.unpack(">I4s", data[k:k + 8])
        if kind == b"IDAT":
            chunks.append(data[k + 8:k + 8 + length])
        k += 12 + length
    return (width, height), len(set(zlib.decompress(b"".join(chunks))))


def no_network_references(html: str) -> None:
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert "@import" not in html and "<link" not in html


def test_leaderboard_page_renders(browser, write_suite, tmp_path):
    registry = registry_with()
    suite = load_suite(write_suite(SUITE), registry=registry)
    outcome = run_suite(suite, results_dir=tmp_path / "results", registry=registry)
    path = outcome.run_dir / "leaderboard.html"
    no_network_references(path.read_text())
    dom = rendered(browser, path)
    # 2 scatter plots (one per dataset) + per dataset 2 difference plots (overlap, reranked vs bm25)
    assert dom.find("body")[0]["data-plots"] == "6"
    drawn = [(a.get("id") or a.get("class"), int(a["data-drawn"])) for a in dom.with_attr("data-drawn")]
    assert len(drawn) == 6 and all(n > 0 for _, n in drawn), drawn
    assert [n for name, n in drawn if name == "canvas"] == [3, 3]  # a point per pipeline that finished
    assert dict(drawn)["diff-0-0"] == 5  # one bar per query
    # the leaderboard: a header and 8 cells; the mean across datasets: a header and 3 pipelines (bad
    # failed); a Stages table per dataset for the two-stage `reranked`: a header and its 2 stages
    assert len(dom.find("table", id="leaderboard")) == 1 and len(dom.find("tr")) == 1 + 8 + 1 + 3 + 2 * (1 + 2)
    assert len(dom.find("svg")) == 6 and len(dom.find("circle")) >= 2 * 3
    shot = tmp_path / "leaderboard.png"
    log = browser.screenshot(path, shot)
    assert "Uncaught" not in log
    size, colours = png_size_and_colours(shot)
    assert size == (1400, 2400) and colours > 100


def test_report_page_renders(browser, tmp_path):
    folder = noisy_history(tmp_path, slower=1.5)
    report, (_, html_path) = write_report(folder)
    assert report["status"] == "regressed"
    no_network_references(html_path.read_text())
    dom = rendered(browser, html_path)
    # one dataset: a metric trend plus one per cost figure (p50, p95, QPS, peak MiB)
    assert dom.find("body")[0]["data-plots"] == "5"
    assert all(int(a["data-drawn"]) == 4 for a in dom.with_attr("data-drawn"))  # 4 runs, one pipeline
    assert dom.find("table", id="regressions") and dom.find("table", id="cost")
    shot = tmp_path / "report.png"
    browser.screenshot(html_path, shot, (1400, 2000))
    assert png_size_and_colours(shot)[1] > 100


def test_script_errors_are_caught(browser, tmp_path):
    """The checks above would see a broken page: an error thrown while drawing is reported."""
    path = tmp_path / "broken.html"
    path.write_text(page("broken", "<p>x</p>", {"a": 1}, "function draw(data) { data.missing.field = 1; }"))
    text, _ = browser.dump_dom(path)
    dom = Dom(text)
    assert dom.find("body")[0].get("data-errors") == "1" and "Cannot set properties of undefined" in dom.errors


def test_leaderboard_without_cost_or_baseline_still_renders(browser, tmp_path):
    cells = [cell("d", name, {"nDCG@10": values(np.linspace(0.1, 0.9, 8), shift, 0.05, seed)})
             for seed, (name, shift) in enumerate((("x", 0.0), ("y", 0.1)))]
    run_dir = write_run(tmp_path, "r", cells)
    write_leaderboard(run_dir)
    html = (run_dir / "leaderboard.html").read_text()
    assert "No baseline: set [stats] baseline" in html and "no front: no latency" in html
    dom = rendered(browser, run_dir / "leaderboard.html")
    assert dom.find("body")[0]["data-plots"] == "0" and dom.find("table", id="leaderboard")


# -- names that are HTML ---------------------------------------------------------------------------

HOSTILE = ("<!--<script>", "x</script><script>document.body.dataset.pwned = 1</script>", "a&amp;b>c")


def hostile_runs(root: Path) -> Path:
    """Two runs of a suite whose pipelines are named like HTML (cell files get plain names)."""
    base = np.linspace(0.2, 0.8, 12)
    for night in range(2):
        cells = [cell("d", name, {"nDCG@10": values(base, 0.05 * i, 0.02, seed=i + night)},
                      cost=latency([1.0 + i, 1.1 + i, 1.2 + i]), memory_mib=100.0 + i)
                 for i, name in enumerate(("bm25", *HOSTILE))]
        for i, c in enumerate(cells):
            c["cell"]["slug"] = f"d__p{i}__cpu"
        write_run(root, f"2026010{night + 1}", cells, suite="hostile", stats={"baseline": "bm25",
                                                                             "bootstrap_samples": 200})
    return root / "hostile"


def embedded(html: str) -> str:
    """The text of the page's ``<script type="application/json" id="data">`` element."""
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert match, "no data element"
    return match.group(1)


def hostile_pages(tmp_path: Path) -> list[tuple[Path, dict]]:
    """(leaderboard.html, its data) and (report.html, its data) of ``hostile_runs``."""
    folder = hostile_runs(tmp_path)
    latest = folder / "20260102"
    write_leaderboard(latest)
    data = json.loads((latest / "leaderboard.json").read_text())
    assert {r["pipeline"] for r in data["rows"]} >= set(HOSTILE)
    report, (_, report_html) = write_report(folder)
    return [(latest / "leaderboard.html", data), (report_html, report)]


def test_names_that_are_html_leave_the_pages_whole(tmp_path):
    """A pipeline named ``<!--<script>`` once made the HTML parser read past the data element's end
    (no data, no sorting, no plots). The embedded JSON carries no ``<``, ``>`` or ``&``: it reads
    back equal to the data, and each script element ends where it should."""
    for path, expected in hostile_pages(tmp_path):
        html = path.read_text()
        payload = embedded(html)
        assert not set("<>&") & set(payload), path
        assert json.loads(payload) == json.loads(json.dumps(expected))
        assert html.count("<script") == 2 and html.count("</script>") == 2, path  # the data and the code
        outside = html.replace(payload, "")
        assert not any(name in outside for name in HOSTILE)  # tables show names escaped, as text


def test_names_that_are_html_in_the_browser(browser, tmp_path):
    """The same pages in Chromium: the scripts ran to the end (data read, plots drawn, no error),
    and no name ran as code."""
    for path, _ in hostile_pages(tmp_path):
        dom = rendered(browser, path)
        body = dom.find("body")[0]
        assert int(body["data-plots"]) > 0 and "data-pwned" not in body, path


def test_recall_against_throughput_chart_renders(browser, tmp_path):
    from test_leaderboard_pareto import ann_run

    run_dir = ann_run(tmp_path)
    write_leaderboard(run_dir)
    dom = rendered(browser, run_dir / "leaderboard.html")
    figures = {a["data-fronts"]: a for a in dom.find("figure", **{"data-plot": "scatter"})}
    assert set(figures) == {"pareto", "recall"}
    drawn = [int(a["data-drawn"]) for a in dom.with_attr("data-drawn") if a.get("class") == "canvas"]
    assert drawn == [4, 4]  # a point per pipeline in both the quality and the recall scatter
