"""What the components share: a model named by a source and hashed into the identity, loaded on
first use, compressible, run on a resolved device; and, for the two bi-encoder components
(``dense`` and ``bi-encoder``), the encoding parameters and the corpus's document vectors, which
go through the embedding cache so that both share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from harness.sdk import REQUIRED, Param

from . import cache, models, settings
from .encoding import POOLINGS, Encoder
from .tokens import CHUNK, Tokens

MODEL_PARAMS = {
    "model": Param(str, REQUIRED, "a hub id, a local folder, or pkg:<package>/<path>"),
    "revision": Param(str, None, "hub revision (branch, tag or commit); hub ids only", nullable=True),
    "device": Param(str, None, "cpu, cuda or auto; default: the cell's device",
                    choices=("cpu", "cuda", "auto"), nullable=True),
    "batch_size": Param(int, 32, "texts (or query-document pairs) per forward pass", min=1),
    "max_length": Param(int, None, "tokens per input; longer inputs are truncated. Default: the model's "
                        "(sentence_bert_config.json max_seq_length), else 512 capped at the model's limit",
                        nullable=True, min=1),
}
ENCODER_PARAMS = {
    **MODEL_PARAMS,
    "pooling": Param(str, None, "token vectors to one vector: mean (over real tokens) or cls. Default: the "
                     "model's (its sentence-transformers Pooling config), else mean", choices=POOLINGS, nullable=True),
    "normalize": Param(bool, None, "L2-normalise the vectors, so that their dot product is the cosine. Default: "
                       "the model's (a Normalize module in modules.json), else true", nullable=True),
    "query_prefix": Param(str, "", "text put before every query (e.g. 'query: ' for E5 models)"),
    "doc_prefix": Param(str, "", "text put before every document (e.g. 'passage: ')"),
}

# Parameters keys hold in another form: the model's spelling by its files' hashes, the device as
# written by the device it resolves to on the cell.
RESOLVED = ("model", "revision", "device")
# Texts read from the corpus per encoding call (encode_into): a multiple of tokens.py's window.
SLICE = 8 * CHUNK
# Parameters that cannot change document vectors (query-only and search-only ones): left out of the
# embedding key, so that the dense retriever and the bi-encoder share vectors.
DOCUMENT_NEUTRAL = ("query_prefix", "block_size", "index", "M", "ef_construction", "ef_search", "nlist", "nprobe",
                    "pq_m")


class QueryVectors(NamedTuple):
    """Encoded queries: ``vectors`` (a tensor on the component's device), one row per id."""

    ids: list[str]
    vectors: object


class ModelComponent:
    """Mixin for a component with a ``model`` parameter; ``head`` picks the Auto class."""

    head = "encoder"

    def __init__(self, **params):
        super().__init__(**params)
        self._source = self._model = self._tokenizer = self._tokens = None
        self._compressed = False
        self._state_sha256: str | None = None  # of the compressed model, computed when first needed
        self._device = "cpu"
        self._settings: dict[str, settings.Setting] = {}  # the model's own defaults, once resolved

    @classmethod
    def check_config(cls, params: dict, base_dir) -> list[tuple[str, str]]:
        """At validation: the model found (a folder, ``pkg:``, the hub cache; never downloaded,
        nothing hashed) and the settings checked against it: ``max_length`` within its limit, a
        pooling the component implements."""
        try:
            folder = models.locate(params["model"], params.get("revision"), base_dir)
            if folder is None:  # a hub model a cell will download: nothing to check yet
                return []
            return settings.problems(params, folder, POOLINGS)
        except ValueError as exc:
            return [("model", str(exc))]

    def identity(self, ctx) -> dict:
        """What decides the output: the parameters, with the model's spelling (``model``,
        ``revision``) replaced by its files' hashes and ``device`` by the device it resolves to on
        this cell, the versions of the libraries that compute (``models.runtime``), and the values
        omitted settings take from the model (``model_defaults``: only when some are omitted, so
        suites that spell every setting keep their keys)."""
        ident = {k: v for k, v in super().identity(ctx).items() if k not in RESOLVED}
        source = self._resolve(ctx)
        return {**ident, **self._model_defaults(), "model": source.identity(),
                "device": models.device_of(self.device, ctx.device), "runtime": models.runtime()}

    def _resolve(self, ctx) -> models.ModelSource:
        """The model's files, and the settings the suite omitted taken from them."""
        self._source = models.resolve(self.model, self.revision, ctx.base_dir)
        self._settings = settings.resolve(self.config, self._source.path)
        for key, message in settings.problems(self.config, self._source.path, POOLINGS):
            if key == "model":  # max_length is checked against the tokenizer when the model loads
                raise ValueError(f"{self.name}: {message}")
        for name, setting in self._settings.items():
            setattr(self, name, setting.value)
        return self._source

    def _model_defaults(self) -> dict:
        """``{"model_defaults": {name: value}}`` for the settings the suite omitted, else ``{}``."""
        taken = {name: s.value for name, s in self._settings.items() if s.source != settings.SUITE}
        return {"model_defaults": taken} if taken else {}

    def setup(self, ctx) -> None:
        """Resolve the model (its files hashed once per process), load it on the CPU and choose the
        device; ``index``/``prepare`` move it there, after any compressor ran."""
        self._resolve(ctx)
        self._load()
        self._device = models.resolve_device(self.device, ctx.device)
        self._note(ctx)

    def _load(self) -> None:
        if self._model is not None:
            return
        if self._source is None:  # the runner calls identity(ctx) or setup(ctx) first
            raise RuntimeError(f"{self.name}: call setup(ctx) before torch_modules()")
        self._model, self._tokenizer = models.load(self._source, self.head)
        limit = self._tokenizer.model_max_length  # a huge sentinel when the model states none
        if self.max_length > limit:
            raise ValueError(f"{self.name}: max_length {self.max_length} is beyond the model's {limit} tokens")
        self._tokens = Tokens(self._tokenizer, self.max_length)

    # The compressible protocol: compressors transform the model before index/prepare.

    def torch_modules(self) -> dict:
        self._load()
        return {"encoder": self._model}

    def replace_torch_modules(self, modules: dict) -> None:
        self._model, self._compressed, self._state_sha256 = modules["encoder"], True, None

    def _ready(self, ctx) -> None:
        """Ready to work: set up (a no-op but for the record when the runner did it) and on the device."""
        self.setup(ctx)
        self._model.to(self._device)

    def _note(self, ctx) -> None:
        ctx.phase["model"] = {**self._source.record(), "device": self._device,
                              "compressed": self._compressed, "settings": self.settings_record()}

    def settings_record(self) -> dict:
        """Each model-dependent setting's value and where it came from (the suite, a file of the
        model's folder, or the default), for the result."""
        return {name: s.record() for name, s in self._settings.items()}

    def _model_key(self) -> dict:
        """The model as a cache key: its files, and its state when a compressor changed it."""
        if self._compressed and self._state_sha256 is None:
            self._state_sha256 = models.state_sha256(self._model)
        return {**self._source.identity(), "compressed_state": self._state_sha256}


class EncoderComponent(ModelComponent):
    """Mixin for the bi-encoders: queries and documents encoded separately."""

    def _encoder(self) -> Encoder:
        return Encoder(self._model, self._tokens, pooling=self.pooling, normalize=self.normalize,
                       batch_size=self.batch_size, device=self._device)

    def encode_queries(self, queries: Mapping[str, str]) -> QueryVectors:
        """The queries' vectors, on the component's device."""
        matrix = self._encoder().encode(list(queries.values()), self.query_prefix)
        return QueryVectors(list(queries), matrix.to(self._device))

    def encode_documents(self, texts: list[str], ctx, what: str = "documents"):
        """Document vectors (float32, on the CPU) with a progress bar."""
        with ctx.progress.task(f"{self.name}: encoding {what}", total=len(texts)) as advance:
            return self._encoder().encode(texts, self.doc_prefix, advance)

    def embedding_key(self, collection) -> str:
        """The corpus's vectors' key (cache.py): every parameter but those that only touch
        queries or the search (``DOCUMENT_NEUTRAL``), so a parameter added later enters it unless
        declared there; ``batch_size`` included (int8 layers scale activations per batch). The
        model is in it by its files (and its state once compressed), the device as the one the
        model runs on; the libraries' versions too; and the values omitted settings take from the
        model (``model_defaults``), as in ``identity``."""
        encoding = {k: v for k, v in self.config.items()
                    if k not in DOCUMENT_NEUTRAL + RESOLVED and self.params[k].affects_output}
        encoding.update(device=self._device, runtime=models.runtime(), **self._model_defaults())
        return cache.embedding_key(self._model_key(), encoding, collection.corpus_fingerprint)

    def corpus_vectors(self, collection, ctx, encode: bool = True):
        """Every document's vector in corpus order (a float32 CPU tensor, memory-mapped from the
        embedding cache entry) from the embedding cache, else encoded into a new entry when
        ``encode``, else None."""
        import time

        import torch

        key, ids = self.embedding_key(collection), collection.doc_ids
        matrix = cache.lookup(ctx, key, ids)
        if matrix is not None or not encode:
            return matrix
        started = time.perf_counter()
        with cache.filling(ctx, key, ids, self._model.config.hidden_size) as fill:
            self.encode_into(fill.out, collection.texts(), ctx, "the corpus")
            seconds = round(time.perf_counter() - started, 3)
            fill.info.update(seconds=seconds, device=self._device, batch_size=self.batch_size,
                             model=self._source.record(), compressed=self._compressed,
                             settings=self.settings_record())
        ctx.phase["embeddings"].update(documents=len(ids), encode_seconds=seconds)
        return torch.from_numpy(fill.vectors)

    def encode_into(self, out, texts: Sequence[str], ctx, what: str) -> None:
        """Encode ``texts`` into the rows of ``out`` (a float32 array, one row per text), read
        ``SLICE`` texts at a time, so that a corpus on disk is never in memory whole. A slice is a
        multiple of the window tokens.py sorts and batches in: the batches, hence the vectors, are
        those of one call over every text."""
        encoder = self._encoder()
        with ctx.progress.task(f"{self.name}: encoding {what}", total=len(texts)) as advance:
            for start in range(0, len(texts), SLICE):
                out[start : start + SLICE] = encoder.encode(texts[start : start + SLICE], self.doc_prefix,
                                                            advance).numpy()
