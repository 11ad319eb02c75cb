"""Query banks: seeded sets of queries that are never the evaluated ones.

Components that need queries besides the ones they answer (anchor queries scored offline against
every document, a query gallery that normalises away hubness) take them from a *bank*, named by a
source string a suite can write in the component's parameters:

* ``split:<name>``: the queries judged in another split of the same dataset, loaded through the
  dataset's provider (``DatasetProvider.split_params``): ``qrels/<name>.tsv`` of a BEIR folder,
  the ir_datasets id with its last segment replaced (``beir/scifact/test`` → ``.../train``; a name
  holding a ``/`` is a whole id). A provider without splits (``trec``) is refused.
* ``unjudged``: the collection's queries that have no judgments (run, never scored).
* ``pseudo:title`` / ``pseudo:first-sentence``: pseudo-queries made from the corpus, one per
  document (its title, or the first sentence of its text), id ``pseudo:<docid>``; documents
  without a title (without text) are skipped, and pseudo-queries of identical text kept once.
* ``folds:<k>``: the evaluated queries split into k folds (seeded); ``bank.for_query(qid)`` is
  the bank of the other folds, so each query is answered with a bank built without its fold.

**The guarantee.** No bank holds an evaluated query (a judged query of the collection), neither
by id nor by text (compared with whitespace collapsed and case folded). A ``folds`` bank holds
evaluated queries by design, but ``for_query(qid)`` never holds a query of qid's own fold, by id
or by text. Queries with blank text are never banked.

**Sampling.** ``size`` draws that many queries with ``random.Random(seed).sample``, kept in the
source's order (queries file, corpus); ``size=None`` keeps every query available, and a size
beyond what is available is an error naming the source. ``folds`` assigns queries to folds with
``random.Random(seed).shuffle`` (fold i holds every k-th shuffled query from the i-th), and
``size`` then applies to each fold's bank, drawn with ``random.Random(f"{seed}:{fold}")``.

Banks are cached in memory per (source, size, seed, collection fingerprint and, for ``split``,
the dataset entry). ``ctx.query_bank(source, size, seed)`` (components.py) is how a component
gets one in a suite: the runner wires it with the cell's collection and dataset entry, and each
bank's ``description`` is added to the phase record the component is working in
(``query_banks``), so the cell result says which queries were banked.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import HarnessError
from .params import Param, did_you_mean

if TYPE_CHECKING:
    from .collection import Collection
    from .components import Context
    from .datasets import DatasetSpec
    from .plugins import Registry

SOURCES = ("split:<name>", "unjudged", "pseudo:title", "pseudo:first-sentence", "folds:<k>")
PSEUDO = ("title", "first-sentence")
SAMPLING = "random.Random(seed).sample, kept in source order"
CACHE_SIZE = 64


class QueryBankError(HarnessError, ValueError):
    """A bank that cannot be built: the message names the source and why."""

    def __init__(self, source: str, reason: str):
        super().__init__(source, reason)  # both in args, so the error survives pickling
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"query bank {self.source!r}: {self.reason}"


@dataclass(frozen=True)
class QueryBank:
    """A bank of queries ``{qid: text}`` (read-only, in source order) and where it came from.

    ``source``, ``size`` (asked; None: every query available) and ``seed`` are what was asked;
    ``description`` is what results record (counts, sampling, a fingerprint of the queries).
    A ``folds:<k>`` bank holds every evaluated query; ``folds`` lists each fold's query ids and
    ``for_query(qid)`` gives the bank of the other folds. For every other source ``for_query``
    returns the bank itself.
    """

    source: str
    queries: Mapping[str, str] = field(hash=False)
    size: int | None
    seed: int
    description: Mapping[str, Any] = field(hash=False, compare=False)
    folds: tuple[tuple[str, ...], ...] = ()
    fold_banks: tuple[QueryBank, ...] = field(default=(), hash=False, compare=False, repr=False)
    outside: QueryBank | None = field(default=None, hash=False, compare=False, repr=False)
    _fold_of: dict = field(default_factory=dict, init=False, hash=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "queries", MappingProxyType(dict(self.queries)))
        object.__setattr__(self, "description", MappingProxyType(dict(self.description)))
        self._fold_of.update({qid: i for i, fold in enumerate(self.folds) for qid in fold})

    def __reduce__(self):  # read-only mappings do not pickle: rebuild from plain dicts
        return (QueryBank, (self.source, dict(self.queries), self.size, self.seed, dict(self.description),
                            self.folds, self.fold_banks, self.outside))

    def __len__(self) -> int:
        return len(self.queries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.queries)

    def __contains__(self, qid: object) -> bool:
        return qid in self.queries

    @property
    def ids(self) -> list[str]:
        return list(self.queries)

    @property
    def texts(self) -> list[str]:
        return list(self.queries.values())

    @property
    def fingerprint(self) -> str:
        """A digest of the queries (ids and texts, in order): put it in ``identity(ctx)`` when a
        component's output depends on the bank, so its caches follow the bank."""
        return self.description["fingerprint"]

    def fold_of(self, qid: str) -> int | None:
        """The fold holding ``qid`` (``folds`` banks), or None."""
        return self._fold_of.get(qid)

    def for_query(self, qid: str) -> QueryBank:
        """The bank to use when answering ``qid``: for ``folds``, the other folds' queries (a query
        in no fold, an unjudged one, gets every evaluated query); otherwise the bank itself."""
        if not self.fold_banks:
            return self
        fold = self._fold_of.get(qid)
        return self.outside if fold is None else self.fold_banks[fold]

    def describe(self) -> dict:
        """What results record about the bank (JSON data)."""
        return json.loads(json.dumps(dict(self.description)))


