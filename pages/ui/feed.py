"""A user's feed drawn as cards, and today's feed beside the truly best one (Feed and Post-processing pages)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ranking import names
from ranking.data import schema as S
from ranking.evaluation import feed as F
from ranking.evaluation.moves import Moves, moves
from ranking.viz.tables import fmt

from .common import md_escape


def signal_text(name: str, value: float) -> str:
    """One predicted signal for people: probabilities in percent, dwell in seconds."""
    if value is None or not np.isfinite(value):
        return f"{names.SIGNAL_TITLES[name]} —"
    if name.startswith("p_"):
        return f"{names.SIGNAL_TITLES[name]} {100 * value:.0f}%"
    if name == S.E_DWELL:
        return f"E[dwell] {value:.0f} s"
    return f"E[comments] {fmt(value)}"


def what_moved(key: str, ids: list) -> Moves | None:
    """What changed in a list since it last looked different on this page (kept per session under ``key``);
    None the first time. The comparison holds until the list changes again, so later reruns keep the marks."""
    memo = st.session_state.setdefault("_lists_shown", {})
    shown, before = memo.get(key, (None, None))
    if shown is not None and shown != ids:
        before = shown
    memo[key] = (ids, before)
    return moves(before, ids) if before is not None else None


def cards(frame: pd.DataFrame, title: str, mark: set[int] | None = None, mark_text: str = "",
          score_label: str = "score", moved: Moves | None = None) -> None:
    """One bordered card per row: rank and headline, publisher · topic · age, then signals or the score;
    ``moved`` adds a badge to items that entered the list or changed rank since the last change."""
    st.markdown(f"## {title}")  # h2: the Feed page has no section heading above it
    if frame.empty:
        st.info("This list is empty for this user (nothing eligible).")
        return
    signals = [s for s in S.SIGNALS if s in frame.columns]
    for row in frame.to_dict("records"):
        with st.container(border=True):
            badge = f" · :green-badge[{mark_text}]" if mark and row[S.CONTENT_ID] in mark else ""
            if moved is not None and (step := moved.mark(row[S.CONTENT_ID])):
                badge += f" · :{'blue' if step == 'new' else 'orange'}-badge[{step}]"
            st.markdown(f"**{row['rank']}. {md_escape(row['headline'])}**{badge}")
            facts = [md_escape(row[S.PUBLISHER]), md_escape(row[S.TOPIC]), f"{row['age']} old",
                     f"quality {fmt(row['quality'])}"]
            if signals:
                facts.append(" · ".join(signal_text(s, row[s]) for s in signals))
            else:
                facts.append(f"{score_label} {fmt(row.get(score_label, row.get('score')))}")
            if F.TRUE_VALUE in row and score_label != F.TRUE_VALUE:
                facts.append(f"true value {fmt(row[F.TRUE_VALUE])}")
            st.caption(" · ".join(facts))


def comparison(today: pd.DataFrame, best: pd.DataFrame | None, today_title: str,
               moved: Moves | None = None) -> None:
    """Today's feed beside the truly best feed for the current weights, with how close it gets; ``moved``:
    what changed in today's feed since the last setting change (a line, and a badge per card)."""
    if moved is not None:
        st.markdown(f":material/swap_vert: **Since the last change, today's feed:** {moved.summary()}.")
    if best is None:
        left, right = st.columns(2)
        with left:
            cards(today, today_title, moved=moved)
        right.markdown("## The truly best feed")
        right.info("Unavailable: this dataset has no ground truth (only generated worlds know each user's "
                   "true preferences), so nobody knows the best feed. The held-out metrics on the Evaluation "
                   "page are the yardstick here.")
        return
    both = set(today[S.CONTENT_ID]) & set(best[S.CONTENT_ID])
    if F.TRUE_VALUE in today.columns:  # the verdict first: a projector shows the top of the page
        closeness = F.feed_ndcg(today[F.TRUE_VALUE].to_numpy(), best[F.TRUE_VALUE].to_numpy())
        st.markdown(f"**{len(both)} of {len(best)}** items are in both feeds; today's feed reaches "
                    f"**{'—' if np.isnan(closeness) else f'{closeness:.3f}'}** of the best feed's discounted true "
                    "value (this user's oracle NDCG: 1 = as good as the best feed).")
        st.caption("*True value* = the expected compound score (Σ weight × expected signal) this user would give "
                   "the item under the current label weights; only a generated world knows it.")
    left, right = st.columns(2)
    with left:
        cards(today, today_title, both, "also in the best feed", moved=moved)
    with right:
        cards(best, "Truly best feed (current weights)", both, "in today's feed",
              score_label=F.TRUE_VALUE)
