"""One minute of one CloudWatch series, as the local cloud's metric aggregators keep and hand it.

Shared by Lambda's (:mod:`pclab.localcloud.environments.metrics`) and Step Functions'
(:mod:`pclab.localcloud.states_metrics`) aggregators: a CloudWatch StatisticSet (SampleCount,
Sum, Minimum, Maximum) plus the raw values where percentiles are asked of the series, and the
:class:`Datum` the local CloudWatch (:mod:`pclab.localcloud.moto.cloudwatch`) turns into one
aggregated moto datum.
Imports only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

Dimensions = tuple[tuple[str, str], ...]


@dataclass
class MinuteStat:
    """One minute of one metric in one dimension set, as a CloudWatch StatisticSet (+ values)."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    values: list[float] = field(default_factory=list)  # where percentiles are asked: kept

    def add(self, value: float, *, keep: bool = False) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if keep:
            self.values.append(value)

    def copy(self) -> MinuteStat:
        return MinuteStat(self.count, self.total, self.minimum, self.maximum, list(self.values))


@dataclass(frozen=True)
class Datum:
    """What the CloudWatch layer turns into one aggregated datum (a minute, StatisticValues)."""

    namespace: str  # "AWS/Lambda", "AWS/States"
    name: str
    dimensions: Dimensions
    minute: int  # epoch seconds of the minute's start
    unit: str
    stat: MinuteStat


Series = dict[tuple[str, Dimensions, int], MinuteStat]  # (metric, dimensions, minute) -> stat


def datums(namespace: str, series: Series, unit_of: Callable[[str], str]) -> list[Datum]:
    """Every minute of every series, copied (call it under the aggregator's lock)."""
    return [
        Datum(namespace, name, dims, minute, unit_of(name), stat.copy())
        for (name, dims, minute), stat in series.items()
    ]
