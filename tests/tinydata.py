"""A tiny BEIR collection for tests: 8 documents, 5 queries, graded qrels (one query matches nothing).

A plain module (not conftest.py) so tests can import it by name wherever pytest collects them.
"""

from __future__ import annotations

import json
from pathlib import Path

DOCS = {
    "d1": ("Wings", "wing lift and drag at high speed"),
    "d2": ("Heat", "heat transfer in a boundary layer"),
    "d3": ("Flutter", "flutter of a wing at supersonic speed"),
    "d4": ("Shells", "buckling of thin cylindrical shells"),
    "d5": ("Nozzles", "flow in a supersonic nozzle"),
    "d6": ("Slabs", "heat conduction in composite slabs"),
    "d7": ("Boundary", "laminar boundary layer transition"),
    "d8": ("Jets", "noise of supersonic jets"),
}
QUERIES = {
    "q1": "wing flutter at high speed",
    "q2": "heat transfer boundary layer",
    "q3": "supersonic flow",
    "q4": "cylindrical shells buckling",
    "q5": "unrelated words only",
}
QRELS = [("q1", "d3", 2), ("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d7", 1), ("q2", "d6", 0),
         ("q3", "d5", 1), ("q3", "d8", 1), ("q4", "d4", 2), ("q5", "d1", 1)]


def write_beir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder
