"""Every tunable setting of the lab: one widget key (also its URL parameter) and its place in PipelineConfig.

Widgets keep their values across page switches (``persist_state="session"``); on a session's
first run ``adopt_url`` takes the values ``params`` parsed from the URL, and every page writes the current settings
back to the URL (``common.sync_url``), so the address bar is always a *lesson link*.
``current_config()`` reads the settings on any page, whether it draws them or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from ranking import names
from ranking.config import (
    CandidateConfig,
    EvalConfig,
    GBDTConfig,
    LabelConfig,
    NeuralConfig,
    PipelineConfig,
    PostConfig,
    SplitConfig,
)
from ranking.errors import ConfigError

HIDDEN_CHOICES = {"32": (32,), "64-32": (64, 32), "128-64": (128, 64), "128-64-32": (128, 64, 32)}


@dataclass(frozen=True)
class Setting:
    """One widget: its key (also the URL parameter), where it goes in the config, how it is drawn."""

    key: str
    section: str  # PipelineConfig field ("labels", "stage1", …) or "" for top level
    field: str
    label: str
    kind: str  # slider | number | select | toggle | radio
    default: Any
    options: tuple = ()
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    help: str = ""


_L, _C, _G, _N, _P = LabelConfig(), CandidateConfig(), GBDTConfig(), NeuralConfig(), PostConfig()

SETTINGS: tuple[Setting, ...] = (
    Setting("seed", "", "seed", "Random seed", "number", 42, lo=0, hi=10_000, step=1,
            help="Same settings + seed → same result, in the app and in the CLI."),
    Setting("target", "", "target", "Stages 2 and 3 learn", "radio", "signals", options=("signals", "label"),
            help="signals: predict click, dwell, share, comment and hide, then rank by the weighted sum with "
                 "the current weights (weights re-rank live, no retraining). label: the notebook's path, "
                 "threshold the score into a 0/1 label and train classifiers (weights need a retrain)."),
    Setting("w_click", "labels", "w_click", "Click weight w₁", "slider", _L.w_click, lo=0.0, hi=5.0, step=0.1),
    Setting("w_dwell", "labels", "w_dwell", "Dwell weight w₂", "slider", _L.w_dwell, lo=0.0, hi=5.0, step=0.1),
    Setting("w_share", "labels", "w_share", "Share weight w₃", "slider", _L.w_share, lo=0.0, hi=5.0, step=0.1),
    Setting("w_comment", "labels", "w_comment", "Comment weight w₄", "slider", _L.w_comment,
            lo=0.0, hi=5.0, step=0.1),
    Setting("w_hide", "labels", "w_hide", "Hide penalty w₅", "slider", _L.w_hide, lo=0.0, hi=10.0, step=0.1),
    Setting("dwell_mode", "labels", "", "Expected dwell", "select", "constant",
            options=("constant", "mean", "median", "per_topic"),
            help="Normalise dwell time by a constant, by the mean or median dwell, or per topic."),
    Setting("expected_dwell", "labels", "", "Expected dwell (seconds)", "number", 10.0, lo=0.5, hi=600.0,
            step=0.5),
    Setting("threshold", "labels", "threshold", "Threshold", "slider", _L.threshold, lo=-2.0, hi=10.0,
            step=0.05, help="An interaction is positive when its score is strictly above this."),
    Setting("comment_mode", "labels", "comment_mode", "Comments count as", "radio", _L.comment_mode,
            options=("count", "indicator")),
    Setting("split_method", "split", "method", "Hold-out split", "radio", "auto",
            options=("auto", "impression", "users", "date", "time", "random", "none"),
            help="auto: whole last impressions when the data has impressions, else the time row split. "
                 "impression: each user's latest impressions (slates), whole; users: a random share of users; "
                 "date: impressions from the last share of the log's time; time: each user's latest "
                 "interactions (rows; cuts slates); random: a seeded random share of rows; none: train on "
                 "everything, no evaluation (data too small to hold anything out)."),
    Setting("test_fraction", "split", "test_fraction", "Held-out share", "slider", 0.2, lo=0.05, hi=0.5,
            step=0.05),
    Setting("s1_source", "stage1", "source", "Candidate source", "select", _C.source,
            options=("hybrid", "cf", "topic", "popularity"),
            help="topic = the notebook's affinity match; cf = matrix factorisation of training "
                 "engagement; popularity = recency-decayed engagement; hybrid = quotas of all three."),
    Setting("s1_k", "stage1", "k", "K candidates per user (0 = auto)", "number", 0, lo=0, hi=2000, step=1),
    Setting("s1_factors", "stage1", "cf_factors", "CF factors", "slider", _C.cf_factors, lo=2, hi=64, step=1),
    Setting("f_region", "stage1", "filter_region", "Region restriction filter", "toggle", True),
    Setting("f_block", "stage1", "filter_blocklist", "Blocklist filter", "toggle", True),
    Setting("f_seen", "stage1", "filter_seen", "Already-seen filter", "toggle", True),
    Setting("s1_max_age", "stage1", "max_age_days", "Max item age at serving (days, 0 = no limit)", "slider",
            _C.max_age_days, lo=0.0, hi=30.0, step=0.5,
            help="Items older than this at serving time (\"now\") are not eligible: for stage 1 and for the "
                 "oracle's ideal list."),
    Setting("s2_objective", "stage2", "objective", "Objective", "select", _G.objective,
            options=("rank:ndcg", "binary:logistic"),
            help="Ranking = LambdaMART over each user's list (scores are ranking margins); "
                 "Probability = pointwise logistic (scores are probabilities)."),
    Setting("s2_trees", "stage2", "n_estimators", "Max trees", "slider", _G.n_estimators, lo=10, hi=1000,
            step=10),
    Setting("s2_depth", "stage2", "max_depth", "Max depth", "slider", _G.max_depth, lo=1, hi=10, step=1),
    Setting("s2_lr", "stage2", "learning_rate", "Learning rate", "select", _G.learning_rate,
            options=(0.01, 0.03, 0.05, 0.1, 0.2, 0.3)),
    Setting("s2_top_n", "stage2", "top_n", "Top N kept for stage 3", "slider", _G.top_n, lo=5, hi=200, step=5),
    Setting("s3_hidden", "stage3", "hidden", "Hidden layers", "select", "64-32", options=tuple(HIDDEN_CHOICES)),
    Setting("s3_dropout", "stage3", "dropout", "Dropout", "slider", _N.dropout, lo=0.0, hi=0.6, step=0.05),
    Setting("s3_ids", "stage3", "id_embeddings", "User/item ID embeddings", "toggle", _N.id_embeddings),
    Setting("s3_stack", "stage3", "use_stage2_score", "Stage-2 score as input (stacking)", "toggle",
            _N.use_stage2_score),
    Setting("s3_epochs", "stage3", "epochs", "Epochs", "slider", _N.epochs, lo=1, hi=60, step=1),
    Setting("s3_batch", "stage3", "batch_size", "Batch size", "select", _N.batch_size,
            options=(64, 128, 256, 512, 1024)),
    Setting("s3_lr", "stage3", "learning_rate", "Learning rate", "select", _N.learning_rate,
            options=(3e-4, 1e-3, 3e-3, 1e-2)),
    Setting("post_m", "post", "m", "Final list length M", "slider", _P.m, lo=3, hi=30, step=1),
    Setting("post_div", "post", "diversity", "Diversity", "radio", _P.diversity, options=("none", "mmr", "caps"),
            help="mmr: trade relevance against similarity to items already chosen (λ); caps: at most "
                 "n items per topic / publisher."),
    Setting("post_lambda", "post", "mmr_lambda", "MMR λ (1 = relevance only)", "slider", _P.mmr_lambda,
            lo=0.0, hi=1.0, step=0.05),
    Setting("post_topic_cap", "post", "max_per_topic", "Max per topic", "slider", _P.max_per_topic,
            lo=1, hi=10, step=1),
    Setting("post_pub_cap", "post", "max_per_publisher", "Max per publisher", "slider", _P.max_per_publisher,
            lo=1, hi=10, step=1),
    Setting("post_floor", "post", "quality_floor", "Quality floor", "slider", _P.quality_floor,
            lo=0.0, hi=1.0, step=0.05),
    Setting("post_age", "post", "max_age_hours", "Age limit (hours, 0 = no limit)", "slider", _P.max_age_hours,
            lo=0.0, hi=168.0, step=6.0, help="Drop items older than this at serving time from the final list."),
    Setting("eval_k", "eval", "k", "Metric cut-off k", "slider", 10, lo=1, hi=50, step=1),
)
BY_KEY = {s.key: s for s in SETTINGS}
SECTION_KEYS = {sec: tuple(s.key for s in SETTINGS if s.section == sec)
                for sec in ("", "labels", "split", "stage1", "stage2", "stage3", "post", "eval")}


def _coerce(setting: Setting, raw: Any) -> Any:
    """A value from session state or the URL, coerced to the setting's type (default if unusable)."""
    d = setting.default
    try:
        if isinstance(d, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
        if setting.options:
            for o in setting.options:
                if str(o) == str(raw) or o == raw:
                    return o
            return d
        value = float(raw)
        if not math.isfinite(value):
            return d
        value = int(value) if isinstance(d, int) else value
        if setting.lo is not None and value < setting.lo:
            return d
        if setting.hi is not None and value > setting.hi:
            return d
        return value
    except (TypeError, ValueError, OverflowError):
        return d


def value(key: str) -> Any:
    """The current value of a setting: widget state, else the URL, else the default."""
    s = BY_KEY[key]
    if key in st.session_state:
        return _coerce(s, st.session_state[key])
    if key in st.query_params:
        return _coerce(s, st.query_params[key])
    return s.default


def widget(key: str, container: Any = None, disabled: bool = False) -> Any:
    """Draw a setting's widget, bound to the URL and kept across pages; return its value."""
    s = BY_KEY[key]
    where = container if container is not None else st
    if key not in st.session_state:
        st.session_state[key] = value(key)
    common = {"key": key, "help": s.help or None, "disabled": disabled, "persist_state": "session"}
    if s.kind == "slider":
        where.slider(s.label, min_value=type(s.default)(s.lo), max_value=type(s.default)(s.hi),
                     step=type(s.default)(s.step), **common)
    elif s.kind == "number":
        where.number_input(s.label, min_value=type(s.default)(s.lo), max_value=type(s.default)(s.hi),
                           step=type(s.default)(s.step), **common)
    elif s.kind == "select":
        where.selectbox(s.label, options=list(s.options), format_func=names.option_title, **common)
    elif s.kind == "radio":
        where.radio(s.label, options=list(s.options), horizontal=True, **common)
    elif s.kind == "toggle":
        where.toggle(s.label, **common)
    return value(key)


def adopt_url(values: dict[str, Any]) -> None:
    """Once per session: copy the link's values (already parsed, ``params.parse_all``) into session state,
    so a lesson link's values survive switching to a page that does not draw them (only drawn widgets
    keep their URL binding)."""
    if st.session_state.get("_url_adopted"):
        return
    st.session_state["_url_adopted"] = True
    for key in BY_KEY:
        if key in values and key not in st.session_state:
            st.session_state[key] = values[key]
    if "data" in values:
        # the dataset is part of the state on every page. Kept under its own key: writing the home page's
        # radio key ("data") from a page that does not draw it stopped that page's sliders from rerunning
        st.session_state["_data"] = values["data"]
    for key in ("g_users", "g_items", "g_inter", "g_seed", "user"):
        if key in values and key not in st.session_state:
            st.session_state[key] = values[key]
            if key == "user":
                st.session_state["_user_from_link"] = True  # checked against the dataset's ids once it loads


def set_values(values: dict[str, Any]) -> None:
    """Set several settings at once (presets); takes effect on the next rerun."""
    for key, v in values.items():
        st.session_state[key] = v


def label_values(cfg: LabelConfig) -> dict[str, Any]:
    """Widget values that reproduce a label config (for presets)."""
    dwell = cfg.expected_dwell
    return {"w_click": cfg.w_click, "w_dwell": cfg.w_dwell, "w_share": cfg.w_share,
            "w_comment": cfg.w_comment, "w_hide": cfg.w_hide, "threshold": cfg.threshold,
            "comment_mode": cfg.comment_mode,
            "dwell_mode": dwell if isinstance(dwell, str) else "constant",
            "expected_dwell": 10.0 if isinstance(dwell, str) else float(dwell)}


def matching_preset(presets: dict[str, LabelConfig]) -> str | None:
    """The name of the label preset the current widget values reproduce, or None (custom weights)."""
    for name, preset in presets.items():
        want = label_values(preset)
        if want["dwell_mode"] != "constant":
            want.pop("expected_dwell")  # unused by a median/per-topic dwell
        if all(value(k) == v for k, v in want.items()):
            return name
    return None


def _section(kind: type, section: str) -> Any:
    kwargs = {BY_KEY[k].field: value(k) for k in SECTION_KEYS[section] if BY_KEY[k].field}
    if section == "labels":
        mode = value("dwell_mode")
        kwargs["expected_dwell"] = float(value("expected_dwell")) if mode == "constant" else mode
    if section == "stage3":
        kwargs["hidden"] = HIDDEN_CHOICES[kwargs["hidden"]]
    return kind(**kwargs)


def current_config() -> PipelineConfig:
    """The PipelineConfig the widgets describe right now (defaults where a value is unusable)."""
    try:
        return PipelineConfig(
            seed=int(value("seed")),
            target=value("target"),
            labels=_section(LabelConfig, "labels"),
            split=_section(SplitConfig, "split"),
            stage1=_section(CandidateConfig, "stage1"),
            stage2=_section(GBDTConfig, "stage2"),
            stage3=_section(NeuralConfig, "stage3"),
            post=_section(PostConfig, "post"),
            eval=_section(EvalConfig, "eval"),
        )
    except ConfigError as exc:
        st.warning(f"Some settings are out of range and were reset to defaults: {exc}")
        return PipelineConfig()
