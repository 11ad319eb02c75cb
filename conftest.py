"""Fixtures shared by the core's tests, the plugins' tests and the benchmarks.

Real test collections live in ``../shared`` (never copied into the repository). Tests that need
them use the ``shared_dir`` fixture (or ``irds_cranfield``): they skip with a reason when it is
absent, and fail instead when ``HARNESS_REQUIRE_SHARED=1`` (set by ``.ci/run``), so CI can never
pass by skipping. The ``browser`` fixture (headless Chromium, for the HTML pages) does the same
with ``HARNESS_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("HARNESS_SHARED_DIR", ROOT.parent / "shared"))
REQUIRE_SHARED = "HARNESS_REQUIRE_SHARED"
REQUIRE_BROWSER = "HARNESS_REQUIRE_BROWSER"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

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


class Browser:
    """Headless Chromium on local files: the DOM after the page's scripts ran, or a screenshot.

    Every call starts a fresh browser (about a second) with networking off: a page that needed
    the network would show it as errors. ``log`` is Chromium's stderr, where console messages
    (``INFO:CONSOLE``, uncaught exceptions among them) appear.
    """

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0")

    def __init__(self, binary: str, profile: Path):
        self.binary, self.profile = binary, profile

    def _run(self, path: Path, *args: str) -> subprocess.CompletedProcess:
        command = [self.binary, *self.FLAGS, f"--user-data-dir={self.profile}", *args, Path(path).resolve().as_uri()]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def dump_dom(self, path: Path) -> tuple[str, str]:
        """(the serialised DOM once loaded, Chromium's log)."""
        done = self._run(path, "--dump-dom")
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout, done.stderr

    def screenshot(self, path: Path, out: Path, size: tuple[int, int] = (1400, 2400)) -> str:
        """Write a PNG of the page to ``out``; returns Chromium's log."""
        done = self._run(path, f"--screenshot={out}", f"--window-size={size[0]},{size[1]}")
        assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
        return done.stderr


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Browser:
    """Headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it), or skip: fail instead
    under ``HARNESS_REQUIRE_BROWSER=1``."""
    binary = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if binary is None:
        reason = f"needs headless Chromium ({' or '.join(BROWSERS)} on PATH; apt-get install chromium)"
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{reason}, and {REQUIRE_BROWSER} is set")
        pytest.skip(reason)
    return Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
