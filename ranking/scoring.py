"""Score any (user, item) pairs with a trained run: each stage's per-signal predictions and value, by id.

Where it sits: on top of the pipeline and ``ranking.evaluation.pairs`` (every stage's static
``score_pairs`` of the stage contract, and the baselines' ``pair_scores``). The evaluation scores the
shown candidates of held-out impressions through ``score_positions``, the function :func:`score_pairs`
calls after turning ids into positions, so the numbers a researcher gets for a pair are the numbers the
per-impression metrics used.

A stage that predicts signals (``target: "signals"``) gives P(click), expected dwell, P(share),
expected comments and P(hide) and its value Σ wᵢ·signalᵢ under the run's current label weights;
a label-trained stage gives its score only (signals NaN). Stage 1 (a blend of candidate sources)
and the final list (post-processing re-orders stage 3's list, it scores nothing) have no pair
score: asking for them raises ``ValueError`` saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.errors import DataError
from ranking.evaluation.pairs import PAIR_STAGES, scorable, score_positions  # noqa: F401  (part of this API)
from ranking.prep.split import Prepared
from ranking.stages import value as V


def score_pairs(run_or_result, user_ids: Sequence, item_ids: Sequence, stage: str | Sequence[str] | None = None
                ) -> pd.DataFrame:
    """Each stage's predictions for arbitrary (user_id, content_id) pairs of a run.

    ``run_or_result``: a ``PipelineResult`` (``ranking.run``) or a saved run's folder (its recorded data
    folder is loaded). ``stage``: one name or several of ``stage2``, ``stage3`` and the baselines
    (``popularity``, ``smoothed_ctr``, ``heuristic``, ``freshness``, ``glm``, ``logreg``); default every
    trained stage. Returns one row per pair and stage: user_id, content_id, stage, value (the score the
    stage ranks by) and one column per signal (NaN where the stage does not predict signals).
    """
    result = _result(run_or_result)
    prep, outs = result.prep, result.outputs
    names = [stage] if isinstance(stage, str) else list(stage or [n for n in PAIR_STAGES if n in outs])
    u, i = _positions(prep, user_ids, item_ids)
    scored = score_positions(prep, outs, u, i, names, seed=result.config.seed)
    users = prep.dataset.users[S.USER_ID].to_numpy()[u]
    items = prep.dataset.content[S.CONTENT_ID].to_numpy()[i]
    frames = []
    for name in names:
        value, signals = scored[name]
        sig = np.full((len(u), len(V.NAMES)), np.nan, np.float32) if signals is None else signals
        frames.append(pd.DataFrame({S.USER_ID: users, S.CONTENT_ID: items, "stage": name,
                                    "value": np.asarray(value, np.float64),
                                    **{col: sig[:, j] for j, col in enumerate(V.NAMES)}}))
    return pd.concat(frames, ignore_index=True)


def _positions(prep: Prepared, user_ids: Sequence, item_ids: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ids in the run's tables (ids compared as the tables hold them); unknown ids raise."""
    users, items = prep.dataset.users[S.USER_ID], prep.dataset.content[S.CONTENT_ID]
    uid, iid = np.asarray(user_ids), np.asarray(item_ids)
    if uid.shape != iid.shape or uid.ndim != 1:
        raise ValueError(f"user_ids and item_ids must be two sequences of one length, got {uid.shape} and {iid.shape}")
    u = pd.Index(users.to_numpy()).get_indexer(pd.Series(uid).astype(users.dtype).to_numpy())
    i = pd.Index(items.to_numpy()).get_indexer(pd.Series(iid).astype(items.dtype).to_numpy())
    problems = [f"user_id {v!r} is not in the run's users" for v in uid[u < 0][:5]]
    problems += [f"content_id {v!r} is not in the run's content" for v in iid[i < 0][:5]]
    if problems:
        raise DataError(problems)
    return u.astype(np.int64), i.astype(np.int64)


def _result(run_or_result):
    from ranking.pipeline import PipelineResult, reweight_run

    if isinstance(run_or_result, PipelineResult):
        return run_or_result
    if isinstance(run_or_result, str | Path):
        return reweight_run(run_or_result, None, {})
    raise TypeError(f"expected a PipelineResult or a saved run's folder, got {type(run_or_result).__name__}")
