"""Where a model's files come from, what they hash to, and the device it runs on.

A model is named in one of three ways: ``pkg:<package>/<path>`` (a folder inside a package that an
installed distribution provides: found from the distributions' metadata, never imported nor looked
up on ``sys.path``, so a module in the working directory cannot stand in for it), a local folder,
or a Hugging Face hub id (downloaded, or found in the hub cache
when ``HF_HUB_OFFLINE=1``). Whatever the source, the model is loaded from the resolved folder, and
the files loaded from it are hashed, so a result proves which weights produced it whatever the
spelling. Resolution happens when the runner asks for the component's identity; validation only
locates the folder (``locate``: no hashing, no download, the hub cache looked up offline) to check
the model's settings and limits.

torch and huggingface_hub are imported inside the functions: ``harness plugins`` imports this
module and must stay instant.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

# The files transformers loads weights from, in its order of preference; an index names shards.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# Configuration and tokenizer files (they decide the output too); README and the like are not.
CONFIG_SUFFIXES = (".json", ".txt", ".model")
# What a hub download fetches: the configuration, tokenizer and safetensors weights, not the
# ONNX/OpenVINO/TF copies many repositories carry (``.bin`` only when there is no safetensors).
HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where its files are and what they hash to."""

    spec: str  # as the suite wrote it
    kind: str  # "package", "folder" or "hub"
    path: Path
    weights: tuple[str, ...]  # the weight files, relative to ``path``
    sha256: str  # one weight file: its SHA-256 (as ``sha256sum`` and the hub's LFS id); shards:
    # the SHA-256 of their ``sha256sum`` listing
    config_sha256: str  # configuration and tokenizer files, the same way
    revision: str | None = None  # the hub commit
    package: str | None = None  # "name version" of the distribution that ships the folder

    def identity(self) -> dict:
        """What decides the model's output: its files' content, not where they were found."""
        return {"sha256": self.sha256, "config_sha256": self.config_sha256}

    def record(self) -> dict:
        """Provenance for the result."""
        out = {"source": self.kind, "spec": self.spec, "path": str(self.path), "weights": list(self.weights),
               "sha256": self.sha256, "config_sha256": self.config_sha256}
        if self.revision:
            out["revision"] = self.revision
        if self.package:
            out["package"] = self.package
        return out


_snapshots: dict[tuple[str, str | None], Path] = {}  # hub lookups, once per process
_hashes: dict[tuple, str] = {}


def resolve(spec: str, revision: str | None, base_dir: Path) -> ModelSource:
    """The model named ``spec`` (see the module docstring), with the hashes of its files."""
    path, kind, package = _where(spec, revision, base_dir, download=True)
    weights = weight_files(path)
    config = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in CONFIG_SUFFIXES)
    return ModelSource(spec, kind, path, weights, files_sha256(path, weights), files_sha256(path, config),
                       revision=path.name if kind == "hub" else None, package=package)


def locate(spec: str, revision: str | None, base_dir: Path) -> Path | None:
    """The folder the model named ``spec`` is in, found as ``resolve`` finds it but never
    downloading and hashing nothing: for ``harness validate``. A hub id not in the hub cache is
    None (a cell downloads it), or an error with ``HF_HUB_OFFLINE=1`` (a cell could not)."""
    path, _, _ = _where(spec, revision, base_dir, download=False)
    if path is not None:
        weight_files(path)  # a folder without weights is an error now rather than in a cell
    return path


def _where(spec: str, revision: str | None, base_dir: Path, download: bool) -> tuple[Path | None, str, str | None]:
    """(folder, source kind, distribution) of the model named ``spec``."""
    if spec.startswith("pkg:"):
        _no_revision(spec, revision)
        return _package_folder(spec), "package", _distribution(_package_name(spec))
    if (base_dir / Path(spec).expanduser()).is_dir():
        _no_revision(spec, revision)
        return (base_dir / Path(spec).expanduser()).resolve(), "folder", None
    if spec.startswith(("/", "./", "../", "~")):  # clearly a path: never ask the hub
        raise ValueError(f"model {spec!r}: no such folder ({base_dir / Path(spec).expanduser()})")
    if (spec, revision) in _snapshots:
        return _snapshots[spec, revision], "hub", None
    if not download:
        return _hub_cached(spec, revision), "hub", None
    _snapshots[spec, revision] = _hub_snapshot(spec, revision)
    return _snapshots[spec, revision], "hub", None


