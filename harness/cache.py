"""The artifact cache: indexes and retrieved runs, stored under keys hashed from everything that
decides their content (component, its version and parameters, the collection's fingerprint).

An entry is a folder that appears whole or not at all: it is written under a temporary name and
renamed into place once complete, so a killed run never leaves an entry that looks finished.
Entries hold plain data (JSON, TREC runs, .npy), never pickle: a cache may come from elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COMPLETE = "complete.json"
# The version of what artifact keys hold (stages.py keys indexes and runs with it). Bumped when
# keys change meaning, so that entries written under the old rules are never served: 2 keys
# parameters in their canonical form (an int given for a float parameter as that float), leaves
# out parameters declared ``affects_output=False``, and (ir-harness-transformers) keys document
# vectors by batch size, device and library versions too.
FORMAT = 2


def cache_key(*parts: Any) -> str:
    """The one cache-key function: a stable hash of ``parts``.

    Parts are JSON data; an object with a ``config()`` method (a suite's stage spec) stands for
    its configuration, anything else for its ``str()``. Every key of the artifact cache and every
    cell key is made here, so two places can never key the same artifact differently.
    """
    text = json.dumps(parts, sort_keys=True, default=canonical, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def canonical(obj: Any) -> Any:
    """JSON for what is not plain data: a suite's stage spec stands for its ``config()``."""
    config = getattr(obj, "config", None)
    return config() if callable(config) else str(obj)


class ArtifactCache:
    """Folders under ``root/<kind>/<key>/``; ``enabled=False`` makes every lookup miss.

    ``complete.json`` lists every file of the entry with its size and SHA-256; ``get`` checks
    them, so a truncated or corrupted artifact is discarded (and rebuilt by the caller), never
    used. ``discarded`` keeps why, per key, for the result to show.
    """

    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.discarded: dict[str, str] = {}

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder if it is complete and intact (and the cache enabled), else None."""
        path = self.root / kind / key
        if not (self.enabled and (path / COMPLETE).is_file()):
            return None
        problem = self._damage(path)
        if problem:
            self.discarded[key] = problem
            shutil.rmtree(path, ignore_errors=True)
            return None
        return path

    def info(self, path: Path) -> dict:
        """What the writer recorded about the entry (its file list aside)."""
        return {k: v for k, v in self._complete(path).items() if k != "files"}

    def _complete(self, path: Path) -> dict:
        return json.loads((path / COMPLETE).read_text())

    @contextmanager
    def write(self, kind: str, key: str, **info: Any) -> Iterator[Path]:
        """A temporary folder to fill; it becomes the entry when the block ends without error."""
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        tmp = _fresh_folder(parent, key)
        try:
            yield tmp
            files = {str(f.relative_to(tmp)): _describe(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
            (tmp / COMPLETE).write_text(json.dumps({**info, "files": files}, indent=1, default=str))
            final = parent / key
            if final.exists():
                if self.enabled and self._damage(final) is None:
                    return  # another run wrote the same key meanwhile: same content, keep theirs
                shutil.rmtree(final, ignore_errors=True)  # --force, or a damaged entry
            try:
                os.replace(tmp, final)
            except OSError:  # a concurrent writer renamed its folder in first: keep that one
                if not (final / COMPLETE).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _damage(self, path: Path) -> str | None:
        """Why the entry cannot be trusted, or None when every listed file is intact."""
        try:
            files = self._complete(path)["files"]
        except (OSError, ValueError, KeyError):
            return "unreadable complete.json"
        for name, expected in files.items():
            file = path / name
            if not file.is_file():
                return f"{name} is missing"
            if file.stat().st_size != expected["size"]:
                return f"{name} is truncated or grown ({file.stat().st_size} bytes, expected {expected['size']})"
            if _sha256(file) != expected["sha256"]:
                return f"{name} is corrupt (SHA-256 differs)"
        return None


def _describe(file: Path) -> dict:
    return {"size": file.stat().st_size, "sha256": _sha256(file)}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fresh_folder(parent: Path, key: str) -> Path:
    """A new, empty folder in ``parent`` that honours the umask (``tempfile.mkdtemp`` makes every
    entry 0700 whatever the umask, so a shared cache would be unreadable to the group)."""
    while True:
        path = parent / f".{key}.{secrets.token_hex(6)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
