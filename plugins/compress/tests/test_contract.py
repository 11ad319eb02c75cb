"""The harness's conformance kit on every compressor of the plugin, and its installation."""

from __future__ import annotations

import importlib.util

import pytest
from harness_compress import Half, Int8Dynamic, Int8LowRank, Prune, Svd

from harness.plugins import load_registry
from harness.testing import CompressorContract

NAMES = {"svd", "int8-dynamic", "int8-lowrank", "prune", "half"}


class TestSvdRatio(CompressorContract):
    component = Svd
    params = {"rank_ratio": 0.25}


class TestSvdEnergy(CompressorContract):
    component = Svd
    params = {"energy": 0.9, "skip_non_reducing": False}


class TestSvdRankWithoutSkipping(CompressorContract):
    component = Svd
    params = {"rank": 3, "skip_non_reducing": False, "exclude": ["scorer.*"]}


class TestInt8Dynamic(CompressorContract):
    component = Int8Dynamic


class TestInt8DynamicPerTensor(CompressorContract):
    component = Int8Dynamic
    params = {"granularity": "per-tensor"}


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="torchao is not installed")
class TestInt8DynamicTorchao(CompressorContract):
    component = Int8Dynamic
    params = {"backend": "torchao"}


class TestInt8LowRank(CompressorContract):
    component = Int8LowRank
    params = {"rank": 4}


class TestPrune(CompressorContract):
    component = Prune


class TestHalf(CompressorContract):
    component = Half
    params = {"require_native": False}  # the kit's rules hold on any CPU; native support is tested apart


class TestHalfFloat16(CompressorContract):
    component = Half
    params = {"dtype": "float16", "require_native": False}


def test_the_plugin_is_installed_and_loads():
    registry = load_registry(env={"HARNESS_PLUGINS": "ir-harness-compress"})
    assert NAMES <= set(registry.names("compressor"))
    assert registry.broken() == [] and registry.conflicts() == []
    assert registry.find("compressor", "svd").distribution == "ir-harness-compress"


def test_importing_the_plugin_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, harness_compress; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
