"""``harness report`` and ``harness compare`` on the command line (wired into cli.py).

Exit status: ``report`` 1 when the latest run regressed (of any suite, for a folder of suites), else
0; ``compare`` 0 whatever it finds (it informs, ``report`` gates); both 2 for a folder that holds no
run or a damaged one (a ``HarnessError``, which ``harness.cli.main`` prints; see its docstring for
every status). Heavy modules load inside the commands.
"""

from __future__ import annotations

import argparse
import json
import math


def nonnegative(text: str) -> float:
    """An argparse type: a finite number >= 0 (a fraction, a margin)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """An argparse type: a significance level, strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level between 0 and 1 (exclusive), got {text}")
    return value


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="trends and regressions over a suite's runs (exit 1 on a regression)")
    p.add_argument("results_dir", help="a suite's results folder, e.g. results/nightly; or a folder of suite "
                   "folders (results/): every suite's report and index.html over them")
    p.add_argument("--reference", metavar="RUN_ID", help="compare the latest run with this run (default: the previous)")
    _cost_options(p)
    p.add_argument("--out", metavar="DIR", help="where report.html and report.json go (default: RESULTS_DIR; "
                   "for a folder of suites, OUT/<suite>/ and OUT/index.html)")
    p.add_argument("--json", action="store_true", help="print report.json instead of the summary")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="two runs side by side, per pipeline and metric, with paired tests")
    p.add_argument("run_a", help="the older or reference run folder (A)")
    p.add_argument("run_b", help="the newer run folder (B)")
    _cost_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_compare)


def _cost_options(p) -> None:
    p.add_argument("--threshold", type=nonnegative, default=0.05, metavar="FRACTION",
                   help="smallest relative change of latency, QPS or memory that counts (default 0.05: 5%%)")
    p.add_argument("--cost-alpha", type=probability, default=0.01, metavar="P",
                   help="significance level of the rank test over repetitions (default 0.01)")
    p.add_argument("--mixed-hardware", action="store_true",
                   help="compare cost figures even when the runs' hardware fingerprints differ")


def cmd_report(args) -> int:
    from . import suite_folders, summary_text, write_report, write_reports

    options = {"reference": args.reference, "threshold": args.threshold, "cost_alpha": args.cost_alpha,
               "mixed_hardware": args.mixed_hardware}
    if suite_folders(args.results_dir):  # a folder of suites: each one's report, and the index
        entries, index = write_reports(args.results_dir, args.out, **options)
        if args.json:
            print(index[0].read_text(), end="")
        else:
            for e in entries:
                print(summary_text(e["report"], e["written"]) if e["report"] else f"{e['suite']}: {e['error']}\n",
                      end="")
            print(f"index: {index[1]}")
        return 1 if any(e["report"] and e["report"]["regressions"] for e in entries) else 0
    report, written = write_report(args.results_dir, args.out, **options)
    print(written[0].read_text() if args.json else summary_text(report, written), end="")
    return 1 if report["regressions"] else 0


def cmd_compare(args) -> int:
    from ..leaderboard import clean
    from . import compare_runs, render_text

    data = clean(compare_runs(args.run_a, args.run_b, threshold=args.threshold, cost_alpha=args.cost_alpha,
                              mixed_hardware=args.mixed_hardware))
    print(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) if args.json else render_text(data), end="")
    if args.json:
        print()
    return 0
