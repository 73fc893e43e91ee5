"""Which of a report's numbers the local cloud modelled rather than measured.

The local cloud's platform model (pclab/lambda_model/platform.py, docs/local-cloud.md) puts
Lambda's timings where this machine cannot reproduce them: the runtime's own start and the
dependencies' import in an init, SnapStart's restore, and the end of a call at its runtime's
answer inside the environment (not when a busy 2-core machine got round to reading it); such a
call's caller view is then the Lambda service's (X-Ray), not the history's (join.py). Its traces
say so (the ``AWS::Lambda`` segment's ``metadata.pclab.platform_model``, read by the X-Ray
adapter into :attr:`Invocation.platform_model`); the report says it in words. On AWS no call
carries it, and nothing is said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pclab.analysis.model import Invocation


def modelled_notes(calls: Sequence[Invocation]) -> list[str]:
    """One note per platform model the calls' times came from (none on AWS)."""
    models = Counter(inv.platform_model for inv in calls if inv.platform_model)
    return [
        f"{count} of {len(calls)} calls timed by the local cloud's platform model '{name}': "
        "init durations include Lambda's runtime start and dependency imports as modelled, "
        "and not the time this machine's environments queued for its CPUs, "
        "SnapStart restores are modelled, and a call ends when its runtime answered inside its "
        "environment; its caller's view is the Lambda service's (X-Ray), not the execution "
        "history's, which moto's interpreter stamps when this machine gets round to it "
        "(docs/local-cloud.md); PCLAB_PLATFORM_MODEL=none (or `pclab local-cloud "
        "start --platform-model none`) gives this machine's raw timings"
        for name, count in sorted(models.items())
    ]
