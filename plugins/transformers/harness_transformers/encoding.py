"""Texts to vectors: a transformers encoder over length-sorted batches, pooled and (optionally)
normalised.

Batching is tokens.py's: each text tokenized once, batches by exact token count, longest first.
Each vector is written back to its text's position, and padding is masked out of the pooling, so a
text's vector does not depend on its batch (beyond float noise). Memory is bounded by one chunk of
encodings, one batch, and the output matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

POOLINGS = ("mean", "cls")


def pool(hidden, mask, pooling: str):
    """One vector per text from the last hidden states: the mean over real tokens, or [CLS]."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    # clamp as sentence-transformers does: an all-padding row divides by 1e-9, not 0
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class Encoder:
    """Encodes texts with ``model`` (an ``AutoModel``) and ``tokens`` (a ``tokens.Tokens``)."""

    def __init__(self, model, tokens, *, pooling: str, normalize: bool, batch_size: int, device: str):
        self.model, self.tokens = model, tokens
        self.pooling, self.normalize = pooling, normalize
        self.batch_size, self.device = batch_size, device

    def encode(self, texts: Sequence[str], prefix: str = "",
               advance: Callable[[int], None] = lambda n: None):
        """A float32 CPU tensor, one row per text in the given order."""
        import torch
        import torch.nn.functional as F

        out = torch.empty((len(texts), self.model.config.hidden_size), dtype=torch.float32)
        with torch.inference_mode():
            for rows, inputs in self.tokens.texts([prefix + t for t in texts], self.batch_size):
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                # float32 pooling also for a half-precision model: the sum over tokens is where
                # half precision loses most
                hidden = self.model(**inputs)[0].float()
                vectors = pool(hidden, inputs["attention_mask"], self.pooling)
                if self.normalize:
                    vectors = F.normalize(vectors, p=2, dim=1)
                out[torch.tensor(rows)] = vectors.cpu()
                advance(len(rows))
        return out
