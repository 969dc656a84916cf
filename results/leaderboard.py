"""``gcop leaderboard``: one row per (benchmark, split, core, guide, recipe) from a folder of
Inspect logs, written as Markdown, JSON, a static sortable HTML page and a plot of accuracy
against total inference cost with the Pareto frontier (the paper's Figure 1).

Definitions (per row, over the log's *scored* samples; samples that ended in an error are
counted in ``errors`` and left out of every figure):

* ``n``: scored problems (distinct ids); ``attempts`` the scored samples (problems x epochs).
* ``accuracy``: the mean over problems of each problem's mean score (with one epoch: correct / n),
  with a 95% Wilson score interval over the n problems, each problem's mean score as its outcome.
  With several epochs this is an interval clustered by problem, and a conservative one (a
  problem's mean varies at most as a Bernoulli outcome does), where a Wilson interval over the
  attempts would treat k tries of one problem as k independent ones and be too narrow.
* ``$ per 1,000 problems``: 1000 x (sum of the samples' $) / n, every attempt of a problem
  included, for the guide, the core and the total (see :mod:`gcop.results.logs` for the role split).
  ``None`` (shown "—") when any sample used a model without a price.
* ``tokens per problem``: input/output tokens per problem for each role, all its attempts together.
* ``strategy validity`` / ``leak rate``: the mean of the scores' ``strategy_valid`` / ``leaked``
  over the samples that have one (guided rows only).

Comparability: rows whose data revision or prompt versions differ are never pooled. Within a
benchmark and split, each distinct (data revision, core prompt version) is a *variant*; when
there is more than one, every row carries a visible marker (``v1``, ``v2``, ...), the legend
says what each marker stands for, a warning is printed and recorded in ``leaderboard.json``,
and each variant gets its own panel and Pareto frontier. Guided rows with different guide
prompt versions are marked ``g1``, ``g2``, ... (with a warning) and stay separate rows and
points in their panel. When a row has
several logs (re-runs), the most complete one is used (most distinct problems; the newest among
equals) and the others are listed as superseded, with their sizes, in the warnings: a smaller run
never replaces a larger one.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gcop.stats import wilson_interval

from .logs import LogError, Run, local_path, log_files, mean_or_none, read_header, read_run, run_info, sum_or_none
from .ranks import paired_cohort, pareto_probability, rank_sets, score_matrix

ROLES = ("guide", "core", "strong", "total")
RECIPE_COLOURS = {"core": "#6b6b6b", "icl": "#1f77b4", "reference-core": "#ff7f0e", "guided": "#2ca02c",
                  "cascade": "#8c564b", "guided-cascade": "#17becf", "memory": "#e377c2"}


def cascade_curves(rows: Sequence[Row]) -> list[list[Row]]:
    """The cascades among ``rows`` with two or more thresholds, each as its points by cost."""
    curves: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.curve and row.accuracy is not None and row.cost_per_1k["total"] is not None:
            curves[row.curve].append(row)
    return [sorted(c, key=lambda r: (r.cost_per_1k["total"], r.cascade.get("threshold") or 0))
            for c in curves.values() if len(c) > 1]


@dataclass
class Row:
    benchmark: str
    split: str
    core: str
    guide: str | None
    guide_model: str | None
    recipe: str
    n: int
    problems: int
    epochs: int
    #: scored samples (problems x epochs)
    attempts: int
    errors: int
    correct: int
    accuracy: float | None
    accuracy_ci95: tuple[float, float] | None
    cost_per_1k: dict[str, float | None]
    tokens_per_problem: dict[str, dict[str, float]]
    tokens_total: dict[str, dict[str, int]]
    strategy_validity: float | None
    leak_rate: float | None
    data_revision: str
    core_prompt_version: str
    guide_prompt_version: str | None
    date: str
    created: str
    log: str
    variant: str = ""  # data revision / core prompt marker (v1, v2, ...): separate panels
    #: accuracy with every sample whose strategy leaked counted as a failure (guided rows)
    accuracy_without_leaks: float | None = None
    #: roles priced at a batch API's rate (Inspect's --batch), e.g. {"core": 0.5}; empty: list prices
    batch_priced: dict[str, float] = field(default_factory=dict)
    guide_variant: str = ""  # guide prompt marker (g1, g2, ...): separate rows, same panel
    pareto: bool = False
    superseded_logs: list[str] = field(default_factory=list)
    #: 95% rank-set among the rows of its benchmark/split/variant run on the same problems
    #: (gcop.results.ranks); None when the row could not be paired with them.
    rank_low: int | None = None
    rank_high: int | None = None
    #: Share of the same bootstrap draws in which the row is on the accuracy/cost frontier.
    pareto_probability: float | None = None
    #: Per problem: its mean score and its $ (all attempts); what the rank-sets resample. Not exported.
    problem_scores: dict[str, float] = field(default_factory=dict, repr=False)
    problem_costs: dict[str, float] | None = field(default=None, repr=False)
    #: Cascade rows: the strong model, the deferral rule (rule, k, threshold), the share of
    #: problems escalated, the cheap core's own accuracy, the memory's final size (memory rows).
    strong_model: str | None = None
    cascade: dict[str, Any] = field(default_factory=dict)
    escalation_rate: float | None = None
    cheap_accuracy: float | None = None
    memory_size: int | None = None

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.benchmark, self.split, self.variant)

    @property
    def marker(self) -> str:
        return " ".join(m for m in (self.variant, self.guide_variant) if m)

    @property
    def curve(self) -> str | None:
        """Rows that differ only in the cascade threshold are one cascade: a curve on the plot."""
        if not self.cascade:
            return None
        return "|".join(str(x) for x in (self.recipe, self.core, self.guide, self.strong_model, self.cascade.get("rule"),
                                          self.cascade.get("k"), self.variant))

    @property
    def label(self) -> str:
        if self.cascade:
            head = f"{_short(self.core)} + {self.guide}" if self.guide else _short(self.core)
            kind = "memory" if self.recipe == "memory" else "cascade"
            return f"{head} {kind}→{_short(self.strong_model or '?')} t={self.cascade.get('threshold')}"
        if self.recipe == "guided":
            return f"{_short(self.core)} + {self.guide}" + (f" [{self.guide_variant}]" if self.guide_variant else "")
        if self.recipe == "icl":
            return f"{_short(self.core)} + ICL"
        return _short(self.core)


def _short(model: str) -> str:
    return model.split("/", 1)[-1] if "/" in model else model


@dataclass
class Leaderboard:
    rows: list[Row]
    warnings: list[str]
    skipped: list[dict[str, str]]
    variants: dict[str, dict[str, Any]]  # "benchmark/split vN" -> its revision and prompts
    sources: list[str]
    #: How the runs were produced (a command, the models), shown above the table.
    note: str | None = None
    generated: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "sources": self.sources,
            "note": self.note,
            "definitions": {
                "n": "scored problems (distinct ids); errored samples excluded and counted in 'errors'",
                "attempts": "scored samples: n problems x epochs",
                "accuracy": "mean over the n problems of each problem's mean score over its attempts",
                "accuracy_ci95": "Wilson score interval, z=1.96, over the n problems with each problem's mean score as its outcome (clustered by problem; conservative with several epochs)",
                "cost_per_1k": "US$ per 1,000 problems: 1000 * sum(sample $) / n, all attempts of a problem included; null when a model was unpriced",
                "tokens_per_problem": "tokens per problem, all its attempts together, per role (guide: the guide role's usage; core: the rest)",
                "strategy_validity": "mean of the scores' strategy_valid over guided samples",
                "leak_rate": "mean of the scores' leaked over samples with a valid strategy",
                "accuracy_without_leaks": "guided rows: share of scored samples that are correct and whose strategy did not leak (gcop.evals.leaks); a row cannot gain from leaks",
                "cascade": "cascade rows (recipes cascade, guided-cascade, memory): the deferral rule, its k cheap samples and threshold; rows that differ only in the threshold are drawn as one curve",
                "escalation_rate": "share of scored samples sent to the strong model", "cheap_accuracy": "share of scored samples whose cheap-core answer passed (escalated or not)",
                "memory_size": "memory rows: strategies in the memory at the end of the run",
                "variant": "v1, v2, ... when a benchmark/split has rows from more than one (data revision, core prompt version): separate panels and frontiers; see 'variants'",
                "guide_variant": "g1, g2, ... when guided rows of a benchmark/split use more than one guide prompt version; see 'variants'",
                "pareto": "on the accuracy-vs-total-cost Pareto frontier of its benchmark/split/variant",
                "rank_set": "95% rank-set (1 = most accurate) among the rows of its benchmark/split/variant run on the same problem ids: paired bootstrap over those problems, simultaneous intervals for every pairwise difference (studentised maximum); every row's true rank lies in its set at once with probability >= 95%. null: not paired (see warnings)",
                "rank_low": "the rank-set's best rank", "rank_high": "the rank-set's worst rank",
                "pareto_probability": "share of the same bootstrap draws (accuracy and cost per problem both resampled) in which the row is on the frontier; null when not paired or a cost is unknown",
                "batch_priced": "roles run through a batch API (Inspect's --batch) -> the factor of list prices they are priced at (results/models.yaml batch_discount); empty: list prices",
            },
            "rows": [_row_dict(r) for r in self.rows],
            "variants": self.variants,
            "warnings": self.warnings,
            "skipped_logs": self.skipped,
        }


def _row_dict(row: Row) -> dict[str, Any]:
    d = asdict(row)
    d["accuracy_ci95"] = list(row.accuracy_ci95) if row.accuracy_ci95 else None
    d.pop("problem_scores")
    d.pop("problem_costs")
    d["rank_set"] = fmt_rank(row) if row.rank_low is not None else None
    return d


# --------------------------------------------------------------------------- building


def row_from_run(run: Run) -> Row:
    info = run.info
    scored = run.scored
    by_problem: dict[str, list[Any]] = defaultdict(list)
    for sample in scored:
        by_problem[sample.id].append(sample)
    n = len(by_problem)
    correct = sum(1 for s in scored if s.correct)
    per_problem = {pid: sum(1 for s in attempts if s.correct) / len(attempts) for pid, attempts in by_problem.items()}
    problem_means = list(per_problem.values())
    costs = {pid: sum_or_none(s.cost["total"] for s in attempts) for pid, attempts in by_problem.items()}
    problem_costs = None if any(c is None for c in costs.values()) else {p: float(c) for p, c in costs.items() if c is not None}
    accuracy = (sum(problem_means) / n) if n else None
    cost = {}
    for role in ROLES:
        total = sum_or_none(s.cost[role] for s in scored)
        cost[role] = (1000.0 * total / n) if (total is not None and n) else None
    tokens_total = {
        role: {k: sum(s.tokens.get(role, {}).get(k, 0) for s in scored) for k in ("input_tokens", "output_tokens", "total_tokens")}
        for role in ("guide", "core", "strong")
    }
    tokens_pp = {role: {k: (v / n if n else 0.0) for k, v in t.items()} for role, t in tokens_total.items()}
    guided = info.recipe in ("guided", "guided-cascade") or info.mode in ("guided", "guided_cascade")
    cascade = bool(info.cascade)
    sizes = [s.memory_size for s in scored if s.memory_size is not None]
    return Row(
        benchmark=info.benchmark,
        split=info.split,
        core=info.core,
        guide=info.guide if guided else None,
        guide_model=info.guide_model if guided else None,
        recipe=info.recipe,
        n=n,
        problems=n,
        epochs=info.epochs,
        attempts=len(scored),
        errors=len(run.errors),
        correct=correct,
        accuracy=accuracy,
        accuracy_ci95=wilson_interval(sum(problem_means), n),
        cost_per_1k=cost,
        tokens_per_problem=tokens_pp,
        tokens_total=tokens_total,
        strategy_validity=mean_or_none(s.strategy_valid for s in scored) if guided else None,
        leak_rate=mean_or_none(s.leaked for s in scored) if guided else None,
        accuracy_without_leaks=mean_or_none(bool(s.correct) and not s.leaked for s in scored) if guided else None,
        data_revision=info.data_revision,
        core_prompt_version=info.core_prompt_version,
        guide_prompt_version=info.guide_prompt_version if guided else None,
        batch_priced=dict(info.batch_priced),
        date=info.created[:10],
        created=info.created,
        log=_display_path(info.path),
        problem_scores=per_problem,
        problem_costs=problem_costs,
        strong_model=info.strong_model if cascade else None,
        cascade=dict(info.cascade),
        escalation_rate=mean_or_none(s.escalated for s in scored) if cascade else None,
        cheap_accuracy=mean_or_none(s.cheap_correct for s in scored) if cascade else None,
        memory_size=max(sizes) if sizes else None,
    )


def _display_path(path: str) -> str:
    path = local_path(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def build_leaderboard(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], note: str | None = None) -> Leaderboard:
    """Read every gcop log under ``sources`` (folders or files) and make the rows.

    ``note`` says how the runs were produced; it is printed above the table in every format.
    """
    source_list = [os.fspath(sources)] if isinstance(sources, (str, os.PathLike)) else [os.fspath(s) for s in sources]
    warnings: list[str] = []
    skipped: list[dict[str, str]] = []
    candidates: dict[tuple[Any, ...], list[tuple[int, str, str]]] = defaultdict(list)  # key -> [(problems, created, path)]
    for path in log_files(source_list):
        try:
            header = read_header(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, not fatal
            skipped.append({"log": _display_path(path), "reason": f"unreadable: {exc}"})
            continue
        if header.status != "success":
            skipped.append({"log": _display_path(path), "reason": f"status {header.status} (incomplete run)"})
            continue
        try:
            info = run_info(header)
        except LogError as exc:
            skipped.append({"log": _display_path(path), "reason": str(exc).split(": ", 1)[-1]})
            continue
        cascade = tuple(sorted((k, str(v)) for k, v in info.cascade.items())) + ((info.strong_model or ""),)
        key = (info.benchmark, info.split, info.core, info.guide or "", info.recipe, info.data_revision, info.prompt_versions,
               cascade)
        candidates[key].append((_problems_in(header), info.created, path))
    rows: list[Row] = []
    for found in candidates.values():
        found.sort(reverse=True)  # most problems first, then the newest
        chosen = found[0][2]
        row = row_from_run(read_run(chosen))
        if len(found) > 1:
            row.superseded_logs = [_display_path(p) for _, _, p in found[1:]]
            sizes = ", ".join(f"{_display_path(p)} ({size} problems)" for size, _, p in found[1:])
            warnings.append(
                f"{row.benchmark}/{row.split} {row.label} ({row.recipe}): {len(found)} logs for this row; "
                f"using the most complete ({found[0][0]} problems; the newest among equals): {row.log}; superseded: {sizes}"
            )
        if row.errors:
            warnings.append(f"{row.benchmark}/{row.split} {row.label} ({row.recipe}): {row.errors} sample(s) ended in an error and are left out ({row.log})")
        if row.n and row.cost_per_1k["total"] is None:
            warnings.append(f"{row.benchmark}/{row.split} {row.label} ({row.recipe}): a model has no price, so $ is unknown and the row is not plotted ({row.log})")
        rows.append(row)
    variants = _assign_variants(rows, warnings)
    _mark_pareto(rows)
    _mark_ranks(rows, warnings)
    rows.sort(key=lambda r: (r.benchmark, r.split, r.variant, r.guide_variant, -(r.accuracy if r.accuracy is not None else -1.0),
                             r.cost_per_1k["total"] if r.cost_per_1k["total"] is not None else math.inf, r.label))
    return Leaderboard(rows=rows, warnings=warnings, skipped=skipped, variants=variants, sources=source_list, note=note)


def _problems_in(header: Any) -> int:
    """Distinct problems a complete log scored, from its header (samples / epochs)."""
    results = header.results
    samples = (results.completed_samples or results.total_samples or 0) if results is not None else 0
    return int(samples) // max(1, int(header.eval.config.epochs or 1))


def _assign_variants(rows: list[Row], warnings: list[str]) -> dict[str, dict[str, Any]]:
    """Mark rows of one benchmark/split that come from different data revisions or prompt versions.

    * data revision or core prompt version: ``v1``, ``v2``, ... -- separate panels and frontiers
      (every row of one benchmark would be affected, so they are never compared);
    * guide prompt version (guided rows only): ``g1``, ``g2``, ... -- separate, marked rows in the
      same panel (a guide prompt is part of the guided configuration, like the guide itself).
    """
    variants: dict[str, dict[str, Any]] = {}
    by_bench: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_bench[(row.benchmark, row.split)].append(row)
    for (benchmark, split), group in sorted(by_bench.items()):
        keys = sorted({(r.data_revision, r.core_prompt_version) for r in group})
        if len(keys) > 1:
            described = []
            for number, (revision, core_prompt) in enumerate(keys, start=1):
                members = [r for r in group if (r.data_revision, r.core_prompt_version) == (revision, core_prompt)]
                for r in members:
                    r.variant = f"v{number}"
                variants[f"{benchmark}/{split} v{number}"] = {
                    "data_revision": revision, "core_prompt_version": core_prompt,
                    "guide_prompt_versions": sorted({r.guide_prompt_version for r in members if r.guide_prompt_version}),
                    "rows": len(members),
                }
                described.append(f"v{number} = data {revision}, core prompt {core_prompt}")
            warnings.append(
                f"{benchmark}/{split}: rows come from {len(keys)} different data revisions / core prompt versions; "
                f"they are marked and never pooled (separate panels and frontiers): {'; '.join(described)}"
            )
        guide_versions = sorted({r.guide_prompt_version for r in group if r.guide_prompt_version})
        if len(guide_versions) > 1:
            for number, version in enumerate(guide_versions, start=1):
                members = [r for r in group if r.guide_prompt_version == version]
                for r in members:
                    r.guide_variant = f"g{number}"
                variants[f"{benchmark}/{split} g{number}"] = {
                    "data_revision": ", ".join(sorted({r.data_revision for r in members})),
                    "core_prompt_version": ", ".join(sorted({r.core_prompt_version for r in members})),
                    "guide_prompt_versions": [version], "rows": len(members),
                }
            warnings.append(
                f"{benchmark}/{split}: guided rows use {len(guide_versions)} guide prompt versions; they are separate "
                f"rows marked {', '.join(f'g{i} = {v}' for i, v in enumerate(guide_versions, start=1))}"
            )
    return variants


def _mark_pareto(rows: list[Row]) -> None:
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.accuracy is not None and row.cost_per_1k["total"] is not None:
            groups[row.group].append(row)
    for members in groups.values():
        for row in pareto_frontier(members):
            row.pareto = True


def _mark_ranks(rows: list[Row], warnings: list[str]) -> None:
    """Rank-sets and Pareto probabilities per benchmark/split/variant, over the rows that share
    their problem ids (gcop.results.ranks); rows run on other ids are named in a warning."""
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.n:
            groups[row.group].append(row)
    for (bench, split, variant), members in groups.items():
        cohort, apart = paired_cohort({k: frozenset(r.problem_scores) for k, r in enumerate(members)})
        ranked = [members[k] for k in cohort]
        ids = sorted(ranked[0].problem_scores)
        for row, rank in zip(ranked, rank_sets(score_matrix([r.problem_scores for r in ranked], ids)), strict=True):
            row.rank_low, row.rank_high = rank.low, rank.high
        if all(r.problem_costs is not None for r in ranked):
            costs = score_matrix([r.problem_costs for r in ranked], ids)  # type: ignore[misc]
            probabilities = pareto_probability(score_matrix([r.problem_scores for r in ranked], ids), costs)
            for row, p in zip(ranked, probabilities, strict=True):
                row.pareto_probability = p
        if apart:
            names = ", ".join(f"{members[k].label} ({members[k].recipe}, {members[k].n} problems)" for k in apart)
            where = f"{bench}/{split}" + (f" [{variant}]" if variant else "")
            warnings.append(f"{where}: not ranked with the others, because they were not run on the same sample ids "
                            f"(rank-sets pair rows problem by problem): {names}")


def pareto_frontier(rows: Sequence[Row]) -> list[Row]:
    """Rows not dominated by another (no other row at most as costly and at least as accurate,
    with one of the two strictly), in order of cost."""
    ordered = sorted(rows, key=lambda r: (r.cost_per_1k["total"], -(r.accuracy or 0.0)))
    frontier: list[Row] = []
    best = -math.inf
    for row in ordered:
        if (row.accuracy or 0.0) > best:
            frontier.append(row)
            best = row.accuracy or 0.0
    return frontier


# --------------------------------------------------------------------------- formatting


def fmt_money(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "$0"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    return f"${x:.3g}" if abs(x) < 1 else f"${x:.2f}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def fmt_acc(row: Row) -> str:
    if row.accuracy is None:
        return "—"
    lo, hi = row.accuracy_ci95 or (float("nan"), float("nan"))
    return f"{100 * row.accuracy:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def fmt_rank(row: Row) -> str:
    if row.rank_low is None or row.rank_high is None:
        return "—"
    return str(row.rank_low) if row.rank_low == row.rank_high else f"{row.rank_low}–{row.rank_high}"


def fmt_tokens(t: dict[str, float]) -> str:
    return f"{t['input_tokens']:.0f} / {t['output_tokens']:.0f}"


COLUMNS: list[tuple[str, str]] = [
    # (header, kind for sorting)
    ("benchmark", "text"), ("split", "text"), ("core", "text"), ("guide", "text"), ("recipe", "text"),
    ("n", "num"), ("accuracy (95% CI)", "num"), ("$/1k guide", "num"), ("$/1k core", "num"),
    ("$/1k strong", "num"), ("$/1k total", "num"), ("guide tokens/problem (in / out)", "num"), ("core tokens/problem (in / out)", "num"),
    ("strategy valid", "num"), ("leak rate", "num"), ("escalated (cheap acc.)", "num"), ("Pareto", "text"), ("rank (95% set)", "num"),
    ("P(Pareto)", "num"), ("date", "text"), ("log", "text"),
]


def fmt_recipe(row: Row) -> str:
    """The recipe, and for a cascade row what it escalates to and by which rule."""
    if not row.cascade:
        return row.recipe
    c = row.cascade
    return f"{row.recipe} → {row.strong_model} ({c.get('rule')}, k={c.get('k')}, threshold {c.get('threshold'):g})"


def _cells(row: Row) -> list[tuple[str, Any]]:
    """(display text, sort key) for each column."""
    bench = row.benchmark + (f" [{row.marker}]" if row.marker else "")
    guide = row.guide or "—"
    if row.guide and row.guide_model and row.guide_model != row.guide:
        guide = f"{row.guide} ({row.guide_model})"
    return [
        (bench, bench), (row.split, row.split), (row.core, row.core), (guide, guide), (fmt_recipe(row), fmt_recipe(row)),
        (str(row.n) + (f" ({row.attempts} attempts)" if row.attempts != row.n else ""), row.n), (fmt_acc(row), row.accuracy),
        (fmt_money(row.cost_per_1k["guide"]) + (" (batch)" if "guide" in row.batch_priced else ""), row.cost_per_1k["guide"]),
        (fmt_money(row.cost_per_1k["core"]) + (" (batch)" if "core" in row.batch_priced else ""), row.cost_per_1k["core"]),
        (fmt_money(row.cost_per_1k["strong"]) if row.cascade else "—", row.cost_per_1k["strong"] if row.cascade else None),
        (fmt_money(row.cost_per_1k["total"]), row.cost_per_1k["total"]),
        (fmt_tokens(row.tokens_per_problem["guide"]), row.tokens_per_problem["guide"]["total_tokens"]),
        (fmt_tokens(row.tokens_per_problem["core"]), row.tokens_per_problem["core"]["total_tokens"]),
        (fmt_pct(row.strategy_validity), row.strategy_validity), (fmt_pct(row.leak_rate), row.leak_rate),
        (f"{fmt_pct(row.escalation_rate)} ({fmt_pct(row.cheap_accuracy)})" if row.cascade else "—", row.escalation_rate),
        ("★" if row.pareto else "", 1 if row.pareto else 0),
        (fmt_rank(row), None if row.rank_low is None else row.rank_low + (row.rank_high or row.rank_low) / 1000),
        (fmt_pct(row.pareto_probability, 0), row.pareto_probability),
        (row.date, row.created), (row.log, row.log),
    ]


def _legend_lines(board: Leaderboard) -> list[str]:
    return [f"{name}: data {v['data_revision']}, core prompt {v['core_prompt_version']}"
            + (f", guide prompt {', '.join(v['guide_prompt_versions'])}" if v["guide_prompt_versions"] else "")
            for name, v in board.variants.items()]


def _provenance(board: Leaderboard) -> list[str]:
    """Per benchmark: the data revisions and prompt versions its rows come from."""
    out = []
    for bench in sorted({r.benchmark for r in board.rows}):
        rows = [r for r in board.rows if r.benchmark == bench]
        data = ", ".join(sorted({r.data_revision for r in rows}))
        core = ", ".join(sorted({r.core_prompt_version for r in rows}))
        guide = ", ".join(sorted({r.guide_prompt_version for r in rows if r.guide_prompt_version})) or "—"
        out.append(f"{bench}: data {data}; core prompt {core}; guide prompt {guide}")
    return out


def to_markdown(board: Leaderboard, plot_name: str | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["# Leaderboard", "",
             f"Generated {board.generated} from {', '.join(board.sources)}. Accuracy with a 95% Wilson interval; "
             "$ per 1,000 problems (list prices, `results/prices.yaml`; \"(batch)\": a `--batch` run, at the batch price); ★ = on the accuracy/cost Pareto frontier "
             "of its benchmark. rank (95% set): the ranks a row could hold among the rows run on the same problems "
             "(\"2–4\": not distinguishable from ranks 2 to 4; all rows' true ranks lie in their sets at once with "
             "probability 95%); P(Pareto): how often it is on the frontier when the problems are resampled.", ""]
    if board.note:
        lines[2:2] = [f"**How these runs were produced:** {board.note}", ""]
    lines.append("| " + " | ".join(h for h, _ in COLUMNS) + " |")
    lines.append("| " + " | ".join("---:" if kind == "num" else "---" for _, kind in COLUMNS) + " |")
    for row in board.rows:
        lines.append("| " + " | ".join(esc(text) for text, _ in _cells(row)) + " |")
    if not board.rows:
        lines.append("| " + " | ".join("" for _ in COLUMNS) + " |")
    provenance = _provenance(board)
    if provenance:
        lines += ["", "Data and prompts: " + "; ".join(provenance) + "."]
    if board.variants:
        lines += ["", "**Variants** (rows that must not be compared across markers):", ""]
        lines += [f"* {line}" for line in _legend_lines(board)]
    if board.warnings:
        lines += ["", "**Warnings**", ""] + [f"* {esc(w)}" for w in board.warnings]
    if board.skipped:
        lines += ["", "Skipped logs:", ""] + [f"* `{s['log']}`: {s['reason']}" for s in board.skipped]
    if plot_name:
        lines += ["", f"![accuracy vs cost]({plot_name})"]
    return "\n".join(lines) + "\n"


SORT_SCRIPT = """
(function () {
  var table = document.getElementById('leaderboard');
  var headers = table.tHead.rows[0].cells;
  function key(cell, kind) {
    var v = cell.getAttribute('data-sort');
    if (kind === 'num') { var f = parseFloat(v); return isNaN(f) ? null : f; }
    return (v === null ? cell.textContent : v).toLowerCase();
  }
  function sortBy(index) {
    var th = headers[index], kind = th.getAttribute('data-kind');
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    for (var i = 0; i < headers.length; i++) headers[i].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], kind), y = key(b.cells[index], kind);
      if (x === null && y === null) return 0;
      if (x === null) return 1;          // missing values last, whichever the direction
      if (y === null) return -1;
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  for (var i = 0; i < headers.length; i++) {
    (function (i) { headers[i].addEventListener('click', function () { sortBy(i); }); })(i);
  }
  window.gcopSortBy = sortBy;
})();
"""

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: ' \\25B2'; }
th[aria-sort=descending]::after { content: ' \\25BC'; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pareto td { background: #f3fbf3; }
.warn { color: #8a5300; }
figure { margin: 1em 0; }
"""


