"""Model sizes for "compressed vs parent": bytes before and after a pipeline's compressors.

Two records hold sizes. The compression report of each compressed stage (phase ``compress``,
``ranker.compress``, ``<nested>.compress``: ``reports``, one per compressor in order) has
``bytes_before`` and ``bytes_after``, counted by the compressor, packed int8 weights included
(docs/plugins.md, CompressorContract). The ``parameter_bytes`` figure of each stage's ``index`` or
``prepare`` phase counts ``parameters()`` of its torch modules after compression, which misses
weights a quantised layer packs outside ``parameters()``. So the report is preferred: it gives
both sides from one cell and one counting method. Where a cell did not compress in this run (its
components were shared with an earlier cell of the same process), the parameter_bytes figures of
the compressed cell and its parent are compared instead.
"""

from __future__ import annotations

from ..cellresult import CellResult, Phase

REPORTS = "compression reports"
FIGURES = "parameter_bytes figures"


def _phase_root(name: str, suffix: str) -> str | None:
    """The prefix of a phase named ``<prefix><suffix>`` (``""``, ``bm25.``), or None."""
    if name == suffix:
        return ""
    return name[: -len(suffix)] if name.endswith("." + suffix) else None


def _compressed_stages(config) -> int:
    """How many stage configurations (nested ones included) carry compressors."""
    if isinstance(config, dict):
        own = 1 if config.get("plugin") and config.get("compressors") else 0
        return own + sum(_compressed_stages(v) for k, v in config.items() if k != "compressors")
    if isinstance(config, list):
        return sum(_compressed_stages(v) for v in config)
    return 0


def _figure(record: Phase, name: str):
    found = record.figures.get(name)
    return found.value if found else None


def _stage_bytes(phases: dict[str, Phase]) -> dict[str, int | float]:
    """``{compress phase name: parameter_bytes}`` of each stage's index (retriever) or prepare
    (ranker) phase, keyed by the compress phase that stage would have (``prepare.2``, the third
    stage's of a cascade: ``ranker.2.compress``)."""
    out = {}
    for name, record in phases.items():
        stem, _, number = name.rpartition(".")
        if number.isdigit() and _phase_root(stem, "prepare") is not None:  # a cascade's stage i >= 2
            where = _phase_root(stem, "prepare") + f"ranker.{number}.compress"
        elif _phase_root(name, "prepare") is not None:
            where = _phase_root(name, "prepare") + "ranker.compress"
        elif _phase_root(name, "index") is not None:
            where = _phase_root(name, "index") + "compress"
        else:
            continue
        size = _figure(record, "parameter_bytes")
        if size is not None:
            out[where] = size
    return out


def report_sizes(cell: CellResult) -> tuple[int, int] | None:
    """(bytes before, bytes after) the cell's compressors, from its compression reports: each
    compressed stage's first ``bytes_before`` and last ``bytes_after``, plus the parameter_bytes
    of its stages without compressors on both sides. None unless every compressed stage has a
    report with both numbers."""
    phases = cell.phases
    reports = {name: record.reports for name, record in phases.items()
               if _phase_root(name, "compress") is not None and record.reports}
    expected = _compressed_stages(cell.config.pipeline)
    if not reports or len(reports) < expected:
        return None
    before = after = 0
    for chain in reports.values():
        first, last = chain[0].get("bytes_before"), chain[-1].get("bytes_after")
        if not isinstance(first, int) or not isinstance(last, int):
            return None
        before, after = before + first, after + last
    for compress, size in _stage_bytes(phases).items():
        if compress not in reports:  # an uncompressed stage counts the same on both sides
            before, after = before + size, after + size
    return before, after


def figure_bytes(cell: CellResult) -> int | float | None:
    """The sum of the cell's parameter_bytes figures, or None when it has none."""
    sizes = _stage_bytes(cell.phases)
    return sum(sizes.values()) if sizes else None


def size_comparison(cell: CellResult, parent: CellResult) -> dict:
    """``{bytes, parent_bytes, ratio, source}`` for a compressed cell and its parent's cell
    (ratio = bytes / parent_bytes); every field None, and ``source`` None, when neither record
    gives both sides."""
    found = report_sizes(cell)
    source = REPORTS
    if found is None:
        found, source = (figure_bytes(parent), figure_bytes(cell)), FIGURES
    before, after = found
    if before is None or after is None or before <= 0:
        return {"bytes": None, "parent_bytes": None, "ratio": None, "source": None}
    return {"bytes": after, "parent_bytes": before, "ratio": after / before, "source": source}
