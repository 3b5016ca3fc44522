"""The value model: predict each signal, combine with the label weights, re-rank live without training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ranking import pipeline
from ranking.config import LabelConfig, PipelineConfig
from ranking.data import schema as S
from ranking.evaluation import evaluate as E
from ranking.evaluation import metrics as M
from ranking.prep.lists import PAD
from ranking.stages import value as V

SHARES_ONLY = {"w_click": 0.0, "w_dwell": 0.0, "w_share": 1.0, "w_comment": 0.0, "w_hide": 0.0}


def test_targets_are_indicators_and_amounts():
    frame = pd.DataFrame({S.CLICK: [1, 0, 2], S.DWELL: [12.5, 0.0, 3.0], S.SHARE: [0, 1, 3],
                          S.COMMENT: [2, 0, 0], S.HIDE: [0, 1, 0]})
    expected = np.array([[1, 12.5, 0, 2, 0], [0, 0, 1, 0, 1], [1, 3.0, 1, 0, 0]], np.float32)
    np.testing.assert_array_equal(V.targets(frame), expected)


def test_value_is_the_weighted_sum_by_hand(trained_small):
    prep = dataclasses.replace(trained_small.prep, labels=LabelConfig(
        w_click=1.0, w_dwell=0.5, w_share=2.0, w_comment=1.0, w_hide=3.0, expected_dwell=20.0))
    signals = np.array([[0.5, 30.0, 0.1, 0.2, 0.05], [0.1, 2.0, 0.0, 0.0, 0.3]], np.float32)
    items = np.array([0, PAD])
    got = V.value(prep, signals, items)
    assert got[0] == pytest.approx(0.5 + 0.5 * 30 / 20 + 2 * 0.1 + 0.2 - 3 * 0.05, rel=1e-6)
    assert np.isnan(got[1])  # padding has no value


def test_signal_stages_keep_every_candidates_signals(trained_small):
    s1, s2, s3 = trained_small.stage1, trained_small.stage2, trained_small.stage3
    for out in (s2, s3):
        assert out.signals_mode
        assert out.candidate_signals.shape == (*s1.lists.items.shape, 5)
        real = s1.lists.items != PAD
        assert np.isfinite(out.candidate_signals[real]).all()
        assert (out.candidate_signals[real] >= 0).all()
        probs = out.candidate_signals[real][:, [0, 2, 4]]
        assert (probs <= 1).all()
        assert set(out.signals) == set(V.NAMES)
        assert out.signals["p_click"].shape == out.lists.items.shape
    # the models differ per item: not one score for everybody
    assert np.nanstd(s2.candidate_signals[..., 0]) > 0.01


def _order_by(cands: np.ndarray, value: np.ndarray, keep: int) -> np.ndarray:
    """Reference ordering: value descending, ties by item position (the lab's rule), padding last."""
    out = np.full((len(cands), keep), PAD, cands.dtype)
    for r in range(len(cands)):
        ok = cands[r] != PAD
        items, v = cands[r][ok], value[r][ok]
        order = np.lexsort((items, -v))
        top = items[order][:keep]
        out[r, :len(top)] = top
    return out


def test_new_weights_reorder_stage_2_by_the_new_weighted_sum(trained_small):
    prep = dataclasses.replace(trained_small.prep, labels=LabelConfig(**SHARES_ONLY))
    outs = pipeline.reweight(prep, trained_small.outputs)
    s1, s2 = trained_small.stage1, trained_small.stage2
    expected = _order_by(s1.lists.items, s2.candidate_signals[..., 2], s2.lists.width)
    np.testing.assert_array_equal(outs["stage2"].lists.items, expected)
    # stage 3 orders exactly stage 2's new picks
    for a, b in zip(outs["stage2"].lists.items, outs["stage3"].lists.items, strict=True):
        assert set(a[a != PAD]) == set(b[b != PAD])
    assert not np.array_equal(outs["stage2"].lists.items, s2.lists.items)


def test_same_weights_reproduce_the_trained_lists(trained_small):
    outs = pipeline.reweight(trained_small.prep, trained_small.outputs)
    for name in ("stage2", "stage3"):
        np.testing.assert_array_equal(outs[name].lists.items, trained_small.outputs[name].lists.items)


def _oracle_under(result, lists, labels: LabelConfig) -> float:
    prep = dataclasses.replace(result.prep, labels=labels)
    gains, ideal = E.oracle_gains(prep, lists, result.config.stage1, 10)
    return float(np.nanmean(M.ndcg(gains, ideal, 10, form="linear")))


def test_rerank_for_shares_beats_the_original_lists_on_the_shares_truth(trained_small, tmp_path):
    pipeline.save_run(tmp_path / "run", trained_small)
    again = pipeline.load_run(tmp_path / "run", trained_small.prep.dataset, SHARES_ONLY)
    shares = LabelConfig(**SHARES_ONLY)
    before = _oracle_under(trained_small, trained_small.post.lists, shares)
    after = _oracle_under(trained_small, again.post.lists, shares)
    assert not np.array_equal(again.post.lists.items, trained_small.post.lists.items)
    assert after > before + 0.02, (before, after)
    assert again.config.labels.w_share == 1.0
    assert again.config.labels.w_click == 0.0


def test_a_label_trained_run_refuses_new_weights(tmp_path, trained_small):
    from ranking.errors import TrainingError

    raw = dataclasses.replace(trained_small, config=dataclasses.replace(trained_small.config, target="label"))
    pipeline.save_run(tmp_path / "run", raw)
    with pytest.raises(TrainingError, match="retrain"):
        pipeline.load_run(tmp_path / "run", trained_small.prep.dataset, SHARES_ONLY)


def test_training_never_sees_the_label_in_signals_mode(trained_small):
    view = pipeline.training_view(trained_small.prep, PipelineConfig())
    clicked = (view.interactions[S.CLICK] > 0).to_numpy()
    np.testing.assert_array_equal(view.interactions[S.LABEL].to_numpy() > 0, clicked)
    same = pipeline.training_view(trained_small.prep, PipelineConfig(target="label"))
    assert same is trained_small.prep


def test_rerank_command_writes_a_reweighted_run(trained_small, tmp_path, capsys):
    from ranking import cli
    from ranking.data import formats, synth
    from tests.conftest import SMALL_WORLD

    world = tmp_path / "world"
    from ranking.data.io import load_dataset

    synth.write_world(synth.generate(synth.WorldSpec(**SMALL_WORLD)), world)
    loaded = load_dataset(world)  # the same world read back (its own fingerprint): the run records this folder
    run = dataclasses.replace(trained_small, prep=dataclasses.replace(trained_small.prep, dataset=loaded))
    pipeline.save_run(tmp_path / "run", run, data_dir=world)
    code = cli.main(["rerank", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "shares"),
                     "--w-click", "0", "--w-dwell", "0", "--w-comment", "0", "--w-hide", "0", "--w-share", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "no model was retrained" in out
    saved = formats.read_json(tmp_path / "shares" / "config.json")
    assert saved["labels"]["w_share"] == 1.0
    assert saved["labels"]["w_click"] == 0.0
    ranks = pd.read_csv(tmp_path / "shares" / "rankings.csv")
    before = pd.read_csv(tmp_path / "run" / "rankings.csv")
    assert not ranks[ranks.stage == "final"].content_id.equals(before[before.stage == "final"].content_id)
