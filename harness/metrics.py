"""Metric names, evaluation, and trec_eval's report.

* ``parse_metric``: ``nDCG@10``, ``P(rel=2)@10`` or ``{metric = "hubness", k = 10}`` → a ``Metric``
  of the family a plugin registered under that name. The parser is generic (not ir_measures'),
  so third-party families parse the same way. The names ir_measures and trec_eval users write
  for the built-in families (``Recall@100``, ``ndcg_cut_10``, ``map``, ``MRR@10``, ``P_10``, any
  letter case) are aliases: they give the family's own metric, labelled canonically (``R@100``).
* ``evaluate``: metrics of one run against qrels, each family group in one call, averaged as
  trec_eval averages (``complete=True`` is trec_eval -c).
* ``trec_eval_report``: what ``harness eval`` prints, in trec_eval's layout.

docs/metrics.md describes every built-in metric and the averaging rules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .components import Context, Metric, MetricValue
from .errors import HarnessError
from .params import check_params
from .plugins import PluginError, Registry, get_registry
from .ranking import Run

_NAME = re.compile(r"\s*(?P<family>[^\s()@]+)\s*(?:\((?P<args>.*)\))?\s*(?:@(?P<cutoff>.*))?\s*")


class MetricError(HarnessError, ValueError):
    """A metric name or table that does not parse; the message says what to write instead."""


def parse_metric(spec: str | Mapping[str, Any], registry: Registry | None = None) -> Metric:
    """The ``Metric`` a suite names: ``Family``, ``Family@k``, ``Family(p=v,q=w)@k``, or a table
    ``{"metric": "Family...", **params}``."""
    if isinstance(spec, str):
        family, params = _parse_name(spec)
    elif isinstance(spec, Mapping) and isinstance(spec.get("metric"), str):
        family, params = _parse_name(spec["metric"])
        extra = {k: v for k, v in spec.items() if k != "metric"}
        _merge(spec, params, extra)
    else:
        raise MetricError(
            f"a metric is a name like 'nDCG@10' or a table with 'metric', not {spec!r}"
        )
    cls, cut = _resolve(family, params, registry or get_registry())
    cutoff = params.get("cutoff")
    written = family if family == cls.name else f"{family} ({cls.name})"
    if cut and cutoff is None:  # trec_eval's ndcg_cut without one: a set of cutoffs there
        raise MetricError(f"{family} needs a cutoff, e.g. {family}_10 ({cls.name}@10)")
    if cls.cutoff_rule == "required" and cutoff is None:
        raise MetricError(f"{written} needs a cutoff, e.g. {cls.name}@10")
    if cls.cutoff_rule == "none" and "cutoff" in params:
        raise MetricError(f"{written} takes no cutoff")
    problems = check_params(cls.params, params)
    if problems:
        listed = "; ".join(f"{key}: {why}" for key, why in problems)
        raise MetricError(f"metric {_show(spec)}: {listed}")
    return cls(**params)


def canonical_label(name: str, registry: Registry | None = None) -> str | None:
    """The label a metric written by any of its names is recorded under (``ndcg_cut_10`` →
    ``nDCG@10``), or None when no metric has that name."""
    try:
        return parse_metric(name, registry).label
    except MetricError:
        return None


def _parse_name(text: str) -> tuple[str, dict[str, Any]]:
    match = _NAME.fullmatch(text)
    if not match:
        raise MetricError(f"cannot read metric {text!r}; write e.g. 'nDCG@10' or 'P(rel=2)@10'")
    params: dict[str, Any] = {}
    if match["args"] is not None and match["args"].strip():
        params = _parse_args(text, match["args"])
    if match["cutoff"] is not None:
        cutoff = match["cutoff"].strip()
        if not re.fullmatch(r"[+-]?\d+", cutoff):
            raise MetricError(
                f"metric {text!r}: the cutoff after @ must be an integer, got {cutoff!r}"
            )
        _merge(text, params, {"cutoff": int(cutoff)})
    return match["family"], params


def _parse_args(text: str, args: str) -> dict[str, Any]:
    """``rel=2, judged_only=True`` → ``{"rel": 2, "judged_only": True}``; values are literals."""
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError("parameters are written name=value")
        names = [kw.arg for kw in call.keywords if kw.arg]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # rel=2, rel=3: a dict would keep the last silently
            raise ValueError(f"{', '.join(twice)} given twice")
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except (SyntaxError, ValueError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise MetricError(f"metric {text!r}: cannot read its parameters ({why})") from None


def _merge(spec: Any, params: dict[str, Any], more: dict[str, Any]) -> None:
    twice = sorted(set(params) & set(more))
    if twice:
        raise MetricError(f"metric {_show(spec)}: {', '.join(twice)} given twice")
    params.update(more)


def _show(spec: Any) -> str:
    return repr(spec) if isinstance(spec, str) else repr(dict(spec))


def _family(name: str, registry: Registry) -> type[Metric]:
    try:
        return registry.get("metric", name)
    except PluginError as exc:  # a name two plugins provide
        raise MetricError(str(exc)) from None


# -- aliases: other tools' names for the built-in families (builtin/measures.py, docs/metrics.md) ----

_CUT = re.compile(r"(?P<base>.+?)[._](?P<k>\d+)")  # trec_eval's ndcg_cut_10, ndcg_cut.10, P_10
_CUTS = re.compile(r"(?P<base>.+?)[._](?P<ks>\d+(?:,\d+)+)")  # trec_eval's P.5,10: several
_SUFFIX = re.compile(r"(?P<base>.+?)(?:[._@][\d.,]*)?")  # a name without its cutoffs (iprec_at_recall_0.10)


def _resolve(name: str, params: dict[str, Any], registry: Registry) -> tuple[type[Metric], bool]:
    """The family ``name`` means, and whether it is a trec_eval cut measure (``ndcg_cut``), which
    needs a cutoff. ``name`` is, in this order: an installed family's name; an alias
    (``ALIASES``: ``Recall``, ``map``, ``MRR``); a trec_eval cut measure with its cutoff
    (``ndcg_cut_10``, ``ndcg_cut.10``: the cutoff joins ``params``) or without one; any of those
    in another letter case when that names a single family. Else a ``MetricError`` with the
    closest name, an alias's family preferred (``Recal@100``: did you mean 'R@100'?)."""
    from .builtin.measures import ALIASES, TREC_CUT

    families = registry.names("metric")
    if name in families:
        return _family(name, registry), False
    found = _alias(name, params, set(families), ALIASES, TREC_CUT)
    if found is None:  # ndcg@10, recall@100, NDCG_CUT_10: one family in any letter case
        target = _folded(families, ALIASES).get(name.lower())
        found = (target, False) if target else _alias(
            name, params, set(families), {}, {b.lower(): t for b, t in TREC_CUT.items()}, lower=True)
    if found is None:
        raise MetricError(_unknown(name, params, registry, ALIASES, TREC_CUT) + registry.broken_note("metric", name))
    return _family(found[0], registry), found[1]


