"""The model's own settings: what a sentence-transformers folder says about how to use it.

A parameter a suite omits (``max_length``, ``pooling``, ``normalize``: each ``None`` by default)
takes the model's value, read from the folder as sentence-transformers reads it:

* ``max_length``: ``max_seq_length`` in ``sentence_bert_config.json``;
* ``pooling``: the modes set in the Pooling module's ``config.json`` (``modules.json`` names its
  folder, ``1_Pooling``): ``pooling_mode_mean_tokens`` is ``mean``, ``pooling_mode_cls_token``
  ``cls``; others (max, last token, several at once) the components do not implement;
* ``normalize``: whether ``modules.json`` lists a ``Normalize`` module.

A folder that states none falls back to the defaults (512 tokens, mean pooling, normalised),
``max_length`` capped at the model's own limit (``token_limit``). Every resolved value says where
it came from (``Setting.source``: ``"suite"``, a file, or ``"default"``), for the result.

Only JSON files are read: nothing here imports torch or transformers, so ``harness validate``
can call it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULTS = {"max_length": 512, "pooling": "mean", "normalize": True}
FROM_MODEL = tuple(DEFAULTS)  # the parameters whose omission means "the model's"
SUITE = "suite"
DEFAULT = "default"
# Pooling modes of sentence-transformers' Pooling config, by the names the components use.
MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max",
         "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
         "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
UNSTATED = 10**9  # tokenizers without a stated limit have model_max_length 1e30


@dataclass(frozen=True)
class Setting:
    """A parameter's value and where it came from."""

    value: Any
    source: str  # "suite", a file of the model's folder, or "default"

    def record(self) -> dict:
        return {"value": self.value, "from": self.source}


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: not readable JSON ({exc})") from None


def stated(folder: Path) -> dict[str, Setting]:
    """The settings the folder's sentence-transformers configuration states."""
    out: dict[str, Setting] = {}
    sbert = _json(folder / "sentence_bert_config.json")
    if isinstance(sbert, dict) and _positive_int(sbert.get("max_seq_length")):
        out["max_length"] = Setting(sbert["max_seq_length"], "sentence_bert_config.json")
    modules = _json(folder / "modules.json")
    if isinstance(modules, list):
        listed = [(str(m.get("type", "")), str(m.get("path", ""))) for m in modules if isinstance(m, dict)]
        out["normalize"] = Setting(any(kind.endswith(".Normalize") for kind, _ in listed), "modules.json")
        pooling = next((where for kind, where in listed if kind.endswith(".Pooling")), None)
        if pooling:
            config = _json(folder / pooling / "config.json")
            if isinstance(config, dict):
                modes = [name for key, name in MODES.items() if config.get(key) is True]
                out["pooling"] = Setting("+".join(modes) or "none", f"{pooling}/config.json")
    return out


def token_limit(folder: Path) -> Setting | None:
    """The most tokens the model takes: the least of ``max_position_embeddings`` (config.json)
    and the tokenizer's ``model_max_length`` (tokenizer_config.json), where stated."""
    limits = []
    config = _json(folder / "config.json")
    if isinstance(config, dict):
        positions = config.get("max_position_embeddings")
        if _positive_int(positions):
            limits.append(Setting(positions, "config.json max_position_embeddings"))
    tokenizer = _json(folder / "tokenizer_config.json")
    if isinstance(tokenizer, dict):
        stated_max = tokenizer.get("model_max_length")
        if _positive_int(stated_max) and stated_max < UNSTATED:
            limits.append(Setting(stated_max, "tokenizer_config.json model_max_length"))
    return min(limits, key=lambda s: s.value) if limits else None


def resolve(config: dict, folder: Path) -> dict[str, Setting]:
    """The value of each of ``FROM_MODEL`` that ``config`` (a component's parameters) has: the
    suite's when given, else the model's, else the default (``max_length`` capped at the model's
    limit)."""
    model = stated(folder)
    out: dict[str, Setting] = {}
    for name in FROM_MODEL:
        if name not in config:
            continue
        if config[name] is not None:
            out[name] = Setting(config[name], SUITE)
        else:
            out[name] = model.get(name, Setting(DEFAULTS[name], DEFAULT))
    length = out.get("max_length")
    if length is not None and length.source == DEFAULT:
        limit = token_limit(folder)
        if limit is not None and limit.value < length.value:
            out["max_length"] = Setting(limit.value, f"default {length.value}, capped at {limit.source}")
    return out


def problems(config: dict, folder: Path, poolings: tuple[str, ...]) -> list[tuple[str, str]]:
    """(parameter, message) for each setting the model cannot take: more tokens than its limit,
    a pooling the components do not implement."""
    found = []
    resolved = resolve(config, folder)
    length, limit = resolved.get("max_length"), token_limit(folder)
    if length is not None and limit is not None and length.value > limit.value:
        said = "" if length.source == SUITE else f" (from {length.source})"
        found.append(("max_length", f"max_length {length.value}{said} is beyond the model's {limit.value} tokens "
                      f"({limit.source}): use at most {limit.value}"))
    pooling = resolved.get("pooling")
    if pooling is not None and pooling.value not in poolings:
        found.append(("model", f"the model pools by {pooling.value!r} ({pooling.source}), which this component does "
                      f"not implement: set pooling to one of {', '.join(poolings)} to use the model anyway"))
    return found


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
