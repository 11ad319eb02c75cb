"""The oracle: what pytrec_eval (trec_eval's measures) says about a run file and a qrels file, the
files read the way trec_eval 9 reads them, independently of harness/trecfiles.py.

trec_eval's reading, as emulated here: the file is bytes; lines end at ``\\n`` only; columns are
separated by C ``isspace`` characters (space, ``\\t``, ``\\v``, ``\\f``, ``\\r``), nothing else; no comment
lines (a ``#`` is an ordinary character); a run line needs at least 6 columns (the rest ignored), a
qrels line exactly 4; a score is C ``atof`` of its column (the longest numeric prefix: ``1_000``
reads 1, ``1.5abc`` 1.5, ``0x1p3`` 8, garbage 0), a grade C ``atol``. Where trec_eval would stop with
an error, or its reading is not defined for the harness to match (a file that is not UTF-8, a NUL
inside an id, a document twice in one query, a qrels pair judged twice, an empty file, a grade its
measures cannot take), the answer is ``undefined`` with the reason: the harness must then refuse
the input or say what it did.

pytrec_eval is evaluated one measure at a time and only here, in a process of its own (run this
file as a script: a JSON request on stdin, the JSON answer on stdout), so no crash of it reaches the
caller. The parsing half imports nothing outside the standard library.
"""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

C_SPACE = b" \t\n\v\f\r"
_SPLIT = re.compile(rb"[ \t\v\f\r]+")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?")
_SPECIAL = re.compile(r"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.I)
_DEC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_LONG = re.compile(r"[+-]?\d+")
GRADE_RANGE = (-(2**31), 10_000)  # beyond it trec_eval's measures take minutes or crash


class Undefined(Exception):
    """trec_eval would refuse this input, or its reading of it is not something to match."""


def atof(text: str) -> float:
    """C ``atof``: the longest prefix that is a number, else 0."""
    for pattern, convert in ((_HEX, lambda s: float.fromhex(s)), (_SPECIAL, float), (_DEC, float)):
        m = pattern.match(text)
        if m:
            token = m.group()
            if pattern is _SPECIAL:
                token = re.sub(r"\(.*\)", "", token)
            try:
                return convert(token)
            except (ValueError, OverflowError):
                return math.inf if not token.startswith("-") else -math.inf
    return 0.0


def atol(text: str) -> int:
    m = _LONG.match(text)
    return int(m.group()) if m else 0


def single(value: float) -> float:
    """A double as a C float (what trec_eval compares), inf beyond its range."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def _rows(data: bytes, what: str, allow_empty: bool = False):
    if not data.strip(C_SPACE) and not allow_empty:
        raise Undefined(f"{what} file is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise Undefined(f"{what} file is not UTF-8") from None
    for number, line in enumerate(data.split(b"\n"), 1):
        cols = [c for c in _SPLIT.split(line) if c]
        if not cols:
            continue
        if any(b"\x00" in c for c in cols):
            raise Undefined(f"{what} line {number}: a NUL byte in a column (C strings end there)")
        yield number, [c.decode("utf-8") for c in cols]


def parse_run(data: bytes, allow_empty: bool = False) -> dict[str, dict[str, float]]:
    """``allow_empty``: an empty file is a run with no results (a run file the harness wrote for a
    cell that retrieved nothing), not an error."""
    run: dict[str, dict[str, float]] = {}
    for number, cols in _rows(data, "run", allow_empty):
        if len(cols) < 6:
            raise Undefined(f"run line {number}: {len(cols)} columns (trec_eval: malformed line)")
        docs = run.setdefault(cols[0], {})
        if cols[2] in docs:
            raise Undefined(f"run line {number}: document {cols[2]!r} twice for query {cols[0]!r}")
        score = atof(cols[4])
        if math.isnan(score):
            raise Undefined(f"run line {number}: score {cols[4]!r} is NaN (no order)")
        docs[cols[2]] = score
    return run


def parse_qrels(data: bytes) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, cols in _rows(data, "qrels"):
        if len(cols) != 4:
            raise Undefined(f"qrels line {number}: {len(cols)} columns (trec_eval: malformed line)")
        grade = atol(cols[3])
        if not GRADE_RANGE[0] <= grade <= GRADE_RANGE[1]:
            raise Undefined(f"qrels line {number}: grade {grade} outside what trec_eval's measures take")
        docs = qrels.setdefault(cols[0], {})
        if cols[2] in docs:
            raise Undefined(f"qrels line {number}: query {cols[0]!r}, document {cols[2]!r} judged twice")
        docs[cols[2]] = grade
    return qrels


# -- measures ------------------------------------------------------------------------------------

_LABEL = re.compile(r"^(?P<name>[A-Za-z]+)(?:\(rel=(?P<rel>-?\d+)\))?(?:@(?P<k>\d+))?$")
_TREC = {"AP": ("map", "map_cut"), "nDCG": ("ndcg", "ndcg_cut"), "P": (None, "P"), "R": (None, "recall"),
         "RR": ("recip_rank", None), "Rprec": ("Rprec", None), "Bpref": ("bpref", None)}


def measure_of(label: str):
    """(pytrec_eval measure, result key, relevance level) for a harness label, ("RR@k", k, 1) for
    RR with a cutoff (computed here), or None when there is no trec_eval counterpart."""
    m = _LABEL.match(label)
    if not m or m.group("name") not in _TREC:
        return None
    name, k, rel = m.group("name"), m.group("k"), int(m.group("rel") or 1)
    if m.group("rel") and name != "P":
        return None
    plain, cut = _TREC[name]
    if k is None:
        return (plain, plain, rel) if plain else None
    if name == "RR":
        return ("RR@k", int(k), rel)
    if cut is None:
        return None
    return (f"{cut}.{k}", f"{cut}_{k}", rel)


def trec_sorted(docs: dict[str, float]) -> list[str]:
    """Document ids in trec_eval's order: C-float score descending, then id descending (strcmp)."""
    return [d for d, _ in sorted(docs.items(), key=lambda x: (single(x[1]), x[0].encode()), reverse=True)]


def _evaluate(qrels, run, label):
    """Per-query values for the queries of ``run`` that ``qrels`` judges."""
    spec = measure_of(label)
    if spec is None:
        return None
    measure, key, rel = spec
    shared = {q: docs for q, docs in run.items() if q in qrels and docs}
    if measure == "RR@k":
        out = {}
        for q, docs in shared.items():
            ranked = trec_sorted(docs)[:key]
            first = next((i for i, d in enumerate(ranked, 1) if qrels[q].get(d, 0) >= rel), None)
            out[q] = 1.0 / first if first else 0.0
        return out
    import pytrec_eval

    if not shared:
        return {}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {measure}, relevance_level=rel)
    return {q: values[key] for q, values in evaluator.evaluate(shared).items()}


