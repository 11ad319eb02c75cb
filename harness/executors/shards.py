"""Corpus shards: a large corpus encoded in pieces on several workers, then merged into the index
the cells load.

The protocol, optional, for retrievers (``execution.shard_documents`` turns it on)::

    index_shard(collection, shard, folder, ctx)  encode collection.docs[shard.start:shard.stop] and
                                                 write the outcome into ``folder`` as plain files
    merge_index(collection, folders, ctx)        become ready to retrieve from the shards' folders,
                                                 given in corpus order, as index() would
    index_cached(collection, ctx) -> bool        only for retrievers without save/load: whether
                                                 index() would find its work already done

A retriever may also declare ``shard_unit`` (an int class attribute, default 1): shards then start
and end on multiples of it (the size rounded up). An encoder whose batches form within fixed windows
of the corpus (the ``dense`` retriever sorts and batches ``tokens.CHUNK`` documents at a time)
declares that window, so each shard forms exactly the batches one unsharded ``index`` forms and the
merged vectors are the same bits: the embedding cache entry the merge writes, under the unsharded
key, holds what an unsharded run would have written. Compressed stages are never sharded
(``shardable``): a dynamically quantised model is batch-dependent, and keeping them whole keeps
that out of question.

``setup(ctx)`` runs before either. A retriever with ``save``/``load`` has its merged index saved
into the index cache under the key its cells look up, so their ``index`` phase loads it
(``cache: hit``, the shards listed in ``built``). One without stores what its ``index()`` looks
up in ``merge_index`` itself (a dense retriever: the embedding cache entry). Shard outcomes travel
through the artifact cache (``shards/<key>``, removed once merged), so workers must share the
cache folder; where a shard or the merge fails, the cells index the corpus themselves.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from dataclasses import dataclass

from ..cache import ArtifactCache, cache_key
from ..capabilities import CacheAware, Persistent, Sharded, supports
from ..components import Context, Progress
from ..datasets import load_dataset
from ..stages import StageExecutor, index_key
from .base import payload


@dataclass(frozen=True)
class Shard:
    """Documents ``start`` to ``stop`` (exclusive) of the corpus: shard ``number`` of ``count``."""

    number: int
    count: int
    start: int
    stop: int


def shardable(spec) -> bool:
    """A retriever stage the executor can shard (compressed models are not sharded: see the
    module docstring)."""
    return supports(spec.cls, Sharded) and not spec.compressors


def plan_shards(documents: int, size: int, unit: int = 1) -> list[Shard]:
    """The shards of a corpus of ``documents``: ``size`` documents each, rounded up to a multiple
    of the retriever's ``shard_unit``, so that every shard starts on a multiple of it; none (an
    empty list) when one shard would hold the whole corpus."""
    unit = unit if isinstance(unit, int) and not isinstance(unit, bool) and unit >= 1 else 1
    size = -(-size // unit) * unit
    if documents <= size:
        return []
    count = -(-documents // size)
    return [Shard(i, count, i * size, min(documents, (i + 1) * size)) for i in range(count)]


# -- in the run (the Dask client) ------------------------------------------------------------------

def prepare(executor, jobs: list, ctx) -> dict:
    """Submit the shards and merges the cells need; cell id -> the merge's future."""
    size = ctx.suite.execution.shard_documents
    groups: dict[tuple, list] = {}
    for job in jobs if size else ():
        spec = job.cell.pipeline.stages[0]
        if shardable(spec):
            config = json.dumps(spec.config(), sort_keys=True, default=str)
            groups.setdefault((job.cell.dataset.name, config, job.cell.device), []).append(job)
    if groups and not ctx.cache.enabled:
        ctx.progress.log("note: corpus shards travel through the artifact cache, which is off (--force or "
                         "output.cache = false): no sharding in this run")
        return {}
    plans = {}
    for group, members in groups.items():
        first = members[0]
        label = f"{first.cell.dataset.name}/{first.cell.pipeline.name}"  # unique, unlike the plugin
        spec = {"id": f"plan {label}", "device": first.cell.device}
        plans[group] = label, executor.submit(payload(ctx, first.cell, first.key, {}, kind="plan"), spec, priority=10,
                                              other=True)
    after = {}
    for group, (label, future) in plans.items():
        plan = _reply(future)
        members = groups[group]
        if "error" in plan or plan["ready"]:
            if "error" in plan:
                ctx.progress.log(f"  {label}: not sharded ({plan['error']})")
            continue
        shards = plan_shards(plan["documents"], size, getattr(members[0].cell.pipeline.stages[0].cls, "shard_unit", 1))
        if not shards:
            continue
        count = len(shards)
        ctx.progress.log(f"dask: encoding {label} ({plan['documents']} documents) in {count} shards")
        first, device = members[0], members[0].cell.device
        parts = [executor.submit(payload(ctx, first.cell, first.key, {}, kind="shard", shard=s, index_key=plan["key"]),
                                 {"id": f"shard {s.number + 1}/{count} of {label}", "device": device},
                                 priority=10, other=True) for s in shards]
        merge = executor.submit(payload(ctx, first.cell, first.key, {}, kind="merge", shards=shards,
                                        index_key=plan["key"]),
                                {"id": f"merge of {label}", "device": device}, *parts, priority=10, other=True)
        after.update({job.cell.id: merge for job in members})
    return after


