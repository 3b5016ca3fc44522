"""The start-up training of the sample world, as a page sees it: kicked off once, shown while it runs."""

from __future__ import annotations

import threading

import streamlit as st

from pages.session import demo, estimate, jobs


def kick_off() -> None:
    """Start training the sample world for everyone (once per server; see ``pages.session.demo``).

    In a thread: loading and labelling the sample takes a second that the first page must not wait for.
    """
    if demo.enabled() and demo.job() is None:
        if jobs.sync_mode():
            demo.start()
        else:
            threading.Thread(target=demo.start, daemon=True, name="lab-demo-start").start()


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
