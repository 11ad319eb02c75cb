"""``half``: the whole model in float16 or bfloat16 (parameters and floating buffers).

Where the cell runs decides whether the dtype is usable (``supported``): on CUDA, bfloat16 needs
``torch.cuda.is_bf16_supported()`` (compute capability 8.0 or newer) and float16 always works; on
the CPU, torch computes either anywhere, but only CPUs with native instructions (AVX512-BF16 or
AMX for bfloat16, AVX512-FP16 or AMX-FP16 for float16, as oneDNN reports them) do it faster than
float32; elsewhere it is emulated and slower, so the compressor refuses with a clear error
instead of timing an emulation. ``require_native = false`` runs it anyway (the report says so).
The device checked is the cell's (``ctx.device``, ``auto`` resolved as the transformers plugin
resolves it): compressors run while the model is still on the CPU, before it moves there.

Layers an int8 compressor produced take float32 activations only: ``half`` refuses a model that
has them (and ``int8-*`` refuses half-precision layers), whichever comes first in the chain.

Inputs and outputs: token ids and masks are integers and pass unchanged; the transformers plugin
pools the last hidden states in float32 (``hidden.float()``), so embeddings and scores leave the
model as float32 whatever its precision.
"""

from __future__ import annotations

from harness.sdk import Param

from .base import ModuleCompressor, named_layers, relative_error
from .quantize import int8_layers

DTYPES = ("bfloat16", "float16")


def resolved(device: str) -> str:
    """The device a cell on ``device`` runs on: ``auto`` is CUDA where torch sees a GPU (as the
    transformers plugin resolves it)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def supported(dtype: str, device: str) -> tuple[bool, str]:
    """(whether ``device`` runs ``dtype`` natively, why not)."""
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return False, "torch sees no CUDA device"
        if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            return False, f"{torch.cuda.get_device_name()} has no bfloat16 support (compute capability < 8.0)"
        return True, ""
    check = {"bfloat16": torch.ops.mkldnn._is_mkldnn_bf16_supported,
             "float16": torch.ops.mkldnn._is_mkldnn_fp16_supported}[dtype]
    if not check():
        needs = "AVX512-BF16 or AMX" if dtype == "bfloat16" else "AVX512-FP16 or AMX-FP16"
        return False, (f"this CPU lacks {needs} (oneDNN reports no native {dtype}): torch would emulate it, "
                       "slower than float32")
    return True, ""


class Half(ModuleCompressor):
    """Half precision (bfloat16 or float16) for the whole model, refused where the device lacks it."""

    name = "half"
    devices = ("cpu", "cuda")
    params = {
        "dtype": Param(str, "bfloat16", "bfloat16 or float16", choices=DTYPES),
        # Only decides whether to refuse: a model it lets through is cast the same either way.
        "require_native": Param(bool, True, "fail where the device would only emulate the dtype",
                                affects_output=False),
    }

    def transform(self, modules, ctx):
        import torch

        int8 = int8_layers(modules)
        if int8:
            raise ValueError(f"half: {len(int8)} layers are int8 already ({int8[0]}, ...) and take float32 "
                             "activations only: int8 and half do not combine")
        device = resolved(ctx.device)
        ok, why = supported(self.dtype, device)
        if not ok and self.require_native:
            raise RuntimeError(f"half: {self.dtype} is not supported on {device}: {why}. Use the other dtype "
                               "(float16 / bfloat16), or require_native = false to measure the emulation")
        dtype = getattr(torch, self.dtype)
        weights = {name: layer.weight.detach().clone() for name, layer, _, _ in named_layers(modules, torch.nn.Linear)}
        for key, module in modules.items():
            modules[key] = module.to(dtype)  # floating parameters and buffers only; integer buffers stay
        layers = [{"name": name, "shape": list(layer.weight.shape), "action": "cast",
                   "relative_error": relative_error(weights[name], layer.weight)}
                  for name, layer, _, _ in named_layers(modules, torch.nn.Linear) if name in weights]
        return layers, {"dtype": self.dtype, "device": device, "native": ok, **({"emulated": why} if not ok else {})}