def _reply(future) -> dict:
    """What a plan job sent back, or its error."""
    try:
        reply = future.result()
    except Exception as exc:  # its worker died: the cells index the corpus themselves
        return {"error": f"{type(exc).__name__}: {exc}"}
    return (reply.get("child") or {}).get("reply") or {"error": "the planning process ended without a reply"}


# -- in the job's process on a worker (harness/worker.py) ----------------------------------------

def run_shard_job(job: dict, registry, cache: ArtifactCache, progress: Progress) -> dict:
    """``plan`` (corpus size, index key, whether the index is ready), ``shard`` or ``merge``."""
    suite, cell = job["suite"], job["cell"]
    try:
        collection = load_dataset(cell.dataset, registry, suite.base_dir)
        spec = cell.pipeline.stages[0]
        component = spec.build()
        ctx = Context(device=cell.device, base_dir=suite.base_dir, seed=suite.seed, progress=progress,
                      collection=collection, cache=cache)
        ident = StageExecutor(registry, cache).identity(spec, component, ctx)
        key = index_key(ident, collection)  # the cells find what the merge saves
        if job["kind"] == "plan":
            if supports(component, Persistent):
                ready = cache.get("indexes", key) is not None
            elif supports(component, CacheAware):
                component.setup(ctx)
                ready = bool(component.index_cached(collection, ctx))
            else:
                ready = True  # unknowable: don't shard
            return {"documents": len(collection.docs), "key": key, "ready": ready}
        component.setup(ctx)
        if job["kind"] == "shard":
            return _encode(component, collection, job["shard"], key, cache, ctx)
        return _merge(component, collection, job["shards"], key, cache, ctx)
    except Exception as exc:  # reported by the run; the cells then index the corpus themselves
        return {"error": f"{type(exc).__name__}: {exc}"}


def shard_key(index_key: str, shard: Shard) -> str:
    return cache_key("shard", index_key, shard.start, shard.stop)


def _encode(component, collection, shard: Shard, key: str, cache: ArtifactCache, ctx: Context) -> dict:
    started = time.perf_counter()
    info = {"shard": shard.number, "of": shard.count, "documents": shard.stop - shard.start,
            "host": socket.gethostname()}
    with cache.write("shards", shard_key(key, shard), **info) as folder:
        component.index_shard(collection, shard, folder, ctx)
        info["seconds"] = round(time.perf_counter() - started, 6)
        (folder / "shard.json").write_text(json.dumps(info))  # listed, so verified like the rest
    return info


def _merge(component, collection, shards: list[Shard], key: str, cache: ArtifactCache, ctx: Context) -> dict:
    folders = []
    for shard in shards:
        folder = cache.get("shards", shard_key(key, shard))
        if folder is None:
            return {"error": f"shard {shard.number + 1} of {shard.count} is not in the cache at {cache.root}: "
                             "sharding needs one cache folder that every worker shares (output.cache_dir)"}
        folders.append(folder)
    started = time.perf_counter()
    component.merge_index(collection, folders, ctx)
    parts = [json.loads((f / "shard.json").read_text()) for f in folders]
    info = {"shards": parts, "merge_seconds": round(time.perf_counter() - started, 6),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname()}
    info["seconds"] = round(sum(p["seconds"] for p in parts) + info["merge_seconds"], 6)  # CPU-side work, summed
    if supports(component, Persistent):
        with cache.write("indexes", key, **info) as folder:
            component.save(folder / "index")
    for folder in folders:  # merged: the index (or the component's own entry) holds it all now
        shutil.rmtree(folder, ignore_errors=True)
    return {"merged": len(folders), "seconds": info["seconds"]}
