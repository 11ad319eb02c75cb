"""``CompressorContract``: the rules every compressor must follow, as pytest tests.

The compressor gets the modules of a compressible component: by default two small torch models
from ``tiny_model`` (linear layers, a layer norm, a buffer), ``make_modules`` to use others.
``example_input`` fits each module by default (``default_input``): token ids (int64, within the
vocabulary) for a module whose first layer is an embedding, as a BERT-style encoder's is; a float
batch otherwise. torch is imported when a test runs, never when this module is imported.

The report's required fields (``REQUIRED_FIELDS``), each a non-negative integer:

* ``parameters_before`` / ``parameters_after``: parameter values of all modules together
  (``sum(p.numel() for p in module.parameters())``; tied parameters count once);
* ``bytes_before`` / ``bytes_after``: bytes their parameters and buffers occupy
  (``numel() * element_size()``; a quantised module counts its packed weights).

The ``before`` fields must describe the modules the compressor was given, exactly as
``module_size`` counts them. Anything else describing the transformation (the error introduced,
the rank kept, the sparsity) goes beside them; the whole report must be JSON-serialisable, and
``compressor`` is reserved (the runner stores the compressor's configuration under it).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from numbers import Integral
from typing import Any

from .base import Contract

REQUIRED_FIELDS = ("parameters_before", "parameters_after", "bytes_before", "bytes_after")
RETURNS = "test_returns_modules_and_report"
FIELDS = "test_report_has_required_fields"


@functools.cache
def _tiny_model_class():
    import torch

    class TinyModel(torch.nn.Module):
        """Linear → LayerNorm → ReLU → Linear, times a per-output buffer: the layers compressors
        transform, and a buffer that counts in bytes but not in parameters."""

        def __init__(self, d_in: int, hidden: int, d_out: int):
            super().__init__()
            self.embed = torch.nn.Linear(d_in, hidden)
            self.norm = torch.nn.LayerNorm(hidden)
            self.out = torch.nn.Linear(hidden, d_out)
            self.register_buffer("scale", torch.linspace(0.5, 1.5, d_out))

        def forward(self, x):
            return self.out(torch.relu(self.norm(self.embed(x)))) * self.scale

    return TinyModel


def tiny_model(d_in: int = 16, hidden: int = 32, d_out: int = 8, seed: int = 0):
    """A small deterministic torch model in eval mode; its input is ``(batch, d_in)``."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _tiny_model_class()(d_in, hidden, d_out)
    model.d_in = d_in
    return model.eval()


def module_size(modules: dict[str, Any]) -> tuple[int, int]:
    """(parameters, bytes) of ``modules`` together, as the report's fields count them."""
    import torch

    params = {id(p): p for m in modules.values() for p in m.parameters()}
    tensors = {**params, **{id(b): b for m in modules.values() for b in m.buffers()}}
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values() if isinstance(t, torch.Tensor))
    return sum(p.numel() for p in params.values()), nbytes


class CompressorContract(Contract):
    """Subclass as ``class TestMine(CompressorContract): component = Mine``."""

    kind = "compressor"

    def make_modules(self) -> dict[str, Any]:
        """What ``torch_modules()`` of a compressible component would return."""
        return {"encoder": tiny_model(seed=0), "scorer": tiny_model(d_in=8, hidden=16, d_out=1, seed=1)}

    def example_input(self, name: str, module):
        """An input batch for ``module`` (``make_modules``'s entry ``name``): ``default_input``,
        token ids for a module that starts with an embedding, floats otherwise."""
        return default_input(module, seed=len(name))

    def compressed(self, tmp_path):
        """(original modules, their inputs, reference outputs, returned value of ``compress``)."""
        import torch

        modules = self.make_modules()
        original = copy.deepcopy(modules)  # compress may change the modules it gets in place
        inputs = {name: self.example_input(name, m) for name, m in modules.items()}
        with torch.no_grad():
            outputs = {name: _tensor_of(m(inputs[name])) for name, m in modules.items()}
        compressor = self.make()
        ctx = self.context(tmp_path)
        compressor.setup(ctx)
        return original, inputs, outputs, compressor.compress(modules, ctx)

    def checked(self, tmp_path):
        """``compressed``, skipping the test unless ``compress`` returned (modules, report)."""

        def run():
            result = self.compressed(tmp_path)
            check_returned(result[0], result[3])
            return result

        return self.prerequisite(RETURNS, run)

    # -- the rules ---------------------------------------------------------------------------

    def test_returns_modules_and_report(self, tmp_path):
        """``compress`` returns ``(modules, report)``: the modules under the keys it was given,
        each still a ``torch.nn.Module``, and the report a dict."""
        original, _, _, returned = self.compressed(tmp_path)
        check_returned(original, returned)

    def test_report_has_required_fields(self, tmp_path):
        """The report has ``parameters_before``, ``parameters_after``, ``bytes_before`` and
        ``bytes_after``, each a non-negative integer."""
        report = self.checked(tmp_path)[3][1]
        missing = [f for f in REQUIRED_FIELDS if f not in report]
        assert not missing, f"the report lacks {missing} (it has {sorted(report)})"
        for field in REQUIRED_FIELDS:
            value = report[field]
            ok = isinstance(value, Integral) and not isinstance(value, bool) and value >= 0
            assert ok, f"report[{field!r}] = {value!r}, not a non-negative integer"

    def test_report_counts_the_input(self, tmp_path):
        """``parameters_before`` and ``bytes_before`` are those of the modules given, counted as
        ``harness.testing.module_size`` does (parameters once each; bytes of parameters and buffers)."""
        original, _, _, (_, report) = self.checked(tmp_path)
        self.prerequisite(FIELDS, lambda: self.test_report_has_required_fields(tmp_path))
        parameters, nbytes = module_size(original)
        given = {f: report.get(f) for f in ("parameters_before", "bytes_before")}
        assert given == {"parameters_before": parameters, "bytes_before": nbytes}, (
            f"the report says {given}; the modules given have {parameters} parameters in {nbytes} bytes"
        )

    def test_report_is_json(self, tmp_path):
        """The report is JSON-serialisable (the cell result stores it) and leaves the key
        ``compressor`` to the runner."""
        report = self.checked(tmp_path)[3][1]
        assert "compressor" not in report, "'compressor' is reserved: the runner stores the configuration there"
        try:
            json.dumps(report, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"the report is not JSON: {exc}") from None

    def test_model_still_runs(self, tmp_path):
        """Each compressed module takes the same input and returns the same shape of output,
        every value finite."""
        import torch

        _, inputs, outputs, (modules, _) = self.checked(tmp_path)
        for name, module in modules.items():
            module.eval()
            x = inputs[name]
            if x.is_floating_point():  # token ids stay integers
                x = x.to(_input_dtype(module))
            with torch.no_grad():
                y = _tensor_of(module(x))
            assert tuple(y.shape) == tuple(outputs[name].shape), (
                f"{name!r}: output shape {tuple(y.shape)}, {tuple(outputs[name].shape)} before compression"
            )
            values = y.detach().float().flatten().tolist()
            assert all(math.isfinite(v) for v in values), f"{name!r}: non-finite outputs after compression"