def _alias(name: str, params: dict[str, Any], families: set[str], aliases: Mapping[str, str],
           cuts: Mapping[str, str], lower: bool = False) -> tuple[str, bool] | None:
    """(family, is a bare cut measure) for an alias or a trec_eval cut measure, or None."""
    key = name.lower() if lower else name
    target = aliases.get(key)
    if target in families:
        return target, False
    match = _CUT.fullmatch(name)
    if match and cuts.get(match["base"].lower() if lower else match["base"]) in families:
        _merge(name, params, {"cutoff": int(match["k"])})
        return cuts[match["base"].lower() if lower else match["base"]], False
    if cuts.get(key) in families:
        return cuts[key], True
    return None


def _folded(families: Sequence[str], aliases: Mapping[str, str]) -> dict[str, str]:
    """Lower-case name → the one family it names (names naming two families in other cases are left out)."""
    targets: dict[str, set[str]] = {}
    for name in families:
        targets.setdefault(name.lower(), set()).add(name)
    for name, target in aliases.items():
        if target in families:
            targets.setdefault(name.lower(), set()).add(target)
    return {name: next(iter(found)) for name, found in targets.items() if len(found) == 1}


def _unknown(name: str, params: dict[str, Any], registry: Registry, aliases: Mapping[str, str],
             cuts: Mapping[str, str]) -> str:
    """Why ``name`` names no metric: a measure of ir_measures or trec_eval the installed families do not
    compute, several trec_eval cutoffs in one name, or no such name (with the closest one, a family's
    name, an alias or a trec_eval name, shown as the metric it would give: Recal@100 → R@100)."""
    import difflib

    from .builtin.measures import NO_EQUIVALENT

    families = registry.names("metric")
    installed = f"installed: {', '.join(families) or 'none'}"
    several = _CUTS.fullmatch(name)
    if several:
        target = _folded(families, {**aliases, **cuts}).get(several["base"].lower())
        if target:
            each = ", ".join(f"{target}@{k}" for k in several["ks"].split(","))
            return f"metric {name!r} names several measures: list each ({each})"
    base = _SUFFIX.fullmatch(name)["base"]
    lowered = {n.lower(): n for n in NO_EQUIVALENT}
    known = base if base in NO_EQUIVALENT else lowered.get(base.lower())
    if known:
        return (f"no metric named {name!r}: {known} ({NO_EQUIVALENT[known]}) has no equivalent among the "
                f"installed metrics (docs/metrics.md#aliases lists the names accepted); {installed}")
    names = _folded(families, {**aliases, **cuts})
    hint = ""
    for word, more in _candidates(name):
        close = difflib.get_close_matches(word.lower(), list(names), n=1, cutoff=0.5)
        if close:
            if more and "cutoff" not in params:
                params = {**params, "cutoff": more}
            hint = f" (did you mean {_shown(names[close[0]], params, registry)!r}?)"
            break
    return f"no metric named {name!r}{hint}; {installed}"


