"""Calibration inputs for the activation-aware compressors (``svd-aware``, ``dense-sparse`` with
``mode = "activation"``): what each linear layer actually sees on the corpus.

A seeded sample of ``calibration_docs`` documents of the cell's collection (``ctx.collection``) is
tokenized with the model's own tokenizer (the folder a transformers model was loaded from, its
``name_or_path``) and run through the uncompressed model once; a forward hook on every selected
``nn.Linear`` accumulates the Gram matrix of its inputs, H = Σ_tokens x xᵀ = XᵀX (d_in × d_in,
float64, padding tokens left out). The objective ‖X Wᵀ − X Ŵᵀ‖_F² of a layer then depends on the
data only through H, so the tokens themselves are never kept.

Layers fed the same tensor (a BERT's query, key and value) share one Gram matrix. The matrices are
kept in the artifact cache (``ctx.cache``), keyed by a digest of the model's state, the corpus,
the sampled document ids, the seed, the token limit and the layer names, so every pipeline of a
suite that compresses the same model on the same sample computes them once.

``whitening(H)`` gives the lower-triangular L with H + λI = L Lᵀ: then ‖X(A − Â)‖_F = ‖Lᵀ(A − Â)‖_F
for the layer's weight in the orientation A = Wᵀ (d_in × d_out, y = x A), which is how the
compressors turn the activation-weighted problem into a plain one (fit LᵀA, map back with L⁻ᵀ).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from harness.sdk import ComponentError, Param, cache_key

from .base import LinearCompressor, named_layers, selected

# Tokens per calibration document, as the dense retriever's default window; batch of documents
# per forward pass (bounded memory: 8 × 256 tokens).
MAX_LENGTH = 256
BATCH = 8
# Relative ridge added to H before its Cholesky factor: λ = DAMPING · mean(diag H). It keeps L
# invertible when a layer's inputs span fewer than d_in directions (few tokens, dead units), and
# changes the objective by a negligible λ‖A − Â‖_F².
DAMPING = 1e-4
VERSION = 1  # of the cached format: bump when what is stored changes

CALIBRATION_PARAMS = {
    "calibration_docs": Param(int, 64, "documents of the cell's corpus sampled (with seed) to measure each "
                              "layer's inputs (activation mode)", min=1),
    "seed": Param(int, 0, "seed of the calibration sample (and of any dictionary atoms beyond the SVD's)"),
}


def tokenizer_of(name: str, module, owner: str):
    """The tokenizer saved beside a transformers model (its ``name_or_path`` folder), or an
    error saying why there is none."""
    folder = getattr(module, "name_or_path", None) or getattr(getattr(module, "config", None), "_name_or_path", None)
    if not folder or not Path(folder).is_dir():
        raise ComponentError(
            f"{owner}: calibration needs the tokenizer of module {name!r}, a transformers model loaded from a "
            f"folder (its name_or_path is {folder!r}); the transformers plugin's dense, bi-encoder and "
            "cross-encoder components give one. Use mode = \"weight\" for other modules")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def sample_texts(ctx, size: int, seed: int, owner: str) -> tuple[list[str], list[str]]:
    """(document ids, texts) of a seeded sample of the cell's corpus (``random.Random(seed)``)."""
    collection = ctx.collection
    if collection is None:
        raise ComponentError(f"{owner}: calibration draws documents from the cell's collection, and this "
                             "context has none (ctx.collection is None): run it inside a suite")
    docs = collection.docs  # indexed, not listed: a corpus on disk reads only the sample
    chosen = sorted(random.Random(seed).sample(range(len(docs)), min(size, len(docs))))
    picked = [docs[i] for i in chosen]
    return [d.id for d in picked], [collection.contents(d) for d in picked]


def _tensor_bytes(tensor) -> bytes:
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.view(torch.int16)  # numpy has no bfloat16: hash its bits
    return tensor.numpy().tobytes()