def _no_revision(spec: str, revision: str | None) -> None:
    if revision is not None:
        raise ValueError(f"model {spec!r}: 'revision' applies to hub ids only")


def _package_name(spec: str) -> str:
    return spec[len("pkg:"):].partition("/")[0]


def _package_folder(spec: str) -> Path:
    """The folder ``pkg:<package>/<inner>`` names, inside the package as an installed distribution
    ships it. Nothing is imported and ``sys.path`` is not searched: a module of the same name in
    the working directory (``python -m harness`` puts it first on the path) or on PYTHONPATH is
    never used, and a package no installed distribution provides is refused."""
    package, inner = _package_name(spec), spec[len("pkg:"):].partition("/")[2]
    if not package.isidentifier():
        raise ValueError(f"model {spec!r}: {package!r} is not a package name (pkg:<package>/<path>)")
    found = _installed_package(package)
    if found is None:
        raise ValueError(f"model {spec!r}: no installed package {package!r}: pkg: names a package that an "
                         "installed distribution provides (in the environment's site-packages), never a module "
                         "found on sys.path or in the working directory; install it, or give a folder")
    root, _ = found
    path = (root / inner).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"model {spec!r}: {inner!r} leads out of package {package!r}")
    if not path.is_dir():
        raise ValueError(f"model {spec!r}: package {package!r} has no folder {inner!r} ({path})")
    return path


def _site_dirs() -> list[str]:
    """Where installed distributions live: the environment's site-packages (and the user's, when
    Python reads it); never the working directory or PYTHONPATH."""
    import site
    import sysconfig

    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(os.path.realpath(d) for d in dirs) if os.path.isdir(d)]


@functools.cache
def _installed_package(package: str) -> tuple[Path, str] | None:
    """(the folder of top-level ``package``, ``name version`` of the distribution that installs
    it), found from the metadata of the distributions in ``_site_dirs`` alone: the files a regular
    install lists, or an editable install's mapping (read as data, never imported)."""
    from importlib.metadata import distributions

    for dist in distributions(path=_site_dirs()):
        files = dist.files or []
        if package not in _top_level(dist, files):
            continue
        label = f"{dist.metadata['Name']} {dist.version}"
        if any(f.parts and f.parts[0] == package for f in files):
            folder = Path(dist.locate_file(package))
            if folder.is_dir():
                return folder, label
        for f in files:  # an editable install: its finder's MAPPING, or a .pth naming a folder
            located = Path(dist.locate_file(f))
            if f.name.startswith("__editable__") and f.suffix == ".py":
                folder = _editable_mapping(located).get(package)
                if folder and Path(folder).is_dir():
                    return Path(folder), label
            elif f.suffix == ".pth" and located.is_file():
                for line in located.read_text(encoding="utf-8", errors="replace").splitlines():
                    line = line.strip()
                    if line and not line.startswith(("#", "import ")) and (Path(line) / package).is_dir():
                        return Path(line) / package, label
    return None


def _top_level(dist, files) -> set[str]:
    listed = dist.read_text("top_level.txt")
    if listed:
        return set(listed.split())
    return {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].endswith((".dist-info", ".egg-info"))}


