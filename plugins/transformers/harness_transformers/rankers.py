"""``cross-encoder`` and ``bi-encoder``: rerankers of a first stage's candidates.

Both return exactly the candidates they are given (the runner's ``depth`` head of each query), in
their new order; the runner keeps the tail below them (see docs/plugins/transformers.md). Both
also score arbitrary texts for a query (``score_pairs``, the harness's pair-scoring capability),
so other components can nest them (``ctx.scorer``), and both count what they rerank into
``ctx.costs`` as the harness's default rerank would: per query with candidates, one scorer call
(``scorer_calls``) and its candidates as pairs (``pairs_scored``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.sdk import Context, Param, Ranker, Run

from .base import ENCODER_PARAMS, MODEL_PARAMS, EncoderComponent, ModelComponent

SCORES = ("logit", "sigmoid", "softmax")
PAIR_SLICE = 8192  # (query, document) pairs scored at once by the bi-encoder


def _text(collection, qid: str, doc_id: str) -> str:
    try:
        return collection.text(doc_id)
    except KeyError:
        raise ValueError(f"candidate {doc_id!r} of query {qid!r} is not a document of the collection") from None


class CrossEncoder(ModelComponent, Ranker):
    """Cross-encoder reranking: a sequence-classification model scores each (query, document) pair."""

    name = "cross-encoder"
    publishes = ()
    head = "classifier"
    devices = ("cpu", "cuda")
    params = {
        **MODEL_PARAMS,
        # at least 8: a query keeps at most half the window, the document the rest
        "max_length": Param(int, None, "tokens per (query, document) pair; the document is truncated. Default: "
                            "the model's (sentence_bert_config.json max_seq_length), else 512 capped at the model's "
                            "limit", nullable=True, min=8),
        "score": Param(str, "logit", "the output as is (logit), through a sigmoid, or its softmax probability",
                       choices=SCORES),
        "label": Param(int, None, "which output of a multi-output head is relevance (default: the only one)",
                       nullable=True, min=0),
    }

    def prepare(self, collection, ctx: Context) -> None:
        self._ready(ctx)
        outputs = self._model.config.num_labels
        if self.label is None and outputs != 1:
            labels = getattr(self._model.config, "id2label", {})
            raise ValueError(f"cross-encoder: the model has {outputs} outputs {labels}; set label = the "
                             "index of the one that means relevant")
        if (self.label or 0) >= outputs:
            raise ValueError(f"cross-encoder: label {self.label} but the model has {outputs} output(s)")
        if self.score == "softmax" and outputs == 1:
            raise ValueError("cross-encoder: score = 'softmax' needs a head with several outputs")
        self._collection = collection

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        self._note(ctx)
        pairs = [(qid, doc) for qid in candidates for doc in candidates[qid]]
        texts = [(queries[qid], _text(self._collection, qid, doc)) for qid, doc in pairs]
        scores = self.score_text_pairs(texts, ctx)  # every query's pairs in one batched pass
        ctx.phase.update(pairs=len(pairs), batch_size=self.batch_size)
        out: dict[str, dict[str, float]] = {qid: {} for qid in candidates}
        for (qid, doc), score in zip(pairs, scores, strict=True):
            out[qid][doc] = score
        _count(candidates, ctx)
        return Run.from_scores(out)

    def score_pairs(self, query: str, texts: Sequence[str], ctx: Context) -> list[float]:
        """The harness's pair scoring: ``query`` against each of ``texts``, in their order."""
        self._note(ctx)
        return self.score_text_pairs([(query, text) for text in texts], ctx)

    def score_text_pairs(self, pairs: list[tuple[str, str]], ctx: Context) -> list[float]:
        """Scores of (query, document) texts, in their order (see tokens.py for the batching)."""
        import torch

        scores = torch.empty(len(pairs), dtype=torch.float32)
        column = self.label or 0
        with ctx.progress.task("cross-encoder: scoring pairs", total=len(pairs)) as advance, torch.inference_mode():
            for rows, inputs in self._tokens.pairs(pairs, self.batch_size):
                logits = self._model(**{k: v.to(self._device) for k, v in inputs.items()}).logits.float()
                if self.score == "softmax":
                    logits = logits.softmax(dim=1)
                values = logits[:, column]
                scores[torch.tensor(rows)] = (values.sigmoid() if self.score == "sigmoid" else values).cpu()
                advance(len(rows))
        return scores.tolist()


