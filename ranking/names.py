"""Names defined once: the stages of the funnel, their display titles, and the metric keys.

Where it sits: the ground floor. The pipeline, the evaluation, the charts, the CLI and the pages
all name stages and metrics through this module, so a key such as ``oracle_ndcg@10`` is spelled
in one place and shown to people by its title ("Oracle NDCG@10").
"""

from __future__ import annotations

from typing import Literal

StageName = Literal["stage1", "stage2", "stage3"]
ListName = Literal["stage1", "stage2", "stage3", "final"]

STAGES: tuple[StageName, ...] = ("stage1", "stage2", "stage3")  # trained stages, in funnel order
LISTS: tuple[ListName, ...] = (*STAGES, "final")  # every ranked list a run produces
TITLES = {"stage1": "Stage 1 · candidates", "stage2": "Stage 2 · XGBoost", "stage3": "Stage 3 · neural",
          "final": "Final list", "random": "Random order"}
SHORT = {"stage1": "Stage 1", "stage2": "Stage 2", "stage3": "Stage 3", "final": "Final", "random": "Random"}

# metric bases: key prefix → display title (keys at a cut-off are "<base>@<k>")
METRICS = {
    "oracle_ndcg": "Oracle NDCG", "ndcg": "NDCG", "precision": "Precision", "recall": "Recall",
    "map": "MAP", "mrr": "MRR", "hit": "Hit rate", "diversity": "Topic diversity", "coverage": "Catalog coverage",
    "auc": "Pooled AUC", "logloss": "Log-loss", "ece": "Calibration error (ECE)",
    "n_users_evaluated": "Users evaluated", "n_users_oracle": "Users (oracle)",
    "kendall_tau": "Kendall τ", "ndcg_change": "NDCG change", "improved": "Users improved",
    "degraded": "Users degraded", "unchanged": "Users unchanged", "wilcoxon_p": "Wilcoxon p-value",
    "wilcoxon_stat": "Wilcoxon statistic", "n_users_paired": "Users paired", "n_users_tau": "Users (τ)",
    # beyond accuracy (ranking.evaluation.beyond); "topic calibration" is not probability calibration (ECE)
    "novelty": "Novelty (bits)", "intra_list_diversity": "Intra-list diversity",
    "topic_calibration_kl": "Topic calibration gap (KL, nats)", "avg_rec_popularity": "Avg. recommended popularity",
    "exposure_gini": "Exposure Gini",
    # off-policy estimates (ranking.evaluation.counterfactual)
    "ips": "IPS estimate", "snips": "SNIPS estimate", "dr": "Doubly robust estimate",
    "n_matched": "Impressions matched", "heldout_ndcg": "Held-out NDCG",
}


def at(base: str, k: int) -> str:
    """The key of a metric at cut-off k, e.g. ``at("oracle_ndcg", 10) == "oracle_ndcg@10"``."""
    if base not in METRICS:
        raise ValueError(f"unknown metric {base!r}; valid: {', '.join(sorted(METRICS))}")
    return f"{base}@{k}"


def title(key: str) -> str:
    """A metric key for people: ``"oracle_ndcg@10"`` → ``"Oracle NDCG@10"``; graded keys say so."""
    base, _, rest = key.partition("@")
    k, _, suffix = rest.partition("_")
    name = METRICS.get(base, base.replace("_", " "))
    out = f"{name}@{k}" if k else name
    return f"{out} (graded)" if suffix == "graded" else out


def stage_title(name: str) -> str:
    """A stage or list name for people (``"stage2"`` → ``"Stage 2 · XGBoost"``); transitions too."""
    if "→" in name:
        a, b = name.split("→", 1)
        return f"{SHORT.get(a, a)} → {SHORT.get(b, b)}"
    return TITLES.get(name, name)

# the engagement signals a value model predicts (``ranking.data.schema.SIGNALS``), for people, with units
SIGNAL_TITLES = {"p_click": "P(click)", "e_dwell": "Expected dwell (s)", "p_share": "P(share)",
                 "e_comment": "Expected comments", "p_hide": "P(hide)"}

# model features (``ranking.stages.features``) for people, with units; "affinity_<topic>" is generated
FEATURES = {
    "session_length": "Avg. session length", "device": "Device (code)", "region": "Region (code)",
    "user_impressions": "User's past impressions (count)", "user_rate": "User's positive rate",
    "item_topic": "Item topic (code)", "item_publisher": "Item publisher (code)", "quality": "Quality score (0–1)",
    "age_hours": "Item age (hours)", "item_impressions": "Item's past impressions (count)",
    "item_rate": "Item's positive rate", "topic_match": "Stated affinity for the item's topic",
    "publisher_rate": "User's positive rate on the publisher",
    "publisher_impressions": "User's past impressions of the publisher (count)",
    "topic_rate": "User's positive rate on the topic", "region_match": "Region match (−1, 0, 1)",
    "blocked_publisher": "Publisher on the blocklist (0/1)", "s1_topic": "Stage 1 topic score",
    "s1_popularity": "Stage 1 popularity score", "s1_cf": "Stage 1 collaborative-filtering score",
    "stage1_score": "Stage 1 blended score", "stage1_rank": "Stage 1 rank",
}

# other columns the pages show, for people
COLUMNS = {
    "content_id": "Item", "user_id": "User", "topic": "Topic", "publisher": "Publisher", "title": "Headline",
    "quality": "Quality (0–1)", "quality_score": "Quality (0–1)", "restriction": "Region restriction",
    "age (days)": "Age (days)", "age_hours": "Age (hours)", "score": "Score", "rank": "Rank",
    "true expected score": "True value", "true value": "True value", "held-out label": "Held-out label",
    "n_pairs": "Pairs", "n_users": "Users", "n": "Count", "engagement_score": "Engagement score",
    "label": "Label", "grade": "Grade", "stage": "Stage", "transition": "Transition", "headline": "Headline",
    "age": "Age", "setting": "Setting",
    "in / out": "In / out", "stage 3 rank": "Stage 3 rank", "rank before": "Rank before", "rank after": "Rank after",
}


OPTIONS = {"rank:ndcg": "Ranking (LambdaMART, NDCG)", "binary:logistic": "Probability (pointwise logistic)",
           "signals": "five signals, then Σ weight × prediction", "label": "the compound label directly"}


def option_title(value: object) -> str:
    """A setting's option for people: XGBoost objective keys and other codes get names; numbers stay."""
    return OPTIONS.get(str(value), str(value))


def feature_title(name: str) -> str:
    """A model feature for people: ``"s1_cf"`` → ``"Stage 1 collaborative-filtering score"``."""
    if name.startswith("affinity_"):
        return f"Stated affinity: {name.removeprefix('affinity_')}"
    return FEATURES.get(name, name)


def column_title(name: object) -> str:
    """Any column a page shows, for people: metrics, signals, features, stages and plain columns."""
    key = str(name)
    for table in (COLUMNS, SIGNAL_TITLES, FEATURES, TITLES):
        if key in table:
            return table[key]
    if key.startswith("affinity_"):
        return feature_title(key)
    base = key.partition("@")[0]
    if base in METRICS:
        return title(key)
    return key
