"""``late-interaction``: ColBERT-style MaxSim over a transformers encoder's token vectors.

A PROXY for an expensive scorer, not a trained ColBERT: it runs a bi-encoder checkpoint (the real
all-MiniLM-L6-v2 in the suites) and keeps its last hidden state per token instead of pooling it.
Each token vector is L2-normalised, special tokens ([CLS], [SEP]) and padding are dropped, and

    s(q, d) = sum over query tokens i of  max over document tokens j of  cos(q_i, d_j)

(0 for an empty query or document). Unlike a pooled bi-encoder, whose score matrix has rank at
most its dimension, MaxSim's max makes the query-by-document score matrix far from low rank,
which is what ANNCUR-style experiments need from a stand-in for a cross-encoder (issue 14).

Document token vectors are computed once per corpus and kept in the artifact cache (kind
``token-vectors``), keyed by the model's files (and state once compressed), every parameter that
changes them, the device, the libraries' versions and the corpus fingerprint. They are stored as
``storage`` (float16 by default: half the disk and memory) and always read back through that
type, so a score never depends on whether the vectors came from the cache.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Sequence

from harness.sdk import Context, Param, Ranker, cache_key

from . import models
from .base import MODEL_PARAMS, ModelComponent

KIND = "token-vectors"
# Bump when the token vectors change in a way the key does not show.
FORMAT = 1
DOCUMENT_NEUTRAL = ("query_max_length",)  # parameters that touch queries only: not in the vectors' key
QUERY_MEMORY = 64  # query token matrices kept (ANNCUR scores each query twice)
# Above this share of the corpus's tokens, scoring a call against the whole token matrix and picking
# the documents asked is cheaper than gathering their rows first.
WHOLE_CORPUS_SHARE = 0.25


class LateInteraction(ModelComponent, Ranker):
    """Late interaction (ColBERT-style MaxSim) over an encoder's token vectors: a proxy expensive scorer."""

    name = "late-interaction"
    publishes = ()
    devices = ("cpu", "cuda")
    params = {
        **MODEL_PARAMS,
        "query_max_length": Param(int, 32, "tokens per query, special tokens included (ColBERT's 32); "
                                  "documents keep max_length", min=3),
        "storage": Param(str, "float16", "the type document token vectors are stored in (and read back "
                         "through) in the cache and memory", choices=("float16", "float32")),
    }

    def prepare(self, collection, ctx: Context) -> None:
        """Loads the model and the corpus's token vectors (from the cache, else encoded and stored)."""
        self._ready(ctx)
        self._collection = collection
        self._queries: OrderedDict[str, object] = OrderedDict()
        self._special = set(self._tokenizer.all_special_ids)
        self._rows: dict[str, int] = {}
        for row, text in enumerate(collection.texts()):  # streamed from a corpus on disk
            self._rows.setdefault(text, row)  # equal texts share the first's vectors
        key = self.token_key(collection)
        loaded = self._lookup(ctx, key, list(collection.doc_ids))
        if loaded is None:
            started = time.perf_counter()
            with ctx.progress.task(f"{self.name}: encoding the corpus's tokens", total=len(collection.docs)) as step:
                vectors, lengths = self.token_vectors(collection.texts(), self.max_length, step)
            seconds = round(time.perf_counter() - started, 3)
            ctx.phase["token_vectors"].update(documents=len(lengths), tokens=int(lengths.sum()),
                                              encode_seconds=seconds)
            self._store(ctx, key, list(collection.doc_ids), vectors, lengths, seconds=seconds,
                        model=self._source.record(), device=self._device, batch_size=self.batch_size)
        else:
            vectors, lengths = loaded
        self._set_corpus(vectors, lengths)

    def token_key(self, collection) -> str:
        """The corpus's token vectors' key: every parameter but the query-only ones, the model (its
        files; its state once compressed), the device it runs on, the libraries' versions, the
        values omitted settings took from the model, and the corpus fingerprint."""
        encoding = {k: v for k, v in self.config.items()
                    if k not in DOCUMENT_NEUTRAL + ("model", "revision", "device") and self.params[k].affects_output}
        encoding.update(device=self._device, runtime=models.runtime(), **self._model_defaults())
        return cache_key(KIND, FORMAT, self._model_key(), encoding, collection.corpus_fingerprint)

    # -- scoring ---------------------------------------------------------------------------------

    def score_pairs(self, query: str, texts: Sequence[str], ctx: Context) -> list[float]:
        """MaxSim of ``query`` with each of ``texts``: a document of the prepared collection uses its
        stored token vectors; any other text is encoded for the call."""
        import torch

        self._note(ctx)
        texts = list(texts)
        if not texts:
            return []
        q = self._query(query)
        rows = [self._rows.get(t) for t in texts]
        scores = torch.zeros(len(texts), dtype=torch.float64)
        known = [i for i, r in enumerate(rows) if r is not None]
        if known:
            scores[known] = self._maxsim_rows(q, [rows[i] for i in known]).double()
        others = [i for i, r in enumerate(rows) if r is None]
        if others:
            vectors, lengths = self.token_vectors([texts[i] for i in others], self.max_length)
            scores[others] = maxsim(q, vectors.float(), lengths).double()
        return scores.tolist()

    def _query(self, query: str):
        if query not in self._queries:
            vectors, _ = self.token_vectors([query], self.query_max_length)
            self._queries[query] = vectors.float().to(self._device)
            if len(self._queries) > QUERY_MEMORY:
                self._queries.popitem(last=False)
        return self._queries[query]

    def _maxsim_rows(self, q, rows: list[int]):
        import torch

        lengths = self._lengths[rows]
        if int(lengths.sum()) > WHOLE_CORPUS_SHARE * len(self._matrix):
            return maxsim(q, self._matrix, self._lengths)[torch.tensor(rows)]
        starts = self._starts[rows]
        index = torch.repeat_interleave(starts - torch.cumsum(lengths, 0) + lengths, lengths) + torch.arange(
            int(lengths.sum()))
        return maxsim(q, self._matrix[index.to(self._matrix.device)], lengths)

    def _set_corpus(self, vectors, lengths) -> None:
        import torch

        dtype = getattr(torch, self.storage)
        self._matrix = vectors.to(dtype).float().to(self._device)  # read back through the stored type
        self._lengths = torch.as_tensor(lengths, dtype=torch.long)
        self._starts = torch.cumsum(self._lengths, 0) - self._lengths

    # -- encoding --------------------------------------------------------------------------------

    def token_vectors(self, texts: Sequence[str], max_length: int, advance=lambda n: None):
        """(token vectors of every text, concatenated in text order, as ``storage``; tokens per
        text): last hidden states of the real tokens (no padding, no special tokens), L2-normalised."""
        import torch
        import torch.nn.functional as F

        from .tokens import Tokens

        tokens = Tokens(self._tokenizer, max_length) if max_length != self.max_length else self._tokens
        per_text: list = [None] * len(texts)
        special = torch.tensor(sorted(self._special), dtype=torch.long)
        with torch.inference_mode():
            for rows, inputs in tokens.texts(list(texts), self.batch_size):
                inputs = {k: v.to(self._device) for k, v in inputs.items()}
                hidden = F.normalize(self._model(**inputs)[0].float(), p=2, dim=-1).cpu()
                keep = inputs["attention_mask"].bool().cpu() & ~torch.isin(inputs["input_ids"].cpu(), special)
                for i, row in enumerate(rows):
                    per_text[row] = hidden[i][keep[i]].to(getattr(torch, self.storage))
                advance(len(rows))
        lengths = torch.tensor([len(v) for v in per_text], dtype=torch.long)
        width = self._model.config.hidden_size
        vectors = torch.cat(per_text) if per_text else torch.empty((0, width), dtype=getattr(torch, self.storage))
        return vectors, lengths

    # -- the cache -------------------------------------------------------------------------------

    def _lookup(self, ctx: Context, key: str, doc_ids: list[str]):
        record = ctx.phase["token_vectors"] = {"cache": "off" if ctx.cache is None else "miss", "key": key}
        folder = ctx.cache.get(KIND, key) if ctx.cache is not None else None
        if folder is None:
            if ctx.cache is not None and key in ctx.cache.discarded:
                record["discarded"] = ctx.cache.discarded[key]
            return None
        import numpy as np
        import torch

        if json.loads((folder / "doc_ids.json").read_text(encoding="utf-8")) != doc_ids:
            record["discarded"] = "document ids differ from the collection's"
            return None
        record.update(cache="hit", built=ctx.cache.info(folder))
        ctx.phase["cache"] = "hit"
        vectors = torch.from_numpy(np.load(folder / "vectors.npy", allow_pickle=False))
        lengths = torch.from_numpy(np.load(folder / "lengths.npy", allow_pickle=False))
        return vectors, lengths

    def _store(self, ctx: Context, key: str, doc_ids: list[str], vectors, lengths, **info) -> None:
        if ctx.cache is None:
            return
        import numpy as np

        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with ctx.cache.write(KIND, key, created=created, documents=len(doc_ids), storage=self.storage, **info) as f:
            np.save(f / "vectors.npy", vectors.numpy(), allow_pickle=False)
            np.save(f / "lengths.npy", lengths.numpy(), allow_pickle=False)
            (f / "doc_ids.json").write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")


def maxsim(q, vectors, lengths):
    """Σ_i max_j q_i · d_j per document, the documents' token vectors ``vectors`` concatenated
    (``lengths[n]`` rows each); a document without tokens, or an empty query, scores 0."""
    import torch

    n = len(lengths)
    if len(q) == 0 or n == 0:
        return torch.zeros(n, dtype=torch.float32)
    similarities = vectors @ q.T  # (tokens, query tokens)
    owner = torch.repeat_interleave(torch.arange(n, device=vectors.device), lengths.to(vectors.device))
    best = torch.full((n, len(q)), float("-inf"), dtype=similarities.dtype, device=vectors.device)
    best.scatter_reduce_(0, owner.unsqueeze(1).expand(-1, len(q)), similarities, reduce="amax", include_self=True)
    best[lengths.to(vectors.device) == 0] = 0.0
    return best.sum(dim=1).cpu()
