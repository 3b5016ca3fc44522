"""A link's values on arrival: parsed once per session (``params``), kept in session state, and a sentence
for each value the lab cannot use (dropped from the URL), including a user the dataset does not have."""

from __future__ import annotations

import streamlit as st

from ranking.data.dataset import Dataset

from . import params
from . import settings as W


def adopt() -> None:
    """Once per session: parse every parameter of the link (``params``); an unusable value is dropped from
    the URL, its sentence shown under the page intro, and its setting keeps the default."""
    if st.session_state.get("_url_adopted"):
        return
    parsed = params.parse_all(st.query_params.to_dict())
    for key in parsed.bad:
        del st.query_params[key]
    st.session_state["_url_problems"] = parsed.problems
    W.adopt_url(parsed.values)


def check_user(dataset: Dataset) -> None:
    """A link's user that is not a user of the dataset falls back to the first user, with a sentence."""
    if not st.session_state.pop("_user_from_link", False):
        return
    ids = dataset.users["user_id"].to_numpy()
    wanted = st.session_state.get("user")
    if wanted not in set(ids.tolist()):
        st.warning(f"The link's user {params.shown(wanted)} is not a user id of this dataset; showing user "
                   f"{ids[0]} instead.")
        st.session_state.pop("user", None)  # user pickers start at the first user; the URL loses it
        if "user" in st.query_params:
            del st.query_params["user"]


def show_problems() -> None:
    """The sentences of the link's unusable values, once (under the page intro)."""
    for problem in st.session_state.pop("_url_problems", ()):
        st.warning(problem)
