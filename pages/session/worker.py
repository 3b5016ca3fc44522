"""Training outside the server process: a small pool of warm worker processes.

Why not threads in the server: (1) once Keras is imported there, Streamlit ends *every* script run of
every session (each 1-second progress poll too) with ``keras.backend.clear_session()`` and a full
garbage collection, 0.3–0.5 s holding the GIL: four concurrent trainings took 70–95 s instead of
7–10 s; (2) a thread cannot be cancelled; (3) an orphaned thread keeps burning CPU. So each job runs
in a spawned worker process that imported XGBoost and TensorFlow once (at a lower CPU priority, so
the server's page runs win the cores), and talks to the server over a pipe:

    server → worker: pickled (prepared data, config, stages, upstream outputs)
    worker → server: ("progress_batch", [("progress", stage, fraction, message, logs), …]) every
                     PROGRESS_EVERY_S, then ("done", pickled outputs, seconds) or ("error", message)

Cancelling a job terminates its worker; the pool starts a fresh one. The server never imports
TensorFlow: stage-3 models come back with their weights unpickled lazily (see ``ranking.stages.neural``)
and with their held-out scores already computed (``StageOutput.heldout``).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import threading
import time
from collections.abc import Callable

LOG = logging.getLogger("lab.worker")
_CTX = mp.get_context("spawn")
PROGRESS_EVERY_S = 0.25  # a worker sends its progress reports in batches this often (pages poll every 1 s)


def pool_size(cpus: int | None = None) -> int:
    """Concurrent trainings: $LAB_WORKERS, default one less than the CPUs (at least one); later jobs queue.

    One core stays with the server's page runs. A class of 10 training at once on 2 cores (`make bench`'s
    classroom row): with 2 workers the page interactions' p95 was 1.4-2.0 s (the slowest training 25 s),
    with 1 worker 0.7-1.2 s (the slowest training 32-40 s). A lone training is as fast either way."""
    default = max(1, (cpus or os.cpu_count() or 2) - 1)
    return max(1, int(os.environ.get("LAB_WORKERS", default)))


def worker_nice() -> int:
    """How much lower the workers' CPU priority is than the server's: $LAB_WORKER_NICE, default 10."""
    return int(os.environ.get("LAB_WORKER_NICE", "10"))


def _serve(conn) -> None:  # runs in the worker process
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        os.nice(worker_nice())
    except OSError:
        pass
    from ranking import pipeline
    from ranking.stages import neural

    t0 = time.monotonic()
    pipeline.warm_up()  # import and run the training libraries once, before the first job
    conn.send(("ready", time.monotonic() - t0))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        prep, cfg, stages, trained = pickle.loads(message)

        progress = _Reporter(conn)

        try:
            t0 = time.monotonic()
            outputs = pipeline.train(prep, cfg, stages, trained=trained, progress=progress)
            progress.flush()
            done = pickle.dumps({s: outputs[s] for s in stages}, protocol=pickle.HIGHEST_PROTOCOL)
            conn.send(("done", done, time.monotonic() - t0))
        except Exception as exc:  # the server shows the message; the worker stays usable
            from ranking.errors import RankingError

            if not isinstance(exc, RankingError):
                LOG.exception("training %s failed in worker %s", "+".join(stages), os.getpid())
            text = str(exc) if isinstance(exc, RankingError) else \
                f"training failed unexpectedly: {type(exc).__name__}: {exc}"
            conn.send(("error", text))
        neural.reset()  # drop this job's graphs before the next one


class _Reporter:
    """A job's progress reports, sent to the server in batches every ``PROGRESS_EVERY_S``.

    Stage 2 reports every boosting round (~280 a job): one pipe message each made the server's job thread
    take the GIL ~280 times per job, queued behind ten sessions' script runs."""

    def __init__(self, conn, clock: Callable[[], float] = time.monotonic) -> None:
        self.conn, self.clock, self.batch, self.sent_at = conn, clock, [], 0.0

    def __call__(self, stage: str, fraction: float, text: str, logs: dict) -> None:
        self.batch.append(("progress", stage, float(fraction), text, {k: float(v) for k, v in logs.items()}))
        if self.clock() - self.sent_at >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.conn.send(("progress_batch", self.batch))
            self.batch = []
        self.sent_at = self.clock()


