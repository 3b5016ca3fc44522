"""The seed study as a background job: every stage retrained per training seed, off the page's thread.

Each seed trains in the worker pool exactly like a training job (``jobs.train_stages``), so the server
never imports TensorFlow;
the evaluation and the statistics run here (``ranking.study.seed_study``). With
``LAB_SYNC_TRAINING=1`` (tests) it runs in the caller's thread. Stages the session already trained
for its own seed are reused, so three seeds cost two trainings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ranking import curve, study
from ranking.config import PipelineConfig
from ranking.errors import RankingError
from ranking.evaluation.seeds import SeedStudy
from ranking.names import STAGES
from ranking.prep.split import Prepared
from ranking.stages.contract import StageOutput

from . import jobs

LOG = logging.getLogger("lab.seed_jobs")

# Only the Evaluation page shows a study, so a study unseen for a minute may just be a teacher on another
# page; ten minutes unseen means its tab is gone, and its queued or running seeds should free the workers.
ORPHAN_S = 600.0


@dataclass(eq=False, kw_only=True)
class PageJob:
    """A background study one page shows (the seed study, the learning curve, the feedback loop): how far
    along, Cancel, and a stop once no page has shown it for ``ORPHAN_S``."""

    started: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "waiting for a free worker"
    done: bool = False
    cancel_requested: bool = False
    error: str | None = None
    seconds: float = 0.0
    thread: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        return self.seconds if self.done else time.monotonic() - self.started

    def seen(self) -> None:
        """A page is showing this study (it is not orphaned)."""
        self.last_seen = time.monotonic()

    @property
    def stopping(self) -> bool:
        """Cancelled, or unseen for ``ORPHAN_S`` (its tab was closed, or it never came back to this page)."""
        if not self.cancel_requested and time.monotonic() - self.last_seen > ORPHAN_S:
            self.cancel_requested, self.message = True, "cancelled: its page was closed"
        return self.cancel_requested

    def cancel(self) -> None:
        """Stop after the current worker is terminated (a waiting one never starts)."""
        if not self.done:
            self.cancel_requested = True
            self.message = "cancelled from its page"


@dataclass(eq=False)
class SeedJob(PageJob):
    """One seed study or learning curve: what it was asked for (``key``) and its result or error."""

    key: tuple
    seeds: tuple[int, ...]
    result: SeedStudy | curve.LearningCurve | None = None


def start(prep: Prepared, cfg: PipelineConfig, key: tuple, n_seeds: int = study.DEFAULT_SEEDS,
          trained: Mapping[str, StageOutput] | None = None) -> SeedJob:
    """Start a study of ``n_seeds`` training seeds from ``cfg.seed``; ``trained`` = the session's fresh stages."""
    seeds = study.training_seeds(cfg, n_seeds)
    job = SeedJob(key=key, seeds=seeds)
    reuse = {cfg.seed: dict(trained)} if trained and all(s in trained for s in STAGES) else {}
    if jobs.sync_mode():
        _run(job, prep, cfg, reuse)
    else:
        job.thread = threading.Thread(target=_run, args=(job, prep, cfg, reuse), daemon=True,
                                      name="lab-seed-study")
        job.thread.start()
    return job


def start_curve(prep: Prepared, cfg: PipelineConfig, key: tuple, n_seeds: int = curve.DEFAULT_SEEDS) -> SeedJob:
    """Start a learning curve (``ranking.curve``): every stage per share of the training log and training seed."""
    job = SeedJob(key=key, seeds=study.training_seeds(cfg, n_seeds))
    if jobs.sync_mode():
        _run(job, prep, cfg, None)
    else:
        job.thread = threading.Thread(target=_run, args=(job, prep, cfg, None), daemon=True, name="lab-curve")
        job.thread.start()
    return job


def _train_in_worker(job: SeedJob):
    def train(prep: Prepared, cfg: PipelineConfig, progress) -> dict[str, StageOutput]:
        return jobs.train_stages(prep, cfg, list(STAGES), {}, progress, lambda: job.stopping)[0]

    return train


def _run(job: SeedJob, prep: Prepared, cfg: PipelineConfig, reuse: dict) -> None:
    def progress(stage: str, fraction: float, message: str, logs: dict) -> None:
        if job.stopping:
            raise jobs.Cancelled
        job.fraction, job.message = min(0.99, fraction), message

    try:
        if reuse is None:  # a learning curve
            job.result = curve.learning_curve(prep, cfg, curve.SHARES, job.seeds, progress=progress,
                                              train=_train_in_worker(job))
        else:
            job.result = study.seed_study(prep, cfg, job.seeds, progress=progress, train=_train_in_worker(job),
                                          trained=reuse)
    except jobs.Cancelled:
        job.error = job.message if job.message.startswith("cancelled") else "cancelled"
    except RankingError as exc:
        job.error = str(exc)
    except Exception as exc:  # a demo must never show a traceback; the message is kept for the page, the log has it
        LOG.exception("%s job failed", "seed study" if reuse is not None else "learning curve")
        job.error = f"the {'seed study' if reuse is not None else 'learning curve'} failed unexpectedly: " \
                    f"{type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.monotonic() - job.started
        job.fraction = 1.0
        job.done = True
