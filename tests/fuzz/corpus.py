"""Generators of bad and borderline inputs for the regression corpus, deterministic from a seed.

Five families, each a function ``(rng, index) -> Case``:

- ``suite``: suite TOML files (broken syntax, wrong types, unknown keys, huge or negative numbers,
  long or odd names, seeds out of range, empty lists) and bad ``--set`` overrides, validated or run;
- ``dataset``: dataset files in the BEIR layout (corpus.jsonl, queries.jsonl, qrels/test.tsv) and the
  TREC layout (topics, qrels, corpus), damaged (BOM, NUL and control characters, ``1_000`` grades,
  empty files, non-string text, duplicate and zero-padded ids, judged documents not in the corpus,
  all-zero grades, swapped columns, CRLF, trailing whitespace, very long lines), run in a suite;
- ``evalfile``: run and qrels files for ``harness eval`` (the same damage, plus NaN/inf/huge scores,
  a document twice in a query, ``#``-leading ids, judged queries the run leaves out) with random
  measures and options;
- ``results``: a real finished results folder (made once, see ``BASE_SUITE``), tampered (truncated
  files, swapped types, ``../`` paths, symlinks, huge statistics parameters), then rendered,
  compared or reported;
- ``plugin``: suites whose plugins (tests/fuzz/badplugins.py) return NaN, duplicates, unknown ids,
  unsorted runs, wrong types, or raise.

A ``Case`` is plain data (files to write, the command line, what to check): tests/fuzz/check.py runs
and checks it, in process or as a ``harness`` subprocess.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from dataclasses import dataclass, field

FAMILIES = ("suite", "dataset", "evalfile", "results", "plugin")

# -- the tiny collection (tests/tinydata.py's, repeated so that this module stands alone) ---------

DOCS = {
    "d1": ("Wings", "wing lift and drag at high speed"),
    "d2": ("Heat", "heat transfer in a boundary layer"),
    "d3": ("Flutter", "flutter of a wing at supersonic speed"),
    "d4": ("Shells", "buckling of thin cylindrical shells"),
    "d5": ("Nozzles", "flow in a supersonic nozzle"),
    "d6": ("Slabs", "heat conduction in composite slabs"),
    "d7": ("Boundary", "laminar boundary layer transition"),
    "d8": ("Jets", "noise of supersonic jets"),
}
QUERIES = {
    "q1": "wing flutter at high speed",
    "q2": "heat transfer boundary layer",
    "q3": "supersonic flow",
    "q4": "cylindrical shells buckling",
    "q5": "unrelated words only",
}
QRELS = [("q1", "d3", 2), ("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d7", 1), ("q2", "d6", 0),
         ("q3", "d5", 1), ("q3", "d8", 1), ("q4", "d4", 2), ("q5", "d1", 1)]
TINY_QRELS = {}
for _q, _d, _g in QRELS:
    TINY_QRELS.setdefault(_q, {})[_d] = _g

# Metrics with a trec_eval counterpart (the oracle checks them), and two without.
ORACLE_METRICS = ["nDCG@10", "AP", "Bpref", "P@5", "RR", "Rprec", "R@10", "RR@10", "AP@5", "nDCG"]
MARKER = "<!--<script>fz"  # a name that must never appear unescaped in an HTML page
OUTSIDE = "OUTSIDE-MARKER"  # a pipeline name only a file outside the results folder holds


@dataclass
class Case:
    id: str
    family: str
    damage: str  # what was done, in words
    files: dict[str, bytes] = field(default_factory=dict)  # relative path → content
    symlinks: dict[str, str] = field(default_factory=dict)  # relative path → target
    argv: list[str] = field(default_factory=list)  # harness's arguments; {run}, {run2}, {suite} in results cases
    plugins: bool = False  # needs badplugins registered
    oracle: str | None = None  # "eval": the printed numbers; "cells": cell metrics vs their run files
    qrels: dict | None = None  # known judgments, for the "cells" oracle
    anomalies: tuple[str, ...] = ()  # what the harness must report when it accepts the dataset
    tamper: list | None = None  # results: what to do to the copied folder
    risky: bool = False  # may crash or hang the process: never run in process
    expect_refusal: bool = False  # documented as bad input: exit 2 expected (not asserted by default)

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["files"] = {k: len(v) for k, v in self.files.items()}
        return out


# -- TOML ------------------------------------------------------------------------------------------


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_string(s: str) -> str:
    """A TOML basic string holding exactly ``s`` (every control character escaped)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'



def to_toml(suite: dict) -> str:
    lines, tables, arrays = [], [], []
    for key, value in suite.items():
        if isinstance(value, dict) and key in ("stats", "measure", "output", "execution"):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value) and \
                key in ("datasets", "pipelines"):
            arrays.append((key, value))
        else:
            lines.append(f"{toml_string(key) if not key.isidentifier() else key} = {toml_value(value)}")
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{toml_string(k)} = {toml_value(v)}" for k, v in item.items()]
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def base_suite(name: str = "fz", dataset: dict | None = None, pipelines: list | None = None,
               metrics: list | None = None) -> dict:
    return {
        "name": name,
        "k": 10,
        "seed": 0,
        "metrics": metrics or ["nDCG@10", "AP", "Bpref", "P@5", "RR"],
        "datasets": [dataset or {"name": "tiny", "source": "beir:tiny"}],
        "pipelines": pipelines or [{"name": "good", "retriever": {"plugin": "fz-overlap"}}],
        "stats": {"bootstrap_samples": 100, "permutation_samples": 100},
        "output": {"leaderboard": ["md", "json", "html"]},
    }


def beir_files(prefix: str = "tiny", docs=None, queries=None, qrels=None) -> dict[str, bytes]:
    docs = DOCS if docs is None else docs
    queries = QUERIES if queries is None else queries
    qrels = QRELS if qrels is None else qrels
    corpus = "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in docs.items())
    topics = "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    judged = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in qrels)
    return {f"{prefix}/corpus.jsonl": corpus.encode(), f"{prefix}/queries.jsonl": topics.encode(),
            f"{prefix}/qrels/test.tsv": judged.encode()}


