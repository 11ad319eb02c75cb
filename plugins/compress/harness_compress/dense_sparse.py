"""``dense-sparse``: each selected ``nn.Linear`` becomes a dense dictionary times a sparse code
(DSFormer, Chand et al.), fitted after training, without any training.

Orientation. With y = x A for A = Wᵀ (d_in × d_out, W the layer's d_out × d_in weight),
A ≈ D S: D dense (d_in × k, k = ``atoms``), S sparse (k × d_out) with s = ``nnz_per_column``
non-zeros in each column, i.e. each output unit's weights are a combination of s of the k atoms.
This is the orientation in which the activation-aware objective keeps S sparse:
‖X A − X D S‖_F = ‖Lᵀ A − (Lᵀ D) S‖_F (XᵀX = L Lᵀ), so fitting LᵀA ≈ D′ S and taking D = L⁻ᵀ D′
gives the same S. (Writing W ≈ D S in PyTorch's d_out × d_in orientation would not: the whitened
problem would become W L ≈ D (S L), whose right factor is dense.)

Fitting: ``omp.learn`` on Y = A (``mode = "weight"``) or Y = LᵀA (``mode = "activation"``, L
from ``calibration``): Batch-OMP sparse coding on the truncated SVD's basis, then ``iterations``
rounds of least-squares dictionary update and sparse coding; the best state is kept.

The layer (``DenseSparseLinear``): ``dictionary`` (an ``nn.Linear`` d_in → k holding Dᵀ),
``values`` (d_out × s, float) and ``indices`` (d_out × s, int16 when k ≤ 32,767, else int32, a
buffer), and the bias. Its forward computes z = x D, scatters (indices, values) into a dense
d_out × k matrix and returns ``F.linear(z, that matrix, bias)`` = z S + b: on the CPU there is no
sparse kernel that beats this (PyTorch's semi-structured 2:4 sparsity is CUDA-only and another
pattern), so a layer costs what a rank-k factorisation costs, plus the scatter.
"""

from __future__ import annotations

import functools
import time

from harness.sdk import ComponentError, Param

from . import calibration, omp
from .base import PATTERN_PARAMS, relative_error
from .calibration import CALIBRATION_PARAMS, ActivationAware

MODES = ("weight", "activation")
FORWARD_NOTE = ("densified on every forward pass: z = x·D (dense), then S is scattered into a dense "
                "k x d_out matrix and applied as a dense product; no sparse kernel is used (PyTorch's 2:4 "
                "semi-structured kernels are CUDA-only and another sparsity pattern), so each layer computes "
                "like a rank-k factorisation plus the scatter, and is not faster than the layer it replaces "
                "unless k(d_in + d_out) < d_in d_out")

def index_dtype(atoms: int):
    import torch

    return torch.int16 if atoms <= 32767 else torch.int32


@functools.cache
def _layer_class():
    """The module class, defined on first use: torch is not imported when the plugin loads."""
    import torch

    class DenseSparseLinear(torch.nn.Module):
        """y = (x D) S + b: a dense dictionary, then a column-sparse code (densified per call)."""

        def __init__(self, d_in: int, d_out: int, atoms: int, nnz: int, bias: bool):
            super().__init__()
            self.in_features, self.out_features, self.atoms, self.nnz = d_in, d_out, atoms, nnz
            self.dictionary = torch.nn.Linear(d_in, atoms, bias=False)
            self.values = torch.nn.Parameter(torch.zeros(d_out, nnz))
            self.register_buffer("indices", torch.zeros(d_out, nnz, dtype=index_dtype(atoms)))
            self.bias = torch.nn.Parameter(torch.zeros(d_out)) if bias else None

        def code(self):
            """S as a dense d_out × k matrix (Sᵀ in the docstring's orientation)."""
            dense = self.values.new_zeros(self.out_features, self.atoms)
            return dense.scatter(1, self.indices.long(), self.values)

        def weight_estimate(self):
            """The d_out × d_in weight the layer stands for."""
            return self.code() @ self.dictionary.weight

        def forward(self, x):
            return torch.nn.functional.linear(self.dictionary(x), self.code(), self.bias)

        def extra_repr(self):
            return (f"in_features={self.in_features}, out_features={self.out_features}, atoms={self.atoms}, "
                    f"nnz={self.nnz}")

    return DenseSparseLinear


