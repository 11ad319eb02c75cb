"""Loading a suite's dataset entry into a ``Collection``.

An entry names a provider (a ``DatasetProvider`` plugin: the built-in ``irds``, ``beir`` and
``trec`` live in ``builtin/datasets.py``) with its parameters, plus three options applied here,
the same way for every provider and in this order:

1. ``grades``: ``{raw grade: grade}``, remaps relevance grades (Cranfield's raw codes run 1 = best);
   grades absent from the mapping are kept unchanged;
2. ``queries``: ``{first = N}`` or ``{sample = N, seed = S}`` evaluates a subset of the queries,
   kept in the provider's order; judgments of other queries are dropped;
3. ``fields``: which document fields make up the text components see (default title and text).

``Collection.metadata`` records the provider, its parameters and the options applied, so every
result says exactly what was evaluated.
"""

from __future__ import annotations

import dataclasses
import numbers
import random
import re
import traceback
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from pathlib import Path

from .collection import Collection, Document
from .components import Context
from .errors import HarnessError
from .params import check_params, did_you_mean
from .trecfiles import grade_problem

DEFAULT_FIELDS = ("title", "text")
DOCUMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Document) if f.name != "id")
SUBSET_KEYS = ("first", "sample", "seed")


class DatasetError(HarnessError):
    """A dataset that cannot be loaded; the message names the dataset and the reason.

    Providers raise it with the reason alone, since only the suite knows its name for the
    dataset; ``load_dataset`` adds the name.
    """

    def __init__(self, reason: str, dataset: str | None = None):
        super().__init__(reason, dataset)  # both in args, so the error survives pickling
        self.reason = reason
        self.dataset = dataset

    def __str__(self) -> str:
        return f"dataset {self.dataset!r}: {self.reason}" if self.dataset else self.reason


@dataclass
class DatasetSpec:
    """One dataset entry of a suite, after validation.

    ``queries`` is ``{"first": N}`` or ``{"sample": N, "seed": S}`` (seed 0 by default);
    ``grades`` maps raw grade to grade, and grades it does not mention stay as they are.
    """

    name: str
    provider: str
    params: dict
    fields: tuple[str, ...] | None = None
    queries: dict | None = None
    grades: dict[int, int] | None = None
    # Where the documents are held (harness/corpus.py): not part of any key, the documents and
    # every result are the same either way.
    corpus_store: str = "auto"


def load_dataset(spec: DatasetSpec, registry, base_dir: Path) -> Collection:
    """Build the provider, load its collection, then apply grades, the query subset and fields.

    Raises ``DatasetError`` for every failure, a provider's unexpected exceptions included.
    """
    try:
        return _load(spec, registry, base_dir)
    except DatasetError as exc:
        _release(exc)
        raise


