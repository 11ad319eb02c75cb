"""Reading TREC run and qrels files, against pytrec_eval's own parsers; ``harness eval`` as a whole
process, against a script using pytrec_eval's parsers and ``RelevanceEvaluator``.

(a) ``trecfiles.read_run(path)`` against ``pytrec_eval.parse_run(open(path))`` on a run file of
    1,000 queries × 1,000 documents (1,000,000 lines);
(b) ``trecfiles.read_qrels(path)`` against ``pytrec_eval.parse_qrel(open(path))`` on a qrels file
    of as many lines (each of those documents judged 0–3);
(c) ``harness eval QRELS RUN -m nDCG@10 -m AP``, a fresh process, against a fresh process running
    parse_qrel, parse_run and ``RelevanceEvaluator(qrels, {"ndcg_cut.10", "map"}).evaluate(run)``
    and printing the means (the qrels: 20 judgments per query, as collections have).

Seeded data, written as the harness writes run files (scores as ``repr`` of a float, single
spaces). ``make bench`` times each, then ``test_ratios`` times them again in turn (the best of 5
rounds each: ``time.perf_counter`` for (a) and (b), a subprocess's wall time for (c)), prints the
ratios (harness ÷ pytrec_eval) and asserts (a) and (b) at most 1.0 and (c) at most 1.2;
docs/metrics.md quotes them. The readers make every check they always made (docs/datasets.md,
"What is checked"): that is inside these times.
``pytest benchmarks --benchmark-disable`` (the CI smoke) reads 30 queries × 40 documents each
way once, asserts the parsed values identical, and runs (c) once with equal printed means; it
skips the ratios, which noise must never fail.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval

from harness.trecfiles import read_qrels, read_run

QUERIES, DEPTH, JUDGED = 1_000, 1_000, 20
SMOKE = (30, 40, 5)
ROUNDS, READ_LIMIT, EVAL_LIMIT = 5, 1.0, 1.2
GROUP = pytest.mark.benchmark(group=f"read TREC files: {QUERIES * DEPTH:,} lines")

PEER = """\
import sys

import pytrec_eval

with open(sys.argv[1]) as f:
    qrels = pytrec_eval.parse_qrel(f)
with open(sys.argv[2]) as f:
    run = pytrec_eval.parse_run(f)
results = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map"}).evaluate(run)
for key in ("ndcg_cut_10", "map"):
    print(key, sum(v[key] for v in results.values()) / len(results))
