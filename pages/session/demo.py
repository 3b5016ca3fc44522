"""The sample world, trained once per server in the background, so the lab opens with results.

Choice (issue 12): *train on first start*, in the background, through the same worker pool as every
click, rather than ship a trained run in git. Nothing binary is committed (a pickled XGBoost/Keras
model also breaks with the next library upgrade), and the trained stages stay exactly what the
current code produces. Streamlit runs no code before the first page load, so "first start" is the
server's first script run (``common.page`` calls ``startup.kick_off``): that first visitor sees the progress;
everyone after (the class) opens a trained lab. ``make run`` or the teacher opening the page once
before class is enough. The result is shared read-only: sessions copy the dict of trained stages,
never mutate the outputs, and retrain into their own state.

Off with ``LAB_TRAIN_ON_START=0`` (browser tests that expect an untrained lab), and off by default
under ``LAB_SYNC_TRAINING=1`` (AppTest) unless ``LAB_TRAIN_ON_START=1`` asks for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ranking.config import PipelineConfig
from ranking.names import STAGES

from . import jobs
from .datasets import DataChoice, resolve
from .state import LabState

LOG = logging.getLogger("lab.demo")
DATA_KEY = "sample"
_LOCK = threading.Lock()
_JOB: jobs.Job | None = None
_STARTED_AT: float | None = None  # time.monotonic() of the first call: the server's first page load
_PROBLEM: str | None = None  # why the start-up training could not start, for the page


def enabled() -> bool:
    """Train the sample world at first start? ($LAB_TRAIN_ON_START; default on, off under AppTest)."""
    raw = os.environ.get("LAB_TRAIN_ON_START")
    if raw is None:
        return not jobs.sync_mode()
    return raw.strip().lower() not in ("0", "false", "no", "off", "")


def start(cfg: PipelineConfig | None = None) -> jobs.Job | None:
    """Start training stages 1-3 of the sample world once per server (idempotent); returns the job."""
    global _JOB, _STARTED_AT
    if not enabled():
        return None
    with _LOCK:
        if _JOB is not None:
            return _JOB
        _STARTED_AT = time.monotonic()
        dataset, key = resolve(DataChoice())
        owner = LabState()  # the demo belongs to no session; sessions copy its result
        try:
            job = jobs.start(owner, list(STAGES), dataset, key, cfg or PipelineConfig(), DataChoice())
        except Exception as exc:  # a broken sample must not stop the server: the lab opens untrained
            LOG.exception("could not train the sample world at start")
            global _PROBLEM
            _PROBLEM = f"The sample world could not be trained at start ({type(exc).__name__}: {exc}); train it " \
                       "with the buttons."
            return None
        # no page "shows" this job, yet the orphan reaper must not cancel it
        job.last_seen = float("inf")
        _JOB = job
        LOG.info("training the sample world in the background (job %s)", job.id)
        return job


def problem() -> str | None:
    """What went wrong with the start-up training, for the page: it could not start, it failed, or its run
    was not saved (links to it would not work); None when nothing did."""
    if _PROBLEM is not None:
        return _PROBLEM
    j = _JOB
    if j is None or not j.done:
        return None
    if j.error:
        return f"The sample world's start-up training failed ({j.error}); train it with the buttons."
    return j.save_problem


def shared(lab: LabState) -> bool:
    """True while this session shows the start-up training's stages (nothing of its own trained since)."""
    j = _JOB
    return j is not None and bool(j.result) and lab.stages == j.result


def job() -> jobs.Job | None:
    """The start-up training, if one was started."""
    return _JOB


def seconds_to_trained() -> float | None:
    """Server's first page load → sample world trained and saved (None while running or when not used)."""
    if _JOB is None or not _JOB.done or _JOB.error:
        return None
    return _JOB.seconds


def adopt(lab: LabState, data_key: str) -> bool:
    """Give a session on the sample world that has nothing trained the start-up result; True if it did."""
    j = _JOB
    if (data_key != DATA_KEY or lab.stages or lab.running or j is None or not j.done or j.error
            or not j.result):
        return False
    lab.stages = dict(j.result)  # a copy of the dict: this session's retraining never touches the shared one
    lab.run_id = j.saved_run
    lab.forget_view()
    return True


def pending(lab: LabState, data_key: str) -> jobs.Job | None:
    """The start-up training this session is waiting for (sample world, nothing trained), else None."""
    j = _JOB
    if data_key != DATA_KEY or lab.stages or lab.running or j is None or j.done:
        return None
    return j
