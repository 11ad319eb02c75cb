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
exit; the folder of a process killed first (a cell worker past its timeout) goes when the next
corpus is gathered (an owner lock tells a dead process's folder from a live one's). A suite
dataset's ``corpus_store`` chooses: ``auto`` (disk beyond ``SPILL_AT`` documents),
``memory`` or ``disk``. The two hold the same documents: every result is the same (tested).
"""

from __future__ import annotations

import operator
import os
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
        i = operator.index(item)  # a TypeError for a float or a string, as a list gives
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
        self.folder = Path(folder)
        self._offsets = {c: self._load_offsets(c) for c in COLUMNS}
        counts = {len(o) - 1 for o in self._offsets.values()}
        if len(counts) != 1:
            raise ValueError(f"{self.folder}: the columns hold different numbers of documents")
        self._length = counts.pop()
        self._data = {c: self._map(c) for c in COLUMNS}
        self.ids: list[str] = []
        for start in range(0, self._length, 1 << 20):  # read in stretches: bounded temporaries
            self.ids += self.column("id", start, min(start + (1 << 20), self._length))

    def _load_offsets(self, column: str):
        import numpy as np

        path = self.folder / f"{column}.offsets.npy"
        try:
            offsets = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # missing, truncated, not an array file
            raise ValueError(f"{path}: cannot read it ({exc})") from None
        if offsets.ndim != 1 or offsets.dtype != np.int64 or not len(offsets) or offsets[0] != 0:
            raise ValueError(f"{path}: not a column's offsets ({offsets.dtype}, shape {offsets.shape})")
        return offsets

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
                self.close(keep=False)
                raise ValueError(f"document {doc.id!r:.60} with a {column} that is not a string: "
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


def goes_to_disk(store: str, documents: int, limit: int = SPILL_AT) -> bool:
    """Whether ``documents`` documents are held on disk under ``store`` (``gather_documents``'s
    rule, for a provider that knows the count before reading: the synthetic generator)."""
    return store == "disk" or (store == "auto" and documents > limit)


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
            # A title of None is written as "" on disk: held the same way, so that the corpus
            # fingerprint (the key of every cache) does not depend on the store.
            held.append(doc if doc.title is not None else Document(doc.id, doc.text, ""))
            if goes_to_disk(store, len(held), limit):
                break
        else:
            return held
    sweep_orphans()
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX))
    owner, writer = _own(folder), None
    try:
        writer = DocumentWriter(folder)
        for doc in held:
            writer.add(doc)
        held.clear()
        for doc in it:
            writer.add(doc)
        docs = writer.close()
    except BaseException:
        if writer is not None:
            writer.close(keep=False)  # its files closed now, not when collected
        _remove(str(folder), owner, os.getpid())
        raise
    # Removed when the corpus is collected, or at exit (weakref.finalize runs atexit too), by the
    # process that made it only (a forked child dropping its copy removes nothing); a process
    # killed before (a cell worker past its timeout) leaves it to the next ``sweep_orphans``.
    weakref.finalize(docs, _remove, str(folder), owner, os.getpid())
    return docs


_PREFIX = "harness-corpus-"
_OWNER = ".owner"  # locked (flock) by the process that made the folder for as long as it is used


def _own(folder: Path) -> int | None:
    """Lock ``folder``'s owner file for this process's lifetime (its descriptor, returned, stays
    open): a folder whose lock can be taken belongs to a process that died. Locked under another
    name, then renamed, so that no sweep ever sees the owner file unlocked."""
    try:
        import fcntl
    except ImportError:  # no flock: folders of killed processes are not swept
        return None
    fd = os.open(folder / (_OWNER + ".new"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(folder / (_OWNER + ".new"), folder / _OWNER)
    return fd


def _remove(folder: str, owner: int | None, pid: int) -> None:
    if os.getpid() != pid:
        return
    shutil.rmtree(folder, ignore_errors=True)
    if owner is not None:
        os.close(owner)


def sweep_orphans() -> None:
    """Remove the corpus folders of processes that died without removing them (SIGKILL: a cell
    worker's timeout or memory limit, the out-of-memory killer): their owner lock is free."""
    try:
        import fcntl
    except ImportError:
        return
    try:
        found = list(Path(tempfile.gettempdir()).glob(_PREFIX + "*"))
    except OSError:
        return
    for folder in found:
        try:
            fd = os.open(folder / _OWNER, os.O_RDONLY)
        except OSError:  # being made (not yet owned), or not ours
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: in use
            os.close(fd)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


__all__ = ["COLUMNS", "SPILL_AT", "STORES", "DiskDocuments", "DiskTexts", "DocumentWriter", "gather_documents",
           "goes_to_disk"]
