"""Fixtures shared by the core's tests, the plugins' tests and the benchmarks.

Real test collections live in ``../shared`` (never copied into the repository). Tests that need
them use the ``shared_dir`` fixture (or ``irds_cranfield``): they skip with a reason when it is
absent, and fail instead when ``HARNESS_REQUIRE_SHARED=1`` (set by ``.ci/run``), so CI can never
pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("HARNESS_SHARED_DIR", ROOT.parent / "shared"))
REQUIRE_SHARED = "HARNESS_REQUIRE_SHARED"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _seed_ir_datasets_home() -> None:
    """Point ir_datasets at a writable copy of the shared offline cache, before it is imported."""
    if os.environ.get("IR_DATASETS_HOME"):
        return
    cache = SHARED / "datasets" / "ir_datasets_home"
    if cache.is_dir():
        home = Path(tempfile.mkdtemp(prefix="harness-irds-"))
        shutil.copytree(cache, home, dirs_exist_ok=True)
        os.environ["IR_DATASETS_HOME"] = str(home)


_seed_ir_datasets_home()


def unavailable(reason: str):
    """Skip with ``reason``, or fail when HARNESS_REQUIRE_SHARED is set."""
    if os.environ.get(REQUIRE_SHARED):
        pytest.fail(f"{reason}, and {REQUIRE_SHARED} is set")
    pytest.skip(reason)


def need_shared(*parts: str) -> Path:
    """The path under ../shared, or skip (fail under HARNESS_REQUIRE_SHARED) when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"needs {path} (the shared test collections; see ../shared/README.md)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return need_shared()


@pytest.fixture(scope="session")
def cranfield_dir() -> Path:
    """../shared/datasets/cranfield, the BEIR-layout Cranfield collection."""
    return need_shared("datasets", "cranfield")


@pytest.fixture(scope="session")
def irds_cranfield() -> str:
    """The ir_datasets id ``cranfield``, usable offline (IR_DATASETS_HOME seeded)."""
    home = os.environ.get("IR_DATASETS_HOME", "")
    if not (Path(home) / "cranfield" / "cran.tar.gz").is_file():
        unavailable(
            f"needs the ir_datasets cache for cranfield in IR_DATASETS_HOME ({home or 'unset'}); "
            "seed it from ../shared/datasets/ir_datasets_home (see ../shared/README.md)"
        )
    return "cranfield"


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory) -> Path:
    """One artifact cache for the whole test session: expensive artifacts (encoded corpora) are
    built once and shared by every test that points ``output.cache_dir`` here."""
    return tmp_path_factory.mktemp("artifact-cache")


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test sees the installed plugins as they are now (tests install and disable some)."""
    from harness.plugins import reset_registry

    reset_registry()
    yield
    reset_registry()
