"""Each compressor's own rules: what it computes, what it reports, how they compose."""

from __future__ import annotations

import copy
import importlib.util

import pytest
from harness_compress import Half, Int8Dynamic, Int8LowRank, Prune, Svd, half

from harness.testing import module_size, tiny_model


def linear(d_out: int, d_in: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Linear(d_in, d_out)


def test_svd_at_full_rank_reproduces_the_layers(ctx):
    import torch

    model = tiny_model(d_in=16, hidden=32, d_out=8)
    x = torch.randn(5, 16)
    reference = model(x)
    modules, report = Svd(rank_ratio=1.0, skip_non_reducing=False).compress({"m": copy.deepcopy(model)}, ctx)
    assert report["layers_changed"] == 2 and report["layers_skipped"] == 0
    assert (modules["m"](x) - reference).abs().max() < 1e-4
    for layer in (modules["m"].embed, modules["m"].out):
        assert isinstance(layer, torch.nn.Sequential)
    assert report["max_relative_error"] < 1e-5


@pytest.mark.parametrize(("d_out", "d_in", "ratio", "rank"), [(384, 384, 0.25, 96), (1536, 384, 0.25, 96),
                                                                (384, 1536, 0.5, 192), (10, 7, 0.3, 2)])
def test_svd_parameter_counts_follow_the_formula(ctx, d_out, d_in, ratio, rank):
    layer = linear(d_out, d_in)
    _, report = Svd(rank_ratio=ratio).compress({"l": layer}, ctx)
    assert report["layers"][0]["rank"] == rank == max(1, round(ratio * min(d_out, d_in)))
    assert report["parameters_before"] == d_out * d_in + d_out
    assert report["parameters_after"] == rank * (d_out + d_in) + d_out
    assert report["bytes_after"] == 4 * report["parameters_after"]


def test_svd_skips_a_layer_it_would_not_shrink_and_says_so(ctx):
    import torch

    layer = linear(384, 384)
    modules, report = Svd(rank_ratio=0.5).compress({"l": layer}, ctx)  # 2 * 384 * 192 = 384 * 384
    assert modules["l"] is layer and isinstance(modules["l"], torch.nn.Linear)
    assert report["layers_skipped"] == 1 and report["layers_changed"] == 0
    assert report["layers"][0]["action"] == "skipped"
    assert "147456" in report["skipped"]["l"] and report["parameters_after"] == report["parameters_before"]
    _, report = Svd(rank_ratio=0.5, skip_non_reducing=False).compress({"l": linear(384, 384)}, ctx)
    assert report["layers_changed"] == 1 and report["parameters_after"] == report["parameters_before"]


def test_svd_energy_and_rank_and_patterns(ctx):
    model = tiny_model(d_in=16, hidden=32, d_out=8)
    _, report = Svd(energy=0.5, skip_non_reducing=False).compress({"m": copy.deepcopy(model)}, ctx)
    for layer in report["layers"]:
        assert layer["relative_error"] <= (1 - 0.5) ** 0.5 + 1e-6
    _, report = Svd(rank=2, exclude=["*.out"]).compress({"m": copy.deepcopy(model)}, ctx)
    assert [layer["name"] for layer in report["layers"]] == ["m.embed"] and report["layers"][0]["rank"] == 2
    _, report = Svd(rank=2, include=["re:emb"]).compress({"m": copy.deepcopy(model)}, ctx)
    assert [layer["name"] for layer in report["layers"]] == ["m.embed"]
    with pytest.raises(ValueError, match="exactly one of rank_ratio, rank or energy"):
        Svd(rank=2, energy=0.9)
    with pytest.raises(ValueError, match="exactly one"):
        Svd()


def test_report_sizes_count_quantised_weights(ctx):
    layer = linear(64, 32)
    _, report = Int8Dynamic().compress({"l": layer}, ctx)
    assert report["parameters_before"] == report["parameters_after"] == 64 * 32 + 64
    # int8 weights, float32 bias, a float64 scale and an int64 zero point per output channel
    assert report["bytes_after"] == 64 * 32 + 4 * 64 + 16 * 64
    assert report["serialized_bytes_after"] < report["serialized_bytes_before"]
    assert report["kernel"]["ops"] and report["kernel"]["ops"][0].startswith("quantized::linear_dynamic")
    assert report["kernel"]["backend"] == "torch.ao" and report["kernel"]["engine"]


def test_int8_lowrank_has_lower_weight_error_than_int8_dynamic(ctx):
    import torch

    torch.manual_seed(1)
    base = torch.nn.Sequential(torch.nn.Linear(96, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64))
    for granularity in ("per-tensor", "per-channel"):
        _, plain = Int8Dynamic(granularity=granularity).compress({"m": copy.deepcopy(base)}, ctx)
        _, corrected = Int8LowRank(granularity=granularity, rank=8).compress({"m": copy.deepcopy(base)}, ctx)
        for a, b in zip(plain["layers"], corrected["layers"], strict=True):
            assert b["int8_relative_error"] == a["relative_error"]  # the same int8 weights underneath
            assert b["relative_error"] < a["relative_error"]
        assert corrected["parameters_after"] == plain["parameters_after"] + 8 * (96 + 128) + 8 * (128 + 64)


def test_composition_order_is_recorded_and_matters(ctx):
    """svd then prune prunes the factors; prune then svd factorises pruned weights: other reports."""
    model = tiny_model(d_in=16, hidden=32, d_out=8)

    def chain(*compressors):
        modules, reports = {"m": copy.deepcopy(model)}, []
        for compressor in compressors:
            modules, report = compressor.compress(modules, ctx)
            reports.append({"compressor": compressor.name, **report})
        return reports

    first = chain(Svd(rank=4), Prune(sparsity=0.5))
    second = chain(Prune(sparsity=0.5), Svd(rank=4))
    assert [r["compressor"] for r in first] == ["svd", "prune"]
    assert [r["compressor"] for r in second] == ["prune", "svd"]
    assert [layer["name"] for layer in first[1]["layers"]] == ["m.embed.0", "m.embed.1", "m.out.0", "m.out.1"]
    assert [layer["name"] for layer in second[1]["layers"]] == ["m.embed", "m.out"]
    assert first[-1]["parameters_after"] == second[-1]["parameters_after"]  # same shapes ...
    assert first[-1]["nonzero_parameters_after"] != second[0]["nonzero_parameters_after"]  # ... other weights


def test_half_errors_clearly_where_the_device_lacks_the_dtype(ctx, monkeypatch):
    import torch

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    with pytest.raises(RuntimeError, match="bfloat16 is not supported on cpu: this CPU lacks AVX512-BF16 or AMX"):
        Half(dtype="bfloat16").compress({"m": tiny_model()}, ctx)
    monkeypatch.setattr(half, "supported", lambda dtype, device: (False, "a mocked device without it"))
    with pytest.raises(RuntimeError, match="float16 is not supported on cpu: a mocked device"):
        Half(dtype="float16").compress({"m": tiny_model()}, ctx)
    modules, report = Half(dtype="float16", require_native=False).compress({"m": tiny_model()}, ctx)
    assert report["native"] is False and "mocked" in report["emulated"]
    assert modules["m"].embed.weight.dtype == torch.float16
    assert report["bytes_after"] * 2 == report["bytes_before"]


def test_half_on_cuda_needs_cuda(ctx):
    assert half.supported("float16", "cuda")[0] == __import__("torch").cuda.is_available()


def test_prune_reaches_its_sparsity(ctx):
    model = tiny_model(d_in=16, hidden=32, d_out=8)
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())  # a LayerNorm's bias starts at 0
    modules, report = Prune(sparsity=0.3).compress({"m": model}, ctx)
    assert report["achieved"] == pytest.approx(0.3, abs=0.01)
    for layer in report["layers"]:
        assert layer["sparsity"] == pytest.approx(0.3, abs=0.02)
    assert modules["m"].embed.weight.numel() == 512 and modules["m"].out.weight.numel() == 256
    assert report["nonzero_parameters_after"] == nonzero - round(0.3 * 512) - round(0.3 * 256)


