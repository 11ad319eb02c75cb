"""The compressors on the real all-MiniLM-L6-v2 (a few Cranfield texts, through the transformers
plugin's encoder): int8-lowrank's correction shows in the embeddings, half precision keeps them,
svd changes the layers its rank arithmetic says and costs what it keeps."""

from __future__ import annotations

from harness_compress import Half, Int8Dynamic, Int8LowRank, Svd


def encode(model, tokens, texts):
    from harness_transformers.encoding import Encoder

    return Encoder(model, tokens, pooling="mean", normalize=True, batch_size=16, device="cpu").encode(texts)


def cosine_to(reference, vectors) -> float:
    return float((reference * vectors).sum(1).mean())


def test_int8_lowrank_embeddings_are_closer_to_float32(minilm, cranfield_texts, ctx):
    """On the same int8 weights (per-tensor scales, where the weights' error matters most), the
    rank-32 correction lowers every layer's weight error and raises the mean cosine to fp32."""
    load, tokens = minilm
    texts = cranfield_texts[:32]
    reference = encode(load(), tokens, texts)
    plain, plain_report = Int8Dynamic(granularity="per-tensor").compress({"encoder": load()}, ctx)
    fixed, fixed_report = Int8LowRank(granularity="per-tensor", rank=32).compress({"encoder": load()}, ctx)
    for a, b in zip(plain_report["layers"], fixed_report["layers"], strict=True):
        assert b["relative_error"] < a["relative_error"] == b["int8_relative_error"]
    plain_cosine = cosine_to(reference, encode(plain["encoder"], tokens, texts))
    fixed_cosine = cosine_to(reference, encode(fixed["encoder"], tokens, texts))
    assert plain_cosine < fixed_cosine < 1.0
    assert plain_report["kernel"]["ops"][0].startswith("quantized::linear_dynamic")


def test_half_and_svd_minilm_still_encode(minilm, cranfield_texts, ctx):
    import torch

    load, tokens = minilm
    texts = cranfield_texts[:16]
    reference = encode(load(), tokens, texts)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        halved, report = Half().compress({"encoder": load()}, ctx)
        vectors = encode(halved["encoder"], tokens, texts)
        assert vectors.dtype == torch.float32 and cosine_to(reference, vectors) > 0.999
        assert report["bytes_after"] < 0.51 * report["bytes_before"]
    # MiniLM's weights are far from low rank: truncating them without fine-tuning costs much
    # (measured: cosine 0.17 at rank_ratio 0.25, 0.65 at 90% of the energy), the more so the
    # less is kept
    quarter, report = Svd(rank_ratio=0.25).compress({"encoder": load()}, ctx)
    assert report["parameters_after"] < report["parameters_before"]
    energy, report = Svd(energy=0.9).compress({"encoder": load()}, ctx)
    assert report["parameters_after"] < report["parameters_before"]
    cosines = [cosine_to(reference, encode(m["encoder"], tokens, texts)) for m in (quarter, energy)]
    assert 0 < cosines[0] < cosines[1] < 0.9


# MiniLM's nn.Linear layers: per transformer layer (6) query, key, value and attention output
# (384 x 384), intermediate (384 -> 1536) and output (1536 -> 384); and the pooler's dense layer
# (384 x 384), which BertModel computes but mean pooling never reads.
SQUARE = [f"encoder.encoder.layer.{i}.attention.{part}" for i in range(6)
          for part in ("self.query", "self.key", "self.value", "output.dense")] + ["encoder.pooler.dense"]
FFN = [f"encoder.encoder.layer.{i}.{part}" for i in range(6) for part in ("intermediate.dense", "output.dense")]


def test_svd_rank_ratios_on_minilm_change_the_layers_the_arithmetic_says(minilm, ctx):
    """rank_ratio 0.25 factorises all 37 linear layers (the pooler's too); 0.5 only the 12
    feed-forward ones: on a 384 x 384 layer rank 192 costs 2 * 384 * 192 = 384 * 384 weights."""
    load, _ = minilm
    _, quarter = Svd(rank_ratio=0.25).compress({"encoder": load()}, ctx)
    assert quarter["layers_changed"] == 37 == len(SQUARE) + len(FFN) and quarter["layers_skipped"] == 0
    assert {r["name"] for r in quarter["layers"]} == {*SQUARE, *FFN}
    assert {r["rank"] for r in quarter["layers"]} == {96}
    # 25 square layers at 2 * 384 * 96 instead of 384 * 384; 12 FFN layers at 96 * (384 + 1536)
    saved = 25 * (384 * 384 - 2 * 384 * 96) + 12 * (384 * 1536 - 96 * (384 + 1536))
    assert quarter["parameters_before"] - quarter["parameters_after"] == saved
    _, half = Svd(rank_ratio=0.5).compress({"encoder": load()}, ctx)
    assert sorted(half["skipped"]) == sorted(SQUARE) and half["layers_skipped"] == 25
    assert sorted(r["name"] for r in half["layers"] if r["action"] == "factorised") == sorted(FFN)
    saved = 12 * (384 * 1536 - 192 * (384 + 1536))
    assert half["parameters_before"] - half["parameters_after"] == saved