def to_html(board: Leaderboard, svg: str | None) -> str:
    e = html.escape
    head = "".join(f'<th data-kind="{kind}" title="click to sort">{e(h)}</th>' for h, kind in COLUMNS)
    body = []
    for row in board.rows:
        cells = []
        for (text, sort), (_, kind) in zip(_cells(row), COLUMNS, strict=False):
            sort_attr = "" if sort is None else (f"{sort:.12g}" if isinstance(sort, (int, float)) else str(sort))
            cls = ' class="num"' if kind == "num" else ""
            cells.append(f'<td{cls} data-sort="{e(sort_attr)}">{e(text)}</td>')
        tr = '<tr class="pareto">' if row.pareto else "<tr>"
        body.append(tr + "".join(cells) + "</tr>")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>gcop leaderboard</title>", f"<style>{CSS}</style></head><body>",
        "<h1>gcop leaderboard</h1>",
        f"<p>Generated {e(board.generated)} from {e(', '.join(board.sources))}. Accuracy with a 95% Wilson interval; "
        "$ per 1,000 problems; ★ = on the accuracy/cost Pareto frontier of its benchmark. rank (95% set): the ranks a row "
        "could hold among the rows run on the same problems (all true ranks lie in their sets at once with probability 95%); "
        "P(Pareto): how often it is on the frontier when the problems are resampled. Click a column header to sort.</p>",
        *([f'<p class="note"><strong>How these runs were produced:</strong> {e(board.note)}</p>'] if board.note else []),
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>',
    ]
    provenance = _provenance(board)
    if provenance:
        parts.append("<p>Data and prompts: " + e("; ".join(provenance)) + ".</p>")
    if board.variants:
        parts.append("<h2>Variants</h2><ul>" + "".join(f"<li>{e(line)}</li>" for line in _legend_lines(board)) + "</ul>")
    if board.warnings:
        parts.append('<h2>Warnings</h2><ul class="warn">' + "".join(f"<li>{e(w)}</li>" for w in board.warnings) + "</ul>")
    if board.skipped:
        parts.append("<h2>Skipped logs</h2><ul>" + "".join(f"<li><code>{e(s['log'])}</code>: {e(s['reason'])}</li>" for s in board.skipped) + "</ul>")
    if svg:
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        parts.append('<h2>Accuracy vs inference cost</h2><figure>'
                     f'<img alt="accuracy against total inference cost per benchmark, Pareto frontier drawn" src="data:image/svg+xml;base64,{data}">'
                     "<figcaption>One point per row (error bars: 95% Wilson interval); the line is the Pareto frontier. "
                     "Rows with unknown cost are not plotted.</figcaption></figure>")
    parts.append(f"<script>{SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- plots


def _panels(board: Leaderboard) -> list[tuple[str, list[Row]]]:
    panels: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in board.rows:
        if row.accuracy is not None and row.cost_per_1k["total"] is not None:
            panels[row.group].append(row)
    return [(f"{b}/{s}" + (f" [{v}]" if v else ""), rows) for (b, s, v), rows in sorted(panels.items())]


def _use_log_x(rows: list[Row]) -> bool:
    costs = [r.cost_per_1k["total"] for r in rows]
    return all(c and c > 0 for c in costs) and max(costs) / min(costs) > 20  # type: ignore[operator, type-var]


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 12)]
    while ticks[-1] < hi - step * 1e-9:  # the last tick is at or beyond hi: every point is inside
        ticks.append(round(start + len(ticks) * step, 12))
    return ticks


