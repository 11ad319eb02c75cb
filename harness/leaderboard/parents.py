"""Which pipeline of a run is a compressed pipeline's uncompressed parent.

Read from the cell results alone (``config.pipeline``: each stage's resolved configuration, its
compressors included), so a copied results folder finds the same parents. A pipeline is
*compressed* when any of its stages, nested ones included, has compressors (pipeline-level
compressors are recorded on every compressible stage). Its parent is:

* the pipeline its suite entry names with ``parent = "name"`` (recorded in its configuration),
  whether or not it has compressors: a demanding comparison may differ in more than compression;
* otherwise the one pipeline of the run without compressors whose stages are identical to its own
  once every compressor is removed: same plugins, same parameters (defaults filled in), same rerank
  depths. Several such pipelines, or none, give no parent, and a note says
  which and how to declare one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..cellresult import CellResult, as_results, stage_configs

DECLARED, DETECTED = "declared", "detected"


@dataclass(frozen=True)
class Parent:
    """A compressed (or parent-declaring) pipeline's parent: its name, how it was found (``declared``
    or ``detected``), or None and a note saying why there is none."""

    pipeline: str
    parent: str | None
    how: str | None
    note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def pipeline_configs(cells: list[CellResult]) -> dict[str, dict]:
    """``{pipeline: its recorded configuration}``, in cell order; a pipeline's first cell that
    records one decides (every cell of a pipeline records the same)."""
    out: dict[str, dict] = {}
    for cell in as_results(cells):
        name = cell.cell.pipeline
        config = cell.config.pipeline
        if name not in out and isinstance(config, dict):
            out[name] = config
    return out


def is_compressed(config: dict) -> bool:
    """Whether any stage of the pipeline, nested stages included, has compressors."""
    return any(_has_compressors(stage) for stage in stage_configs(config))


def _has_compressors(value) -> bool:
    if isinstance(value, dict):
        return bool(value.get("compressors")) or any(_has_compressors(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_compressors(v) for v in value)
    return False


def without_compressors(value):
    """The stages' configuration with every compressor list removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_compressors(v) for k, v in value.items() if k != "compressors"}
    if isinstance(value, list):
        return [without_compressors(v) for v in value]
    return value


def stages(config: dict) -> list[dict]:
    """The parts of a pipeline's configuration that decide its output: its stages, in order
    (``retriever`` and ``ranker``, or ``stages``)."""
    return stage_configs(config)


def find_parents(cells: list[CellResult]) -> list[Parent]:
    """A ``Parent`` for every pipeline of the run that is compressed or declares a parent, in
    pipeline order."""
    configs = pipeline_configs(cells)
    plain = [name for name, config in configs.items() if not is_compressed(config)]
    out = []
    for name, config in configs.items():
        declared = config.get("parent")
        if declared:
            out.append(_declared(name, declared, configs))
        elif is_compressed(config):
            out.append(_detected(name, config, configs, plain))
    return out


def _declared(name: str, parent: str, configs: dict) -> Parent:
    if parent in configs and parent != name:
        return Parent(name, parent, DECLARED)
    return Parent(name, None, None, f"{name}: its declared parent {parent!r} has no result in this run "
                  "(not selected, or not run): no comparison with a parent")


def _detected(name: str, config: dict, configs: dict, plain: list[str]) -> Parent:
    target = without_compressors(stages(config))
    candidates = [other for other in plain if stages(configs[other]) == target]
    if len(candidates) == 1:
        return Parent(name, candidates[0], DETECTED)
    if candidates:
        return Parent(name, None, None, f"{name}: several pipelines have its stages without compressors "
                      f"({', '.join(candidates)}): no parent chosen; declare one with parent = \"...\"")
    return Parent(name, None, None, f"{name}: no pipeline of this run has its stages without compressors "
                  "(same plugins, parameters and depth): no parent; declare one with parent = \"...\" to "
                  "compare with a pipeline that differs on purpose")
