"""Hardware fingerprints: the fields, a hash that is stable and ignores what torch alone knows."""

from __future__ import annotations

import re
import subprocess
import sys

from harness.measure import hardware


def test_fingerprint_fields_and_hash():
    fp = hardware.fingerprint()
    assert set(hardware.HASHED) | {"hash"} <= set(fp)
    assert re.fullmatch(r"[0-9a-f]{12}", fp["hash"])
    assert fp["cores"] >= 1 and fp["cpu"]
    assert hardware.fingerprint() == fp  # stable from call to call
    assert hardware.fingerprint_hash({**fp, "details": {"anything": 1}, "hash": "x"}) == fp["hash"]
    assert hardware.fingerprint_hash({**fp, "cores": fp["cores"] + 1}) != fp["hash"]
    assert fp["hash"] in hardware.describe(fp) and fp["cpu"] in hardware.describe(fp)


def test_nvidia_proc_files(tmp_path):
    for i, model in enumerate(["NVIDIA H200", "NVIDIA H200"]):
        folder = tmp_path / "gpus" / f"0000:0{i}:00.0"
        folder.mkdir(parents=True)
        (folder / "information").write_text(f"Model: \t\t {model}\nIRQ:   42\n")
    (tmp_path / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\nGCC version: x\n")
    fp = hardware.fingerprint(nvidia=str(tmp_path))
    if not hardware._nvml_facts():  # NVML, when present, is asked first
        assert fp["gpus"] == ["NVIDIA H200", "NVIDIA H200"] and fp["driver"] == "550.54.14"
        assert fp["hash"] != hardware.fingerprint(nvidia=str(tmp_path / "none"))["hash"]
    assert "NVIDIA H200" in hardware.describe(fp)


def test_fingerprint_does_not_import_torch_for_cpu():
    code = ("import sys, harness.measure.hardware as h; fp = h.fingerprint('cpu'); "
            "print('torch' in sys.modules, 'details' in fp)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
