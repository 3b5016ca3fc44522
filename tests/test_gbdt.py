"""Stage 2: the XGBoost ranker's contract, leak-free training table, scores and explanations."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from ranking.config import CandidateConfig, GBDTConfig, LabelConfig, SplitConfig
from ranking.data import schema as S
from ranking.data import synth
from ranking.errors import TrainingError
from ranking.evaluation import metrics as M
from ranking.prep.lists import PAD, order_rows
from ranking.prep.split import USER_POS, prepare
from ranking.stages import gbdt as G
from ranking.stages.candidates import CandidateGenerator

# n_jobs=1: XGBoost's OpenMP threads spin badly when the test machine's cores are busy
RANK = GBDTConfig(objective="rank:ndcg", n_jobs=1, top_n=10)
BINARY = GBDTConfig(objective="binary:logistic", n_jobs=1, top_n=10)


CHEAP = (("cf", 0.4), ("topic", 0.4), ("popularity", 0.2))


@pytest.fixture(scope="module")
def world():
    return synth.generate(synth.WorldSpec(n_users=300, n_items=120, n_interactions=6000, seed=0)).to_dataset()


@pytest.fixture(scope="module")
def prep(world):
    return prepare(world, LabelConfig(), SplitConfig(), seed=0)


@pytest.fixture(scope="module")
def stage1(prep):
    # the three cheap sources, without the GLM source: what the notebook-path classifier must improve on
    return CandidateGenerator(CandidateConfig(quotas=CHEAP), seed=0).fit(prep)


@pytest.fixture(scope="module")
def cands(prep, stage1):
    return stage1.generate(prep)


@pytest.fixture(scope="module")
def rounds():
    return []


@pytest.fixture(scope="module")
def ranker(prep, stage1, rounds):
    return G.GBDTRanker(RANK, seed=0).fit(prep, stage1, progress=lambda i, logs: rounds.append((i, logs)))


@pytest.fixture(scope="module")
def classifier(prep, stage1):
    return G.GBDTRanker(BINARY, seed=0).fit(prep, stage1)


def test_learned_attributes(ranker, rounds, prep, stage1):
    t = ranker.table_
    assert ranker.feature_names_ == list(t.feature_names)
    assert sorted(ranker.importance_.index) == sorted(ranker.feature_names_)
    assert ranker.importance_.is_monotonic_decreasing
    assert ranker.importance_.sum() > 0
    assert set(ranker.evals_result_) == {"train", "valid"}
    curve = ranker.evals_result_["valid"]
    assert set(curve) == {"auc", "ndcg@10"}
    assert ranker.best_iteration_ < len(curve["ndcg@10"])
    assert ranker.n_train_rows_ + ranker.n_valid_rows_ == len(t)
    assert ranker.stage1_ is stage1
    assert ranker.stats_.user_n.sum() == len(prep.train)  # serving statistics: the whole training set
    # one progress call per boosting round, with the latest train and valid metrics
    assert [i for i, _ in rounds] == list(range(len(curve["ndcg@10"])))
    assert set(rounds[-1][1]) == {"train-auc", "train-ndcg@10", "valid-auc", "valid-ndcg@10"}
    assert rounds[-1][1]["valid-ndcg@10"] == pytest.approx(curve["ndcg@10"][-1])


def test_training_table_layout(ranker, prep):
    t = ranker.table_
    hist = G.history_mask(prep.train)
    assert len(t) == int((~hist).sum())  # one row per target interaction
    assert t.X.dtype == np.float32
    assert t.X.shape == (len(t), len(t.feature_names))
    assert np.all(np.diff(t.user_pos) >= 0)  # grouped by user, as XGBoost's ranking needs
    valid_users, train_users = set(t.user_pos[t.is_valid]), set(t.user_pos[~t.is_valid])
    assert not valid_users & train_users  # split by user
    assert len(valid_users) == round(0.15 * len(valid_users | train_users))
    assert np.isfinite(t.oof_score).all()
    assert not ranker.oof_fallback_
    # out-of-fold scores are not the main model's in-sample scores
    assert not np.allclose(t.oof_score, ranker._predict(t.X))


def test_scores_differ_within_a_user(ranker, prep, cands):
    scores = ranker.score(prep, cands)
    assert scores.dtype == np.float32
    assert scores.shape == cands.items.shape
    np.testing.assert_array_equal(np.isnan(scores), cands.items == PAD)
    n_distinct = np.array([len(np.unique(row[~np.isnan(row)])) for row in scores])
    several = cands.lengths >= 2
    # the notebook's stage 2 gave every candidate of a user the same probability
    assert (n_distinct[several] > 1).mean() > 0.95


def test_fit_is_deterministic(ranker, prep, stage1, cands):
    again = G.GBDTRanker(RANK, seed=0).fit(prep, stage1)
    np.testing.assert_array_equal(again.score(prep, cands), ranker.score(prep, cands))
    np.testing.assert_array_equal(again.table_.oof_score, ranker.table_.oof_score)
    np.testing.assert_array_equal(again.table_.is_valid, ranker.table_.is_valid)


def test_binary_objective(classifier, prep, cands):
    p = classifier.score(prep, cands)
    ok = ~np.isnan(p)
    assert ((p[ok] > 0) & (p[ok] < 1)).all()
    assert set(classifier.evals_result_["valid"]) == {"auc", "logloss"}
    assert np.isfinite(classifier.table_.oof_score).all()


def test_features_for_matches_stage1(ranker, prep, cands):
    X, u, i, mask = ranker.features_for(prep, cands)
    names = ranker.feature_names_
    assert X.shape == (int(mask.sum()), len(names))
    np.testing.assert_array_equal(i, cands.items[mask])
    np.testing.assert_array_equal(u, np.nonzero(mask)[0])
    np.testing.assert_array_equal(X[:, names.index("stage1_score")], cands.scores[mask])
    # stage1_rank = 1 + eligible items scoring strictly higher: at least 1 + such items in the list
    s = np.where(mask, cands.scores, -np.inf)
    higher_in_list = (s[:, None, :] > s[:, :, None]).sum(axis=2)
    assert (X[:, names.index("stage1_rank")] >= 1 + higher_in_list[mask]).all()
    # serving features: every candidate at its real age at the world's "now" (world.json), within the age limit
    t = ranker.table_
    median_age = np.median(t.at_s - prep.item_published_s[t.item_pos])
    assert ranker.serve_age_s_ == int(median_age)
    now = pd.Timestamp(prep.dataset.spec["now"])
    published = prep.dataset.content[S.PUBLISHED].iloc[i]
    age_hours = ((now - published) / pd.Timedelta(hours=1)).to_numpy()
    np.testing.assert_allclose(X[:, names.index("age_hours")], age_hours, rtol=1e-6)
    assert (age_hours >= 0).all()
    assert (age_hours <= 24 * CandidateConfig().max_age_days).all()


def test_score_pairs_subsets_and_chunks_agree(ranker, prep, stage1, cands, monkeypatch):
    full = ranker.score(prep, cands)
    mask = cands.items != PAD
    rows = np.nonzero(mask)[0]
    np.testing.assert_allclose(ranker.score_pairs(prep, rows, cands.items[mask]), full[mask], rtol=1e-6)
    some = np.array([250, 3, 17, 120])
    sub = stage1.generate(prep, user_pos=some)
    np.testing.assert_allclose(ranker.score(prep, sub), full[some], rtol=1e-6)
    monkeypatch.setattr(G, "CHUNK_USERS", 7)
    np.testing.assert_array_equal(ranker.score(prep, cands), full)


def test_rank_keeps_top_n_by_score(ranker, prep, cands):
    ranked = ranker.rank(prep, cands)
    assert ranked.width == RANK.top_n
    expected = order_rows(cands.items, ranker.score(prep, cands), keep=RANK.top_n)
    np.testing.assert_array_equal(ranked.items, expected.items)
    s = ranked.scores
    assert (np.nan_to_num(s[:, :-1], nan=-np.inf) >= np.nan_to_num(s[:, 1:], nan=-np.inf)).all()
    for r in (0, 99):
        real = ranked.items[r][ranked.items[r] != PAD]
        assert set(real) <= set(cands.items[r])


@pytest.mark.parametrize("which", ["ranker", "classifier"])
def test_contributions_sum_to_the_margin(which, request, prep, cands):
    model = request.getfixturevalue(which)
    user = 42
    table = model.contributions(prep, cands, user)
    names = model.feature_names_
    n = int(cands.lengths[user])
    assert len(table) == n
    np.testing.assert_array_equal(table.index, prep.dataset.content["content_id"].to_numpy()[cands.items[user, :n]])
    total = table[[*names, "bias"]].sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, table["margin"], atol=1e-4)
    score = model.score(prep, cands)[user, :n]
    expected = score if which == "ranker" else np.log(score / (1 - score))  # the classifier's margin is a logit
    np.testing.assert_allclose(table["margin"], expected, atol=1e-4)
    X, _, _, _ = model.features_for(prep, cands)
    start = int(cands.lengths[:user].sum())
    np.testing.assert_array_equal(table[[f"{f}_value" for f in names]].to_numpy(), X[start:start + n])


def test_pickles_after_fit_with_a_progress_lambda(ranker, prep, cands):
    back = pickle.loads(pickle.dumps(ranker))
    np.testing.assert_array_equal(back.score(prep, cands), ranker.score(prep, cands))


def _oracle_ndcg(world, prep, cands, items) -> float:
    truth = world.truth.rows(np.arange(prep.n_users))
    rows = np.arange(prep.n_users)[:, None]

    def gains(x):
        return np.where(x != PAD, truth[rows, np.maximum(x, 0)], 0.0)

    ideal = -np.sort(-gains(cands.items), axis=1)
    has = cands.lengths > 0
    return float(np.mean(M.ndcg(gains(items), ideal, 10, form="linear")[has]))


def test_stage2_beats_stage1_on_the_oracle(world, prep, cands, classifier):
    # Measured on worlds 0–4 × model seeds 0–1 (300 × 120 × 6000): binary stage 2 gains +0.02…+0.06
    # NDCG@10 over the stage-1 order; rank:ndcg varies −0.04…+0.05 there (its within-user signal is
    # mostly item age, which the fresh-impression truth ignores), so only the classifier is asserted.
    before = _oracle_ndcg(world, prep, cands, cands.items)
    after = _oracle_ndcg(world, prep, cands, order_rows(cands.items, classifier.score(prep, cands)).items)
    assert after > before + 0.01


def test_single_class_labels_are_refused(world, stage1):
    for threshold in (1000.0, -1000.0):
        prep = prepare(world, LabelConfig(threshold=threshold), SplitConfig(), seed=0)
        s1 = CandidateGenerator(CandidateConfig(), seed=0).fit(prep)
        with pytest.raises(TrainingError, match=r"no (positive|negative) label"):
            G.GBDTRanker(RANK, seed=0).fit(prep, s1)


def test_one_user_is_refused(world):
    inter = world.interactions
    one = dataclasses.replace(world, interactions=inter[inter["user_id"] == inter["user_id"].iloc[0]])
    prep = prepare(one, LabelConfig(), SplitConfig(), seed=0)
    s1 = CandidateGenerator(CandidateConfig(), seed=0).fit(prep)
    with pytest.raises(TrainingError, match="at least 2 users"):
        G.GBDTRanker(RANK, seed=0).fit(prep, s1)


def test_ranking_needs_a_user_with_both_classes():
    t = G.TrainingTable(X=np.zeros((4, 1), np.float32), feature_names=("x",), y=np.int8([1, 1, 0, 0]),
                        grade=np.int8([3, 3, 0, 0]), user_pos=np.int32([0, 0, 1, 1]), item_pos=np.int32([0, 1, 0, 1]),
                        at_s=np.zeros(4, np.int64), is_valid=np.zeros(4, bool), oof_score=np.zeros(4, np.float32))
    G._check_trainable(t, "binary:logistic", valid=False)  # both classes overall: fine for a classifier
    with pytest.raises(TrainingError, match="both a positive and a negative"):
        G._check_trainable(t, "rank:ndcg", valid=False)
    with pytest.raises(TrainingError, match="empty"):
        G._check_trainable(dataclasses.replace(t, y=t.y[:0], user_pos=t.user_pos[:0]), "rank:ndcg")


def test_users_with_one_interaction_are_targets_without_history(world):
    inter = world.interactions
    first = inter.groupby("user_id").head(1)
    few = inter["user_id"].isin([1, 2, 3])
    thinned = dataclasses.replace(world, interactions=inter[~few | inter.index.isin(first.index)])
    prep = prepare(thinned, LabelConfig(), SplitConfig(), seed=0)
    table = G.training_table(prep, CandidateGenerator(CandidateConfig(), seed=0), seed=0)
    users = prep.train.groupby(USER_POS).size()
    single = users.index[users == 1].to_numpy()
    assert {0, 1, 2} <= set(single)
    assert np.isin(single, table.user_pos).all()
    names = list(table.feature_names)
    rows = np.isin(table.user_pos, [0, 1, 2])
    assert (table.X[rows, names.index("user_impressions")] == 0).all()  # cold: no history counted


# ---------------------------------------------------------------- names from data are text, never code

ODD_TOPICS = {"politics": "sports [EU]", "technology": "tech <beta>", "sports": "\"quotes\", 'too'",
              "business": "Économie", "entertainment": "a > b"}


def test_odd_topic_and_publisher_names_train_and_explain_end_to_end():
    """Topics with [ ] < > , quotes, spaces and accents: XGBoost refused such feature names (issue 14)."""
    from ranking import data, pipeline
    from ranking.config import NeuralConfig, PipelineConfig

    world = synth.generate(synth.WorldSpec(n_users=120, n_items=60, n_interactions=2500, seed=3))
    content = world.content.copy()
    content["topic"] = content["topic"].map(ODD_TOPICS)
    publishers = {p: f"{p} <Presse> [\"{k}\"], 'ü'" for k, p in enumerate(sorted(content["publisher"].unique()))}
    content["publisher"] = content["publisher"].map(publishers)
    users = world.users.copy()
    users["blocklist"] = users["blocklist"].map(lambda s: ";".join(publishers[p] for p in s.split(";") if p))
    # every odd topic keeps its affinity column except the last, which has none (allowed, with a warning)
    renamed = {f"topic_affinity_{old}": f"topic_affinity_{new}" for old, new in ODD_TOPICS.items()}
    users = users.rename(columns=renamed).drop(columns=["topic_affinity_a > b"])
    dataset = data.from_frames(users, content, world.interactions)
    assert set(dataset.affinity) == set(ODD_TOPICS.values()) - {"a > b"}
    # the largest seed the CLI accepts (ranking.data.limits.MAX_SEED) must work in every library too
    result = pipeline.run(dataset, PipelineConfig(seed=2**31 - 1, stage2=GBDTConfig(n_estimators=20, n_jobs=1),
                                                  stage3=NeuralConfig(epochs=2)))
    model = result.stage2.model
    table = model.contributions(result.prep, result.stage1.lists, 0)
    for topic in ODD_TOPICS.values():
        name = f"affinity_{topic}"
        assert name in model.feature_names_
        assert name in model.importance_.index
        assert name in table.columns
        assert f"{name}_value" in table.columns
    np.testing.assert_allclose(table[[*model.feature_names_, "bias"]].sum(axis=1), table["margin"], atol=1e-4)
    assert model.importance_.sum() > 0


def test_xgb_feature_names_are_safe_unique_and_leave_plain_names_alone():
    names = ["affinity_sports", "affinity_a[b]", "affinity_a(b)", "affinity_x<y", "Économie, \"q\" 'r'"]
    safe = G.xgb_feature_names(names)
    assert safe[0] == "affinity_sports"
    assert safe[4] == names[4]
    assert len(set(safe)) == len(names)
    assert not any(c in n for n in safe for c in "[]<")


def test_signal_models_report_their_own_curves_live_and_after_training(prep, stage1):
    logs: list[dict] = []
    cfg = GBDTConfig(n_jobs=1, n_estimators=30, early_stopping_rounds=5, top_n=10)
    model = G.GBDTRanker(cfg, seed=0, target="signals").fit(prep, stage1, progress=lambda i, entry: logs.append(entry))
    curves = model.learning_curves()
    trees = model.trees_used()
    assert list(curves) == list(trees) == [name for name, _, _ in G.V.SIGNALS]
    for name, curve in curves.items():  # each model's own rounds: early stopping ran it past its best by ≤ 5
        assert trees[name] <= len(curve) <= trees[name] + cfg.early_stopping_rounds
    # live: every log names its signal, and the accumulated curves split back into the same five curves
    live: dict[str, list[float]] = {}
    for entry in logs:
        assert all(key.split("/")[0] in curves for key in entry)
        for key, v in entry.items():
            live.setdefault(key, []).append(v)
    per_signal = G.signal_curves(live)
    assert {k: len(v) for k, v in per_signal.items()} == {k: len(v) for k, v in curves.items()}
    for name, curve in curves.items():
        assert per_signal[name] == pytest.approx(curve)


def test_a_single_model_reports_one_curve(ranker):
    assert list(ranker.learning_curves()) == ["label"]
    assert ranker.trees_used() == {"label": ranker.best_iteration_ + 1}
