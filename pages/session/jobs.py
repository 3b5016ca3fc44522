"""Training jobs: started by a click, run in a worker process, reattachable, cancellable.

A job trains stages through ``ranking.pipeline.train`` in a worker process (``worker.Pool``; in tests
with ``LAB_SYNC_TRAINING=1``, in the caller's thread). It keeps its own result — the trained stages
and the saved run — until its owner collects it (``collect``).

A job belongs to the browser session that started it (``Job.owner``): only that session can cancel
it or receive its result. The address bar carries ``job=<id>`` while it runs, so F5 (a new session
whose old one has disconnected) takes the job over (``attach``); lesson links never carry it. A
session that opens another, still connected session's ``job=`` only watches its progress. One job
per session at a time.

A class shares its trainings: a request identical to one already training (the same data, stages,
settings, seed and upstream stages) does not train again. Its job *follows* the first (the leader):
it shows the leader's progress and receives the same trained stages and saved run when it ends. A
follower's Cancel stops only its own wait; if the leader is cancelled, its followers train on their own.

A job no page has shown for ``LAB_JOB_ORPHAN_S`` seconds (default 60) is cancelled (a leader counts as
shown while one of its followers is), and the log says so.
"""

from __future__ import annotations

import logging
import os
import pickle
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ranking import pipeline
from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import RankingError
from ranking.names import STAGES

from . import estimate, runs, worker
from .datasets import DataChoice
from .state import LabState, Trained, stage_keys

LOG = logging.getLogger("lab.jobs")
NEURAL_LOCK = threading.Lock()  # in-thread training only: Keras seeds and op determinism are process-global
JOBS: dict[str, Job] = {}  # every job of this server, by id, until collected and expired
_JOBS_LOCK = threading.Lock()
KEEP_FINISHED_S = 600.0


def orphan_seconds() -> float:
    """How long a running job may go unseen by any page before it is cancelled ($LAB_JOB_ORPHAN_S, 60)."""
    return float(os.environ.get("LAB_JOB_ORPHAN_S", "60"))


def single_threaded_blas() -> None:
    """One OpenBLAS thread per call, process-wide (call once at server start, before any training).

    OpenBLAS's own thread pool is shared: when several sessions' threads call it at once they spin
    waiting for it. Ten concurrent 300×120 SVDs took 200 s instead of 0.5 s.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's bundled OpenBLAS so the limit covers it too)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threadpool_limits(1, user_api="blas")


@dataclass(eq=False)
class Job:
    """A training: which stages, how far along, live curves, how it ended, and what it produced."""

    stages: list[str]
    data_key: str = ""
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    started: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "waiting for a free worker"
    curves: dict[str, list[float]] = field(default_factory=dict)
    done: bool = False
    cancel_requested: bool = False
    cancel_reason: str = ""
    error: str | None = None
    seconds: float = 0.0
    result: dict[str, Trained] = field(default_factory=dict)  # every stage up to the last trained one
    saved_run: str | None = None
    save_problem: str | None = None
    collected: bool = False
    announced: bool = False
    thread: threading.Thread | None = None
    owner: str | None = None  # LabState.session_id of the session that started it (None: the start-up demo)
    follows: Job | None = None  # the identical job this one waits for (a class sharing its trainings)
    followers: list[Job] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return not self.done

    @property
    def elapsed(self) -> float:
        return self.seconds if self.done else time.monotonic() - self.started

    def seen(self) -> None:
        """A page is showing this job (it is not orphaned)."""
        self.last_seen = time.monotonic()


def sync_mode() -> bool:
    """Train in the caller's thread (tests with AppTest) instead of a worker process."""
    return os.environ.get("LAB_SYNC_TRAINING") == "1"


def start(lab: LabState, stages: list[str], dataset: Dataset, data_key: str, cfg: PipelineConfig,
          choice: DataChoice | None = None) -> Job | None:
    """Start training ``stages`` unless this session already trains; returns the job (None if one runs).

    Labelling and splitting happen here, in the caller's thread, so their errors surface at once.
    """
    with lab.lock:
        if lab.running:
            return None
        job = Job(stages=list(stages), data_key=data_key, owner=lab.session_id)
        lab.job = job
    try:
        prep = lab.prepared(dataset, cfg, data_key)
    except RankingError:
        lab.job = None
        raise
    upstream = dict(lab.stages)
    upload = lab.upload if (choice and choice.source == "upload") else None
    args = (job, prep, cfg, data_key, choice or DataChoice(), upstream, upload)
    if sync_mode():
        with _JOBS_LOCK:
            JOBS[job.id] = job
        _run(*args)
        collect(lab)
        return job
    key = _share_key(job.stages, cfg, data_key, upstream)
    with _JOBS_LOCK:
        JOBS[job.id] = job
        leader = _SHARED.get(key)
        if leader is None or leader.done or leader.cancel_requested:
            leader, _SHARED[key] = None, job
        else:
            job.follows = leader
            leader.followers.append(job)
    _ensure_reaper()
    target, targs = (_lead, (key, *args)) if leader is None else (_follow, args)
    job.thread = threading.Thread(target=target, args=targs, daemon=True, name=f"lab-job-{job.id}")
    job.thread.start()
    return job


