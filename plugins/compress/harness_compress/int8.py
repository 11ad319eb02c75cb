"""``int8-dynamic`` and ``int8-lowrank``: dynamic int8 quantisation of linear layers, and the same
plus a low-rank correction of the weight's quantisation error.

``int8-lowrank`` quantises W exactly as ``int8-dynamic`` does (same backend and granularity),
takes the error E = W − dequant(quant(W)), and adds its rank-r truncated SVD E ≈ U_r Σ_r V_rᵀ as
a float32 side path: y = int8_linear(x) + (x V_r Σ_r) U_rᵀ. The effective weight
dequant(quant(W)) + U_r Σ_r V_rᵀ is closer to W than the int8 one for any r ≥ 1 (the report's
``relative_error`` per layer, with ``int8_relative_error`` beside it). It corrects the weights
only: the error of quantising activations at run time is untouched, and on all-MiniLM-L6-v2 that
is most of int8's loss (docs/plugins/compress.md has the numbers).
"""

from __future__ import annotations

import functools

from harness.sdk import Param

from .base import PATTERN_PARAMS, LinearCompressor, relative_error
from .quantize import BACKENDS, GRANULARITIES, kernel_record, quantize

INT8_PARAMS = {
    "backend": Param(str, "torch.ao", "torch.ao (fbgemm/oneDNN packed kernels) or torchao (eager _int_mm)",
                     choices=BACKENDS),
    "granularity": Param(str, "per-channel", "weight scales per output channel (row) or one per tensor",
                         choices=GRANULARITIES),
    **PATTERN_PARAMS,
}


class Int8Dynamic(LinearCompressor):
    """Dynamic int8 quantisation of linear layers (CPU): int8 weights, activations quantised at run time."""

    name = "int8-dynamic"
    params = INT8_PARAMS

    def transform(self, modules, ctx):
        self._kernel = None  # observed on the first layer this call converts
        return super().transform(modules, ctx)

    def quantized(self, layer):
        """(the int8 module, the float32 weight it stands for); the first one converted in a call
        also runs once to record its kernel (every layer is converted alike)."""
        converted, dequantized = quantize(layer, self.backend, self.granularity)
        if self._kernel is None:
            self._kernel = kernel_record(converted, self.backend, self.granularity, layer.in_features)
        return converted, dequantized

    def layer(self, name, layer):
        weight = layer.weight.detach().clone()
        converted, dequantized = self.quantized(layer)
        return converted, {"action": "quantised", "relative_error": relative_error(weight, dequantized)}

    def report_fields(self, records):
        return {"kernel": self._kernel}


@functools.cache
def _corrected_class():
    """The module class, defined on first use: torch is not imported when the plugin loads."""
    import torch

    class Int8LowRankLinear(torch.nn.Module):
        """An int8 linear layer plus a float32 rank-r path: ``quantized(x) + up(down(x))``."""

        def __init__(self, quantized, down, up):
            super().__init__()
            self.quantized, self.down, self.up = quantized, down, up

        def forward(self, x):
            return self.quantized(x) + self.up(self.down(x))

    return Int8LowRankLinear


class Int8LowRank(Int8Dynamic):
    """Dynamic int8 plus a low-rank float correction of each weight's quantisation error (SVD)."""

    name = "int8-lowrank"
    params = {"rank": Param(int, 32, "rank of the correction of W - dequant(quant(W))", min=1), **INT8_PARAMS}

    def layer(self, name, layer):
        import torch

        weight = layer.weight.detach().clone().float()
        converted, dequantized = self.quantized(layer)
        u, s, vh = torch.linalg.svd(weight - dequantized, full_matrices=False)
        rank = min(self.rank, len(s))
        down = torch.nn.Linear(layer.in_features, rank, bias=False)
        up = torch.nn.Linear(rank, layer.out_features, bias=False)
        with torch.no_grad():
            down.weight.copy_(s[:rank, None] * vh[:rank])
            up.weight.copy_(u[:, :rank])
        corrected = dequantized + up.weight @ down.weight
        module = _corrected_class()(converted, down, up)
        return module, {"action": "quantised+corrected", "rank": rank,
                        "relative_error": relative_error(weight, corrected),
                        "int8_relative_error": relative_error(weight, dequantized)}

    def report_fields(self, records):
        errors = [r["int8_relative_error"] for r in records if "int8_relative_error" in r]
        return {"kernel": self._kernel, "rank": self.rank,
                "int8_mean_relative_error": round(sum(errors) / len(errors), 8) if errors else 0.0}