#: Offsets (pixels, label box's anchor corner from the point) tried in turn for a point's number.
_LABEL_OFFSETS = [(7, -7), (7, 5), (-7, -7), (-7, 5), (-3, -16), (-3, 14), (11, -1), (-11, -1)]
LABEL_H = 11.0


def label_width(text: str) -> float:
    return 6.5 * len(text) + 2.0


def place_labels(points: Sequence[tuple[float, float]], texts: Sequence[str],
                 bounds: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Greedy placement of short labels beside points, in pixels (y down): for each point, the
    first offset (tried at growing distances) whose box overlaps no placed label, no point and
    stays inside ``bounds`` (x0, y0, x1, y1). Returns each label box's top-left corner."""
    x0, y0, x1, y1 = bounds
    marks = [(px - 5, py - 5, px + 5, py + 5) for px, py in points]
    placed: list[tuple[float, float, float, float]] = []

    def clear(box: tuple[float, float, float, float]) -> bool:
        if box[0] < x0 or box[1] < y0 or box[2] > x1 or box[3] > y1:
            return False
        return not any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in (*placed, *marks))

    corners = []
    for (px, py), text in zip(points, texts, strict=True):
        w = label_width(text)
        chosen = None
        for scale in (1.0, 1.8, 2.6, 3.4, 4.5):
            for dx, dy in _LABEL_OFFSETS:
                left = px + dx * scale if dx >= 0 else px + dx * scale - w
                top = py + dy * scale if dy >= 0 else py + dy * scale - LABEL_H
                box = (left, top, left + w, top + LABEL_H)
                if clear(box):
                    chosen = box
                    break
            if chosen:
                break
        if chosen is None:  # nowhere free: the first position, inside the panel
            left = min(max(px + 7, x0), x1 - w)
            top = min(max(py - 7 - LABEL_H, y0), y1 - LABEL_H)
            chosen = (left, top, left + w, top + LABEL_H)
        placed.append(chosen)
        corners.append((chosen[0], chosen[1]))
    return corners


