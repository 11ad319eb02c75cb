"""The ``harness`` command line.

Exit status:

- 0: success.
- 1: the command worked and has bad news: some cells failed (``run``), a plugin is broken or two
  conflict (``plugins``), the latest run regressed (``report``).
- 2: bad input (suite, files, options, results folders, plugins): every ``HarnessError``
  (harness/errors.py), printed as ``error: <message>`` (a suite: every problem, with file:line)
  without a traceback; argparse's usage errors too.
- 70: a bug (``EX_SOFTWARE``): any other exception, in the harness or in a plugin; its traceback is
  printed, then a line saying it is a bug to report.
- 130: interrupted (Ctrl-C); a rerun of ``harness run`` resumes.
- 141: stdout was closed early (``harness plugins | head -1``): the command stops quietly, with the
  status a process killed by SIGPIPE gets in a shell (128 + 13), so ``set -o pipefail`` notices.

``main`` is the one place that catches errors: the commands raise, they do not print errors. Modules
are imported inside the commands, so ``--help`` and ``plugins`` stay instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__

EVAL_DEFAULT = ["AP", "nDCG", "nDCG@10", "P@10", "R@100", "RR", "Rprec", "Bpref"]
MIXED_HELP = ("show cost columns even when cells were measured on different hardware fingerprints "
              "(a hardware column tells them apart); by default they are left out, with the reason")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .errors import HarnessError  # standard library only

    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit as "Exception ignored"
        return status
    except HarnessError as exc:
        _flush_quietly()
        _say(exc.format())
        return 2
    except KeyboardInterrupt:
        _say("interrupted: results written so far are kept; run again to resume")
        return 130
    except BrokenPipeError:
        if not _stdout_gone():
            return _bug()  # some other pipe (a worker's, a socket): not the reader going away
        _silence_stdout()
        return 141
    except Exception:
        return _bug()


BUG = ("harness: internal error (a bug in harness or in a plugin, not in your input); "
       "please report it with the traceback above")


def _bug() -> int:
    import traceback

    _flush_quietly()
    _say(traceback.format_exc() + BUG)
    return 70


def _say(text: str) -> None:
    """``text`` on stderr; nothing when stderr is a closed pipe too (``2>&1 | head``)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass


