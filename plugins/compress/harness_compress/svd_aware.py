"""``svd-aware``: the activation-aware low-rank baseline of ``dense-sparse`` (the whitened
truncated SVD of SVD-LLM, Wang et al. 2024).

With A = Wᵀ (d_in × d_out), calibration inputs X of the layer and XᵀX + λI = L Lᵀ
(``calibration``), the rank-r matrix minimising ‖X A − X Â‖_F is Â = L⁻ᵀ [LᵀA]_r, [·]_r the
truncated SVD U_r Σ_r V_rᵀ (Eckart–Young in the whitened space). The layer becomes two linear
layers like ``svd``'s: ``first`` (d_in → r, weight (L⁻ᵀ U_r Σ_r^½)ᵀ, no bias) and ``second``
(r → d_out, weight V_r Σ_r^½, the old bias): same shapes, same size, same speed as ``svd`` at the
same rank, a different choice of the rank-r subspace. The rank rules are ``svd``'s, applied to the
whitened spectrum (``energy`` keeps that share of the output energy on the calibration inputs).
"""

from __future__ import annotations

from . import calibration
from .base import relative_error
from .calibration import CALIBRATION_PARAMS, ActivationAware
from .svd import Svd


class SvdAware(ActivationAware, Svd):
    """Activation-aware low-rank factorisation: truncated SVD of the whitened weight LᵀWᵀ."""

    name = "svd-aware"
    params = {**Svd.params, **CALIBRATION_PARAMS}

    def layer(self, name, layer):
        import torch

        d_out, d_in = layer.weight.shape
        weight = layer.weight.detach().double()
        factor = calibration.whitening(self.grams[name])
        u, s, vh = torch.linalg.svd(factor.T @ weight.T, full_matrices=False)
        rank = self.choose_rank(s, d_out, d_in)
        before, after = d_out * d_in, rank * (d_out + d_in)
        record = {"rank": rank, "weights_before": before, "weights_after": after}
        if after >= before and self.skip_non_reducing:
            reason = f"rank {rank} factors hold {after} weights, not fewer than the layer's {before}"
            return None, {"action": "skipped", "reason": reason, **record}
        root = s[:rank].sqrt()
        down = torch.linalg.solve_triangular(factor.T, u[:, :rank] * root, upper=True)  # L⁻ᵀ U_r Σ_r^½
        first = torch.nn.Linear(d_in, rank, bias=False)
        second = torch.nn.Linear(rank, d_out, bias=layer.bias is not None)
        with torch.no_grad():
            first.weight.copy_(down.T)
            second.weight.copy_((root[:, None] * vh[:rank]).T)
            if layer.bias is not None:
                second.bias.copy_(layer.bias.detach().float())
        estimate = second.weight.double() @ first.weight.double()
        record.update(relative_error=relative_error(weight, estimate),
                      activation_relative_error=calibration.activation_error(weight, estimate, factor))
        factorised = torch.nn.Sequential(first, second).to(device=layer.weight.device, dtype=layer.weight.dtype)
        return factorised, {"action": "factorised", **record}

    def report_fields(self, records):
        errors = [r["activation_relative_error"] for r in records if "activation_relative_error" in r]
        return {**super().report_fields(records),
                "mean_activation_relative_error": round(sum(errors) / len(errors), 8) if errors else 0.0}