def test_structured_pruning_of_heads_and_ffn_units(ctx, tiny_bert):
    import torch

    ids = torch.tensor([[2, 5, 7, 9, 3]])
    for method, check in (("heads", lambda layer: layer.attention.self.query.out_features == 16),
                          ("ffn", lambda layer: layer.intermediate.dense.out_features == 32)):
        model = tiny_bert()
        parameters = module_size({"m": model})[0]
        modules, report = Prune(method=method, sparsity=0.5).compress({"m": model}, ctx)
        assert report["achieved"] == 0.5 and report["parameters_after"] < parameters
        assert all(check(layer) for layer in modules["m"].encoder.layer)
        assert modules["m"](input_ids=ids).last_hidden_state.shape == (1, 5, 32)
    with pytest.raises(ValueError, match="found no attention blocks"):
        Prune(method="heads").compress({"m": tiny_model()}, ctx)


def test_pruning_a_dead_head_or_unit_leaves_the_outputs_unchanged(ctx, tiny_bert):
    """A head (or FFN unit) whose weights are all zero contributes nothing: structured pruning
    removes it first (smallest norm), and the pruned model computes exactly what the full one did."""
    import torch

    ids = torch.tensor([[2, 5, 7, 9, 3, 11]])
    for method, kill in (("heads", _kill_head), ("ffn", _kill_unit)):
        model = tiny_bert()
        for layer in model.encoder.layer:
            kill(layer)
        with torch.no_grad():
            reference = model(input_ids=ids).last_hidden_state
        # 4 heads (or 64 units) at sparsity 0.25 (0.015625): exactly the one dead head (unit) goes
        sparsity = 0.25 if method == "heads" else 1 / 64
        modules, report = Prune(method=method, sparsity=sparsity).compress({"m": model}, ctx)
        assert [layer["removed"] for layer in report["layers"]] == [1, 1]
        if method == "heads":
            assert [layer["heads_kept"] for layer in report["layers"]] == [[0, 2, 3], [0, 2, 3]]
        with torch.no_grad():
            pruned = modules["m"](input_ids=ids).last_hidden_state
        assert (pruned - reference).abs().max() < 1e-5, method