RUN_ARGS = ["run", "suite.toml", "--results", "res", "--quiet"]

# -- family: suite --------------------------------------------------------------------------------

SUITE_PATHS = [
    "k", "seed", "name", "description", "metrics", "datasets", "pipelines", "datasets.0.fields",
    "datasets.0.queries", "datasets.0.grades", "datasets.0.name", "datasets.0.source", "pipelines.0.name",
    "pipelines.0.retriever", "pipelines.0.retriever.plugin", "pipelines.0.sweep", "pipelines.0.parent",
    "pipelines.0.description", "stats.baseline", "stats.alpha", "stats.bootstrap_samples",
    "stats.permutation_samples", "stats.confidence", "stats.seed", "stats.test", "stats.margin",
    "stats.correction", "stats.intervals", "measure.devices", "measure.threads", "measure.latency",
    "measure.repetitions", "measure.timeout", "measure.isolation", "measure.warmup", "measure.min_duration",
    "measure.latency_queries", "measure.bootstrap_samples", "measure.index_threads", "output.leaderboard",
    "output.dir", "output.run_files", "output.per_query", "output.cache",
]
WEIRD_VALUES = ["", "x", "10", 0, -1, 1, 2, 2**31, 2**63 - 1, -(2**63), 1.5, -0.0, math.nan, math.inf, True, False,
                [], [1], ["x"], {}, {"a": 1}, "a" * 300, "../../etc", "é\u202e", 10**12, 0.0001, [[]], [{}]]
ODD_NAMES = ["a" * 230, "a" * 260, "p" * 300, MARKER, "a/b", "..", ".", "é-ü", " ", "a b", "CON", "-x", ".hidden",
             "x" * 1000, "", "tab\there", "nul\x00x", "line\nbreak", "🙂", "a" * 255, "q" * 200 + "é" * 30,
             "name[k1=0.9]", "*", "a,b", "\u202eevil"]
SEEDS = [-1, -(2**63), 2**32, 2**63 - 1, 1.5, "0", True, 2**53 + 1, -0.0]
BAD_SETS = ["k", "=5", "k=", "k=abc", "pipelines.nope.k1=1", "pipelines[99].x=1", "k=[1,2]", "metrics=5",
            'name="../x"', "a.b.c.d=1", "k=1e400", "ĸ=1", "k=1=2", "seed=-1", "seed=18446744073709551616",
            "stats.bootstrap_samples=99", "datasets.0.fields=[]", "pipelines.good.retriever.plugin=\"nope\"",
            "pipelines.good.name=\"" + "n" * 240 + "\"", "output.leaderboard=[\"pdf\"]", "k=0", "k=-5",
            "metrics=[]", "measure.devices=[\"tpu\"]", "name=\"" + MARKER + "\"", 'k="10"', "k=10.0",
            "pipelines.good.sweep={}", "measure.threads=0", "stats.alpha=2", "datasets=[]"]
# Values that should pass validation: the run itself must then cope with them.
BORDERLINE = [("k", 1), ("k", 1000), ("seed", 2**32 - 1), ("seed", 2**63 - 1), ("name", "a" * 100),
              ("name", "a.b+c_d-e"), ("pipelines.0.name", "p" * 100), ("pipelines.0.name", "x.y+z_w-v"),
              ("description", MARKER), ("pipelines.0.description", MARKER), ("datasets.0.fields", ["title"]),
              ("datasets.0.fields", ["text"]), ("datasets.0.queries", {"first": 1}),
              ("datasets.0.queries", {"sample": 1, "seed": 2**32 - 1}), ("datasets.0.queries", {"first": 10**6}),
              ("datasets.0.grades", {"2": 0}), ("datasets.0.grades", {"1": 0, "2": 0}),
              ("stats.bootstrap_samples", 100), ("stats.confidence", 0.999), ("stats.alpha", 0.0),
              ("stats.alpha", 1.0), ("metrics", ["nDCG@1", "P@1", "R@1", "RR@1"]), ("output.per_query", False),
              ("output.run_files", False), ("output.leaderboard", ["html"]), ("measure.isolation", "subprocess"),
              ("measure.timeout", 30), ("datasets.0.name", "d" * 100), ("stats.intervals", "all")]
UNKNOWN_KEYS = [("", "kk"), ("", "metric"), ("datasets.0", "feilds"), ("pipelines.0", "retreiver"),
                ("pipelines.0.retriever", "k1"), ("stats", "bootstrap"), ("measure", "latancy"), ("output", "dirr"),
                ("", "execution"), ("pipelines.0", "stages")]


def _get_parent(suite: dict, path: str):
    parts = path.split(".")
    node = suite
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            return None, None
    return node, parts[-1]


def _set(suite: dict, path: str, value) -> bool:
    parent, last = _get_parent(suite, path)
    if parent is None:
        return False
    if isinstance(parent, list):
        if int(last) < len(parent):
            parent[int(last)] = value
        return True
    parent[last] = value
    return True


