"""The feedback loop as a background job: deploy, serve, retrain every stage on the served log, repeat.

The same pattern as ``pages.session.seed_jobs``: a thread runs ``ranking.online.loop.feedback_loop`` for each
chosen policy; every retraining goes to the worker pool (``jobs.train_stages``), so the server never imports
TensorFlow; ``LAB_SYNC_TRAINING=1`` (tests) runs it all in the caller's thread. Cancel stops at the next
progress report (a training in a worker is terminated).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from ranking.config import PipelineConfig
from ranking.data.dataset import Dataset
from ranking.errors import RankingError
from ranking.names import STAGES
from ranking.online.loop import PIPELINE, LoopResult, feedback_loop
from ranking.online.policies import OraclePolicy, PopularityPolicy, RandomPolicy

from . import jobs
from .seed_jobs import PageJob

LOG = logging.getLogger("lab.online_jobs")
POLICY_NAMES = {PIPELINE: "Pipeline (retrained every round)", "popularity": "Popularity",
                "oracle": "Oracle (the truth)", "random": "Random"}


@dataclass(eq=False)
class LoopJob(PageJob):
    """One deployment study: what it was asked for (``key``), how far along, and its results per policy."""

    key: tuple
    policies: tuple[str, ...]
    rounds: int
    days: int
    message: str = field(default="starting", kw_only=True)
    results: dict[str, LoopResult] = field(default_factory=dict)


def policy(name: str, cfg: PipelineConfig):
    """The loop's policy argument for a name of ``POLICY_NAMES``."""
    return {PIPELINE: PIPELINE, "popularity": PopularityPolicy(), "oracle": OraclePolicy(labels=cfg.labels),
            "random": RandomPolicy(seed=cfg.seed)}[name]


def start(dataset: Dataset, cfg: PipelineConfig, key: tuple, policies: tuple[str, ...], rounds: int, days: int,
          seed: int) -> LoopJob:
    """Start the loop for each of ``policies`` (names of ``POLICY_NAMES``) in a thread (tests: right here)."""
    job = LoopJob(key=key, policies=tuple(policies), rounds=rounds, days=days)
    args = (job, dataset, cfg, seed)
    if jobs.sync_mode():
        _run(*args)
    else:
        job.thread = threading.Thread(target=_run, args=args, daemon=True, name="lab-online-loop")
        job.thread.start()
    return job


def _run(job: LoopJob, dataset: Dataset, cfg: PipelineConfig, seed: int) -> None:
    n = len(job.policies)

    def train(prep, config, progress):
        return jobs.train_stages(prep, config, list(STAGES), {}, progress, lambda: job.stopping)[0]

    try:
        for i, name in enumerate(job.policies):
            def progress(stage: str, fraction: float, message: str, logs: dict, _i: int = i,
                         _name: str = name) -> None:
                if job.stopping:
                    raise jobs.Cancelled
                job.fraction = min(0.99, (_i + fraction) / n)
                job.message = f"{POLICY_NAMES[_name]}: {message}"

            job.results[name] = feedback_loop(dataset, policy(name, cfg), job.rounds, job.days, seed, cfg,
                                              progress=progress, train=train)
    except jobs.Cancelled:
        job.error = job.message if job.message.startswith("cancelled") else "cancelled"
    except RankingError as exc:
        job.error = str(exc)
    except Exception as exc:  # a demo must never show a traceback; the log has it
        LOG.exception("feedback loop job failed")
        job.error = f"the deployment failed unexpectedly: {type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.monotonic() - job.started
        job.fraction = 1.0
        job.done = True