# -- sources ------------------------------------------------------------------------------------


def parse_source(source: Any) -> tuple[str, Any]:
    """``"folds:5"`` → ``("folds", 5)``; ``"unjudged"`` → ``("unjudged", None)``. Raises
    ``QueryBankError`` for anything else."""
    if not isinstance(source, str):
        raise QueryBankError(str(source), f"a source is a string, one of {', '.join(SOURCES)}; "
                             f"got {type(source).__name__}")
    kind, colon, arg = source.strip().partition(":")
    if kind == "unjudged" and not colon:
        return "unjudged", None
    if kind == "split" and arg.strip():
        return "split", arg.strip()
    if kind == "pseudo" and arg in PSEUDO:
        return "pseudo", arg
    if kind == "folds" and re.fullmatch(r"\d+", arg.strip()):
        k = int(arg)
        if k < 2:
            raise QueryBankError(source, f"k-fold needs k >= 2, got {k}")
        return "folds", k
    hints = {
        "split": "write split:<name>, e.g. split:train",
        "pseudo": f"write pseudo:{' or pseudo:'.join(PSEUDO)}",
        "folds": "write folds:<k>, k an integer >= 2, e.g. folds:5",
    }
    if kind in hints:
        raise QueryBankError(source, hints[kind])
    hint = did_you_mean(source, ["unjudged", "split:train", "pseudo:title", "pseudo:first-sentence", "folds:5"])
    raise QueryBankError(source, f"unknown source{hint}; accepted: {', '.join(SOURCES)}")


class BankSource(Param):
    """A parameter naming a query bank source (``BankSource(str, "unjudged", "help")``): the suite
    validator reports a source that does not parse, with its key path and line."""

    def check(self, value):
        why = super().check(value)
        if why or value is None:
            return why
        try:
            parse_source(value)
        except QueryBankError as exc:
            return exc.reason if exc.source == value else str(exc)
        return None


