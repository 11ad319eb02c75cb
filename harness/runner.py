"""Running a suite: each cell's result written the moment it is complete.

One cell is the unit of work, caching and failure. A cell that raises is recorded as failed with
its error and the others still run. A killed run loses at most the cells in flight: the next
``harness run`` of the suite resumes it (see results.py); a run stopped by an exception (Ctrl-C, a
bug) is marked ``interrupted`` in its manifest, with what stopped it, and keeps every cell written.
One run at a time per suite folder: the run holds its lock (results.RunLock) throughout.

A run records its suite's fingerprint (``suite_fingerprint``). Resumed after the suite changed, it
lists only the current suite's cells (a cell no longer in the suite, or changed and not selected
now, leaves the manifest and so the leaderboard) and says so; a run of another suite (another
name, or another file with other contents) is not resumed: ``--resume`` refuses it, and an
implicit resume starts a new run instead. A finished run whose leaderboard was never written (the
run was stopped between the two) gets it from the next run of the suite. What a cell does lives in cell.py, stage
execution and caching in stages.py, where cells run in executors/: the local executor (one cell
at a time, in this process or each in a fresh worker process) or a Dask cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, executors, provenance
from .cache import ArtifactCache, cache_key
from .cell import CellRunner, metric_providers, now
from .cellresult import CellResult
from .components import Progress
from .errors import HarnessError, ResultsError, UsageError
from .executors.base import Job, RunContext, remove_partial_files
from .measure import hardware
from .plugins import Registry, get_registry
from .results import (
    MANIFEST,
    RUN_SCHEMA,
    RunLock,
    choose_run_dir,
    load_cell,
    new_run_id,
    read_manifest,
    run_dirs,
    write_json,
)
from .suite import Cell, MeasureSettings, Suite


@dataclass
class RunOutcome:
    run_dir: Path
    resumed: bool
    results: list[CellResult] = field(default_factory=list)
    kept: int = 0  # cells already complete in a resumed run
    suite_changed: bool = False  # resumed with a suite whose fingerprint differs from the run's
    dropped: list[str] = field(default_factory=list)  # cell ids the resumed run no longer lists
    notes: list[str] = field(default_factory=list)  # what the console was told about the run's folder

    @property
    def failed(self) -> list[CellResult]:
        return [r for r in self.results if not r.ok]


def cell_key(suite: Suite, cell: Cell) -> str:
    """What decides a cell's result: its dataset, pipeline, device, k, metrics, the suite's seed
    (components and metrics draw from ``ctx.seed``: RankMe's sample, a perturbation) and how it is
    measured."""
    dataset = cell.dataset
    return cache_key(
        {"name": dataset.name, "provider": dataset.provider, "params": dataset.params,
         "fields": dataset.fields, "queries": dataset.queries, "grades": dataset.grades},
        cell.pipeline.config(), cell.device, suite.k, [m.label for m in suite.metrics],
        suite.measure.cell_config(), {"seed": suite.seed},
    )


def suite_fingerprint(suite: Suite) -> str:
    """A stable hash of what decides a run's cells and their results: the suite's name, ``k``,
    ``seed``, metrics, datasets (as cell keys see them) and pipelines (each name with its stages'
    configurations), devices and measurement settings. Not part of it: descriptions, comments and
    layout of the file, the order of datasets and pipelines, ``[stats]``, ``[output]`` and
    ``[execution]`` (they change neither which cells there are nor what a cell computes)."""
    return cache_key({
        "name": suite.name, "k": suite.k, "seed": suite.seed, "metrics": [m.label for m in suite.metrics],
        "datasets": {d.name: {"provider": d.provider, "params": d.params, "fields": d.fields, "queries": d.queries,
                              "grades": d.grades} for d in suite.datasets},
        "pipelines": {p.name: p.config() for p in suite.pipelines},
        "devices": list(suite.measure.devices), "measure": suite.measure.cell_config(),
    })


def isolation_mode(measure: MeasureSettings) -> str:
    """``subprocess`` or ``none``: as set, else isolated when memory is measured or cells have a timeout."""
    return measure.isolation or ("subprocess" if measure.memory or measure.timeout else "none")


def run_suite(
    suite: Suite, *, pipelines=(), datasets=(), devices=(), new: bool = False,
    resume: str | None = None, force: bool = False, results_dir: str | Path | None = None,
    progress: Progress | None = None, registry: Registry | None = None, mixed_hardware: bool = False,
) -> RunOutcome:
    """Run the selected cells of ``suite``; see the module docstring for resume semantics."""
    cells = suite.cells(pipelines, datasets, devices)
    if not cells:
        raise UsageError("no cells selected: check --pipeline/--dataset/--device against the suite")
    progress = progress or Progress()
    root = Path(results_dir or suite.output.dir)
    suite_dir = root / suite.name
    with RunLock(root, suite.name) as lock:  # one harness run per suite folder (RunLocked otherwise)
        if lock.stale:
            progress.log(f"note: the last run here (pid {lock.stale.get('pid')} on {lock.stale.get('host')}) "
                         "ended without releasing its lock; an unfinished run is resumed")
        notes = _Notes(progress)
        finish_leaderboards(suite_dir, notes, mixed_hardware)
        run_dir, resumed = choose_run_dir(suite_dir, new=new, resume=resume)
        previous = read_manifest(run_dir / MANIFEST) if resumed else {}  # ResultsError when damaged
        foreign = _foreign(suite, previous) if resumed else None
        if foreign and resume:
            raise UsageError(f"--resume {resume}: run {run_dir} {foreign}; it is not resumed with {suite.path}. "
                             "Resume it with its own suite, or start a new run of this one (--new)")
        if foreign:
            notes.log(f"note: the unfinished run {run_dir} {foreign}: starting a new run instead (that one is "
                      "left as it is)")
            run_dir, resumed, previous = suite_dir / new_run_id(suite_dir), False, {}
        outcome = RunOutcome(run_dir, resumed, notes=notes.said)
        listed = _listing(suite, run_dir, cells, previous, outcome, notes) if resumed else {
            c.id: c.slug for c in cells}
        progress.log(f"{'resuming' if resumed else 'new'} run {run_dir} ({len(cells)} cells)")
        for cell in suite.unsupported(pipelines, datasets, devices):
            progress.log(f"skipped {cell.id}: no stage of {cell.pipeline.name!r} runs on {cell.device}")
        mode = isolation_mode(suite.measure)
        if suite.measure.timeout and mode == "none" and suite.execution.executor == "local":
            progress.log("note: measure.timeout is enforced for isolated cells only; isolation = \"none\" ignores it")
        cache_dir = Path(suite.output.cache_dir) if suite.output.cache_dir else root / ".cache"
        cache = ArtifactCache(cache_dir, enabled=suite.output.cache and not force)
        manifest: dict | None = None
        try:
            with executors.create(suite, progress) as executor:  # a Dask cluster lives as long as this block
                registry = registry or get_registry()
                manifest = _start_manifest(suite, run_dir, listed, previous, outcome, executor.describe(mode),
                                           registry)
                write_json(run_dir / MANIFEST, manifest)
                remove_partial_files(run_dir)
                runner = CellRunner(suite, registry, cache, progress, manifest["environment"])
                jobs = []
                data = _DataFingerprints(suite, runner.registry, notes)
                for number, cell in enumerate(cells, 1):
                    key = cell_key(suite, cell)
                    existing = load_cell(run_dir, cell.slug, cell.id)
                    if existing and existing.ok and existing.cell.key == key and data.unchanged(cell, existing):
                        outcome.kept += 1
                        outcome.results.append(existing)
                        progress.log(f"[{number}/{len(cells)}] {cell.id}: already done in this run")
                    else:
                        jobs.append(Job(number, cell, key))
                context = RunContext(suite, run_dir, cache, runner, mode, progress)
                for done, result in enumerate(executor.run(jobs, context), outcome.kept + 1):
                    outcome.results.append(result)
                    progress.log(f"[{done}/{len(cells)}] {result.cell.id}: {_summary(result)}")
        except BaseException as exc:  # Ctrl-C, a bug, a file that cannot be written: never left "running"
            if manifest is not None:
                _interrupted(run_dir, manifest, exc, progress)
            raise
        order = {c.id: i for i, c in enumerate(cells)}  # suite order, however the cells ran
        outcome.results.sort(key=lambda r: order.get(r.cell.id, len(order)))
        from .leaderboard import write_leaderboard

        # "pending" until the leaderboard is written: a run stopped in between gets it from the next
        # command that touches the suite's folder (finish_leaderboards)
        manifest.update(status="finished", finished=now(), leaderboard="pending")
        write_json(run_dir / MANIFEST, manifest)
        write_leaderboard(run_dir, mixed_hardware=mixed_hardware)
        manifest["leaderboard"] = "written"
        write_json(run_dir / MANIFEST, manifest)
    return outcome


class _DataFingerprints:
    """Whether a cell's stored result was computed on the dataset as it is now. The cell key holds
    the dataset's declaration, not its files: qrels edited between a killed run and its resume
    would otherwise leave the cells done before scored on the old judgments, beside new ones.
    Each dataset is loaded (and fingerprinted) once, and only when a stored result asks."""

    def __init__(self, suite: Suite, registry: Registry, notes):
        self.suite, self.registry, self.notes = suite, registry, notes
        self.known: dict[str, str | None] = {}

    def unchanged(self, cell: Cell, existing: CellResult) -> bool:
        name = cell.dataset.name
        if name not in self.known:
            from .datasets import DatasetError, load_dataset

            try:
                self.known[name] = load_dataset(cell.dataset, self.registry, self.suite.base_dir).fingerprint
            except DatasetError:  # the cell runs again and fails, saying why
                self.known[name] = None
        stored = (existing.dataset or {}).get("fingerprint") if isinstance(existing.dataset, dict) else None
        if stored == self.known[name]:
            return True
        if self.known[name] is not None:
            self.notes.log(f"note: dataset {name!r} changed since {cell.id} was computed in this run (fingerprint "
                           f"{str(stored)[:12]} → {self.known[name][:12]}): computed again")
        return False


def _foreign(suite: Suite, previous: dict) -> str | None:
    """Why the run whose manifest is ``previous`` is not a run of ``suite`` (None when it is): it
    names another suite, or was started from another file whose contents differ (a moved or
    copied file with the same contents is the same suite)."""
    if previous.get("suite") != suite.name:
        return f"is a run of suite {previous.get('suite')!r}, not {suite.name!r}"
    started_from = previous.get("suite_file")
    if not started_from or started_from == str(suite.path):
        return None
    if _same_suite(suite, previous):
        return None
    return f"was started from another suite file of the same name, {started_from}, with other contents"


def _same_suite(suite: Suite, previous: dict) -> bool:
    """Whether the run whose manifest is ``previous`` was started with this suite's fingerprint (a run
    recorded before fingerprints: with this suite's text)."""
    if "suite_fingerprint" in previous:
        return previous["suite_fingerprint"] == suite_fingerprint(suite)
    return previous.get("suite_sha256") == cache_key(suite.text)


def _listing(suite: Suite, run_dir: Path, selected: list[Cell], previous: dict, outcome: RunOutcome,
             progress: Progress) -> dict[str, str]:
    """The cells a resumed run lists (and so its leaderboard shows), in suite order: the selected
    cells, and of those it listed before, the ones still in the suite whose result is for their
    current configuration. A cell no longer in the suite, or changed and not selected
    now, is left out (its file stays in ``cells/``, unlisted); the console says so."""
    before = previous.get("cells", {})
    everything = suite.cells()
    chosen = {c.id for c in selected}
    current = {c.id for c in everything}
    keep, changed = set(chosen), []
    for cell in everything:
        if cell.id in before and cell.id not in chosen:
            existing = load_cell(run_dir, before[cell.id], cell.id)
            if existing is None:  # not run yet, nor now: a finished run lists only cells with a result
                continue
            if existing.cell.key != cell_key(suite, cell):
                changed.append(cell.id)
            else:
                keep.add(cell.id)
    gone = [cell_id for cell_id in before if cell_id not in current]
    outcome.dropped = gone + changed
    outcome.suite_changed = not _same_suite(suite, previous)
    if outcome.suite_changed or outcome.dropped:
        parts = []
        if gone:
            parts.append(f"{len(gone)} no longer in the suite ({_some(gone)})")
        if changed:
            parts.append(f"{len(changed)} whose configuration changed and that this run does not select "
                         f"({_some(changed)})")
        left = f"; left out of it: {', '.join(parts)}" if parts else ""
        progress.log(f"note: the suite changed since run {run_dir.name} was started: resuming it with the current "
                     f"suite's cells only (a changed cell is run again){left}")
    return {c.id: c.slug for c in everything if c.id in keep}


class _Notes(Progress):
    """The run's progress, keeping the notes it is given (``RunOutcome.notes``: for ``--quiet``)."""

    def __init__(self, progress: Progress):
        self.progress, self.said = progress, []

    def log(self, message: str) -> None:
        self.said.append(message)
        self.progress.log(message)


def _some(ids: list[str], shown: int = 3) -> str:
    return ", ".join(ids[:shown]) + (f", and {len(ids) - shown} more" if len(ids) > shown else "")


def _interrupted(run_dir: Path, manifest: dict, exc: BaseException, progress: Progress) -> None:
    """Mark a run stopped by ``exc`` as ``interrupted`` (with what stopped it); its cells stay, and
    the next ``harness run`` resumes it. Never raises: ``exc`` is what the caller reports."""
    what = type(exc).__name__
    message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
    manifest.update(status="interrupted", stopped=now(), stopped_by={"type": what, "message": message})
    try:
        write_json(run_dir / MANIFEST, manifest)
        progress.log(f"run {run_dir} stopped ({what}{': ' + message if message else ''}); every cell result "
                     "written is kept, and the next harness run of the suite resumes it")
    except Exception:  # a full disk: the manifest still says running, which resumes too
        pass


def finish_leaderboards(suite_dir: Path, progress: Progress | None = None, mixed_hardware: bool = False) -> list[Path]:
    """Write the leaderboard of every finished run under ``suite_dir`` that has none (stopped after
    its manifest said ``finished`` and before the leaderboard was written); returns those runs.
    A run that cannot be rendered (a damaged file) is noted and left."""
    from .leaderboard import write_leaderboard

    progress = progress or Progress()
    done = []
    for run_dir in run_dirs(suite_dir):
        if not leaderboard_pending(run_dir):
            continue
        try:
            write_leaderboard(run_dir, mixed_hardware=mixed_hardware)
        except Exception as exc:  # an old run's damage (or a bug rendering it) must not stop this run
            why = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
            progress.log(f"note: run {run_dir} finished without its leaderboard, which cannot be written now "
                         f"({why}); harness leaderboard {run_dir} tries again")
            continue
        mark_leaderboard_written(run_dir)
        progress.log(f"note: run {run_dir} finished without its leaderboard (it was stopped before writing it): "
                     "written now")
        done.append(run_dir)
    return done


def leaderboard_pending(run_dir: Path) -> bool:
    """Whether ``run_dir`` finished without its leaderboard: its manifest says so (``"leaderboard":
    "pending"``), or, written before that key existed, it has no leaderboard file at all."""
    from .leaderboard import FILES

    try:
        text = (Path(run_dir) / MANIFEST).read_bytes()
    except OSError:
        return False
    has_files = any((Path(run_dir) / name).exists() for name in FILES.values())
    if b'"pending"' not in text and has_files:  # the common case, without parsing every manifest
        return False
    try:
        manifest = read_manifest(Path(run_dir) / MANIFEST)
    except ResultsError:
        return False  # reported by the command that reads it
    if manifest.get("status") != "finished":
        return False
    if "leaderboard" in manifest:
        return manifest["leaderboard"] == "pending"
    return not has_files and bool((manifest.get("output") or {}).get("leaderboard", FILES))


def mark_leaderboard_written(run_dir: Path) -> None:
    """Record in a finished run's manifest that its leaderboard was written (after a pending one)."""
    path = Path(run_dir) / MANIFEST
    manifest = read_manifest(path)
    if manifest.get("status") == "finished" and manifest.get("leaderboard") == "pending":
        manifest["leaderboard"] = "written"
        write_json(path, manifest)


def _start_manifest(suite: Suite, run_dir: Path, listed: dict[str, str], previous: dict, outcome: RunOutcome,
                    executor: dict, registry: Registry | None = None) -> dict:
    changes = list(previous.get("suite_changes", []))
    if outcome.resumed and (outcome.suite_changed or outcome.dropped):
        changes.append({"at": now(), "fingerprint": previous.get("suite_fingerprint"), "dropped": outcome.dropped})
    manifest = {
        "schema": RUN_SCHEMA,
        "suite": suite.name,
        "suite_file": str(suite.path),
        "suite_sha256": cache_key(suite.text),
        "suite_fingerprint": suite_fingerprint(suite),
        "run_id": run_dir.name,
        "status": "running",
        "started": previous.get("started", now()),
        "resumed": previous.get("resumed", 0) + 1 if outcome.resumed else 0,
        "harness": __version__,
        "k": suite.k,
        "metrics": [m.label for m in suite.metrics],
        "metric_providers": metric_providers(suite.metrics, registry or get_registry()),
        "stats": suite.stats.to_dict(),
        "measure": suite.measure.to_dict(),
        "executor": executor,
        "output": suite.output.to_dict(),
        "datasets": [d.name for d in suite.datasets],
        "pipelines": [p.name for p in suite.pipelines],
        "cells": listed,
        "environment": provenance.environment(suite.base_dir),
        "hardware": hardware.fingerprint(),
    }
    if changes:  # each resume with a changed suite: when, the fingerprint before, the cells left out
        manifest["suite_changes"] = changes
    return manifest


def _summary(result: CellResult) -> str:
    seconds = f"{result.seconds or 0.0:.1f}s"
    if not result.ok:
        error = result.error
        return f"FAILED in {error.phase} ({error.type}: {error.message}) {seconds}"
    shown = ", ".join(f"{k} {v:.4f}" for k, v in list(result.metrics.items())[:3] if v is not None)
    return f"{shown} ({seconds})"
