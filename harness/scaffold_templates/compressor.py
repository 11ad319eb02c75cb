"""``harness new-plugin --kind compressor``: low-rank factorisation of linear layers (SVD)."""

SUMMARY = "Factorises linear layers into two of low rank (truncated SVD)"
DEPENDENCIES = ["torch>=2.0"]
CONFIG = ""
PARAMETERS = (
    "Parameters: `rank` (default `4`): the rank kept; a layer is factorised only when that makes "
    "it smaller. It applies to compressible stages (components with `torch_modules()`)."
)
SUITE = '''\
[[pipelines]]
name = "dense+$name"
retriever = { plugin = "dense" }          # any compressible retriever or ranker
compressors = [{ plugin = "$name", rank = 8 }]'''
EXTRA_FILES: dict[str, str] = {}

COMPONENT = '''\
"""The ``$name`` compressor.

$summary.

Replace the transformation with your own and keep the contract (the harness's docs/plugins.md,
"Compressor"): ``compress`` gets a component's torch modules by name and returns the new ones
under the same names, with a JSON report holding at least ``parameters_before``,
``parameters_after``, ``bytes_before`` and ``bytes_after``. torch is imported inside the
methods: the harness imports this module whenever it starts.
"""

from __future__ import annotations

from typing import Any

from harness.sdk import Compressor, Context, Param


def size(modules: dict[str, Any]) -> tuple[int, int]:
    """(parameters, bytes of parameters and buffers), each tensor counted once."""
    params = {id(p): p for m in modules.values() for p in m.parameters()}
    tensors = {**params, **{id(b): b for m in modules.values() for b in m.buffers()}}
    return sum(p.numel() for p in params.values()), sum(t.numel() * t.element_size() for t in tensors.values())


class $cls(Compressor):
    """$summary."""

    name = "$name"
    params = {
        "rank": Param(int, 4, "rank kept in each factorised layer", min=1),
    }

    def compress(self, modules: dict[str, Any], ctx: Context) -> tuple[dict[str, Any], dict]:
        parameters_before, bytes_before = size(modules)
        self.errors: list[float] = []
        modules = {name: self._factorised(module) for name, module in modules.items()}
        parameters_after, bytes_after = size(modules)
        return modules, {
            "parameters_before": parameters_before,
            "parameters_after": parameters_after,
            "bytes_before": bytes_before,
            "bytes_after": bytes_after,
            "rank": self.rank,
            "layers_factorised": len(self.errors),
            "max_relative_error": max(self.errors, default=0.0),
        }

    def _factorised(self, module):
        """``module`` with its linear layers (itself included) replaced where that saves space."""
        import torch

        if isinstance(module, torch.nn.Linear):
            return self._low_rank(module)
        for child_name, child in module.named_children():
            replaced = self._factorised(child)
            if replaced is not child:
                setattr(module, child_name, replaced)
        return module

    def _low_rank(self, layer):
        import torch

        rank, (d_out, d_in) = self.rank, layer.weight.shape
        if rank * (d_in + d_out) >= d_in * d_out:
            return layer  # factorising would not make it smaller
        weight = layer.weight.detach().float()  # SVD in float32, whatever the layer's precision
        u, s, vh = torch.linalg.svd(weight, full_matrices=False)
        root = s[:rank].sqrt()
        first = torch.nn.Linear(d_in, rank, bias=False)
        second = torch.nn.Linear(rank, d_out, bias=layer.bias is not None)
        with torch.no_grad():
            first.weight.copy_(root[:, None] * vh[:rank])
            second.weight.copy_(u[:, :rank] * root)
            if layer.bias is not None:
                second.bias.copy_(layer.bias.detach().float())
            approximation = second.weight @ first.weight
            self.errors.append(float((weight - approximation).norm() / weight.norm().clamp_min(1e-12)))
        factorised = torch.nn.Sequential(first, second)
        return factorised.to(device=layer.weight.device, dtype=layer.weight.dtype)
'''
