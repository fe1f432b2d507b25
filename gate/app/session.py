"""The server session: everything that touches a running Triton server, in one place.

A ``ServerSession`` is what stored runs (``record``, ``replay``, ``check``), live A/B and
``calibrate`` measure through. Entered, it finds the tools and makes a private work folder
(and a log folder, falling back to a temporary one when the reports disk is read-only or
full); ``server()`` starts one server at a time and stops it on every way out, both as timed
stages of the run. With a server up it loads models (several at once, for live A/B),
fingerprints the environment once, writes perf_analyzer's inputs once per traffic, and
measures a model by name: ``replay`` (latency, with its memory sampled when the session
measures memory), ``throughput``, ``evaluate`` (accuracy) and ``memory``. A replay builds
its perf_analyzer spec from ``load:`` (requests in flight for a closed loop) whoever calls
it, and a failed one carries the server's diagnostics: whether it is alive, its last error,
the tail of its log.

Each stage of a command asks the session for one measurement of one model at a time, so a
caller can interleave models and measurements in whatever rounds it needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gate.app import accuracy as acc_stage
from gate.app.environment import fingerprint
from gate.app.prepare import Prepared
from gate.app.run import Run
from gate.app.server_models import LoadedModel, describe, load_concurrently, wait_unloaded
from gate.app.session_setup import Tools, find_tools, log_dir, session_cpus, throughput_cpus
from gate.config.policy import ThroughputPolicy
from gate.errors import GateError
from gate.evidence import AccuracyRecord, LatencyRun, MemoryRun, ThroughputLevel, ThroughputRun
from gate.inputs.load import replay_concurrency
from gate.inputs.traffic import Traffic, validate_against_model
from gate.measure.latency import ReplaySpec, replay
from gate.measure.memory import MemoryRecorder, server_args
from gate.measure.perf_analyzer import Pace, PerfAnalyzerInputs, write_perf_analyzer_inputs
from gate.measure.perf_analyzer.inputs import START_GAP_US
from gate.measure.server_stats import Watch, watch
from gate.measure.throughput import ThroughputSpec, measure_throughput, measure_together
from gate.servers import Launcher, open_server
from gate.servers.affinity import CpuPlan, pinned_tree
from gate.threads import at_once


@dataclass(frozen=True)
class ReplayInputs:
    """perf_analyzer's input files for one traffic, and its send schedule (None: closed loop)."""

    files: PerfAnalyzerInputs
    intervals_us: tuple[int, ...] | None