def _editable_mapping(finder: Path) -> dict:
    """``MAPPING`` of a setuptools editable finder module, read as a literal (not imported)."""
    import ast

    try:
        tree = ast.parse(finder.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "MAPPING" and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _distribution(package: str) -> str | None:
    """``name version`` of the installed distribution that provides ``package``."""
    found = _installed_package(package)
    return found[1] if found else None


def _hub_snapshot(spec: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(spec, revision=revision, allow_patterns=HUB_PATTERNS))
        if not any((path / name).is_file() for name in WEIGHT_FILES):  # a repository without safetensors
            path = Path(snapshot_download(spec, revision=revision, allow_patterns=[*HUB_PATTERNS, "*.bin"]))
    except LocalEntryNotFoundError:
        raise ValueError(_not_cached(spec)) from None
    except Exception as exc:  # a misspelt id, a missing revision, no network
        raise ValueError(f"model {spec!r} is not a local folder and the hub refused it: {exc}") from exc
    return path


def _not_cached(spec: str) -> str:
    from huggingface_hub import constants

    offline = " and HF_HUB_OFFLINE=1 forbids downloading it" if constants.HF_HUB_OFFLINE else ""
    return (f"model {spec!r} is not a local folder, not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
            f"{offline}: give a folder or pkg:<package>/<path>, or download it with network (HF_HUB_OFFLINE unset)")


def _hub_cached(spec: str, revision: str | None) -> Path | None:
    """The hub cache's snapshot of ``spec``, looked up without any network access; None when it
    is not there and a download is allowed, an error when ``HF_HUB_OFFLINE=1`` forbids one."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec, revision=revision, allow_patterns=HUB_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        if constants.HF_HUB_OFFLINE:
            raise ValueError(_not_cached(spec)) from None
        return None
    except Exception as exc:  # not a hub id at all (HFValidationError), an unreadable cache
        raise ValueError(f"model {spec!r} is not a local folder nor a hub id the cache can answer for: {exc}") from exc


def weight_files(path: Path) -> tuple[str, ...]:
    """The weight files transformers would load from ``path`` (shards listed by their index)."""
    import json

    for name in WEIGHT_FILES:
        if (path / name).is_file():
            if name.endswith(".index.json"):
                shards = json.loads((path / name).read_text())["weight_map"].values()
                return tuple(sorted(set(shards)))
            return (name,)
    raise ValueError(f"{path} holds no model weights (none of {', '.join(WEIGHT_FILES)})")


def files_sha256(path: Path, names) -> str:
    """One file: its SHA-256; several: the SHA-256 of their ``sha256sum`` listing. Each file is
    hashed once per process (while its size and modification time stay the same)."""
    digests = []
    for name in names:
        file = path / name
        stat = file.stat()
        key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _hashes:
            digest = hashlib.sha256()
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    digest.update(block)
            _hashes[key] = digest.hexdigest()
        digests.append(f"{_hashes[key]}  {name}\n")
    if len(digests) == 1:
        return digests[0].split()[0]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def device_of(requested: str | None, cell_device: str) -> str:
    """The device ``resolve_device`` picks, for identities: never raises (a CUDA device torch does
    not see fails in ``setup``, with its message)."""
    device = requested or cell_device
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@functools.cache
def runtime() -> dict:
    """The versions of the libraries that compute vectors and scores (kernels, tokenization and
    quantisation change with them), for cache keys and identities."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def resolve_device(requested: str | None, cell_device: str) -> str:
    """The device to run on: the component's ``device`` parameter when set, else the cell's;
    ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    import torch

    device = requested or cell_device
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested, but torch {torch.__version__} sees no CUDA device")
    return device


def load(source: ModelSource, head: str = "encoder"):
    """(model, tokenizer) from the resolved folder, in float32 on the CPU, in eval mode.

    float32 explicitly: transformers 5 would otherwise keep a checkpoint's stored precision, and
    half precision is the ``half`` compressor's job, measured against this float32 parent.
    """
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    auto = AutoModelForSequenceClassification if head == "classifier" else AutoModel
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # its "Loading weights" bar would cut through the harness's progress
    try:
        model = auto.from_pretrained(os.fspath(source.path), dtype=torch.float32)
    finally:
        if bars:
            logging.enable_progress_bar()
    return model.eval(), AutoTokenizer.from_pretrained(os.fspath(source.path))


def state_sha256(module) -> str:
    """A digest of a module's structure and state (dtypes, shapes, bytes, quantisation
    parameters): keys artifacts computed by a compressed model, which its files no longer
    describe."""
    import torch

    digest = hashlib.sha256(repr(module).encode())

    def feed(value) -> None:
        if type(value) not in (torch.Tensor, torch.nn.Parameter) and hasattr(value, "__tensor_flatten__"):
            # A tensor subclass (torchao's int8 weights): its inner tensors and metadata are its state.
            names, meta = value.__tensor_flatten__()
            digest.update(f"{type(value).__qualname__}{meta!r}".encode())
            for name in names:
                feed(getattr(value, name))
            return
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if tensor.is_quantized:
                feed(str(tensor.qscheme()))
                if tensor.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                    feed(repr((tensor.q_scale(), tensor.q_zero_point())))
                else:
                    feed((tensor.q_per_channel_scales(), tensor.q_per_channel_zero_points()))
                tensor = tensor.int_repr()
            if tensor.layout != torch.strided:
                tensor = tensor.to_dense()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, (tuple, list)):
            for item in value:
                feed(item)
        else:
            digest.update(repr(value).encode())

    for name, value in module.state_dict().items():
        digest.update(name.encode())
        feed(value)
    return digest.hexdigest()
