"""Results folders: ``<root>/<suite>/<run-id>/`` with a manifest, one JSON per cell, TREC runs.

Layout of a run folder::

    run.json              manifest: suite, status (running | finished | interrupted), cells, provenance
    cells/<cell>.json     one result per cell (schema ``harness.cell/2``; ``/1`` read too; cellresult.py),
                          written atomically
    runs/<cell>.trec      the cell's final ranking as a TREC run file
    leaderboard.md/.csv   rendered from the cell results

Every file is written to a temporary name and renamed into place, so a killed run leaves each
file either complete or absent. A run whose manifest still says ``running`` is resumed by the
next ``harness run`` of the same suite: cells with a result for the same cell key are kept. One
``harness run`` per suite folder at a time: ``RunLock`` (``<root>/.locks/<suite>.lock``).

Cell results and manifests are read through ``read_cell`` and ``read_manifest``: a damaged or
foreign file raises ``ResultsError`` (``<file>: <key>: expected …``); ``write_cell`` refuses to
write what ``read_cell`` would refuse to read.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cellresult import CELL_SCHEMA, READABLE_SCHEMAS, RUN_SCHEMA, CellResult, RunManifest, fail, parse_json  # noqa: F401 (re-exported)
from .cellresult import file_name as file_name_ok
from .errors import HarnessError, NotFoundError, ResultsError, UsageError

MANIFEST = "run.json"


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (a string, or pieces written as they come: a run file's queries) to
    ``path`` so that readers only ever see the old or the new content. The file gets the
    permissions any new file gets (0644 under umask 022; folders made on the way 0755)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if isinstance(text, str):
                f.write(text)
            else:
                f.writelines(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new, empty file beside ``path`` under a hidden unique name: (descriptor, name). Made with
    mode 0666 so that the umask decides (``tempfile.mkstemp`` makes 0600 files whatever it is)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _to_json(value: Any) -> Any:
    """A model (a ``CellResult``) inside data given to ``write_json``: its JSON shape."""
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return to_dict()


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False, default=_to_json)
    write_atomic(path, text + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


MAX_FILE_BYTES = 1 << 30
"""The largest results file read (1 GiB): a cell result with per-query values of a million queries
is a few hundred MB; anything larger is not one the harness wrote."""


def _read_document(path: Path) -> Any:
    """A results file's JSON value; ResultsError naming the file when it is not a regular file of
    JSON (a folder, a fifo, unreadable, undecodable, invalid); FileNotFoundError when absent."""
    path = Path(path)
    try:
        # opened once, without blocking (a fifo would block the open itself): what is checked is what is read
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ResultsError(f"{path}: (file): expected a JSON file, got {_kind(info.st_mode)}")
            if info.st_size > MAX_FILE_BYTES:
                raise ResultsError(f"{path}: (file): expected a harness results file, got {info.st_size} bytes "
                                   f"(more than {MAX_FILE_BYTES >> 20} MiB)")
            data = f.read()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ResultsError(f"{path}: (file): expected a JSON file, got a folder") from None
    except OSError as exc:  # permissions, I/O errors, a symlink loop
        raise ResultsError(f"{path}: (file): expected a readable JSON file, got {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: (file): expected UTF-8 JSON text, got undecodable bytes ({exc.reason} at "
                           f"byte {exc.start})") from None
    return parse_json(str(path), text)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def read_cell(path: str | Path, *, cell_id: str | None = None, slug: str | None = None) -> CellResult:
    """The cell result in ``path``, checked (cellresult.py); ``cell_id`` and ``slug``: the cell the
    run's manifest says the file holds. ResultsError for a damaged or foreign file;
    FileNotFoundError when there is none."""
    path = Path(path)
    result = CellResult.from_dict(_read_document(path), str(path))
    if cell_id is not None and result.cell.id != cell_id:
        raise fail(str(path), "cell.id", f"{cell_id!r} (the cell {MANIFEST} lists under this file)", result.cell.id)
    if slug is not None and result.cell.slug != slug:
        raise fail(str(path), "cell.slug", f"{slug!r} (the file's name)", result.cell.slug)
    return result


def write_cell(path: str | Path, result: CellResult) -> None:
    """Write ``result`` atomically, after checking it as ``read_cell`` will (ResultsError if not)."""
    data = result.to_dict()
    CellResult.from_dict(data, str(path))
    write_json(Path(path), data)


def read_manifest(path: str | Path) -> dict:
    """A run's manifest (``run.json``) as a dict, checked: ResultsError for a damaged or foreign one."""
    path = Path(path)
    data = _read_document(path)
    RunManifest.from_dict(data, str(path))
    return data