class Worker:
    """One warm worker process and the server's end of its pipe."""

    def __init__(self) -> None:
        self.conn, child = _CTX.Pipe()
        self.process = _CTX.Process(target=_serve, args=(child,), daemon=True, name="lab-worker")
        self.process.start()
        self.started = time.monotonic()
        child.close()
        self.ready = False

    def wait_ready(self, timeout: float = 300.0) -> bool:
        if not self.ready and self.conn.poll(timeout):
            message = self.conn.recv()
            self.ready = message[0] == "ready"
            LOG.info("worker %s ready: warmed up in %.1f s, %.1f s after its start", self.process.pid,
                     message[1], time.monotonic() - self.started)
        return self.ready

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class Pool:
    """At most ``size`` workers; idle ones are reused, killed ones replaced on demand."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or pool_size()
        self._idle: list[Worker] = []
        self._slots = threading.Semaphore(self.size)
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start the workers now (in the background: the caller does not wait for their imports)."""
        with self._lock:
            missing = self.size - len(self._idle)
            self._idle += [Worker() for _ in range(max(0, missing))]

    def run(self, payload: bytes, on_message: Callable[[tuple], None], cancelled: Callable[[], bool],
            mark: Callable[[str], None] = lambda what: None) -> tuple:
        """Run one job on a free worker; returns the final ("done", bytes) / ("error", text) / ("cancelled",).

        ``mark(what)`` notes when the job got a slot, a ready worker and its first and last messages."""
        while not self._slots.acquire(timeout=0.5):
            if cancelled():
                return ("cancelled",)
        worker = None
        try:
            with self._lock:
                while self._idle and not self._idle[-1].alive():
                    self._idle.pop().stop()
                worker = self._idle.pop() if self._idle else None
            if worker is None:  # every worker was stopped (cancelled jobs): a cold one, with its imports
                worker = Worker()
                mark("spawned a worker")
            on_message(("progress", "", 0.0, "handing the job to a training worker" if worker.wait_ready(0) else
                        "waiting for a training worker to start (importing XGBoost and TensorFlow)", {}))
            mark("slot")
            while not worker.wait_ready(timeout=0.5):
                if cancelled() or not worker.alive():
                    raise _Stop
            mark("worker ready")
            worker.conn.send(payload)
            mark("sent")
            while True:
                if cancelled():
                    raise _Stop
                if not worker.conn.poll(0.2):
                    if not worker.alive():
                        return ("error", "the training process stopped unexpectedly (out of memory?)")
                    continue
                message = worker.conn.recv()
                if message[0] == "progress":
                    on_message(message)
                    continue
                if message[0] == "progress_batch":
                    for item in message[1]:
                        on_message(item)
                    continue
                with self._lock:
                    self._idle.append(worker)
                worker = None
                return message
        except (_Stop, EOFError, OSError):
            return ("cancelled",) if cancelled() else ("error", "the training process stopped unexpectedly")
        finally:
            if worker is not None:  # cancelled or broken: never reuse it; a fresh one warms up meanwhile
                worker.stop()
                LOG.info("worker %s stopped; starting a replacement", worker.process.pid)
                with self._lock:
                    self._idle.append(Worker())
            self._slots.release()


class _Stop(Exception):
    pass


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> Pool:
    """The server's pool (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = Pool()
        return _POOL


_WARMED = False


def warm_in_background() -> None:
    """Start the workers once per server (its first page load: Streamlit runs no code before), so the first
    click does not wait for a worker's imports and warm-up (~7 s quiet, ~20 s while a class opens the lab)."""
    global _WARMED
    with _POOL_LOCK:
        if _WARMED:
            return
        _WARMED = True
    pool().warm()  # spawning returns at once (the imports run in the workers), before any job can ask
