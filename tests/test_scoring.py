"""The public scoring API (ranking.score_pairs): by id, equal to the scores the lists were ordered by."""

from __future__ import annotations

import numpy as np
import pytest

import ranking
from ranking.data import schema as S
from ranking.errors import DataError
from ranking.evaluation import baselines as B
from ranking.prep.lists import PAD
from ranking.stages import value as V


def _listed(result, name: str, n: int = 400):
    """(user ids, item ids, list scores) of the first ``n`` listed (user, item) pairs of a list."""
    lists = result.lists()[name]
    rows, cols = np.nonzero(lists.items != PAD)
    rows, cols = rows[:n], cols[:n]
    users = result.prep.dataset.users[S.USER_ID].to_numpy()[rows]
    items = result.prep.dataset.content[S.CONTENT_ID].to_numpy()[lists.items[rows, cols]]
    return users, items, lists.scores[rows, cols]


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_stage_values_equal_the_lists_scores(trained_small, stage):
    users, items, want = _listed(trained_small, stage)
    got = ranking.score_pairs(trained_small, users, items, stage=stage)
    assert got[S.USER_ID].tolist() == users.tolist()
    assert got[S.CONTENT_ID].tolist() == items.tolist()
    np.testing.assert_allclose(got["value"].to_numpy(), want, rtol=1e-5, atol=1e-6)
    # the value is Σ w·signal of the returned signals under the run's label
    signals = got[list(V.NAMES)].to_numpy(np.float32)
    item_pos = trained_small.prep.dataset.content[S.CONTENT_ID].searchsorted(items)
    np.testing.assert_allclose(V.value(trained_small.prep, signals, item_pos), got["value"], rtol=1e-5, atol=1e-6)


def test_baseline_scores_equal_their_lists(trained_small):
    refs, _ = B.baseline_lists(trained_small.prep, trained_small.outputs, ranking.PipelineConfig().stage1,
                               trained_small.lists()["stage2"].width, trained_small.config.seed)
    for name, lists in refs.items():
        rows, cols = np.nonzero(lists.items != PAD)
        users = trained_small.prep.dataset.users[S.USER_ID].to_numpy()[rows[:300]]
        items = trained_small.prep.dataset.content[S.CONTENT_ID].to_numpy()[lists.items[rows[:300], cols[:300]]]
        got = ranking.score_pairs(trained_small, users, items, stage=name)
        np.testing.assert_allclose(got["value"], lists.scores[rows[:300], cols[:300]], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_the_evaluation_scores_pairs_the_same_way(trained_small):
    test = trained_small.prep.test
    users = trained_small.prep.dataset.users[S.USER_ID].to_numpy()[test["user_pos"].to_numpy()]
    items = trained_small.prep.dataset.content[S.CONTENT_ID].to_numpy()[test["item_pos"].to_numpy()]
    got = ranking.score_pairs(trained_small, users, items, stage="stage2")
    np.testing.assert_allclose(got["value"], trained_small.outputs["stage2"].heldout[2], rtol=1e-6)


def test_unknown_ids_and_unscorable_stages_are_refused(trained_small):
    users = trained_small.prep.dataset.users[S.USER_ID].to_numpy()[:2]
    items = trained_small.prep.dataset.content[S.CONTENT_ID].to_numpy()[:2]
    with pytest.raises(DataError, match="not in the run's users"):
        ranking.score_pairs(trained_small, [-5, users[0]], items)
    with pytest.raises(ValueError, match="stage 1 blends"):
        ranking.score_pairs(trained_small, users, items, stage="stage1")
    with pytest.raises(ValueError, match="valid: stage2, stage3"):
        ranking.score_pairs(trained_small, users, items, stage="stage9")
    both = ranking.score_pairs(trained_small, users, items)
    assert both["stage"].tolist() == ["stage2", "stage2", "stage3", "stage3"]
