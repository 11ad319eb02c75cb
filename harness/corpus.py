"""Corpora too large to hold as Python objects: documents streamed once from their provider into
memory-mapped UTF-8 columns on disk, and read back a document, a slice or a batch at a time.

A ``Document`` as a Python object costs about three times its text (the object, two or three
``str``), so 8.8M MS MARCO passages would take some 10 GB before any index exists.
``DiskDocuments`` holds each column (``id``, ``title``, ``text``) as one file of UTF-8 bytes plus
an int64 offsets array, both memory-mapped: the operating system pages texts in as they are read
and out when memory is short, so a process's own memory is the document ids (kept as strings:
every run names its documents by them) plus the batch being read. It is a read-only
``Sequence[Document]``: ``len``, indexing, slicing and iteration give the same ``Document`` values
a list would, so components that iterate ``collection.docs`` work unchanged; ``texts(fields)``
gives the texts components index as a sequence of the same kind.

``gather_documents`` is what providers call (through ``Context.documents``): documents stay a list up to a
limit; beyond it, all of them go to disk in a temporary folder (``tempfile``'s: ``TMPDIR`` chooses
it, and should be on a disk, not a RAM disk), removed when the corpus is no longer used and at
exit. A suite dataset's ``corpus_store`` chooses: ``auto`` (disk beyond ``SPILL_AT`` documents),
``memory`` or ``disk``. The two hold the same documents: every result is the same (tested).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path

from .collection import Document

SPILL_AT = 500_000  # documents held as objects at most under corpus_store = "auto"
STORES = ("auto", "memory", "disk")
COLUMNS = ("id", "title", "text")
_CHUNK = 8192  # documents decoded per read while iterating


class _Columns(Sequence):
    """A read-only sequence over rows of memory-mapped columns: ``_range(start, stop)`` reads a
    stretch as a list; indexing, slicing (a list) and iteration (a chunk at a time) go through it."""

    what = "row"

    def _range(self, start: int, stop: int) -> list:
        raise NotImplementedError

    def __getitem__(self, item):
        length = len(self)
        if isinstance(item, slice):
            start, stop, step = item.indices(length)
            return self._range(start, stop) if step == 1 else [self._range(i, i + 1)[0]
                                                                 for i in range(start, stop, step)]
        i = item.__index__()
        if not -length <= i < length:
            raise IndexError(f"{self.what} {item} of {length}")
        return self._range(i % length, i % length + 1)[0]

    def __iter__(self) -> Iterator:
        for start in range(0, len(self), _CHUNK):
            yield from self._range(start, min(start + _CHUNK, len(self)))


class DiskDocuments(_Columns):
    """Documents in ``folder`` (written by ``DocumentWriter``), memory-mapped; read-only.

    Pickles as its folder, so a process on the same machine reads the same files."""

    what = "document"

    def __init__(self, folder: str | Path):
        import numpy as np

        self.folder = Path(folder)
        self._offsets = {c: np.load(self.folder / f"{c}.offsets.npy", mmap_mode="r") for c in COLUMNS}
        counts = {len(o) - 1 for o in self._offsets.values()}
        if len(counts) != 1:
            raise ValueError(f"{self.folder}: the columns hold different numbers of documents")
        self._length = counts.pop()
        self._data = {c: self._map(c) for c in COLUMNS}
        self.ids: list[str] = []
        for start in range(0, self._length, 1 << 20):  # read in stretches: bounded temporaries
            self.ids += self.column("id", start, min(start + (1 << 20), self._length))

    def _map(self, column: str):
        import numpy as np

        path = self.folder / f"{column}.bin"
        size = int(self._offsets[column][-1])
        if path.stat().st_size != size:
            raise ValueError(f"{path}: {path.stat().st_size} bytes, its offsets say {size}")
        return np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)

    def __len__(self) -> int:
        return self._length

    def _range(self, start: int, stop: int) -> list[Document]:
        titles, texts = self.column("title", start, stop), self.column("text", start, stop)
        return list(map(Document, self.ids[start:stop], texts, titles))

    def column(self, name: str, start: int, stop: int) -> list[str]:
        """The strings of column ``name`` for documents ``start`` to ``stop`` (exclusive)."""
        offsets = self._offsets[name][start : stop + 1]
        if stop <= start:
            return []
        base = int(offsets[0])
        raw = self._data[name][base : int(offsets[-1])].tobytes()
        cuts = (offsets - base).tolist()
        return [raw[a:b].decode("utf-8", "surrogatepass") for a, b in pairwise(cuts)]

    def texts(self, fields: tuple[str, ...]) -> DiskTexts:
        return DiskTexts(self, fields)

    def __reduce__(self):
        return DiskDocuments, (str(self.folder),)

    def __repr__(self) -> str:
        return f"DiskDocuments({self._length} documents in {self.folder})"


class DiskTexts(_Columns):
    """Every document's text as components see it (``fields`` joined by a space, empty ones left
    out: ``Collection.contents``), read from disk as indexed; ``[a:b]`` gives a list."""

    what = "text"

    def __init__(self, docs: DiskDocuments, fields: tuple[str, ...]):
        self.docs, self.fields = docs, tuple(fields)

    def __len__(self) -> int:
        return len(self.docs)

    def _range(self, start: int, stop: int) -> list[str]:
        if self.fields == ("text",):
            return self.docs.column("text", start, stop)
        columns = [self.docs.column(f, start, stop) for f in self.fields]
        return [" ".join(p for p in parts if p) for parts in zip(*columns, strict=True)]


class DocumentWriter:
    """Appends documents to the columns of a new ``folder``; ``close()`` gives the
    ``DiskDocuments``. Ids, texts and titles must be strings (a title may be None: empty)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files = {c: open(self.folder / f"{c}.bin", "wb") for c in COLUMNS}
        self._offsets = {c: array("q", [0]) for c in COLUMNS}
        self._pending: dict[str, list[bytes]] = {c: [] for c in COLUMNS}
        self.count = 0

    def add(self, doc: Document) -> None:
        title = "" if doc.title is None else doc.title
        for column, value in zip(COLUMNS, (doc.id, title, doc.text), strict=True):
            if type(value) is not str:
                kind = "title" if column == "title" else column
                self.close(keep=False)
                raise ValueError(f"document {doc.id!r:.60} with a {kind} that is not a string: "
                                 f"{type(value).__name__} {value!r:.40}")
            data = value.encode("utf-8", "surrogatepass")
            self._pending[column].append(data)
            self._offsets[column].append(self._offsets[column][-1] + len(data))
        self.count += 1
        if len(self._pending["id"]) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        for column, parts in self._pending.items():
            self._files[column].write(b"".join(parts))
            parts.clear()

    def close(self, keep: bool = True) -> DiskDocuments | None:
        import numpy as np

        if keep:
            self._flush()
        for file in self._files.values():
            file.close()
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)
            return None
        for column, offsets in self._offsets.items():
            np.save(self.folder / f"{column}.offsets.npy", np.frombuffer(offsets, dtype=np.int64))
        return DiskDocuments(self.folder)