def normalized(text: str) -> str:
    """How texts are compared for leaks: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


_SENTENCE = re.compile(r"\s*(.+?[.!?])(?=\s|$)", re.S)


def first_sentence(text: str) -> str:
    """The text up to its first ``.``, ``!`` or ``?`` followed by a space or the end; all of it
    when there is none; whitespace collapsed."""
    match = _SENTENCE.match(text or "")
    return " ".join((match.group(1) if match else text or "").split())


# -- building -----------------------------------------------------------------------------------

_CACHE: OrderedDict[tuple, QueryBank] = OrderedDict()


def clear_cache() -> None:
    """Forget every bank built in this process."""
    _CACHE.clear()


def query_bank(
    collection: Collection, source: str, size: int | None = None, seed: int = 0, *,
    dataset: DatasetSpec | None = None, registry: Registry | None = None, base_dir: str | Path | None = None,
) -> QueryBank:
    """The bank ``source`` names for ``collection`` (see the module docstring), cached in memory.

    ``dataset`` (the suite's entry the collection was loaded from), ``registry`` (default: the
    installed plugins) and ``base_dir`` (the suite's folder, default the working directory) are
    needed by ``split:<name>`` only, which loads the other split through the dataset's provider.
    Raises ``QueryBankError`` naming the source when the bank cannot be built.
    """
    kind, arg = parse_source(source)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise QueryBankError(source, f"size must be a positive integer or None, got {size!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise QueryBankError(source, f"seed must be an integer, got {seed!r}")
    if collection is None:
        raise QueryBankError(source, "needs the cell's collection (ctx.collection is None)")
    key: tuple = (source.strip(), size, seed, collection.fingerprint)
    if kind == "split":
        key += (_dataset_key(dataset, base_dir),)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    if kind == "folds":
        bank = _folds(collection, source.strip(), arg, size, seed)
    else:
        if kind == "split":
            candidates, extra = _split(collection, source, arg, dataset, registry, base_dir)
        elif kind == "unjudged":
            candidates, extra = [(q, t) for q, t in collection.queries.items() if q not in collection.qrels], {}
        else:
            candidates, extra = _pseudo(collection, arg), {"documents": len(collection.docs)}
        bank = _bank(collection, source.strip(), candidates, size, seed, extra)
    _CACHE[key] = bank
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return bank


def maker(collection: Collection, dataset: DatasetSpec | None = None, registry: Registry | None = None,
          base_dir: str | Path | None = None) -> Callable[..., QueryBank]:
    """``banks(source, size, seed) -> QueryBank`` for one cell: what the runner puts in
    ``Context.banks``."""
    return partial(query_bank, collection, dataset=dataset, registry=registry, base_dir=base_dir)


def from_context(ctx: Context, source: str, size: int | None = None, seed: int | None = None,
                 record: bool = True) -> QueryBank:
    """``ctx.query_bank``: the bank from the runner's ``ctx.banks`` (or, outside a runner, from
    ``ctx.collection``), its description added to ``ctx.phase["query_banks"]`` with ``record``."""
    seed = ctx.seed if seed is None else seed
    if ctx.banks is not None:
        bank = ctx.banks(source, size, seed)
    else:
        bank = query_bank(ctx.collection, source, size, seed, base_dir=ctx.base_dir)
    if record:
        described = bank.describe()
        listed = ctx.phase.setdefault("query_banks", [])
        if described not in listed:
            listed.append(described)
    return bank


def _evaluated(collection: Collection) -> tuple[set[str], set[str]]:
    """The evaluated (judged) query ids, and their texts as compared for leaks."""
    ids = set(collection.qrels)
    return ids, {normalized(collection.queries[q]) for q in ids if q in collection.queries}


def _bank(collection: Collection, source: str, candidates: list[tuple[str, str]], size: int | None, seed: int,
          extra: dict) -> QueryBank:
    """A bank of ``candidates`` less the evaluated queries (by id and text) and blank ones, sampled."""
    ids, texts = _evaluated(collection)
    kept, dropped = [], {"evaluated_id": 0, "evaluated_text": 0, "blank": 0}
    for qid, text in candidates:
        if qid in ids:
            dropped["evaluated_id"] += 1
        elif not text.strip():
            dropped["blank"] += 1
        elif normalized(text) in texts:
            dropped["evaluated_text"] += 1
        else:
            kept.append((qid, text))
    if not kept:
        why = {"unjudged": "every query of the collection is judged"}.get(source, "no query is left")
        raise QueryBankError(source, f"{why} ({len(candidates)} candidates; dropped: {_counts(dropped)}): nothing "
                             "to bank")
    chosen, sampling = _sample(source, kept, size, random.Random(seed), "available")
    description = {"source": source, "size": size, "seed": seed, "queries": len(chosen), "available": len(kept),
                   "sampling": sampling, **extra, "dropped": dropped, "fingerprint": _fingerprint(chosen)}
    return QueryBank(source, dict(chosen), size, seed, description)


def _sample(source: str, kept: list, size: int | None, rng: random.Random, what: str) -> tuple[list, str | None]:
    if size is None or size == len(kept):
        return kept, None
    if size > len(kept):
        raise QueryBankError(source, f"size {size} is more than the {len(kept)} queries {what}")
    picked = set(rng.sample(range(len(kept)), size))
    return [item for i, item in enumerate(kept) if i in picked], SAMPLING


def _counts(dropped: dict) -> str:
    return ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n) or "none"


def _fingerprint(items: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]


def _pseudo(collection: Collection, how: str) -> list[tuple[str, str]]:
    """One pseudo-query per document (title or first sentence), identical texts kept once."""
    out, seen = [], set()
    for doc in collection.docs:
        text = " ".join((doc.title or "").split()) if how == "title" else first_sentence(doc.text)
        if text and normalized(text) not in seen:
            seen.add(normalized(text))
            out.append((f"pseudo:{doc.id}", text))
    return out


def _folds(collection: Collection, source: str, k: int, size: int | None, seed: int) -> QueryBank:
    ids, _ = _evaluated(collection)
    ordered = [q for q in collection.queries if q in ids and collection.queries[q].strip()]
    if len(ordered) < k:
        raise QueryBankError(source, f"{k} folds need at least {k} evaluated queries with text; the collection "
                             f"has {len(ordered)}")
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    position = {q: i for i, q in enumerate(ordered)}
    folds = tuple(tuple(sorted(shuffled[i::k], key=position.__getitem__)) for i in range(k))
    texts = [{normalized(collection.queries[q]) for q in fold} for fold in folds]
    banks = []
    for i, fold in enumerate(folds):
        members = set(fold)
        others = [(q, collection.queries[q]) for q in ordered if q not in members]
        kept = [(q, t) for q, t in others if normalized(t) not in texts[i]]
        if not kept:
            raise QueryBankError(source, f"fold {i}: every other fold's query has the text of one of its own")
        chosen, sampling = _sample(source, kept, size, random.Random(f"{seed}:{i}"),
                                   f"fold {i}'s bank has (the other folds' queries)")
        banks.append(QueryBank(source, dict(chosen), size, seed, {
            "source": source, "size": size, "seed": seed, "fold": i, "folds": k, "queries": len(chosen),
            "available": len(kept), "sampling": sampling, "dropped": {"own_fold_text": len(others) - len(kept)},
            "fingerprint": _fingerprint(chosen)}))
    everything = [(q, collection.queries[q]) for q in ordered]
    chosen, sampling = _sample(source, everything, size, random.Random(f"{seed}:outside"), "evaluated")
    outside = QueryBank(source, dict(chosen), size, seed, {
        "source": source, "size": size, "seed": seed, "fold": None, "folds": k, "queries": len(chosen),
        "available": len(everything), "sampling": sampling, "fingerprint": _fingerprint(chosen)})
    description = {
        "source": source, "size": size, "seed": seed, "folds": k, "queries": len(everything),
        "fold_sizes": [len(f) for f in folds], "bank_sizes": [len(b) for b in banks],
        "assignment": "random.Random(seed).shuffle of the evaluated queries; fold i takes every k-th from the i-th",
        "sampling": "each fold's bank: random.Random(f'{seed}:{fold}').sample, kept in source order"
        if size is not None else None,
        "fingerprint": _fingerprint(everything + [("fold", ",".join(f)) for f in folds]),
    }
    return QueryBank(source, dict(everything), size, seed, description, folds, tuple(banks), outside)


def _split(collection: Collection, source: str, name: str, dataset: DatasetSpec | None, registry, base_dir):
    """The queries judged in split ``name`` of the dataset ``collection`` was loaded from."""
    from .datasets import DatasetError, DatasetSpec, load_dataset
    from .plugins import PluginError, get_registry

    if dataset is None:
        raise QueryBankError(source, "needs the dataset entry the collection was loaded from (the runner gives it; "
                             "outside a runner pass dataset= and registry=)")
    registry = registry or get_registry()
    try:
        provider = registry.get("dataset", dataset.provider)(**dataset.params)
    except (PluginError, TypeError, ValueError) as exc:
        raise QueryBankError(source, f"cannot build the dataset provider {dataset.provider!r}: {exc}") from None
    split_params = getattr(provider, "split_params", None)
    params = split_params(name) if callable(split_params) else None
    if params is None:
        raise QueryBankError(source, f"the dataset provider {dataset.provider!r} cannot load another split of "
                             f"dataset {dataset.name!r} (it has no splits)")
    if params == dict(provider.config):
        raise QueryBankError(source, f"{name!r} is the split being evaluated")
    spec = DatasetSpec(name=f"{dataset.name}[split:{name}]", provider=dataset.provider, params=params,
                       fields=dataset.fields, grades=dataset.grades, corpus_store=dataset.corpus_store)
    try:
        other = load_dataset(spec, registry, Path(base_dir) if base_dir is not None else Path.cwd())
    except DatasetError as exc:
        raise QueryBankError(source, str(exc)) from None
    candidates = [(q, t) for q, t in other.queries.items() if q in other.qrels]
    extra = {"split": name, "provider_params": params, "split_queries": len(candidates)}
    return candidates, extra


def _dataset_key(dataset: DatasetSpec | None, base_dir) -> str | None:
    if dataset is None:
        return None
    return json.dumps([dataset.provider, dataset.params, dataset.fields, dataset.grades, str(base_dir)],
                      sort_keys=True, default=str)


__all__ = [
    "SOURCES",
    "BankSource",
    "QueryBank",
    "QueryBankError",
    "clear_cache",
    "first_sentence",
    "from_context",
    "maker",
    "normalized",
    "parse_source",
    "query_bank",
]