def _kill_head(layer, head: int = 1, size: int = 8) -> None:
    import torch

    attention = layer.attention
    with torch.no_grad():
        for part in ("query", "key", "value"):
            getattr(attention.self, part).weight[head * size:(head + 1) * size] = 0
            getattr(attention.self, part).bias[head * size:(head + 1) * size] = 0
        attention.output.dense.weight[:, head * size:(head + 1) * size] = 0


def _kill_unit(layer, unit: int = 5) -> None:
    import torch

    with torch.no_grad():
        layer.intermediate.dense.weight[unit] = 0
        layer.intermediate.dense.bias[unit] = 0
        layer.output.dense.weight[:, unit] = 0


def test_int8_and_half_refuse_each_other_in_either_order(ctx):
    int8, _ = Int8Dynamic().compress({"m": tiny_model()}, ctx)
    with pytest.raises(ValueError, match=r"2 layers are int8 already \(m.embed, ...\).*do not combine"):
        Half(require_native=False).compress(int8, ctx)
    halved, _ = Half(require_native=False).compress({"m": tiny_model()}, ctx)
    with pytest.raises(ValueError, match=r"needs float32 layers, this one is torch\.bfloat16.*do not combine"):
        Int8LowRank().compress(halved, ctx)


def test_half_checks_the_device_auto_resolves_to(ctx, monkeypatch):
    import torch

    from harness.components import Context

    asked = []
    monkeypatch.setattr(half, "supported", lambda dtype, device: asked.append(device) or (True, ""))
    _, report = Half().compress({"m": tiny_model()}, Context(device="auto"))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert asked == [expected] and report["device"] == expected