def _flush_quietly() -> None:
    """Flush stdout before writing to stderr, so that the two come out in order."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except (OSError, ValueError):
        pass


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll reports POLLERR on it)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor
        return False
    try:
        import select

        poller = select.poll()
    except (ImportError, AttributeError):  # no poll() (Windows): take the pipe to be stdout
        return True
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit has nowhere to fail
    (the recipe in the ``signal`` module's documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


MAX_PRECISION = 17  # a double's significant digits: more decimals would print noise


def _precision(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of decimals, got {text!r}") from None
    if not 0 <= value <= MAX_PRECISION:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_PRECISION} decimals, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluate and benchmark retrieval pipelines declared in TOML suites.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import scaffold  # standard library only: keeps --help instant
    from .report import commands  # standard library only: keeps --help instant

    p = sub.add_parser("run", help="run a suite: results, TREC runs and a leaderboard")
    p.add_argument("suite", help="suite file (TOML)")
    p.add_argument("--pipeline", action="append", default=[], metavar="NAME",
                   help="only these pipelines (name, base name of a sweep, or glob); repeatable")
    p.add_argument("--dataset", action="append", default=[], metavar="NAME", help="only these datasets; repeatable")
    p.add_argument("--device", action="append", default=[], metavar="DEVICE", help="only these devices; repeatable")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                   help="override a suite value, e.g. pipelines.bm25.k1=1.2; repeatable")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--new", action="store_true", help="start a new run even if the last one is unfinished")
    group.add_argument("--resume", metavar="RUN_ID", help="resume this run")
    p.add_argument("--force", action="store_true", help="ignore the artifact cache (recompute indexes and runs)")
    p.add_argument("--results", metavar="DIR", help="results root (default: the suite's output.dir, 'results')")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--mixed-hardware", action="store_true", help=MIXED_HELP)
    p.add_argument("--executor", choices=("local", "dask"), help="where cells run (default: the suite's "
                   "execution.executor, else local); see docs/distributed.md")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://host:8786 (implies "
                   "--executor dask; default: a LocalCluster for the run)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="workers of the run's LocalCluster (implies --executor dask)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a suite and report every problem at once")
    p.add_argument("suite")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    p.add_argument("--no-data", action="store_true",
                   help="check the suite only: do not load the datasets and report on their judgments")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plugins", help="list plugins and the components they provide")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("eval", help="evaluate a TREC run file against TREC, BEIR or ir_datasets qrels, like trec_eval")
    p.add_argument("qrels", help="a TREC qrels file, a BEIR qrels file (qrels/<split>.tsv) or irds:<ir_datasets id>")
    p.add_argument("run", help="a TREC run file")
    p.add_argument("--qrels-format", choices=("trec", "beir", "irds"),
                   help="how to read QRELS (default: told by its content; an irds: prefix is an ir_datasets id)")
    p.add_argument("-m", "--measure", action="append", default=[], metavar="MEASURE",
                   help=f"measure name as in suites, e.g. nDCG@10; repeatable (default: {' '.join(EVAL_DEFAULT)})")
    p.add_argument("-q", dest="per_query", action="store_true", help="also print per-query values")
    p.add_argument("-c", dest="complete", action="store_true",
                   help="average over every query in the qrels; missing ones score 0 (trec_eval -c)")
    p.add_argument("--precision", type=_precision, default=4,
                   help=f"decimals printed, 0 to {MAX_PRECISION} (default 4, as trec_eval)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("leaderboard", help="re-render the leaderboard of a results folder")
    p.add_argument("run_dir", help="a run folder, or a suite's results folder (its latest run)")
    p.add_argument("--mixed-hardware", action="store_true", help=MIXED_HELP)
    p.add_argument("--baseline", metavar="PIPELINE", help="compare with this pipeline instead of [stats] baseline")
    p.add_argument("--intervals", choices=("primary", "all"),
                   help="bootstrap intervals for the primary metric or all metrics (default: [stats] intervals)")
    p.add_argument("--margin", type=commands.nonnegative, metavar="DELTA",
                   help="non-inferiority margin of compressed pipelines against their parents "
                   "(default: [stats] margin)")
    p.add_argument("--margin-metric", metavar="METRIC",
                   help="the metric the margin is on (default: [stats] margin_metric, else the first metric)")
    p.set_defaults(func=cmd_leaderboard)
    p.add_argument("--format", action="append", choices=("md", "csv", "json", "html"), dest="formats",
                   help="write this format (repeatable; default: the run's output.leaderboard)")
    commands.add_parsers(sub)
    scaffold.add_parser(sub)
    return parser


def cmd_validate(args) -> int:
    from .suite import load_suite

    suite = load_suite(args.suite, args.overrides)  # SuiteError: every problem, exit 2
    cells = suite.cells()
    print(f"{args.suite}: valid — {len(suite.datasets)} dataset(s) × {len(suite.pipelines)} pipeline(s) "
          f"× {len(suite.measure.devices)} device(s) = {len(cells)} cell(s)")
    for cell in cells:
        print(f"  {cell.id}")
    for cell in suite.unsupported():
        print(f"  skipped {cell.id}: no stage of {cell.pipeline.name!r} runs on {cell.device}")
    if not args.no_data:
        _check_data(suite)
    return 0


def _check_data(suite) -> None:
    """Load each dataset (its readers' checks run: a broken file is a DatasetError, exit 2) and
    print its data report: the counts about its judgments that change what metrics mean."""
    from .datasets import load_dataset
    from .plugins import get_registry

    for spec in suite.datasets:
        report = load_dataset(spec, get_registry(), suite.base_dir).data_report()
        print(f"dataset {spec.name}: {report.queries} queries ({report.judged_queries} judged), "
              f"{report.documents} documents, {report.judgments} judgments")
        for note in report.notes():
            print(f"  note: {note}")


def _execution_overrides(args) -> list[str]:
    """--executor/--scheduler/--workers as --set overrides, so the suite's validation checks them."""
    out = []
    if args.executor or args.scheduler or args.workers is not None:
        out.append(f"execution.executor={json.dumps(args.executor or 'dask')}")
    if args.scheduler:
        out.append(f"execution.scheduler={json.dumps(args.scheduler)}")  # a TOML string, whatever it holds
    if args.workers is not None:
        out.append(f"execution.workers={args.workers}")
    return out


def cmd_run(args) -> int:
    # A locked results folder (RunLocked) or an unreachable cluster (ExecutorError) is a
    # HarnessError: exit status 2, as bad input.
    from .progress import make_progress
    from .runner import run_suite
    from .suite import load_suite

    suite = load_suite(args.suite, [*args.overrides, *_execution_overrides(args)])
    _check_results_root(args.results or suite.output.dir, "--results" if args.results else "output.dir")
    progress = make_progress(args.quiet)
    with progress:
        outcome = run_suite(
            suite, pipelines=args.pipeline, datasets=args.dataset, devices=args.device,
            new=args.new, resume=args.resume, force=args.force, results_dir=args.results,
            progress=progress, mixed_hardware=args.mixed_hardware,
        )
    _say_refusal(outcome.results, args.mixed_hardware)
    if args.quiet:  # what the progress log would have said about the results folder, said anyway
        for note in outcome.notes:
            _say(note)
    if not args.quiet:
        md = outcome.run_dir / "leaderboard.md"  # absent when output.leaderboard leaves it out
        if md.is_file():
            print(md.read_text(), end="")
        print(f"\nresults: {outcome.run_dir}")
    if outcome.failed:
        print(f"{len(outcome.failed)} cell(s) failed; their errors are in the cell results", file=sys.stderr)
        return 1
    return 0


def _check_results_root(root: str, given_as: str) -> None:
    """The results root is a folder, or can be made one: UsageError (exit 2) otherwise, before the
    run starts (a path through a regular file, /dev/null, a folder that cannot be written to)."""
    from pathlib import Path

    from .errors import UsageError

    path = Path(root)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the nearest part of the path that is there
    if existing.exists() and not existing.is_dir():
        what = "is not a folder" if existing == path else f"is under {existing}, which is not a folder"
        raise UsageError(f"{given_as} {root}: {what}; give a folder for the results (one that is there, or "
                         "one that can be made)")
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        what = "is a folder" if existing == path else f"would be made in {existing}, a folder"
        raise UsageError(f"{given_as} {root}: {what} this user cannot write to")


def cmd_plugins(args) -> int:
    from .plugins import conflict_message, get_registry

    registry = get_registry()
    rows = [
        {"kind": c.kind, "name": c.name, "version": c.version, "distribution": c.distribution,
         "plugin": c.plugin, "summary": c.cls.summary()}
        for p in registry.plugins for c in p.components
    ]
    broken = [{"plugin": p.name, "distribution": p.distribution, "version": p.version, "errors": p.errors}
              for p in registry.broken()]
    conflicts = [conflict_message(infos) for infos in registry.conflicts()]
    if args.json:
        print(json.dumps({"components": rows, "broken": broken, "conflicts": conflicts}, indent=1))
    else:
        _print_plugins(rows, broken, conflicts)
    return 1 if broken or conflicts else 0


def _print_plugins(rows, broken, conflicts) -> None:
    columns = ("kind", "name", "version", "distribution", "plugin", "summary")
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns[:-1]}
    print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns).rstrip())
    order = {"dataset": 0, "retriever": 1, "ranker": 2, "compressor": 3, "metric": 4}
    for r in sorted(rows, key=lambda r: (order.get(r["kind"], 9), r["name"].lower())):
        print("  ".join(str(r[c]).ljust(widths.get(c, 0)) for c in columns).rstrip())
    for b in broken:
        print(f"\nBROKEN plugin {b['plugin']!r} ({b['distribution']} {b['version']}):")
        for error in b["errors"]:
            print(f"  {error}")
    for message in conflicts:
        print(f"\nCONFLICT: {message}")