def _candidates(name: str) -> list[tuple[str, int | None]]:
    """The words to look up for a misspelt ``name``: ``ndcg_cutt_10`` without its cutoff first (with
    the cutoff to show), then the whole name."""
    match = _CUT.fullmatch(name)
    return ([(match["base"], int(match["k"]))] if match else []) + [(name, None)]


def _shown(family: str, params: dict[str, Any], registry: Registry) -> str:
    """``family`` with ``params`` as its label (R@100), or the family's name where they do not fit it."""
    try:
        cls = registry.get("metric", family)
        if check_params(cls.params, params) or (cls.cutoff_rule == "none" and "cutoff" in params):
            return family
        return cls(**params).label
    except Exception:  # a plugin's family that cannot be built this way: its name will do
        return family


def evaluate(
    metrics: Sequence[Metric],
    qrels: dict[str, dict[str, int]],
    run: Run | Mapping[str, Mapping[str, float]],
    ctx: Context | None = None,
    complete: bool = True,
) -> dict[str, MetricValue]:
    """Each metric's value, keyed by label in the order given.

    ``complete=True`` is trec_eval -c: every judged query counts, and one the run has no results
    for is scored as an empty ranking (0 for every built-in metric). ``complete=False`` averages
    over the judged queries the run has. Run queries without judgments are ignored, as trec_eval
    ignores them. Metrics needing artifacts ``ctx`` lacks come back with ``aggregate=None``.

    Each metric is isolated: one whose ``evaluate_batch`` raises, or returns something other than
    a ``MetricValue`` of finite numbers (per-query values only for the evaluated queries, details
    that are JSON data), comes back unavailable (``aggregate=None``, the reason, naming the
    metric, in ``details["unavailable"]``); the others keep their values.
    """
    ctx = ctx or Context()
    if not isinstance(run, Run):
        run = Run.from_scores(run)
    # The queries evaluated, each with its documents (shared, not copied). pytrec_eval skips a
    # query without judgments, as trec_eval never sees one; so does everything here.
    if complete:
        view = run._view(q for q, judged in qrels.items() if judged)
    else:
        view = run._view(q for q in run if qrels.get(q))
    details = {
        "queries": len(view),
        "queries_without_results": view._sizes().count(0),
        "complete": complete,
    }
    out: dict[str, MetricValue] = {}
    batches: dict[Any, list[Metric]] = {}
    for metric in metrics:
        missing = [name for name in metric.requires if name not in ctx.artifacts]
        if missing:
            why = {"unavailable": f"needs {', '.join(missing)}"}
            out[metric.label] = MetricValue(aggregate=None, per_query=None, details=why)
        else:  # classes sharing one evaluate_batch implementation are evaluated in one call
            batch = type(metric).evaluate_batch
            batches.setdefault(getattr(batch, "__func__", batch), []).append(metric)
    evaluated: set[str] | None = None  # the query ids a per-query value may name, made when first needed
    for batch in batches.values():
        for metric, value in _isolated(batch, qrels, view, ctx):
            if value.aggregate is not None and value.per_query is not None:
                if evaluated is None:
                    evaluated = set(view)
                value = _checked_queries(metric, value, evaluated)
            value.details = {**details, **value.details}
            out[metric.label] = value
    return {m.label: out[m.label] for m in metrics}