def _huge(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return abs(value) > 10**5 or value != value
    if isinstance(value, str):
        return any(ch.isdigit() for ch in value) and len(value) > 5
    return False


def gen_suite(rng: random.Random, index: int) -> Case:
    suite = base_suite()
    if rng.random() < 0.4:  # two pipelines and a baseline, so that the statistics run
        suite["pipelines"].append({"name": "other", "retriever": {"plugin": "bm25"}})
        suite["stats"]["baseline"] = "good"
    argv = list(RUN_ARGS) if rng.random() < 0.75 else ["validate", "suite.toml"]
    kind = rng.choice(["value", "value", "unknown", "name", "name", "seed", "empty", "syntax", "set", "set",
                       "pipelinename", "borderline", "borderline", "borderline", "borderline"])
    risky, damage, text = False, kind, None
    dataset_touched = False
    anomalies: tuple[str, ...] = ()
    if kind == "borderline":
        path, value = rng.choice(BORDERLINE)
        _set(suite, path, value)
        if path == "pipelines.0.name" and suite["stats"].get("baseline") == "good":
            suite["stats"]["baseline"] = value
        damage = f"borderline {path} = {value!r:.60}"
        dataset_touched = path.startswith("datasets")
        anomalies = ("all_zero",) if value == {"1": 0, "2": 0} else ()
        risky = path.startswith("measure.")
    elif kind == "value":
        path, value = rng.choice(SUITE_PATHS), rng.choice(WEIRD_VALUES)
        _set(suite, path, value)
        damage = f"{path} = {value!r:.60}"
        risky = _huge(value) or path.startswith("measure.")
        dataset_touched = path.startswith("datasets")
    elif kind == "unknown":
        where, key = rng.choice(UNKNOWN_KEYS)
        parent = suite
        for part in filter(None, where.split(".")):
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        parent[key] = rng.choice([1, "x", True, {"a": 1}])
        damage = f"unknown key {where + '.' if where else ''}{key}"
    elif kind in ("name", "pipelinename"):
        name = rng.choice(ODD_NAMES)
        target = rng.choice(["name", "pipelines.0.name", "datasets.0.name"]) if kind == "name" else "pipelines.0.name"
        _set(suite, target, name)
        if target == "pipelines.0.name" and suite["stats"].get("baseline") == "good":
            suite["stats"]["baseline"] = name
        damage = f"{target} = {name!r:.50} ({len(name)} chars)"
    elif kind == "seed":
        where, seed = rng.choice(["seed", "stats.seed", "datasets.0.queries"]), rng.choice(SEEDS)
        _set(suite, where, {"sample": 3, "seed": seed} if where == "datasets.0.queries" else seed)
        damage = f"{where} seed {seed!r}"
        risky = True  # a huge seed may be fed to a generator that takes its time
    elif kind == "empty":
        path = rng.choice(["metrics", "datasets", "pipelines", "datasets.0.fields", "measure.devices",
                           "output.leaderboard", "measure.latency", "pipelines.0.compressors",
                           "pipelines.0.stages", "datasets.0.grades", "pipelines.0.sweep"])
        _set(suite, path, {} if path.endswith(("grades", "sweep")) else [])
        damage = f"{path} empty"
        dataset_touched = path.startswith("datasets")
    if kind == "set":
        sets = rng.sample(BAD_SETS, rng.choice([1, 1, 2]))
        for s in sets:
            argv += ["--set", s]
        damage = "--set " + " --set ".join(s[:60] for s in sets)
        risky = any("bootstrap" in s or "1e400" in s for s in sets)
        dataset_touched = True
    text = to_toml(suite)
    if kind == "syntax":
        how = rng.choice(["cut", "drop-char", "unclosed", "dupkey", "bracket", "bytes", "bom", "nul", "crlf",
                          "longline", "tabs", "control"])
        damage = f"syntax: {how}"
        if how == "cut":
            text = text[: rng.randrange(1, len(text))]
        elif how == "drop-char":
            i = rng.randrange(len(text))
            text = text[:i] + text[i + 1:]
        elif how == "unclosed":
            text = text.replace('"tiny"', '"tiny', 1)
        elif how == "dupkey":
            text = text.replace("k = 10\n", "k = 10\nk = 20\n", 1)
        elif how == "bracket":
            text = text.replace("[[pipelines]]", "[[pipelines]", 1)
        elif how == "crlf":
            text = text.replace("\n", "\r\n")
        elif how == "longline":
            text = text.replace('description', 'description', 1) + f'description = "{"d" * 200_000}"\n'
        elif how == "tabs":
            text = text.replace(" = ", "\t=\t")
        elif how == "control":
            text = text.replace('"good"', '"go\u0007od"', 1)
        data = text.encode()
        if how == "bytes":
            data = data.replace(b"good", b"go\xff\xfeod", 1)
        elif how == "bom":
            data = b"\xef\xbb\xbf" + data
        elif how == "nul":
            data = data.replace(b"good", b"go\x00od", 1)
    else:
        data = text.encode()
    files = {"suite.toml": data, **beir_files()}
    oracle_ok = not dataset_touched and "validate" not in argv
    return Case(id=f"suite-{index:04d}", family="suite", damage=damage, files=files, argv=argv, plugins=True,
                oracle="cells" if oracle_ok else None, qrels=TINY_QRELS if oracle_ok else None, risky=risky,
                anomalies=anomalies)


# -- family: dataset ------------------------------------------------------------------------------

NON_STRINGS = [["wing", "lift"], {"a": "b"}, 42, 3.5, None, True, [], ""]
GRADES = ["1_000", "1_0", "+1", "01", "1.0", "1e3", "２", "0x1", "-0", " 2 ", "1 ", "", "NaN", "9" * 30, "10001",
          "-2147483649", "3\x00"]
CONTROL = ["\x00", "\x1f", "\x0b", "\x85", "\u2028", "\x7f", "\x1c", "\ufeff", "\r", "\xa0", " "]


def _numeric_tiny():
    """The tiny collection with numeric ids (d3 → 3, q1 → 1)."""
    docs = {d[1:]: v for d, v in DOCS.items()}
    queries = {q[1:]: t for q, t in QUERIES.items()}
    qrels = [(q[1:], d[1:], g) for q, d, g in QRELS]
    return docs, queries, qrels


def _trec_files(docs, queries, qrels, topics_fmt="tsv", qrels_layout="std") -> dict[str, bytes]:
    corpus = "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in docs.items())
    if topics_fmt == "tsv":
        topics = "".join(f"{q}\t{t}\n" for q, t in queries.items())
    else:
        topics = "".join(f"<top>\n<num> Number: {q}\n<title> {t}\n</top>\n" for q, t in queries.items())
    if qrels_layout == "std":
        judged = "".join(f"{q} 0 {d} {g}\n" for q, d, g in qrels)
    else:  # qid docid grade 0: a judged document read as "grade", every grade as 0
        judged = "".join(f"{q} {d} {g} 0\n" for q, d, g in qrels)
    return {"data/corpus.jsonl": corpus.encode(), "data/topics.txt": topics.encode(), "data/qrels.txt": judged.encode()}


def gen_dataset(rng: random.Random, index: int) -> Case:
    layout = rng.choice(["beir", "beir", "trec"])
    docs, queries, qrels = dict(DOCS), dict(QUERIES), list(QRELS)
    anomalies: list[str] = []
    known_qrels = True  # the judgments the harness must evaluate with are tiny's
    kind = rng.choice(["bom", "control", "grade", "empty", "nonstring", "dupdoc", "dupquery", "zeropad",
                       "notincorpus", "allzero", "swapped", "crlf", "trailing", "longline", "unjudged",
                       "longid", "gzip", "noheader", "extracols", "missingid", "fields", "zerolayout",
                       "allzeroall", "emptytext"])
    target = rng.choice(["corpus", "queries", "qrels"])
    if kind == "zerolayout":
        layout = "trec"  # a TREC qrels file written as 'qid docid grade 0'
    damage = f"{layout}: {kind}"
    post = None  # a function of the files dict

    if kind == "zeropad":
        docs, queries, qrels = _numeric_tiny()
        qrels = [(q, d.zfill(4), g) for q, d, g in qrels]
        anomalies += ["zero_padded", "not_in_corpus"]
        known_qrels = False
    elif kind == "notincorpus":
        qrels = qrels + [("q1", "d99", 2), ("q3", "zz", 1)]
        anomalies.append("not_in_corpus")
        known_qrels = False
    elif kind == "allzero":
        qrels = [(q, d, 0 if q == "q1" else g) for q, d, g in qrels]
        anomalies.append("all_zero")
        known_qrels = False
    elif kind == "allzeroall":
        qrels = [(q, d, 0) for q, d, g in qrels]
        anomalies.append("all_zero")
        known_qrels = False
    elif kind == "unjudged":
        queries = {**queries, "q6": "wing speed", "q7": "supersonic jets"}
        anomalies.append("unjudged")
    elif kind == "dupdoc":
        damage += " (same id, other text)"
    elif kind == "swapped" and layout == "beir":
        anomalies.append("not_in_corpus")
        known_qrels = False
    elif kind == "zerolayout":
        anomalies += ["all_zero", "not_in_corpus"]
        known_qrels = False
    if layout == "beir":
        files = beir_files("data", docs, queries, qrels)
        cpath, qpath, rpath = "data/corpus.jsonl", "data/queries.jsonl", "data/qrels/test.tsv"
        dataset = {"name": "data", "source": "beir:data"}
    else:
        files = _trec_files(docs, queries, qrels, rng.choice(["tsv", "sgml"]),
                            "swapped" if kind in ("zerolayout", "swapped") else "std")
        cpath, qpath, rpath = "data/corpus.jsonl", "data/topics.txt", "data/qrels.txt"
        dataset = {"name": "data", "provider": "trec", "topics": "data/topics.txt", "qrels": "data/qrels.txt",
                   "corpus": "data/corpus.jsonl"}
    path = {"corpus": cpath, "queries": qpath, "qrels": rpath}[target]

    def lines_of(p):
        return files[p].decode("utf-8").split("\n")

    def put(p, lines):
        files[p] = "\n".join(lines).encode("utf-8")

    if kind == "bom":
        files[path] = b"\xef\xbb\xbf" + files[path]
        damage += f" in {target}"
        known_qrels = target == "corpus"
    elif kind == "control":
        ch = rng.choice(CONTROL)
        which = {"corpus": "d3", "queries": "q1", "qrels": "d3"}[target]
        p = path
        text = files[p].decode()
        first = text.find(which)
        text = text[:first] + which[:1] + ch + which[1:] + text[first + len(which):]
        files[p] = text.encode("utf-8")
        damage += f" {ch!r} inside id {which} in {target}"
        known_qrels = False
    elif kind == "grade":
        g = rng.choice(GRADES)
        lines = lines_of(rpath)
        i = 1 if layout == "beir" else 0
        cols = lines[i].split("\t") if layout == "beir" else lines[i].split(" ")
        cols[-1] = g
        lines[i] = ("\t" if layout == "beir" else " ").join(cols)
        put(rpath, lines)
        damage += f" grade {g!r}"
        known_qrels = False
    elif kind == "empty":
        files[path] = rng.choice([b"", b"\n", b"   \n\n", b"query-id\tcorpus-id\tscore\n"])
        damage += f" {target} file"
        known_qrels = False
    elif kind == "nonstring":
        value = rng.choice(NON_STRINGS)
        key = rng.choice(["text", "title", "_id"]) if target != "qrels" else "text"
        p = cpath if target != "queries" else qpath
        if p.endswith(".jsonl"):
            lines = lines_of(p)
            record = json.loads(lines[2])
            record[key] = value
            lines[2] = json.dumps(record)
            put(p, lines)
            damage += f" {p} line 3 {key} = {value!r}"
        known_qrels = key != "_id" and p == cpath
    elif kind == "dupdoc":
        lines = lines_of(cpath)
        lines.insert(4, json.dumps({"_id": "d3", "title": "Again", "text": "another text entirely"}))
        put(cpath, lines)
    elif kind == "dupquery":
        if layout == "beir":
            lines = lines_of(qpath)
            lines.insert(3, json.dumps({"_id": "q1", "text": "a second q1"}))
            put(qpath, lines)
        else:
            files[qpath] += files[qpath]
        known_qrels = False
    elif kind == "swapped" and layout == "beir":
        lines = lines_of(rpath)
        put(rpath, [lines[0]] + ["\t".join([c.split("\t")[1], c.split("\t")[0], c.split("\t")[2]]) if c else c
                                 for c in lines[1:]])
    elif kind == "crlf":
        files[path] = files[path].replace(b"\n", b"\r\n")
    elif kind == "trailing":
        files[path] = files[path].replace(b"\n", rng.choice([b" \n", b"\t\n", b"  \t \n"]))
        known_qrels = target != "queries" or layout == "beir"
    elif kind == "longline":
        lines = lines_of(cpath)
        record = json.loads(lines[1])
        record["text"] = " ".join(["supersonic"] * 60_000)
        lines[1] = json.dumps(record)
        put(cpath, lines)
    elif kind == "longid":
        lines = lines_of(cpath)
        record = json.loads(lines[0])
        record["_id"] = "d" + "1" * rng.choice([300, 5000, 100_000])
        lines[0] = json.dumps(record)
        put(cpath, lines)
        known_qrels = False  # d1 gone: judged but not in the corpus
        anomalies.append("not_in_corpus")
    elif kind == "gzip":
        files[path + ".gz"] = gzip.compress(files.pop(path))
        if layout == "trec":
            dataset[{"corpus": "corpus", "queries": "topics", "qrels": "qrels"}[target]] = path + ".gz"
        if rng.random() < 0.5:
            files[path + ".gz"] = files[path + ".gz"][: len(files[path + ".gz"]) // 2]
            damage += " (cut)"
            known_qrels = False
    elif kind == "noheader" and layout == "beir":
        files[rpath] = b"\n".join(files[rpath].split(b"\n")[1:])
    elif kind == "extracols":
        files[rpath] = files[rpath].replace(b"\n", b"\textra\tcols\n" if layout == "beir" else b" extra\n")
        known_qrels = False
    elif kind == "missingid":
        lines = lines_of(cpath)
        record = json.loads(lines[3])
        del record["_id"]
        lines[3] = json.dumps(record)
        put(cpath, lines)
        known_qrels = False
    elif kind == "fields":
        dataset["fields"] = rng.choice([[], ["body"], ["text", "text"], "text", ["title"]])
        damage += f" fields = {dataset['fields']!r}"
    elif kind == "emptytext":
        lines = lines_of(cpath)
        lines = [json.dumps({**json.loads(x), "text": "", "title": ""}) if x else x for x in lines]
        put(cpath, lines)
    if post:
        post(files)
    pipelines = [{"name": "good", "retriever": {"plugin": "fz-overlap"}}]
    if rng.random() < 0.4:
        pipelines.append({"name": "bm25", "retriever": {"plugin": "bm25"}})
    suite = base_suite(dataset=dataset, pipelines=pipelines)
    files["suite.toml"] = to_toml(suite).encode()
    return Case(id=f"dataset-{index:04d}", family="dataset", damage=damage, files=files, argv=list(RUN_ARGS),
                plugins=True, oracle="cells" if known_qrels and not anomalies else None,
                qrels=TINY_QRELS if known_qrels and not anomalies else None, anomalies=tuple(anomalies))


# -- family: evalfile -----------------------------------------------------------------------------

EVAL_MEASURES = ["AP", "nDCG", "nDCG@10", "P@10", "R@100", "RR", "Rprec", "Bpref", "AP@5", "P@5", "nDCG@3",
                 "RR@10", "Judged@10", "P(rel=2)@5", "R@5"]
BAD_MEASURES = ["ndcg", "P", "Rprec@5", "nDCG@0", "AP(rell=2)", "", "nDCG@-1", "P@10@10", "FzBad", "ExactRecall@10",
                "nDCG@99999999999999999999"]
SCORES = ["1_000", "nan", "NaN", "inf", "-inf", "1e400", "3.5e38", "-3.5e38", "0x1p3", "1.5abc", ".5", "5.", "1e-400",
          "+2", "１", "1,5", "", "1e", "--1", "infinity", "0.1f", "1e38", "3.4028235e38", "3.4028236e38"]


def _eval_base(rng: random.Random):
    queries = [f"q{i}" for i in range(1, rng.randint(2, 7))]
    docs = [f"d{i}" for i in range(1, 15)]
    qrels = []
    for q in queries:
        for d in rng.sample(docs, rng.randint(1, 6)):
            qrels.append([q, "0", d, str(rng.choice([0, 0, 1, 1, 2, 3]))])
    run = []
    for q in queries:
        if rng.random() < 0.15:
            continue  # a judged query the run leaves out
        chosen = rng.sample(docs, rng.randint(1, 12))
        scores = [round(rng.uniform(-5, 20), rng.choice([0, 1, 3, 6])) for _ in chosen]
        for rank, (d, s) in enumerate(sorted(zip(chosen, scores, strict=True), key=lambda x: -x[1]), 1):
            run.append([q, "Q0", d, str(rank), repr(s), "fz"])
    if rng.random() < 0.3:
        run.append(["q99", "Q0", "d1", "1", "1.0", "fz"])  # an unjudged query
    return qrels, run


def gen_evalfile(rng: random.Random, index: int) -> Case:
    qrels, run = _eval_base(rng)
    kinds = rng.sample(["bom", "nul", "control", "score", "empty", "dupdoc", "dupqrels", "hash", "crlf", "trailing",
                        "longline", "grade", "swapped", "zeropad", "allzero", "nonutf8", "columns", "ties", "close",
                        "cr", "clean", "clean", "clean", "missingquery", "blank"], rng.choice([1, 1, 1, 2]))
    target_of = {}
    sep = {"run": rng.choice([" ", "\t", " "]), "qrels": rng.choice([" ", "\t"])}
    endings = {"run": "\n", "qrels": "\n"}
    prefix = {"run": b"", "qrels": b""}
    postfix: dict[str, list] = {"run": [], "qrels": []}
    for kind in kinds:
        target = rng.choice(["run", "qrels"])
        target_of[kind] = target
        rows = run if target == "run" else qrels
        if not rows:
            continue
        r = rng.randrange(len(rows))
        if kind == "bom":
            prefix[target] = b"\xef\xbb\xbf"
        elif kind in ("nul", "control", "longline", "hash") and len(rows[r]) < 3:
            continue
        elif kind == "nul":
            rows[r][2] = rows[r][2] + "\x00" + rng.choice(["", "x"])
        elif kind == "control":
            col = rng.choice([0, 2])
            rows[r][col] = rows[r][col][:1] + rng.choice(CONTROL[1:]) + rows[r][col][1:]
        elif kind == "score" and run and len(run[r % len(run)]) > 4:
            run[r % len(run)][4] = rng.choice(SCORES)
            target_of[kind] = "run"
        elif kind == "empty":
            rows.clear()
            if rng.random() < 0.5:
                postfix[target].append(rng.choice(["", "   ", "# only a comment"]))
        elif kind == "dupdoc" and run:
            row = list(run[r % len(run)])
            if len(row) > 4:
                row[4] = rng.choice([row[4], "0.001"])
            run.append(row)
            target_of[kind] = "run"
        elif kind == "dupqrels" and qrels:
            row = list(qrels[r % len(qrels)])
            if len(row) > 3:
                row[3] = rng.choice([row[3], "3"])
            qrels.insert(rng.randrange(len(qrels)), row)
            target_of[kind] = "qrels"
        elif kind == "hash":
            col = rng.choice([0, 2])
            old = rows[r][col]
            for other in run + qrels:  # rename everywhere, so that the files still agree
                if len(other) > col and other[col] == old:
                    other[col] = "#" + old
        elif kind == "crlf":
            endings[target] = "\r\n"
        elif kind == "cr":
            endings[target] = "\r"
        elif kind == "trailing":
            endings[target] = rng.choice([" \n", "\t\n", "  \n"])
        elif kind == "longline":
            rows[r][2] = "d" + "7" * rng.choice([1000, 100_000])
        elif kind == "grade" and qrels and len(qrels[r % len(qrels)]) > 3:
            qrels[r % len(qrels)][3] = rng.choice(GRADES)
            target_of[kind] = "qrels"
        elif kind == "swapped" and qrels:
            for row in qrels:
                if len(row) == 4:
                    row[1], row[2], row[3] = row[2], row[3], "0"  # qid docid grade 0
            target_of[kind] = "qrels"
        elif kind == "zeropad":
            for row in run:
                if len(row) > 2:
                    row[2] = "0" + row[2][1:] if rng.random() < 0.5 else row[2]
        elif kind == "allzero" and qrels:
            for row in qrels:
                if len(row) == 4:
                    row[3] = "0"
            target_of[kind] = "qrels"
        elif kind == "columns":
            if rng.random() < 0.5:
                rows[r].append("extra")
            else:
                del rows[r][rng.randrange(len(rows[r]))]
        elif kind == "ties" and run:
            for row in run:
                if len(row) > 4:
                    row[4] = "1.0"
        elif kind == "close" and run:
            for i, row in enumerate(run):
                if len(row) > 4:
                    row[4] = repr(1.0 + i * 1e-12)
        elif kind == "missingquery" and run:
            gone = run[0][0]
            run[:] = [row for row in run if row and row[0] != gone]
        elif kind == "blank":
            rows.insert(r, [" "] * 6 if target == "run" else [" "] * 4)  # a line of spaces
    files = {}
    for name, rows in (("run", run), ("qrels", qrels)):
        body = "".join(sep[name].join(row) + endings[name] for row in rows) + "".join(x + "\n" for x in postfix[name])
        data = prefix[name] + body.encode("utf-8")
        if "nonutf8" in kinds and target_of.get("nonutf8") == name:
            data = data.replace(b"d1", b"d\xe91", 1) if b"d1" in data else data + b"q1 0 d\xe9 1\n"
        files[f"{name}.txt"] = data
    argv = ["eval", "qrels.txt", "run.txt"]
    roll = rng.random()
    labels = None
    if roll < 0.25:
        pass  # the default measures
    elif roll < 0.92:
        labels = rng.sample(EVAL_MEASURES, rng.randint(1, 5))
    else:
        labels = [rng.choice(BAD_MEASURES)]
    for m in labels or []:
        argv += ["-m", m]
    if rng.random() < 0.4:
        argv.append("-q")
    if rng.random() < 0.5:
        argv.append("-c")
    if rng.random() < 0.2:
        argv += ["--precision", rng.choice(["0", "6", "17", "18", "-1", "x"])]
    if rng.random() < 0.03:
        argv[1] = rng.choice(["missing.txt", ".", "/dev/null"])
    damage = ", ".join(f"{k} in {target_of.get(k, '-')}" for k in kinds)
    return Case(id=f"evalfile-{index:04d}", family="evalfile", damage=damage, files=files, argv=argv, oracle="eval",
                risky=True)


# -- family: results ------------------------------------------------------------------------------

# The folder tampered with: this suite, run twice (two run folders, so that compare and report work).
BASE_PIPELINES = [{"name": "good", "retriever": {"plugin": "fz-overlap"}},
                  {"name": "bm25", "retriever": {"plugin": "bm25"}},
                  {"name": "reranked", "retriever": {"plugin": "fz-overlap"},
                   "ranker": {"plugin": "fz-badrank", "depth": 5}}]
BASE_SUITE = to_toml({**base_suite(pipelines=BASE_PIPELINES, metrics=["nDCG@10", "AP", "P@5", "RR"]),
                      "stats": {"baseline": "good", "bootstrap_samples": 200, "permutation_samples": 200},
                      "output": {"leaderboard": ["md", "csv", "json", "html"]}})

TYPE_SWAPS = ["0.42", [0.4], {"v": 1}, None, True, -1, 1e308, 10**30, "", "nan", [], {}]
STATS_TAMPER = [("bootstrap_samples", 10**12), ("permutation_samples", 10**12), ("bootstrap_samples", -5),
                ("confidence", 1.5), ("confidence", 1.0), ("alpha", -1), ("alpha", "x"), ("seed", 2**80),
                ("seed", -1), ("intervals", "all"), ("bootstrap_samples", "many"), ("margin", -1),
                ("test", "magic"), ("correction", None), ("bootstrap_samples", 2**40), ("confidence", 0.0),
                ("permutation_samples", 1)]
CELL_KEYS = ["metrics", "metrics.nDCG@10", "per_query", "per_query.nDCG@10", "per_query.AP.q1", "cell", "cell.id",
             "cell.slug", "cell.pipeline", "status", "error", "phases", "schema", "config", "stages",
             "stages.0", "hardware", "evaluation", "dataset", "run_file", "latency", "costs", "phases.retrieve",
             "phases.retrieve.seconds", "seconds", "cell.key", "cell.device", "cell.dataset"]
MANIFEST_KEYS = ["cells", "status", "suite", "run_id", "metrics", "stats", "datasets", "pipelines", "schema",
                 "output", "k", "environment", "hardware", "measure", "started", "finished", "executor"]


def gen_results(rng: random.Random, index: int) -> Case:
    op = rng.choice(["truncate", "truncate", "swap", "swap", "swap", "delete", "bytes", "path", "symlink", "stats",
                     "stats", "status", "remove", "extra", "manifest_swap", "manifest_delete"])
    target = rng.choice(["run.json", "cell", "cell", "leaderboard.json"])
    tamper: list = [op]
    risky = False
    if op == "truncate":
        tamper += [target, rng.choice([0.0, 0.1, 0.5, 0.9, 0.99])]
    elif op == "swap":
        tamper += ["cell", rng.choice(CELL_KEYS), rng.choice(TYPE_SWAPS)]
    elif op == "manifest_swap":
        tamper = ["swap", "run.json", rng.choice(MANIFEST_KEYS), rng.choice(TYPE_SWAPS)]
    elif op == "delete":
        tamper += ["cell", rng.choice(CELL_KEYS)]
    elif op == "manifest_delete":
        tamper = ["delete", "run.json", rng.choice(MANIFEST_KEYS)]
    elif op == "bytes":
        tamper += [target, rng.choice(["empty", "bom", "nonutf8", "nul", "garbage", "nan", "deep"])]
    elif op == "path":
        tamper += [rng.choice(["../../../outside", "/etc/passwd", "../runs/x", "", "a/../../../outside",
                               "../../other/cells/x", "..", "cells/../../../outside", "/" + "x" * 300])]
    elif op == "symlink":
        tamper += [rng.choice(["/etc/passwd", "outside", "dangling", "dir", "self", "other-cell"])]
    elif op == "stats":
        key, value = rng.choice(STATS_TAMPER)
        tamper += [key, value]
        risky = True
    elif op == "remove":
        tamper += [rng.choice(["cells", "cell", "runs", "run.json", "leaderboard.json", "runfile"])]
    elif op == "extra":
        tamper += [rng.choice(["junk.json", "junk.txt", "dir.json", "hidden"])]
    command = rng.choice(["leaderboard", "leaderboard", "leaderboard", "compare", "report"])
    if command == "leaderboard":
        argv = ["leaderboard", "{run}"] + rng.choice([[], [], ["--format", "md"], ["--intervals", "all"],
                                                       ["--baseline", "bm25"], ["--margin", "0.01"]])
    elif command == "compare":
        argv = ["compare", "{run}", "{run2}"] if rng.random() < 0.5 else ["compare", "{run2}", "{run}"]
    else:
        argv = ["report", "{suite}"]
    if "stats" in op or "--intervals" in argv:
        risky = True
    return Case(id=f"results-{index:04d}", family="results", damage=json.dumps(tamper, default=repr)[:160],
                argv=argv, plugins=True, tamper=tamper, risky=risky)


def _keypath(obj, path: str):
    parts = path.split(".", 1) if not path.startswith("metrics.") and not path.startswith("per_query.") \
        else path.split(".")
    if path.startswith(("metrics.", "per_query.")):  # labels contain dots? no, but keep '@'
        parts = path.split(".")
    node = obj
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        if node is None:
            return None, None
    return node, parts[-1]


def apply_tamper(tamper: list, run_dir, run2_dir, case_dir) -> None:
    """Do ``tamper`` to the run folder ``run_dir`` (a copy; ``run2_dir`` is the other run)."""
    import os
    import shutil
    from pathlib import Path

    run_dir, case_dir = Path(run_dir), Path(case_dir)
    manifest_path = run_dir / "run.json"
    manifest = json.loads(manifest_path.read_text())
    first_cell = sorted(manifest["cells"].items())[0]
    cell_path = run_dir / "cells" / f"{first_cell[1]}.json"
    files = {"run.json": manifest_path, "cell": cell_path, "leaderboard.json": run_dir / "leaderboard.json"}
    op = tamper[0]

    def dump(path, obj):
        path.write_text(json.dumps(obj, indent=1, allow_nan=True))

    if op == "truncate":
        path = files[tamper[1]]
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * tamper[2])])
    elif op in ("swap", "delete"):
        path = files[tamper[1]]
        obj = json.loads(path.read_text())
        node, last = _keypath(obj, tamper[2])
        if node is not None:
            if isinstance(node, list) and last.isdigit() and int(last) < len(node):
                if op == "swap":
                    node[int(last)] = tamper[3]
                else:
                    del node[int(last)]
            elif isinstance(node, dict):
                if op == "swap":
                    node[last] = tamper[3]
                else:
                    node.pop(last, None)
        dump(path, obj)
    elif op == "bytes":
        path = files[tamper[1]]
        data = path.read_bytes()
        how = tamper[2]
        data = {"empty": b"", "bom": b"\xef\xbb\xbf" + data, "nonutf8": data.replace(b'"', b'"\xff', 1),
                "nul": data[:10] + b"\x00" + data[10:], "garbage": b"\x89PNG\r\n\x1a\n" + data[:50],
                "nan": data.replace(b": 0.", b": NaN, \"x\": 0.", 1), "deep": b"[" * 100_000 + b"]" * 100_000}[how]
        path.write_bytes(data)
    elif op == "path":
        outside = json.loads(cell_path.read_text())
        outside["cell"]["pipeline"] = OUTSIDE
        (case_dir / "outside.json").write_text(json.dumps(outside))
        (case_dir / "outside").write_text(json.dumps(outside))
        manifest["cells"][first_cell[0]] = tamper[1]
        dump(manifest_path, manifest)
    elif op == "symlink":
        outside = json.loads(cell_path.read_text())
        outside["cell"]["pipeline"] = OUTSIDE
        (case_dir / "outside.json").write_text(json.dumps(outside))
        cell_path.unlink()
        how = tamper[1]
        if how == "dir":
            cell_path.mkdir()
        else:
            target = {"/etc/passwd": "/etc/passwd", "outside": str(case_dir / "outside.json"),
                      "dangling": str(case_dir / "nowhere.json"), "self": str(cell_path),
                      "other-cell": str(Path(run2_dir) / "cells" / cell_path.name)}[how]
            os.symlink(target, cell_path)
    elif op == "stats":
        manifest.setdefault("stats", {})[tamper[1]] = tamper[2]
        dump(manifest_path, manifest)
    elif op == "status":
        manifest["status"] = "running"
        dump(manifest_path, manifest)
    elif op == "remove":
        what = tamper[1]
        path = {"cells": run_dir / "cells", "cell": cell_path, "runs": run_dir / "runs", "run.json": manifest_path,
                "leaderboard.json": run_dir / "leaderboard.json",
                "runfile": run_dir / "runs" / f"{first_cell[1]}.trec"}[what]
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    elif op == "extra":
        what = tamper[1]
        if what == "dir.json":
            (run_dir / "cells" / "dir.json").mkdir()
        elif what == "hidden":
            (run_dir / "cells" / ".x.json.abc.tmp").write_text("{")
        else:
            (run_dir / "cells" / what).write_text("{not json")


