"""perf_analyzer: the one package that knows its input files, flags, process and export.

* **Inputs** (``inputs``): ``--input-data`` JSON and ``--request-intervals`` files written
  from recorded traffic (so the traffic format, ``gate.inputs.traffic``, knows nothing of
  the tool).
* **Flags** (``run``): :class:`Invocation` builds the argument list (never a shell string)
  for a latency replay (the recorded schedule, or a fixed concurrency) and a throughput
  level.
* **Running** (``run``): each attempt runs in its own process group and is killed with it
  on timeout. perf_analyzer hangs now and then (no output, no exit), so a hang, a crash or
  an unreadable export is retried a bounded number of times, each attempt with a fresh
  export path (it refuses an existing one). An attempt's timeout follows from the work it
  was given (:func:`attempt_timeout`), so one hang in a half-second block costs seconds,
  not the whole ``measure.timeout_s``; every failed attempt is kept as a
  ``PerfAnalyzerRetry`` in the evidence.
* **Export** (``run``): the profile export's send and response timestamps per request. It
  embeds raw output bytes that are not UTF-8 (read with ``errors="replace"``), and
  perf_analyzer prints a JSON-datatype warning once per request (filtered out of the kept
  stderr).
* **Retries as reported** (``retries``): a stage detail's note and one run warning per
  retried replay, throughput level or A/B block (:func:`retry_warnings`).
"""

from gate.measure.perf_analyzer.inputs import (
    START_GAP_US,
    PerfAnalyzerInputs,
    write_perf_analyzer_inputs,
)
from gate.measure.perf_analyzer.retries import retry_note, retry_warnings
from gate.measure.perf_analyzer.run import (
    FACTOR,
    FLOOR_S,
    Invocation,
    Measured,
    Pace,
    Target,
    attempt_timeout,
    clean,
    client_summary,
    invocation,
    read_export,
    run_once,
    run_with_retries,
)

__all__ = [
    "FACTOR",
    "FLOOR_S",
    "START_GAP_US",
    "Invocation",
    "Measured",
    "Pace",
    "PerfAnalyzerInputs",
    "Target",
    "attempt_timeout",
    "clean",
    "client_summary",
    "invocation",
    "read_export",
    "retry_note",
    "retry_warnings",
    "run_once",
    "run_with_retries",
    "write_perf_analyzer_inputs",
]
