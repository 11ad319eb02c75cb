"""The "Compressed vs parent" table as text, for the Markdown and HTML pages, and its CSV columns.

Reads the leaderboard dict's ``compressed`` entry (compressed.py) and nothing else. Differences
are compressed − parent; ratios compressed / parent, so a p50 ratio of 0.5 is twice as fast and
a QPS ratio of 2 twice the throughput.
"""

from __future__ import annotations

from .sizes import FIGURES
from .table import COST_AXES

RATIOS = {"p50 ms": "p50 ×", "QPS": "QPS ×", "peak MiB": "MiB ×"}  # shown; p95 is in the JSON and CSV
SIZE = "size ×"
VERDICT = "verdict"
LEFT = ("dataset", "pipeline", "device", "parent", VERDICT, "status")
CLASSES = {"non-inferior": "up", "inferior": "down", "inconclusive": "base"}
ORDER = ("non-inferior", "inconclusive", "inferior")


def pairs(data: dict) -> list[dict]:
    return (data.get("compressed") or {}).get("rows") or []


def delta_columns(data: dict) -> list[str]:
    """``Δ <primary>``, and ``Δ <margin metric>`` when verdicts are on another metric."""
    section = data["compressed"]
    shown = [data["primary"]]
    if section["margin"] is not None and section["metric"] not in shown:
        shown.append(section["metric"])
    return [f"Δ {m}" for m in shown]


def columns(data: dict) -> list[str]:
    """The table's columns: cost and size ratios only where some pair has one."""
    found = pairs(data)
    out = ["dataset", "pipeline", "device", "parent", *delta_columns(data)]
    if data["compressed"]["margin"] is not None:
        out.append(VERDICT)
    out += [label for axis, label in RATIOS.items() if any((p["cost"].get(axis) or {}).get("ratio") is not None
                                                          for p in found)]
    if any((p["size"] or {}).get("ratio") is not None for p in found):
        out.append(SIZE)
    return out + ["status"]


def text(pair: dict, column: str, data: dict) -> str:
    """One cell of the table as plain text."""
    if column == "parent":
        return pair["parent"] + (" (declared)" if pair["how"] == "declared" else "")
    if column in ("dataset", "pipeline", "device", "status"):
        return pair[column]
    if column.startswith("Δ "):
        return _delta(pair, column[2:])
    if column == VERDICT:
        return verdict_text(pair["verdict"])
    if column == SIZE:
        size = pair["size"] or {}
        return _times(size.get("ratio")) + (" (figures)" if size.get("source") == FIGURES else "")
    axis = next(a for a, label in RATIOS.items() if label == column)
    return _times((pair["cost"].get(axis) or {}).get("ratio"))


def sort_value(pair: dict, column: str):
    """The number a column sorts by (HTML), or None for text columns."""
    if column.startswith("Δ "):
        return ((pair["quality"].get(column[2:])) or {}).get("difference")
    if column == SIZE:
        return (pair["size"] or {}).get("ratio")
    if column == VERDICT:  # best first: non-inferior, inconclusive, inferior
        verdict = (pair["verdict"] or {}).get("verdict")
        return ORDER.index(verdict) if verdict in ORDER else None
    axis = next((a for a, label in RATIOS.items() if label == column), None)
    return (pair["cost"].get(axis) or {}).get("ratio") if axis else None


def verdict_text(verdict: dict | None) -> str:
    if not verdict:
        return "-"
    return f"{verdict['verdict']} (p = {verdict['p_value']:.3g})" if verdict["p_value"] is not None \
        else verdict["verdict"]


def _delta(pair: dict, metric: str) -> str:
    difference = (pair["quality"].get(metric) or {}).get("difference")
    if difference is None:
        return "-"
    out = f"{difference:+.4f}"
    verdict = pair["verdict"] or {}
    if verdict.get("metric") == metric and verdict.get("interval"):
        low, high = verdict["interval"]["low"], verdict["interval"]["high"]
        if low is not None and high is not None:
            out += f" [{low:+.3f}, {high:+.3f}]"
    return out


def _times(ratio) -> str:
    return "-" if ratio is None else f"{ratio:.3g}×"


def legend(data: dict) -> list[str]:
    """What the columns mean and how the verdict is decided, one line each (Markdown)."""
    section = data["compressed"]
    out = ["parent: the pipeline with the same stages without compressors, or the one the suite declares "
           "(`parent = \"...\"`, marked declared)",
           "Δ: compressed − parent, the difference of the means over the same queries"]
    if any(p["verdict"] and p["verdict"].get("interval") for p in pairs(data)):
        out.append(f"`[low, high]`: {1 - 2 * section['alpha']:.0%} t interval of the mean per-query difference "
                   f"(1 − 2·alpha): non-inferior when low > −margin, inferior when high < −margin")
    out.append("ratios: compressed / parent: p50 × (single-stream latency; below 1 is faster), QPS × (offline "
               "throughput; above 1 is faster), MiB × (peak resident memory), size × (bytes of the models' "
               "parameters from the compression reports; `(figures)`: from the parameter_bytes figures, which "
               "miss packed int8 weights)")
    if section["margin"] is None:
        out.append("no non-inferiority verdicts: set `[stats] margin` (in the units of `margin_metric`, default "
                   "the first metric) to get them")
    else:
        test = "paired t-test" if section["test"] == "t" else "paired permutation test (sign flips)"
        out.append(f"verdict on {section['metric']} with margin δ = {section['margin']:g}: {test} of the per-query "
                   f"differences, one-sided, alpha {section['alpha']}, no correction across pipelines. "
                   "non-inferior: H0 mean(compressed − parent) ≤ −δ rejected; inferior: H0 mean ≥ −δ rejected "
                   "(it loses more than δ); inconclusive: neither; p: the deciding test's")
    return out


def csv_columns(data: dict) -> list[str]:
    """Extra CSV columns for compressed pipelines, at full precision (empty on other rows)."""
    if not pairs(data):
        return []
    out = ["parent", *(f"{m} diff_parent" for m in data["metrics"])]
    out += [f"{axis} ratio" for axis in COST_AXES if any(axis in p["cost"] for p in pairs(data))]
    out += ["size ratio", "size source"]
    if data["compressed"]["margin"] is not None:
        out += ["noninferiority", "noninferiority p", "inferiority p"]
    return out


def csv_values(data: dict, row: dict) -> dict:
    """``{column: value}`` of ``csv_columns`` for one leaderboard row (empty when not compressed)."""
    pair = next((p for p in pairs(data) if (p["dataset"], p["pipeline"], p["device"])
                 == (row["dataset"], row["pipeline"], row["device"])), None)
    if pair is None:
        return {}
    out = {"parent": pair["parent"]}
    for metric, found in pair["quality"].items():
        out[f"{metric} diff_parent"] = found["difference"]
    for axis, found in pair["cost"].items():
        out[f"{axis} ratio"] = found["ratio"]
    size = pair["size"] or {}
    out["size ratio"], out["size source"] = size.get("ratio"), size.get("source")
    verdict = pair["verdict"] or {}
    out["noninferiority"] = verdict.get("verdict")
    out["noninferiority p"], out["inferiority p"] = verdict.get("p_non_inferiority"), verdict.get("p_inferiority")
    return out
