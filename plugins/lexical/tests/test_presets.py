"""``preset = "bm25s"``, bm25s's stopword names as aliases, the default kept stable (issue 17)."""

from __future__ import annotations

import csv
import inspect
import json
import re

import pytest
from harness_lexical import BM25
from harness_lexical.bm25 import PRESETS, STOPWORD_ALIASES, STOPWORD_SETS, Analyzer

from harness.cache import cache_key
from harness.collection import Collection, Document
from harness.components import Context
from harness.leaderboard import leaderboard_frame
from harness.params import check_params

DOCS = {
    "d1": "The quick brown fox jumps over the lazy dog",
    "d2": "A quick brown dog outpaces a quick fox, 2 times",
    "d3": "Lorem ipsum dolor sit amet",
    "d4": "Runners were running and the runner runs",
    "d5": "I X y fox",  # one-letter words: \w+ keeps them, bm25s's \w\w+ does not
}

# The identity of a bm25 configured with no preset, computed with the code before presets existed
# (it is every cache key's component part): presets must not move it.
DEFAULT_IDENTITY = {"k1": 0.9, "b": 0.4, "method": "lucene", "delta": 0.5, "stemmer": None, "stopwords": "en",
                    "lower": True, "token_pattern": r"\w+"}
DEFAULT_IDENTITY_KEY = "097824fc088cf0e27f3ffe7d"  # cache_key(DEFAULT_IDENTITY), also computed before


def collection(docs=DOCS) -> Collection:
    return Collection("tiny", [Document(i, t) for i, t in docs.items()], {}, {}, fields=("text",))


def search(queries, k=10, docs=DOCS, **params):
    retriever = BM25(**params)
    retriever.index(collection(docs), Context())
    return retriever.retrieve(queries, k, Context())


# -- the default is what it was ---------------------------------------------------------------------


def test_default_identity_and_saved_parameters_are_unchanged(tmp_path):
    for default in (BM25(), BM25(stemmer="none"), BM25(preset=None), BM25(k1=0.9, b=0.4, stopwords="en")):
        assert default.identity(Context()) == DEFAULT_IDENTITY
    assert cache_key(BM25().identity(Context())) == DEFAULT_IDENTITY_KEY
    # An index saved without a preset records the same parameters as before, so one saved by the
    # earlier code (same key) loads.
    retriever = BM25()
    retriever.index(collection(), Context())
    retriever.save(tmp_path / "index")
    meta = json.loads((tmp_path / "index" / "harness_lexical.json").read_text())
    assert meta["params"] == DEFAULT_IDENTITY
    BM25().load(tmp_path / "index")
    with pytest.raises(ValueError, match="was built with"):
        BM25(preset="bm25s").load(tmp_path / "index")


def test_default_numbers_are_unchanged():
    # \w+ keeps one-letter tokens and "2"; a preset-like tokenizer would drop them.
    assert list(search({"q": "x"})["q"]) == ["d5"]
    assert list(search({"q": "2"})["q"]) == ["d2"]


# -- preset = "bm25s" -----------------------------------------------------------------------------


def test_the_bm25s_preset_is_bm25s_own_defaults():
    """The preset is read against bm25s itself: ``bm25s.tokenize``'s and ``bm25s.BM25``'s defaults
    (with stopwords="en", as bm25s's README passes), so a bm25s release that changed them fails here."""
    import bm25s
    from bm25s.tokenization import _infer_stopwords

    preset = PRESETS["bm25s"]
    tokenize = inspect.signature(bm25s.tokenize).parameters
    assert preset["lower"] == tokenize["lower"].default is True
    assert preset["token_pattern"] == tokenize["token_pattern"].default
    assert preset["stemmer"] is tokenize["stemmer"].default is None
    model = inspect.signature(bm25s.BM25).parameters
    for name in ("k1", "b", "delta", "method"):
        assert preset[name] == model[name].default, name
    assert model["idf_method"].default is None  # None: the same formula as method
    words = getattr(bm25s.stopwords, STOPWORD_SETS[preset["stopwords"]])
    assert list(words) == list(_infer_stopwords("en"))
    # and the analyzer gives bm25s.tokenize's tokens, in order, on text that tells tokenizers apart
    text = "The Quick-fox's 2 X-rays: naïve CAFÉ, a_b __ 42 état-major I o'clock"
    tokenized = bm25s.tokenize(text, stopwords="en", return_ids=False, show_progress=False)[0]
    analyzer = BM25(preset="bm25s").analyzer()
    assert analyzer(text) == tokenized and "x" not in tokenized and "42" in tokenized


