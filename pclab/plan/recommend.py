"""The recommendation: the cheapest option (cost per day) that meets the user's goal.

Goals: ``--target-p99 SECONDS`` (the p99 latency of calls that ran) and ``--max-cold-share F``
(cold starts / calls). Either or both; an option that throttled a call for good never meets a
goal (that call got an error, not a latency). Ties go to the option listed first.
Imports the planner's results and costs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pclab.plan.cost import OptionCost
from pclab.plan.results import SimResult


@dataclass(frozen=True)
class Goal:
    target_p99_s: float | None = None
    max_cold_share: float | None = None

    @property
    def given(self) -> bool:
        return self.target_p99_s is not None or self.max_cold_share is not None

    def describe(self) -> str:
        parts = []
        if self.target_p99_s is not None:
            parts.append(f"p99 <= {self.target_p99_s:g} s")
        if self.max_cold_share is not None:
            parts.append(f"cold share <= {self.max_cold_share:.2%}")
        return " and ".join(parts) + " and no call throttled for good"

    def misses(self, result: SimResult) -> list[str]:
        """Why ``result`` misses the goal (empty: it meets it)."""
        why = []
        if result.throttled_calls:
            why.append(f"{result.throttled_calls} calls throttled for good")
        p99 = result.latency.p99
        if self.target_p99_s is not None and (p99 is None or p99 > self.target_p99_s + 1e-12):
            why.append("p99 " + ("unknown" if p99 is None else f"{p99:.3f} s"))
        if self.max_cold_share is not None and result.cold_share > self.max_cold_share + 1e-12:
            why.append(f"cold share {result.cold_share:.2%}")
        return why


@dataclass(frozen=True)
class Recommendation:
    goal: Goal
    option: str | None  # the option's name, or None
    reason: str  # one sentence

    def as_dict(self) -> dict[str, Any]:
        return {
            "goal": {
                "target_p99_s": self.goal.target_p99_s,
                "max_cold_share": self.goal.max_cold_share,
            },
            "option": self.option,
            "reason": self.reason,
        }


def recommend(
    goal: Goal, results: Sequence[SimResult], costs: Sequence[OptionCost]
) -> Recommendation:
    if not goal.given:
        return Recommendation(
            goal, None, "No goal given: add --target-p99 SECONDS or --max-cold-share FRACTION."
        )
    meeting = [
        (cost.per_day, index)
        for index, (result, cost) in enumerate(zip(results, costs, strict=True))
        if not goal.misses(result)
    ]
    if not meeting:
        closest = min(range(len(results)), key=lambda i: len(goal.misses(results[i])))
        return Recommendation(
            goal,
            None,
            f"No option meets {goal.describe()}; the closest, {results[closest].name}, has "
            + ", ".join(goal.misses(results[closest]))
            + ". Try higher PC levels.",
        )
    per_day, index = min(meeting)
    chosen = results[index]
    return Recommendation(
        goal,
        chosen.name,
        f"{chosen.name} is the cheapest option meeting {goal.describe()}: "
        f"${per_day:,.2f} per day, p99 {chosen.latency.p99 or 0.0:.3f} s, "
        f"{chosen.cold_starts} cold starts in {chosen.calls} calls.",
    )