def _release(exc: BaseException) -> None:
    """Clear the locals of the finished frames in ``exc``'s tracebacks (its causes' too): the error
    outlives the load (a runner keeps it for each cell of the dataset), and a corpus read before
    the failure, on disk in a temporary folder (corpus.py), must go now, not with the error."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # the frame still running is left alone
        exc = exc.__cause__ or exc.__context__


def _load(spec: DatasetSpec, registry, base_dir: Path) -> Collection:
    problems = check_options(spec.queries, spec.grades, spec.fields)
    try:
        provider_cls = registry.get("dataset", spec.provider)
        declared = provider_cls.params
        problems += [(f"params.{key}", why) for key, why in check_params(declared, spec.params)]
        if problems:
            raise DatasetError("; ".join(f"{key} {why}" for key, why in problems), spec.name)
        loaded = provider_cls(**spec.params).load(Context(base_dir=Path(base_dir), corpus_store=spec.corpus_store))
    except DatasetError as exc:
        if exc.dataset:
            raise
        raise DatasetError(exc.reason, spec.name) from exc
    except Exception as exc:
        raise DatasetError(f"{type(exc).__name__}: {exc}", spec.name) from exc
    return _apply_options(loaded, spec)


def _apply_options(loaded: Collection, spec: DatasetSpec) -> Collection:
    for what, items in (("documents", loaded.docs), ("queries", loaded.queries)):
        if not items:
            raise DatasetError(f"provider {spec.provider!r} returned no {what}", spec.name)
    problem = contents_problem(loaded)
    if problem:
        raise DatasetError(f"provider {spec.provider!r} returned {problem}", spec.name)
    grades = {_grade_key(raw): grade for raw, grade in (spec.grades or {}).items()}
    queries, subset = _subset(loaded.queries, spec.queries)
    qrels = {
        qid: {docid: grades.get(grade, grade) for docid, grade in docs.items()}
        for qid, docs in loaded.qrels.items()
        if qid in queries
    }
    if not qrels:
        raise DatasetError("none of the queries evaluated has relevance judgments", spec.name)
    if not any(g > 0 for docs in qrels.values() for g in docs.values()):
        mapped = " after the grade mapping" if grades else ""
        raise DatasetError(f"no positive judgment{mapped}: every grade of the queries evaluated is 0 or less, "
                           "so every measure would be 0", spec.name)
    for qid, docs in qrels.items():  # whatever the provider (ir_datasets included) and the mapping
        for docid, grade in docs.items():
            if grade_problem(grade):
                raise DatasetError(f"query {qid!r}, document {docid!r}: {grade_problem(grade)}", spec.name)
    metadata = {
        **loaded.metadata,
        "provider": spec.provider,
        "provider_params": dict(spec.params),
        "query_subset": subset,
        "grade_mapping": {str(raw): grade for raw, grade in grades.items()} or None,
    }
    # Judgments of queries the provider does not have can never be retrieved for; a topic file
    # covering part of a qrels file is common, so they are dropped, but counted.
    dropped = {qid: docs for qid, docs in loaded.qrels.items() if qid not in loaded.queries}
    if dropped:
        metadata["qrels_unknown_queries"] = len(dropped)
    fields = tuple(spec.fields) if spec.fields is not None else DEFAULT_FIELDS
    return Collection(spec.name, loaded.docs, queries, qrels, fields, metadata, dropped_qrels=dropped)


def contents_problem(collection: Collection) -> str | None:
    """What is wrong with a provider's collection, whatever the provider (a plugin's, ir_datasets'):
    ids that are not strings, empty, or hold whitespace or a control character (a TREC run file
    could not hold them, or trec_eval would collide them); documents listed twice; texts and titles
    that are not strings (a list would be indexed as its Python repr). None when all is well.

    Whole lists at once: types by ``set(map(type, ...))``, characters by one regular expression
    over the joined ids; an offending item is looked for only once something is wrong."""
    docs = collection.docs
    doc_ids = collection.doc_ids
    problem = _ids_problem(doc_ids, "document id") or _ids_problem(list(collection.queries), "query id")
    if problem:
        return problem
    if len(set(doc_ids)) != len(doc_ids):
        seen: set[str] = set()
        twice = next(d for d in doc_ids if d in seen or seen.add(d))
        return f"document {twice!r} twice"
    query_ids = list(collection.queries)
    # Documents on disk were written as strings (corpus.DocumentWriter checks): not read again.
    columns = [] if collection.on_disk else [
        ("document", "text", list(map(attrgetter("text"), docs)), doc_ids, False),
        ("document", "title", list(map(attrgetter("title"), docs)), doc_ids, True)]
    for owner, what, values, ids, optional in (
        *columns,
        ("query", "text", list(collection.queries.values()), query_ids, False),
    ):
        kinds = set(map(type, values))
        if kinds <= ({str, type(None)} if optional else {str}):
            continue
        i = next(i for i, v in enumerate(values) if type(v) is not str and not (optional and v is None))
        return f"{owner} {ids[i]!r} with a {what} that is not a string: {type(values[i]).__name__} {values[i]!r:.40}"
    qrels = collection.qrels
    problem = (_ids_problem(list(qrels), "judged query id")
               or _ids_problem(list(chain.from_iterable(qrels.values())), "judged document id"))
    if problem:
        return problem
    kinds = set(map(type, chain.from_iterable(map(dict.values, qrels.values()))))
    if any(kind is bool or not issubclass(kind, numbers.Integral) for kind in kinds):
        qid, docid, grade = next((q, d, g) for q, judged in qrels.items() for d, g in judged.items()
                                 if type(g) is bool or not isinstance(g, numbers.Integral))
        return f"a grade that is not an integer for query {qid!r}, document {docid!r}: {grade!r:.40}"
    return None


# Ids hold no whitespace (TREC files separate columns with it) and no control character.
_ID_UNSAFE = re.compile("[\\s\x00-\x1f\x7f-\x9f\ufeff]")


def _ids_problem(ids: list, what: str) -> str | None:
    if set(map(type, ids)) - {str}:
        bad = next(i for i in ids if type(i) is not str)
        return f"a {what} that is not a string: {type(bad).__name__} {bad!r:.40}"
    if not all(ids):
        return f"an empty {what}"
    found = _ID_UNSAFE.search("".join(ids))
    if found:
        bad = next(i for i in ids if _ID_UNSAFE.search(i))
        char = found.group()
        kind = "whitespace" if char.isspace() else "a control character"
        return f"{what} {bad!r}, which holds {kind} (U+{ord(char):04X})"
    return None


def _subset(queries: dict[str, str], option: dict | None) -> tuple[dict[str, str], dict | None]:
    """The kept queries, in the provider's order, and what to record about the choice."""
    if not option:
        return queries, None
    ids = list(queries)
    if "first" in option:
        kept = ids[: option["first"]]
        record = {"first": option["first"]}
    else:
        seed = option.get("seed", 0)
        picked = set(random.Random(seed).sample(range(len(ids)), min(option["sample"], len(ids))))
        kept = [qid for i, qid in enumerate(ids) if i in picked]
        record = {"sample": option["sample"], "seed": seed}
    return {qid: queries[qid] for qid in kept}, {**record, "of": len(ids)}