class DenseSparse(ActivationAware):
    """Dense dictionary × column-sparse code per linear layer (DSFormer, post-training): OMP + MOD."""

    name = "dense-sparse"
    params = {
        "atoms": Param(int, None, "dictionary size k for every layer", nullable=True, min=1),
        "atom_ratio": Param(float, None, "k = max(1, round(atom_ratio * min(d_in, d_out)))", nullable=True,
                            min=0.0, max=1.0),
        "nnz_per_column": Param(int, None, "non-zeros s per column of S (per output unit), capped at k",
                                nullable=True, min=1),
        "nnz_ratio": Param(float, None, "s = max(1, round(nnz_ratio * k))", nullable=True, min=0.0, max=1.0),
        "iterations": Param(int, 4, "rounds of (least-squares dictionary update, sparse coding) after the "
                            "first sparse coding", min=0),
        "mode": Param(str, "weight", "fit ||W - DS|| (weight) or the layer's outputs on calibration inputs "
                      "||X(W - DS)^T|| (activation)", choices=MODES),
        "skip_non_reducing": Param(bool, True, "leave a layer whole when its factors (indices included) would "
                                   "not take fewer bytes than its weight"),
        **CALIBRATION_PARAMS,
        **PATTERN_PARAMS,
    }

    def __init__(self, **params):
        super().__init__(**params)
        for pair in (("atoms", "atom_ratio"), ("nnz_per_column", "nnz_ratio")):
            given = [k for k in pair if self.config[k] is not None]
            if len(given) != 1:
                raise ComponentError(f"dense-sparse: give exactly one of {pair[0]} or {pair[1]} "
                                     f"(got {given or 'none'})")
        if self.atom_ratio == 0 or self.nnz_ratio == 0:
            raise ComponentError("dense-sparse: atom_ratio and nnz_ratio must be > 0")

    def needs_calibration(self) -> bool:
        return self.mode == "activation"

    def shape(self, d_out: int, d_in: int) -> tuple[int, int]:
        """(k, s) for a d_out × d_in layer."""
        atoms = self.atoms if self.atoms is not None else max(1, round(self.atom_ratio * min(d_in, d_out)))
        nnz = self.nnz_per_column if self.nnz_per_column is not None else max(1, round(self.nnz_ratio * atoms))
        return atoms, min(nnz, atoms)

    def layer(self, name, layer):
        import torch

        d_out, d_in = layer.weight.shape
        atoms, nnz = self.shape(d_out, d_in)
        element = layer.weight.element_size()
        index_bytes = torch.empty(0, dtype=index_dtype(atoms)).element_size()
        before = element * d_in * d_out
        after = element * (d_in * atoms + d_out * nnz) + index_bytes * d_out * nnz
        record = {"atoms": atoms, "nnz": nnz, "weights_before": d_in * d_out,
                  "weights_after": d_in * atoms + d_out * nnz, "index_bytes": index_bytes * d_out * nnz,
                  "factor_bytes": after, "weight_bytes": before}
        if after >= before and self.skip_non_reducing:
            reason = (f"{atoms} atoms with {nnz} non-zeros per column take {after} bytes (indices included), "
                      f"not fewer than the weight's {before}")
            return None, {"action": "skipped", "reason": reason, **record}
        weight = layer.weight.detach().double()
        target = weight.T  # A = Wᵀ, d_in × d_out
        factor = None
        if self.mode == "activation":
            factor = calibration.whitening(self.grams[name])
            target = factor.T @ target
        started = time.perf_counter()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # hundreds of small batched solves: extra threads only synchronise
        try:
            dictionary, code, trace = omp.learn(target, atoms, nnz, self.iterations, self.seed)
        finally:
            torch.set_num_threads(threads)
        seconds = round(time.perf_counter() - started, 4)
        if factor is not None:  # D = L⁻ᵀ D′: back from the whitened space (S is unchanged)
            dictionary = torch.linalg.solve_triangular(factor.T, dictionary, upper=True)
        new = _layer_class()(d_in, d_out, atoms, nnz, layer.bias is not None)
        with torch.no_grad():
            new.dictionary.weight.copy_(dictionary.T)
            new.values.copy_(code.values)
            new.indices.copy_(code.indices)
            if layer.bias is not None:
                new.bias.copy_(layer.bias.detach())
        estimate = new.weight_estimate().double()
        record.update(relative_error=relative_error(weight, estimate), objective=trace, seconds=seconds)
        if factor is not None:
            record["activation_relative_error"] = calibration.activation_error(weight, estimate, factor)
        new = new.to(device=layer.weight.device, dtype=layer.weight.dtype)
        new.indices = new.indices.to(index_dtype(atoms))  # .to(dtype) leaves integer buffers alone; make sure
        return new, {"action": "factorised", **record}

    def report_fields(self, records):
        changed = [r for r in records if r["action"] == "factorised"]
        fields = {
            "mode": self.mode, "iterations": self.iterations, "forward": FORWARD_NOTE,
            "index_bytes": sum(r["index_bytes"] for r in changed),
            "skipped": {r["name"]: r["reason"] for r in records if r["action"] == "skipped"},
            "fit_seconds": round(sum(r["seconds"] for r in changed), 4),
        }
        if self.mode == "activation":
            errors = [r["activation_relative_error"] for r in changed]
            fields["mean_activation_relative_error"] = round(sum(errors) / len(errors), 8) if errors else 0.0
        return fields
