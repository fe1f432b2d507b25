"""Check families beyond latency: accuracy and output agreement (``accuracy``), absolute
service-level objectives (``slo``), memory (``memory``) and throughput (``throughput``). Each
returns undecided ``CheckResult``s (effect, CI, p-value, N, MDE, a one-line reason);
``gate.judge.decide`` applies Holm across all checks, after which ``explain`` words the
reason of each memory/throughput check from its final status.
"""

from __future__ import annotations

from gate.judge import resource_slo
from gate.judge.memory import explain_memory
from gate.judge.throughput import explain_throughput
from gate.result import CheckResult

resource_slo.register()  # memory.* and throughput.* objectives in slo.objectives


def explain(checks: list[CheckResult]) -> list[CheckResult]:
    """The checks with the reason of each memory/throughput check set from its final status
    (other checks are returned unchanged)."""
    out = []
    for c in checks:
        if c.metric.startswith("memory.") and c.status.value in ("pass", "fail"):
            c = c.model_copy(update={"reason": explain_memory(c)})
        elif c.metric.startswith("throughput.") and c.status.value in ("pass", "fail"):
            c = c.model_copy(update={"reason": explain_throughput(c)})
        out.append(c)
    return out
