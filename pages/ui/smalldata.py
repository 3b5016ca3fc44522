"""Small data: what an upload allows, the "train on everything, no evaluation" mode, and the template.

The notebook's three CSVs have one or two interactions per user: nothing can be held out, yet the
stages can still train on everything and show each user's lists and rank shifts. This module says
so up front, offers the mode (``SplitConfig(method="none")``) and explains why evaluation is missing.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import streamlit as st

from ranking.data import schema as S
from ranking.errors import RankingError

from . import settings as W

TEMPLATE = {
    "Users.csv": "user_id,device_type,region,topic_affinity_politics,topic_affinity_technology,"
                 "avg_session_length,blocklist\n"
                 "1,mobile,NA,0.8,0.1,8.9,\n"
                 "2,desktop,EU,0.3,0.9,3.9,publisher_x\n",
    "Content.csv": "content_id,publisher,topic,quality_score,region_restriction,publish_timestamp,title\n"
                   "101,TheDailyNews,politics,0.9,ALL,2025-04-01T08:00:00Z,Parliament passes the budget\n"
                   "102,FocusTech,technology,0.55,EU,2025-04-01T09:45:00Z,A phone that folds twice\n",
    "Interaction.csv": "user_id,content_id,click,dwell_time,share,comment,hide,event_timestamp\n"
                       "1,101,1,12.4,0,1,0,2025-04-01T09:00:00Z\n"
                       "2,102,0,0,0,0,1,2025-04-01T10:05:00Z\n",
}
NEEDS = (
    "**Minimum data.** Three tables with the columns of the template (a `title` column is optional). "
    "To *train* stages 1–3: at least 2 users with interactions and both positive and negative labels. "
    "To *evaluate* on held-out data: at least 2 users with 3 or more interactions (the latest 20% of each "
    "are held out); ranking metrics need 10 or more users with a held-out positive to mean anything. "
    "Oracle NDCG needs a generated world (only it knows the true preferences)."
)
NO_EVAL = ("Evaluation is unavailable: the stages were trained on every interaction (hold-out split "
           "\"none\"), so no interaction is left to measure them on. The lists and rank shifts are real; "
           "held-out metrics need users with 3 or more interactions (see the minimum data on Home).")


def template_zip() -> bytes:
    """The upload template: the three CSVs, headers and two example rows each, in one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in TEMPLATE.items():
            z.writestr(name, text)
    return buffer.getvalue()


def template_button() -> None:
    """Download the template, with the minimum data needs beside it."""
    c1, c2 = st.columns([1, 3])
    c1.download_button("Upload template (3 CSVs)", template_zip(), file_name="ranking-lab-template.zip",
                       mime="application/zip", icon=":material/download:", key="template")
    c2.caption(NEEDS)


def capabilities(ctx) -> None:
    """What this dataset allows, said before any click: train, lists, held-out evaluation, oracle."""
    counts = np.bincount(ctx.dataset.interactions[S.USER_ID].factorize()[0]) if len(ctx.dataset.interactions) \
        else np.zeros(0, int)
    need = ctx.cfg.split.min_history
    n_eval = int((counts >= need).sum())
    try:
        prep = ctx.lab.prepared(ctx.dataset, ctx.cfg, ctx.data_key)
        n_pos, n = int(prep.interactions[S.LABEL].sum()), len(prep.interactions)
        trainable = 0 < n_pos < n
    except RankingError:
        trainable = False
    evaluable = n_eval >= 2
    st.markdown("**What this data allows**")
    st.markdown(
        f"- {_mark(trainable)} Train stages 1–3 and show each user's lists and rank shifts"
        + ("" if trainable else " (the labels need both classes: see the Labels page)") + "\n"
        f"- {_mark(evaluable)} Held-out evaluation: {n_eval:,} of {len(counts):,} users have {need} or more "
        "interactions" + ("" if evaluable else " — too few to hold any out; train on everything instead") + "\n"
        f"- {_mark(ctx.dataset.truth is not None)} Oracle NDCG (only a generated world knows the true preferences)")
    if not evaluable and W.value("split_method") != "none":
        st.button("Train on everything (no evaluation)", key="split_none", icon=":material/model_training:",
                  on_click=W.set_values, args=({"split_method": "none"},))
    W.widget("split_method")


def _mark(ok: bool) -> str:
    return ":green[✓]" if ok else ":red[✗]"


def evaluation_unavailable(view) -> str | None:
    """Why a trained view has no held-out evaluation (None when it has one)."""
    if view is not None and not view.prep.test.shape[0]:
        return NO_EVAL
    return None
