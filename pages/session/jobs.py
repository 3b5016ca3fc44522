"""Training in a background thread through ``ranking.pipeline.train``, so pages stay responsive.

One job per session at a time (a second start while one runs returns None). Stage 3 holds a
process-wide lock: Keras seeds and op determinism are global, so two sessions training neural
models at once could otherwise disturb each other's reproducibility. When a job succeeds, the
session's stages are updated and the trained state is saved for lesson links (``runs.save``), in
the job itself: rendering a page never writes anything.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from ranking import pipeline
from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import RankingError

from . import runs
from .datasets import DataChoice
from .state import LabState

NEURAL_LOCK = threading.Lock()


def single_threaded_blas() -> None:
    """One OpenBLAS thread per call, process-wide (call once at server start, before any training).

    OpenBLAS's own thread pool is shared: when several sessions' training threads call it at once
    (stage 1's SVD), they spin waiting for it. Ten concurrent 300×120 SVDs took 200 s instead of 0.5 s.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's bundled OpenBLAS so the limit covers it too)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threadpool_limits(1, user_api="blas")


@dataclass
class Job:
    """A training run: which stages, how far along, live curves, how it ended and where it was saved."""

    stages: list[str]
    fraction: float = 0.0
    message: str = "starting"
    curves: dict[str, list[float]] = field(default_factory=dict)
    done: bool = False
    error: str | None = None
    seconds: float = 0.0
    saved_run: str | None = None
    save_problem: str | None = None
    announced: bool = False
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return not self.done


def sync_mode() -> bool:
    """Train in the caller's thread (tests with AppTest) instead of a background thread."""
    return os.environ.get("LAB_SYNC_TRAINING") == "1"


def start(lab: LabState, stages: list[str], dataset: Dataset, data_key: str, cfg: PipelineConfig,
          choice: DataChoice | None = None) -> Job | None:
    """Start training ``stages`` unless a job is already running; returns the job (None if one runs).

    Labelling and splitting happen here, in the caller's thread, so their errors surface at once.
    """
    with lab.lock:
        if lab.running:
            return None
        job = Job(stages=list(stages))
        lab.job = job
    try:
        prep = lab.prepared(dataset, cfg, data_key)
    except RankingError:
        lab.job = None
        raise
    args = (lab, job, prep, cfg, data_key, choice or DataChoice())
    if sync_mode():
        _train(*args)
    else:
        job.thread = threading.Thread(target=_train, args=args, daemon=True, name=f"lab-train-{'-'.join(stages)}")
        job.thread.start()
    return job


def _train(lab: LabState, job: Job, prep, cfg: PipelineConfig, data_key: str, choice: DataChoice) -> None:
    n = len(job.stages)
    t0 = time.monotonic()

    def progress(stage: str, fraction: float, message: str, logs: dict) -> None:
        i = job.stages.index(stage) if stage in job.stages else 0
        if fraction == 0.0:
            job.curves = {}
        for name, v in logs.items():
            job.curves.setdefault(name, []).append(float(v))
        job.fraction = min(0.99, (i + fraction) / n)
        job.message = message

    try:
        trained = {name: t.output for name, t in lab.stages.items()}
        if "stage3" in job.stages:
            job.message = "Stage 3: waiting for TensorFlow" if NEURAL_LOCK.locked() else job.message
            with NEURAL_LOCK:
                outputs = pipeline.train(prep, cfg, job.stages, trained=trained, progress=progress)
        else:
            outputs = pipeline.train(prep, cfg, job.stages, trained=trained, progress=progress)
        lab.adopt({name: outputs[name] for name in job.stages}, cfg, data_key)
        job.message = "saving the run for lesson links"
        try:
            lab.run_id = job.saved_run = runs.save(lab, data_key, choice)
        except OSError as exc:  # a full or read-only disk must not cost the demo
            job.save_problem = f"could not save this run for links: {exc}"
    except RankingError as exc:
        job.error = str(exc)
    except Exception as exc:  # a demo must never show a traceback; the message is kept for the page
        job.error = f"training failed unexpectedly: {type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.monotonic() - t0
        job.fraction = 1.0
        job.done = True