def point_numbers(board: Leaderboard) -> dict[int, int]:
    """The number each plotted row carries on the plot and in its key (by the table's order)."""
    plotted = [r for r in board.rows if r.accuracy is not None and r.cost_per_1k["total"] is not None]
    return {id(r): i for i, r in enumerate(plotted, start=1)}


def plot_svg(board: Leaderboard) -> str | None:
    """The plot as hand-written SVG (no dependency): one panel per benchmark/split/variant. Each
    point carries a number placed where it overlaps no other label or point; the panel's key below
    the axes says which row each number is; the legend sits below the panels, off the data."""
    panels = _panels(board)
    if not panels:
        return None
    numbers = point_numbers(board)
    pw, ph, ml, mr, mt, mb = 460, 300, 62, 18, 34, 52
    key_line = 14
    cols = min(2, len(panels))
    nrows = math.ceil(len(panels) / cols)
    # each row of panels is as tall as its longest key needs
    row_heights = [ph + key_line * max(len(rows) for _, rows in panels[r * cols:(r + 1) * cols]) + 8 for r in range(nrows)]
    row_tops = [sum(row_heights[:r]) for r in range(nrows)]
    legend_h = 28
    width, height = cols * pw, sum(row_heights) + legend_h
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for index, (title, rows) in enumerate(panels):
        ox, oy = (index % cols) * pw, row_tops[index // cols]
        x0, x1, y0, y1 = ox + ml, ox + pw - mr, oy + mt, oy + ph - mb
        costs = [r.cost_per_1k["total"] for r in rows]
        log_x = _use_log_x(rows)
        if log_x:
            lo, hi = math.log10(min(costs)), math.log10(max(costs))  # type: ignore[type-var, arg-type]  # all set: _use_log_x
            lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
            xticks = [10.0 ** k for k in range(int(lo), int(hi) + 1)]

            def fx_log(c: float, lo: float = lo, hi: float = hi, x0: float = x0, x1: float = x1) -> float:
                return x0 + (math.log10(c) - lo) / (hi - lo) * (x1 - x0)

            fx: Callable[[float], float] = fx_log
        else:
            cmax = max(costs) or 1.0  # type: ignore[type-var]
            xticks = _nice_ticks(0.0, cmax * 1.08)
            xmax = xticks[-1]

            def fx_linear(c: float, xmax: float = xmax, x0: float = x0, x1: float = x1) -> float:
                return x0 + c / xmax * (x1 - x0)

            fx = fx_linear
        lows = [100 * (r.accuracy_ci95[0] if r.accuracy_ci95 else r.accuracy) for r in rows]  # type: ignore[operator]
        highs = [100 * (r.accuracy_ci95[1] if r.accuracy_ci95 else r.accuracy) for r in rows]  # type: ignore[operator]
        ylo, yhi = max(0.0, math.floor(min(lows) / 10) * 10), min(100.0, math.ceil(max(highs) / 10) * 10)
        if yhi - ylo < 10:
            ylo, yhi = max(0.0, yhi - 10), max(yhi, 10.0)
        yticks = _nice_ticks(ylo, yhi)
        yticks = [t for t in yticks if ylo <= t <= yhi] or [ylo, yhi]

        def fy(a: float, ylo: float = ylo, yhi: float = yhi, y0: float = y0, y1: float = y1) -> float:
            return y1 - (a - ylo) / (yhi - ylo) * (y1 - y0)

        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{oy + 20}" text-anchor="middle" font-size="13" font-weight="bold">{e(title)}</text>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#444"/>')
        for t in xticks:
            px = fx(t)
            if x0 - 0.5 <= px <= x1 + 0.5:
                out.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" stroke="#eee"/>')
                out.append(f'<text x="{px:.1f}" y="{y1 + 14}" text-anchor="middle">{e(_tick_money(t))}</text>')
        for t in yticks:
            py = fy(t)
            out.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 5}" y="{py + 4:.1f}" text-anchor="end">{t:g}</text>')
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y1 + 32}" text-anchor="middle">total inference cost ($ per 1,000 problems'
                   f'{", log scale" if log_x else ""})</text>')
        out.append(f'<text transform="translate({ox + 16},{(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle">accuracy (%)</text>')
        frontier = [r for r in sorted(rows, key=lambda r: r.cost_per_1k["total"]) if r.pareto]  # type: ignore[arg-type, return-value]
        if len(frontier) > 1:
            pts = " ".join(f"{fx(r.cost_per_1k['total']):.1f},{fy(100 * r.accuracy):.1f}" for r in frontier)  # type: ignore[arg-type, operator]
            out.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>')
        for curve in cascade_curves(rows):
            pts = " ".join(f"{fx(r.cost_per_1k['total']):.1f},{fy(100 * r.accuracy):.1f}" for r in curve)  # type: ignore[arg-type, operator]
            colour = RECIPE_COLOURS.get(curve[0].recipe, "#9467bd")
            out.append(f'<polyline class="cascade-curve" data-curve="{e(curve[0].label.rsplit(" t=", 1)[0])}" points="{pts}" '
                       f'fill="none" stroke="{colour}" stroke-width="1.5"/>')
        points = [(fx(r.cost_per_1k["total"]), fy(100 * r.accuracy)) for r in rows]  # type: ignore[arg-type, operator]
        texts = [str(numbers[id(r)]) for r in rows]
        corners = place_labels(points, texts, (x0 + 1, y0 + 1, x1 - 1, y1 - 1))
        for row, lo_, hi_, (px, py) in zip(rows, lows, highs, points, strict=True):
            colour = RECIPE_COLOURS.get(row.recipe, "#9467bd")
            for ya, yb in ((fy(lo_), fy(hi_)),):
                out.append(f'<line x1="{px:.1f}" y1="{ya:.1f}" x2="{px:.1f}" y2="{yb:.1f}" stroke="{colour}" stroke-width="1.3"/>')
                for yc in (ya, yb):
                    out.append(f'<line x1="{px - 3:.1f}" y1="{yc:.1f}" x2="{px + 3:.1f}" y2="{yc:.1f}" stroke="{colour}" stroke-width="1.3"/>')
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{5 if row.pareto else 4}" fill="{colour}" '
                       f'stroke="{"#d62728" if row.pareto else "white"}" stroke-width="1.5"><title>{e(row.label)}: '
                       f'{100 * row.accuracy:.1f}%, {e(fmt_money(row.cost_per_1k["total"]))}</title></circle>')  # type: ignore[operator]
        for text, (left, top) in zip(texts, corners, strict=True):
            out.append(f'<text class="point-label" x="{left + 1:.1f}" y="{top + LABEL_H - 2:.1f}" font-size="10" '
                       f'font-weight="bold">{text}</text>')
        for line, row in enumerate(sorted(rows, key=lambda r: numbers[id(r)])):
            ky = oy + ph - 4 + line * key_line
            colour = RECIPE_COLOURS.get(row.recipe, "#9467bd")
            out.append(f'<text class="key" x="{x0}" y="{ky:.1f}" font-size="10"><tspan font-weight="bold" fill="{colour}">'
                       f'{numbers[id(row)]}</tspan>  {e(row.label)} ({e(row.recipe)}): {100 * row.accuracy:.1f}%, '  # type: ignore[operator]
                       f'{e(fmt_money(row.cost_per_1k["total"]))}</text>')
    ly = sum(row_heights) + 18
    lx = 20
    for recipe, colour in RECIPE_COLOURS.items():
        out.append(f'<circle cx="{lx}" cy="{ly - 4}" r="4" fill="{colour}"/><text x="{lx + 8}" y="{ly}">{recipe}</text>')
        lx += 20 + 7 * len(recipe) + 16
    out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>'
               f'<text x="{lx + 30}" y="{ly}">Pareto frontier</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _tick_money(t: float) -> str:
    if t == 0:
        return "$0"
    if t >= 1:
        return f"${t:,.0f}" if float(t).is_integer() else f"${t:g}"
    return f"${t:g}"