class ServerSession:
    """Tools, a work folder and one running server at a time (see the module docstring).

    ``memory``: sample memory attributable to each model loaded (the policy's sources), with
    the server arguments that sampling needs.
    """

    def __init__(self, run: Run, prep: Prepared, *, memory: bool = False) -> None:
        self.run = run
        self.prep = prep
        self.cfg = prep.cfg
        self.measures_memory = memory and prep.policy.memory.enabled
        self.environment: dict[str, str] = {}
        self._stack = ExitStack()
        self._tools: Tools | None = None
        self._work: Path | None = None
        self._server: Launcher | None = None
        self._log_path = Path()
        self._index = 0
        self._inputs: dict[str, ReplayInputs] = {}
        self._checked: set[str] = set()
        self._eval: dict[str, acc_stage.AccuracyPlan] = {}
        self._memory: dict[str, MemoryRecorder] = {}
        self._pace = Pace()  # perf_analyzer's seconds per request here: bounds its hangs
        self.cpus = CpuPlan()  # measure.cpu_affinity, planned once the session is entered
        self.throughput_cpus = CpuPlan()  # the split for throughput windows only
        self._loaded: set[str] = set()

    # -- the session ---------------------------------------------------------------------

    def __enter__(self) -> ServerSession:
        with ExitStack() as stack:
            self._tools = find_tools(self.run, self.cfg)
            self.cpus = session_cpus(self.cfg)
            self.throughput_cpus = throughput_cpus(self.cfg, self.cpus)
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="gate-session-"))
            self._work = Path(tmp)
            log_dir(self.run)
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def tools(self) -> Tools:
        assert self._tools is not None, "enter the session first"
        return self._tools

    @property
    def work(self) -> Path:
        """A private folder removed when the session ends."""
        assert self._work is not None, "enter the session first"
        return self._work

    # -- one server ----------------------------------------------------------------------

    @contextlib.contextmanager
    def server(
        self, tag: str, *, log_name: str, index: int = 1, repository: Path | None = None
    ) -> Iterator[Launcher]:
        """A freshly started server on ``repository`` (default: the prepared model's served
        repository), stopped on every way out; ``server start TAG`` and ``server stop TAG``
        are timed stages. A failure inside keeps the server's log tail in the result.
        ``index`` (from 1) numbers the server among the session's, for its container name
        and its memory samples."""
        assert self._server is None, "one server at a time"
        log_path = self.run.log_dir / log_name
        launcher = open_server(
            self.cfg,
            self.tools.tritonserver,
            repository or self.prep.model.served,
            log_path,
            run_id=self.run.result.run_id,
            index=index,
            extra_args=server_args(self.prep.policy.memory) if self.measures_memory else (),
            cpus=self.cpus.server,
        )
        stack = ExitStack()
        try:
            with self.run.stage(f"server start {tag}"):
                stack.enter_context(launcher)
            self._server, self._log_path, self._index = launcher, log_path, index - 1
            yield launcher
        except BaseException:
            self.run.result.server_log_tail = launcher.log_tail()
            raise
        finally:
            self._server = None
            self._loaded.clear()
            self._memory.clear()
            with self.run.stage(f"server stop {tag}"):
                stack.close()

    @property
    def running(self) -> Launcher:
        assert self._server is not None, "no server is running"
        return self._server

    @property
    def url(self) -> dict[str, str]:
        """The running server's URL per protocol."""
        return {"http": self.running.http_url, "grpc": self.running.grpc_url}

    def load(self, model: str) -> LoadedModel:
        """Load ``model`` (explicit model control); with memory measured, the levels just
        before and after the load are what the model costs."""
        server = self.running
        rec = None
        if self.measures_memory:
            policy = self.prep.policy.memory
            rec = MemoryRecorder.for_server(server, policy, index=self._index)
            rec.before_load()
        server.load_model(model)
        self._loaded.add(model)
        if rec is not None:
            rec.after_load()
            self._memory[model] = rec
        return describe(server, model, self.cfg.model.version or "")

    def load_together(self, models: list[str]) -> list[LoadedModel]:
        """Load several models at once (their loads overlap). No memory step is recorded:
        the server's memory cannot be split between loads that overlap."""
        server = self.running
        load_concurrently(server, models)
        self._loaded.update(models)
        return [describe(server, m, self.cfg.model.version or "") for m in models]

    def unload(self, model: str) -> None:
        self.running.unload_model(model)
        self._memory.pop(model, None)

    def wait_unloaded(self, models: list[str], timeout_s: float = 30.0) -> None:
        """Until the running server has really unloaded ``models`` (``server_models``)."""
        wait_unloaded(self.running, models, timeout_s)

    def unload_all(self) -> None:
        """Unload every model of the running server and wait until they are gone, so that
        its stop does not wait a shutdown tick for them (measured here: ~0.7 s of the stop).
        Never fails: a teardown step."""
        names = list(self._loaded)
        if not names:
            return
        with contextlib.suppress(GateError):
            for name in names:
                self.running.unload_model(name)
            wait_unloaded(self.running, names, timeout_s=10.0)
        self._loaded.clear()

    def check_traffic(self, loaded: LoadedModel, *, prefix: str = "") -> None:
        """Validate the traffic against the served model once per model name (mismatches
        are exit 2; what only deserves a word becomes a warning, prefixed)."""
        if loaded.name in self._checked:
            return
        self._checked.add(loaded.name)
        # a model loaded under another name (an A/B arm) is still the configured model
        meta = {**loaded.metadata, "name": self.prep.model.name}
        path = str(self.cfg.traffic.path)
        warns = validate_against_model(self.prep.traffic, meta, loaded.max_batch_size, path)
        self.run.warn(*(prefix + w for w in warns))

    def bind_eval(self, loaded: LoadedModel) -> None:
        """Check the eval set against the served model before anything is measured."""
        if self.prep.accuracy is not None and loaded.name not in self._eval:
            plan = acc_stage.bind_model(self.prep.accuracy, loaded.metadata, loaded.config)
            self._eval[loaded.name] = plan

    def fingerprint(self, concurrency: str) -> dict[str, str]:
        """The environment, once per session: what a baseline must match to compare.
        ``concurrency`` labels how this session loads the server when the config does not."""
        if not self.environment:
            server = self.running
            version = str(server.server_metadata().get("version", "unknown"))
            traffic = self.run.result.traffic
            digest = traffic.digest if traffic is not None else self.prep.traffic.digest()
            env = fingerprint(version, self.tools.perf_analyzer, self.cfg, digest)
            env.update(server.environment())
            if not env.get("concurrency"):
                env["concurrency"] = concurrency
            if self.cpus.pinned:
                env["cpu_affinity"] = self.cpus.describe()
            elif self.throughput_cpus.pinned:
                env["cpu_affinity"] = "throughput windows: " + self.throughput_cpus.describe()
            self.environment = env
        return self.environment

    def inputs(
        self, key: str, traffic: Traffic, *, warmup: int, max_batch_size: int
    ) -> ReplayInputs:
        """perf_analyzer's inputs for ``traffic``, written once per ``key``."""
        if key not in self._inputs:
            out = self.work / "inputs" / key
            out.mkdir(parents=True)
            files = write_perf_analyzer_inputs(
                traffic, out, warmup=warmup, max_batch_size=max_batch_size
            )
            iv = None
            if files.intervals is not None:
                iv = tuple(int(x) for x in files.intervals.read_text().split())
            self._inputs[key] = ReplayInputs(files, iv)
        return self._inputs[key]

    # -- measurements --------------------------------------------------------------------

    def replay(
        self,
        model: str,
        inputs: ReplayInputs,
        *,
        index: int,
        retries: int | None = None,
        cap_last: bool = True,
    ) -> LatencyRun:
        """One replay of ``inputs`` to ``model``, per request latencies paired by index.

        Without a send schedule the replay keeps ``load.concurrency`` requests in flight
        (``replay_concurrency``); memory is sampled during it when the session measures it.
        ``retries`` overrides ``measure.retries`` (0: the caller repeats what failed;
        ``cap_last=False`` then bounds this attempt by its work, not ``measure.timeout_s``)."""
        cfg = self.cfg
        concurrency = replay_concurrency(cfg.load)
        spec = self._replay_spec(
            model,
            inputs.files,
            retries=cfg.measure.retries if retries is None else retries,
            max_threads=max(cfg.measure.max_threads, concurrency),
            concurrency=concurrency,
            cpus=self.cpus.client,
            cap_last=cap_last,
        )
        rec = self._memory.get(model)
        iv = list(inputs.intervals_us) if inputs.intervals_us is not None else None
        sampled = rec.during_replay() if rec else contextlib.nullcontext()
        with self._diagnosed("replay"), sampled, self.server_stats(model) as stats:
            lr = replay(
                self.tools.perf_analyzer, spec, self.work / "pa", index=index, intervals_us=iv
            )
        lr.server_log = str(self._log_path)
        lr.server_stats = stats.stats
        return lr

    def _replay_spec(
        self,
        model: str,
        files: PerfAnalyzerInputs,
        *,
        retries: int,
        max_threads: int,
        concurrency: int,
        cpus: tuple[int, ...],
        cap_last: bool,
    ) -> ReplaySpec:
        """A scheduled or closed-loop replay of ``files`` to ``model`` on this server."""
        cfg = self.cfg
        return ReplaySpec(
            model=model,
            version=cfg.model.version,
            url=self.url[cfg.measure.protocol],
            protocol=cfg.measure.protocol,
            inputs=files,
            timeout_s=cfg.measure.timeout_s,
            retries=retries,
            max_threads=max_threads,
            concurrency=concurrency,
            cpus=cpus,
            cap_last=cap_last,
        )

    def replay_together(
        self, models: tuple[str, str], inputs: ReplayInputs, *, index: int
    ) -> tuple[LatencyRun, LatencyRun]:
        """Both arms replayed at the same moment: one perf_analyzer per model, started
        together on the same schedule, so the two requests of a pair meet the same machine
        load (and each other). An option measured against interleaved blocks by
        ``benchmarks/ab_noise.py``; the second model's replay runs in a helper thread."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-replay") as pool:
            other = pool.submit(self.replay, models[1], inputs, index=index)
            first = self.replay(models[0], inputs, index=index)
            return first, other.result()

    def closed_slots(
        self,
        models: Mapping[str, str],
        sends_us: Mapping[str, Sequence[int]],
        inputs: ReplayInputs,
        *,
        concurrency: int,
        index: int,
        cap_last: bool = True,
    ) -> dict[str, LatencyRun]:
        """Closed loops in time slots, one perf_analyzer per arm started together (in
        ``models``' order; ``gate.app.ab_throughput`` plans the slots): each sends ``inputs``'
        payloads, cycled, at its ``sends_us`` (µs after its first send, strictly ascending:
        perf_analyzer takes positive gaps only) with at most
        ``concurrency`` requests in flight (perf_analyzer's synchronous sending threads), so
        a request due while all are busy goes out as soon as one answers. On the cores of a
        throughput level (the server pinned as for one); the first error is raised once
        every arm ended, with no retry (``cap_last=False``: the caller repeats the whole
        round, so this attempt is bounded by its work)."""
        specs = {}
        for arm, model in models.items():
            sends = list(sends_us[arm])
            folder = self.work / "inputs" / f"slots-c{concurrency}-{index}-{arm}"
            folder.mkdir(parents=True, exist_ok=True)
            gaps = [START_GAP_US, *(b - a for a, b in itertools.pairwise(sends))]
            if min(gaps) < 1:
                raise ValueError("slot sends must be strictly ascending (perf_analyzer's gaps)")
            (folder / "request_intervals.txt").write_text("\n".join(map(str, gaps)) + "\n")
            files = dataclasses.replace(
                inputs.files,
                intervals=folder / "request_intervals.txt",
                total_requests=len(sends),
                warmup_requests=0,
                intervals_us=tuple(gaps),
            )
            specs[arm] = self._replay_spec(
                model,
                files,
                retries=0,
                max_threads=concurrency,
                concurrency=concurrency,
                cpus=self.cpus.client or self.throughput_cpus.client,
                cap_last=cap_last,
            )
        got: dict[str, LatencyRun] = {}

        def one(arm: str) -> None:
            with self.server_stats(models[arm]) as stats:
                lr = replay(self.tools.perf_analyzer, specs[arm], self.work / "pa", index=index)
            lr.server_log = str(self._log_path)
            lr.server_stats = stats.stats
            got[arm] = lr

        pid = getattr(self.running, "pid", None)
        pinned = pinned_tree(pid, self.throughput_cpus.server)
        with self._diagnosed("throughput measurement"), pinned:
            at_once(one, list(models), "gate-slots")
        return got

    def throughput(
        self,
        model: str,
        inputs: ReplayInputs,
        *,
        index: int,
        policy: ThroughputPolicy | None = None,
    ) -> ThroughputRun:
        """Closed-loop inferences/s of ``model`` at the levels of ``policy`` (default: the
        run's policy)."""
        spec = self._throughput_spec(model, inputs)
        pa = self.tools.perf_analyzer
        policy = policy or self.prep.policy.throughput
        pid = getattr(self.running, "pid", None)  # local and docker launchers have one
        pinned = pinned_tree(pid, self.throughput_cpus.server)
        with self._diagnosed("throughput measurement"), pinned:
            return measure_throughput(
                pa,
                spec,
                policy,
                self.work / "pa",
                index=index,
                pace=self._pace,
                watch=lambda: self.server_stats(model),
            )

    def throughput_together(
        self,
        models: Mapping[str, str],
        inputs: ReplayInputs,
        *,
        policies: Mapping[str, ThroughputPolicy],
    ) -> dict[str, ThroughputLevel]:
        """One closed-loop level of several models at the same moment, on one clock
        (``gate.measure.throughput.measure_together``): ``models`` and ``policies`` by arm,
        started in ``models``' order."""
        specs = {arm: self._throughput_spec(model, inputs) for arm, model in models.items()}
        pid = getattr(self.running, "pid", None)
        pinned = pinned_tree(pid, self.throughput_cpus.server)
        with self._diagnosed("throughput measurement"), pinned:
            return measure_together(
                self.tools.perf_analyzer,
                specs,
                policies,
                self.work / "pa",
                pace=self._pace,
                watch=self.server_stats,
            )

    def _throughput_spec(self, model: str, inputs: ReplayInputs) -> ThroughputSpec:
        """Where and with what a closed-loop run of ``model`` measures, its perf_analyzer on
        the client's cores."""
        cfg = self.cfg
        return ThroughputSpec(
            model=model,
            version=cfg.model.version,
            url=self.url[cfg.measure.protocol],
            protocol=cfg.measure.protocol,
            input_data=inputs.files.input_data,
            batch_size=inputs.files.batch_size,
            timeout_s=cfg.measure.timeout_s,
            retries=cfg.measure.retries,
            max_threads=cfg.measure.max_threads,
            cpus=self.cpus.client or self.throughput_cpus.client,
        )

    def server_stats(self, model: str) -> AbstractContextManager[Watch]:
        """Triton's per-model statistics of ``model`` over a ``with`` body: their change is
        in the yielded ``Watch`` after it (None where the server does not answer)."""
        server, version = self.running, self.cfg.model.version or ""
        return watch(lambda: server.model_statistics(model, version), model, version)

    def evaluate(self, model: str) -> AccuracyRecord:
        """The eval set through ``model`` (bound by ``bind_eval``), every sample scored."""
        plan = self._eval[model]
        return acc_stage.evaluate(
            plan, self.cfg, model=model, url=self.url, model_version=self.cfg.model.version or ""
        )

    def memory(self, model: str) -> MemoryRun | None:
        """The memory ``model`` cost in this server: before/after its load, during replays."""
        rec = self._memory.get(model)
        return rec.result() if rec is not None else None

    @contextlib.contextmanager
    def _diagnosed(self, what: str) -> Iterator[None]:
        """A measurement that fails says whether the server died, and carries its log."""
        server = self.running
        try:
            yield
        except GateError as e:
            if not server.is_alive():
                e.message = (
                    f"{e.message}; tritonserver died during the {what}: "
                    f"{server.last_error() or 'see its log'}"
                )
            e.details = (e.details or "") + "\n--- server log ---\n" + server.log_tail()
            raise
