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
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COMPLETE = "complete.json"


def cache_key(*parts: Any, default=str) -> str:
    """A stable hash of JSON-serialisable parts (``default`` turns other objects into JSON)."""
    text = json.dumps(parts, sort_keys=True, default=default, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ArtifactCache:
    """Folders under ``root/<kind>/<key>/``; ``enabled=False`` makes every lookup miss."""

    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder if it is complete (and the cache enabled), else None."""
        path = self.root / kind / key
        if self.enabled and (path / COMPLETE).is_file():
            return path
        return None

    def info(self, path: Path) -> dict:
        return json.loads((path / COMPLETE).read_text())

    @contextmanager
    def write(self, kind: str, key: str, **info: Any) -> Iterator[Path]:
        """A temporary folder to fill; it becomes the entry when the block ends without error."""
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=parent))
        try:
            yield tmp
            (tmp / COMPLETE).write_text(json.dumps(info, indent=1, default=str))
            final = parent / key
            if final.exists():  # rebuilt (--force) or written meanwhile by another run
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
