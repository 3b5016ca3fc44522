"""Charts: pure functions from plain frames/arrays to a styled ``plotly.graph_objects.Figure``.

``ranking.viz.charts`` draws labels, timing, recall, learning curves and explanations;
``ranking.viz.stage_charts`` draws how lists move between stages; ``ranking.viz.style`` is their
shared projector style. Every chart is re-exported here: ``from ranking import viz; viz.funnel(...)``.
"""

from ranking.viz.charts import (
    compare_runs,
    contributions,
    feature_importance,
    learning_curve,
    loss_curve,
    recall_at_k,
    score_histogram,
    signal_curves,
    stage_timing,
)
from ranking.viz.eval_charts import (
    baselines_vs_stages,
    beyond_accuracy,
    data_curve,
    estimator_agreement,
    impression_metrics,
)
from ranking.viz.post_charts import tradeoff_curve
from ranking.viz.stage_charts import (
    bump_chart,
    calibration,
    funnel,
    improved_degraded,
    kendall_tau_hist,
    metrics_by_stage,
    sankey,
)
from ranking.viz.style import PALETTE, STAGE_COLORS

__all__ = [
    "PALETTE", "STAGE_COLORS", "baselines_vs_stages", "beyond_accuracy", "bump_chart",
    "calibration", "compare_runs", "contributions", "data_curve", "estimator_agreement", "feature_importance", "funnel",
    "impression_metrics", "improved_degraded", "kendall_tau_hist", "learning_curve", "loss_curve", "metrics_by_stage",
    "recall_at_k", "sankey", "score_histogram", "signal_curves", "stage_timing", "tradeoff_curve",
]