# -- isolation: a metric that fails is unavailable for the cell, with the reason ---------------------


def unavailable(reason: str) -> MetricValue:
    """The value of a metric that failed for a cell: ``aggregate`` None, the reason in
    ``details["unavailable"]``, and ``details["failed"]`` true (a metric that is merely not
    applicable, one needing artifacts the cell lacks, has the reason without it)."""
    return MetricValue(aggregate=None, per_query=None, details={"unavailable": reason, "failed": True})


def _isolated(batch: list[Metric], qrels: dict, view: Run, ctx: Context):
    """``(metric, value)`` for each metric of ``batch`` (classes sharing one ``evaluate_batch``),
    each value checked (``_checked``): a batch that raises is evaluated again one metric at a time,
    so only the metrics that fail on their own are unavailable, each with its reason."""
    try:
        values = type(batch[0]).evaluate_batch(batch, qrels, view, ctx)
    except (Exception, SystemExit) as exc:  # a plugin's failure (sys.exit() too), reported as its metric's
        if len(batch) > 1:
            for metric in batch:
                yield from _isolated([metric], qrels, view, ctx)
            return
        yield batch[0], unavailable(f"{batch[0].label} raised {type(exc).__name__}: {_said(exc)}")
        return
    for metric in batch:
        yield metric, _checked(metric, values)


