"""``harness report RESULTS_DIR`` on a folder of suites (``results/``): every suite's report and
``index.html`` over them.

A suite folder is a folder holding run folders; the results folder holds suite folders (and
hidden ones such as ``.cache``, left alone). Each suite's ``report.json`` and ``report.html`` are
written as ``harness report`` writes them for that suite alone (into the suite's folder, or
``OUT/<suite>/``), then ``index.html`` (and ``index.json``) into the results folder (or ``OUT``): a
row per suite with its status, its runs, its latest run's leaderboard and the regressions of its
history, linking its ``report.html``.
"""

from __future__ import annotations

import json
import os
import time
from html import escape
from pathlib import Path
from urllib.parse import quote

from ..errors import HarnessError, NotFoundError, ResultsError
from ..leaderboard.page import bullets, cell, page, table, text_cell
from ..results import run_dirs

SCHEMA = "harness.report-index/1"
STATUS = {"regressed": '<span class="badge bad">regressed</span>', "ok": '<span class="badge good">ok</span>',
          "no reference": '<span class="badge">nothing to compare</span>',
          "no finished run": '<span class="badge">no finished run</span>',
          "error": '<span class="badge bad">error</span>'}


def suite_folders(results_dir: str | Path) -> list[Path]:
    """The suite folders of a results folder, by name: its folders that hold run folders. Empty
    for a suite's own folder (its folders are runs), or a folder of neither."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir() or run_dirs(results_dir):
        return []
    return sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and run_dirs(p))


def write_reports(results_dir: str | Path, out_dir: str | Path | None = None,
                  **options) -> tuple[list[dict], list[Path]]:
    """Every suite's report and the index over them; ``options`` as ``build_report``. Returns
    (one entry per suite: ``suite``, ``folder``, ``report`` (None when it could not be made),
    ``written``, ``error``; the index's paths). A suite with no finished run yet is listed as such;
    a suite whose report failed otherwise (a damaged run, a pinned reference it does not hold) is
    listed with the error, and ``ResultsError`` naming them all is raised once everything else is
    written."""
    from . import write_report

    results_dir = Path(results_dir)
    out = Path(out_dir or results_dir)
    entries, failed = [], []
    for folder in suite_folders(results_dir):
        entry = {"suite": folder.name, "folder": folder, "report": None, "written": [], "error": None}
        try:
            entry["report"], entry["written"] = write_report(folder, out / folder.name if out_dir else None, **options)
        except NotFoundError as exc:
            entry["error"] = str(exc)
            if options.get("reference") is not None:
                failed.append(entry)
        except HarnessError as exc:
            entry["error"] = str(exc)
            failed.append(entry)
        entries.append(entry)
    index = index_data(results_dir, out, entries)
    from ..results import write_atomic

    paths = [out / "index.json", out / "index.html"]
    write_atomic(paths[0], json.dumps(index, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    write_atomic(paths[1], render_index_html(index))
    if failed:
        raise ResultsError(f"{len(failed)} suite(s) of {results_dir} could not be reported (the others were, and "
                           f"{paths[1]}): " + "; ".join(f"{e['suite']}: {e['error']}" for e in failed))
    return entries, paths


def index_data(results_dir: Path, out: Path, entries: list[dict]) -> dict:
    """``index.json``: a row per suite, links relative to ``out``."""
    rows = []
    for e in entries:
        report = e["report"]
        row = {"suite": e["suite"], "report": None, "status": "error", "runs": 0, "first": None, "latest": None,
               "latest_started": None, "leaderboard": None, "regressions": 0, "past_regressions": 0, "changes": 0,
               "error": e["error"]}
        if report is not None:
            where = e["written"][1].parent
            prefix = Path(os.path.relpath(where.resolve(), out.resolve())).as_posix()
            latest = report["runs"][-1]
            link = latest.get("leaderboard")
            row.update(report=f"{quote(prefix)}/report.html", status=report["status"], runs=len(report["runs"]),
                       first=report["runs"][0]["run_id"], latest=report["latest"], latest_started=latest.get("started"),
                       leaderboard=f"{quote(prefix)}/{link}" if link else None,
                       regressions=len(report["regressions"]), past_regressions=len(report["past_regressions"]),
                       changes=sum(len(r["changes"]) for r in report["runs"]))
        elif e["error"] and "no finished harness run" in e["error"]:
            row["status"] = "no finished run"
        rows.append(row)
    return {"schema": SCHEMA, "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "results_dir": str(results_dir), "suites": rows}


def render_index_html(index: dict) -> str:
    title = f"Reports: {len(index['suites'])} suite(s)"
    headers = [("suite", "text"), ("status", "text"), ("runs", ""), ("first run", "text"), ("latest run", "text"),
               ("regressions (latest)", ""), ("regressions (history)", ""), ("hardware / harness changes", ""),
               ("note", "text")]
    rows = []
    for r in index["suites"]:
        name = (f'<a href="{escape(r["report"])}">{escape(r["suite"])}</a>' if r["report"] else escape(r["suite"]))
        latest = escape(r["latest"] or "-")
        if r["leaderboard"]:
            latest = f'<a href="{escape(r["leaderboard"])}">{latest}</a>'
        cells = [cell(name, r["suite"], "text"), cell(STATUS[r["status"]], r["status"], "text"),
                 cell(str(r["runs"]), r["runs"]),
                 text_cell(r["first"] or "-"), cell(latest, r["latest"], "text"),
                 cell(str(r["regressions"]), r["regressions"]), cell(str(r["past_regressions"]), r["past_regressions"]),
                 cell(str(r["changes"]), r["changes"]), text_cell(r["error"] or "")]
        rows.append((cells, "failed" if r["status"] == "error" else ""))
    body = [f"<h1>{escape(title)}</h1>",
            bullets([f"results folder {escape(index['results_dir'])}", f"generated {escape(index['generated'])}"]),
            bullets(["Each suite's report.html: trends over its runs, every regression flagged night by night, "
                     "hardware and harness changes; each run's leaderboard one click further."], "note"),
            '<div class="wrap">' + table(headers, rows, "suites") + "</div>" if rows
            else "<p class=note>No suite folders (folders of run folders) found.</p>"]
    return page(title, "\n".join(body), index, "function draw(data) {}")
