"""The benchmark: the naive reference computes what the pipeline computes, and the bench reports every key.

No timing is asserted: the machine is shared. Worlds are tiny and the models small.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import bench as B
from benchmarks import naive
from ranking import data
from ranking.config import CandidateConfig, GBDTConfig, NeuralConfig, PipelineConfig, PostConfig
from ranking.data import synth
from ranking.prep.lists import PAD
from ranking.prep.split import prepare
from ranking.stages.candidates import CandidateGenerator
from ranking.stages.value import value

# n_jobs=1: XGBoost's OpenMP threads spin badly when the test machine's cores are busy
SMALL = PipelineConfig(stage2=GBDTConfig(n_jobs=1, n_estimators=40, top_n=8), stage3=NeuralConfig(epochs=2),
                       post=PostConfig(m=5))
TINY = B.Size("tiny", 120, 50, 2500, naive=True)
TOPIC = CandidateConfig(source="topic", k=B.NAIVE_K, filter_region=False, filter_blocklist=False, filter_seen=False,
                        max_age_days=0)  # the notebook filters nothing, age included


def _vectorised_topic(prep) -> dict:
    cands = CandidateGenerator(TOPIC).fit(prep).generate(prep)
    users = prep.dataset.users["user_id"].to_numpy()
    content = prep.dataset.content["content_id"].to_numpy()
    return {users[r]: content[row[row != PAD]].tolist() for r, row in enumerate(cands.items)}


@pytest.fixture(scope="module")
def run():
    with B._Rss() as rss:
        secs, peak, results = B.run_pipeline(TINY, SMALL, rss)
    return secs, peak, results


def test_naive_topic_candidates_equal_the_vectorised_topic_source():
    world = synth.generate(synth.WorldSpec(n_users=40, n_items=35, n_interactions=800, seed=3)).to_dataset()
    prep = prepare(world, SMALL.labels, SMALL.split, seed=0)
    expected = _vectorised_topic(prep)
    got = naive.topic_candidates(world.users, world.content, world.affinity, B.NAIVE_K)
    assert got == expected


def test_naive_topic_candidates_match_on_the_seed_tables_with_their_ties(seed_dir):
    # the seed has no business/entertainment affinity column: those items all score 0 and tie
    ds = data.load_dataset(seed_dir)
    prep = prepare(ds, SMALL.labels, SMALL.split, seed=0)
    got = naive.topic_candidates(ds.users, ds.content, ds.affinity, B.NAIVE_K)
    assert got == _vectorised_topic(prep)
    assert all(len(v) == B.NAIVE_K for v in got.values())


def test_naive_per_row_scores_equal_the_batched_scores(run):
    _, _, (prep, s1, s2, s3, _) = run
    u = int(s1.lists.user_pos[3])
    items = s1.lists.items[3][s1.lists.items[3] != PAD]
    batched2 = s2.candidate_scores[3][: len(items)]
    np.testing.assert_allclose(naive.stage2_scores(prep, s2.model, u, items), batched2, rtol=1e-6, atol=1e-7)
    top = s2.lists.items[u][s2.lists.items[u] != PAD][:4]
    s2_top = s2.lists.scores[u][: len(top)]
    per_row = naive.stage3_scores(prep, s2.model, s3.model, u, top, s2_top)
    users = np.full(len(top), u)
    X = s2.model.pair_features(prep, users, top)
    signals = s2.model.pair_outputs(prep, users, top)  # a value model's stage-2 input: its five predictions
    batched3 = s3.model.predict(X, user_pos=users, item_pos=top.astype(np.int64), stage2_score=signals)
    np.testing.assert_allclose(per_row, value(prep, batched3, top), atol=1e-5)


def test_naive_rerank_user_returns_a_final_list(run):
    _, _, (prep, _, s2, s3, _) = run
    out = naive.rerank_user(prep, s2.model, s3.model, 5, SMALL.stage1.resolved_k(prep.n_items),
                            SMALL.stage2.top_n, SMALL.post)
    kept = out.items[0][out.items[0] != PAD]
    assert 0 < len(kept) <= SMALL.post.m
    assert len(set(kept.tolist())) == len(kept)


def test_run_pipeline_times_every_phase_and_per_user_path_matches_batch(run):
    secs, peak, (prep, s1, s2, s3, post) = run
    assert set(secs) == {*B.PHASES, "end_to_end"}
    assert set(peak) == set(B.PHASES)
    assert all(v > 0 for v in peak.values())
    lat = B.per_user_latency(prep, s1, s2, s3, post, SMALL, n_users=4, warmup=1)
    assert lat["users"] == 4
    assert lat["matches_batch"] == 4  # one user at a time gives the batch run's final lists
    for stage in ("stage1", "stage2", "stage3", "post", "total"):
        assert lat[f"{stage}_p50_ms"] <= lat[f"{stage}_p95_ms"]


def test_measure_reports_every_table_key():
    result = B.measure((TINY,), repeats=1, config=SMALL, relabel_n=2000, app=False, latency_users=3,
                       naive_users=1, naive_budget_s=0.1)
    size = result["sizes"]["tiny"]
    assert set(size["seconds"]) == {*B.PHASES, "end_to_end"}
    assert {"total_p50_ms", "total_p95_ms", "matches_batch"} <= set(size["per_user"])
    assert {"stage1_naive_s", "stage1_vectorised_s", "stage1_speedup", "stage1_pipeline_speedup",
            "rerank_naive_p50_ms", "rerank_speedup"} <= set(size["naive"])
    assert size["naive"]["stage1_same_lists"] == size["naive"]["stage1_naive_users"]
    assert result["relabel"]["interactions"] == 2000
    assert {"cpu_count", "cpu_model", "ram_gb", "python", "versions"} <= set(result["machine"])
    table = B.format_table(result)
    for name, _, _ in B.ROWS:
        assert name in table
    for line in table.split("\n\n")[0].splitlines()[2:]:
        assert line.split("|")[2].strip() != "—", line  # every row has a value for this size
    assert [t["pass"] for t in result["targets"]] == [None] * 11  # none of the real sizes ran: all SKIP
    json.loads(data.json_text(result))  # strict JSON: no NaN token survives


def test_targets_pass_miss_and_skip():
    result = {"sizes": {"50k": {"per_user": {"total_p95_ms": 25.0}, "seconds": {"end_to_end": 100.0},
                                "peak_rss_gb": 3.0}},
              "relabel": {"interactions": B.RELABEL_N, "p50_ms": 40.0},
              "app_start": {"tensorflow_imported": False}, "app_trained": {"train_all_s": 3.4},
              "classroom": {"finished": 19, "train_max_s": 29.0, "interaction_p95_s": 2.5}}
    status = {t["name"]: t["pass"] for t in B.targets(result)}
    assert status["a class of 20 trains all at once: trainings finished"] is False  # 19 of 20
    assert status["· the class's slowest training, click → trained"] is True
    assert status["· page interactions meanwhile, p95"] is False
    classroom = {**result["classroom"], "sessions": 20, "server_jobs": 20, "server_trainings": 1, "think_s": 2.0,
                 "train_p50_s": 20.0, "train_p95_s": 30.0,
                 "in_worker_p50_s": 2.5, "interactions": 120, "interaction_p50_s": 0.3, "server_rss_peak_mb": 500.0,
                 "workers_rss_mb": 780.0, "loadavg_before": [1.0], "loadavg_after": [2.0], "errors": []}
    only = {"sizes": {}, "repeats": 1, "machine": B.machine(), "tensorflow_import_s": 1.0, "classroom": classroom}
    table = B.format_table({**only, "targets": B.targets(only)})
    assert "19 of 20 trainings finished" in table
    assert "1 training(s) ran for 20 clicks, identical requests share one" in table
    assert "MISS  a class of 20 trains all at once: trainings finished: 19 (target ≥ 20)" in table
    assert status["train all stages on the sample world, click → trained (median of 3)"] is False
    assert status["per-user full re-rank p95 at 10k items"] is False
    assert status["end to end (label → evaluate) at 50k × 10k × 1M"] is True
    assert status["relabel at 1M interactions (p50)"] is True
    assert status["per-user re-rank vs naive at seed size"] is None
    assert status["home page does not import TensorFlow"] is True