def check_returned(original: dict, returned) -> None:
    import torch

    assert isinstance(returned, tuple) and len(returned) == 2, (
        f"compress returned {type(returned).__name__}, not a (modules, report) tuple"
    )
    modules, report = returned
    assert isinstance(modules, dict) and set(modules) == set(original), (
        f"compress returned modules under {sorted(modules) if isinstance(modules, dict) else modules!r}, "
        f"not the keys it was given {sorted(original)}"
    )
    for name, module in modules.items():
        assert isinstance(module, torch.nn.Module), f"{name!r} is {type(module).__name__}, not a torch.nn.Module"
    assert isinstance(report, dict), f"the report is {type(report).__name__}, not a dict"


BATCH, TOKENS = 4, 8


def default_input(module, seed: int = 0):
    """The kit's input batch for ``module``, fitting its first layer (the first submodule that
    holds parameters, in definition order):

    * an ``nn.Embedding`` (a BERT-style encoder's word embeddings): token ids, int64, shape
      ``(4, 8)``, drawn uniformly from ``[0, num_embeddings)``;
    * otherwise floats, shape ``(4, d_in)``, standard normal: ``d_in`` is the module's attribute
      of that name (``tiny_model`` sets it), else the ``in_features`` of its first ``nn.Linear``.

    Seeded: the same module and seed give the same batch. A module that fits neither (a
    convolution, a dict of features) needs ``example_input`` overridden (TypeError here)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    first = _first_layer(module)
    if isinstance(first, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
        return torch.randint(0, first.num_embeddings, (BATCH, TOKENS), generator=generator, dtype=torch.int64)
    d_in = getattr(module, "d_in", None)
    if not isinstance(d_in, int):
        linear = next((m for m in module.modules() if isinstance(m, torch.nn.Linear)), None)
        d_in = linear.in_features if linear is not None else None
    if not isinstance(d_in, int):
        raise TypeError(f"cannot tell what input {type(module).__name__} takes (no embedding or linear layer, "
                        "no d_in attribute): override example_input(name, module)")
    return torch.randn(BATCH, d_in, generator=generator)


def _first_layer(module):
    """The first submodule (``module`` itself included) holding parameters of its own."""
    for sub in module.modules():
        if next(sub.parameters(recurse=False), None) is not None:
            return sub
    return None


def _tensor_of(output):
    """The tensor to compare of a module's output: itself, the first of a tuple or list, or of a
    mapping (a transformers ``ModelOutput``: its ``last_hidden_state`` comes first)."""
    import torch

    while not isinstance(output, torch.Tensor):
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        elif hasattr(output, "values") and callable(output.values) and len(output):
            output = next(iter(output.values()))
        else:
            raise AssertionError(f"the module returned {type(output).__name__}, not a tensor (or a tuple or "
                                 "mapping holding one): override example_input, or wrap the module")
    return output


def _input_dtype(module):
    """The dtype the module computes in: its first floating parameter's (a half-precision module
    takes half-precision input), else float32."""
    import torch

    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32