def check_options(queries, grades, fields=None) -> list[tuple[str, str]]:
    """Problems with a dataset entry's ``queries``, ``grades`` and ``fields``, as (key, message)."""
    problems = []
    if queries is not None:
        problems += _check_queries(queries)
    if grades is not None:
        problems += _check_grades(grades)
    if fields is not None:
        problems += _check_fields(fields)
    return problems


def _check_queries(queries) -> list[tuple[str, str]]:
    if not isinstance(queries, dict):
        shape = "{first = 50} or {sample = 50, seed = 0}"
        return [("queries", f"must be a table like {shape}, got {type(queries).__name__}")]
    problems = []
    for key in queries:
        if key not in SUBSET_KEYS:
            hint = did_you_mean(str(key), SUBSET_KEYS)
            why = f"unknown key{hint} (accepted: first, sample, seed)"
            problems.append((f"queries.{key}", why))
    modes = [key for key in ("first", "sample") if key in queries]
    if len(modes) != 1:
        problems.append(("queries", "give exactly one of 'first' or 'sample'"))
    for key in modes:
        if not _is_int(queries[key]) or queries[key] < 1:
            problems.append((f"queries.{key}", f"must be a positive integer, got {queries[key]!r}"))
    if "seed" in queries:
        if "sample" not in queries:
            problems.append(("queries.seed", "only applies with 'sample'"))
        elif not _is_int(queries["seed"]):
            problems.append(("queries.seed", f"must be an integer, got {queries['seed']!r}"))
    return problems


def _check_grades(grades) -> list[tuple[str, str]]:
    if not isinstance(grades, dict):
        shape = "{1 = 4, -1 = 0}"
        why = f"must be a table of raw grade = grade like {shape}, got {type(grades).__name__}"
        return [("grades", why)]
    problems = []
    for raw, grade in grades.items():
        if _grade_key(raw) is None:
            problems.append((f"grades.{raw}", f"the raw grade {raw!r} is not an integer"))
        if not _is_int(grade):
            problems.append((f"grades.{raw}", f"must map to an integer grade, got {grade!r}"))
        elif grade_problem(grade):
            problems.append((f"grades.{raw}", grade_problem(grade)))
    return problems


def _check_fields(fields) -> list[tuple[str, str]]:
    accepted = ", ".join(DOCUMENT_FIELDS)
    if not isinstance(fields, (list, tuple)) or not fields:
        return [("fields", f"must be a non-empty list of document fields ({accepted})")]
    problems = []
    for i, name in enumerate(fields):
        if name not in DOCUMENT_FIELDS:
            hint = did_you_mean(str(name), DOCUMENT_FIELDS)
            why = f"unknown document field {name!r}{hint} (accepted: {accepted})"
            problems.append((f"fields.{i}", why))
    return problems


def _grade_key(raw) -> int | None:
    """A raw grade as an integer; TOML keys are strings, so {-1 = 0} arrives as {"-1": 0}."""
    if _is_int(raw):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[+-]?\d+", raw.strip()):
        return int(raw)
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
