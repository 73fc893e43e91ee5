"""Lambda's published prices (us-east-1, x86_64) and how AWS rounds what it bills.

Source: the AWS Lambda pricing page (https://aws.amazon.com/lambda/pricing/), as recorded in
FACTS.md: requests $0.20 per million; duration per GB-second at the on-demand rate, or at the lower
rate for calls served by provisioned concurrency (PC); PC itself per GB-second "from the time you
enable it on your function until it is disabled, rounded up to the nearest 5 minutes"; duration
"rounded up to the nearest 1 ms". Spillover calls (PC configured but all busy) are on-demand calls.
Since 1 August 2025 Lambda also bills the INIT phase of on-demand environments (the REPORT line's
Billed Duration includes Init Duration, FACTS.md).

SnapStart for Python (and .NET) adds two charges (AWS docs, "Improving startup performance with
Lambda SnapStart", section "SnapStart pricing", which sends to the pricing page): caching the
snapshot, per GB-second of the function's memory for as long as the version is active (a
minimum of 3 hours), and each restore, per GB of memory restored. us-east-1 rates
$0.0000015046 per GB-second cached and $0.0001397998 per GB restored, as quoted from the pricing
page (whose tables render client-side) by awsnegotiations.com, "Lambda SnapStart Cost Impact"
(May 2026); check them on the pricing page for your Region. Duration is billed as usual; a
restored environment's Billed Restore Duration (runtime load and after-restore hooks) is billed
at the on-demand duration rate (AWS docs, "Monitoring for Lambda SnapStart").

Pure: imports nothing of pclab (the analysis and the planner both price with these).
"""

from __future__ import annotations

import math

REGION = "us-east-1"
ARCHITECTURE = "x86_64"

PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICE_ON_DEMAND_GB_SECOND = 0.0000166667
PRICE_PC_GB_SECOND = 0.0000041667  # provisioned concurrency, while enabled
PRICE_PC_DURATION_GB_SECOND = 0.0000097222  # duration of calls served by PC
PC_MINIMUM_SECONDS = 300.0  # enabled time is rounded up to 5 minutes: at least 5 are billed
PRICE_SNAPSTART_CACHE_GB_SECOND = 0.0000015046  # Python/.NET SnapStart: snapshot cached
PRICE_SNAPSTART_RESTORE_GB = 0.0001397998  # Python/.NET SnapStart: per GB restored
SNAPSTART_CACHE_MINIMUM_SECONDS = 3 * 3600.0  # caching is billed for at least 3 hours


def gigabytes(memory_mb: int) -> float:
    """Lambda bills memory in GB of 1,024 MB."""
    return memory_mb / 1024.0


def billed_ms(seconds: float) -> int:
    """Billed milliseconds for a run of ``seconds``: rounded up to the next whole millisecond."""
    # the small epsilon keeps 0.003 s (3.0000000000000001 ms in binary) at 3 ms
    return math.ceil(seconds * 1000.0 - 1e-9)


def pc_enabled_billed_seconds(seconds: float) -> float:
    """Seconds of PC billed for ``seconds`` enabled: rounded up to whole 5-minute blocks."""
    if seconds <= 0:
        return 0.0
    return math.ceil(seconds / PC_MINIMUM_SECONDS - 1e-9) * PC_MINIMUM_SECONDS


def pc_hourly_usd(units: int, memory_mb: int) -> float:
    """What ``units`` of PC at ``memory_mb`` cost per hour while enabled (150 at 1 GB: $2.25)."""
    return units * gigabytes(memory_mb) * PRICE_PC_GB_SECOND * 3600.0


def snapstart_cache_usd(memory_mb: int, active_seconds: float) -> float:
    """Caching one SnapStart version's snapshot for ``active_seconds`` (3-hour minimum)."""
    if active_seconds <= 0:
        return 0.0
    billed = max(active_seconds, SNAPSTART_CACHE_MINIMUM_SECONDS)
    return gigabytes(memory_mb) * billed * PRICE_SNAPSTART_CACHE_GB_SECOND


def snapstart_restore_usd(memory_mb: int, restores: int) -> float:
    """``restores`` environments resumed from a snapshot of a ``memory_mb`` function."""
    return max(0, restores) * gigabytes(memory_mb) * PRICE_SNAPSTART_RESTORE_GB
