"""``svd``: each selected ``nn.Linear`` (d_out × d_in weight W) becomes two thinner ones from the
truncated SVD W ≈ U_r Σ_r V_rᵀ: ``first`` (d_in → r, weight Σ_r^½ V_rᵀ, no bias) and ``second``
(r → d_out, weight U_r Σ_r^½, the old bias), in an ``nn.Sequential``.

The rank r comes from exactly one of:

* ``rank_ratio = ρ``: r = max(1, round(ρ · min(d_in, d_out))). On a 384 × 384 layer, ρ = 0.25
  gives r = 96 and 2 · 384 · 96 = 73,728 weights instead of 147,456; ρ = 0.5 gives r = 192 and
  2 · 384 · 192 = 147,456, no saving (the layer is skipped, below).
* ``rank = r``: the same r for every layer (capped at min(d_in, d_out)).
* ``energy = e``: the smallest r whose singular values keep a share e of the squared spectrum,
  Σ_{i≤r} σ_i² ≥ e · Σ_i σ_i² (so the relative error ‖W − Ŵ‖_F/‖W‖_F is at most √(1 − e)).

A factorised layer has r · (d_in + d_out) weights (plus d_out bias) against d_in · d_out. With
``skip_non_reducing = true`` (the default) a layer whose factorisation would not have fewer is
left as it is and reported as skipped, with the reason; ``false`` factorises it anyway (at full
rank that reproduces the layer up to float error, which the tests use).
"""

from __future__ import annotations

from harness.sdk import Param

from .base import PATTERN_PARAMS, LinearCompressor, relative_error


class Svd(LinearCompressor):
    """Low-rank factorisation of linear layers (truncated SVD): by rank ratio, rank or spectral energy."""

    name = "svd"
    params = {
        "rank_ratio": Param(float, None, "r = max(1, round(rank_ratio * min(d_in, d_out)))", nullable=True,
                            min=0.0, max=1.0),
        "rank": Param(int, None, "the same rank r for every layer (capped at min(d_in, d_out))", nullable=True,
                      min=1),
        "energy": Param(float, None, "smallest r keeping this share of the sum of squared singular values",
                        nullable=True, min=0.0, max=1.0),
        "skip_non_reducing": Param(bool, True, "leave a layer whole when factorising would not reduce its "
                                   "parameters"),
        **PATTERN_PARAMS,
    }

    def __init__(self, **params):
        super().__init__(**params)
        given = [k for k in ("rank_ratio", "rank", "energy") if self.config[k] is not None]
        if len(given) != 1:
            raise ValueError(f"svd: give exactly one of rank_ratio, rank or energy (got {given or 'none'})")
        if self.rank_ratio == 0 or self.energy == 0:
            raise ValueError("svd: rank_ratio and energy must be > 0")
        self.rule = given[0]

    def choose_rank(self, singular_values, d_out: int, d_in: int) -> int:
        full = min(d_out, d_in)
        if self.rule == "rank_ratio":
            return max(1, min(full, round(self.rank_ratio * full)))
        if self.rule == "rank":
            return min(full, self.rank)
        squared = (singular_values.double() ** 2).cumsum(0)
        total = float(squared[-1])
        if total == 0:
            return 1
        # the first index whose cumulative share reaches the target (float tolerance for e = 1)
        reached = (squared >= self.energy * total * (1 - 1e-12)).nonzero()
        return int(reached[0]) + 1 if len(reached) else full

    def layer(self, name, layer):
        import torch

        d_out, d_in = layer.weight.shape
        weight = layer.weight.detach().float()  # SVD in float32 whatever the layer's precision
        u, s, vh = torch.linalg.svd(weight, full_matrices=False)
        rank = self.choose_rank(s, d_out, d_in)
        before, after = d_out * d_in, rank * (d_out + d_in)
        record = {"rank": rank, "weights_before": before, "weights_after": after}
        if after >= before and self.skip_non_reducing:
            reason = f"rank {rank} factors hold {after} weights, not fewer than the layer's {before}"
            return None, {"action": "skipped", "reason": reason, **record}
        root = s[:rank].sqrt()
        first = torch.nn.Linear(d_in, rank, bias=False)
        second = torch.nn.Linear(rank, d_out, bias=layer.bias is not None)
        with torch.no_grad():
            first.weight.copy_(root[:, None] * vh[:rank])
            second.weight.copy_(u[:, :rank] * root)
            if layer.bias is not None:
                second.bias.copy_(layer.bias.detach().float())
        error = relative_error(weight, second.weight @ first.weight)
        factorised = torch.nn.Sequential(first, second).to(device=layer.weight.device, dtype=layer.weight.dtype)
        return factorised, {"action": "factorised", "relative_error": error, **record}

    def report_fields(self, records):
        return {"rank_rule": {self.rule: getattr(self, self.rule)},
                "skipped": {r["name"]: r["reason"] for r in records if r["action"] == "skipped"}}
