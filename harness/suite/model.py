"""What a validated suite is made of: stages, pipelines, cells, the suite itself."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets import DatasetSpec
from ..params import resolve_params
from .sections import ExecutionSettings, MeasureSettings, OutputSettings, StatsSettings


@dataclass
class StageSpec:
    """A component as the suite asks for it: plugin name, its parameters, nested specs.

    A pipeline's rankers also have ``depth`` (how many of the stage before's documents they
    rerank) and ``interpolate`` (None, or α: the reranked head is ordered by α·own score +
    (1−α)·the stage before's score, both min-max normalised per query; see pipeline.py).
    """

    kind: str
    plugin: str
    params: dict
    cls: type
    depth: int | None = None
    compressors: list[StageSpec] = field(default_factory=list)
    interpolate: float | None = None

    def config(self) -> dict:
        """Canonical, defaults filled in: what cache keys and results record."""
        params = {}
        for key, value in resolve_params(self.cls.params, self.params).items():
            param = self.cls.params[key]
            if param.is_component and value is not None:
                value = [v.config() for v in value] if param.many else value.config()
            params[key] = value
        out: dict[str, Any] = {"plugin": self.plugin, **params}
        if self.depth is not None:
            out["depth"] = self.depth
        if self.interpolate is not None:  # only when set: configurations without it keep their keys
            out["interpolate"] = self.interpolate
        if self.compressors:
            out["compressors"] = [c.config() for c in self.compressors]
        return out

    def build(self):
        """An instance of the component (nested specs stay specs: the runner builds them)."""
        return self.cls(**self.params)


@dataclass(init=False)
class PipelineSpec:
    """A pipeline: ``stages``, a first-stage retriever then any number of rankers, each reranking
    the top ``depth`` of the stage before (pipeline.py runs them).

    ``PipelineSpec(name, stages)``; ``PipelineSpec(name, retriever=..., ranker=...)`` (or
    positionally ``(name, retriever, ranker)``) is the two-stage shorthand. ``retriever`` and
    ``ranker`` read back the first and the only ranker stage; code that runs a pipeline walks
    ``stages``.
    """

    name: str
    stages: tuple[StageSpec, ...]
    description: str = ""
    base: str = ""  # the name before sweep expansion
    sweep: dict = field(default_factory=dict)  # the swept values of this variant
    parent: str | None = None  # declared: the pipeline the leaderboard sets this one beside

    def __init__(self, name: str, stages: Sequence[StageSpec] | StageSpec = (), ranker: StageSpec | None = None, *,
                 retriever: StageSpec | None = None, description: str = "", base: str = "",
                 sweep: dict | None = None, parent: str | None = None):
        if isinstance(stages, StageSpec):  # (name, retriever, ranker): the shorthand, positionally
            stages, retriever = (), stages
        if retriever is not None:
            if stages:
                raise ValueError("give stages or retriever/ranker, not both")
            stages = (retriever,) + ((ranker,) if ranker is not None else ())
        elif ranker is not None:
            raise ValueError("a ranker needs a retriever before it")
        self.name = name
        self.stages = tuple(stages)
        self.description = description
        self.base = base
        self.sweep = dict(sweep or {})
        self.parent = parent

    @property
    def retriever(self) -> StageSpec:
        """The first stage."""
        return self.stages[0]

    @property
    def ranker(self) -> StageSpec | None:
        """The second stage of a two-stage pipeline (None with one stage); a longer cascade has
        several rankers, so this raises there: walk ``stages``."""
        if len(self.stages) > 2:
            raise ValueError(f"pipeline {self.name!r} has {len(self.stages) - 1} rankers: walk .stages")
        return self.stages[1] if len(self.stages) == 2 else None

    @property
    def rankers(self) -> tuple[StageSpec, ...]:
        return self.stages[1:]

    def config(self) -> dict:
        """The stages' configurations, as results record them and cell keys hash them: a pipeline
        of one or two stages as ``retriever`` and ``ranker`` (as before stage lists existed, so
        their cell keys did not change), a longer one as ``stages``; plus a declared ``parent``.
        ``harness.cellresult.stage_configs`` reads either shape back as a list."""
        if len(self.stages) <= 2:
            out = {"retriever": self.stages[0].config()}
            if len(self.stages) == 2:
                out["ranker"] = self.stages[1].config()
        else:
            out = {"stages": [stage.config() for stage in self.stages]}
        if self.parent:  # only when declared: results of suites without one keep their cell keys
            out["parent"] = self.parent
        return out


@dataclass
class Cell:
    """One unit of work: a pipeline on a dataset on a device."""

    dataset: DatasetSpec
    pipeline: PipelineSpec
    device: str

    @property
    def id(self) -> str:
        return f"{self.dataset.name}/{self.pipeline.name}/{self.device}"

    @property
    def slug(self) -> str:
        """The id made safe as a file name."""
        return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", self.id.replace("/", "__"))


@dataclass
class Suite:
    """A validated suite; its settings tables are the dataclasses of sections.py."""

    name: str
    path: Path
    text: str
    k: int
    seed: int
    metrics: list  # Metric instances
    datasets: list[DatasetSpec]
    pipelines: list[PipelineSpec]
    stats: StatsSettings
    measure: MeasureSettings
    output: OutputSettings
    description: str = ""
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def cells(self, pipelines=(), datasets=(), devices=()) -> list[Cell]:
        """Datasets × pipelines × devices, optionally narrowed (names, base names or globs).

        A pipeline none of whose stages runs on a device gets no cell there (see ``unsupported``).
        """
        return [c for c in self._all_cells(pipelines, datasets, devices) if _runs_on(c.pipeline, c.device)]

    def unsupported(self, pipelines=(), datasets=(), devices=()) -> list[Cell]:
        """Cells left out because no stage of the pipeline declares the device."""
        return [c for c in self._all_cells(pipelines, datasets, devices) if not _runs_on(c.pipeline, c.device)]

    def _all_cells(self, pipelines, datasets, devices) -> list[Cell]:
        out = []
        for dataset in self.datasets:
            if datasets and not _selected(dataset.name, dataset.name, datasets):
                continue
            for pipeline in self.pipelines:
                if pipelines and not _selected(pipeline.name, pipeline.base, pipelines):
                    continue
                for device in self.measure.devices:
                    if not devices or device in devices:
                        out.append(Cell(dataset, pipeline, device))
        return out


def _runs_on(pipeline: PipelineSpec, device: str) -> bool:
    """Whether some stage declares the device (``cuda:1`` counts as ``cuda``; ``auto`` always)."""
    kind = device.split(":")[0]
    return kind == "auto" or any(kind in s.cls.devices for s in pipeline.stages)


def _selected(name: str, base: str, patterns) -> bool:
    return any(p in (name, base) or fnmatch.fnmatchcase(name, p) for p in patterns)