def cmd_eval(args) -> int:
    from .metrics import parse_metric, trec_eval_report
    from .trecfiles import load_qrels, read_run

    metrics = [parse_metric(m) for m in (args.measure or EVAL_DEFAULT)]
    notes: list[str] = []
    qrels = load_qrels(args.qrels, args.qrels_format, notes=notes)
    run = read_run(args.run, notes=notes)
    report = trec_eval_report(qrels, run, metrics, per_query=args.per_query,
                              complete=args.complete, precision=args.precision)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(report, end="")
    return 0


def cmd_leaderboard(args) -> int:
    from pathlib import Path

    from .api import load_results
    from .leaderboard import write_leaderboard

    results = load_results(args.run_dir)
    _say_refusal(results.raw, args.mixed_hardware)
    written = write_leaderboard(results.run_dir, mixed_hardware=args.mixed_hardware, baseline=args.baseline,
                                intervals=args.intervals, formats=args.formats, margin=args.margin,
                                margin_metric=_metric_label(args.margin_metric))
    if args.formats is None:  # every format the run asks for: no longer pending (harness run writes it)
        from .runner import mark_leaderboard_written

        mark_leaderboard_written(results.run_dir)
    md = Path(results.run_dir) / "leaderboard.md"
    if md in written:
        print(md.read_text(), end="")
    print("written: " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def _metric_label(name: str | None) -> str | None:
    """A metric named by any of its names, as its canonical label (``ndcg_cut_10`` → ``nDCG@10``);
    a name no metric has is passed on, for the leaderboard to say so."""
    from .metrics import canonical_label

    return None if name is None else canonical_label(name) or name


def _say_refusal(cells: list[dict], mixed_hardware: bool) -> None:
    from .leaderboard import hardware_refusal

    refusal = None if mixed_hardware else hardware_refusal(cells)
    if refusal:
        print(f"note: {refusal}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
