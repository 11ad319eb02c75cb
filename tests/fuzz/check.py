"""Running a corpus case (in process or as a ``harness`` subprocess) and checking what it left.

For every case: an exit status of 0, 1 or 2 as documented (1 only where a command has bad news to
give: ``run`` with failed cells, ``report`` with a regression), no traceback, an ``error:`` line
with status 2, no partial file (``*.tmp``, a hidden temporary folder, a cell JSON that does not
parse, a run.json left ``running``), a leaderboard for a run that ended; and where an oracle
applies, every number equal to pytrec_eval's on the files the harness read or wrote, unless the
harness reported a reason. Problems come back as ``(category, detail)`` pairs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    from . import corpus, oracle
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fuzz import corpus, oracle

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parents[1]
TESTS = ROOT / "tests"
HARNESS = ROOT / ".venv" / "bin" / "harness"
EVAL_DEFAULT = ["AP", "nDCG", "nDCG@10", "P@10", "R@100", "RR", "Rprec", "Bpref"]
TRACEBACK = "Traceback (most recent call last)"
ANOMALY_WORDS = {
    "not_in_corpus": r"not in the corpus|absent from the corpus|not in (?:its |the )?corpus|unknown doc|"
                     r"missing from the corpus|not_in_corpus|judged_not_in_corpus|docs?_not_in_corpus",
    "zero_padded": r"zero[- _]?pad|padded|leading zero",
    "all_zero": r"all[- _]?zero|all 0|all of them 0|judgments are all 0|only 0|no relevant|without relevant|"
                r"no judgment of grade 1|no_positive|no positive",
    "unjudged": r"without judgments?|no judgments?|unjudged|not judged|without any judgment",
}
REASON = re.compile(r"^\s*(warning|note|notice)\b", re.I | re.M)


@dataclass
class Outcome:
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    escaped: str | None = None  # in process: an exception that got out of harness.cli.main
    argv: list = field(default_factory=list)


def plugin_env(env: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env)
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FUZZ), str(TESTS), env.get("PYTHONPATH", "")]))
    modules = [m for m in env.get("HARNESS_PLUGIN_MODULES", "").split(",") if m.strip()]
    env["HARNESS_PLUGIN_MODULES"] = ",".join(dict.fromkeys([*modules, "badplugins"]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


# -- materialising a case -------------------------------------------------------------------------


def make_base_results(folder: Path, timeout: float = 300) -> Path:
    """A real results root made by running corpus.BASE_SUITE twice (two finished runs) in
    ``folder``; returns the root. Made once per session and copied for each results case."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus.beir_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "suite.toml").write_text(corpus.BASE_SUITE)
    for extra in ([], ["--new", "--set", "pipelines.good.retriever.plugin=\"bm25\""]):
        done = subprocess.run([str(HARNESS), "run", "suite.toml", "--results", "res", "--quiet", *extra],
                              cwd=folder, env=plugin_env(), capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the base results folder could not be made: {done.stderr[-3000:]}")
        time.sleep(1.1)  # run ids have a one-second resolution
    return folder / "res"


def _run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/*/run.json"))


def materialise(case: corpus.Case, case_dir: Path, base: Path | None = None) -> list[str]:
    """Write the case's files under ``case_dir`` (fresh); returns the command line to run there."""
    shutil.rmtree(case_dir, ignore_errors=True)
    case_dir.mkdir(parents=True)
    for name, data in case.files.items():
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, target in case.symlinks.items():
        os.symlink(target, case_dir / name)
    argv = list(case.argv)
    if case.family == "results":
        assert base is not None, "results cases need the base results folder"
        shutil.copytree(base, case_dir / "res", symlinks=True)
        runs = _run_dirs(case_dir / "res")
        run, run2 = runs[0], runs[-1]
        corpus.apply_tamper(case.tamper, run, run2, case_dir)
        subs = {"{run}": str(run.relative_to(case_dir)), "{run2}": str(run2.relative_to(case_dir)),
                "{suite}": str(run.parent.relative_to(case_dir))}
        argv = [subs.get(a, a) for a in argv]
    return argv


# -- running ------------------------------------------------------------------------------------


def run_subprocess(argv: list[str], case_dir: Path, timeout: float) -> Outcome:
    start = time.monotonic()
    proc = subprocess.Popen([str(HARNESS), *argv], cwd=case_dir, env=plugin_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the harness and its cell workers: our own process group
        out, err = proc.communicate()
        timed_out = True
    return Outcome(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                   time.monotonic() - start, timed_out, argv=argv)


def run_inprocess(argv: list[str], case_dir: Path) -> Outcome:
    """``harness.cli.main(argv)`` in ``case_dir`` with badplugins registered; what it printed."""
    from harness import cli
    from harness.plugins import reset_registry

    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    os.environ.update(plugin_env())
    for p in (str(FUZZ), str(TESTS)):
        if p not in sys.path:
            sys.path.insert(0, p)
    reset_registry()
    out, err = io.StringIO(), io.StringIO()
    escaped, rc = None, None
    start = time.monotonic()
    try:
        os.chdir(case_dir)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except SystemExit as exc:  # argparse's usage errors exit 2; anything else escaped
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if rc not in (0, 2) or "usage:" not in err.getvalue():
                    escaped = f"SystemExit({exc.code!r}) escaped harness.cli.main"
            except BaseException as exc:
                import traceback

                escaped = "".join(traceback.format_exception(exc))
                rc = None
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        reset_registry()
    return Outcome(rc, out.getvalue(), err.getvalue(), time.monotonic() - start, escaped=escaped, argv=argv)


# -- checking -------------------------------------------------------------------------------------


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _texts(case_dir: Path, outcome: Outcome) -> str:
    parts = [outcome.stdout, outcome.stderr]
    for md in list(case_dir.glob("res/*/*/leaderboard.md"))[:5]:
        with contextlib.suppress(OSError):
            parts.append(md.read_text(encoding="utf-8", errors="replace"))
    for cell in list(case_dir.glob("res/*/*/cells/*.json"))[:10]:
        data = _json(cell)
        if isinstance(data, dict):
            parts.append(json.dumps({k: data.get(k) for k in ("dataset", "evaluation", "warnings", "notes",
                                                              "checks", "error")}))
    return "\n".join(parts)


def partial_files(root: Path, tampered: bool = False) -> list[str]:
    """Traces of an interrupted write under a results root."""
    found = []
    if not root.exists():
        return found
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        name = path.name
        if name.endswith(".tmp") and not (tampered and name == ".x.json.abc.tmp"):
            found.append(f"temporary file left: {rel}")
        elif name.startswith(".") and name not in (".cache", ".locks") and path.is_dir() and \
                rel.parts[0] == ".cache":
            found.append(f"hidden temporary cache folder left: {rel}")
    if not tampered:
        for run_json in root.glob("*/*/run.json"):
            manifest = _json(run_json)
            if not isinstance(manifest, dict):
                found.append(f"run.json does not parse: {run_json.relative_to(root)}")
            elif manifest.get("status") == "running":
                found.append(f"run.json left 'running': {run_json.relative_to(root)}")
        for cell in root.glob("*/*/cells/*.json"):
            if _json(cell) is None:
                found.append(f"cell JSON does not parse: {cell.relative_to(root)}")
    return found


def _eval_labels(argv: list[str]) -> list[str]:
    labels = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-m", "--measure")]
    return labels or EVAL_DEFAULT


def _precision(argv: list[str]) -> int:
    if "--precision" in argv:
        with contextlib.suppress(ValueError, IndexError):
            return int(argv[argv.index("--precision") + 1])
    return 4


_LINE = re.compile(r"^(\S[^\t]*?)\s*\t([^\t]*)\t\s*(\S+)$")


def check_eval(case_dir: Path, outcome: Outcome, answer: dict) -> list[tuple[str, str]]:
    """``harness eval``'s printed numbers against the oracle's answer for the same files."""
    argv = outcome.argv
    reported = bool(REASON.search(outcome.stderr))
    printed, other = {}, []
    for line in outcome.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            printed[(m.group(1), m.group(2))] = m.group(3)
        elif line.strip():
            other.append(line)
    reported = reported or bool(other)
    if answer.get("oracle_error"):
        return [("oracle-error", answer["oracle_error"])]
    if not answer["defined"]:
        if outcome.rc == 0 and not reported:
            return [("accepted-undefined", f"exit 0 and no warning, but trec_eval cannot read these files as "
                                           f"given: {answer['reason']}")]
        return []
    if reported:
        return []
    problems = []
    tolerance = 0.5 * 10 ** -_precision(argv) + 1e-9
    per_query_flag = "-q" in argv
    for label, value in answer["values"].items():
        if value is None:
            continue
        shown = printed.get((label, "all"))
        if shown is None:
            problems.append(("unreported-difference", f"{label}: no 'all' line printed"))
            continue
        try:
            number = float(shown)
        except ValueError:
            problems.append(("unreported-difference", f"{label}: printed {shown!r}"))
            continue
        if not abs(number - value["all"]) <= tolerance:
            problems.append(("unreported-difference", f"{label} all: printed {shown}, pytrec_eval {value['all']!r}"))
        if per_query_flag:
            got = {q: v for (lab, q), v in printed.items() if lab == label and q != "all"}
            want = value["per_query"]
            if set(got) != set(want):
                problems.append(("unreported-difference", f"{label}: per-query lines for {sorted(got)[:6]}, "
                                                          f"pytrec_eval has {sorted(want)[:6]}"))
            for q in set(got) & set(want):
                if not abs(float(got[q]) - want[q]) <= tolerance:
                    problems.append(("unreported-difference",
                                     f"{label} {q!r}: printed {got[q]}, pytrec_eval {want[q]!r}"))
    return problems[:6]


def cell_requests(case: corpus.Case, case_dir: Path) -> list[tuple[Path, dict, dict]]:
    """(cell file, cell, oracle request) for every ok cell with a run file, when the case knows its qrels."""
    out = []
    if case.oracle != "cells" or not case.qrels:
        return out
    for run_dir in _run_dirs(case_dir / "res"):
        for path in sorted((run_dir / "cells").glob("*.json")):
            cell = _json(path)
            if not isinstance(cell, dict) or cell.get("status") != "ok" or not isinstance(cell.get("metrics"), dict):
                continue
            run_file = cell.get("run_file")
            if not isinstance(run_file, str) or not (run_dir / run_file).is_file():
                continue
            labels = [m for m in cell["metrics"] if oracle.measure_of(m)]
            out.append((path, cell, {"run": str(run_dir / run_file), "qrels_dict": case.qrels, "labels": labels,
                                     "complete": True}))
    return out


def _reason_in_cell(cell: dict, label: str) -> bool:
    details = ((cell.get("evaluation") or {}).get("details") or {}).get(label) or {}
    if isinstance(details, dict) and any(k in details for k in ("unavailable", "note", "notes", "warning",
                                                                "warnings", "reason")):
        return True
    return any(cell.get(k) for k in ("warnings", "notes"))


def check_cells(pairs, answers) -> list[tuple[str, str]]:
    problems = []
    for (path, cell, _), answer in zip(pairs, answers, strict=True):
        name = f"{path.parent.parent.name}/{path.name}"
        if answer.get("oracle_error"):
            problems.append(("oracle-error", f"{name}: {answer['oracle_error']}"))
            continue
        if not answer["defined"]:
            problems.append(("run-file-unreadable", f"{name} is ok, but its run file is not one trec_eval reads: "
                                                    f"{answer['reason']}"))
            continue
        for label, value in answer["values"].items():
            if value is None or _reason_in_cell(cell, label):
                continue
            got = cell["metrics"].get(label)
            if got is None:
                continue
            if not isinstance(got, (int, float)) or not abs(got - value["all"]) <= 1e-9:
                problems.append(("unreported-difference", f"{name} {label}: cell {got!r}, pytrec_eval on its run "
                                                          f"file {value['all']!r}"))
                continue
            per_query = (cell.get("per_query") or {}).get(label) or {}
            for q, v in per_query.items() if isinstance(per_query, dict) else []:
                want = value["per_query"].get(q, 0.0)
                if not isinstance(v, (int, float)) or not abs(v - want) <= 1e-9:
                    problems.append(("unreported-difference", f"{name} {label} query {q!r}: cell {v!r}, "
                                                              f"pytrec_eval {want!r}"))
                    break
    return problems


def check(case: corpus.Case, case_dir: Path, outcome: Outcome, oracle_timeout: float = 120) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    command = outcome.argv[0] if outcome.argv else ""
    both = outcome.stdout + outcome.stderr
    if outcome.timed_out:
        problems.append(("crash", f"timed out after {outcome.seconds:.0f}s"))
    elif outcome.escaped:
        problems.append(("traceback", f"escaped harness.cli.main: {outcome.escaped.strip().splitlines()[-1][:300]}"))
    elif outcome.rc is not None and outcome.rc < 0:
        problems.append(("crash", f"killed by signal {signal.Signals(-outcome.rc).name}"))
    elif outcome.rc == 70 or TRACEBACK in both:
        last = [line for line in both.splitlines() if line.strip() and not line.startswith("harness: internal")]
        problems.append(("traceback", f"exit {outcome.rc}: {last[-1][:300] if last else ''}"))
    elif outcome.rc not in (0, 1, 2):
        problems.append(("exit-code", f"exit {outcome.rc}: {both.strip()[-300:]}"))
    elif outcome.rc == 1 and command not in ("run", "report", "plugins"):
        problems.append(("exit-code", f"exit 1 from {command!r}, which has no bad news to give: {both.strip()[-200:]}"))
    if outcome.rc == 2 and not outcome.timed_out and not outcome.stderr.strip():
        problems.append(("exit-code", "exit 2 and nothing on stderr saying what is wrong"))
    crashed = bool(problems)
    tampered = case.family == "results"
    problems += [("partial-file", p) for p in partial_files(case_dir / "res", tampered)]
    for page in (case_dir / "res").glob("**/*.html") if (case_dir / "res").exists() else []:
        with contextlib.suppress(OSError):
            if corpus.MARKER in page.read_text(encoding="utf-8", errors="replace"):
                problems.append(("unsafe", f"{page.relative_to(case_dir)} holds the name {corpus.MARKER!r} unescaped"))
    if crashed:
        return problems
    if command == "run" and outcome.rc in (0, 1):
        runs = _run_dirs(case_dir / "res")
        if not runs:
            problems.append(("partial-file", "exit 0/1 but no run folder"))
        for run_dir in runs:
            manifest = _json(run_dir / "run.json") or {}
            formats = (manifest.get("output") or {}).get("leaderboard") or []
            if formats and not list(run_dir.glob("leaderboard.*")):
                problems.append(("no-leaderboard", f"{run_dir.name}: finished run without its leaderboard"))
    texts = None
    if case.family == "results" and outcome.rc == 0:
        texts = _texts(case_dir, outcome)
        written = "".join(p.read_text(errors="replace") for p in (case_dir / "res").glob("*/*/leaderboard.*")
                          if p.is_file()) if (case_dir / "res").exists() else ""
        if corpus.OUTSIDE in texts + written:
            problems.append(("unsafe", "a file outside the results folder was read (its pipeline name is shown)"))
        op = case.tamper[0]
        cellish = op in ("truncate", "bytes", "symlink", "swap", "delete", "remove") and \
            (len(case.tamper) < 2 or case.tamper[1] in ("cell", "cells"))
        if op in ("truncate", "bytes", "symlink") and cellish:
            if not re.search(r"tiny__good__cpu|tiny__bm25__cpu|tiny__reranked__cpu|skipp|ignor|warning|unread",
                             outcome.stdout + outcome.stderr):
                problems.append(("silently-dropped", f"tampered cell ({case.damage}) and exit 0 with no word of it"))
    if case.anomalies and outcome.rc in (0, 1):
        texts = texts or _texts(case_dir, outcome)
        ok_cells = [c for c in ((_json(p) or {}) for p in case_dir.glob("res/*/*/cells/*.json"))
                    if isinstance(c, dict) and c.get("status") == "ok"]
        if ok_cells:
            for anomaly in case.anomalies:
                if not re.search(ANOMALY_WORDS[anomaly], texts, re.I):
                    problems.append(("unreported-anomaly", f"{anomaly}: the dataset has it, nothing says so"))
    if command == "run" and outcome.rc in (0, 1):
        problems += internal_cell_errors(case_dir)
    if case.family == "plugin" and outcome.rc in (0, 1):
        for path in case_dir.glob("res/*/*/cells/*.json"):
            cell = _json(path) or {}
            pipeline = (cell.get("cell") or {}).get("pipeline")
            if pipeline == "good" and cell.get("status") != "ok":
                problems.append(("good-cell-lost", f"the well-behaved pipeline's cell failed: "
                                                   f"{str(cell.get('error'))[:200]}"))
            if cell.get("status") == "ok" and "metric" in case.damage.split(";")[0]:
                lost = [m for m, v in (cell.get("metrics") or {}).items() if v is None and oracle.measure_of(m)]
                if lost:
                    problems.append(("good-cell-lost", f"{pipeline}: built-in metrics lost to a bad plugin metric: "
                                                       f"{lost}"))
            if cell.get("status") == "failed" and "metric" in case.damage.split(";")[0]:
                problems.append(("good-cell-lost", f"{pipeline}: a bad metric failed the whole cell: "
                                                   f"{str((cell.get('error') or {}).get('message'))[:200]}"))
    # the oracles
    if case.oracle == "eval" and outcome.rc == 0:
        answer = oracle.ask([{"run": str(case_dir / "run.txt"), "qrels": str(case_dir / "qrels.txt"),
                              "labels": _eval_labels(outcome.argv), "complete": "-c" in outcome.argv}],
                            timeout=oracle_timeout)[0]
        problems += check_eval(case_dir, outcome, answer)
    elif case.oracle == "cells" and outcome.rc in (0, 1):
        pairs = cell_requests(case, case_dir)
        if pairs:
            answers = oracle.ask([r for _, _, r in pairs], timeout=oracle_timeout)
            problems += check_cells(pairs, answers)
    return problems


def _harness_error_names() -> set[str]:
    import harness.runner  # noqa: F401 - imports the modules that define the errors
    from harness.errors import HarnessError

    names, todo = set(), [HarnessError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def internal_cell_errors(case_dir: Path) -> list[tuple[str, str]]:
    """Failed cells whose error is a bug in the harness: an exception that is no HarnessError,
    raised in harness code (a plugin's own exceptions, raised in tests/fuzz/badplugins.py, are fine)."""
    out = []
    names = None
    for path in case_dir.glob("res/*/*/cells/*.json"):
        cell = _json(path)
        error = cell.get("error") if isinstance(cell, dict) and cell.get("status") == "failed" else None
        if not isinstance(error, dict):
            continue
        frames = re.findall(r'File "([^"]+)", line \d+', str(error.get("traceback") or ""))
        if not frames or "badplugins" in frames[-1] or "/harness/" not in frames[-1]:
            continue
        names = names or _harness_error_names()
        if error.get("type") in names or error.get("type") in ("Killed", "Timeout", "WorkerError"):
            continue
        out.append(("cell-internal-error", f"{path.name}: {error.get('type')}: {str(error.get('message'))[:200]} "
                                           f"(raised at {frames[-1].split('/harness/')[-1]})"))
    return out


def in_process_safe(case: corpus.Case) -> bool:
    return not case.risky and case.family != "evalfile"


def run_case(case: corpus.Case, case_dir: Path, base: Path | None, *, subprocess_only: bool = False,
             timeout: float = 60) -> tuple[Outcome, list[tuple[str, str]]]:
    argv = materialise(case, case_dir, base)
    if subprocess_only or not in_process_safe(case):
        outcome = run_subprocess(argv, case_dir, timeout)
    else:
        outcome = run_inprocess(argv, case_dir)
    try:
        problems = check(case, case_dir, outcome)
    except Exception as exc:
        problems = [("checker-error", f"{type(exc).__name__}: {exc}")]
    return outcome, problems

