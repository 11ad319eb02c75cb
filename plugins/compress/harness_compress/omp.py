"""Sparse coding and dictionary learning for ``dense-sparse``: Y ≈ D S with D dense (n × k, unit
atoms) and S sparse (k × m, ``nnz`` non-zeros per column), all columns at once in torch.

``omp`` is orthogonal matching pursuit run on every column of Y together (Batch-OMP: Rubinstein,
Zibulevsky & Elad 2008): with G = DᵀD and B = DᵀY precomputed, step t picks for each column the
atom most correlated with its residual, c = B − G S (the residual's correlations, without ever
forming the residual), and keeps the least-squares coefficients on the chosen atoms through an
incrementally grown Cholesky factor of G restricted to them (``_omp_columns`` has the algebra).
``learn`` alternates it with the least-squares update of D (the method of optimal directions,
MOD), from the truncated SVD's left singular vectors, and returns the best state it visited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Below this share of an atom's squared norm, a newly chosen atom counts as lying in the span of
# those already chosen: the Cholesky pivot is clamped rather than divided by (almost) zero.
PIVOT_FLOOR = 1e-10
# Columns coded at once: OMP keeps a k × nnz matrix per column (float64), 113 MB for 1,536
# columns at k = 192, nnz = 48; chunks bound that.
CHUNK = 512


@dataclass
class SparseCode:
    """S as its non-zeros: ``indices`` and ``values`` are m × nnz (atom index and coefficient of
    each column's non-zeros)."""

    indices: Any
    values: Any

    def dense(self, atoms: int):
        """S as a dense k × m tensor."""
        import torch

        m = self.indices.shape[0]
        return torch.zeros(m, atoms, dtype=self.values.dtype).scatter_(1, self.indices, self.values).T


def omp(dictionary, targets, nnz: int, chunk: int = CHUNK) -> SparseCode:
    """Orthogonal matching pursuit of every column of ``targets`` (n × m) on ``dictionary`` (n × k,
    unit-norm columns), ``nnz`` ≤ k atoms per column; ``chunk`` columns at a time (memory)."""
    import torch

    atoms = dictionary.shape[1]
    if not 1 <= nnz <= atoms:
        raise ValueError(f"nnz {nnz} must be between 1 and the {atoms} atoms")
    gram = dictionary.T @ dictionary
    parts = [_omp_columns(gram, dictionary.T @ targets[:, first:first + chunk], nnz)
             for first in range(0, targets.shape[1], chunk)]
    return SparseCode(torch.cat([p.indices for p in parts]), torch.cat([p.values for p in parts]))


def _omp_columns(gram, correlations, nnz: int) -> SparseCode:
    """OMP from G = DᵀD and B = DᵀY (k × m), with no triangular solve inside the loop.

    Per column, with T the atoms chosen so far and G_TT = L Lᵀ: v = L⁻¹ B_T and
    Q = G[:, T] L⁻ᵀ (k × t) give the residual's correlations c = B − G[:, T] x_T = B − Q v. A new
    atom j extends L by the row (w, d) with w = L⁻¹ G_Tj = Q[j] and d = √(G_jj − ‖w‖²), Q by the
    column q = (G[:, j] − Q w) / d and v by c_j / d, so c ← c − q · c_j / d. At the end
    x_T = L⁻ᵀ v (one batched triangular solve)."""
    import torch

    atoms, m = correlations.shape
    rows = torch.arange(m)
    chosen = torch.zeros(m, nnz, dtype=torch.long)
    factor = torch.zeros(m, nnz, nnz, dtype=gram.dtype)  # L per column
    q = torch.zeros(m, nnz, atoms, dtype=gram.dtype)  # Qᵀ per column
    v = torch.zeros(m, nnz, dtype=gram.dtype)
    residual = correlations.T.clone()  # c per column (m × k)
    for t in range(nnz):
        score = residual.abs()
        if t:
            score.scatter_(1, chosen[:, :t], -1.0)  # an atom once chosen is never chosen again
        pick = score.argmax(1)
        w = q[rows, :t, pick]  # m × t
        diagonal = gram[pick, pick]
        d = (diagonal - (w * w).sum(1)).clamp_min(PIVOT_FLOOR * diagonal.clamp_min(1e-30)).sqrt()
        column = gram[pick] - torch.bmm(w.unsqueeze(1), q[:, :t]).squeeze(1) if t else gram[pick].clone()
        column /= d[:, None]
        step = residual[rows, pick] / d
        q[:, t] = column
        v[:, t] = step
        factor[:, t, :t] = w
        factor[:, t, t] = d
        chosen[:, t] = pick
        residual -= column * step[:, None]
    values = torch.linalg.solve_triangular(factor.transpose(1, 2), v.unsqueeze(-1), upper=True).squeeze(-1)
    return SparseCode(chosen, values)


def update_dictionary(dictionary, code: SparseCode, targets):
    """The least-squares D for the fixed support and values of S, min_D ‖Y − D S‖_F (solved as
    Sᵀ Dᵀ = Yᵀ, minimum norm where S is rank-deficient); atoms then rescaled to unit norm (their coefficients by the
    inverse, so D S is unchanged). An atom no column uses keeps its old value."""
    import torch

    atoms = dictionary.shape[1]
    s = code.dense(atoms)
    solved = torch.linalg.lstsq(s.T, targets.T, driver="gelsd").solution.T  # n × k
    used = s.abs().sum(1) > 0
    new = torch.where(used[None, :], solved, dictionary)
    norms = new.norm(dim=0)
    norms = torch.where(norms > 0, norms, torch.ones_like(norms))
    return new / norms, SparseCode(code.indices, code.values * norms[code.indices])


def error(dictionary, code: SparseCode, targets) -> float:
    """‖Y − D S‖_F / ‖Y‖_F."""
    norm = float(targets.norm())
    difference = targets - dictionary @ code.dense(dictionary.shape[1])
    return float(difference.norm()) / norm if norm else 0.0


def initial_dictionary(targets, atoms: int, seed: int):
    """The first ``atoms`` left singular vectors of Y (the truncated SVD's basis: with nnz = atoms,
    the first sparse coding is the rank-k SVD); beyond Y's rank, seeded random unit atoms."""
    import torch

    u, _, _ = torch.linalg.svd(targets, full_matrices=False)
    if atoms <= u.shape[1]:
        return u[:, :atoms].clone()
    generator = torch.Generator().manual_seed(seed)
    extra = torch.randn(targets.shape[0], atoms - u.shape[1], generator=generator, dtype=targets.dtype)
    return torch.cat([u, extra / extra.norm(dim=0)], dim=1)


def learn(targets, atoms: int, nnz: int, iterations: int, seed: int):
    """(D, S, the relative error after each step): sparse coding on the SVD basis, then
    ``iterations`` rounds of (dictionary update, sparse coding); the best state visited is kept,
    so more iterations never give a larger error."""
    dictionary = initial_dictionary(targets, atoms, seed)
    code = omp(dictionary, targets, nnz)
    trace = [error(dictionary, code, targets)]
    best = (trace[0], dictionary, code)
    for _ in range(iterations):
        dictionary, code = update_dictionary(dictionary, code, targets)
        trace.append(error(dictionary, code, targets))
        if trace[-1] < best[0]:
            best = (trace[-1], dictionary, code)
        code = omp(dictionary, targets, nnz)
        trace.append(error(dictionary, code, targets))
        if trace[-1] < best[0]:
            best = (trace[-1], dictionary, code)
    return best[1], best[2], [round(e, 8) for e in trace]