def gather_documents(documents: Iterable[Document], store: str = "auto", limit: int = SPILL_AT) -> Sequence[Document]:
    """The documents, as a list (``store = "memory"``, or ``"auto"`` up to ``limit`` of them) or
    on disk in a temporary folder (``"disk"``, or ``"auto"`` beyond ``limit``), consumed once in
    order: a provider's generator is never held whole when it goes to disk."""
    if store not in STORES:
        raise ValueError(f"corpus_store must be one of {', '.join(STORES)}, got {store!r}")
    held: list[Document] = []
    it = iter(documents)
    if store != "disk":
        for doc in it:
            held.append(doc)
            if store == "auto" and len(held) > limit:
                break
        else:
            return held
    folder = Path(tempfile.mkdtemp(prefix="harness-corpus-"))
    try:
        writer = DocumentWriter(folder)
        for doc in held:
            writer.add(doc)
        held.clear()
        for doc in it:
            writer.add(doc)
        docs = writer.close()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    # Removed when the corpus is collected, or at exit (weakref.finalize runs atexit too).
    weakref.finalize(docs, shutil.rmtree, str(folder), True)
    return docs


__all__ = ["COLUMNS", "SPILL_AT", "STORES", "DiskDocuments", "DiskTexts", "DocumentWriter", "gather_documents"]
