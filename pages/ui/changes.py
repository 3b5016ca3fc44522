"""Results that stay on screen: what changed since the shown stages were trained, Retrain and Revert.

A trained stage keeps the settings it was trained with in its key (``pages.session.state.stage_keys``),
so the configuration behind the results on screen can be rebuilt from the deepest trained stage.
When a setting that needs a retrain differs, the pages keep showing those results, greyed, under a
banner naming each change ("Max depth 5 → 6") with **Retrain** (the stale stages, current settings)
and **Revert** (the widgets, and so the URL, back to the settings the results were trained with).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from pages.session.state import LabState
from ranking import pipeline
from ranking.config import PipelineConfig
from ranking.names import STAGES, TITLES

from . import settings as W

WEIGHT_KEYS = ("w_click", "w_dwell", "w_share", "w_comment", "w_hide")
RETRAIN_SECTIONS = ("", "labels", "split", "stage1", "stage2", "stage3")  # post and eval re-run on the fly
GREY = """<style>
[data-testid=stMain] [data-testid=stPlotlyChart], [data-testid=stMain] [data-testid=stDataFrame],
[data-testid=stMain] [data-testid=stMetric], [data-testid=stMain] [data-testid=stTable]
{opacity: .45; filter: grayscale(.7);}
</style>"""


def needs_retrain(key: str, target: str = "signals") -> bool:
    """Does a change of this setting invalidate trained stages? No label setting does when the stages
    predict each signal (``target="signals"``): the pipeline re-ranks for them without training
    (``pipeline.reweight``); with the notebook's label path every label setting does."""
    if W.BY_KEY[key].section == "labels":
        return target == "label" or not hasattr(pipeline, "reweight")
    return W.BY_KEY[key].section in RETRAIN_SECTIONS


def setting_values(cfg: PipelineConfig) -> dict[str, Any]:
    """Every setting's widget value that reproduces ``cfg`` (the inverse of ``settings.current_config``)."""
    out: dict[str, Any] = {}
    for s in W.SETTINGS:
        if s.section == "":
            out[s.key] = getattr(cfg, s.field)
        elif s.field:
            out[s.key] = getattr(getattr(cfg, s.section), s.field)
    out.update({k: v for k, v in W.label_values(cfg.labels).items() if k in ("dwell_mode", "expected_dwell")})
    hidden = {v: k for k, v in W.HIDDEN_CHOICES.items()}
    out["s3_hidden"] = hidden.get(tuple(cfg.stage3.hidden), W.BY_KEY["s3_hidden"].default)
    return out


def differences(before: PipelineConfig, after: PipelineConfig) -> list[tuple[str, Any, Any]]:
    """(setting key, value before, value after) for every setting that differs, in the settings' order."""
    a, b = setting_values(before), setting_values(after)
    return [(key, a[key], b[key]) for key in a if a[key] != b[key]]


def describe(change: tuple[str, Any, Any]) -> str:
    """'Max depth 5 → 6' (the setting's label as the page shows it)."""
    key, a, b = change
    return f"{W.BY_KEY[key].label} {_fmt(a)} → {_fmt(b)}"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def trained_config(lab: LabState, cfg: PipelineConfig) -> PipelineConfig | None:
    """The settings the deepest trained stage was trained with (post/eval: the current ones); None if none."""
    deepest = [s for s in STAGES if s in lab.stages]
    if not deepest:
        return None
    key = lab.stages[deepest[-1]].key  # its labels are None when the stages learnt signals, not the label
    return dataclasses.replace(cfg, seed=key.seed, labels=key.labels or cfg.labels, split=key.split,
                               target=key.target, **key.stage_settings())


def retrain_changes(lab: LabState, cfg: PipelineConfig) -> tuple[PipelineConfig | None, list]:
    """(the trained config, the changes since that need a retrain); no changes → nothing to show."""
    trained = trained_config(lab, cfg)
    if trained is None:
        return None, []
    return trained, [c for c in differences(trained, cfg) if needs_retrain(c[0], trained.target)]


def banner(ctx: Any, start: Any) -> PipelineConfig | None:
    """Draw the stale banner when needed; returns the config of the results to show greyed (else None).

    The last results are shown greyed when they reach further down the funnel than what is fresh now
    (a mixed state — stage 2 retrained, stage 3 not yet — keeps showing the fresh stages, ungreyed).
    ``start(ctx, plan)`` starts a training (``common._start``), passed in to keep this module free of circles.
    """
    trained, changed = retrain_changes(ctx.lab, ctx.cfg)
    if not changed or ctx.data_key != _data_key(ctx.lab) or ctx.lab.running:
        return None
    older = len(ctx.lab.fresh_outputs(trained, ctx.data_key)) > len(ctx.lab.fresh_outputs(ctx.cfg, ctx.data_key))
    if older:
        st.markdown(GREY, unsafe_allow_html=True)
    deepest = [s for s in STAGES if s in ctx.lab.stages][-1]
    with st.container(border=True, key="stale_banner"):
        more = f"; +{len(changed) - 4} more" if len(changed) > 4 else ""
        shown = "; ".join(describe(c) for c in changed[:4]) + more
        head = ("Showing the last results, greyed: settings changed since they were trained" if older else
                f"{TITLES[deepest]} was trained with other settings")
        st.markdown(f":material/history: **{head}** — {shown}.")
        left, right, _ = st.columns([1, 1, 3])
        if left.button("Retrain", key="stale_retrain", type="primary", icon=":material/play_arrow:"):
            start(ctx, ctx.lab.plan(deepest, ctx.cfg, ctx.data_key))
        right.button("Revert", key="stale_revert", icon=":material/undo:", on_click=W.set_values,
                     args=({key: a for key, a, _b in differences(trained, ctx.cfg)},),
                     help="Put every setting back to what these results were trained with (the URL too).")
    return trained if older else None


def _data_key(lab: LabState) -> str | None:
    first = next(iter(lab.stages.values()), None)
    return None if first is None else first.key.data_key