def evaluate(qrels, run, labels, complete):
    """{label: {"all": value, "per_query": {...}}} (None for labels without a counterpart)."""
    out = {}
    for label in labels:
        per_query = _evaluate(qrels, run, label)
        if per_query is None:
            out[label] = None
            continue
        order = sorted(per_query, key=str.encode)
        total = 0.0
        for q in order:
            total += per_query[q]
        n = len(qrels) if complete else len(per_query)
        out[label] = {"all": total / n if n else 0.0, "per_query": per_query}
    return out


def answer(request: dict) -> dict:
    """One request: {"run": path, "qrels": path, "labels": [...], "complete": bool} or, with
    "qrels_dict" instead of "qrels", judgments given as JSON."""
    try:
        run = parse_run(Path(request["run"]).read_bytes(), "qrels_dict" in request)
        if "qrels_dict" in request:
            qrels = request["qrels_dict"]
        else:
            qrels = parse_qrels(Path(request["qrels"]).read_bytes())
    except Undefined as exc:
        return {"defined": False, "reason": str(exc)}
    except OSError as exc:
        return {"defined": False, "reason": f"cannot read: {exc}"}
    bad = [f"{q}/{d}={s}" for q, docs in run.items() for d, s in docs.items() if not math.isfinite(s)]
    return {"defined": True, "non_finite": bad[:5],
            "values": evaluate(qrels, run, request["labels"], request.get("complete", False))}


def ask(requests: list[dict], timeout: float = 120) -> list[dict]:
    """Answers to ``requests``, computed in a subprocess (pytrec_eval's crashes stay there)."""
    if not requests:
        return []
    done = subprocess.run([sys.executable, __file__], input=json.dumps(requests), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"oracle process failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    requests = json.load(sys.stdin)
    answers = []
    for request in requests:
        try:
            answers.append(answer(request))
        except Exception as exc:  # the oracle's own fault: say so, never pass for the harness's
            answers.append({"defined": False, "oracle_error": f"{type(exc).__name__}: {exc}"})
    json.dump(answers, sys.stdout, allow_nan=True)


if __name__ == "__main__":
    main()
