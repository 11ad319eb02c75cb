"""The growth curve: BM25, dense retrieval with a tiny random model and FAISS HNSW on synthetic
collections (harness/synthetic.py) of 10,000, 100,000 and 300,000 documents, and 1,000,000 when
``HARNESS_GROWTH_1M=1`` is set (about 15 minutes more on a 2-core machine).

Each (system, size) is measured in a fresh process (growth_worker.py, which documents the
measurement): the collection's generation, then the index (BM25's; the dense corpus encoding; the
HNSW build over those vectors, read back from the artifact cache), then 200 queries as one batch
(QPS) and 20 one at a time (median latency), one thread, CPU time; memory is the growth of the
peak RSS in each phase, and the whole process's peak after indexing (the collection included).

``test_growth_curve`` fits log(figure) = a + slope × log(documents) by least squares over the
sizes and asserts slope ≤ 1.15 for every time and memory figure of every system, the HNSW build
time excepted (O(n log n) by design; its slope is printed). The one-query latency's slope is
printed, not asserted: it holds each call's fixed set-up, which a retriever may scale with the
corpus (BM25's does, see docs/measurement.md), and is a finding to report rather than a bound.
It prints the table and writes it into docs/measurement.md between the growth markers, so the
docs quote exactly what was printed.

Every measurement is also appended, as a JSON line, to the file named by ``HARNESS_GROWTH_ROWS``
when it is set, and a (system, size) already in that file is taken from it instead of measured
again: an interrupted curve resumes, and the 1M point can be added to an earlier 10k-300k run
(delete the file to measure afresh).

``pytest benchmarks --benchmark-disable`` (the CI smoke) runs the same three workers at 2,000
documents (about 20 s, mostly importing torch three times): every system runs and BM25 finds the
planted documents; no slope is fitted (one size) and nothing is written. ``test_docs_table`` checks what the docs
quote: a table in the generated form whose slopes hold.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("faiss")
pytest.importorskip("harness_lexical")
pytest.importorskip("harness_transformers")

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "measurement.md"
SIZES, MILLION, SMOKE_SIZES = (10_000, 100_000, 300_000), 1_000_000, (2_000,)
SYSTEMS = ("bm25", "dense", "hnsw")  # dense before hnsw: hnsw reads dense's vectors from the cache
MAX_SLOPE = 1.15
START = "<!-- growth-curve:start (benchmarks/test_growth_bench.py writes this table) -->"
END = "<!-- growth-curve:end -->"
MB = 2**20
# (column, worker field, scale): the table's figures, each held to the slope (but the HNSW build).
FIGURES = (
    ("generate s", "generate_s", 1),
    ("index s", "index_s", 1),
    ("index peak MB", "index_peak", MB),
    ("process peak MB", "process_peak", MB),
    ("retrieve s", "retrieve_s", 1),
)
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reset needs Linux /proc")


def sizes(smoke: bool) -> tuple[int, ...]:
    if smoke:
        return SMOKE_SIZES
    return SIZES + ((MILLION,) if os.environ.get("HARNESS_GROWTH_1M") == "1" else ())


def measure(system: str, documents: int, model: Path, cache: Path) -> dict:
    """One fresh worker process's figures (growth_worker.py)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(HERE / "growth_worker.py"), system, str(documents), str(model),
                           str(cache)], capture_output=True, text=True, env=env)  # fmt: skip
    if done.returncode:
        raise AssertionError(f"growth_worker {system} {documents}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def slope(points: list[tuple[int, float]]) -> float:
    """The least-squares slope of log(value) against log(documents)."""
    x = np.log([n for n, _ in points])
    y = np.log([max(v, 1e-9) for _, v in points])
    return float(np.polyfit(x, y, 1)[0])


def slopes(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{system: {column: slope}} over the sizes measured."""
    out: dict[str, dict[str, float]] = {}
    for system in SYSTEMS:
        mine = sorted((r for r in rows if r["system"] == system), key=lambda r: r["documents"])
        out[system] = {col: slope([(r["documents"], r[key] / scale) for r in mine]) for col, key, scale in FIGURES}
    return out


def exempt(system: str, column: str) -> bool:
    """The HNSW build is O(n log n) (each insertion searches the graph): not held to the slope."""
    return system == "hnsw" and column == "index s"


def table(rows: list[dict]) -> str:
    """The growth table and its slopes, as markdown (printed, and written into the docs)."""
    head = ["system", "documents", *[c for c, *_ in FIGURES], "QPS", "latency ms", "nDCG@10"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: (SYSTEMS.index(r["system"]), r["documents"])):
        cells = [r["system"], f"{r['documents']:,}"]
        for _, key, scale in FIGURES:
            value = r[key] / scale
            cells.append(f"{value:.0f}" if scale == MB else f"{value:.3f}" if value < 10 else f"{value:.1f}")
        cells += [f"{r['qps']:,.0f}", f"{r['latency_ms']:.2f}", f"{r['ndcg10']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| slope (log-log, least squares) | " + " | ".join(c for c, *_ in FIGURES) + " | latency ms |",
              "|---|" + "---|" * (len(FIGURES) + 1)]
    for system, found in slopes(rows).items():
        marks = [f"{found[c]:.2f}" + (" (exempt)" if exempt(system, c) else "") for c, *_ in FIGURES]
        mine = [(r["documents"], r["latency_ms"]) for r in rows if r["system"] == system]
        lines.append(f"| {system} | " + " | ".join(marks) + f" | {slope(mine):.2f} (reported) |")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace the table between the growth markers of docs/measurement.md."""
    doc = DOCS.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise AssertionError(f"{DOCS}: the growth markers are missing ({START} ... {END})")
    before, rest = doc.split(START, 1)
    _, after = rest.split(END, 1)
    DOCS.write_text(f"{before}{START}\n{text}\n{END}{after}", encoding="utf-8")


@pytest.fixture(scope="module")
def curve(request, tmp_path_factory) -> list[dict]:
    from harness.synthetic import tiny_model

    smoke = request.config.getoption("benchmark_disable")
    folder = tmp_path_factory.mktemp("growth")
    model = tiny_model(folder / "tiny-model")
    saved = Path(os.environ["HARNESS_GROWTH_ROWS"]) if os.environ.get("HARNESS_GROWTH_ROWS") and not smoke else None
    kept = {}
    if saved is not None and saved.is_file():
        for line in saved.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            kept[row["system"], row["documents"]] = row
    rows = []
    for documents in sizes(smoke):
        cache = folder / f"cache-{documents}"  # per size: a fresh HNSW build, dense's vectors shared
        for system in SYSTEMS:
            if (system, documents) in kept and (system != "dense" or ("hnsw", documents) in kept):
                rows.append(kept[system, documents])  # (dense is measured again when hnsw needs its cache)
                continue
            rows.append(measure(system, documents, model, cache))
            if saved is not None:
                with saved.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(rows[-1]) + "\n")
    return rows


def check_rows(rows: list[dict], expected_sizes: tuple[int, ...]) -> None:
    """Every (system, size) measured exactly once, on the size asked for, and each plausible.
    Without the first check an empty curve (or one missing a system) passed: the CI smoke could
    go green having measured nothing."""
    measured_cells = sorted((r["system"], r["documents"]) for r in rows)
    assert measured_cells == sorted((s, n) for s in SYSTEMS for n in expected_sizes), measured_cells
    for row in rows:
        assert row["queries"] == 200 and row["qps"] > 0 and row["index_peak"] >= 0, row
        if row["system"] == "dense":
            assert row["encoded"], row
        if row["system"] == "hnsw":
            assert not row["encoded"] and row["hnsw_build_s"] is not None, row
        if row["system"] == "bm25":
            assert row["ndcg10"] > 0.5, row


@linux
def test_every_system_runs(request, curve):
    """Each worker indexed and retrieved; hnsw built its index over dense's cached vectors (so its
    index time is the build); BM25 finds the planted documents (random rankings score ~0)."""
    check_rows(curve, sizes(request.config.getoption("benchmark_disable")))


@linux
@pytest.mark.benchmark(group="growth: bm25, dense (tiny model), hnsw at 10k / 100k / 300k documents")
def test_growth_curve(benchmark, curve):
    if benchmark.disabled:
        pytest.skip("slopes are measured only with benchmarks enabled (make bench); the smoke runs tiny sizes")
    text = benchmark.pedantic(lambda: table(curve), rounds=1, iterations=1)
    print(f"\ngrowth curve, one thread, CPU machine: {sys.platform}\n{text}")
    write_docs(text)
    too_steep = [(system, col, round(s, 3)) for system, found in slopes(curve).items()
                 for col, s in found.items() if s > MAX_SLOPE and not exempt(system, col)]
    assert not too_steep, f"log-log slopes above {MAX_SLOPE}: {too_steep}"


def test_docs_table():
    """docs/measurement.md holds a generated growth table whose non-exempt slopes are ≤ 1.15 and
    whose sizes span at least 10k to 300k documents."""
    doc = DOCS.read_text(encoding="utf-8")
    assert START in doc and END in doc, "docs/measurement.md lacks the growth markers"
    block = doc.split(START, 1)[1].split(END, 1)[0]
    sizes_quoted = {int(m.replace(",", "")) for m in re.findall(r"^\| \w+ \| ([\d,]+) \|", block, re.M)}
    assert {10_000, 100_000, 300_000} <= sizes_quoted, sizes_quoted
    slope_rows = [line.strip(" |").split(" | ") for line in block.split("| slope", 1)[1].splitlines()[2:]
                  if line.startswith("| ")]
    assert {cells[0] for cells in slope_rows} == set(SYSTEMS), slope_rows
    for system, *cells in slope_rows:
        assert len(cells) == len(FIGURES) + 1, (system, cells)
        for cell in cells:
            if "exempt" not in cell and "reported" not in cell:
                assert math.isfinite(float(cell)) and float(cell) <= MAX_SLOPE, (system, cell)