def test_preset_settings_are_the_identity_and_given_parameters_override_them():
    ctx = Context()
    preset = BM25(preset="bm25s")
    assert (preset.k1, preset.b, preset.token_pattern) == (1.5, 0.75, r"(?u)\b\w\w+\b")
    assert preset.identity(ctx) == {**PRESETS["bm25s"], "preset": "bm25s"}
    # A parameter given beside the preset wins, also when it equals the parameter's default.
    for given in ({"k1": 1.2}, {"k1": 0.9}, {"stopwords": "en_plus", "stemmer": "porter"}, {"token_pattern": r"\w+"}):
        retriever = BM25(preset="bm25s", **given)
        assert retriever.identity(ctx) == {**PRESETS["bm25s"], **given, "preset": "bm25s"}
        assert retriever.config == retriever.identity(ctx)
    # The preset is the spelled-out settings: same run; a distinct identity (it records the preset).
    spelled = {k: v for k, v in PRESETS["bm25s"].items()}
    queries = {"q1": "quick fox", "q2": "X y fox", "q3": "running runners"}
    assert search(queries, preset="bm25s") == search(queries, **spelled)
    assert search(queries, preset="bm25s") != search(queries)
    assert BM25(**spelled).identity(ctx) == {k: v for k, v in preset.identity(ctx).items() if k != "preset"}
    assert check_params(BM25.params, {"preset": "bm25s", "k1": 1.2}) == []
    problem = dict(check_params(BM25.params, {"preset": "bm25S"}))["preset"]
    assert "must be one of 'bm25s'" in problem and "did you mean 'bm25s'" in problem


def test_preset_index_round_trip(tmp_path):
    fresh = BM25(preset="bm25s", k1=1.2)
    fresh.index(collection(), Context())
    fresh.save(tmp_path / "index")
    loaded = BM25(preset="bm25s", k1=1.2)
    loaded.load(tmp_path / "index")
    queries = {"q": "quick brown dog"}
    assert loaded.retrieve(queries, 3, Context()) == fresh.retrieve(queries, 3, Context())
    with pytest.raises(ValueError, match="was built with"):
        BM25(preset="bm25s").load(tmp_path / "index")


# -- bm25s's stopword names ---------------------------------------------------------------------------


def bm25s_stopword_names() -> set[str]:
    """Every name ``bm25s.tokenize(stopwords=...)`` accepts, read from its own code."""
    from bm25s.tokenization import _infer_stopwords

    return set(re.findall(r'"([a-z_]+)"', inspect.getsource(_infer_stopwords)))


def test_every_bm25s_stopword_name_is_accepted_and_recorded_as_its_code():
    from bm25s.tokenization import _infer_stopwords

    names = bm25s_stopword_names()
    assert {"en", "english", "english_plus", "german", "danish", "korean"} <= names  # the reading works
    accepted = {*STOPWORD_SETS, *STOPWORD_ALIASES}
    assert names <= accepted, names - accepted
    for name in names:
        code = STOPWORD_ALIASES.get(name, name)
        assert code in STOPWORD_SETS
        assert check_params(BM25.params, {"stopwords": name}) == [], name
        retriever = BM25(stopwords=name)
        assert retriever.stopwords == retriever.identity(Context())["stopwords"] == code  # canonical
        assert retriever.analyzer().stopwords == {w.lower() for w in _infer_stopwords(name)}, name


def test_english_is_en():
    assert BM25(stopwords="english").identity(Context()) == DEFAULT_IDENTITY  # one configuration, one key
    text = "The Quick fox and THE dog"
    assert Analyzer(True, r"\w+", "english", None)(text) == Analyzer(True, r"\w+", "en", None)(text)
    assert search({"q": "the fox"}, stopwords="english") == search({"q": "the fox"})
    problem = dict(check_params(BM25.params, {"stopwords": "englsh"}))["stopwords"]
    assert "did you mean 'english'" in problem


# -- the leaderboard shows the settings -------------------------------------------------------------