"""


@pytest.fixture(scope="module")
def files(request, tmp_path_factory) -> dict[str, Path]:
    smoke = request.config.getoption("benchmark_disable")
    queries, depth, judged = SMOKE if smoke else (QUERIES, DEPTH, JUDGED)
    folder = tmp_path_factory.mktemp("trecfiles")
    rng = np.random.default_rng(0)
    scores = -np.sort(-rng.random((queries, depth)), axis=1)
    docs = (rng.integers(0, 1_000_000, (queries, 1)) + np.arange(depth) * 97) % 1_000_000
    grades = rng.integers(0, 4, (queries, depth))
    grades[:, 0] = 1  # a positive judgment per query
    out = {name: folder / name for name in ("run.trec", "qrels.txt", "qrels20.txt", "peer.py")}
    with open(out["run.trec"], "w") as run, open(out["qrels.txt"], "w") as qrels, \
            open(out["qrels20.txt"], "w") as few:
        for i in range(queries):
            ids, values = docs[i].tolist(), scores[i].tolist()
            ranked = enumerate(zip(ids, values, strict=True), 1)
            run.write("".join(f"q{i} Q0 d{d} {r} {s!r} bench\n" for r, (d, s) in ranked))
            lines = [f"q{i} 0 d{d} {g}\n" for d, g in zip(ids, grades[i].tolist(), strict=True)]
            qrels.write("".join(lines))
            few.write("".join(lines[j] for j in sorted(rng.choice(depth, min(judged, depth), replace=False).tolist())))
    out["peer.py"].write_text(PEER)
    return out


def parse_run(path: Path):
    with open(path) as f:
        return pytrec_eval.parse_run(f)


def parse_qrel(path: Path):
    with open(path) as f:
        return pytrec_eval.parse_qrel(f)


READERS = {
    "(a) read_run": lambda f: read_run(f["run.trec"]),
    "(a) pytrec_eval.parse_run": lambda f: parse_run(f["run.trec"]),
    "(b) read_qrels": lambda f: read_qrels(f["qrels.txt"]),
    "(b) pytrec_eval.parse_qrel": lambda f: parse_qrel(f["qrels.txt"]),
}


def eval_commands(f: dict[str, Path]) -> dict[str, list[str]]:
    qrels, run = str(f["qrels20.txt"]), str(f["run.trec"])
    return {"(c) harness eval": [sys.executable, "-m", "harness", "eval", qrels, run, "-m", "nDCG@10", "-m", "AP"],
            "(c) pytrec_eval script": [sys.executable, str(f["peer.py"]), qrels, run]}


def run_command(command: list[str]) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def means(output: str) -> list[float]:
    """The two means a command printed (harness eval: ``metric  all  value``; the script: ``measure value``)."""
    return [float(line.split()[-1]) for line in output.splitlines() if line.strip()][:2]


@GROUP
@pytest.mark.parametrize("case", list(READERS))
def test_read(benchmark, files, case):
    result = benchmark.pedantic(READERS[case], args=(files,), rounds=ROUNDS, iterations=1)
    assert len(result) == (SMOKE[0] if benchmark.disabled else QUERIES)


def test_same_values(files):
    """Both readers give the same values: the run's every score, the qrels' every grade."""
    assert read_run(files["run.trec"]).scores == parse_run(files["run.trec"])
    assert read_qrels(files["qrels.txt"]) == dict(parse_qrel(files["qrels.txt"]))
    assert read_qrels(files["qrels20.txt"]) == dict(parse_qrel(files["qrels20.txt"]))


@pytest.mark.benchmark(group="harness eval, whole process")
@pytest.mark.parametrize("case", ["(c) harness eval", "(c) pytrec_eval script"])
def test_eval_process(benchmark, files, case):
    output = benchmark.pedantic(run_command, args=(eval_commands(files)[case],), rounds=ROUNDS, iterations=1)
    peer = run_command(eval_commands(files)["(c) pytrec_eval script"])
    assert means(output) == pytest.approx(means(peer), abs=5e-5)  # harness eval prints 4 decimals


@pytest.mark.benchmark(group="read TREC files: ratios (each the best of 5, in turn)")
def test_ratios(benchmark, files):
    """(a), (b), (c) against their pytrec_eval peers, timed in turn so that a busy moment hits both alike."""
    if benchmark.disabled:
        pytest.skip("ratios are measured only with benchmarks enabled (make bench)")
    commands = eval_commands(files)

    def measure() -> dict[str, float]:
        best = dict.fromkeys([*READERS, *commands], float("inf"))
        for _ in range(ROUNDS):
            for name, case in READERS.items():
                gc.collect()
                started = time.perf_counter()
                result = case(files)
                best[name] = min(best[name], time.perf_counter() - started)
                del result
            for name, command in commands.items():
                started = time.perf_counter()
                run_command(command)
                best[name] = min(best[name], time.perf_counter() - started)
        return best

    best = benchmark.pedantic(measure, rounds=1, iterations=1)
    pairs = {"(a) read_run / pytrec_eval.parse_run": ("(a) read_run", "(a) pytrec_eval.parse_run"),
             "(b) read_qrels / pytrec_eval.parse_qrel": ("(b) read_qrels", "(b) pytrec_eval.parse_qrel"),
             "(c) harness eval / pytrec_eval script": ("(c) harness eval", "(c) pytrec_eval script")}
    ratios = {name: best[ours] / best[theirs] for name, (ours, theirs) in pairs.items()}
    benchmark.extra_info.update({name: round(ratio, 3) for name, ratio in ratios.items()})
    print()
    for name, seconds in best.items():
        print(f"{name:<28} {seconds:7.3f} s")
    for name, ratio in ratios.items():
        print(f"{name:<42} {ratio:5.2f}x")
    assert ratios["(a) read_run / pytrec_eval.parse_run"] <= READ_LIMIT
    assert ratios["(b) read_qrels / pytrec_eval.parse_qrel"] <= READ_LIMIT
    assert ratios["(c) harness eval / pytrec_eval script"] <= EVAL_LIMIT
