"""``prune``: magnitude pruning, unstructured or structured.

* ``method = "magnitude"`` (unstructured): in each selected linear layer, the ``sparsity`` share of
  weights smallest in absolute value is set to zero (ties broken by position). The zeros are stored
  densely: sizes and speed do not change (the report's ``nonzero_parameters_after`` counts what a
  sparse format would keep); it measures what the lost weights cost in quality.
* ``method = "heads"``: in each selected attention block (a module with ``self.query``,
  ``self.key``, ``self.value`` and ``output.dense``, as BERT-family models in transformers have),
  round(sparsity · heads) heads are removed (one is always kept): those whose rows of the query,
  key and value weights and columns of the output projection have the smallest L2 norm. The
  layers shrink: fewer parameters, less compute.
* ``method = "ffn"``: in each selected feed-forward block (a module with ``intermediate.dense``
  and ``output.dense``), round(sparsity · units) intermediate units are removed, smallest L2 norm
  of their row in ``intermediate.dense`` and column in ``output.dense`` first.

Structured pruning matches ``include``/``exclude`` against the block's name
(``encoder.encoder.layer.0.attention``, ``encoder.encoder.layer.0``); unstructured against layers'.
No fine-tuning follows: the numbers are those of a pruned model as is.
"""

from __future__ import annotations

from harness.sdk import Param

from .base import PATTERN_PARAMS, ModuleCompressor, check_patterns, named_layers, relative_error, selected

METHODS = ("magnitude", "heads", "ffn")


def _linear(module, *path):
    import torch

    for part in path:
        module = getattr(module, part, None)
    return module if isinstance(module, torch.nn.Linear) else None


def _shrunk(layer, rows=None, columns=None):
    """A copy of ``layer`` keeping the given output rows and/or input columns."""
    import torch

    weight = layer.weight.detach()
    weight = weight[rows] if rows is not None else weight
    weight = weight[:, columns] if columns is not None else weight
    bias = layer.bias.detach()[rows] if layer.bias is not None and rows is not None else layer.bias
    new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                          device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new


def _removed_error(layer, keep, dim: int) -> float:
    """‖W − Ŵ‖/‖W‖ where Ŵ is W with the rows (dim 0) or columns (dim 1) not in ``keep`` zeroed."""
    import torch

    weight = layer.weight.detach().float()
    mask = torch.zeros(weight.shape[dim], dtype=torch.bool)
    mask[keep] = True
    kept = weight * (mask[:, None] if dim == 0 else mask[None, :])
    return relative_error(weight, kept)


class Prune(ModuleCompressor):
    """Magnitude pruning: unstructured weights at a target sparsity, or whole attention heads / FFN units."""

    name = "prune"
    params = {
        "sparsity": Param(float, 0.5, "share of weights (magnitude), heads (heads) or units (ffn) removed",
                          min=0.0, max=1.0),
        "method": Param(str, "magnitude", "magnitude (unstructured), heads or ffn (structured)", choices=METHODS),
        **PATTERN_PARAMS,
    }

    def __init__(self, **params):
        super().__init__(**params)
        check_patterns([*self.include, *self.exclude])

    def transform(self, modules, ctx):
        import torch

        if self.method == "magnitude":
            return self._magnitude(modules)
        blocks = [(f"{key}.{path}" if path else key, block) for key, root in modules.items()
                  for path, block in root.named_modules()]
        if self.method == "heads":
            found = [(n, b) for n, b in blocks if all(_linear(b, "self", p) for p in ("query", "key", "value"))
                     and _linear(b, "output", "dense") and hasattr(b.self, "attention_head_size")]
        else:
            found = [(n, b) for n, b in blocks if _linear(b, "intermediate", "dense") and _linear(b, "output", "dense")
                     and b.intermediate.dense.out_features == b.output.dense.in_features]
        if not found:
            what = "attention blocks (self.query/key/value, output.dense)" if self.method == "heads" else \
                "feed-forward blocks (intermediate.dense, output.dense)"
            raise ValueError(f"prune: method {self.method!r} found no {what} in these modules")
        records = []
        with torch.no_grad():
            for name, block in found:
                if selected(name, self.include, self.exclude):
                    records += self._heads(name, block) if self.method == "heads" else self._ffn(name, block)
        removed = sum(r.get("removed", 0) for r in records)
        total = sum(r.get("of", 0) for r in records)
        return records, {"method": self.method, "sparsity": self.sparsity,
                         "achieved": round(removed / total, 6) if total else 0.0}

    def _magnitude(self, modules):
        import torch

        records, zeros, total = [], 0, 0
        with torch.no_grad():
            for name, layer, _, _ in named_layers(modules, torch.nn.Linear):
                if not selected(name, self.include, self.exclude):
                    continue
                weight = layer.weight
                original = weight.detach().clone()
                count = round(self.sparsity * weight.numel())
                if count:
                    order = weight.detach().abs().flatten().float().argsort(stable=True)
                    weight.view(-1)[order[:count]] = 0
                zeros += int((weight == 0).sum())
                total += weight.numel()
                records.append({"name": name, "shape": list(weight.shape), "action": "pruned",
                                "sparsity": round(float((weight == 0).float().mean()), 6),
                                "relative_error": relative_error(original, weight)})
        nonzero = sum(int((p != 0).sum()) for m in modules.values() for p in m.parameters())
        return records, {"method": "magnitude", "sparsity": self.sparsity,
                         "achieved": round(zeros / total, 6) if total else 0.0, "nonzero_parameters_after": nonzero}

    def _heads(self, name, block):
        import torch

        attention, output = block.self, block.output.dense
        size = attention.attention_head_size
        heads = attention.query.out_features // size
        drop = min(heads - 1, round(self.sparsity * heads))
        if drop == 0:
            return [{"name": name, "action": "skipped", "reason": "no head to remove", "removed": 0, "of": heads}]
        norms = torch.stack([
            sum(getattr(attention, p).weight[h * size:(h + 1) * size].float().pow(2).sum()
                for p in ("query", "key", "value")) + output.weight[:, h * size:(h + 1) * size].float().pow(2).sum()
            for h in range(heads)])
        kept = sorted(norms.argsort(descending=True, stable=True)[:heads - drop].tolist())
        rows = torch.tensor([h * size + i for h in kept for i in range(size)])
        error = max(_removed_error(getattr(attention, p), rows, 0) for p in ("query", "key", "value"))
        error = max(error, _removed_error(output, rows, 1))
        for part in ("query", "key", "value"):
            setattr(attention, part, _shrunk(getattr(attention, part), rows=rows))
        block.output.dense = _shrunk(output, columns=rows)
        attention.num_attention_heads = len(kept)
        attention.all_head_size = len(kept) * size
        return [{"name": name, "action": "pruned", "heads_kept": kept, "removed": drop, "of": heads,
                 "relative_error": error}]

    def _ffn(self, name, block):

        up, down = block.intermediate.dense, block.output.dense
        units = up.out_features
        drop = min(units - 1, round(self.sparsity * units))
        if drop == 0:
            return [{"name": name, "action": "skipped", "reason": "no unit to remove", "removed": 0, "of": units}]
        norms = up.weight.float().pow(2).sum(1) + down.weight.float().pow(2).sum(0)
        keep = norms.argsort(descending=True, stable=True)[:units - drop].sort().values
        error = max(_removed_error(up, keep, 0), _removed_error(down, keep, 1))
        block.intermediate.dense = _shrunk(up, rows=keep)
        block.output.dense = _shrunk(down, columns=keep)
        return [{"name": name, "action": "pruned", "removed": drop, "of": units, "relative_error": error}]
