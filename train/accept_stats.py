"""Acceptance sampling's statistics (Theorem 2 of the ExecTune paper): the Hoeffding lower bound
of the acceptance rate, the guarantee on E[q | accepted], when that guarantee means something and
what K or eta would make it, and the summary of a run's records (``stats.json``).

Pure functions of counts; :mod:`gcop.train.accept` runs the sampling and calls them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FINISHED", "acceptance_bounds", "compute_stats", "guarantee", "hoeffding_lcb", "nonvacuous_settings"]

#: Record statuses of a finished problem (an ``error`` record is retried on the next run).
FINISHED = ("accepted", "rejected")


# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------


def hoeffding_lcb(rate: float, n: int, delta: float) -> float | None:
    """One-sided Hoeffding lower confidence bound ``rate - sqrt(ln(1/delta) / (2n))``, clamped at
    0 (holds with probability >= 1 - delta); None for n = 0."""
    if n <= 0:
        return None
    return max(0.0, rate - math.sqrt(math.log(1.0 / delta) / (2.0 * n)))


def guarantee(tau: float, eta: float, k: int, acceptance: float | None) -> float:
    """``(tau - eta) * (1 - exp(-2 k eta^2) / acceptance)``, clamped at 0 (0 when vacuous or when
    ``acceptance`` is 0/None)."""
    if not acceptance or acceptance <= 0:
        return 0.0
    return max(0.0, (tau - eta) * (1.0 - math.exp(-2.0 * k * eta * eta) / acceptance))


def nonvacuous_settings(rate_lcb: float | None, *, k: int, eta: float, tau: float) -> dict[str, Any]:
    """When the guarantee means something, and what would make it.

    The bound is *meaningful* when the Hoeffding term ``exp(-2 K eta^2)`` is at most the acceptance
    rate's lower confidence bound ``A_s - epsilon`` (the paper's condition ``delta <= A_s - epsilon``);
    otherwise it is vacuous or close to it whatever its arithmetic says. Returns ``meaningful``, the
    smallest ``K`` that would satisfy the condition at this ``eta`` and rate (``k_needed``), and the
    smallest ``eta`` that would at this ``K`` (``eta_needed``, None when it would not be below tau),
    both None when the rate's lower bound is 0 (more problems are needed, not a larger K)."""
    term = math.exp(-2.0 * k * eta * eta)
    if not rate_lcb or rate_lcb <= 0:
        return {"meaningful": False, "hoeffding_term": term, "rate_lcb": rate_lcb, "k_needed": None, "eta_needed": None}
    need = math.log(1.0 / rate_lcb)
    k_needed = max(1, math.ceil(need / (2.0 * eta * eta)))
    eta_needed = math.sqrt(need / (2.0 * k))
    return {"meaningful": term <= rate_lcb, "hoeffding_term": term, "rate_lcb": rate_lcb, "k_needed": k_needed,
            "eta_needed": eta_needed if eta_needed < tau else None}


def acceptance_bounds(accepted: int, attempted: int, *, k: int, tau: float, eta: float, delta: float) -> dict[str, Any]:
    """Rate, Hoeffding lower bound and the guarantee with each, for ``accepted`` of ``attempted``."""
    rate = accepted / attempted if attempted else None
    lcb = hoeffding_lcb(rate, attempted, delta) if rate is not None else None
    return {
        "accepted": accepted, "attempted": attempted, "rate": rate, "rate_lcb": lcb,
        "guarantee": guarantee(tau, eta, k, rate), "guarantee_lcb": guarantee(tau, eta, k, lcb),
    }


# ---------------------------------------------------------------------------------------------
# Stats
# ---------------------------------------------------------------------------------------------


