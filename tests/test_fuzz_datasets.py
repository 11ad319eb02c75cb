"""Broken dataset files, generated: every one loads into a consistent collection (with the
documented warnings, such as judgments of unknown queries dropped and counted) or fails with a
DatasetError (TrecFormatError for run and qrels files) that names the dataset and the file, never
another exception.

Each case writes a few small files and loads them directly, without a suite or a run; ``derandomize``
makes every CI run try the same cases.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinydata import DOCS, QRELS, QUERIES, write_beir

from harness.datasets import DatasetError, DatasetSpec, load_dataset
from harness.plugins import load_registry
from harness.trecfiles import TrecFormatError, grade_problem, read_qrels, read_run


def fuzz(examples: int):
    """Reproducible (the same cases in every run), no deadline (CI machines stall), no example database."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


WEIRD_JSON = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from([10**30, -1, 1.5, float("nan")]),
                       st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                                  st.integers(),
                                                                                                  max_size=2))
WEIRD_TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", "\t", "\t\t\t", "q1\td1", "q1 0 d1", "q9\td1\t1",
                                                              "q1\td99\t1", "q1\td1\t1e309", "q1\td1\t-7",
                                                              "q1\td1\t99999999999999999999", "{", "[]", "null",
                                                              "<top>", "<DOC>", "</DOC>", "<num> 7", "[" * 100_000,
                                                              '{"_id": ' + "9" * 5000 + ', "text": "x"}',
                                                              '{"_id": "a b", "text": "x"}', '{"_id": "", "text": ""}',
                                                              "<DOC><DOCNO>  </DOCNO></DOC>", "q1\t\t1"]))


def line_mutation():
    """(action, line, position, junk): what to do to which line of a file."""
    return st.tuples(st.sampled_from(["truncate", "drop", "double", "replace", "bytes", "swap-tabs", "empty-file",
                                      "gzip-cut", "json-field"]),
                     st.integers(0, 20), st.integers(0, 80), st.one_of(WEIRD_TEXT.map(str.encode),
                                                                       st.binary(max_size=6)),
                     st.sampled_from(["_id", "text", "title", "id", "query"]), WEIRD_JSON)


def apply(path: Path, mutation) -> None:
    action, line, position, junk, key, value = mutation
    data = path.read_bytes()
    lines = data.splitlines(keepends=True) or [b""]
    line = min(line, len(lines) - 1)
    if action == "truncate":
        lines[line] = lines[line][:position]
    elif action == "drop":
        del lines[line]
    elif action == "double":  # duplicate ids, qrels judged twice
        lines.insert(line, lines[line])
    elif action == "replace":
        lines[line] = junk + b"\n"
    elif action == "bytes":  # non-UTF-8 and control bytes inside a line
        lines[line] = lines[line][:position] + junk + b"\xff\xfe" + lines[line][position:]
    elif action == "swap-tabs":
        lines[line] = lines[line].replace(b"\t", b" ") if b"\t" in lines[line] else lines[line].replace(b" ", b"\t")
    elif action == "json-field":
        try:
            record = json.loads(lines[line])
            record[key] = value
            lines[line] = json.dumps(record).encode() + b"\n"
        except (ValueError, TypeError):
            lines[line] = junk + b"\n"
    if action == "empty-file":
        path.write_bytes(b"")
    elif action == "gzip-cut":
        path.write_bytes(gzip.compress(data)[: max(position, 1)])
    else:
        path.write_bytes(b"".join(lines))


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-datasets")


