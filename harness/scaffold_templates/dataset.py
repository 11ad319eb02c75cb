"""``harness new-plugin --kind dataset``: a collection from a folder of three TSV files."""

SUMMARY = "Loads a collection from docs.tsv, queries.tsv and qrels.tsv in a folder"
DEPENDENCIES: list[str] = []
CONFIG = '''\
    params = {"path": "data"}  # tests/data: relative paths start at this file's folder
'''
PARAMETERS = (
    '`source = "$name:FOLDER"` sets `path`, the folder (relative paths start at the suite '
    "file's folder). It holds `docs.tsv` (id, title, text), `queries.tsv` (id, text) and "
    "`qrels.tsv` (query id, document id, integer grade), tab-separated, UTF-8; `tests/data` is "
    "an example."
)
SUITE = '''\
[[datasets]]
name = "mine"
source = "$name:path/to/folder"

[[pipelines]]
name = "bm25"
retriever = { plugin = "bm25" }'''

COMPONENT = '''\
"""The ``$name`` dataset provider.

$summary.

Replace the reading with your own source and keep the contract (the harness's docs/plugins.md,
"DatasetProvider"): ``load`` returns every document, query and judgment as the source has
them, or raises ``DatasetError`` naming the file and line that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.sdk import Collection, Context, DatasetError, DatasetProvider, Document, Param


class $cls(DatasetProvider):
    """$summary."""

    name = "$name"
    source_param = "path"  # a suite's source = "$name:FOLDER" sets path
    params = {
        "path": Param(str, help="the folder; relative paths start at the suite file's folder"),
    }

    def load(self, ctx: Context) -> Collection:
        folder = ctx.resolve_path(self.path)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder")
        docs = [Document(doc_id, text, title) for _, (doc_id, title, text) in rows(folder / "docs.tsv", 3)]
        queries = {qid: text for _, (qid, text) in rows(folder / "queries.tsv", 2)}
        qrels: dict[str, dict[str, int]] = {}
        for where, (qid, doc_id, grade) in rows(folder / "qrels.tsv", 3):
            try:
                qrels.setdefault(qid, {})[doc_id] = int(grade)
            except ValueError:
                raise DatasetError(f"{where}: grade {grade!r} is not an integer") from None
        return Collection(folder.name, docs, queries, qrels)


def rows(path: Path, columns: int) -> Iterator[tuple[str, list[str]]]:
    """("file:line", cells) of each non-empty line of a tab-separated file."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\\r\\n")
            if not line.strip():
                continue
            cells = line.split("\\t")
            if len(cells) != columns:
                raise DatasetError(f"{path}:{number}: expected {columns} tab-separated columns, got {len(cells)}")
            yield f"{path}:{number}", cells
'''

EXTRA_FILES = {
    "tests/data/docs.tsv": (
        "d1\tWings\twing lift and drag at high speed\n"
        "d2\tHeat\theat transfer in a boundary layer\n"
        "d3\tFlutter\tflutter of a wing at supersonic speed\n"
        "d4\tShells\tbuckling of thin cylindrical shells\n"
        "d5\tNozzles\tflow in a supersonic nozzle\n"
        "d6\tCafé\tcrème brûlée at the café\n"
    ),
    "tests/data/queries.tsv": (
        "q1\twing flutter at high speed\n"
        "q2\theat transfer boundary layer\n"
        "q3\tsupersonic flow\n"
    ),
    "tests/data/qrels.tsv": "q1\td3\t2\nq1\td1\t1\nq2\td2\t2\nq3\td5\t1\nq3\td4\t0\n",
}