def plot_matplotlib(board: Leaderboard, png: Path, svg: Path) -> bool:
    """The same plot with matplotlib (PNG and SVG); False when matplotlib is not installed. As the
    hand-made SVG: numbered points placed clear of each other, a key under each panel, the legend
    below the panels, linear cost axes from $0."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        return False
    panels = _panels(board)
    if not panels:
        return False
    numbers = point_numbers(board)
    cols = min(2, len(panels))
    nrows = math.ceil(len(panels) / cols)
    longest = [max(len(rows) for _, rows in panels[r * cols:(r + 1) * cols]) for r in range(nrows)]
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, sum(3.8 + 0.2 * n for n in longest) + 0.5), squeeze=False,
                             gridspec_kw={"height_ratios": [3.8 + 0.2 * n for n in longest]})
    for index, (title, rows) in enumerate(panels):
        ax = axes[index // cols][index % cols]
        for row in rows:
            colour = RECIPE_COLOURS.get(row.recipe, "#9467bd")
            low, high = row.accuracy_ci95 or (row.accuracy, row.accuracy)
            ax.errorbar([row.cost_per_1k["total"]], [100 * row.accuracy],  # type: ignore[operator]
                        yerr=[[max(0.0, 100 * (row.accuracy - low))], [max(0.0, 100 * (high - row.accuracy))]],  # type: ignore[operator]
                        fmt="o", color=colour, ecolor=colour, capsize=3, markersize=6 if row.pareto else 5,
                        markeredgecolor="#d62728" if row.pareto else "white", zorder=3)
        for curve in cascade_curves(rows):
            ax.plot([r.cost_per_1k["total"] for r in curve], [100 * r.accuracy for r in curve],  # type: ignore[operator]
                    "-", color=RECIPE_COLOURS.get(curve[0].recipe, "#9467bd"), lw=1.2, zorder=2)
        frontier = sorted((r for r in rows if r.pareto), key=lambda r: r.cost_per_1k["total"])  # type: ignore[arg-type, return-value]
        if len(frontier) > 1:
            ax.plot([r.cost_per_1k["total"] for r in frontier], [100 * r.accuracy for r in frontier],  # type: ignore[operator]
                    "--", color="#d62728", lw=1.3, zorder=2)
        costs = [r.cost_per_1k["total"] for r in rows]
        if _use_log_x(rows):
            ax.set_xscale("log")
        else:
            ax.set_xlim(0, (max(costs) or 1.0) * 1.1)  # type: ignore[type-var]
        lows = [100 * (r.accuracy_ci95[0] if r.accuracy_ci95 else r.accuracy) for r in rows]  # type: ignore[operator]
        highs = [100 * (r.accuracy_ci95[1] if r.accuracy_ci95 else r.accuracy) for r in rows]  # type: ignore[operator]
        top = max(highs) + 3
        limits = (max(0.0, min(lows) - 3), 100.9 if top >= 100 else top)  # room for a point at 100%
        ax.set_ylim(*limits)
        ax.set_yticks([t for t in ax.get_yticks() if limits[0] <= t <= 100])  # no tick above 100%
        ax.set_ylim(*limits)
        ax.set_title(title)
        ax.set_xlabel("total inference cost ($ per 1,000 problems" + (", log scale)" if _use_log_x(rows) else ")"))
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        for line, row in enumerate(sorted(rows, key=lambda r: numbers[id(r)])):
            ax.text(0.0, -0.2 - 0.075 * line * 4.6 / (3.8 + 0.2 * longest[index // cols]),
                    f"{numbers[id(row)]}  {row.label} ({row.recipe}): {100 * row.accuracy:.1f}%, "  # type: ignore[operator]
                    f"{fmt_money(row.cost_per_1k['total'])}", transform=ax.transAxes, fontsize=7.5, va="top")
    for index in range(len(panels), nrows * cols):
        axes[index // cols][index % cols].axis("off")
    handles = [Line2D([], [], marker="o", ls="", color=c, label=r) for r, c in RECIPE_COLOURS.items()]
    handles.append(Line2D([], [], ls="--", color="#d62728", label="Pareto frontier"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    # numbers beside the points, placed (in pixels) where they overlap no other label or point
    fig.canvas.draw()
    width, height = fig.bbox.width, fig.bbox.height
    for index, (_, rows) in enumerate(panels):
        ax = axes[index // cols][index % cols]
        shown = [(r.cost_per_1k["total"], 100 * r.accuracy) for r in rows]  # type: ignore[operator]
        pixels = [tuple(ax.transData.transform(p)) for p in shown]
        box = ax.get_window_extent()
        corners = place_labels([(x, height - y) for x, y in pixels], [str(numbers[id(r)]) for r in rows],
                               (box.x0 + 1, height - box.y1 + 1, box.x1 - 1, height - box.y0 - 1))
        for row, point, (left, top) in zip(rows, shown, corners, strict=True):
            # figure fraction, not pixels: the PNG is saved at another dpi than it was laid out at
            ax.annotate(str(numbers[id(row)]), xy=point, xytext=((left + 1) / width, (height - top) / height),
                        textcoords="figure fraction",
                        ha="left", va="top", fontsize=8, fontweight="bold")
    plt.rcParams["svg.hashsalt"] = "gcop"
    fig.savefig(png, dpi=150)
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- writing


def write_leaderboard(board: Leaderboard, out_dir: str | os.PathLike[str], use_matplotlib: bool = True) -> dict[str, Path]:
    """Write leaderboard.{md,json,html} and the plot (leaderboard.svg, plus .png with matplotlib)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    svg_path, png_path = out / "leaderboard.svg", out / "leaderboard.png"
    svg_text: str | None = None
    if use_matplotlib and plot_matplotlib(board, png_path, svg_path):
        written["png"] = png_path
        written["svg"] = svg_path
        svg_text = svg_path.read_text(encoding="utf-8")
    else:
        svg_text = plot_svg(board)
        if svg_text:
            svg_path.write_text(svg_text, encoding="utf-8")
            written["svg"] = svg_path
    plot_name = written.get("png", written.get("svg"))
    (out / "leaderboard.md").write_text(to_markdown(board, plot_name.name if plot_name else None), encoding="utf-8")
    (out / "leaderboard.json").write_text(json.dumps(board.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    (out / "leaderboard.html").write_text(to_html(board, svg_text), encoding="utf-8")
    written.update(md=out / "leaderboard.md", json=out / "leaderboard.json", html=out / "leaderboard.html")
    return written