def load_or_clear_error(spec: DatasetSpec, registry, base: Path, files: list[Path]):
    """The collection, checked for consistency; or a DatasetError naming the dataset and a file."""
    try:
        collection = load_dataset(spec, registry, base)
    except DatasetError as exc:
        message = str(exc)
        assert exc.dataset == spec.name and message.startswith(f"dataset {spec.name!r}: ")
        # What a reader raised on purpose, not an exception load_dataset had to wrap:
        cause = exc.__cause__
        while cause is not None:
            assert isinstance(cause, (DatasetError, TrecFormatError)), f"unexpected {cause!r} behind {message}"
            cause = cause.__cause__
        named = r"returned no|has relevance judgments|query .*, document |judgments of no|no such|empty"
        assert any(str(f) in message for f in files) or re.search(named, message), message
        return None
    ids = [d.id for d in collection.docs]
    assert len(ids) == len(set(ids)) and collection.docs and collection.queries and collection.qrels
    assert set(collection.qrels) <= set(collection.queries)  # judgments of unknown queries dropped, counted
    assert all(isinstance(g, int) for docs in collection.qrels.values() for g in docs.values())
    assert all(isinstance(t, str) for t in collection.queries.values())
    assert all(grade_problem(g) is None for docs in collection.qrels.values() for g in docs.values())
    assert all(i.split() == [i] for i in [*ids, *collection.queries])  # ids a TREC run file can hold
    return collection


