"""The nightly regression corpus: 1,000+ generated bad inputs across the five families of
tests/fuzz/corpus.py, each run as a ``harness`` subprocess (with a timeout), two at a time.

    python -m tests.fuzz.nightly --count 1200 --out DIR      (or: make fuzz)
    python tests/fuzz/nightly.py --count 300 --family evalfile --seed 7 --out DIR

Writes DIR/summary.json (counts, and every failing case with its problems and a way to rerun it)
and keeps each failing case's folder under DIR/cases/<id>/ (its files, and ``cmd`` to rerun it).
Prints the counts: total, by family, exit statuses, tracebacks, crashes (signals, timeouts),
unreported differences from pytrec_eval, other problems. Exits 1 when any traceback, crash or
unreported difference (or any other problem) was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fuzz import check, corpus
else:
    from . import check, corpus

HEADLINE = ("traceback", "crash", "unreported-difference")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.fuzz.nightly", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1200, help="cases in all (default 1200)")
    parser.add_argument("--seed", default="nightly", help="generator seed (default 'nightly': the same cases "
                                                          "every night; give a date for fresh ones)")
    parser.add_argument("--out", default="results/fuzz", help="folder for summary.json and failing cases")
    parser.add_argument("--jobs", type=int, default=2, help="cases at once (default 2)")
    parser.add_argument("--timeout", type=float, default=90, help="seconds per case before it counts as a crash")
    parser.add_argument("--family", action="append", choices=corpus.FAMILIES, help="only these families")
    parser.add_argument("--only", action="append", help="only these case ids")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    families = tuple(args.family or corpus.FAMILIES)
    cases = corpus.cases(args.count, seed=args.seed, families=families)
    if args.only:
        cases = [c for c in cases if c.id in set(args.only)]
    work = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))
    start = time.monotonic()
    base = None
    if any(c.family == "results" for c in cases):
        base = check.make_base_results(work / "base")
    records = []

    def one(case):
        case_dir = work / "cases" / case.id
        try:
            outcome, problems = check.run_case(case, case_dir, base, subprocess_only=True, timeout=args.timeout)
        except Exception as exc:
            return case, None, [("checker-error", f"{type(exc).__name__}: {exc}")], case_dir
        return case, outcome, problems, case_dir

    done = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one, c) for c in cases]
        for future in as_completed(futures):
            case, outcome, problems, case_dir = future.result()
            done += 1
            record = {"id": case.id, "family": case.family, "damage": case.damage,
                      "rc": None if outcome is None else outcome.rc,
                      "timed_out": bool(outcome and outcome.timed_out),
                      "seconds": round(outcome.seconds, 2) if outcome else None,
                      "problems": [{"category": c, "detail": d} for c, d in problems]}
            if problems:
                kept = out / "cases" / case.id
                shutil.rmtree(kept, ignore_errors=True)
                if case_dir.exists():
                    shutil.copytree(case_dir, kept, symlinks=True)
                    argv = outcome.argv if outcome else case.argv
                    record["rerun"] = f"cd {kept} && {shlex.join([str(check.HARNESS), *argv])}"
                    (kept / "cmd").write_text(record["rerun"] + "\n")
                    (kept / "output.txt").write_text((outcome.stdout + "\n--- stderr ---\n" + outcome.stderr)
                                                     if outcome else "")
            shutil.rmtree(case_dir, ignore_errors=True)
            records.append(record)
            if done % 50 == 0:
                print(f"  {done}/{len(cases)} cases, {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    records.sort(key=lambda r: r["id"])
    summary = summarise(records, time.monotonic() - start, args)
    (out / "summary.json").write_text(json.dumps({**summary, "failing": [r for r in records if r["problems"]]},
                                                 indent=1, default=str))
    print_summary(summary, out)
    return 1 if summary["failing_cases"] else 0


def summarise(records, seconds, args) -> dict:
    categories = collections.Counter(p["category"] for r in records for p in r["problems"])
    cases_by = collections.defaultdict(set)
    for r in records:
        for p in r["problems"]:
            cases_by[p["category"]].add(r["id"])
    return {
        "total": len(records),
        "seed": args.seed,
        "seconds": round(seconds, 1),
        "by_family": dict(collections.Counter(r["family"] for r in records)),
        "exit_codes": {str(k): v for k, v in sorted(collections.Counter(
            "timeout" if r["timed_out"] else r["rc"] for r in records).items(), key=lambda kv: str(kv[0]))},
        "exit_codes_by_family": {f: dict(collections.Counter(
            "timeout" if r["timed_out"] else str(r["rc"]) for r in records if r["family"] == f))
            for f in sorted({r["family"] for r in records})},
        "tracebacks": len(cases_by["traceback"]),
        "crashes": len(cases_by["crash"]),
        "unreported_differences": len(cases_by["unreported-difference"]),
        "cases_by_problem": {k: len(v) for k, v in sorted(cases_by.items())},
        "problems": dict(sorted(categories.items())),
        "failing_cases": sum(1 for r in records if r["problems"]),
        "failing_by_family": dict(collections.Counter(r["family"] for r in records if r["problems"])),
    }


def print_summary(summary: dict, out: Path) -> None:
    print(f"fuzz: {summary['total']} inputs in {summary['seconds']:.0f}s (seed {summary['seed']!r})")
    print("  by family:   " + ", ".join(f"{k} {v}" for k, v in summary["by_family"].items()))
    print("  exit codes:  " + ", ".join(f"{k}: {v}" for k, v in summary["exit_codes"].items()))
    print(f"  tracebacks: {summary['tracebacks']}, crashes: {summary['crashes']}, "
          f"unreported differences: {summary['unreported_differences']}")
    others = {k: v for k, v in summary["cases_by_problem"].items() if k not in HEADLINE}
    if others:
        print("  other problems (cases): " + ", ".join(f"{k} {v}" for k, v in others.items()))
    print(f"  failing cases: {summary['failing_cases']} "
          f"({', '.join(f'{k} {v}' for k, v in summary['failing_by_family'].items()) or 'none'})")
    print(f"  summary: {out / 'summary.json'}")


if __name__ == "__main__":
    sys.exit(main())