def new_run_id(suite_dir: Path) -> str:
    """``YYYYMMDD-HHMMSS`` (UTC), with a suffix when that second is taken."""
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run_id, n = base, 1
    while (suite_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def run_dirs(suite_dir: Path) -> list[Path]:
    """The suite's run folders, oldest first."""
    if not suite_dir.is_dir():
        return []
    return sorted((p for p in suite_dir.iterdir() if (p / MANIFEST).is_file()), key=_run_order)


def _run_order(path: Path) -> list:
    """Numbers compared as numbers, so ``<second>-10`` comes after ``<second>-9``."""
    parts = re.split(r"([0-9]+)", path.name)  # text, number, text, ...: comparable position by position
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def choose_run_dir(suite_dir: Path, new: bool = False, resume: str | None = None) -> tuple[Path, bool]:
    """(run folder, resumed?): ``resume`` names one; otherwise the latest unfinished run is
    resumed unless ``new``; otherwise a new run id."""
    if resume:
        if resume in (".", "..") or "/" in resume or "\\" in resume or resume.startswith("."):
            raise UsageError(f"--resume takes a run id, the name of a run folder under {suite_dir}, got {resume!r}")
        path = suite_dir / resume
        if not (path / MANIFEST).is_file():
            known = ", ".join(p.name for p in run_dirs(suite_dir)) or "none"
            raise NotFoundError(f"no run {resume!r} under {suite_dir} (runs: {known})")
        return path, True
    runs = run_dirs(suite_dir)
    if runs and not new:
        # a damaged manifest: ResultsError naming it (--new starts afresh)
        if read_manifest(runs[-1] / MANIFEST)["status"] != "finished":
            return runs[-1], True
    return suite_dir / new_run_id(suite_dir), False


def cell_path(run_dir: Path, slug: str) -> Path:
    return run_dir / "cells" / f"{slug}.json"


def run_file_path(run_dir: Path, slug: str) -> Path:
    return run_dir / "runs" / f"{slug}.trec"


def load_cell(run_dir: Path, slug: str, cell_id: str | None = None) -> CellResult | None:
    """A cell's result, or None when absent, unreadable or another cell's (then it is simply run again)."""
    try:
        path = cell_path(run_dir, slug)
        check_inside(run_dir, path)
        return read_cell(path, cell_id=cell_id, slug=slug)
    except (OSError, ResultsError):
        return None


def check_inside(run_dir: Path, path: Path) -> None:
    """ResultsError unless ``path`` (a file of the run folder ``run_dir``), symbolic links followed,
    is inside ``run_dir``: a file name in a tampered manifest, or a link planted in ``cells/``, must
    not make the harness read a file from elsewhere on the disk."""
    if not file_name_ok(path.name):
        raise fail(str(path), "(file)", "a file of the run folder", path.name)
    real, folder = os.path.realpath(path), os.path.realpath(run_dir)
    if os.path.commonpath([real, folder]) != folder:
        raise ResultsError(f"{path}: (file): expected a file inside the run folder {run_dir}, got a link to "
                           f"{real}")


def read_run_json(run_dir: str | Path, name: str) -> Any:
    """The JSON value of the file ``name`` of a run folder (``leaderboard.json``), read as a cell
    result is: inside the folder, a regular file, JSON. ResultsError naming it; FileNotFoundError
    when there is none."""
    path = Path(run_dir) / name
    check_inside(Path(run_dir), path)
    return _read_document(path)


def load_run(run_dir: str | Path) -> tuple[dict, list[CellResult]]:
    """(manifest, cell results in manifest order) of a run folder. A cell without a file is left
    out while the run is unfinished (its cell has not run yet); in a finished run it is a
    ResultsError, as is a damaged or foreign manifest or cell file, or a cell file outside the run
    folder (a symbolic link out of it)."""
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).is_file():
        raise NotFoundError(f"{run_dir} is not a harness run folder (no {MANIFEST})")
    check_inside(run_dir, run_dir / MANIFEST)
    manifest = read_manifest(run_dir / MANIFEST)
    finished = manifest["status"] == "finished"
    cells = []
    for cell_id, slug in manifest["cells"].items():
        path = cell_path(run_dir, slug)
        check_inside(run_dir, path)
        if not finished and not os.path.lexists(path):
            continue
        try:
            cells.append(read_cell(path, cell_id=cell_id, slug=slug))
        except FileNotFoundError:  # finished, or a dangling link
            why = "the run finished" if finished else "a link to nothing"
            raise ResultsError(f"{path}: (file): expected the result of cell {cell_id!r} ({MANIFEST} lists it "
                               f"and {why}), got no file") from None
    return manifest, cells


# -- one `harness run` per suite folder at a time -----------------------------------------------

LOCKS = ".locks"


class RunLocked(HarnessError, RuntimeError):
    """Another ``harness run`` holds the suite's results folder; the message names it."""


class RunLock:
    """An exclusive lock on a suite's results folder, held for a whole ``harness run``:
    ``<root>/.locks/<suite>.lock`` (beside the suite's folder, which holds run folders only).

    Two runs of one suite would otherwise pick the same unfinished run to resume and write the
    same cells. ``fcntl.flock`` is released by the kernel when its holder dies, however it dies;
    the file also says who holds it (pid, host, since), for the other run's message, and lets a
    filesystem without flock fall back to checking that pid. The file is left in place on release
    (emptied): unlinking it would let a waiting process lock a file nobody else can see.
    """

    def __init__(self, root: Path, suite: str):
        self.folder = Path(root) / suite
        self.path = Path(root) / LOCKS / f"{suite}.lock"
        self.stale: dict | None = None  # the holder a killed run left named in the file
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl
        import socket

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(self._busy(_holder(self.path))) from None
        except OSError:  # no flock here (some network filesystems): the pid in the file decides
            holder = _holder(self.path)
            if holder and _alive(holder):
                os.close(fd)
                raise RunLocked(self._busy(holder)) from None
        self.stale = _holder(self.path)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ",
              time.gmtime()), "start": _start_time(os.getpid())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a later run sees no stale holder
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def _busy(self, holder: dict | None) -> str:
        who = (f"pid {holder.get('pid')} on {holder.get('host')}, running since {holder.get('since')}"
               if holder else "a process that has not written its name yet")
        return (f"another harness run is using {self.folder} ({who}); wait for it to finish, or stop it "
                f"(a killed run releases the lock and is resumed by the next run)")


def _holder(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(holder: dict) -> bool:
    """Whether the process named in a lock file still runs (on another host: assumed so)."""
    import socket

    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or _start_time(pid) is None:
        return False
    # A recycled pid belongs to another process: its start time differs from the holder's.
    return holder.get("start") in (None, _start_time(pid))


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if fields[0] != "Z" else None