class BiEncoder(EncoderComponent, Ranker):
    """Bi-encoder reranking: cosine of query and document vectors, sharing the dense retriever's cache."""

    name = "bi-encoder"
    publishes = ()
    devices = ("cpu", "cuda")
    params = ENCODER_PARAMS

    def prepare(self, collection, ctx: Context) -> None:
        """Loads the model and looks the corpus's vectors up in the embedding cache; on a miss,
        ``rerank`` encodes the candidates it meets (and keeps them for later queries)."""
        self._ready(ctx)
        self._collection, self._matrix, self._rows = collection, None, {}
        self._by_text: dict[str, str] | None = None  # documents by text, for score_pairs
        matrix = self.corpus_vectors(collection, ctx, encode=False)
        if matrix is not None:
            self._add(list(collection.doc_ids), matrix)

    def _add(self, doc_ids: list[str], vectors) -> None:
        import torch

        start = 0 if self._matrix is None else len(self._matrix)
        vectors = vectors.to(self._device)
        self._matrix = vectors if self._matrix is None else torch.cat((self._matrix, vectors))
        self._rows.update((doc, start + i) for i, doc in enumerate(doc_ids))

    def rerank(self, queries: Mapping[str, str], candidates: Run, ctx: Context) -> Run:
        import torch

        self._note(ctx)
        qids = [qid for qid in candidates if candidates[qid]]
        encoded = self.encode_queries({qid: queries[qid] for qid in qids})
        missing: dict[str, str] = {}  # document → a query it is a candidate of (for errors)
        for qid in qids:
            missing.update((doc, qid) for doc in candidates[qid] if doc not in self._rows)
        if missing:
            texts = [_text(self._collection, qid, doc) for doc, qid in missing.items()]
            self._add(list(missing), self.encode_documents(texts, ctx))
        ctx.phase["embeddings"] = {"documents_encoded": len(missing)}
        # Pairs a slice at a time (a Python loop per query costs more than the arithmetic);
        # slices bound the memory.
        pairs = [(row, qid, doc) for row, qid in enumerate(qids) for doc in candidates[qid]]
        doc_rows = torch.tensor([self._rows[doc] for _, _, doc in pairs], dtype=torch.long)
        query_rows = torch.tensor([row for row, _, _ in pairs], dtype=torch.long)
        scores = []
        for start in range(0, len(pairs), PAIR_SLICE):
            docs = self._matrix[doc_rows[start : start + PAIR_SLICE].to(self._device)]
            query_side = encoded.vectors[query_rows[start : start + PAIR_SLICE].to(self._device)]
            scores += (docs * query_side).sum(dim=1).cpu().tolist()
        out: dict[str, dict[str, float]] = {qid: {} for qid in qids}
        for (_, qid, doc), score in zip(pairs, scores, strict=True):
            out[qid][doc] = score
        _count(candidates, ctx)
        return Run.from_scores(out)

    def score_pairs(self, query: str, texts: Sequence[str], ctx: Context) -> list[float]:
        """The harness's pair scoring: the cosine (dot product of the vectors) of ``query`` and each
        of ``texts``, as ``rerank`` scores a candidate. A text that is a document of the prepared
        collection uses that document's vector (from the embedding cache, or encoded once and
        kept); other texts are encoded for the call."""
        import torch

        self._note(ctx)
        texts = list(texts)
        if not texts:
            return []
        query_vector = self.encode_queries({"query": query}).vectors[0]
        known = self._document_ids()
        docs = [known.get(text) for text in texts]
        missing = list(dict.fromkeys(d for d in docs if d is not None and d not in self._rows))
        if missing:
            self._add(missing, self.encode_documents([self._collection.text(d) for d in missing], ctx))
        others = [text for text, doc in zip(texts, docs, strict=True) if doc is None]
        encoded = iter(self.encode_documents(others, ctx).to(self._device)) if others else iter(())
        vectors = torch.stack([self._matrix[self._rows[doc]] if doc is not None else next(encoded) for doc in docs])
        return (vectors * query_vector).sum(dim=1).cpu().tolist()

    def _document_ids(self) -> dict[str, str]:
        """The prepared collection's documents by their text (the first of equal texts)."""
        if self._by_text is None:
            self._by_text = {}
            for doc_id, text in zip(self._collection.doc_ids, self._collection.texts(), strict=True):
                self._by_text.setdefault(text, doc_id)
        return self._by_text


def _count(candidates: Run, ctx: Context) -> None:
    """The counts the harness's default rerank makes: per query with candidates, one scorer call
    (``scorer_calls``) and every candidate scored (``pairs_scored``)."""
    for qid in candidates:
        scored = len(candidates.ranked(qid))
        if scored:
            ctx.costs.add(qid, scorer_calls=1, pairs_scored=scored)
