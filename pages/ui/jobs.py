"""Training runs in a background thread so the page stays responsive and shows live progress.

One job per session at a time (a second click while training is ignored). Stage 3 holds a
process-wide lock: Keras seeds and op determinism are global, so two sessions training
neural models at once could otherwise disturb each other's reproducibility.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import RankingError

from . import state as S

NEURAL_LOCK = threading.Lock()


def _single_threaded_blas() -> None:
    """One OpenBLAS thread per call, process-wide.

    OpenBLAS's own thread pool is shared: when several sessions' training threads call it at once
    (stage 1's SVD), they spin waiting for it. Ten concurrent 300×120 SVDs took 200 s instead of 0.5 s.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's bundled OpenBLAS so the limit covers it too)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threadpool_limits(1, user_api="blas")


_single_threaded_blas()  # at import: before any session's script or training thread calls BLAS


@dataclass
class Job:
    """A training run: which stages, how far along, live curves, and how it ended."""

    stages: list[str]
    started: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "starting"
    curves: dict[str, list[float]] = field(default_factory=dict)
    done: bool = False
    error: str | None = None
    seconds: float = 0.0
    saved: bool = False
    announced: bool = False
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return not self.done


def sync_mode() -> bool:
    """Train in the script thread (tests with AppTest) instead of a background thread."""
    return os.environ.get("LAB_SYNC_TRAINING") == "1"


def start(lab: S.LabState, stages: list[str], dataset: Dataset, data_key: str, cfg: PipelineConfig) -> Job | None:
    """Start training the given stages unless a job is already running; returns the job."""
    with lab.lock:
        if lab.job is not None and lab.job.running:
            return None
        job = Job(stages=list(stages))
        lab.job = job
    prep = S.prepared(dataset, cfg, data_key)  # in the script thread: label/split errors surface at once
    if sync_mode():
        _train(lab, job, prep, cfg, data_key)
    else:
        job.thread = threading.Thread(target=_train, args=(lab, job, prep, cfg, data_key), daemon=True,
                                      name=f"lab-train-{'-'.join(stages)}")
        job.thread.start()
    return job


def _train(lab: S.LabState, job: Job, prep, cfg: PipelineConfig, data_key: str) -> None:
    from ranking import pipeline as P

    keys = S.stage_keys(cfg, data_key)
    n = len(job.stages)
    t0 = time.monotonic()
    try:
        for i, stage in enumerate(job.stages):
            base = i / n

            def tick(frac: float, msg: str, _base: float = base) -> None:
                job.fraction = min(0.99, _base + frac / n)
                job.message = msg

            if stage == "stage1":
                tick(0.0, "Stage 1: fitting popularity and collaborative filtering, generating candidates")
                result = P.train_stage1(prep, cfg)
            elif stage == "stage2":
                s1 = lab.stages["stage1"].result
                rounds = cfg.stage2.n_estimators
                job.curves = {}

                def on_round(r: int, logs: dict, _tick=tick, rounds=rounds) -> None:
                    for name, v in logs.items():
                        job.curves.setdefault(name, []).append(float(v))
                    _tick(min(1.0, (r + 1) / rounds), f"Stage 2: XGBoost round {r + 1} of at most {rounds}")

                tick(0.0, "Stage 2: building leak-free features")
                result = P.train_stage2(prep, s1, cfg, progress=on_round)
            else:
                s2 = lab.stages["stage2"].result
                epochs = cfg.stage3.epochs
                job.curves = {}

                def on_epoch(e: int, logs: dict, _tick=tick, epochs=epochs) -> None:
                    for name, v in logs.items():
                        job.curves.setdefault(name, []).append(float(v))
                    _tick((e + 1) / epochs, f"Stage 3: epoch {e + 1} of {epochs}")

                tick(0.0, "Stage 3: waiting for TensorFlow" if NEURAL_LOCK.locked() else "Stage 3: starting")
                with NEURAL_LOCK:
                    tick(0.0, "Stage 3: importing TensorFlow and building the network")
                    result = P.train_stage3(prep, s2, cfg, progress=on_epoch)
            lab.stages[stage] = S.Trained(keys[stage], result, result.seconds)
            # downstream stages trained on the old upstream are now stale by key; drop nothing
        job.message = "evaluating"
        lab.evaluation = None  # re-evaluated lazily by the next page run
    except RankingError as exc:
        job.error = str(exc)
    except Exception as exc:  # a demo must never show a traceback; the message is kept for the page
        job.error = f"training failed unexpectedly: {type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.monotonic() - t0
        job.fraction = 1.0
        job.done = True