_SHARED: dict[tuple, Job] = {}  # the job training each distinct request now (under _JOBS_LOCK)


def _share_key(stages: list[str], cfg: PipelineConfig, data_key: str, upstream: dict[str, Trained]) -> tuple:
    """What makes two training requests identical: the data, the stages, every setting they depend on (and
    the label weights, which stage 1's value source is fitted under), and the very upstream outputs."""
    ups = tuple((name, id(t.output)) for name, t in upstream.items() if _is_upstream(name, stages))
    return (data_key, tuple(stages), stage_keys(cfg, data_key)[stages[-1]], cfg.labels, ups)


def _lead(key: tuple, *args) -> None:
    try:
        _run(*args)
    finally:
        with _JOBS_LOCK:
            if _SHARED.get(key) is args[0]:
                del _SHARED[key]


def _follow(job: Job, prep, cfg: PipelineConfig, data_key: str, choice: DataChoice, upstream: dict[str, Trained],
            upload: Dataset | None) -> None:
    """Wait for the identical job ``job.follows`` and take its result (see the module docstring)."""
    leader = job.follows
    LOG.info("job %s follows job %s (an identical request)", job.id, leader.id)
    while not leader.finished.wait(0.25):  # mirror the leader's progress for this session's page
        job.fraction, job.curves = leader.fraction, leader.curves
        job.message = f"{leader.message} (one training for everyone who asked for the same)"
        if job.cancel_requested:
            job.error = job.cancel_reason or "cancelled"
            _finish(job)
            return
    if leader.error is not None and leader.cancel_requested and not job.cancel_requested:
        job.follows = None  # the leader was cancelled by its own session: train on our own
        _run(job, prep, cfg, data_key, choice, upstream, upload)
        return
    keys = stage_keys(cfg, data_key)
    if leader.error is None:
        job.result = {name: t for name, t in upstream.items() if _is_upstream(name, job.stages)}
        job.result.update({name: Trained(keys[name], leader.result[name].output) for name in job.stages})
        job.saved_run, job.save_problem = leader.saved_run, leader.save_problem
    else:
        job.error = job.cancel_reason if job.cancel_requested else leader.error
    _finish(job)
    LOG.info("job %s %s: %.1f s %s", job.id, "+".join(job.stages), job.seconds, {"followed": leader.id})


def _finish(job: Job) -> None:
    job.seconds = time.monotonic() - job.started
    job.fraction = 1.0
    job.done = True
    job.finished.set()


def find(job_id: object) -> Job | None:
    """A job of this server by its id (from a URL), or None."""
    return JOBS.get(job_id) if isinstance(job_id, str) else None


def attach(lab: LabState, job: Job, active: Callable[[str], bool]) -> str:
    """A session opened ``job``'s link: "own" (its own job), "took over" (the owner's session is gone:
    F5, or the tab closed and its address reopened; the job is now this session's), "watching"
    (another connected session's job: progress only, no cancel, no result), or "finished" (someone
    else's job that has ended: nothing to show). ``active(session_id)`` tells whether a session is connected."""
    with lab.lock, _JOBS_LOCK:
        if job.owner == lab.session_id:
            lab.job, lab.watching = job, None
            return "own"
        if job.owner is not None and not job.collected and not active(job.owner):
            if lab.running:
                return "watching"
            LOG.info("job %s taken over by a new session (its owner disconnected)", job.id)
            job.owner = lab.session_id
            lab.job, lab.watching = job, None
            return "took over"
        if job.done:
            lab.watching = None
            return "finished"
        lab.watching = job
        return "watching"


def cancel_own(lab: LabState, job: Job, reason: str = "cancelled from its page") -> bool:
    """Cancel ``job`` if it is this session's; False (nothing done) for anyone else's."""
    if job.owner != lab.session_id:
        return False
    cancel(job, reason)
    return True


def cancel(job: Job, reason: str = "cancelled") -> None:
    """Ask a job to stop: a waiting job never starts, a running one's worker process is terminated."""
    if job.running:
        job.cancel_reason = reason
        job.cancel_requested = True
        job.message = reason


def collect(lab: LabState) -> Job | None:
    """Put a finished job's trained stages and saved run into this session (once); returns that job."""
    job = lab.job
    if job is None or not job.done or job.collected or job.owner not in (None, lab.session_id):
        return None
    job.collected = True
    if job.error is None and job.result:
        lab.stages.update(job.result)
        lab.run_id = job.saved_run or lab.run_id
        lab.forget_view()
    return job


