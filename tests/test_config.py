"""PipelineConfig.to_dict / from_dict: a round trip through JSON text gives the same config back."""

from __future__ import annotations

import dataclasses
import json

import pytest

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

NON_DEFAULT = PipelineConfig(
    seed=7,
    target="label",
    labels=LabelConfig(w_click=0.7, w_dwell=0.3, w_share=1.5, w_comment=0.5, w_hide=2.0, expected_dwell="per_topic",
                       threshold=1.25, comment_mode="indicator", grade_bounds=(0.5, 1.5, 2.5, 4.0)),
    split=SplitConfig(method="random", test_fraction=0.3, min_history=4, cut_date="2025-04-25"),
    stage1=CandidateConfig(source="cf", k=33, quotas=(("topic", 0.5), ("cf", 0.3), ("popularity", 0.2)),
                           cf_factors=8, popularity_half_life_days=1.5, filter_region=False,
                           filter_blocklist=False, filter_seen=False, max_age_days=3.5),
    stage2=GBDTConfig(objective="rank:ndcg", n_estimators=77, max_depth=6, learning_rate=0.05, min_child_weight=2.0,
                      subsample=0.7, colsample_bytree=0.6, early_stopping_rounds=5, top_n=12, n_jobs=1,
                      boost_from_glm=False),
    stage3=NeuralConfig(hidden=(32, 16, 8), dropout=0.1, id_embeddings=False, embedding_dim=4,
                        use_stage2_score=False, epochs=4, batch_size=64, learning_rate=1e-3),
    post=PostConfig(m=7, diversity="caps", mmr_lambda=0.6, max_per_topic=2, max_per_publisher=1, quality_floor=0.3,
                    max_age_hours=36.0),
    eval=EvalConfig(k=5),
)


def _through_json(cfg: PipelineConfig) -> PipelineConfig:
    text = json.dumps(cfg.to_dict(), allow_nan=False)
    return PipelineConfig.from_dict(json.loads(text))


def test_every_field_of_every_section_is_non_default():
    """Guards the round-trip test below: a field left at its default would not show a lost value."""
    default = PipelineConfig()
    assert NON_DEFAULT.seed != default.seed
    assert NON_DEFAULT.target != default.target
    for section in dataclasses.fields(PipelineConfig):
        if section.name in ("seed", "target"):
            continue
        ours, theirs = getattr(NON_DEFAULT, section.name), getattr(default, section.name)
        for f in dataclasses.fields(ours):
            assert getattr(ours, f.name) != getattr(theirs, f.name), f"{section.name}.{f.name} is the default"


def test_round_trip_through_json_text_gives_an_equal_config():
    back = _through_json(NON_DEFAULT)
    assert back == NON_DEFAULT
    assert hash(back) == hash(NON_DEFAULT)  # frozen and hashable: tuples came back as tuples, not lists
    assert back.labels.grade_bounds == (0.5, 1.5, 2.5, 4.0)
    assert back.stage1.quotas == (("topic", 0.5), ("cf", 0.3), ("popularity", 0.2))
    assert back.stage3.hidden == (32, 16, 8)
    assert _through_json(back).to_dict() == NON_DEFAULT.to_dict()


@pytest.mark.parametrize("expected_dwell", [7.5, "mean", "median"])
def test_round_trip_of_each_expected_dwell_kind(expected_dwell):
    cfg = dataclasses.replace(NON_DEFAULT, labels=dataclasses.replace(NON_DEFAULT.labels,
                                                                       expected_dwell=expected_dwell))
    assert _through_json(cfg) == cfg
    assert _through_json(PipelineConfig()) == PipelineConfig()


def test_a_partial_dict_fills_the_rest_with_defaults():
    cfg = PipelineConfig.from_dict(json.loads('{"stage2": {"top_n": 5}, "seed": 3}'))
    assert cfg == PipelineConfig(seed=3, stage2=GBDTConfig(top_n=5))


@pytest.mark.parametrize("raw", [{"stage9": {}}, {"stage2": {"topn": 5}}, {"post": {"diversity": "wild"}},
                                 {"labels": [1, 2]}])
def test_bad_dicts_raise_config_errors(raw):
    with pytest.raises(ConfigError):
        PipelineConfig.from_dict(raw)
