"""The chosen dataset for a page: a generated world shows its shared generation's progress and Cancel until
it is ready (``pages.session.generation``); the sample and uploads load at once."""

from __future__ import annotations

import secrets

import streamlit as st

from pages.session import datasets, generation
from pages.session.datasets import DataChoice, resolve
from pages.session.state import LabState
from ranking.data.dataset import Dataset

QUICK_S = 2.0  # how long a page waits for a generation before it shows its progress instead


def _who() -> str:
    """This session's token among the sessions watching a shared generation."""
    return st.session_state.setdefault("_who", secrets.token_hex(8))


def dataset(state: LabState, choice: DataChoice) -> tuple[Dataset, str] | None:
    """The chosen dataset and its key; a world still generating shows its progress (and Cancel) instead."""
    if st.session_state.pop("_gen_cancelled", False):
        st.info("Generating the world was cancelled; the lab shows the bundled sample world.")
    if choice.source != "world":
        return resolve(choice, state.upload)
    gen = generation.request(datasets.world_key(choice), _who())
    gen.finished.wait(QUICK_S)  # a small world is ready at once: no progress bar flashing for a second
    if gen.result is not None:
        return gen.result, datasets.data_key(choice)
    if gen.done:
        st.error(f"The world could not be generated: {gen.error}")
        st.button("Generate again", key="gen_retry", icon=":material/refresh:", on_click=generation.retry,
                  args=(gen.key,))
        return None
    _generation_panel(gen)
    return None


def _cancel_generation(gen: generation.Generation) -> None:
    gen.leave(_who())
    st.session_state.pop("data", None)  # the Home radio follows "_data" on its next run
    st.session_state["_data"] = "sample"
    st.session_state["_gen_cancelled"] = True


def _generation_panel(gen: generation.Generation) -> None:
    """Live progress of the world this session waits for, with elapsed time and Cancel; reruns when done."""
    @st.fragment(run_every=1.0)
    def _poll() -> None:
        if gen.done:
            st.rerun()
        gen.seen(_who())
        left, right = st.columns([5, 1])
        users, items, inter, seed = gen.key
        left.progress(min(gen.fraction, 1.0), text=f"Generating {users:,} users × {items:,} items × {inter:,} "
                      f"interactions (seed {seed}): {gen.message} · {gen.elapsed:.0f} s of at most "
                      f"{gen.budget_s:.0f} s")
        right.button("Cancel", key="cancel_gen", icon=":material/stop_circle:", on_click=_cancel_generation,
                     args=(gen,))

    _poll()