def compute_stats(records: Sequence[Mapping[str, Any]], *, k: int, tau: float, rounds: int, eta: float,
                  delta: float) -> dict[str, Any]:
    """Acceptance statistics of finished problems (``status`` accepted / rejected; error records
    are counted apart and otherwise ignored). The guarantee is explained in :mod:`gcop.train.accept`."""
    finished = [r for r in records if r.get("status") in FINISHED]
    errors = [r for r in records if r.get("status") == "error"]
    accepted = [r for r in finished if r["status"] == "accepted"]
    n_problems = len(finished)

    proposals = sum(len(r.get("rounds") or []) for r in finished)
    per_round = []
    reached = n_problems
    cumulative = 0
    max_round = max([rounds, *(len(r.get("rounds") or []) for r in finished)], default=rounds)
    for number in range(1, max_round + 1):
        at_round = [rd for r in finished for rd in (r.get("rounds") or []) if rd.get("round") == number]
        acc = sum(1 for rd in at_round if rd.get("accepted"))
        valid = sum(1 for rd in at_round if rd.get("valid"))
        cumulative += acc
        per_round.append({
            "round": number,
            "problems_reaching": reached,
            "proposals": len(at_round),
            "valid": valid,
            "leaked": sum(1 for rd in at_round if rd.get("leak")),
            "accepted": acc,
            "acceptance_rate": acc / len(at_round) if at_round else None,
            "acceptance_rate_lcb": hoeffding_lcb(acc / len(at_round), len(at_round), delta) if at_round else None,
            "cumulative_accepted": cumulative,
            "cumulative_rate": cumulative / n_problems if n_problems else None,
        })
        reached -= acc

    per_problem = []
    for r in accepted:
        n = int(r.get("round") or len(r.get("rounds") or []) or 1)
        per_problem.append(acceptance_bounds(1, n, k=k, tau=tau, eta=eta, delta=delta))
    bounds = [p["guarantee"] for p in per_problem]
    q_values = [float(r["q_K"]) for r in accepted if r.get("q_K") is not None]
    q_all = [float(rd["q_K"]) for r in finished for rd in (r.get("rounds") or []) if rd.get("q_K") is not None]

    return {
        "problems": {"finished": n_problems, "accepted": len(accepted), "rejected": n_problems - len(accepted),
                     "error": len(errors)},
        "acceptance_problems": acceptance_bounds(len(accepted), n_problems, k=k, tau=tau, eta=eta, delta=delta),
        "acceptance_proposals": acceptance_bounds(len(accepted), proposals, k=k, tau=tau, eta=eta, delta=delta),
        "per_round": per_round,
        "guarantee": {
            "formula": "E[q | accepted] >= (tau - eta) * (1 - exp(-2*K*eta^2) / A), clamped at 0",
            "note": ("A = acceptance rate per teacher proposal: overall, accepted problems / proposals "
                     "(acceptance_proposals); per problem, 1 / round. With A replaced by its Hoeffding lower "
                     "bound A - sqrt(ln(1/delta)/(2n)) the statement holds with probability >= 1 - delta "
                     "(guarantee_lcb). Proposals of one problem are not independent, so the overall lower "
                     "bound is a heuristic when rounds > 1."),
            "K": k, "tau": tau, "eta": eta, "delta": delta,
            "hoeffding_term": math.exp(-2.0 * k * eta * eta),
            "overall": guarantee(tau, eta, k, len(accepted) / proposals if proposals else None),
            "overall_lcb": guarantee(tau, eta, k, hoeffding_lcb(len(accepted) / proposals, proposals, delta)
                                     if proposals else None),
            "nonvacuous": nonvacuous_settings(
                hoeffding_lcb(len(accepted) / proposals, proposals, delta) if proposals else None, k=k, eta=eta, tau=tau),
            "per_problem": {
                "n": len(per_problem),
                "mean": sum(bounds) / len(bounds) if bounds else None,
                "min": min(bounds) if bounds else None,
                "max": max(bounds) if bounds else None,
                "mean_lcb": (sum(p["guarantee_lcb"] for p in per_problem) / len(per_problem)) if per_problem else None,
            },
        },
        "q_K": {
            "accepted_mean": sum(q_values) / len(q_values) if q_values else None,
            "accepted_histogram": dict(sorted(Counter(f"{q:.3f}" for q in q_values).items())),
            "all_proposals_mean": sum(q_all) / len(q_all) if q_all else None,
        },
        "errors": [{"id": r["id"], "error": r.get("error")} for r in errors[:20]],
    }
