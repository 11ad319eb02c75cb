"""What every compressor of this plugin shares: choosing layers by name, counting sizes, the report.

A layer's *name* is ``<module key>.<path in the module>``: the key is what the component's
``torch_modules()`` calls the module (``encoder`` for the transformers plugin), the path is
``named_modules()``'s (``encoder.layer.0.attention.self.query`` in a BERT), so the dense
retriever's first query projection is ``encoder.encoder.layer.0.attention.self.query``.
``include``/``exclude`` patterns are shell-style globs (``fnmatch.fnmatchcase``: ``*`` also
matches dots) or, prefixed with ``re:``, regular expressions searched in the name.

Sizes (the report's ``parameters_*``/``bytes_*``) count what ``harness.testing.module_size``
counts, plus what it cannot see: a torch.ao quantised linear layer keeps its int8 weight and bias
in packed parameters, not in ``parameters()``; a torchao weight is a tensor subclass whose
``element_size()`` is that of the float it stands for, not of its int8 storage.
``serialized_bytes_*`` is the length of ``torch.save({key: module.state_dict()})`` in memory:
what a checkpoint of the modules would take on disk.
"""

from __future__ import annotations

import fnmatch
import re
import time
from typing import Any

from harness.sdk import Compressor, Context, Param

PATTERN_PARAMS = {
    "include": Param(str, ["*"], "layers to compress: globs (or re:REGEX) on <module key>.<layer path>", many=True),
    "exclude": Param(str, [], "layers to leave alone, matched as include (exclude wins)", many=True),
}


def matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def selected(name: str, include, exclude) -> bool:
    return any(matches(name, p) for p in include) and not any(matches(name, p) for p in exclude)


def check_patterns(patterns) -> None:
    for pattern in patterns:
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None


def named_layers(modules: dict[str, Any], kind) -> list[tuple[str, Any, Any, str]]:
    """``(name, layer, parent, attribute)`` of every submodule of type ``kind``, in module order;
    a root module of that type has parent None."""
    out = []
    for key, root in modules.items():
        if isinstance(root, kind):
            out.append((key, root, None, key))
            continue
        for path, parent in root.named_modules():
            for attribute, child in parent.named_children():
                if isinstance(child, kind):
                    out.append((f"{key}.{path + '.' if path else ''}{attribute}", child, parent, attribute))
    return out


def replace(modules: dict, name: str, parent, attribute: str, new) -> None:
    if parent is None:
        modules[attribute] = new
    else:
        setattr(parent, attribute, new)


def _tensor_bytes(tensor) -> int:
    import torch

    kind = type(tensor)
    if kind not in (torch.Tensor, torch.nn.Parameter) and hasattr(kind, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()  # a torchao weight: count its inner (int8, scale) tensors
        return sum(_tensor_bytes(getattr(tensor, n)) for n in names)
    if tensor.is_quantized:
        extra = 16 if tensor.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric) else (
            tensor.q_per_channel_scales().numel() * 16)  # float64 scale + int64 zero point each
        return tensor.numel() * tensor.element_size() + extra
    return tensor.numel() * tensor.element_size()


def size(modules: dict[str, Any]) -> tuple[int, int]:
    """(parameters, bytes) of the modules together, each tensor once (see the module docstring)."""
    params, buffers, packed = {}, {}, {}
    for module in modules.values():
        params.update((id(p), p) for p in module.parameters())
        buffers.update((id(b), b) for b in module.buffers())
        for sub in module.modules():
            if hasattr(sub, "_packed_params") and hasattr(sub._packed_params, "_weight_bias"):
                packed[id(sub)] = sub._packed_params._weight_bias()  # torch.ao: (int8 weight, bias)
    counted = [t for pair in packed.values() for t in pair if t is not None]
    parameters = sum(p.numel() for p in params.values()) + sum(t.numel() for t in counted)
    tensors = [*params.values(), *(b for i, b in buffers.items() if i not in params), *counted]
    return parameters, sum(_tensor_bytes(t) for t in tensors)


def serialized_bytes(modules: dict[str, Any]) -> int:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({key: module.state_dict() for key, module in modules.items()}, buffer)
    return buffer.getbuffer().nbytes


def relative_error(weight, approximation) -> float:
    """‖W − Ŵ‖_F / ‖W‖_F in float32 (0 for an all-zero W that stayed zero)."""
    weight, approximation = weight.detach().float(), approximation.detach().float()
    norm = float(weight.norm())
    difference = float((weight - approximation).norm())
    return round(difference / norm, 8) if norm else (0.0 if difference == 0 else float("inf"))


class ModuleCompressor(Compressor):
    """``compress`` as a template: sizes and serialized bytes before, ``transform`` timed, sizes
    after, and the per-layer records ``transform`` returns summarised."""

    def compress(self, modules: dict[str, Any], ctx: Context) -> tuple[dict[str, Any], dict]:
        parameters_before, bytes_before = size(modules)
        serialized_before = serialized_bytes(modules)
        modules = dict(modules)
        started = time.perf_counter()
        layers, extra = self.transform(modules, ctx)
        seconds = round(time.perf_counter() - started, 4)
        parameters_after, bytes_after = size(modules)
        errors = [layer["relative_error"] for layer in layers if layer.get("relative_error") is not None]
        return modules, {
            "parameters_before": parameters_before, "parameters_after": parameters_after,
            "bytes_before": bytes_before, "bytes_after": bytes_after,
            "serialized_bytes_before": serialized_before, "serialized_bytes_after": serialized_bytes(modules),
            "seconds": seconds,
            **extra,
            "layers_changed": sum(1 for layer in layers if layer["action"] != "skipped"),
            "layers_skipped": sum(1 for layer in layers if layer["action"] == "skipped"),
            "max_relative_error": max(errors, default=0.0),
            "mean_relative_error": round(sum(errors) / len(errors), 8) if errors else 0.0,
            "layers": layers,
        }

    def transform(self, modules: dict[str, Any], ctx: Context) -> tuple[list[dict], dict]:
        """Change ``modules`` (a copy of the dict; its modules may be changed in place); return a
        record per layer considered (``name``, ``action``, ``relative_error``...) and the fields
        the report adds about the whole transformation."""
        raise NotImplementedError


class LinearCompressor(ModuleCompressor):
    """A compressor that replaces ``nn.Linear`` layers one at a time (``include``/``exclude``)."""

    def __init__(self, **params):
        super().__init__(**params)
        check_patterns([*self.include, *self.exclude])

    def transform(self, modules, ctx):
        import torch

        records = []
        for name, layer, parent, attribute in named_layers(modules, torch.nn.Linear):
            if not selected(name, self.include, self.exclude):
                continue
            if isinstance(parent, torch.nn.MultiheadAttention):
                # its forward reads out_proj.weight and .bias directly: a replacement would break it
                new, record = None, {"action": "skipped", "reason": "nn.MultiheadAttention reads this layer's "
                                     "weight directly; it cannot be replaced by another module"}
            else:
                new, record = self.layer(name, layer)
            if new is not None:
                replace(modules, name, parent, attribute, new)
            records.append({"name": name, "shape": list(layer.weight.shape), **record})
        return records, self.report_fields(records)

    def layer(self, name: str, layer) -> tuple[Any, dict]:
        """(the replacement or None to keep the layer, its record: ``action`` and the rest)."""
        raise NotImplementedError

    def report_fields(self, records: list[dict]) -> dict:
        return {}