def test_layers_multihead_attention_reads_directly_are_left_alone(ctx):
    """nn.MultiheadAttention uses out_proj.weight itself, not out_proj(x): replacing it would
    break the attention, so svd and int8 skip it (in place, pruning still reaches it)."""
    import torch

    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(1, 3, 16)
    for compressor in (Svd(rank=2), Int8Dynamic()):
        modules, report = compressor.compress({"a": copy.deepcopy(attention)}, ctx)
        assert [(r["name"], r["action"]) for r in report["layers"]] == [("a.out_proj", "skipped")]
        assert "reads this layer's weight directly" in report["layers"][0]["reason"]
        assert modules["a"](x, x, x)[0].shape == (1, 3, 16)
    _, report = Prune(sparsity=0.5).compress({"a": copy.deepcopy(attention)}, ctx)
    assert report["layers"][0]["sparsity"] == 0.5


def test_the_kernel_is_observed_on_each_call(ctx):
    compressor = Int8Dynamic(exclude=["*.out"])
    _, first = compressor.compress({"m": tiny_model()}, ctx)
    assert first["kernel"]["ops"] == ["quantized::linear_dynamic(float32)"]
    _, nothing = Int8Dynamic(include=["nothing"]).compress({"m": tiny_model()}, ctx)
    assert nothing["kernel"] is None and nothing["layers"] == []


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="torchao is not installed")
def test_the_torchao_backend_runs_int_mm_and_says_so(ctx):
    _, report = Int8Dynamic(backend="torchao").compress({"m": tiny_model()}, ctx)
    kernel = report["kernel"]
    assert kernel["backend"] == "torchao" and kernel["weight"] == "Int8Tensor int8 per-channel"
    assert any(op.startswith("aten::_int_mm(") for op in kernel["ops"]), kernel["ops"]
    assert kernel["activation"].startswith("int8 per token (row), symmetric")
    # int8 weights, a float32 scale and an int8 zero point per row, the float32 bias
    assert report["bytes_after"] == (16 * 32 + 32 * 5 + 4 * 32) + (32 * 8 + 8 * 5 + 4 * 8) + 4 * 8 + 2 * 4 * 32


def test_svd_error_is_the_discarded_spectrum(ctx):
    """Eckart–Young: the rank-r truncation's relative error is √(Σ_{i>r} σ_i² / Σ_i σ_i²), the
    least any rank-r matrix achieves; the report's per-layer error is exactly that."""
    import torch

    layer = linear(48, 40, seed=3)
    singular = torch.linalg.svdvals(layer.weight.detach().double())
    for rank in (1, 10, 39):
        _, report = Svd(rank=rank, skip_non_reducing=False).compress({"l": copy.deepcopy(layer)}, ctx)
        expected = float((singular[rank:] ** 2).sum() / (singular**2).sum()) ** 0.5
        assert report["layers"][0]["relative_error"] == pytest.approx(expected, abs=1e-5)


def test_torch_ao_deprecation_warnings_are_silenced_around_the_conversion_only(ctx):
    """torch 2.13 warns (once per process, from C++) that torch.ao's quantised tensor creation
    is deprecated: expected and documented, so filtered while converting, and only then."""
    import warnings

    from harness_compress.quantize import _quiet_torch_ao

    message = ("torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation "
               "functions that produce tensors with dtype torch.quint8, torch.qint8, and torch.qint32 are "
               "deprecated and will be removed in a future PyTorch release.")  # torch 2.13's text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, report = Int8LowRank(rank=2).compress({"m": tiny_model()}, ctx)
        with _quiet_torch_ao():
            warnings.warn(message, UserWarning, stacklevel=1)
        with pytest.raises(UserWarning, match="deprecated"):
            warnings.warn(message, UserWarning, stacklevel=1)
    assert "silenced" in report["kernel"]["note"]