def _said(exc: BaseException) -> str:
    """What an exception says, even when its ``__str__`` raises in turn."""
    try:
        return str(exc)
    except Exception:  # a plugin's exception that cannot print itself
        return "(its message cannot be printed)"


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a real number (numpy's included, bool not), else None."""
    from numbers import Real

    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _checked(metric: Metric, values: Any) -> MetricValue:
    """``metric``'s value from what its ``evaluate_batch`` returned, or ``unavailable`` saying
    what is wrong with it: not a ``MetricValue``, an aggregate that is not a finite number (None
    is kept when the metric says why in ``details["unavailable"]``), per-query values that are
    not a dict of finite numbers, details that are not JSON data."""
    import json
    import math

    label = metric.label
    if not isinstance(values, Mapping):
        return unavailable(f"{label}: evaluate_batch returned {type(values).__name__}, not a dict of MetricValue")
    value = values.get(label)
    if not isinstance(value, MetricValue):
        got = "nothing" if label not in values else type(value).__name__
        return unavailable(f"{label}: evaluate returned {got}, not a MetricValue")
    details = value.details if value.details is not None else {}
    if not isinstance(details, dict):
        return unavailable(f"{label}: details are {type(details).__name__}, not a dict")
    try:
        json.dumps(details, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested beyond reading back
        return unavailable(f"{label}: details are not JSON data ({type(exc).__name__}: {exc})")
    if value.aggregate is None:
        reason = details.get("unavailable")
        if not isinstance(reason, str) or not reason:
            return unavailable(f"{label} returned no value (aggregate None) and no reason")
        return MetricValue(None, None, details)
    aggregate = _number(value.aggregate)
    if aggregate is None:
        return unavailable(f"{label} returned {value.aggregate!r} ({type(value.aggregate).__name__}), "
                           "not a number")
    if not math.isfinite(aggregate):
        return unavailable(f"{label} returned {aggregate} (not a finite number)")
    bound = metric.upper_bound
    slack = 1e-9 * max(1.0, abs(bound)) if bound is not None else 0.0  # float rounding of a mean
    if bound is not None and aggregate > bound + slack:
        return unavailable(f"{label} returned {aggregate}, above its declared upper_bound {bound}")
    per_query = value.per_query
    if per_query is not None:
        if not isinstance(per_query, Mapping):
            return unavailable(f"{label}: per-query values are {type(per_query).__name__}, not a dict")
        plain = {}
        for qid, v in per_query.items():
            number = _number(v)
            if number is None or not math.isfinite(number):
                shown = f"{v!r} ({type(v).__name__})" if number is None else str(number)
                return unavailable(f"{label}: query {qid!r}: value {shown} is not a finite number")
            if bound is not None and number > bound + slack:
                return unavailable(f"{label}: query {qid!r}: value {number} is above its declared upper_bound {bound}")
            plain[qid] = number
        per_query = plain
    return MetricValue(aggregate, per_query, details)


def _checked_queries(metric: Metric, value: MetricValue, evaluated: set[str]) -> MetricValue:
    """``value``, or ``unavailable`` when its per-query values name a query that was not
    evaluated (not judged, or not in the run under ``complete=False``)."""
    stray = [q for q in value.per_query if q not in evaluated]
    if stray:
        return unavailable(f"{metric.label}: per-query values for {len(stray)} quer{'y' if len(stray) == 1 else 'ies'} "
                           f"not among the {len(evaluated)} evaluated (e.g. {stray[0]!r})")
    return value


def trec_eval_report(
    qrels: dict[str, dict[str, int]],
    run: Run | Mapping[str, Mapping[str, float]],
    metrics: Sequence[Metric | str | Mapping[str, Any]],
    per_query: bool = False,
    complete: bool = False,
    precision: int = 4,
) -> str:
    """The text ``harness eval`` prints: trec_eval's ``measure<TAB>qid<TAB>value`` lines.

    With ``per_query`` (trec_eval -q), each query's lines come first, queries sorted by id as
    strings; as in trec_eval, only queries the run has results for get them (-c changes the
    ``all`` lines only). ``complete`` is trec_eval -c.
    """
    parsed = [m if isinstance(m, Metric) else parse_metric(m) for m in metrics]
    if not isinstance(run, Run):
        run = Run.from_scores(run)
    values = evaluate(parsed, qrels, run, complete=complete)
    missing = [(label, value.details.get("unavailable") or "no value") for label, value in values.items()
               if value.aggregate is None]
    if missing:
        needs = {m.label: m.requires for m in parsed}
        raise MetricError("; ".join(
            f"{label} {why}, which a run file lacks" if needs.get(label) and why.startswith("needs ")
            else f"{label} is unavailable: {why}" for label, why in missing))

    def line(label: str, qid: str, value: float) -> str:
        return f"{label:<22}\t{qid}\t{value:6.{precision}f}\n"  # trec_eval: "%-22s\t%s\t%6.4f\n"

    lines = []
    if per_query:
        shown = [(label, v.per_query) for label, v in values.items() if v.per_query is not None]
        retrieved = {q for q, n in zip(run, run._sizes(), strict=True) if n}
        for qid in sorted({q for _, pq in shown for q in pq}):
            if qid in retrieved:
                lines += [line(label, qid, pq[qid]) for label, pq in shown if qid in pq]
    lines += [line(label, "all", v.aggregate) for label, v in values.items()]
    return "".join(lines)
