"""Writes ./collection, the synthetic BEIR collection of the cascade golden files (see README.md)."""

import json
import random
from pathlib import Path

WORDS = ("wing lift drag speed heat transfer boundary layer flutter shell buckling nozzle flow slab "
         "conduction laminar transition jet noise supersonic pressure vortex panel shock wave plate "
         "cylinder thermal stress load").split()


def write(folder: Path, documents: int = 60, queries: int = 8, seed: int = 7) -> Path:
    rng = random.Random(seed)
    docs = {f"d{i:02d}": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) for i in range(documents)}
    topics = {f"q{i}": " ".join(rng.sample(WORDS, 3)) for i in range(1, queries + 1)}
    qrels = []
    for qid, text in topics.items():
        words = set(text.split())
        for doc, body in docs.items():
            shared = len(words & set(body.split()))
            if shared >= 2 or (shared == 1 and rng.random() < 0.3):
                qrels.append((qid, doc, 2 if shared >= 2 else 1))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc, body in docs.items():
            f.write(json.dumps({"_id": doc, "title": "", "text": body}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in topics.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


if __name__ == "__main__":
    write(Path(__file__).parent / "collection")