# -- family: plugin -------------------------------------------------------------------------------

RETRIEVER_MODES = ["nan", "inf", "neginf", "huge", "close", "dup", "unknown", "unsorted", "raise", "none", "dict",
                   "list", "strscores", "intids", "extraquery", "missingquery", "toomany", "empty", "emptyall",
                   "spaceid", "hashid", "nulid", "negzero", "boolscores", "float32", "emptyid", "keyerror",
                   "systemexit", "bigrun", "ties", "ok"]
RANKER_MODES = ["nan", "raise", "drop", "add", "unsorted", "none", "inf", "huge", "ties", "dict", "emptyall",
                "negative", "ok"]
METRIC_MODES = ["nan", "inf", "raise", "none", "float", "pqnan", "pqextra", "straggr", "huge", "negative", "pqlist",
                "pqmissing", "pqstr", "ok"]
CRASHY = {"empty", "emptyall", "missingquery", "systemexit"}  # empty rankings (pytrec_eval), an exit


def gen_plugin(rng: random.Random, index: int) -> Case:
    kind = rng.choice(["retriever", "retriever", "retriever", "ranker", "ranker", "metric"])
    metrics = rng.sample(ORACLE_METRICS, rng.randint(2, 5))
    if "AP" not in metrics and rng.random() < 0.5:
        # the pair that crashes pytrec_eval on an empty ranking
        metrics += [m for m in ("AP", "Bpref") if m not in metrics]
    pipelines = [{"name": "good", "retriever": {"plugin": "fz-overlap"}}]
    if kind == "retriever":
        mode = rng.choice(RETRIEVER_MODES)
        pipelines.append({"name": "bad", "retriever": {"plugin": "fz-bad", "mode": mode}})
        if rng.random() < 0.25:  # a stage after it sees its run
            pipelines[-1]["ranker"] = {"plugin": "fz-badrank", "depth": 5}
    elif kind == "ranker":
        mode = rng.choice(RANKER_MODES)
        pipelines.append({"name": "bad", "retriever": {"plugin": "fz-overlap"},
                          "ranker": {"plugin": "fz-badrank", "mode": mode, "depth": rng.choice([3, 5, 10])}})
    else:
        mode = rng.choice(METRIC_MODES)
        metrics.append({"metric": "FzBad", "mode": mode})
    suite = base_suite(metrics=metrics, pipelines=pipelines)
    suite["stats"]["baseline"] = "good"
    isolated = rng.random() < 0.2
    if isolated:
        suite["measure"] = {"isolation": "subprocess"}
    files = {"suite.toml": to_toml(suite).encode(), **beir_files()}
    return Case(id=f"plugin-{index:04d}", family="plugin",
                damage=f"{kind} mode={mode}{' (isolated)' if isolated else ''}; metrics {metrics}"[:200],
                files=files, argv=list(RUN_ARGS), plugins=True, oracle="cells", qrels=TINY_QRELS,
                risky=mode in CRASHY)


GENERATORS = {"suite": gen_suite, "dataset": gen_dataset, "evalfile": gen_evalfile, "results": gen_results,
              "plugin": gen_plugin}


def cases(count: int, seed: int = 0, families=FAMILIES, weights=None) -> list[Case]:
    """``count`` cases spread over ``families`` (evenly, or by ``weights``), the same for one seed."""
    weights = weights or {f: 1 for f in families}
    total = sum(weights[f] for f in families)
    out: list[Case] = []
    shares = {f: count * weights[f] // total for f in families}
    for f in list(families)[: count - sum(shares.values())]:
        shares[f] += 1
    for family in families:
        for i in range(shares[family]):
            rng = random.Random(f"{seed}:{family}:{i}")
            out.append(GENERATORS[family](rng, i))
    return out
