"""Exact top-k search by blocked matrix product.

Scoring every query against every document at once needs a queries × documents matrix (1,000
queries × 8.8M MS MARCO passages: 35 GB). Instead, scores are computed a tile at a time: at most
``block_size`` documents wide and as many queries high as fit in ``TILE`` scores. Each tile gives
its own top k, merged into a running top k, so memory stays at one tile plus the top-k buffers
whatever the corpus size. Wide tiles are faster: ``torch.topk`` has a large cost per row on top of
its cost per score, so a corpus that fits in one tile's width is searched with no merging at all.
The tile is one buffer, reused: a fresh one per tile would make the system zero its pages again
each time. The result is the exact top k (ties at rank k aside: which of several equally scored
documents is kept there is unspecified, as with one ``torch.topk``).
"""

from __future__ import annotations

# Scores per tile: 2**24 float32 scores = 64 MiB, whatever the shapes.
TILE = 1 << 24


def blocked_topk(queries, docs, k: int, block_size: int):
    """``(scores, indices)`` of the k best documents per query (rows of ``queries @ docs.T``),
    best first; k is capped at the number of documents."""
    import torch

    n, k = docs.shape[0], min(k, docs.shape[0])
    scores = torch.empty((queries.shape[0], k), dtype=queries.dtype, device=queries.device)
    indices = torch.empty((queries.shape[0], k), dtype=torch.long, device=queries.device)
    if k == 0:
        return scores, indices
    width = min(block_size, n)
    height = min(max(1, TILE // width), queries.shape[0])
    buffer = torch.empty(height * width, dtype=queries.dtype, device=queries.device)
    for q in range(0, queries.shape[0], height):
        block = queries[q : q + height]
        best_scores = best_indices = None
        for start in range(0, n, width):
            part = docs[start : start + width]
            tile = torch.mm(block, part.T, out=buffer[: len(block) * len(part)].view(len(block), len(part)))
            top_scores, top_indices = tile.topk(min(k, len(part)), dim=1, sorted=False)
            top_indices += start
            if best_scores is not None:  # merge with the running top k
                top_scores = torch.cat((best_scores, top_scores), dim=1)
                top_indices = torch.cat((best_indices, top_indices), dim=1)
                top_scores, picked = top_scores.topk(min(k, top_scores.shape[1]), dim=1, sorted=False)
                top_indices = top_indices.gather(1, picked)
            best_scores, best_indices = top_scores, top_indices
        ordered, picked = best_scores.sort(dim=1, descending=True)
        scores[q : q + height], indices[q : q + height] = ordered, best_indices.gather(1, picked)
    return scores, indices
