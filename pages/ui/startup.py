"""The start-up training of the sample world, as a page sees it: kicked off once, shown while it runs."""

from __future__ import annotations

import streamlit as st

from pages.session import demo, estimate, jobs, worker


def kick_off() -> None:
    """Start the training workers, and training the sample world for everyone (once per server; see
    ``pages.session.worker`` and ``pages.session.demo``).

    In the caller's thread up to the job's start (loading and labelling the sample, about a second, which
    the first page needs anyway): the first page must already see the job to show its progress and pick
    up the result (a thread here lost that race, and the first visitor's page never updated).
    The training itself runs in the worker pool.
    """
    if not jobs.sync_mode():
        worker.warm_in_background()
    if demo.enabled() and demo.job() is None:
        demo.start()


def panel(job: jobs.Job) -> None:
    """Progress of the start-up training, for a session that opened the sample world before it ended."""

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        if job.done:
            st.rerun()
        left = estimate.describe(job.data_key, job.stages, job.elapsed, job.fraction)
        st.progress(job.fraction, text=f"Preparing the sample world for everyone (trained once per server start): "
                                       f"{job.message} · {job.elapsed:.0f} s · {left}")
        st.caption("The trained stages appear here by themselves when it ends; you can also train yourself "
                   "with other settings meanwhile.")

    _poll()