def _run(job: Job, prep, cfg: PipelineConfig, data_key: str, choice: DataChoice, upstream: dict[str, Trained],
         upload: Dataset | None) -> None:
    keys = stage_keys(cfg, data_key)
    n = len(job.stages)

    def progress(stage: str, fraction: float, message: str, logs: dict) -> None:
        i = job.stages.index(stage) if stage in job.stages else 0
        if fraction == 0.0 and stage:
            job.curves = {}
        for name, v in logs.items():
            job.curves.setdefault(name, []).append(float(v))
        job.fraction = min(0.99, (i + fraction) / n) if stage else job.fraction
        job.message = message

    trained = {name: t.output for name, t in upstream.items() if _is_upstream(name, job.stages)}
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = round(time.monotonic() - job.started, 2)

    try:
        outputs, in_worker = train_stages(prep, cfg, job.stages, trained, progress, lambda: job.cancel_requested,
                                          mark)
        if in_worker is not None:
            marks["in worker"] = round(in_worker, 2)
        result = {name: t for name, t in upstream.items() if _is_upstream(name, job.stages)}
        result.update({name: Trained(keys[name], outputs[name]) for name in job.stages})
        job.result = result
        job.message = "saving the run for lesson links"
        try:
            job.saved_run = runs.save(result, data_key, choice, upload)
            mark("saved")
        except runs.SaveFailed as exc:  # a full or read-only disk must not cost the demo (logged by runs.save)
            job.save_problem = str(exc)[0].upper() + str(exc)[1:] + "."
    except Cancelled:
        job.error = job.cancel_reason or "cancelled"
    except RankingError as exc:
        job.error = str(exc)
    except Exception as exc:  # a demo must never show a traceback; the message is kept for the page, the log has it
        LOG.exception("job %s (%s) failed", job.id, "+".join(job.stages))
        job.error = f"training failed unexpectedly: {type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.monotonic() - job.started
        LOG.info("job %s %s: %.1f s %s", job.id, "+".join(job.stages), job.seconds, marks)
        if job.error is None:  # the estimate is for a click with a warm, free worker: waiting for one is left out
            waited = marks["sent"] - marks["pickled"] if "sent" in marks and "pickled" in marks else 0.0
            estimate.record(data_key, job.stages, job.seconds - waited)
        _finish(job)


def _is_upstream(name: str, stages: list[str]) -> bool:
    return STAGES.index(name) < min(STAGES.index(s) for s in stages)


class Cancelled(Exception):
    """A training stopped because its job was cancelled."""


def train_stages(prep, cfg: PipelineConfig, stages: list[str], trained: dict, progress: Callable,
                 cancelled: Callable[[], bool], mark: Callable[[str], None] = lambda what: None
                 ) -> tuple[dict, float | None]:
    """Train ``stages`` where the server does not pay for it: in the worker pool, or in this thread under
    AppTest (``sync_mode``). Returns the outputs and the seconds spent in a worker (None in this thread);
    raises ``Cancelled`` when ``cancelled()`` turned true, ``RankingError`` with the worker's message."""
    if sync_mode():
        with NEURAL_LOCK:
            return pipeline.train(prep, cfg, stages, trained=trained, progress=progress), None
    payload = pickle.dumps((prep, cfg, list(stages), trained), protocol=pickle.HIGHEST_PROTOCOL)
    mark("pickled")
    end = worker.pool().run(payload, lambda m: progress(*m[1:]), cancelled, mark)
    if end[0] == "cancelled":
        raise Cancelled
    if end[0] == "error":
        raise RankingError(end[1])
    mark("returned")
    outputs = pickle.loads(end[1])
    mark("unpickled")
    return outputs, end[2]


_REAPER: threading.Thread | None = None


def _ensure_reaper() -> None:
    global _REAPER
    with _JOBS_LOCK:
        if _REAPER is None or not _REAPER.is_alive():
            _REAPER = threading.Thread(target=_reap_forever, daemon=True, name="lab-job-reaper")
            _REAPER.start()


def reap(now: float | None = None) -> list[Job]:
    """Cancel running jobs no page has shown for ``orphan_seconds``; forget long-finished ones."""
    now = time.monotonic() if now is None else now
    limit = orphan_seconds()
    stopped = []
    with _JOBS_LOCK:
        for job_id, job in list(JOBS.items()):
            seen = max([job.last_seen, *(f.last_seen for f in job.followers if f.running)])
            if job.running and not job.cancel_requested and now - seen > limit:
                cancel(job, f"cancelled: no page showed this training for {limit:.0f} s (its tab was closed)")
                LOG.warning("job %s (%s) cancelled: unseen for %.0f s", job_id, ", ".join(job.stages),
                            now - seen)
                stopped.append(job)
            elif job.done and now - job.started - job.seconds > KEEP_FINISHED_S:
                del JOBS[job_id]
    return stopped


def _reap_forever() -> None:
    event = threading.Event()
    while not event.wait(5.0):
        reap()
