"""Two runs side by side: ``harness compare RUN_A RUN_B`` (and the heart of ``harness report``).

Cells are matched by (dataset, pipeline, device). For each pair that finished in both runs:
every metric both runs have, with the paired test of the newer run's ``[stats]`` settings, and
every cost figure both results hold, with its ratio B / A and the cost rule (rules.py). Run A is
the older or reference run, B the newer: "regressed" means B is worse than A.
"""

from __future__ import annotations

from pathlib import Path

from ..cellresult import CellResult
from ..leaderboard.analysis import run_settings
from ..leaderboard.render import CORRECTED
from ..measure.hardware import describe
from ..results import load_run
from .rules import Rules, cost_rows, quality_rows

SCHEMA = "harness.compare/1"
ALIGN = ("left",) * 4 + ("right",) * 4 + ("left",)
MARK = {"regressed": "▼ regressed", "improved": "▲ improved", "unchanged": "=", "not compared": "?"}


def compare_runs(a: str | Path, b: str | Path, *, threshold: float = 0.05, cost_alpha: float = 0.01,
                 mixed_hardware: bool = False) -> dict:
    """Compare run folder ``b`` with run folder ``a``; see the module docstring."""
    loaded_a, loaded_b = (_load(a), _load(b))
    notes: list[str] = []
    stats = run_settings(loaded_b[1], loaded_b[2], notes)
    return compare_loaded(loaded_a, loaded_b, Rules(stats, threshold, cost_alpha, mixed_hardware), notes)


def _load(run_dir: str | Path) -> tuple:
    run_dir = Path(run_dir)
    return (run_dir, *load_run(run_dir))  # ResultsError naming a damaged file


def compare_loaded(a: tuple, b: tuple, rules: Rules, notes: list[str] | None = None) -> dict:
    """``a`` and ``b`` as (run folder, manifest, cells)."""
    notes = list(notes or [])
    (dir_a, manifest_a, cells_a), (dir_b, manifest_b, cells_b) = a, b
    index_a = {_key(c): c for c in cells_a}
    index_b = {_key(c): c for c in cells_b}
    pairs, changed, data = [], [], {}
    for key, new in index_b.items():
        old = index_a.get(key)
        if old is None:
            continue
        if not old.ok or not new.ok:
            which = " and ".join(n for n, c in (("A", old), ("B", new)) if not c.ok)
            notes.append(f"{_name(key)}: failed in {which}: not compared")
            continue
        before, after = _data_fingerprint(old), _data_fingerprint(new)
        if before != after:  # other judgments or documents: a difference would be the data's
            data.setdefault(key[0], (before, after))
            continue
        pairs.append((old, new))
        if old.cell.key != new.cell.key:
            changed.append(_name(key))
    for dataset, (before, after) in data.items():
        notes.append(f"dataset {dataset!r} differs between the runs (its corpus, queries or judgments: fingerprint "
                     f"{str(before)[:12]} in A, {str(after)[:12]} in B): its cells are not compared")
    if changed:
        notes.append(f"configuration or measurement settings differ between the runs (cell keys) for "
                     f"{', '.join(changed)}: differences may be intended")
    for label, only in (("A", index_a.keys() - index_b.keys()), ("B", index_b.keys() - index_a.keys())):
        if only:
            notes.append(f"only in {label}: {', '.join(sorted(_name(k) for k in only))}")
    hw_a, hw_b = manifest_a.get("hardware") or {}, manifest_b.get("hardware") or {}
    if hw_a.get("hash") != hw_b.get("hash"):
        notes.append(f"the runs were made on different hardware (A: {describe(hw_a)}; B: {describe(hw_b)}): "
                     + ("cost compared anyway (--mixed-hardware)" if rules.mixed_hardware
                        else "cost figures are not compared (--mixed-hardware compares them)"))
    metrics = [m for m in manifest_b.get("metrics") or [] if m in (manifest_a.get("metrics") or [])]
    quality = quality_rows(pairs, metrics, rules)
    cost = cost_rows(pairs, rules)
    verdicts = [r["verdict"] for r in quality + cost]
    return {
        "schema": SCHEMA, "a": _info(dir_a, manifest_a), "b": _info(dir_b, manifest_b), "settings": rules.to_dict(),
        "metrics": metrics, "quality": quality, "cost": cost, "notes": notes,
        "summary": {v: verdicts.count(v) for v in ("regressed", "improved", "unchanged", "not compared")},
    }


def _data_fingerprint(cell: CellResult) -> str | None:
    """The fingerprint of the collection a cell was evaluated on (None when not recorded)."""
    record = cell.dataset if isinstance(cell.dataset, dict) else {}
    value = record.get("fingerprint")
    return value if isinstance(value, str) else None


def _key(cell: CellResult) -> tuple[str, str, str]:
    info = cell.cell
    return info.dataset, info.pipeline, info.device


def _name(key: tuple[str, str, str]) -> str:
    return f"{key[0]}/{key[1]} ({key[2]})"


def _info(run_dir: Path, manifest: dict) -> dict:
    env = manifest.get("environment") or {}
    return {"path": str(run_dir), "suite": manifest.get("suite"), "run_id": manifest.get("run_id"),
            "started": manifest.get("started"), "status": manifest.get("status"),
            "hardware": (manifest.get("hardware") or {}).get("hash"), "git": env.get("git")}


def render_text(data: dict) -> str:
    """Both tables for a terminal: quality with the paired tests, cost with ratios."""
    from tabulate import tabulate

    a, b, s = data["a"], data["b"], data["settings"]["stats"]
    test = "paired t-test" if s["test"] == "t" else "paired permutation test"
    lines = [f"A: {a['suite']} run {a['run_id']} ({a['path']})", f"B: {b['suite']} run {b['run_id']} ({b['path']})",
             f"quality: {test}, two-sided, {CORRECTED[s['correction']]} over all {len(data['quality'])} comparisons, "
             f"alpha {s['alpha']}; cost: beyond noise and at least {data['settings']['threshold']:.0%} apart", ""]
    rows = [[r["dataset"], r["pipeline"], r["device"], r["metric"], _num(r["old"]), _num(r["new"]),
             _num(r.get("difference"), signed=True), _p(r["p_adjusted"]), MARK[r["verdict"]]] for r in data["quality"]]
    if rows:
        lines += [tabulate(rows, headers=["dataset", "pipeline", "device", "metric", "A", "B", "B - A", "p (adj.)", ""],
                           tablefmt="github", disable_numparse=True, colalign=ALIGN), ""]
    rows = [[r["dataset"], r["pipeline"], r["device"], r["figure"], _num(r["old"], 3), _num(r["new"], 3),
             "-" if r["ratio"] is None else f"{r['ratio']:.3f}", _p(r["p_value"]),
             MARK[r["verdict"]] if not r["reason"] else f"? {r['reason']}"] for r in data["cost"]]
    if rows:
        lines += [tabulate(rows, headers=["dataset", "pipeline", "device", "figure", "A", "B", "B / A", "p", ""],
                           tablefmt="github", disable_numparse=True, colalign=ALIGN), ""]
    lines += [f"note: {n}" for n in data["notes"]]
    summary = data["summary"]
    lines.append(f"{summary['regressed']} regressed, {summary['improved']} improved, {summary['unchanged']} unchanged"
                 + (f", {summary['not compared']} not compared" if summary["not compared"] else ""))
    return "\n".join(lines) + "\n"


def _num(value, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value) -> str:
    return "-" if value is None else f"{value:.3g}"