def test_leaderboard_shows_each_pipelines_settings():
    def cell(pipeline, identity, value):
        return {"schema": "harness.cell/1", "status": "ok",
                "cell": {"id": f"x/{pipeline}/cpu", "key": "k", "slug": f"x__{pipeline}__cpu", "dataset": "x",
                         "pipeline": pipeline, "device": "cpu"},
                "components": {"retriever": {"plugin": "bm25", "identity": identity}},
                "metrics": {"AP": value}, "phases": {}, "error": None}

    preset = BM25(preset="bm25s").identity(Context())
    frame = leaderboard_frame({"metrics": ["AP"], "datasets": ["x"]},
                              [cell("bm25", DEFAULT_IDENTITY, 0.3), cell("bm25s", preset, 0.4)])
    settings = dict(zip(frame["pipeline"], frame["settings"], strict=True))
    assert settings["bm25"] == (r"bm25: k1=0.9 b=0.4 method=lucene delta=0.5 stemmer=none stopwords=en "
                                r"lower=True token_pattern=\w+")
    assert settings["bm25s"] == (r"bm25: k1=1.5 b=0.75 method=lucene delta=0.5 stemmer=none stopwords=en "
                                 r"lower=True token_pattern=(?u)\b\w\w+\b preset=bm25s")


# -- bm25s's own output on a real collection --------------------------------------------------------


def load_beir(folder, fields=("title", "text")) -> Collection:
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        docs = [Document(r["_id"], r.get("text", ""), r.get("title", "")) for r in map(json.loads, f)]
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        queries = {r["_id"]: r["text"] for r in map(json.loads, f)}
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows)
        for qid, docid, grade in rows:
            qrels.setdefault(qid, {})[docid] = int(grade)
    return Collection(folder.name, docs, queries, qrels, fields=fields)


def ndcg10(qrels, run) -> float:
    import pytrec_eval

    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return sum(q["ndcg_cut_10"] for q in per_query.values()) / len(qrels)


# nDCG@10 of bm25s's README usage on the shared collections (title + text), as measured when this
# test was written: the harness must give it, and so must bm25s (a moved number is a changed bm25s
# or a changed collection; the exact comparison below is the real check).
BM25S_NDCG10 = {"cisi": 0.3494, "vaswani": 0.3535}


@pytest.mark.shared
@pytest.mark.parametrize("name", ["cisi", "vaswani"])
def test_bm25s_preset_reproduces_bm25s(shared_dir, name):
    """bm25s's README usage, run here through bm25s itself, against ``preset = "bm25s"``: the same
    score for every retrieved document (bitwise: same float32 sums), the same ranking once
    bm25s's ranking is put in trec_eval's order (score, then document id, both descending; bm25s
    orders ties arbitrarily) with the documents that match no query term left out (bm25s returns
    them with score 0, the harness does not return them), and the same nDCG@10 by pytrec_eval."""
    import bm25s

    folder = shared_dir / "datasets" / name
    assert folder.is_dir(), f"{folder} is missing from ../shared"
    col = load_beir(folder)
    ids, k = [d.id for d in col.docs], 1000
    qids = list(col.queries)

    # bm25s, exactly as its README uses it
    texts = col.texts()
    model = bm25s.BM25()
    model.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    query_tokens = bm25s.tokenize([col.queries[q] for q in qids], stopwords="en", show_progress=False)
    docs, scores = model.retrieve(query_tokens, k=k, show_progress=False)
    theirs = {q: {ids[i]: float(s) for i, s in zip(docs[n], scores[n], strict=True)} for n, q in enumerate(qids)}
    docs, scores = model.retrieve(query_tokens, k=len(ids), show_progress=False)  # every document

    retriever = BM25(preset="bm25s")
    retriever.index(col, Context())
    ours = retriever.retrieve(col.queries, k, Context())

    for n, q in enumerate(qids):
        matched = [(float(s), ids[i]) for i, s in zip(docs[n], scores[n], strict=True) if s > 0]
        expected = sorted(matched, reverse=True)[:k]  # trec_eval's order
        assert [(s, d) for d, s in ours[q].items()] == expected, q
    got = {"bm25s": ndcg10(col.qrels, theirs), "harness": ndcg10(col.qrels, ours.scores)}
    print(f"{name} nDCG@10:", {w: round(v, 4) for w, v in got.items()})
    assert got["harness"] == pytest.approx(got["bm25s"], abs=1e-12)
    assert got["bm25s"] == pytest.approx(BM25S_NDCG10[name], abs=0.0005)