def model_digest(module) -> str:
    digest = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        if not tensor.is_quantized:
            digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def grams(key: str, module, layers: dict[str, Any], ctx, size: int, seed: int, owner: str) -> dict[str, Any]:
    """``{layer name: H}`` for the named ``nn.Linear`` layers of ``module`` (the value of
    ``modules[key]``), from the cache or computed; the calibration's description goes into
    ``ctx.phase["calibration"]``."""
    import torch

    ids, texts = sample_texts(ctx, size, seed, owner)
    names = sorted(layers)
    entry = cache_key("calibration", VERSION, model_digest(module), ctx.collection.corpus_fingerprint, ids, seed,
                      MAX_LENGTH, DAMPING, names)
    record = {"documents": len(ids), "seed": seed, "max_length": MAX_LENGTH, "key": entry}
    cache = getattr(ctx, "cache", None)
    found = cache.get("calibration", entry) if cache is not None else None
    if found is not None:
        stored = torch.load(found / "grams.pt", weights_only=True)
        result = {n: stored["grams"][stored["group"][n]] for n in names}
        ctx.phase.setdefault("calibration", {})[key] = {**record, "tokens": stored["tokens"], "cache": "hit"}
        return result
    group, matrices, tokens = _capture(key, module, layers, texts, owner)
    if cache is not None:
        with cache.write("calibration", entry, documents=len(ids), seed=seed) as folder:
            torch.save({"group": group, "grams": matrices, "tokens": tokens}, folder / "grams.pt")
    ctx.phase.setdefault("calibration", {})[key] = {**record, "tokens": tokens, "cache": "miss"}
    return {n: matrices[group[n]] for n in names}


def _capture(key, module, layers, texts, owner):
    """Run ``texts`` through ``module`` with a hook on each layer; (layer → group index, the
    groups' Gram matrices, tokens counted)."""
    import torch

    tokenizer = tokenizer_of(key, module, owner)
    group: dict[str, int] = {}
    matrices: list = []
    state = {"mask": None, "seen": {}}  # per batch: id of an input tensor -> its group

    def hook(name):
        def accumulate(layer, args, output):
            x = args[0]
            shared = state["seen"].get(id(x))
            if shared is not None:  # the tensor another layer was fed in this batch (query, key, value)
                group.setdefault(name, shared[0])
                return
            rows = x.detach().double().reshape(-1, x.shape[-1])
            mask = state["mask"]
            if mask is not None and rows.shape[0] == mask.numel():
                rows = rows[mask.reshape(-1)]  # padding positions are not inputs the model serves
            if name not in group:
                group[name] = len(matrices)
                matrices.append(torch.zeros(x.shape[-1], x.shape[-1], dtype=torch.float64))
            matrices[group[name]] += rows.T @ rows
            # the tensor is kept until the batch ends, so that no later tensor reuses its id
            state["seen"][id(x)] = (group[name], x)

        return accumulate

    handles = [layer.register_forward_hook(hook(name)) for name, layer in layers.items()]
    tokens = 0
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: little padding
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for first in range(0, len(order), BATCH):
                batch = [texts[i] for i in order[first:first + BATCH]]
                inputs = tokenizer(batch, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
                state["mask"], state["seen"] = inputs["attention_mask"].bool(), {}
                tokens += int(inputs["attention_mask"].sum())
                module(**inputs)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    missing = sorted(set(layers) - set(group))
    if missing:
        raise ComponentError(f"{owner}: layers {missing[:3]} of module {key!r} saw no input during calibration")
    return group, matrices, tokens


def whitening(gram):
    """Lower-triangular L (float64) with gram + λI = L Lᵀ, λ = DAMPING · mean(diag gram)."""
    import torch

    gram = gram.double()
    scale = float(torch.diagonal(gram).mean()) or 1.0
    return torch.linalg.cholesky(gram + DAMPING * scale * torch.eye(gram.shape[0], dtype=torch.float64))


def activation_error(weight, approximation, factor) -> float:
    """‖(W − Ŵ) L‖_F / ‖W L‖_F: the share of the layer's output on the calibration inputs that the
    approximation gets wrong (W is d_out × d_in, L the whitening factor of its inputs)."""
    weight, approximation = weight.detach().double(), approximation.detach().double()
    norm = float((weight @ factor).norm())
    return round(float(((weight - approximation) @ factor).norm()) / norm, 8) if norm else 0.0


class ActivationAware(LinearCompressor):
    """A linear compressor that may read each selected layer's calibration Gram matrix
    (``self.grams[name]``), measured before any layer changes."""

    def needs_calibration(self) -> bool:
        return True

    def transform(self, modules, ctx):
        import torch

        self.grams = {}
        calibrated = {}
        if self.needs_calibration():
            for key, module in modules.items():
                layers = {name: layer for name, layer, parent, _ in named_layers({key: module}, torch.nn.Linear)
                          if selected(name, self.include, self.exclude)
                          and not isinstance(parent, torch.nn.MultiheadAttention)}
                if layers:
                    self.grams.update(grams(key, module, layers, ctx, self.calibration_docs, self.seed,
                                                        self.name))
                    calibrated[key] = ctx.phase.get("calibration", {}).get(key)
        records, fields = super().transform(modules, ctx)
        if calibrated:
            fields = {**fields, "calibration": calibrated}
        return records, fields
