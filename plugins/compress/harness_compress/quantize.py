"""Dynamic int8 quantisation of one ``nn.Linear``, by one of two backends, and what ran.

* ``torch.ao``: ``torch.ao.nn.quantized.dynamic.Linear`` (weights int8, packed for the quantised
  engine, ``x86`` here: fbgemm/oneDNN; activations quantised per tensor, per batch, at run time).
  Each layer is converted by ``from_float``, not through ``quantize_dynamic`` (which torch 2.13
  deprecates with a warning, and which could not choose layers by name); what still warns is
  the creation of quantised tensors, once per process: silenced around the conversion only,
  and the report says so.
* ``torchao``: ``torchao.quantization.quantize_`` with ``Int8DynamicActivationInt8WeightConfig``
  (weights int8 per row or per tensor, activations per token); on the CPU it runs
  ``aten::_int_mm`` in eager mode, with quantisation steps around it.

Which kernel ran is observed, not assumed: one converted layer runs a small batch under a
``TorchDispatchMode`` that records the operators it dispatches (``quantized::linear_dynamic``,
``aten::_int_mm(uint8, int8)``...).
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings

BACKENDS = ("torch.ao", "torchao")
GRANULARITIES = ("per-channel", "per-tensor")
MATMUL = ("linear", "mm", "matmul", "addmm", "bmm", "_int_mm")
# How torch 2.13's deprecation warnings about torch.ao begin (the whole message is longer).
DEPRECATION = ("torch.ao.quantization is deprecated",
               "torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation")


@contextlib.contextmanager
def _quiet_torch_ao():
    """The deprecation warnings of torch.ao's converter, expected and documented, not shown;
    every other warning still is."""
    with warnings.catch_warnings():
        for text in DEPRECATION:
            for category in (DeprecationWarning, UserWarning):
                warnings.filterwarnings("ignore", message=re.escape(text), category=category)
        yield


def import_torchao():
    """torchao, imported without its start-up log lines about CUDA libraries a CPU run never needs."""
    loggers = [logging.getLogger(n) for n in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        import torchao
        import torchao.quantization
    except ImportError as exc:
        raise RuntimeError("int8 backend 'torchao' needs the torchao package (pip install torchao, or "
                           "ir-harness-compress[torchao]); backend = 'torch.ao' needs nothing more") from exc
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    return torchao


def quantize(layer, backend: str, granularity: str):
    """(the int8 module replacing ``layer``, the float32 weight it stands for)."""
    import torch

    if layer.weight.dtype != torch.float32:
        raise ValueError(f"int8 quantisation needs float32 layers, this one is {layer.weight.dtype}: "
                         "int8 and half do not combine (the int8 kernels take float32 activations)")
    if backend == "torch.ao":
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

        # from_float reads the layer's qconfig; the attribute is removed again, the layer left as given
        layer.qconfig = per_channel_dynamic_qconfig if granularity == "per-channel" else default_dynamic_qconfig
        try:
            with _quiet_torch_ao():
                converted = DynamicLinear.from_float(layer)
                weight = converted.weight().dequantize()
        finally:
            del layer.qconfig
        return converted, weight
    import_torchao()
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, PerRow, PerTensor, quantize_

    holder = torch.nn.Sequential(torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None))
    holder[0].load_state_dict(layer.state_dict())
    quantize_(holder, Int8DynamicActivationInt8WeightConfig(
        granularity=PerRow() if granularity == "per-channel" else PerTensor()))
    return holder[0], holder[0].weight.dequantize().float()


def observed_ops(module, d_in: int, dtype=None) -> list[str]:
    """The matrix-multiplication operators one forward of ``module`` dispatches, with the dtypes
    of their tensor arguments: what actually computed it."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: dict[str, None] = {}

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.name()
            if name.split("::")[-1].split(".")[0] in MATMUL or name.startswith("quantized::"):
                dtypes = [str(a.dtype).replace("torch.", "") for a in args if isinstance(a, torch.Tensor)]
                seen[f"{name}({', '.join(dtypes)})"] = None
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, d_in, dtype=dtype or torch.float32)
    with torch.inference_mode(), Record():
        module(x)
    return list(seen)


def kernel_record(module, backend: str, granularity: str, d_in: int) -> dict:
    """What the converted layers are and which operators run them."""
    import torch

    record = {"backend": backend, "granularity": granularity,
              "module": f"{type(module).__module__}.{type(module).__qualname__}",
              "ops": observed_ops(module, d_in)}
    if backend == "torch.ao":
        packed = module._packed_params._packed_params
        record.update(engine=torch.backends.quantized.engine, packed=str(packed._type()),
                      weight=f"{module.weight().dtype} {module.weight().qscheme()}".replace("torch.", ""),
                      activation="quint8 per tensor, scale chosen per batch at run time",
                      note="torch.ao.quantization deprecation warnings silenced during conversion")
    else:
        import torchao

        weight = module.weight
        mapping = getattr(getattr(weight, "act_quant_kwargs", None), "mapping_type", None)
        activation = f"int8 per token (row), {getattr(mapping, 'name', 'unknown').lower()}, scale chosen at run time"
        if any(op.startswith("aten::_int_mm(uint8") for op in record["ops"]):
            # torchao's CPU path adds 128 to int8 activations where the CPU has VNNI but no AMX
            activation += "; shifted to uint8 for the u8·s8 VNNI kernel"
        record.update(torchao=torchao.__version__, weight=f"{type(weight).__name__} int8 {granularity}",
                      activation=activation)
    return record


def int8_layers(modules: dict) -> list[str]:
    """Names of the layers an int8 compressor left (torch.ao dynamic linear layers, or a weight
    that is a torchao tensor subclass), which take float32 activations only."""
    import torch

    found = []
    for key, root in modules.items():
        for path, module in root.named_modules():
            weight = getattr(module, "weight", None)
            quantized = hasattr(getattr(module, "_packed_params", None), "_weight_bias")  # as base.size finds them
            subclass = isinstance(weight, torch.Tensor) and type(weight) not in (torch.Tensor, torch.nn.Parameter)
            if quantized or subclass:
                found.append(f"{key}.{path}" if path else key)
    return found
