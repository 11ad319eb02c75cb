"""Compressors that each break one rule of ``CompressorContract`` (see README.md)."""

from __future__ import annotations

from harness.components import Compressor


def size(modules) -> tuple[int, int]:
    params = {id(p): p for m in modules.values() for p in m.parameters()}
    tensors = {**params, **{id(b): b for m in modules.values() for b in m.buffers()}}
    return sum(p.numel() for p in params.values()), sum(t.numel() * t.element_size() for t in tensors.values())


class Good(Compressor):
    """Zeroes the smaller half of every linear layer's weights (magnitude pruning)."""

    name = "nc-good"

    def prune(self, modules) -> int:
        import torch

        zeroed = 0
        for module in modules.values():
            for layer in module.modules():
                if isinstance(layer, torch.nn.Linear):
                    weight = layer.weight.data
                    threshold = weight.abs().flatten().kthvalue(max(1, weight.numel() // 2)).values
                    mask = weight.abs() <= threshold
                    weight[mask] = 0.0
                    zeroed += int(mask.sum())
        return zeroed

    def compress(self, modules, ctx):
        parameters, nbytes = size(modules)
        zeroed = self.prune(modules)
        report = {"parameters_before": parameters, "parameters_after": parameters - zeroed,
                  "bytes_before": nbytes, "bytes_after": nbytes, "zeroed": zeroed}
        return modules, report


class Nameless(Good):
    """Forgot its name."""

    name = ""


class NoReport(Good):
    """Returns the modules alone."""

    def compress(self, modules, ctx):
        return super().compress(modules, ctx)[0]


class MissingFields(Good):
    """Reports parameters but not bytes."""

    def compress(self, modules, ctx):
        modules, report = super().compress(modules, ctx)
        return modules, {k: v for k, v in report.items() if not k.startswith("bytes")}


class MiscountsInput(Good):
    """Counts 4 bytes per parameter, forgetting the buffers."""

    def compress(self, modules, ctx):
        modules, report = super().compress(modules, ctx)
        return modules, {**report, "bytes_before": 4 * report["parameters_before"]}


class NotJson(Good):
    """Puts a tensor into the report."""

    def compress(self, modules, ctx):
        import torch

        modules, report = super().compress(modules, ctx)
        return modules, {**report, "threshold": torch.tensor(0.5)}


class BreaksModel(Good):
    """Overwrites the pruned weights with NaN."""

    def prune(self, modules):
        import torch

        zeroed = super().prune(modules)
        for module in modules.values():
            for layer in module.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.data[layer.weight.data == 0] = float("nan")
        return zeroed


GOOD = Good
BREAKS = {
    "test_declares_a_valid_component": Nameless,
    "test_returns_modules_and_report": NoReport,
    "test_report_has_required_fields": MissingFields,
    "test_report_counts_the_input": MiscountsInput,
    "test_report_is_json": NotJson,
    "test_model_still_runs": BreaksModel,
}
