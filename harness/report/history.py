"""A suite's run history as a nightly report: trends per pipeline and regressions of the latest run.

The history is every finished run in a suite's results folder, oldest first (unfinished runs are
left out, and said so). The latest run is compared with a reference: the run before it, or one
pinned by id (``--reference``), by the rules of rules.py. Every earlier night is compared with the
night before it by the same rules (``compare_loaded``), so the history shows every regression
``harness report`` would have flagged when that night ran (``past_regressions``), and each run
says what changed from the run before it that makes cost incomparable or explains a step (its
hardware fingerprint, the harness version). ``report.json`` is this dict.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from ..cellresult import CellId, fail
from ..errors import NotFoundError, ResultsError
from ..leaderboard.analysis import run_settings
from ..measure.hardware import describe
from ..results import MANIFEST, load_run, read_run_json, run_dirs
from .compare import compare_loaded
from .rules import FIGURES, LOWER_IS_BETTER, Rules, figure_value, interval

SCHEMA = "harness.report/1"
LEADERBOARD = "leaderboard.json"


def build_report(results_dir: str | Path, *, reference: str | None = None, threshold: float = 0.05,
                 cost_alpha: float = 0.01, mixed_hardware: bool = False) -> dict:
    """The report of ``results_dir`` (a suite's folder of runs); FileNotFoundError when it holds no
    finished run or the pinned reference is not one of them."""
    results_dir = Path(results_dir)
    notes: list[str] = []
    history = []
    runs = run_dirs(results_dir)
    for path in sorted(set(_folders(results_dir)) - set(runs)):  # a run folder whose run.json is gone
        notes.append(f"{path} is not a run folder (no {MANIFEST}): left out")
    for path in runs:
        manifest, cells = load_run(path)  # ResultsError naming a damaged file
        if manifest.get("status") == "finished":
            history.append((path, manifest, cells))
        else:
            notes.append(f"run {path.name} is unfinished ({manifest.get('status')}): left out")
    if not history:
        raise NotFoundError(f"{results_dir} holds no finished harness run (a suite's results folder, "
                                "e.g. results/<suite>, is expected)")
    latest = history[-1]
    ref = _reference(history, reference)
    comparison = None
    if ref is not None:
        stats = run_settings(latest[1], latest[2], notes)
        comparison = compare_loaded(ref, latest, Rules(stats, threshold, cost_alpha, mixed_hardware))
    rows = (comparison["quality"] + comparison["cost"]) if comparison else []
    regressions = [r for r in rows if r["verdict"] == "regressed"]
    past = past_regressions(history, threshold, cost_alpha, mixed_hardware,
                            comparison if ref is not None and ref is history[-2] else None)
    trend = trends(history, regressions, notes, past)
    return {
        "schema": SCHEMA,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "suite": latest[1].get("suite"),
        "results_dir": str(results_dir),
        "runs": _runs(history),
        "latest": latest[0].name,
        "reference": ref[0].name if ref else None,
        "reference_pinned": reference is not None,
        "status": "regressed" if regressions else "ok" if comparison else "no reference",
        "regressions": regressions,
        "improvements": [r for r in rows if r["verdict"] == "improved"],
        "comparison": comparison,
        "past_regressions": past,
        "trends": trend,
        "notes": notes + (comparison["notes"] if comparison else []),
    }


def _folders(results_dir: Path) -> list[Path]:
    """The folders of a suite's results folder (it holds run folders only), hidden ones aside."""
    try:
        return [p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def _reference(history: list[tuple], pinned: str | None):
    if pinned is None:
        return history[-2] if len(history) > 1 else None
    for entry in history:
        if entry[0].name == pinned:
            return None if entry is history[-1] else entry
    names = ", ".join(path.name for path, _, _ in history)
    raise NotFoundError(f"no finished run {pinned!r} to use as the reference (finished runs: {names})")


def _runs(history: list[tuple]) -> list[dict]:
    """Each run: id, times (``time``: the start in seconds since the epoch, None when unreadable),
    harness version, git commit, hardware fingerprint, its leaderboard page (a link relative to the
    results folder, None when the run has none) and what changed from the run before it."""
    out, previous = [], None
    for path, manifest, _ in history:
        env = manifest.get("environment") or {}
        hardware = manifest.get("hardware") or {}
        changes = []
        if previous is not None:
            before = previous.get("hardware") or {}
            if before.get("hash") != hardware.get("hash"):
                changes.append({"kind": "hardware", "text": f"hardware: {describe(before)} → {describe(hardware)}"})
            if previous.get("harness") != manifest.get("harness"):
                changes.append({"kind": "harness",
                                "text": f"harness {previous.get('harness')} → {manifest.get('harness')}"})
        out.append({"run_id": path.name, "started": manifest.get("started"), "finished": manifest.get("finished"),
                    "time": _seconds(manifest.get("started")), "harness": manifest.get("harness"),
                    "git": env.get("git"), "hardware": hardware.get("hash"),
                    "leaderboard": quote(f"{path.name}/leaderboard.html") if (path / "leaderboard.html").is_file()
                    else None, "changes": changes})
        previous = manifest
    return out


def _seconds(stamp) -> float | None:
    """An ISO 8601 time as seconds since the epoch (UTC when it names no zone), None if unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def past_regressions(history: list[tuple], threshold: float, cost_alpha: float, mixed_hardware: bool,
                     latest: dict | None = None) -> list[dict]:
    """Every regression ``harness report`` would have flagged on each night of the history: each run
    against the run before it, by the rules of rules.py and that run's ``[stats]`` settings (as the
    report of that night applied them). ``latest``: the latest run's comparison with the run before
    it when already made. Rows as ``compare``'s, plus ``run_id`` and ``reference``."""
    out = []
    for i in range(1, len(history)):
        if latest is not None and i == len(history) - 1:
            comparison = latest
        else:
            stats = run_settings(history[i][1], history[i][2], [])
            comparison = compare_loaded(history[i - 1], history[i], Rules(stats, threshold, cost_alpha, mixed_hardware))
        out += [{"run_id": history[i][0].name, "reference": history[i - 1][0].name, **r}
                for r in comparison["quality"] + comparison["cost"] if r["verdict"] == "regressed"]
    return out


def trends(history: list[tuple], regressions: list[dict], notes: list[str] | None = None,
           past: list[dict] = ()) -> list[dict]:
    """One entry per (dataset, device, metric or cost figure): each pipeline's value in every run
    (None where it has none), with error bars where the run recorded them (a damaged
    leaderboard.json: none, and a note in ``notes``); ``flagged``: the indices of the runs where
    ``past`` (``past_regressions``) flags the pipeline's value as a regression."""
    metrics = list(dict.fromkeys(m for _, manifest, _ in reversed(history) for m in manifest.get("metrics") or []))
    n = len(history)
    table: dict[tuple, dict] = {}
    for i, (path, _, cells) in enumerate(history):
        intervals = _leaderboard_intervals(path, notes if notes is not None else [])
        for cell in cells:
            if not cell.ok:
                continue
            info = cell.cell
            for metric in metrics:
                value = cell.metrics.get(metric)
                bounds = intervals.get((info.dataset, info.pipeline, info.device, metric))
                _put(table, info, ("metric", metric), i, n, value, bounds)
            for name in FIGURES:
                _put(table, info, ("cost", name), i, n, figure_value(cell, name), interval(cell, name))
    flagged = {(r["dataset"], r["device"], r.get("metric") or r.get("figure"), r["pipeline"]) for r in regressions}
    index = {path.name: i for i, (path, _, _) in enumerate(history)}
    nights: dict[tuple, list[int]] = {}
    for r in past:
        nights.setdefault((r["dataset"], r["device"], r.get("metric") or r.get("figure"), r["pipeline"]),
                          []).append(index[r["run_id"]])
    out = []
    for (dataset, device, kind, quantity), series in table.items():
        out.append({"dataset": dataset, "device": device, "kind": kind, "quantity": quantity,
                    "lower_is_better": LOWER_IS_BETTER.get(quantity, False) if kind == "cost" else False,
                    "series": [{"pipeline": p, **s, "regressed": (dataset, device, quantity, p) in flagged,
                                "flagged": nights.get((dataset, device, quantity, p), [])}
                               for p, s in series.items()]})
    return [t for t in out if any(v is not None for s in t["series"] for v in s["values"])]


def _put(table: dict, info: CellId, what: tuple, i: int, n: int, value, bounds) -> None:
    series = table.setdefault((info.dataset, info.device, *what), {})
    entry = series.setdefault(info.pipeline, {"values": [None] * n, "low": [None] * n, "high": [None] * n})
    entry["values"][i] = value
    if bounds:
        entry["low"][i], entry["high"][i] = bounds


def _leaderboard_intervals(run_dir: Path, notes: list[str]) -> dict:
    """The metric intervals a run's leaderboard.json holds (none for runs rendered without one).
    The file is derived data: a damaged one (checked as results files are) gives no intervals and
    a note, not an error."""
    try:
        return _intervals(read_run_json(run_dir, LEADERBOARD), str(run_dir / LEADERBOARD))
    except FileNotFoundError:
        return {}
    except ResultsError as exc:
        notes.append(f"{exc}: its metric intervals are left out of the trends (`harness leaderboard {run_dir}` "
                     "writes it again)")
        return {}


def _number(value) -> bool:
    """Whether ``value`` is a JSON number that is a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _intervals(data, source: str) -> dict:
    """(dataset, pipeline, device, metric) -> (low, high) of a leaderboard.json; ResultsError
    naming the key where it is not laid out as the harness writes it."""
    if not isinstance(data, dict):
        raise fail(source, "(file)", "a JSON object", data)
    rows = data.get("rows", [])
    if not isinstance(rows, list):
        raise fail(source, "rows", "a list", rows)
    out = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise fail(source, f"rows.{i}", "an object", row)
        names = tuple(row.get(k) for k in ("dataset", "pipeline", "device"))
        for key, name in zip(("dataset", "pipeline", "device"), names, strict=True):
            if not isinstance(name, str):
                raise fail(source, f"rows.{i}.{key}", "a string", name)
        stats = row.get("stats") or {}
        if not isinstance(stats, dict):
            raise fail(source, f"rows.{i}.stats", "an object", stats)
        for metric, entry in stats.items():
            found = (entry or {}).get("interval") if isinstance(entry, dict) or entry is None else entry
            if not found:
                continue
            where = f"rows.{i}.stats.{metric}.interval"
            if not isinstance(found, dict):
                raise fail(source, where, "an object", found)
            bounds = tuple(found.get(k) for k in ("low", "high"))
            for key, value in zip(("low", "high"), bounds, strict=True):
                if value is not None and not _number(value):
                    raise fail(source, f"{where}.{key}", "a finite number or null", value)
            out[(*names, metric)] = bounds
    return out


def summary_text(report: dict, written: list[Path] = ()) -> str:
    """A few lines for a CI log: what was compared, every regression, the verdict."""
    runs = len(report["runs"])
    head = f"harness report: {report['suite']} ({report['results_dir']}), {runs} finished run(s)"
    if report["reference"] is None:
        lines = [head, f"latest run {report['latest']}: no reference run to compare with (the first run, or "
                       "--reference names the latest): nothing to check yet"]
    else:
        how = "pinned" if report["reference_pinned"] else "the previous run"
        lines = [head, f"latest run {report['latest']} against reference {report['reference']} ({how})"]
    for r in report["regressions"]:
        lines.append("REGRESSION " + _line(r, report))
    lines += [f"note: {n}" for n in report["notes"]]
    if report["comparison"]:
        s = report["comparison"]["summary"]
        verdict = (f"{len(report['regressions'])} regression(s)" if report["regressions"] else "no regressions")
        lines.append(f"{verdict}; {s['improved']} improved, {s['unchanged']} unchanged"
                     + (f", {s['not compared']} not compared" if s["not compared"] else ""))
    if written:
        lines.append("report: " + ", ".join(str(p) for p in written))
    return "\n".join(lines) + "\n"


def _line(r: dict, report: dict) -> str:
    where = f"{r['dataset']}/{r['pipeline']} ({r['device']})"
    if "metric" in r:
        stats = report["comparison"]["settings"]["stats"]
        test = "paired t-test" if stats["test"] == "t" else "permutation test"
        adjusted = {"holm": "Holm", "bonferroni": "Bonferroni"}.get(stats["correction"])
        adjusted = f", {adjusted}-adjusted {r['p_adjusted']:.3g}" if adjusted else ""
        return (f"{where}: {r['metric']} {r['old']:.4f} → {r['new']:.4f} ({r['difference']:+.4f}), {test} "
                f"p = {r['p_value']:.3g}{adjusted}")
    p = f"p = {r['p_value']:.3g}" if r["p_value"] is not None else r["method"]
    test = "Mann-Whitney U " if r["p_value"] is not None else ""
    busy = f"; machine busy ({r['busy']}): rerun to confirm" if r.get("busy") else ""
    return f"{where}: {r['figure']} {r['old']:.3f} → {r['new']:.3f} ({r['change']:+.1%}), {test}{p}{busy}"
