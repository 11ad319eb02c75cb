"""The regression corpus: a fixed sample of generated bad inputs (tests/fuzz/corpus.py) across
suites, dataset files, run and qrels files, results folders and plugin outputs, each checked for
what the README promises (tests/fuzz/check.py): exit status 0, 1 or 2 as documented, no
traceback, no partial file, and no number different from pytrec_eval's on the files the harness
read or wrote without a reported reason.

Cases that cannot crash or hang the process run in it (``harness.cli.main``); ``harness eval`` on
generated files (pytrec_eval has crashed the process on some) and cases with huge parameters run as
``harness`` subprocesses with a timeout, marked ``slow``: ``-m "not slow"`` leaves them out. The
nightly size (1,000+ cases, all subprocesses) is ``make fuzz`` (tests/fuzz/nightly.py). A failing
case prints its damage, command line and output; ``python -m tests.fuzz.nightly --only ID
--seed corpus --count N`` is not needed to rerun it: ``pytest tests/fuzz -k ID`` is.
"""

from __future__ import annotations

import pytest

from . import check, corpus

SEED = "corpus"
SAMPLE = {"suite": 45, "dataset": 45, "evalfile": 40, "results": 35, "plugin": 35}  # 200 cases


def _sample() -> list[corpus.Case]:
    out = []
    for family, count in SAMPLE.items():
        out += corpus.cases(count, seed=SEED, families=(family,))
    return out


CASES = _sample()


def _param(case: corpus.Case):
    marks = [pytest.mark.fuzz] + ([] if check.in_process_safe(case) else [pytest.mark.slow])
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case, tmp_path, request):
    base = request.getfixturevalue("fuzz_base") if case.family == "results" else None
    outcome, problems = check.run_case(case, tmp_path / "case", base, timeout=60)
    assert not problems, "\n".join([
        f"{case.id}: {case.damage}",
        f"  harness {' '.join(outcome.argv)}   (in {tmp_path / 'case'}; exit {outcome.rc})",
        *(f"  {category}: {detail}" for category, detail in problems),
        "  --- stdout (tail) ---", outcome.stdout[-1500:],
        "  --- stderr (tail) ---", (outcome.escaped or outcome.stderr)[-2500:],
    ])


def test_sample_covers_every_family_and_kind():
    """The sample is what it says: every family, in the sizes above, the same cases every run."""
    assert [c.family for c in CASES].count("evalfile") == SAMPLE["evalfile"]
    assert {c.family for c in CASES} == set(corpus.FAMILIES)
    assert [c.id for c in _sample()] == [c.id for c in CASES]
    assert [c.damage for c in _sample()] == [c.damage for c in CASES]


def test_the_oracle_reads_as_trec_eval_does():
    """The oracle's reading (tests/fuzz/oracle.py), not the harness's: C atof/atol, C whitespace,
    no comments, bytes up to NUL."""
    from . import oracle

    assert [oracle.atof(s) for s in ("1_000", "0x1p3", "1.5abc", ".5", "x", "-inf", "1e400")] == \
        [1.0, 8.0, 1.5, 0.5, 0.0, float("-inf"), float("inf")]
    assert oracle.atol("1_0") == 1 and oracle.atol("+2") == 2
    run = oracle.parse_run(b"#q1 Q0 d\x1c1 1 2.0 t\r\nq1 Q0 d2 1 1_000 t\n")
    assert run == {"#q1": {"d\x1c1": 2.0}, "q1": {"d2": 1.0}}
    with pytest.raises(oracle.Undefined):
        oracle.parse_run(b"q1 Q0 d1 1 1 t\nq1 Q0 d1 2 0.5 t\n")
    assert oracle.trec_sorted({"d9": 1.0, "d10": 1.0, "d1": 1.0 + 1e-12}) == ["d9", "d10", "d1"]


def test_a_wrong_number_is_caught(tmp_path):
    """The eval check is not vacuous: a clean case passes, and the same output with one number
    changed is an unreported difference."""
    import random

    case = next(c for i in range(200) if "clean" in (c := corpus.gen_evalfile(random.Random(i), i)).damage
                and "," not in c.damage and "-m" not in c.argv and "--precision" not in c.argv
                and c.argv[1] == "qrels.txt")
    outcome, problems = check.run_case(case, tmp_path / "case", None, timeout=60)
    assert outcome.rc == 0 and not problems, (problems, outcome.stderr)
    lines = outcome.stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("nDCG ") and "\tall\t" in line)
    value = float(lines[i].rsplit("\t", 1)[1])
    lines[i] = lines[i].rsplit("\t", 1)[0] + f"\t{(value + 0.01) % 1:.4f}"
    outcome.stdout = "\n".join(lines) + "\n"
    assert [c for c, _ in check.check(case, tmp_path / "case", outcome)] == ["unreported-difference"]