@fuzz(260)
@given(mutations=st.lists(st.tuples(st.sampled_from(["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]),
                                    line_mutation()), min_size=1, max_size=3))
def test_mutated_beir_folders(registry, workspace, mutations):
    folder = workspace / "beir"
    shutil.rmtree(folder, ignore_errors=True)
    write_beir(folder)
    for name, mutation in mutations:
        apply(folder / name, mutation)
    files = [folder / n for n in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels")] + [folder]
    load_or_clear_error(DatasetSpec("fz", "beir", {"path": str(folder)}), registry, workspace, files)


LINES = ["", "\t", "q1\td1", "q1\td1\t1\textra", "q9\td1\t1", "q1\td99\t1", "q1\td1\t1e309",
         "q1\td2\t2147483647", "q1\td1\t-7", "{", "[]", "null", '{"_id": 5, "text": 7}', '{"_id": null}',
         '{"_id": "a b", "text": "x"}', '{"_id": "d1", "text": "again"}', '{"_id": "q1", "text": "again"}',
         "[" * 100_000, '{"_id": ' + "9" * 5000 + "}", "\udcff"]


def test_every_line_of_a_beir_folder(registry, tmp_path):
    """Systematically, beside the random cases: each line of each file dropped, doubled, cut in
    half, or replaced by each of a list of bad lines."""
    cases = 0
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        count = len((write_beir(tmp_path / "model") / name).read_text().splitlines())
        for line in range(count):
            for how in ["drop", "double", "half", *LINES]:
                folder = tmp_path / f"case{cases}"
                write_beir(folder)
                lines = (folder / name).read_text().splitlines(keepends=True)
                if how == "drop":
                    del lines[line]
                elif how == "double":
                    lines.insert(line, lines[line])
                elif how == "half":
                    lines[line] = lines[line][: len(lines[line]) // 2]
                else:
                    lines[line] = how + "\n"
                (folder / name).write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
                files = [folder / n for n in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")]
                load_or_clear_error(DatasetSpec("fz", "beir", {"path": str(folder)}), registry, tmp_path, files)
                shutil.rmtree(folder)
                cases += 1
    assert cases > 500


def write_trec(folder: Path, topics: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"topics": folder / "topics.txt", "qrels": folder / "qrels.txt", "corpus": folder / "corpus"}
    if topics == "sgml":
        text = "".join(f"<top>\n<num> Number: {q}\n<title> {t}\n<desc> Description:\nabout {t}\n</top>\n\n"
                       for q, t in QUERIES.items())
    elif topics == "tsv":
        text = "".join(f"{q}\t{t}\n" for q, t in QUERIES.items())
    else:
        text = "".join(json.dumps({"id": q, "text": t}) + "\n" for q, t in QUERIES.items())
    files["topics"].write_text(text)
    files["qrels"].write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in QRELS))
    if topics == "sgml":  # the corpus in TREC SGML too
        files["corpus"].write_text("".join(f"<DOC>\n<DOCNO> {d} </DOCNO>\n<TITLE>{t}</TITLE>\n<TEXT>\n{x}\n</TEXT>\n"
                                           f"</DOC>\n" for d, (t, x) in DOCS.items()))
    else:
        files["corpus"].write_text("".join(json.dumps({"docno": d, "title": t, "contents": x}) + "\n"
                                           for d, (t, x) in DOCS.items()))
    return files


@fuzz(260)
@given(topics=st.sampled_from(["sgml", "tsv", "jsonl"]),
       mutations=st.lists(st.tuples(st.sampled_from(["topics", "qrels", "corpus"]), line_mutation()),
                          min_size=1, max_size=3),
       field=st.sampled_from(["title", "description", "narrative"]))
def test_mutated_trec_files(registry, workspace, topics, mutations, field):
    folder = workspace / "trec"
    shutil.rmtree(folder, ignore_errors=True)
    files = write_trec(folder, topics)
    for name, mutation in mutations:
        apply(files[name], mutation)
    params = {k: str(v) for k, v in files.items()} | {"topic_field": field}
    load_or_clear_error(DatasetSpec("fz", "trec", params), registry, workspace, list(files.values()))


RUN = "".join(f"q{q} Q0 d{d} {r} {10 - r}.5 tag\n" for q in range(1, 4) for r, d in enumerate(range(1, 6), 1))


@fuzz(220)
@given(kind=st.sampled_from(["run", "qrels"]), mutations=st.lists(line_mutation(), min_size=1, max_size=3))
def test_mutated_run_and_qrels_files(workspace, kind, mutations):
    path = workspace / f"fuzzed.{kind}"
    path.write_text(RUN if kind == "run" else "".join(f"{q} 0 {d} {g}\n" for q, d, g in QRELS))
    for mutation in mutations:
        apply(path, mutation)
    try:
        read_run(path) if kind == "run" else read_qrels(path)
    except TrecFormatError as exc:
        assert str(exc).startswith(str(path)), exc


def test_judgments_of_unknown_queries_are_dropped_and_counted(registry, tmp_path):
    """The documented warning behind the generated cases that add such judgments."""
    folder = write_beir(tmp_path / "b")
    with open(folder / "qrels" / "test.tsv", "a") as f:
        f.write("q-unknown\td1\t1\n")
    collection = load_dataset(DatasetSpec("b", "beir", {"path": str(folder)}), registry, tmp_path)
    assert "q-unknown" not in collection.qrels and collection.metadata["qrels_unknown_queries"] == 1


@pytest.mark.parametrize(("file", "line", "expected"), [
    ("corpus.jsonl", "[" * 100_000, "unreadable JSON (maximum recursion depth"),
    ("corpus.jsonl", '{"_id": ' + "9" * 5000 + ', "text": "x"}', "unreadable JSON (Exceeds the limit"),
    ("corpus.jsonl", '{"_id": "a b", "text": "x"}', "document id 'a b' is empty or holds whitespace"),
    ("queries.jsonl", '{"_id": "", "text": "x"}', "query id '' is empty or holds whitespace"),
    ("qrels/test.tsv", "q1\td2\t2147483647", "grade 2147483647 is outside -2147483648..10000"),
])
def test_what_the_fuzzing_found_stays_fixed(registry, tmp_path, file, line, expected):
    """Cases the generated ones found (or nearly): each was a bare exception, a crash or a hang."""
    folder = write_beir(tmp_path / "b")
    with open(folder / file, "a") as f:
        f.write(line + "\n")
    with pytest.raises(DatasetError, match=re.escape(expected)) as caught:
        load_dataset(DatasetSpec("b", "beir", {"path": str(folder)}), registry, tmp_path)
    assert caught.value.__cause__ is None or isinstance(caught.value.__cause__, DatasetError)


def test_a_truncated_gzip_qrels_file_is_named(registry, tmp_path):
    files = write_trec(tmp_path / "t", "tsv")
    gz = files["qrels"].with_suffix(".gz")
    gz.write_bytes(gzip.compress(files["qrels"].read_bytes())[:30])
    params = {k: str(v) for k, v in files.items()} | {"qrels": str(gz)}
    with pytest.raises(DatasetError, match=re.escape(f"{gz}: cannot read it")):
        load_dataset(DatasetSpec("t", "trec", params), registry, tmp_path)
    with pytest.raises(TrecFormatError, match=re.escape("outside -2147483648..10000")):
        files["qrels"].write_text("q1 0 d1 100001\n")
        read_qrels(files["qrels"])


# -- run and qrels files against pytrec_eval's own parser ------------------------------------------

QIDS = st.sampled_from(["q1", "q2", "#q", "#", "é", "1"])
DOCIDS = st.sampled_from(["d1", "d2", "d3", "d_4", "#d", "é5", "0", "Q0"])
OTHER = st.sampled_from(["0", "Q0", "1", "tag", "x_y"])
FLOATS = st.sampled_from(["1", "2", "0", "-1", "+3", "0.5", "1e3", ".5", "5.", "1E-2"])
INTS = st.sampled_from(["1", "2", "0", "-1", "+3", "3"])
HOSTILE = st.sampled_from(["1_000", "1_0", "nan", "inf", "-inf", "0x10", "1.5", "\u0661", "\uff12", "d\x001",
                           "d\u00a0x", "\ufeffq", "d\x85", "d\x7f", "\u2003", "d\x1c", ""])
SEPARATORS = st.sampled_from([" "] * 24 + ["\t", "\t", "  ", " \t ", "\r", "\x0b"])


@st.composite
def trec_line(draw, columns: int):
    """Mostly a well-formed line (ids, then a number where trec_eval reads one), sometimes a column
    more or fewer, a blank line, or a token that trec_eval and Python read differently (underscores,
    Unicode digits and spaces, control characters)."""
    count = draw(st.sampled_from([columns] * 8 + [columns - 1, columns + 1, 0]))
    kinds = [QIDS, OTHER, DOCIDS, OTHER, FLOATS, OTHER, OTHER] if columns == 6 else [QIDS, OTHER, DOCIDS, INTS, OTHER]
    tokens = [draw(kinds[i]) for i in range(count)]
    if tokens and draw(st.integers(0, 5)) == 0:
        tokens[draw(st.integers(0, count - 1))] = draw(st.one_of(HOSTILE, st.text(max_size=6)))
    line = ""
    for token in tokens:
        line += token + draw(SEPARATORS)
    return draw(st.sampled_from(["", "", " ", "\t"])) + line.rstrip(" \t")


def pytrec_reading(path: Path, kind: str):
    """pytrec_eval's parser over the file as trec_eval splits it: on line feeds only (a lone
    carriage return is a space to trec_eval, a line break to Python's universal newlines), a
    leading byte order mark dropped."""
    import pytrec_eval

    with open(path, encoding="utf-8-sig", newline="\n") as f:
        return (pytrec_eval.parse_run if kind == "run" else pytrec_eval.parse_qrel)(f)


@fuzz(220)
@given(kind=st.sampled_from(["run", "qrels"]), bom=st.booleans(), data=st.data())
def test_run_and_qrels_files_read_as_pytrec_eval_reads_them(workspace, kind, bom, data):
    """Every file either raises TrecFormatError naming it, or reads exactly as pytrec_eval reads
    it; where pytrec_eval refuses a file we read, the reason is one we document (blank lines,
    columns after the sixth of a run, one judgment given twice alike)."""
    columns = 6 if kind == "run" else 4
    lines = data.draw(st.lists(trec_line(columns), min_size=0, max_size=6))
    path = workspace / f"compared.{kind}"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        ours = read_run(path) if kind == "run" else read_qrels(path)
    except TrecFormatError as exc:
        assert str(exc).startswith(str(path)), exc
        return
    try:
        theirs = pytrec_reading(path, kind)
    except (ValueError, AssertionError):
        rows = [line.split() for line in path.read_bytes().decode("utf-8-sig").split("\n")]
        pairs = [(r[0], r[2]) for r in rows if len(r) >= 3]
        documented = (any(not r for r in rows) or any(len(r) > columns for r in rows)
                      or (kind == "qrels" and len(pairs) != len(set(pairs))))
        assert documented, f"pytrec_eval refuses {lines!r}, which we read"
        return
    if kind == "run":
        assert {q: dict(ours[q]) for q in ours} == dict(theirs)
    else:
        assert ours == dict(theirs)
